"""The downstream tasks: which modalities go in, what is predicted, which head, and how it is scored.

A task turns galaxy records into a head's batch (`GalaxyTaskCollator`): the input modalities are kept
(`galfm.modalities.select_modalities`; the photometry optionally cut to some bands, e.g. J-PAS only for photo-z),
everything else, in particular the record's ``properties``, is dropped so no label leaks into the input; the
labels come out of ``properties``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from galfm.datasets_scripts.parquet_shards import load_records
from galfm.datasets_scripts.schema import trusted_properties
from galfm.heads_galfm import (
    GalFMForMorphologyClassification,
    GalFMForPosteriorEstimation,
    GalFMForPropertyPrediction,
    GalFMForStarFormationHistory,
)
from galfm.modalities import observed_modalities, select_modalities
from galfm.processing_galfm import GalFMProcessor
from galfm.properties_galfm import NUM_SFH_BINS

from .metrics import classification_scores, posterior_scores, property_scores, sfh_scores

logger = logging.getLogger("galfm.tasks")

MORPHOLOGY_CLASSES = ("spiral", "lenticular", "elliptical", "merger")
"""The simulator's classes (``properties.morphology``); other labels found in a dataset are appended."""

INPUT_MODALITIES = observed_modalities()


class MissingLabelsError(ValueError):
    """The data lack the labels a task needs."""


@dataclass(frozen=True)
class TaskSpec:
    """One downstream task.

    ``inputs``: modalities given to the model. ``band_prefixes``: keep only photometric bands whose names start
    with one of these (empty: all). ``targets``: properties predicted (property and posterior heads).
    ``conditions``: properties handed to the head as keyword inputs, as a fit is given them (the SFH head reads
    the spectrum at its ``redshift``); NaN where a record lacks one, and the head then finds its own.
    """

    name: str
    head: type
    inputs: tuple[str, ...]
    targets: tuple[str, ...] = ()
    band_prefixes: tuple[str, ...] = ()
    description: str = ""
    conditions: tuple[str, ...] = ()

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
                        tuple(self.band_prefixes if band_prefixes is None else band_prefixes), self.description,
                        self.conditions)

    # ---------------------------------------------------------------------------------------------- inputs
    def model_input(self, record: Mapping) -> dict:
        """The record with only this task's input modalities (and bands); no label leaks in."""
        return select_modalities(record, self.inputs, band_prefixes=self.band_prefixes)

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
        props = [trusted_properties(r) for r in records]
        if self.name == "morphology":
            return torch.tensor([label2id.get(p.get("morphology"), -100) if p.get("morphology") else -100
                                 for p in props], dtype=torch.long)
        if self.name == "sfh":
            rows = [[np.nan] * NUM_SFH_BINS if p.get("sfh") is None else list(p["sfh"]) for p in props]
            log_z = [np.nan if p.get("log_z") is None else p["log_z"] for p in props]
            return torch.tensor(np.column_stack([np.asarray(rows, float), log_z]), dtype=torch.float32)
        return torch.tensor([[np.nan if p.get(t) is None else p[t] for t in self.targets] for p in props],
                            dtype=torch.float32)

    def condition_values(self, records: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        """{condition: (batch,) float64 tensor} from the records' trusted properties, NaN where unknown."""
        props = [trusted_properties(r) for r in records]
        return {name: torch.tensor([np.nan if p.get(name) is None else p[name] for p in props], dtype=torch.float64)
                for name in self.conditions}

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
                    "mass fractions in 16 age bins and stellar metallicity", conditions=("redshift",)),
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
        batch.update(self.task.condition_values(records))
        batch["labels"] = self.task.labels(records, self.label2id)
        return batch


def load_task_splits(data_dir: str | Path, task: TaskSpec, splits=("train", "validation", "test")) -> dict:
    """The splits of a galaxy-record folder, cut to rows that have the task's input and some label."""
    loaded = load_records(data_dir)
    if "train" not in loaded:
        raise ValueError(f"{data_dir}: no train split (found {list(loaded)}); write the folder with `galfm simulate`"
                         " or `galfm convert`")
    missing = [s for s in splits if s not in loaded]
    if missing and len(loaded["train"]) < 40:  # too few to hold any out: score on what there is
        loaded = {"train": loaded["train"], "validation": loaded["train"], "test": loaded["train"]}
        logger.warning("%s has no %s split and only %d rows: every split is the train split", data_dir,
                       "/".join(missing), len(loaded["train"]))
    elif missing:  # e.g. a converted survey, all in train: hold out 10% the same way every time
        held = loaded["train"].train_test_split(test_size=0.1, seed=0)
        halves = held["test"].train_test_split(test_size=0.5, seed=0)
        loaded = {"train": held["train"], "validation": halves["train"], "test": halves["test"]}
        logger.warning("%s has no %s split: 5%% + 5%% of train (seed 0) held out as validation and test",
                       data_dir, "/".join(missing))
    features = loaded[splits[0]].features
    if "properties" not in features:
        raise MissingLabelsError(f"{data_dir}: the records have no 'properties' column, so task {task.name!r} "
                                 f"has no labels ({', '.join(task.label_fields)})")
    known = set(features["properties"])
    absent = [f for f in task.label_fields if f not in known]
    if absent:
        raise MissingLabelsError(f"{data_dir}: properties lack {absent}, needed as labels by task {task.name!r}")
    columns = list(task.inputs) + ["properties"] + (["flags"] if "flags" in features else [])

    def usable(*values) -> bool:
        record = dict(zip(columns, values))
        props = trusted_properties(record)
        return task.has_input(record) and any(props.get(f) is not None for f in task.label_fields)

    # only the columns the task reads: a photometry task never decodes spectra or images
    keep = ["object_id", *columns]
    out = {s: loaded[s].select_columns(keep).filter(usable, input_columns=columns,
                                                    desc=f"{task.name}: {s} rows with inputs and labels")
           for s in splits}
    if len(out[splits[0]]) == 0:
        raise MissingLabelsError(f"{data_dir}: no {splits[0]} galaxy has both the inputs ({', '.join(task.inputs)}) "
                                 f"and a label ({', '.join(task.label_fields)}) of task {task.name!r}")
    return out


def morphology_labels(train) -> dict[str, int]:
    found = {p.get("morphology") for p in train["properties"] if p and p.get("morphology")}
    names = [c for c in MORPHOLOGY_CLASSES] + sorted(found - set(MORPHOLOGY_CLASSES))
    return {name: i for i, name in enumerate(names)}
