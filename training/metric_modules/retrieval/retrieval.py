"""Retrieval top-k accuracy: how often the wanted object is among the first k results of a search."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """Top-k accuracy of a ranked search: the fraction of queries whose true match (e.g. the spectrum
of the galaxy whose image was the query) is among the first k results; chance is k / (size of the index)."""

_KWARGS = """predictions: per query, the ranked result ids. references: the id of the true match.
k: the cut-offs (default (1, 10))."""


class Retrieval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("string")),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, k=(1, 10)):
        out = {}
        for cut in k:
            out[f"top_{cut}"] = float(np.mean([ref in list(pred)[:cut] for pred, ref in zip(predictions, references)]))
        out["count"] = len(references)
        return out
