"""Classification scores from class probabilities: accuracy, top-k accuracy and macro one-vs-rest AUROC."""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import roc_auc_score, top_k_accuracy_score

_DESCRIPTION = """Accuracy of the most probable class, top-k accuracy and the macro-averaged one-vs-rest area
under the ROC curve (scikit-learn), over the classes present in the references."""

_KWARGS = """predictions: per object, the score (probability or logit) of every class. references: class ids.
k: for top-k accuracy (default 2)."""


class Classification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")),
                                        "references": datasets.Value("int64")}))

    def _compute(self, predictions, references, k=2):
        scores, labels = np.asarray(predictions, float), np.asarray(references, int)
        num_classes = scores.shape[1]
        probabilities = np.exp(scores - scores.max(1, keepdims=True))
        probabilities /= probabilities.sum(1, keepdims=True)
        out = {"accuracy": float(np.mean(scores.argmax(1) == labels)),
               f"top_{k}_accuracy": float(top_k_accuracy_score(labels, scores, k=k, labels=np.arange(num_classes)))}
        present = np.unique(labels)
        if present.size >= 2:
            aucs = [roc_auc_score(labels == c, probabilities[:, c]) for c in present]
            out["auroc_macro"] = float(np.mean(aucs))
        out["count"] = int(labels.size)
        return out
