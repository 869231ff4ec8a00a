"""The local `evaluate` metric modules against values known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from galfm.training.metrics import METRICS, load_metric, mass_weighted_log_age, scatter_in_context


def test_all_metric_modules_load_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert set(METRICS) == {"auroc", "classification", "coverage", "photoz", "regression", "retrieval"}
    for name in METRICS:
        assert load_metric(name).name == name


def test_photoz_sigma_nmad_outliers_and_bias():
    rng = np.random.default_rng(0)
    z = rng.uniform(0.05, 1.0, 20000)
    dz = rng.normal(0.002, 0.02, z.size)
    dz[:1000] = 0.5  # 5% catastrophic outliers
    scores = load_metric("photoz").compute(predictions=z + dz * (1 + z), references=z)
    assert scores["sigma_nmad"] == pytest.approx(0.02 * 1.05, rel=0.05)  # robust: outliers barely move it
    assert scores["outlier_fraction"] == pytest.approx(0.05, abs=1e-3)
    assert scores["bias"] == pytest.approx(0.002 + 0.001, abs=2e-3)
    with pytest.raises(ValueError):
        load_metric("nope")


def test_regression_r2():
    y = np.linspace(0, 1, 100)
    assert load_metric("regression").compute(predictions=y, references=y)["r2"] == 1.0
    assert load_metric("regression").compute(predictions=np.full(100, y.mean()), references=y)["r2"] == \
        pytest.approx(0.0, abs=1e-12)


def test_a_flat_prediction_shows_as_no_better_than_its_baseline():
    """A scatter stands beside R² and the scatter of always predicting the mean: a near-constant prediction
    (the demo's old SFH head) has a small-looking scatter only when the truth is narrow, and the baseline says so."""
    rng = np.random.default_rng(2)
    truth = rng.normal(9.5, 0.15, 5000)
    flat = np.full(truth.size, truth.mean()) + rng.normal(0, 0.01, truth.size)
    scores = load_metric("regression").compute(predictions=flat, references=truth)
    assert scores["nmad"] == pytest.approx(scores["baseline_nmad"], rel=0.05)
    assert scores["baseline_nmad"] == pytest.approx(0.15, rel=0.05) and abs(scores["r2"]) < 0.02
    good = load_metric("regression").compute(predictions=truth + rng.normal(0, 0.03, truth.size), references=truth)
    assert good["nmad"] < good["baseline_nmad"] / 4 and good["r2"] > 0.9
    z = rng.uniform(0.05, 0.8, 5000)
    photoz = load_metric("photoz").compute(predictions=np.full(z.size, z.mean()), references=z)
    assert photoz["sigma_nmad"] == pytest.approx(photoz["baseline_sigma_nmad"]) and abs(photoz["r2"]) < 1e-9
    text = scatter_in_context({f"log_z/{k}": v for k, v in scores.items()}, "log_z", "dex")
    assert text.startswith(f"{scores['nmad']:.3g} dex (R² ")
    assert f"predicting the mean: {scores['baseline_nmad']:.3g}" in text


def test_coverage_of_calibrated_and_overconfident_gaussians_and_samples():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=20000)
    mean = truth + rng.normal(size=truth.size)
    calibrated = load_metric("coverage").compute(predictions=mean, references=truth, std=np.ones(truth.size))
    assert calibrated["coverage_68"] == pytest.approx(0.68, abs=0.01)
    assert calibrated["coverage_95"] == pytest.approx(0.95, abs=0.01)
    overconfident = load_metric("coverage").compute(predictions=mean, references=truth, std=np.full(truth.size, 0.5))
    assert overconfident["coverage_68"] < 0.45
    samples = mean[:2000, None] + rng.normal(size=(2000, 300))
    posterior = load_metric("coverage").compute(predictions=samples, references=truth[:2000])
    assert posterior["coverage_95"] == pytest.approx(0.95, abs=0.02) and posterior["rank_ks"] < 0.05


def test_classification_retrieval_and_auroc():
    logits = np.array([[3.0, 0.0, 0.0], [0.0, 2.0, 1.0], [0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    scores = load_metric("classification").compute(predictions=logits, references=[0, 1, 2, 1], k=2)
    assert scores["accuracy"] == 0.75 and scores["top_2_accuracy"] == 1.0
    ranked = [["a", "b"], ["x", "b"], ["c", "d"]]
    top = load_metric("retrieval").compute(predictions=ranked, references=["a", "b", "z"], k=(1, 2))
    assert top["top_1"] == pytest.approx(1 / 3) and top["top_2"] == pytest.approx(2 / 3)
    auroc = load_metric("auroc").compute(predictions=[0.1, 0.2, 0.9, 0.3], references=[0, 0, 1, 0])
    assert auroc["auroc"] == 1.0 and auroc["positives"] == 1


def test_mass_weighted_age_of_single_bins():
    sfh = np.zeros((2, 16))
    sfh[0, 0] = 1.0  # all stars younger than 10 Myr
    sfh[1, -1] = 1.0  # all stars 9-13.8 Gyr old
    ages = 10 ** mass_weighted_log_age(sfh)
    assert ages[0] == pytest.approx(np.sqrt(0.005 * 0.01))
    assert ages[1] == pytest.approx(np.sqrt(9.0 * 13.8))
