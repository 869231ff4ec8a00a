"""galfm convert: a directory of survey files -> Parquet shards + card that reload with their features."""

from __future__ import annotations

import datasets

from galfm.cli import main
from galfm.datasets_scripts import GALAXY_FEATURES


def test_convert_then_load_dataset(tmp_path, data_dir, capsys):
    out = tmp_path / "desi_records"
    assert main(["convert", "--survey", "desi", "--data-dir", str(data_dir / "desi"), "--out", str(out)]) == 0
    assert "3 records from 2 desi files" in capsys.readouterr().out
    assert [p.name for p in (out / "data").iterdir()] == ["train-00000-of-00001.parquet"]
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.features == GALAXY_FEATURES and len(ds) == 3
    assert "desi-39633345008634465" in ds["object_id"]
    card = (out / "README.md").read_text()
    assert card.startswith("---") and "path: data/train-*" in card


def test_convert_reports_skipped_files_and_bad_survey(tmp_path, data_dir, capsys):
    out = tmp_path / "muse_records"
    assert main(["convert", "--survey", "muse", "--data-dir", str(data_dir / "muse"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 files skipped" in printed and "origin-00026.fits" in printed
    assert main(["convert", "--survey", "hubble", "--data-dir", str(data_dir), "--out", str(out)]) == 2
    assert "unknown" in capsys.readouterr().err
