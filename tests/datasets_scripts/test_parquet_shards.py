"""Shard folders load by their own files: two folders with the same name never share a cache entry."""

from __future__ import annotations

import pytest

from galfm.datasets_scripts import load_records, record_files
from galfm.datasets_scripts.parquet_shards import ShardWriter
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


def test_read_records_gives_what_datasets_gives(tmp_path):
    """The pretraining stream's fast Arrow reader returns every record as datasets' numpy format does (the
    stored float64 wavelengths where datasets casts them to the schema's float32)."""
    import itertools

    import datasets as hf_datasets
    import numpy as np

    from galfm.datasets_scripts.parquet_shards import read_records, record_files
    from galfm.datasets_scripts.simulator import SimulationConfig, write_survey

    write_survey(SimulationConfig(n=40, seed=2, surveys=("desi", "jpas", "legacysurvey"), shard_size=15), tmp_path,
                 progress=False)
    files = record_files(tmp_path)["train"]
    ours = list(read_records(files, batch_size=7))
    reference = list(hf_datasets.load_dataset("parquet", data_files={"train": files}, split="train",
                                              streaming=True).with_format("numpy"))
    assert len(ours) == len(reference) == 36

    def same(a, b, path):
        if isinstance(b, dict):
            assert isinstance(a, dict) and set(a) == set(b), path
            for key in b:
                same(a[key], b[key], f"{path}.{key}")
        elif isinstance(b, np.ndarray) and b.ndim == 0:  # datasets' 0-d arrays are plain scalars here
            np.testing.assert_allclose(float(a), float(b), rtol=1e-6, err_msg=path)
        elif isinstance(b, np.ndarray) and b.dtype.kind not in "OUS":
            assert isinstance(a, np.ndarray) and a.shape == b.shape, path
            np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=path)
        elif isinstance(b, np.ndarray):
            assert list(a) == list(b), path
        elif b is None:
            assert a is None, path
        else:
            assert a == b or (a != a and b != b), path

    for a, b in itertools.zip_longest(ours, reference):
        same(a, b, a["object_id"])
    assert ours[0]["image"]["flux"].shape == (3, 64, 64)


def test_shards_use_dictionaries_for_repeated_strings_and_byte_stream_split_for_floats(tmp_path):
    """What the writer's speed rests on (no dictionary tried on spectra); the values themselves round-trip in the
    tests above."""
    import pyarrow.parquet as pq

    from galfm.datasets_scripts.simulator import simulate

    writer = ShardWriter(tmp_path, shard_size=10)
    for record in simulate(6, seed=1, surveys=("desi", "jpas")):
        writer.add("train", record)
    (name,) = writer.close()
    metadata = pq.ParquetFile(tmp_path / name).metadata.row_group(0)
    encodings = {metadata.column(i).path_in_schema: set(metadata.column(i).encodings)
                 for i in range(metadata.num_columns)}
    assert "BYTE_STREAM_SPLIT" in encodings["spectrum.flux.list.element"]
    assert not encodings["spectrum.flux.list.element"] & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    assert encodings["photometry.band.list.element"] & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
