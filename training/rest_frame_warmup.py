"""Fit an SFH head's rest-frame branch and readout on cached encoder summaries before the joint fine-tune.

A joint fine-tuning step pays a full encoder pass, so in a CPU budget the rest-frame branch sees each galaxy a
few times (4500 steps of 32 over 36000 galaxies: 4 epochs) and stays undertrained: on its own, fitted for 30
epochs on the same rest-frame spectra, it reads log Z to ~0.03 dex where the jointly fine-tuned head reached 0.05
(`benchmarks/RESULTS.md`). The encoder is not what the branch needs to learn from, so its summaries are computed
once (no gradient) beside each galaxy's rest-frame spectrum at its record redshift, and the branch and the head's
readout are fitted on that cache for many epochs at a few milliseconds a step; the joint fine-tune then starts
from a readout that already works (linear probing before fine-tuning, Kumar et al. 2022, with the branch as the
probe's feature extractor).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sized

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from galfm.heads_galfm import GalFMForStarFormationHistory

logger = logging.getLogger("galfm.rest_frame_warmup")


@torch.no_grad()
def cache_rest_frame_inputs(model: GalFMForStarFormationHistory, loader: DataLoader, progress: bool = True
                            ) -> dict[str, torch.Tensor]:
    """One pass over ``loader`` (collated task batches with ``labels`` and ``redshift``): per galaxy the encoder
    summary (float32), the rest-frame spectrum and its present mask at the given redshift, and the labels."""
    was_training = model.training
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {"summary": [], "flux": [], "present": [], "labels": []}
    for batch in tqdm(loader, desc="rest-frame warm-up: caching summaries", disable=not progress):
        labels, redshift = batch.pop("labels"), batch.pop("redshift")
        summary = model.summary(**batch)
        flux, present = model.rest_frame.rest_frame(batch, redshift.double())
        parts["summary"].append(summary.float())
        parts["flux"].append(flux.float())
        parts["present"].append(present.bool())
        parts["labels"].append(labels.float())
    model.train(was_training)
    return {name: torch.cat(values) for name, values in parts.items()}


def warm_up_rest_frame(model: GalFMForStarFormationHistory, train: Sized, collator, epochs: float,
                       learning_rate: float, batch_size: int = 32, weight_decay: float = 0.01, seed: int = 0,
                       num_workers: int = 0, progress: bool = True) -> dict[str, float]:
    """Fit ``model.rest_frame`` and ``model.head`` for ``epochs`` passes over ``train`` (records, collated by the
    task's ``collator``) on cached summaries; the encoder is untouched. Returns what it did (galaxies, steps,
    seconds, the last 100 steps' mean loss)."""
    if model.rest_frame is None:
        raise ValueError("rest_frame_warmup_epochs: this SFH head has no rest-frame branch to warm up "
                         "(finetune it with rest_frame_spectrum on, or set rest_frame_warmup_epochs to 0)")
    start = time.perf_counter()
    loader = DataLoader(train, batch_size=64, collate_fn=collator, num_workers=num_workers)
    cache = cache_rest_frame_inputs(model, loader, progress)
    cached = time.perf_counter()
    count = len(cache["labels"])
    steps = max(1, math.ceil(epochs * count / batch_size))
    parameters = [*model.rest_frame.parameters(), *model.head.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    schedule = get_cosine_schedule_with_warmup(optimizer, round(0.05 * steps), steps)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc="rest-frame warm-up: fitting", disable=not progress):
        index = torch.randint(count, (batch_size,), generator=generator)
        features = torch.cat([cache["summary"][index],
                              model.rest_frame.encode(cache["flux"][index], cache["present"][index].float())], -1)
        loss = model.predict(features, cache["labels"][index]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.zero_grad(set_to_none=True)
    summary = {"galaxies": count, "steps": steps, "cache_seconds": cached - start,
               "fit_seconds": time.perf_counter() - cached, "final_loss": sum(losses[-100:]) / len(losses[-100:])}
    logger.info("rest-frame warm-up: %d galaxies, %d steps of %d, %.0f s caching + %.0f s fitting, loss %.3f",
                count, steps, batch_size, summary["cache_seconds"], summary["fit_seconds"], summary["final_loss"])
    return summary


__all__ = ["cache_rest_frame_inputs", "warm_up_rest_frame"]
