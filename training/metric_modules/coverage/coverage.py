"""Calibration of predicted uncertainties: how often the truth falls inside the central 68% and 95% intervals."""

import datasets
import evaluate
import numpy as np
from scipy.stats import norm

_DESCRIPTION = """Empirical coverage of central credible intervals. Two forms of prediction:
a Gaussian (predictions = means, std = the 1-sigma uncertainties), or posterior samples (predictions = one list
of samples per object; intervals from their quantiles, plus the normalised rank of the truth among the samples,
whose distribution is uniform when the posterior is calibrated; its KS distance to uniform is returned).
A calibrated model covers 68% and 95%."""

_KWARGS = """predictions: means, or a list of samples per object. references: true values.
std: 1-sigma uncertainties (Gaussian form only). levels: interval probabilities (default (0.68, 0.95))."""


class Coverage(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=[
                datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
                datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")),
                                   "references": datasets.Value("float64")}),
            ])

    def _compute(self, predictions, references, std=None, levels=(0.68, 0.95)):
        true = np.asarray(references, float)
        out = {}
        if std is not None:
            mean, std = np.asarray(predictions, float), np.asarray(std, float)
            pull = np.abs(true - mean) / std
            for level in levels:
                out[f"coverage_{round(100 * level)}"] = float(np.mean(pull <= norm.ppf(0.5 + level / 2)))
            out["pull_std"] = float(np.std((true - mean) / std))
        else:
            samples = np.asarray(predictions, float)
            for level in levels:
                lo, hi = np.quantile(samples, [0.5 - level / 2, 0.5 + level / 2], axis=1)
                out[f"coverage_{round(100 * level)}"] = float(np.mean((true >= lo) & (true <= hi)))
            ranks = np.sort((samples < true[:, None]).mean(axis=1))
            grid = np.arange(1, ranks.size + 1) / ranks.size
            out["rank_ks"] = float(np.max(np.abs(ranks - grid)))
        out["count"] = int(true.size)
        return out
