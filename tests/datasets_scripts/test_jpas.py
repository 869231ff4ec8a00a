"""miniJPAS / J-PLUS dual-mode catalogues. No real file is at hand: the fixtures follow the CEFCA archive's
``minijpas.MagABDualObj`` and ``jplus.MagABDualObj`` tables (Bonoli et al. 2021, A&A 653, A31; Cenarro et al.
2019, A&A 622, A176): NUMBER, TILE_ID, ALPHA_J2000, DELTA_J2000 and per-filter arrays MAG_AUTO, MAG_ERR_AUTO,
FLAGS in filter-table order, 99 for non-detections."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from galfm.datasets_scripts.galactic_extinction import SFD_MAP_SOURCE, band_transmission, sfd_ebv
from galfm.datasets_scripts.jpas import JPLUS_FILTERS, MINIJPAS_FILTERS, read_catalog
from galfm.filters_galfm import available_bands


def _catalog(path, n_filters: int):
    mag = np.full((2, n_filters), 21.0)
    err = np.full((2, n_filters), 0.1)
    mag[1, 5], err[1, 5] = 99.0, 99.0
    flags = np.zeros((2, n_filters), dtype=np.int16)
    flags[0, 3] = 2
    Table({"NUMBER": [17, 18], "TILE_ID": [2241, 2241], "ALPHA_J2000": [214.1, 214.2], "DELTA_J2000": [52.5, 52.6],
           "MAG_AUTO": mag, "MAG_ERR_AUTO": err, "FLAGS": flags}).write(path)
    return path


def test_minijpas_60_filters(tmp_path, processor):
    records = read_catalog(_catalog(tmp_path / "minijpas_dual.fits", 60))
    assert len(MINIJPAS_FILTERS) == 60 and set(MINIJPAS_FILTERS) <= set(available_bands())
    assert records[0]["object_id"] == "jpas-2241-17" and len(records[0]["photometry"]["band"]) == 60
    # AB 21.0 -> nanomaggies, de-reddened at the map's E(B-V) (miniJPAS is in the EGS, E(B-V) ~ 0.01)
    ebv = float(sfd_ebv(214.1, 52.5))
    assert records[0]["photometry"]["flux"][0] == pytest.approx(
        10 ** (-0.4 * (21.0 - 22.5)) / band_transmission(MINIJPAS_FILTERS[0], ebv), rel=1e-6)
    assert MINIJPAS_FILTERS[5] not in records[1]["photometry"]["band"]  # the 99 is dropped
    assert records[0]["flags"] == ["jpas_flags=2", f"mw_ebv={ebv:.4f}", f"mw_ebv_source={SFD_MAP_SOURCE}"]
    processor(records)


def test_jplus_12_filters_and_wrong_layouts(tmp_path):
    records = read_catalog(_catalog(tmp_path / "jplus_dual.fits", 12), JPLUS_FILTERS, "jplus")
    assert records[0]["photometry"]["band"] == list(JPLUS_FILTERS)
    with pytest.raises(ValueError, match="MAG_AUTO has 12 filters per object; the jpas layout has 60"):
        read_catalog(tmp_path / "jplus_dual.fits")
