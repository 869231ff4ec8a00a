"""PHANGS-HST catalogues. No real file is at hand: the fixture follows the PHANGS-HST cluster catalogue data
model (Maschmann et al. 2024, ApJS 273, 14; ``ID_PHANGS_CLUSTERS``, ``PHANGS_RA``, ``PHANGS_DEC``,
``PHANGS_<BAND>_mJy_TOT`` and ``..._ERR``, -9999 for non-detections)."""

from __future__ import annotations

import pytest
from astropy.table import Table

from galfm.datasets_scripts.phangs import read_catalog


def test_hst_bands_in_nanomaggies(tmp_path, processor):
    columns = {"ID_PHANGS_CLUSTERS": [1, 2], "PHANGS_RA": [24.17, 24.18], "PHANGS_DEC": [15.78, 15.79]}
    for band, value in {"F275W": 0.001, "F336W": 0.002, "F438W": 0.004, "F555W": 0.005, "F814W": 0.008}.items():
        columns[f"PHANGS_{band}_mJy_TOT"] = [value, -9999.0 if band == "F275W" else value]
        columns[f"PHANGS_{band}_mJy_TOT_ERR"] = [value / 10, -9999.0 if band == "F275W" else value / 10]
    path = tmp_path / "ngc0628c_phangs_hst_cluster_catalog.fits"
    Table(columns).write(path)
    records = read_catalog(path)
    assert records[0]["object_id"] == "phangs-ngc0628c-1"
    assert records[0]["photometry"]["band"] == ["hst_f275w", "hst_f336w", "hst_f438w", "hst_f555w", "hst_f814w"]
    assert records[0]["photometry"]["flux"][0] == pytest.approx(1 / 3.631, rel=1e-6)  # 0.001 mJy = 1 uJy
    assert "hst_f275w" not in records[1]["photometry"]["band"]
    processor(records)
