"""Input subsets for training: never empty, labels untouched, one survey's bands at a time."""

from __future__ import annotations

import numpy as np

from conftest import synthetic_galaxy
from galfm.training.augment import InputSubsets, band_groups, random_input_subset


def test_every_subset_keeps_some_input_and_all_labels():
    record = synthetic_galaxy(0)
    seen = set()
    for seed in range(60):
        subset = random_input_subset(record, ("spectrum", "photometry"), np.random.default_rng(seed))
        kept = tuple(m for m in ("spectrum", "photometry") if subset[m] is not None)
        assert kept, "a galaxy is never shown with no input"
        assert subset["properties"] == record["properties"] and subset["object_id"] == record["object_id"]
        bands = tuple(sorted({str(b).split("_")[0] for b in subset["photometry"]["band"]})) \
            if subset["photometry"] else ()
        seen.add((kept, bands))
    kinds = {k for k, _ in seen}
    assert kinds == {("spectrum",), ("photometry",), ("spectrum", "photometry")}
    assert {b for _, b in seen if len(b) == 1} >= {("sdss",), ("jpas",)}  # one survey's bands alone
    assert any(len(b) > 1 for _, b in seen)  # and sometimes every band


def test_band_groups_follow_the_surveys_of_a_record():
    assert band_groups({"band": ["decam_g", "wise_w1", "sdss_r"]}) == [("sdss_",), ("decam_", "bass_", "mzls_",
                                                                                   "wise_")]
    assert band_groups(None) == []


def test_input_subsets_are_reproducible_and_change_between_reads():
    records = [synthetic_galaxy(i, object_id=f"g{i}") for i in range(3)]
    first, second = InputSubsets(records, ("spectrum", "photometry"), seed=4), \
        InputSubsets(records, ("spectrum", "photometry"), seed=4)

    def kinds(dataset):
        return [tuple(m for m in ("spectrum", "photometry") if dataset[0][m] is not None) for _ in range(12)]

    a, b = kinds(first), kinds(second)
    assert a == b and len(set(a)) > 1
