"""Regression scores of a physical property: R^2, RMSE, median bias and normalised median absolute deviation."""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import r2_score

_DESCRIPTION = """R^2 (coefficient of determination, scikit-learn), root-mean-square error, median bias of
(prediction - truth) and NMAD = 1.4826 median(|residual - median(residual)|), all in the property's own units; and
the same scatters for always predicting the mean of the references (baseline_nmad, baseline_rmse), so that a flat
prediction cannot look good: a scatter means little unless it is well below its baseline (and R^2 well above 0)."""

_KWARGS = """predictions: predicted values. references: true values."""


class Regression(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("float64"),
                                        "references": datasets.Value("float64")}))

    def _compute(self, predictions, references):
        pred, true = np.asarray(predictions, float), np.asarray(references, float)
        residual = pred - true
        flat = np.mean(true) - true
        return {
            "r2": float(r2_score(true, pred)),
            "rmse": float(np.sqrt(np.mean(residual**2))),
            "bias": float(np.median(residual)),
            "nmad": float(1.4826 * np.median(np.abs(residual - np.median(residual)))),
            "baseline_nmad": float(1.4826 * np.median(np.abs(flat - np.median(flat)))),
            "baseline_rmse": float(np.sqrt(np.mean(flat**2))),
            "count": int(residual.size),
        }
