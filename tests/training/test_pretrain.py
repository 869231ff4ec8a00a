"""Pretraining: two processes stay in sync, an interrupted run resumes exactly, every objective learns, and the
result loads with the Auto classes."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.training.pretrain import PretrainConfig, pretrain


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("survey")
    write_survey(SimulationConfig(n=96, seed=4, surveys=("desi", "jpas", "galex"), shard_size=40), out,
                 progress=False)
    return out


def _config(**overrides) -> PretrainConfig:
    base = dict(batch_size=8, max_steps=4, warmup_steps=2, checkpoint_every=100, shuffle_buffer=32, seed=1)
    return PretrainConfig(**{**base, **overrides})


def test_two_processes_train_in_sync(survey, tmp_path):
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "galfm.training.pretrain",
               "--data", str(survey), "--output-dir", str(tmp_path), "--max-steps", "3", "--batch-size", "4"]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    summary = json.loads((tmp_path / "pretrain_summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 3
    first, second = summary["parameter_checksums"]
    assert first == second  # DDP kept the replicas identical
    history = (tmp_path / "loss_history.csv").read_text().splitlines()
    assert len(history) == 4 and history[0].startswith("step,loss,masked_loss")


def test_a_run_is_bit_identical_in_a_fresh_process(survey, tmp_path):
    """Same data, seed and thread count: a second process (other string-hash seed) gives the same weights."""
    checksums = []
    for run, hash_seed in (("first", "1"), ("second", "2")):
        command = [sys.executable, "-m", "galfm.training.pretrain", "--data", str(survey), "--output-dir",
                   str(tmp_path / run), "--max-steps", "4", "--batch-size", "8", "--warmup-steps", "2"]
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=300, env=env)
        checksums.append(json.loads((tmp_path / run / "pretrain_summary.json").read_text())["parameter_checksums"])
    assert checksums[0] == checksums[1]


def _launch_two(survey: Path, out: Path, *flags: str) -> None:
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "galfm.training.pretrain",
               "--data", str(survey), "--output-dir", str(out), *flags]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=400)


def test_large_fsdp_config_shards_over_two_cpu_processes_and_resumes_exactly(survey, tmp_path):
    """configs/large_fsdp.yaml on gloo: the model sharded over two processes (two encoder layers of `large`'s
    width, to fit a test), an interrupted run resumes exactly, and the gathered model loads with AutoModel."""
    from transformers import AutoModel

    config = Path(__file__).parents[2] / "training" / "configs" / "large_fsdp.yaml"
    flags = ["--config", str(config), "--model", '{"num_hidden_layers": 2, "intermediate_size": 1024}',
             "--max-steps", "3", "--batch-size", "2", "--num-workers", "0", "--shuffle-buffer", "16",
             "--warmup-steps", "1", "--checkpoint-every", "100"]
    _launch_two(survey, tmp_path / "straight", *flags)
    _launch_two(survey, tmp_path / "interrupted", *flags, "--stop-after", "2")
    _launch_two(survey, tmp_path / "interrupted", *flags, "--resume")
    summary = json.loads((tmp_path / "straight" / "pretrain_summary.json").read_text())
    assert summary["processes"] == 2 and summary["sharded"] and summary["steps"] == 3
    straight, resumed = ([row.split(",")[:5] for row in (tmp_path / run / "loss_history.csv").read_text().split()]
                         for run in ("straight", "interrupted"))  # step and the four losses (not the timing)
    assert straight == resumed and len(straight) == 4
    encoder = AutoModel.from_pretrained(tmp_path / "straight" / "model")
    assert encoder.config.hidden_size == 1024 and len(encoder.encoder.layer) == 2
    assert {p.suffix for p in (tmp_path / "interrupted" / "checkpoint-2").iterdir()} <= {".json", ".safetensors",
                                                                                       ".py"}


def test_one_encoder_pass_gives_the_per_objective_losses_and_gradients(survey):
    """encoder_passes="one" (what sharding needs) computes what the per-objective passes compute."""
    from galfm import GalFMConfig, GalFMForPretraining, GalFMProcessor
    from galfm.datasets_scripts.parquet_shards import read_records, record_files

    records = list(itertools.islice(read_records(record_files(survey)["train"]), 24))
    batch = dict(GalFMProcessor()(records, return_tensors="pt"))
    results = {}
    for passes in ("per_objective", "one"):
        config = GalFMConfig.from_preset("tiny")
        config.pretraining_config.encoder_passes = passes
        torch.manual_seed(0)
        model = GalFMForPretraining(config)
        torch.manual_seed(5)
        output = model(**batch)
        output.loss.backward()
        results[passes] = (output, {n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    (first, first_grads), (second, second_grads) = results["per_objective"], results["one"]
    for key in ("loss", "masked_loss", "autoregressive_loss", "contrastive_loss"):
        torch.testing.assert_close(getattr(second, key), getattr(first, key), rtol=1e-5, atol=1e-6)
    assert first_grads.keys() == second_grads.keys()
    for name, grad in first_grads.items():
        torch.testing.assert_close(second_grads[name], grad, rtol=1e-3, atol=1e-4 * float(grad.abs().max()) + 1e-8)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_interrupted_run_resumes_exactly(survey, tmp_path, num_workers):
    """Tokenized in the training process or in a DataLoader worker: the resumed losses equal the straight run's."""
    straight = pretrain(_config(num_workers=num_workers), survey, tmp_path / "straight", progress=False)
    pretrain(_config(num_workers=num_workers), survey, tmp_path / "interrupted", stop_after=2, progress=False)
    assert (tmp_path / "interrupted" / "checkpoint-2" / "optimizer.safetensors").is_file()
    resumed = pretrain(_config(num_workers=num_workers), survey, tmp_path / "interrupted", resume=True,
                       progress=False)
    losses = [[row[k] for k in ("loss", "masked_loss", "autoregressive_loss", "contrastive_loss")]
              for row in straight["history"]]
    resumed_losses = [[row[k] for k in ("loss", "masked_loss", "autoregressive_loss", "contrastive_loss")]
                      for row in resumed["history"]]
    np.testing.assert_allclose(resumed_losses, losses, rtol=1e-6)
    # nothing in a checkpoint needs unpickling: tensors in safetensors, the rest JSON (+ the model's code)
    assert {p.suffix for p in (tmp_path / "interrupted" / "checkpoint-2").iterdir()} <= {".json", ".safetensors",
                                                                                       ".py"}


