"""Euclid SIR combined spectra (real Q1 file) and the MER catalogue (fixture in the Euclid Q1 DPDD
``mer_finalcatalog`` layout: OBJECT_ID, RIGHT_ASCENSION, DECLINATION, FLUX_VIS_PSF, FLUX_Y/J/H_TEMPLFIT and
FLUXERR_* in micro-Jansky, SPURIOUS_FLAG, DET_QUALITY_FLAG)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from galfm.datasets_scripts.euclid import read_mer_catalog, read_sir_spectra
from galfm.datasets_scripts.galactic_extinction import SFD_MAP_SOURCE, band_transmission, sfd_ebv

SIR = "euclid_sir_SPECTRA_RGS_COMBINED.fits"


def test_sir_flux_scaled_by_fscale_and_masked(data_dir, processor):
    records = read_sir_spectra(data_dir / "euclid" / SIR)
    with fits.open(data_dir / "euclid" / SIR) as hdus:
        assert [r["object_id"] for r in records] == [f"euclid-{h.name}" for h in hdus[1:]]
        data, fscale = hdus[1].data, hdus[1].header["FSCALE"]
    spec = records[0]["spectrum"]
    good = (data["MASK"] % 2 == 0) & (data["MASK"] < 64) & (data["VAR"] > 0)
    i = int(np.flatnonzero(good)[10])
    assert spec["flux"][i] == pytest.approx(data["SIGNAL"][i] * fscale / 1e-17, rel=1e-6)
    assert spec["ivar"][i] == pytest.approx(1 / (data["VAR"][i] * (fscale / 1e-17) ** 2), rel=1e-5)
    np.testing.assert_array_equal(spec["mask"], ~good)
    assert np.all(spec["ivar"][~good] == 0)
    assert spec["wavelength"][0] == pytest.approx(11900.0)
    processor(records)


def test_mer_catalogue_microjansky_to_nanomaggies(tmp_path):
    path = tmp_path / "EUC_MER_FINAL-CAT_fixture.fits"
    Table({"OBJECT_ID": np.array([-602459818257823447], dtype=np.int64), "RIGHT_ASCENSION": [60.2],
           "DECLINATION": [-48.9], "FLUX_VIS_PSF": [3.631], "FLUXERR_VIS_PSF": [0.03631],
           "FLUX_Y_TEMPLFIT": [7.0], "FLUXERR_Y_TEMPLFIT": [0.5], "FLUX_J_TEMPLFIT": [np.nan],
           "FLUXERR_J_TEMPLFIT": [np.nan], "FLUX_H_TEMPLFIT": [9.0], "FLUXERR_H_TEMPLFIT": [0.7],
           "SPURIOUS_FLAG": [0], "DET_QUALITY_FLAG": [4]}).write(path)
    (record,) = read_mer_catalog(path)
    phot = record["photometry"]
    assert phot["band"] == ["euclid_vis", "euclid_y", "euclid_h"]  # J is NaN: left out
    # 3.631 uJy = 1 nanomaggy, de-reddened at the map's E(B-V) (no EBV column)
    ebv = float(sfd_ebv(60.2, -48.9))
    assert phot["flux"][0] == pytest.approx(1.0 / band_transmission("euclid_vis", ebv), rel=1e-6)
    assert phot["flux_ivar"][0] == pytest.approx(1e4 * band_transmission("euclid_vis", ebv) ** 2, rel=1e-5)
    assert record["flags"] == ["euclid_det_quality_flag=4", f"mw_ebv={ebv:.4f}", f"mw_ebv_source={SFD_MAP_SOURCE}"]
