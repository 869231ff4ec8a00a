"""The downstream tasks: which modalities go in, what is predicted, which head, and how it is scored.

A task turns galaxy records into a head's batch (`GalaxyTaskCollator`): the input modalities are kept (the
photometry optionally cut to some bands, e.g. J-PAS only for photo-z), everything else, in particular the
record's ``properties``, is dropped so no label leaks into the input; the labels come out of ``properties``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from galfm import (
    GalFMForMorphologyClassification,
    GalFMForPosteriorEstimation,
    GalFMForPropertyPrediction,
    GalFMForStarFormationHistory,
    GalFMProcessor,
)
from galfm.properties_galfm import NUM_SFH_BINS

from .metrics import classification_scores, posterior_scores, property_scores, sfh_scores

MORPHOLOGY_CLASSES = ("spiral", "lenticular", "elliptical", "merger")
"""The simulator's classes (``properties.morphology``); other labels found in a dataset are appended."""

INPUT_MODALITIES = ("spectrum", "photometry", "image")


@dataclass(frozen=True)
class TaskSpec:
    """One downstream task.

    ``inputs``: modalities given to the model. ``band_prefixes``: keep only photometric bands whose names start
    with one of these (empty: all). ``targets``: properties predicted (property and posterior heads).
    """

    name: str
    head: type
    inputs: tuple[str, ...]
    targets: tuple[str, ...] = ()
    band_prefixes: tuple[str, ...] = ()
    description: str = ""

    def with_options(self, inputs: Sequence[str] | None = None, targets: Sequence[str] | None = None,
                     band_prefixes: Sequence[str] | None = None) -> TaskSpec:
        """A copy with other inputs / targets / bands (``galfm finetune --inputs image`` etc.)."""
        bad = sorted(set(inputs or ()) - set(INPUT_MODALITIES))
        if bad:
            raise ValueError(f"--inputs: unknown {bad}; choose from {', '.join(INPUT_MODALITIES)}")
        if targets and self.name in ("sfh", "morphology"):
            raise ValueError(f"--targets: the {self.name} task has fixed outputs; targets are for "
                             "photoz/properties/posterior")
        return TaskSpec(self.name, self.head, tuple(inputs or self.inputs), tuple(targets or self.targets),
                        tuple(self.band_prefixes if band_prefixes is None else band_prefixes), self.description)

    # ---------------------------------------------------------------------------------------------- inputs
    def model_input(self, record: Mapping) -> dict:
        """The record with only this task's input modalities (and bands)."""
        out = {k: record.get(k) for k in ("object_id", "survey", "ra", "dec")}
        for modality in INPUT_MODALITIES:
            out[modality] = record.get(modality) if modality in self.inputs else None
        photometry = out.get("photometry")
        if photometry is not None and self.band_prefixes:
            keep = [i for i, b in enumerate(photometry["band"]) if str(b).startswith(self.band_prefixes)]
            fields = [k for k in ("band", "flux", "flux_ivar", "flux_sigma") if photometry.get(k) is not None]
            out["photometry"] = {k: [photometry[k][i] for i in keep] for k in fields} if keep else None
        out["properties"] = None
        return out

    def has_input(self, record: Mapping) -> bool:
        return any(v is not None for k, v in self.model_input(record).items() if k in INPUT_MODALITIES)

    # ---------------------------------------------------------------------------------------------- labels
    @property
    def label_fields(self) -> tuple[str, ...]:
        """The ``properties`` keys the labels come from."""
        if self.name == "sfh":
            return ("sfh", "log_z")
        if self.name == "morphology":
            return ("morphology",)
        return self.targets

    def labels(self, records: Sequence[Mapping], label2id: Mapping[str, int] | None = None) -> torch.Tensor:
        props = [r.get("properties") or {} for r in records]
        if self.name == "morphology":
            return torch.tensor([label2id.get(p.get("morphology"), -100) if p.get("morphology") else -100
                                 for p in props], dtype=torch.long)
        if self.name == "sfh":
            rows = [[np.nan] * NUM_SFH_BINS if p.get("sfh") is None else list(p["sfh"]) for p in props]
            log_z = [np.nan if p.get("log_z") is None else p["log_z"] for p in props]
            return torch.tensor(np.column_stack([np.asarray(rows, float), log_z]), dtype=torch.float32)
        return torch.tensor([[np.nan if p.get(t) is None else p[t] for t in self.targets] for p in props],
                            dtype=torch.float32)

    # ---------------------------------------------------------------------------------------------- scores
    def scores(self, outputs: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
        """Task metrics (local `evaluate` modules) from a head's outputs over a split."""
        if self.name == "morphology":
            return classification_scores(outputs["logits"], labels)
        if self.name == "sfh":
            return sfh_scores(outputs["sfh"], labels[:, :NUM_SFH_BINS], outputs["log_z"], outputs["log_z_std"],
                              labels[:, NUM_SFH_BINS])
        if self.name == "posterior":
            return posterior_scores(list(self.targets), outputs["samples"], labels)
        return property_scores(list(self.targets), outputs["mean"], outputs["std"], labels)


PROPERTY_TARGETS = ("redshift", "log_mstar", "log_z", "av", "log_ssfr", "age_mw", "ew_halpha", "ew_oiii_5007")

TASKS: dict[str, TaskSpec] = {
    "photoz": TaskSpec("photoz", GalFMForPropertyPrediction, ("photometry",), ("redshift",), ("jpas_",),
                       "redshift with uncertainty from J-PAS-like photometry"),
    "properties": TaskSpec("properties", GalFMForPropertyPrediction, ("spectrum", "photometry"), PROPERTY_TARGETS,
                           (), "stellar-population properties and line EWs with uncertainties"),
    "posterior": TaskSpec("posterior", GalFMForPosteriorEstimation, ("spectrum", "photometry"),
                          ("log_mstar", "log_ssfr", "log_z", "av", "age_mw"), (),
                          "flow-matching posterior p(theta | data) of the stellar-population parameters"),
    "sfh": TaskSpec("sfh", GalFMForStarFormationHistory, ("spectrum", "photometry"), (), (),
                    "mass fractions in 16 age bins and stellar metallicity"),
    "morphology": TaskSpec("morphology", GalFMForMorphologyClassification, ("image",), (), (),
                           "morphological class from images"),
}


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]


@dataclass
class GalaxyTaskCollator:
    """Trainer ``data_collator``: galaxy records -> the task's processor batch + ``labels``."""

    processor: GalFMProcessor
    task: TaskSpec
    label2id: dict[str, int] = field(default_factory=dict)

    def __call__(self, records: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        batch = dict(self.processor([self.task.model_input(r) for r in records], return_tensors="pt"))
        batch["labels"] = self.task.labels(records, self.label2id)
        return batch
