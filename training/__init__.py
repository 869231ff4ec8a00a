"""Pretraining (Accelerate), fine-tuning (Trainer), evaluation and Hub tools for galfm."""
