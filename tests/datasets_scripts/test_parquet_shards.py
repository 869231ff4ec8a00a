"""Shard folders load by their own files: two folders with the same name never share a cache entry."""

from __future__ import annotations

import pytest

from galfm.datasets_scripts import load_records, record_files
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey


def test_same_named_folders_keep_their_own_rows(tmp_path):
    small, large = tmp_path / "a" / "simulated", tmp_path / "b" / "simulated"
    write_survey(SimulationConfig(n=20, seed=1, surveys=("jpas",), shard_size=10), small, progress=False)
    write_survey(SimulationConfig(n=60, seed=2, surveys=("jpas",), shard_size=10), large, progress=False)
    assert len(load_records(small, split="train")) == 18
    assert len(load_records(large, split="train")) == 54  # not the 18 cached for the other "simulated"
    assert set(load_records(large)) == {"train", "validation", "test"}
    # rewritten in place (same file names, new content): the cache follows the files
    write_survey(SimulationConfig(n=20, seed=3, surveys=("jpas",), shard_size=10), small, progress=False)
    ids = load_records(small, split="train")["object_id"]
    assert ids[0].startswith("sim3-")


def test_missing_shards_and_splits_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no data/\\*.parquet"):
        record_files(tmp_path)
    write_survey(SimulationConfig(n=20, seed=1, surveys=("jpas",), shard_size=10), tmp_path, progress=False)
    with pytest.raises(ValueError, match="no 'dev' split"):
        load_records(tmp_path, split="dev")
