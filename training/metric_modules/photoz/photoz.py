"""Photometric-redshift quality: sigma_NMAD, catastrophic-outlier fraction and bias of dz = (z_pred - z)/(1 + z)."""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import r2_score

_DESCRIPTION = """The usual photo-z figures of merit (e.g. Hildebrandt et al. 2010; the J-PAS target is
sigma_NMAD = 0.003): sigma_NMAD = 1.4826 median(|dz - median(dz)|), the fraction with |dz| > outlier_threshold
(default 0.15) and the median bias of dz; beside them R^2 of the redshifts and baseline_sigma_nmad, the sigma_NMAD
of always predicting the mean redshift, so that a prediction near the prior cannot look good."""

_KWARGS = """predictions: predicted redshifts. references: true redshifts. outlier_threshold: |dz| cut (0.15)."""


class Photoz(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("float64"),
                                        "references": datasets.Value("float64")}))

    def _compute(self, predictions, references, outlier_threshold=0.15):
        z_pred, z_true = np.asarray(predictions, float), np.asarray(references, float)
        dz = (z_pred - z_true) / (1.0 + z_true)
        flat = (np.mean(z_true) - z_true) / (1.0 + z_true)
        return {
            "sigma_nmad": float(1.4826 * np.median(np.abs(dz - np.median(dz)))),
            "outlier_fraction": float(np.mean(np.abs(dz) > outlier_threshold)),
            "bias": float(np.median(dz)),
            "r2": float(r2_score(z_true, z_pred)),
            "baseline_sigma_nmad": float(1.4826 * np.median(np.abs(flat - np.median(flat)))),
            "count": int(dz.size),
        }
