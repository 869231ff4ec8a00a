"""Training-time input subsets: a head learns to answer from whatever a real record has.

Simulated records carry every modality and every survey's bands; a real SDSS file has a spectrum and ugriz, a
Legacy Surveys catalogue row grz + W1/W2 alone. `InputSubsets` shows each training galaxy with a random
non-empty subset of its input modalities and, half the time, only one survey's bands, so the same head serves
spectrum-only, photometry-only and spectrum + photometry requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from galfm.modalities import select_modalities

# The bands one survey's catalogue delivers together (name prefixes).
PHOTOMETRY_GROUPS: dict[str, tuple[str, ...]] = {
    "sdss": ("sdss_",),
    "legacysurvey": ("decam_", "bass_", "mzls_", "wise_"),
    "jpas": ("jpas_",),
    "galex": ("galex_",),
    "euclid": ("euclid_",),
}


def band_groups(photometry: Mapping | None) -> list[tuple[str, ...]]:
    """The `PHOTOMETRY_GROUPS` prefixes of the surveys present in a record's photometry."""
    if not photometry or photometry.get("band") is None:
        return []
    bands = [str(b) for b in photometry["band"]]
    return [prefixes for prefixes in PHOTOMETRY_GROUPS.values() if any(b.startswith(prefixes) for b in bands)]


def random_input_subset(record: Mapping, inputs: Sequence[str], rng: np.random.Generator,
                        one_survey_probability: float = 0.5) -> dict:
    """The record with a random non-empty subset of its ``inputs`` (labels and metadata untouched)."""
    present = [m for m in inputs if record.get(m) is not None]
    if not present:
        return dict(record)
    subsets = [[m for k, m in enumerate(present) if mask >> k & 1] for mask in range(1, 2 ** len(present))]
    kept = subsets[rng.integers(len(subsets))]
    options = {}
    groups = band_groups(record.get("photometry")) if "photometry" in kept else []
    if len(groups) > 1 and rng.random() < one_survey_probability:
        options["band_prefixes"] = groups[rng.integers(len(groups))]
    selected = select_modalities(record, kept, **options)
    return {**record, **{m: selected[m] for m in inputs}}


class InputSubsets(torch.utils.data.Dataset):
    """A record dataset whose every read draws a new input subset (`random_input_subset`), seeded by the
    galaxy's index and how often it was read, so a run is reproducible."""

    def __init__(self, records, inputs: Sequence[str], seed: int = 0):
        self.records = records
        self.inputs = tuple(inputs)
        self.seed = seed
        self.reads = np.zeros(len(records), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng((self.seed, int(index), int(self.reads[index])))
        self.reads[index] += 1
        return random_input_subset(self.records[int(index)], self.inputs, rng)


__all__ = ["PHOTOMETRY_GROUPS", "InputSubsets", "band_groups", "random_input_subset"]
