"""DESI coadds: arms merged onto one grid with inverse-variance overlaps, both file layouts, MW correction."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from galfm.datasets_scripts import load_survey
from galfm.datasets_scripts.desi import MW_EXTINCTION_COEFFICIENTS, read_coadd

TILE = "coadd-4-80613-thru20210324.fits"


def test_arms_merge_onto_one_continuous_grid(data_dir):
    (merged,) = read_coadd(data_dir / "desi" / TILE)
    (split,) = read_coadd(data_dir / "desi" / TILE, merge=False)
    spec = merged["spectrum"]
    assert spec["wavelength"].size == 7781  # 3600-9824 A at 0.8 A, overlaps counted once
    np.testing.assert_allclose(np.diff(spec["wavelength"]), 0.8, atol=1e-6)
    blue, red = split["spectrum"][0], split["spectrum"][1]
    w = 5780.0  # in the B/R overlap
    b, r, m = (int(np.argmin(np.abs(a["wavelength"] - w))) for a in (blue, red, spec))
    ivar_b, ivar_r = (float(a["ivar"][i]) * (not a["mask"][i]) for a, i in ((blue, b), (red, r)))
    expected = (blue["flux"][b] * ivar_b + red["flux"][r] * ivar_r) / (ivar_b + ivar_r)
    assert spec["flux"][m] == pytest.approx(expected, rel=1e-5)
    assert spec["ivar"][m] == pytest.approx(ivar_b + ivar_r, rel=1e-5)
    # outside the overlaps the merged spectrum is the arm itself
    assert spec["flux"][0] == pytest.approx(blue["flux"][0] if not blue["mask"][0] else 0.0)


def test_photometry_is_corrected_for_milky_way_extinction(data_dir):
    (record,) = read_coadd(data_dir / "desi" / TILE)
    with fits.open(data_dir / "desi" / TILE) as hdus:
        row = hdus["FIBERMAP"].data[0]
    for band, key in zip(record["photometry"]["band"], ("G", "R", "Z", "W1", "W2")):
        transmission = 10 ** (-0.4 * MW_EXTINCTION_COEFFICIENTS[key] * row["EBV"])
        assert record["photometry"]["flux"][record["photometry"]["band"].index(band)] == pytest.approx(
            row[f"FLUX_{key}"] / transmission, rel=1e-6)


def test_healpix_layout_finds_its_redrock_file(tmp_path, data_dir):
    shutil.copy(data_dir / "desi" / TILE, tmp_path / "coadd-main-dark-10032.fits")
    shutil.copy(data_dir / "desi" / "redrock-4-80613-thru20210324.fits", tmp_path / "redrock-main-dark-10032.fits")
    ds = load_survey("desi", tmp_path, cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 1
    assert ds[0]["properties"]["redshift"] == pytest.approx(0.36874, abs=1e-5)
    assert "desi_spectype=GALAXY" in ds[0]["flags"]
