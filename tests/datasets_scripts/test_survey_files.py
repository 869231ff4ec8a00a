"""load_survey: one call from a directory of survey files to a Dataset; bad files reported and skipped."""

from __future__ import annotations

import logging
import shutil

import pytest

from galfm.datasets_scripts import GALAXY_FEATURES, available_surveys, load_survey


def test_sdss_directory_loads_with_features(tmp_path, data_dir, processor):
    ds = load_survey("sdss", data_dir / "sdss", cache_dir=str(tmp_path))
    assert len(ds) == 5 and ds.features == GALAXY_FEATURES
    assert sorted(ds["object_id"])[0] == "sdss-0266-51602-0013"
    processor([ds[i] for i in range(len(ds))])  # records as the Dataset returns them tokenize


def test_streaming_gives_the_same_records(tmp_path, data_dir):
    streamed = list(load_survey("legacysurvey", data_dir / "legacysurvey", streaming=True))
    prepared = load_survey("legacysurvey", data_dir / "legacysurvey", cache_dir=str(tmp_path))
    assert [r["object_id"] for r in streamed] == prepared["object_id"] and len(streamed) == 7


def test_one_bad_file_is_reported_and_skipped(tmp_path, data_dir, caplog):
    folder = tmp_path / "sdss"
    shutil.copytree(data_dir / "sdss", folder)
    (folder / "spec-9999-99999-0001.fits").write_bytes(b"not a FITS file at all")
    truncated = (data_dir / "sdss" / "spec-0266-51602-0013.fits").read_bytes()[:30000]
    (folder / "spec-9999-99999-0002.fits").write_bytes(truncated)
    with caplog.at_level(logging.WARNING, logger="galfm.datasets"):
        ds = load_survey("sdss", folder, cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 5
    assert "2 of 7 files skipped" in caplog.text
    assert "spec-9999-99999-0001.fits" in caplog.text and "spec-9999-99999-0002.fits" in caplog.text


def test_changed_directory_is_not_served_from_a_stale_cache(tmp_path, data_dir):
    folder = tmp_path / "desi"
    folder.mkdir()
    shutil.copy(data_dir / "desi" / "coadd-sv3-dark-26065.fits", folder)
    assert len(load_survey("desi", folder, cache_dir=str(tmp_path / "cache"))) == 2
    shutil.copy(data_dir / "desi" / "coadd-4-80613-thru20210324.fits", folder)
    assert len(load_survey("desi", folder, cache_dir=str(tmp_path / "cache"))) == 3


def test_unknown_survey_and_empty_directory(tmp_path):
    with pytest.raises(ValueError, match="survey 'hubble': unknown; known: desi"):
        load_survey("hubble", tmp_path)
    with pytest.raises(FileNotFoundError, match="no sdss files matching"):
        load_survey("sdss", tmp_path)
    assert {"sdss", "desi", "legacysurvey", "galex", "jpas", "jplus", "euclid", "euclid_mer", "muse", "manga",
            "phangs_hst", "galaxyzoo", "eso_phase3", "hsc"} == set(available_surveys())


def test_each_survey_module_has_its_builder(tmp_path, data_dir):
    from galfm.datasets_scripts.desi import DESISpectra
    from galfm.datasets_scripts.euclid import EuclidSpectra

    builder = DESISpectra(data_dir=str(data_dir / "desi"), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    assert len(builder.as_dataset(split="train")) == 3
    spectra = EuclidSpectra(data_dir=str(data_dir / "euclid"), cache_dir=str(tmp_path)).as_streaming_dataset("train")
    assert [r["object_id"] for r in spectra] == ["euclid-1499442653027920313", "euclid-1500431128027836270"]
