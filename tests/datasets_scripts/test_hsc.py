"""HSC-SSP forced catalogues. No real HSC file is at hand: the fixture follows the PDR3 ``forced`` table's
column names (Aihara et al. 2022, PASJ 74, 247; schema at hsc-release.mtk.nao.ac.jp/schema/): ``object_id``,
``ra``, ``dec``, ``{b}_cmodel_flux``/``{b}_cmodel_fluxerr`` in nJy, ``{b}_cmodel_flag``, ``a_{b}``,
``i_extendedness_value``; PDR2 spelled the error ``{b}_cmodel_fluxsigma``."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from galfm.datasets_scripts.hsc import read_catalog
from galfm.datasets_scripts.surveys import available_surveys

NJY_PER_NANOMAGGY = 3631.0


def _table(error_suffix: str = "fluxerr") -> Table:
    columns = {"object_id": np.array([36411448540270969, 36411448540270970], dtype=np.int64),
               "ra": [150.10, 150.11], "dec": [2.20, 2.21]}
    for b, flux in zip("grizy", (3631.0, 7262.0, 10893.0, 12000.0, 13000.0)):
        columns[f"{b}_cmodel_flux"] = [flux, flux / 2]
        columns[f"{b}_cmodel_{error_suffix}"] = [flux / 20, flux / 10]
        columns[f"{b}_cmodel_flag"] = np.array([False, b == "y"])
        columns[f"a_{b}"] = [0.1, 0.0]
    columns["i_extendedness_value"] = [1.0, 0.0]
    return Table(columns)


def test_cmodel_nanojansky_become_dereddened_nanomaggies(tmp_path):
    path = tmp_path / "hsc_pdr3_wide_forced.fits"
    _table().write(path)
    first, second = read_catalog(path)
    assert first["photometry"]["band"] == ["hsc_g", "hsc_r", "hsc_i", "hsc_z", "hsc_y"]
    # 3631 nJy = 1 nanomaggy (22.5 AB), then A_g = 0.1 mag of Galactic extinction divided out
    assert first["photometry"]["flux"][0] == pytest.approx(10 ** 0.04, rel=1e-6)
    sigma = 10 ** 0.04 / 20
    assert first["photometry"]["flux_ivar"][0] == pytest.approx(1 / sigma**2, rel=1e-5)
    assert first["object_id"] == "hsc-36411448540270969" and first["survey"] == "hsc"
    assert second["photometry"]["band"] == ["hsc_g", "hsc_r", "hsc_i", "hsc_z"]  # y CModel failed: left out
    assert "hsc_y_cmodel_flag" in second["flags"] and "hsc_i_extendedness=0" in second["flags"]
    assert "hsc" in available_surveys()


def test_pdr2_error_spelling_is_read(tmp_path):
    path = tmp_path / "hsc_pdr2.fits"
    _table("fluxsigma").write(path)
    assert read_catalog(path)[0]["photometry"]["flux"][1] == pytest.approx(2 * 10 ** 0.04, rel=1e-6)


def test_missing_flux_columns_are_named(tmp_path):
    path = tmp_path / "hsc_bad.fits"
    Table({"object_id": [1], "ra": [1.0], "dec": [1.0], "g_psfflux_flux": [1.0]}).write(path)
    with pytest.raises(ValueError, match=r"hsc_bad.fits: missing every \{b\}_cmodel_flux"):
        read_catalog(path)
