"""PHANGS-HST photometric catalogues -> records with WFC3/UVIS F275W, F336W, F438W, F555W, F814W photometry.

Column layout of the public PHANGS-HST cluster catalogues (Maschmann et al. 2024, ApJS 273, 14; Thilker et al.
2022): ``ID_PHANGS_CLUSTERS``, ``PHANGS_RA``, ``PHANGS_DEC`` and per band ``PHANGS_<BAND>_mJy_TOT`` with
``PHANGS_<BAND>_mJy_TOT_ERR`` (milli-Jansky; non-detections carry -9999 and are dropped). Galaxies observed
with ACS F435W instead of WFC3 F438W keep their own band (``hst_acs_f435w``, a different curve).
PHANGS-MUSE cubes are read by ``galfm.datasets_scripts.muse``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np

from .fits_files import open_fits
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import column, flux_to_nanomaggies, photometry_struct

BANDS = {"F275W": "hst_f275w", "F336W": "hst_f336w", "F438W": "hst_f438w", "F435W": "hst_acs_f435w",
         "F555W": "hst_f555w", "F814W": "hst_f814w"}


def read_catalog(path: str | os.PathLike, galaxy: str | None = None) -> list[dict[str, Any]]:
    expected = "a PHANGS-HST catalogue (ID_PHANGS_CLUSTERS, PHANGS_RA, PHANGS_DEC, PHANGS_<BAND>_mJy_TOT[_ERR])"
    with open_fits(path, expected, []) as hdus:
        table = hdus[1].data
        names = [n.upper() for n in table.columns.names]
        missing = [c for c in ("ID_PHANGS_CLUSTERS", "PHANGS_RA", "PHANGS_DEC") if c not in names]
        present = [b for b in BANDS if f"PHANGS_{b}_MJY_TOT" in names and f"PHANGS_{b}_MJY_TOT_ERR" in names]
        if missing or not present:
            raise ValueError(f"{path}: missing {missing or 'every PHANGS_<BAND>_mJy_TOT column'}; expected {expected}")
        galaxy = galaxy or Path(path).name.split("_")[0]
        fluxes = [flux_to_nanomaggies(column(table, f"PHANGS_{b}_mJy_TOT"), column(table, f"PHANGS_{b}_mJy_TOT_ERR"),
                                      u.mJy) for b in present]
        records = []
        for i, (oid, ra, dec) in enumerate(zip(column(table, "ID_PHANGS_CLUSTERS"), column(table, "PHANGS_RA"),
                                               column(table, "PHANGS_DEC"))):
            records.append({
                "object_id": f"phangs-{galaxy}-{int(oid)}", "survey": "phangs_hst", "ra": float(ra),
                "dec": float(dec), "spectrum": None, "image": None, "properties": None, "flags": [],
                "photometry": photometry_struct([BANDS[b] for b in present], np.array([f[0][i] for f in fluxes]),
                                                np.array([f[1][i] for f in fluxes])),
            })
    return records


READER = SurveyReader("phangs_hst", ("*phangs*hst*.fits", "*PHANGS*HST*.fits", "*_cluster*cat*.fits"), read_catalog,
                      "PHANGS-HST cluster/compact-source catalogues")



class PHANGSHSTCatalog(SurveyFilesBuilder):
    """PHANGS-HST catalogues as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