@pytest.mark.parametrize("objective", ["masked", "autoregressive", "contrastive"])
def test_each_objective_alone_lowers_its_loss(survey, tmp_path, objective):
    weights = {k: float(k == objective) for k in ("masked", "autoregressive", "contrastive")}
    config = _config(objectives=weights, max_steps=30, warmup_steps=3, learning_rate=2e-3)
    history = pretrain(config, survey, tmp_path, progress=False)["history"]
    key = f"{objective}_loss"
    assert all(row[key] for row in history)
    others = [k for k in ("masked_loss", "autoregressive_loss", "contrastive_loss") if k != key]
    assert all(row[k] == 0 for row in history for k in others)  # switched off
    first, last = np.mean([r[key] for r in history[:5]]), np.mean([r[key] for r in history[-5:]])
    assert last < first - 0.05 * abs(first), (first, last)


def test_the_default_step_lowers_every_objective(survey, tmp_path):
    """One objective per galaxy per step (the default): each of the three still learns (16 galaxies a step, so
    the contrastive objective has about five, its negatives among them)."""
    config = _config(max_steps=40, warmup_steps=3, learning_rate=2e-3, batch_size=16)
    history = pretrain(config, survey, tmp_path, progress=False)["history"]
    for key in ("masked_loss", "autoregressive_loss", "contrastive_loss"):
        values = [row[key] for row in history if row[key]]
        assert len(values) > 30, key  # the draw gave every objective galaxies nearly every step
        first, last = np.mean(values[:8]), np.mean(values[-8:])
        assert last < first - 0.05 * abs(first), (key, first, last)


def test_pretrained_model_loads_with_the_auto_classes(survey, tmp_path):
    from transformers import AutoModel, AutoModelForPreTraining, AutoProcessor

    import galfm

    pretrain(_config(max_steps=2), survey, tmp_path, progress=False)
    encoder = AutoModel.from_pretrained(tmp_path / "model")
    whole = AutoModelForPreTraining.from_pretrained(tmp_path / "model")
    assert isinstance(encoder, galfm.GalFMModel) and isinstance(whole, galfm.GalFMForPretraining)
    for name, tensor in encoder.state_dict().items():
        torch.testing.assert_close(tensor, whole.galfm.state_dict()[name])
    processor = AutoProcessor.from_pretrained(tmp_path / "model")
    records = [{"object_id": "x", "photometry": {"band": ["sdss_r", "sdss_g"], "flux": [10.0, 5.0],
                                                 "flux_ivar": [100.0, 100.0]}}]
    assert encoder(**processor(records, return_tensors="pt")).pooler_output.shape == (1, 128)
    shutil.rmtree(tmp_path / "model")
