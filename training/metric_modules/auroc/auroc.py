"""Area under the ROC curve of a score against binary labels, e.g. outlier scores against flagged anomalies."""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import roc_auc_score

_DESCRIPTION = """AUROC (scikit-learn): the probability that a random positive (anomaly) scores above a random
negative (normal galaxy); 0.5 is chance."""

_KWARGS = """predictions: scores (higher = more anomalous). references: 1 for positives, 0 for negatives."""


class Auroc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("float64"),
                                        "references": datasets.Value("int64")}))

    def _compute(self, predictions, references):
        labels = np.asarray(references, int)
        return {"auroc": float(roc_auc_score(labels, np.asarray(predictions, float))),
                "positives": int(labels.sum()), "count": int(labels.size)}
