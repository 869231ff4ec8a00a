"""DESI coadds: arms merged onto one grid with inverse-variance overlaps, both file layouts, MW correction."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from galfm.datasets_scripts import load_survey
from galfm.datasets_scripts.desi import read_coadd
from galfm.datasets_scripts.galactic_extinction import spectrum_transmission

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


def test_photometry_and_spectrum_are_corrected_for_milky_way_extinction(data_dir):
    (record,) = read_coadd(data_dir / "desi" / TILE)
    with fits.open(data_dir / "desi" / TILE) as hdus:
        row = hdus["FIBERMAP"].data[0]
        blue_flux = np.asarray(hdus["B_FLUX"].data[0], dtype=float)
        blue_wave = np.asarray(hdus["B_WAVELENGTH"].data, dtype=float)
    # the Legacy Surveys DR9 coefficients (Schlafly & Finkbeiner 2011 for DECam): g 3.214 ... W2 0.113
    for key, coefficient in zip(("G", "R", "Z", "W1", "W2"), (3.214, 2.165, 1.211, 0.184, 0.113)):
        band = record["photometry"]["band"][("G", "R", "Z", "W1", "W2").index(key)]
        assert record["photometry"]["flux"][record["photometry"]["band"].index(band)] == pytest.approx(
            row[f"FLUX_{key}"] * 10 ** (0.4 * coefficient * row["EBV"]), rel=1e-6)
    assert f"mw_ebv={row['EBV']:.4f}" in record["flags"] and "mw_ebv_source=desi_ebv" in record["flags"]
    # the spectrum divided by the curve those coefficients come from (E(B-V) = 0.051: 17% at 3600 A)
    i = 10  # a blue pixel outside the B/R overlap
    boost = record["spectrum"]["flux"][i] / blue_flux[i]
    assert boost == pytest.approx(1 / spectrum_transmission(blue_wave[i:i + 1], float(row["EBV"]))[0], rel=1e-5)
    assert 1.15 < boost < 1.25


def test_healpix_layout_finds_its_redrock_file(tmp_path, data_dir):
    shutil.copy(data_dir / "desi" / TILE, tmp_path / "coadd-main-dark-10032.fits")
    shutil.copy(data_dir / "desi" / "redrock-4-80613-thru20210324.fits", tmp_path / "redrock-main-dark-10032.fits")
    ds = load_survey("desi", tmp_path, cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 1
    assert ds[0]["properties"]["redshift"] == pytest.approx(0.36874, abs=1e-5)
    assert "desi_spectype=GALAXY" in ds[0]["flags"]


@pytest.mark.parametrize("name", [TILE, "coadd-sv3-dark-26065.fits"])
def test_the_line_spread_comes_from_the_resolution_matrix(data_dir, name):
    """DESI quotes R from about 2000 at 3600 A to about 5500 at 9800 A (DESI Collaboration 2022, instrument
    overview); the sigma is the second moment of each pixel's column of the resolution matrix."""
    for record in read_coadd(data_dir / "desi" / name):
        wavelength, sigma = record["spectrum"]["wavelength"], record["spectrum"]["lsf_sigma"]
        assert sigma.shape == wavelength.shape and np.all(np.isfinite(sigma) & (sigma > 0))
        resolution = wavelength / (2 * np.sqrt(2 * np.log(2)) * sigma)
        blue, red = (float(np.median(resolution[np.abs(wavelength - w) < 50])) for w in (3800.0, 9500.0))
        assert 1600 < blue < 2800 and 4000 < red < 6000


def test_a_resolution_matrix_of_a_gaussian_gives_its_sigma():
    from galfm.datasets_scripts.desi import lsf_sigma_angstrom

    offsets = np.arange(5, -6, -1)  # DESI's 11 diagonals, upper first
    wavelength = 3600.0 + 0.8 * np.arange(200)
    kernel = np.exp(-0.5 * (offsets / 1.1) ** 2)
    diagonals = np.repeat((kernel / kernel.sum())[:, None], wavelength.size, axis=1)
    np.testing.assert_allclose(lsf_sigma_angstrom(diagonals, wavelength), 1.1 * 0.8, rtol=2e-3)


def test_a_gzipped_coadd_finds_its_redrock_file(data_dir, tmp_path):
    import gzip

    from galfm.datasets_scripts.desi import redshift_file

    coadd = tmp_path / TILE.replace(".fits", ".fits.gz")
    coadd.write_bytes(gzip.compress((data_dir / "desi" / TILE).read_bytes()))
    shutil.copy(data_dir / "desi" / TILE.replace("coadd-", "redrock-"), tmp_path)
    assert redshift_file(coadd) == tmp_path / TILE.replace("coadd-", "redrock-")
    (record,) = read_coadd(coadd, redshift_file(coadd))
    assert record["properties"]["redshift"] == pytest.approx(0.36874, abs=1e-5)
