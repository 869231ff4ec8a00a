"""The evaluation metrics, as local `evaluate` modules (``metric_modules/<name>/<name>.py``; the Hub's metric
repos are unreachable offline), and the scores of each downstream task built from them.

    >>> from galfm.training.metrics import load_metric
    >>> load_metric("photoz").compute(predictions=z_pred, references=z_true)
    {'sigma_nmad': ..., 'outlier_fraction': ..., 'bias': ..., 'count': ...}
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import evaluate
import numpy as np

from galfm.properties_galfm import mass_weighted_log_age

METRIC_DIR = Path(__file__).parent / "metric_modules"
__all__ = ["METRICS", "classification_scores", "load_metric", "mass_weighted_log_age", "posterior_scores",
           "property_scores", "scatter_in_context", "sfh_scores"]

METRICS = tuple(sorted(p.name for p in METRIC_DIR.iterdir() if (p / f"{p.name}.py").is_file()))


@cache
def load_metric(name: str):
    """The local `evaluate` module ``name`` (one of `METRICS`)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; galfm ships {', '.join(METRICS)}")
    return evaluate.load(str(METRIC_DIR / name))


def property_scores(names: list[str], mean: np.ndarray, std: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Per property: R², RMSE, bias, NMAD, 68%/95% coverage; for redshift also sigma_NMAD and outliers."""
    out = {}
    for i, name in enumerate(names):
        known = np.isfinite(truth[:, i])
        if known.sum() < 2:
            continue
        m, s, t = mean[known, i], std[known, i], truth[known, i]
        scores = dict(load_metric("regression").compute(predictions=m, references=t))
        scores.update(load_metric("coverage").compute(predictions=m, references=t, std=s))
        if name == "redshift":
            scores.update(load_metric("photoz").compute(predictions=m, references=t))
        out.update({f"{name}/{k}": v for k, v in scores.items() if k != "count"})
        out[f"{name}/count"] = int(known.sum())
    return out


def posterior_scores(names: list[str], samples: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Per parameter: coverage of the central 68%/95% intervals of the samples, rank-statistic KS distance,
    and the R² of the posterior median."""
    out = {}
    for i, name in enumerate(names):
        known = np.isfinite(truth[:, i])
        if known.sum() < 2:
            continue
        s, t = samples[known, :, i], truth[known, i]
        scores = dict(load_metric("coverage").compute(predictions=s, references=t))
        scores["r2_median"] = load_metric("regression").compute(predictions=np.median(s, 1), references=t)["r2"]
        out.update({f"{name}/{k}": v for k, v in scores.items() if k != "count"})
    return out


def sfh_scores(sfh_pred: np.ndarray, sfh_true: np.ndarray, log_z_pred: np.ndarray, log_z_std: np.ndarray,
               log_z_true: np.ndarray) -> dict[str, float]:
    """Per-bin scatter of the mass fractions, scatter (dex) of the mass-weighted age and of log Z."""
    known = np.isfinite(sfh_true).all(-1)
    residual = sfh_pred[known] - sfh_true[known]
    out = {f"sfh_bin_{i:02d}/scatter": float(np.std(residual[:, i])) for i in range(residual.shape[1])}
    out["sfh/mean_bin_scatter"] = float(np.mean(np.std(residual, axis=0)))
    age = load_metric("regression").compute(predictions=mass_weighted_log_age(sfh_pred[known]),
                                            references=mass_weighted_log_age(sfh_true[known]))
    out.update({f"log_age_mw/{k}": v for k, v in age.items() if k != "count"})
    out["log_age_mw/scatter_dex"] = age["nmad"]
    out.update(property_scores(["log_z"], log_z_pred[:, None], log_z_std[:, None], log_z_true[:, None]))
    return out


def scatter_in_context(scores: dict, prefix: str, unit: str = "") -> str:
    """A scatter with what it must be read against: ``"0.107 dex (R² 0.62; predicting the mean: 0.25)"``.

    The one rule for quoting a scatter (reports, cards, RESULTS): NMAD (σ_NMAD of Δz/(1+z) for redshift) beside
    R² and the same scatter of always predicting the mean, so that a flat prediction cannot look good. ``scores``
    holds ``{prefix}/nmad`` or ``{prefix}/sigma_nmad`` with ``r2`` and ``baseline_*`` (optionally ``test_``-prefixed).
    """
    def get(key: str):
        for name in (f"{prefix}/{key}", f"test_{prefix}/{key}"):
            if isinstance(scores.get(name), (int, float)):
                return float(scores[name])
        return None

    kind = "sigma_nmad" if get("sigma_nmad") is not None else "nmad"
    scatter, r2, baseline = get(kind), get("r2"), get(f"baseline_{kind}")
    if scatter is None:
        return "n/a"
    unit = f" {unit}" if unit else ""
    context = [f"R² {r2:.2f}" if r2 is not None else None,
               f"predicting the mean: {baseline:.3g}" if baseline is not None else None]
    context = [c for c in context if c]
    return f"{scatter:.3g}{unit}" + (f" ({'; '.join(context)})" if context else "")


def classification_scores(logits: np.ndarray, labels: np.ndarray, k: int = 2) -> dict[str, float]:
    known = labels >= 0
    return dict(load_metric("classification").compute(predictions=logits[known], references=labels[known], k=k))
