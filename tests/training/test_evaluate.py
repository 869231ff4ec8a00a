"""`galfm evaluate`: every task the data support is scored, the others are skipped with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from galfm import (
    GalFMConfig,
    GalFMForPretraining,
    GalFMForPropertyPrediction,
    GalFMForStarFormationHistory,
    GalFMProcessor,
)
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.training.evaluate import evaluate_models


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    GalFMForPretraining(GalFMConfig.from_preset("tiny")).save_pretrained(root / "base")
    tasks = {"photoz": (GalFMForPropertyPrediction, ["photometry"], ["redshift"], ["jpas_"]),
             "sfh": (GalFMForStarFormationHistory, ["spectrum", "photometry"], [], [])}
    for name, (head, inputs, targets, bands) in tasks.items():
        model = head(GalFMConfig.from_preset("tiny", target_properties=targets or None))
        model.config.galfm_task = {"name": name, "inputs": inputs, "targets": targets, "band_prefixes": bands}
        model.save_pretrained(root / name)
    for folder in root.iterdir():
        GalFMProcessor().save_pretrained(folder)
    return root


def test_scores_every_supported_task(models, tmp_path):
    survey = tmp_path / "sim"
    write_survey(SimulationConfig(n=60, seed=5, shard_size=30), survey, progress=False)
    results = evaluate_models(models, survey, tmp_path / "eval", split="train", max_samples=30)
    assert set(results["tasks"]) == {"photoz", "sfh", "base/retrieval"}
    assert results["tasks"]["photoz"]["redshift/count"] > 0
    assert 0 <= results["tasks"]["base/retrieval"]["image_to_spectrum_top_10"] <= 1
    assert "base/outliers" in results["skipped"]  # the clean survey flags no anomalies
    report = (tmp_path / "eval" / "evaluation.md").read_text()
    assert "## photoz" in report and "![photoz](photoz.png)" in report and (tmp_path / "eval" / "sfh.png").is_file()
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["tasks"]["sfh"]


def test_real_spectra_skip_what_they_cannot_score(models, data_dir, tmp_path):
    from galfm.datasets_scripts.convert import convert_survey

    convert_survey("sdss", data_dir / "sdss", tmp_path / "sdss", progress=False)
    results = evaluate_models(models, tmp_path / "sdss", tmp_path / "eval")
    assert "sfh" in results["skipped"] and "task 'sfh'" in results["skipped"]["sfh"]
    assert "photoz" in results["skipped"]  # SDSS has no J-PAS bands
    assert "base/retrieval" in results["skipped"]
    assert "## Skipped" in (tmp_path / "eval" / "evaluation.md").read_text()


def test_no_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no galfm head or pretrained model"):
        evaluate_models(tmp_path, tmp_path, tmp_path / "eval")
