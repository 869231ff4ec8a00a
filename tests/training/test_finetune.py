"""Fine-tuning under Trainer: every task trains, scores and round-trips; bad tasks and missing labels are named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from galfm import GalFMConfig, GalFMForPretraining, GalFMProcessor, load_head
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.training.finetune import FinetuneConfig, finetune
from galfm.training.tasks import GalaxyTaskCollator, MissingLabelsError, get_task, load_task_splits


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("survey")
    write_survey(SimulationConfig(n=80, seed=11, surveys=("desi", "jpas", "galex", "legacysurvey"), shard_size=40),
                 out, progress=False)
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base")
    torch.manual_seed(0)
    GalFMForPretraining(GalFMConfig.from_preset("tiny")).save_pretrained(out)
    GalFMProcessor().save_pretrained(out)
    return out


def _args(task, survey, base, out, **overrides) -> FinetuneConfig:
    values = dict(task=task, data=str(survey), output_dir=str(out), base=str(base), max_steps=2, batch_size=4,
                  max_eval_samples=6, progress=False)
    return FinetuneConfig(**{**values, **overrides})


EXPECTED = {"photoz": "test_redshift/sigma_nmad", "properties": "test_log_mstar/coverage_68",
            "posterior": "test_log_mstar/rank_ks", "sfh": "test_log_age_mw/scatter_dex",
            "morphology": "test_accuracy"}


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_each_task_trains_scores_and_round_trips(task, survey, base, tmp_path):
    metrics = finetune(_args(task, survey, base, tmp_path))
    assert np.isfinite(metrics[EXPECTED[task]])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved[EXPECTED[task]] == metrics[EXPECTED[task]]
    assert (tmp_path / "predictions.png").stat().st_size > 10_000
    # the saved head reproduces the trained one
    head = load_head(str(tmp_path / "model")).eval()
    assert type(head).__name__ == get_task(task).head.__name__
    spec = get_task(task)
    rows = load_task_splits(survey, spec)["test"].select(range(3))
    label2id = head.config.label2id if task == "morphology" else {}
    batch = GalaxyTaskCollator(GalFMProcessor.from_pretrained(tmp_path / "model"), spec, label2id)(list(rows))
    batch.pop("labels")
    torch.manual_seed(0)
    with torch.no_grad():
        first = head(**batch).to_tuple()
    again = load_head(str(tmp_path / "model")).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        second = again(**batch).to_tuple()
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b)


def test_saved_heads_point_only_at_code_they_carry(tmp_path, survey, base):
    from transformers import AutoModelForImageClassification

    finetune(_args("morphology", survey, base, tmp_path / "morphology"))
    finetune(_args("photoz", survey, base, tmp_path / "photoz"))
    morphology = json.loads((tmp_path / "morphology" / "model" / "config.json").read_text())["auto_map"]
    assert morphology["AutoModelForImageClassification"] == "heads_galfm.GalFMForMorphologyClassification"
    assert (tmp_path / "morphology" / "model" / "heads_galfm.py").is_file()
    model = AutoModelForImageClassification.from_pretrained(tmp_path / "morphology" / "model")
    assert type(model).__name__ == "GalFMForMorphologyClassification"
    photoz = json.loads((tmp_path / "photoz" / "model" / "config.json").read_text())["auto_map"]
    for reference in photoz.values():
        assert (tmp_path / "photoz" / "model" / f"{reference.split('.')[0]}.py").is_file()


def test_photoz_sees_only_jpas_bands_and_no_labels(survey):
    spec = get_task("photoz")
    row = load_task_splits(survey, spec)["train"][0]
    given = spec.model_input(row)
    assert given["properties"] is None and given["spectrum"] is None and given["image"] is None
    assert given["photometry"]["band"] and all(b.startswith("jpas_") for b in given["photometry"]["band"])
    assert len(given["photometry"]["band"]) < len(row["photometry"]["band"])
    labels = spec.labels([row])
    assert labels.shape == (1, 1) and labels[0, 0] == pytest.approx(row["properties"]["redshift"])


def test_label_fraction_and_frozen_encoder(survey, base, tmp_path):
    metrics = finetune(_args("photoz", survey, base, tmp_path, label_fraction=0.1, freeze_encoder=True))
    assert metrics["train_galaxies"] == round(0.1 * 72)
    head = load_head(str(tmp_path / "model"))
    pretrained = GalFMForPretraining.from_pretrained(base)
    for name, value in pretrained.galfm.state_dict().items():  # frozen: the encoder did not move
        torch.testing.assert_close(head.galfm.state_dict()[name], value)


def test_time_limit_ends_training_and_records_the_steps_taken(survey, base, tmp_path):
    # batches tokenized in a dataloader worker process, as on a GPU
    metrics = finetune(_args("photoz", survey, base, tmp_path, max_steps=50, time_limit_minutes=1e-6, num_workers=1))
    assert metrics["steps"] == 1  # the budget was spent after the first step
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 1
    assert np.isfinite(metrics["test_redshift/sigma_nmad"])


def test_bad_task_and_missing_labels_are_named(survey, base, tmp_path):
    with pytest.raises(ValueError, match="unknown task 'redshift'"):
        finetune(_args("redshift", survey, base, tmp_path))
    with pytest.raises(MissingLabelsError, match="properties lack \\['mass'\\]"):
        finetune(_args("properties", survey, base, tmp_path, targets=("mass",)))
    with pytest.raises(MissingLabelsError, match="no train galaxy has both the inputs"):
        finetune(_args("photoz", survey, base, tmp_path, band_prefixes=("euclid_",)))


def test_real_spectra_without_star_formation_histories(data_dir, base, tmp_path):
    from galfm.datasets_scripts.convert import convert_survey

    convert_survey("sdss", data_dir / "sdss", tmp_path / "sdss", progress=False)
    with pytest.raises(MissingLabelsError, match="task 'sfh'"):
        finetune(_args("sfh", tmp_path / "sdss", base, tmp_path / "out"))


def test_cli_reports_a_missing_label_without_a_traceback(survey, tmp_path, capsys):
    from galfm.cli import main

    code = main(["finetune", "--task", "properties", "--data", str(survey), "--output-dir", str(tmp_path),
                 "--from-scratch", "--targets", "log_mass"])
    assert code == 2
    assert "properties lack ['log_mass']" in capsys.readouterr().err


def test_the_photometric_fit_gets_the_training_galaxies_as_its_library(survey, base, tmp_path):
    """`galfm finetune --photometric-redshift`: the training split's photometry becomes the fit's population
    prior, one row per broadband survey (Legacy here; J-PAS stays out), saved with the head."""
    metrics = finetune(_args("properties", survey, base, tmp_path, photometric_redshift=True, targets=["redshift"]))
    settings = load_head(str(tmp_path / "model")).config.head_config
    legacy = ["decam_g", "decam_r", "decam_z", "wise_w1", "wise_w2"]
    assert sorted(settings.photoz_library_bands) == sorted(legacy)
    assert settings.photoz_library_size == metrics["train_galaxies"]  # every training galaxy has Legacy photometry
