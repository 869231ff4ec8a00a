"""GALEX catalogues (GUVcat / MIS / AIS merged-source tables) -> records with FUV and NUV photometry.

Columns as in the GALEX GR6/7 MAST merged-source catalogue and GUVcat (Bianchi et al. 2017, ApJS 230, 24,
Table 4), read case-insensitively: ``objid``, ``ra``, ``dec``, ``fuv_mag``/``fuv_magerr``,
``nuv_mag``/``nuv_magerr`` (AB), ``fuv_artifact``/``nuv_artifact``. Non-detections carry -999 (or -99)
magnitudes and are dropped, never turned into fluxes; artefact flags are kept as record flags.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .fits_files import open_fits
from .galactic_extinction import catalogue_ebv, deredden_photometry, extinction_flags
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import ab_mag_to_nanomaggies, column, photometry_struct

REQUIRED = ("objid", "ra", "dec", "fuv_mag", "fuv_magerr", "nuv_mag", "nuv_magerr")


def read_catalog(path: str | os.PathLike) -> list[dict[str, Any]]:
    with open_fits(path, "a GALEX GUVcat/MIS/AIS catalogue (objid, ra, dec, fuv_mag, nuv_mag, ...)", []) as hdus:
        table = hdus[1].data
        names = [n.lower() for n in table.columns.names]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise ValueError(f"{path}: missing GALEX columns {missing}; expected a GUVcat/MIS-like catalogue")
        fuv = ab_mag_to_nanomaggies(column(table, "fuv_mag"), column(table, "fuv_magerr"))
        nuv = ab_mag_to_nanomaggies(column(table, "nuv_mag"), column(table, "nuv_magerr"))
        artifacts = {b: np.asarray(column(table, f"{b}_artifact")) if f"{b}_artifact" in names else None
                     for b in ("fuv", "nuv")}
        ebv, ebv_source = catalogue_ebv(table, column(table, "ra"), column(table, "dec"))
        records = []
        for i, (objid, ra, dec) in enumerate(zip(column(table, "objid"), column(table, "ra"), column(table, "dec"))):
            flags = [f"galex_{b}_artifact={int(a[i])}" for b, a in artifacts.items() if a is not None and a[i]]
            flags += extinction_flags(ebv[i], ebv_source)
            records.append({
                "object_id": f"galex-{int(objid)}", "survey": "galex", "ra": float(ra), "dec": float(dec),
                "spectrum": None, "image": None, "properties": None, "flags": flags,
                "photometry": deredden_photometry(photometry_struct(
                    ["galex_fuv", "galex_nuv"], np.array([fuv[0][i], nuv[0][i]]), np.array([fuv[1][i], nuv[1][i]])),
                    ebv[i]),
            })
    return records


READER = SurveyReader("galex", ("*guvcat*.fits", "*GUVcat*.fits", "*galex*.fits", "*mis*.fits", "*ais*.fits"),
                      read_catalog, "GALEX GUVcat / MIS / AIS catalogues (FITS)")



class GALEXCatalog(SurveyFilesBuilder):
    """GALEX catalogues as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
