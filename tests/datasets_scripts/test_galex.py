"""GALEX catalogues. No real GUVcat file is at hand: the fixture follows the column layout of GUVcat
(Bianchi, Shiao & Thilker 2017, ApJS 230, 24, Table 4) and the GALEX GR6/7 MAST merged-source catalogue
(lower-case ``objid, ra, dec, fuv_mag, fuv_magerr, nuv_mag, nuv_magerr, fuv_artifact, nuv_artifact``, and
GUVcat's ``E_bv``, SFD's E(B-V))."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from galfm.datasets_scripts.galactic_extinction import band_transmission
from galfm.datasets_scripts.galex import read_catalog


@pytest.fixture()
def guvcat(tmp_path):
    table = Table({
        "objid": np.array([6381631476841627000, 6381631476841627001, 6381631476841627002], dtype=np.int64),
        "ra": [150.1, 150.2, 150.3], "dec": [2.1, 2.2, 2.3],
        "fuv_mag": [21.5, -999.0, 23.1], "fuv_magerr": [0.12, -999.0, 0.35],
        "nuv_mag": [20.9, 21.7, -999.0], "nuv_magerr": [0.05, 0.09, -999.0],
        "fuv_artifact": np.array([0, 0, 4], dtype=np.int16), "nuv_artifact": np.array([0, 0, 0], dtype=np.int16),
        "E_bv": [0.0, 0.02, 0.05],
    })
    path = tmp_path / "GUVcat_AIS_fixture.fits"
    table.write(path)
    return path


def test_magnitudes_become_nanomaggies_and_placeholders_are_dropped(guvcat):
    records = read_catalog(guvcat)
    assert len(records) == 3
    first = records[0]["photometry"]
    assert first["band"] == ["galex_fuv", "galex_nuv"]
    assert first["flux"][0] == pytest.approx(10 ** (-0.4 * (21.5 - 22.5)), rel=1e-6)  # E(B-V) = 0 here
    sigma = first["flux"][0] * 0.4 * np.log(10) * 0.12
    assert first["flux_ivar"][0] == pytest.approx(1 / sigma**2, rel=1e-5)
    assert records[1]["photometry"]["band"] == ["galex_nuv"]  # FUV -999: not a measurement
    # de-reddened at the catalogue's E_bv: NUV's ~6.4 E(B-V) is 12% at 0.02
    nuv = records[1]["photometry"]["flux"][0] / 10 ** (-0.4 * (21.7 - 22.5))
    assert nuv == pytest.approx(1 / band_transmission("galex_nuv", 0.02), rel=1e-5) and 1.1 < nuv < 1.2
    assert records[2]["photometry"]["band"] == ["galex_fuv"]
    assert records[2]["flags"] == ["galex_fuv_artifact=4", "mw_ebv=0.0500", "mw_ebv_source=catalogue_e_bv"]


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "galex_bad.fits"
    Table({"objid": [1], "ra": [1.0], "dec": [1.0]}).write(path)
    with pytest.raises(ValueError, match=r"galex_bad.fits: missing GALEX columns \['fuv_mag'"):
        read_catalog(path)
