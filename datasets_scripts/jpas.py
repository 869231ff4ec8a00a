"""J-PAS / miniJPAS and J-PLUS dual-mode catalogues -> records with their narrow- and broad-band photometry.

Layout of the public miniJPAS (Bonoli et al. 2021) and J-PLUS (Cenarro et al. 2019) ``*.MagABDualObj`` tables
as served by the CEFCA archive: one row per object, ``NUMBER``, ``TILE_ID``, ``ALPHA_J2000``,
``DELTA_J2000``, and per-filter arrays ``MAG_AUTO``/``MAG_ERR_AUTO`` (AB) and ``FLAGS``/``MASK_FLAGS`` in the
order of the survey's filter table (``FILTER_ID`` 1...N, listed below). Magnitudes of 99 (non-detections) are
dropped; nonzero ``FLAGS`` are kept as record flags.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .fits_files import open_fits
from .galactic_extinction import catalogue_ebv, deredden_photometry, extinction_flags
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import ab_mag_to_nanomaggies, column, photometry_struct

# miniJPAS filter table order: uJAVA, the 54 narrow bands J0378 ... J1007 (J0378, J0390, J0400 ... J0910,
# J1007), uJPAS, gSDSS, rSDSS, iSDSS (60 filters).
MINIJPAS_FILTERS = ("jpas_uJAVA", "jpas_J0378", "jpas_J0390", *[f"jpas_J{c:04d}" for c in range(400, 911, 10)],
                    "jpas_J1007", "jpas_uJPAS", "jpas_gSDSS", "jpas_rSDSS", "jpas_iSDSS")
# J-PLUS filter table order (Cenarro et al. 2019, Table 2).
JPLUS_FILTERS = ("jpas_uJAVA", "jpas_J0378", "jplus_J0395", "jplus_J0410", "jplus_J0430", "jpas_gSDSS",
                 "jplus_J0515", "jpas_rSDSS", "jpas_J0660", "jpas_iSDSS", "jplus_J0861", "sdss_z")


def read_catalog(path: str | os.PathLike, filters: tuple[str, ...] = MINIJPAS_FILTERS,
                 survey: str = "jpas") -> list[dict[str, Any]]:
    expected = f"a {survey} dual-mode catalogue (NUMBER, ALPHA_J2000, DELTA_J2000, MAG_AUTO[{len(filters)}], ...)"
    with open_fits(path, expected, []) as hdus:
        table = hdus[1].data
        names = [n.upper() for n in table.columns.names]
        missing = [c for c in ("NUMBER", "ALPHA_J2000", "DELTA_J2000", "MAG_AUTO", "MAG_ERR_AUTO") if c not in names]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}; expected {expected}")
        mag = np.atleast_2d(np.asarray(column(table, "MAG_AUTO"), dtype=float))
        err = np.atleast_2d(np.asarray(column(table, "MAG_ERR_AUTO"), dtype=float))
        if mag.shape[1] != len(filters):
            raise ValueError(f"{path}: MAG_AUTO has {mag.shape[1]} filters per object; the {survey} layout has "
                             f"{len(filters)} ({filters[0]} ... {filters[-1]})")
        flux, ivar = ab_mag_to_nanomaggies(mag, err)
        flag_values = np.atleast_2d(np.asarray(column(table, "FLAGS"))) if "FLAGS" in names else None
        tiles = np.asarray(column(table, "TILE_ID")) if "TILE_ID" in names else None
        ebv, ebv_source = catalogue_ebv(table, column(table, "ALPHA_J2000"), column(table, "DELTA_J2000"))
        records = []
        for i, (number, ra, dec) in enumerate(zip(column(table, "NUMBER"), column(table, "ALPHA_J2000"),
                                                  column(table, "DELTA_J2000"))):
            tile = f"{int(tiles[i])}-" if tiles is not None else ""
            flags = sorted({f"{survey}_flags={int(f)}" for f in flag_values[i] if f}) if flag_values is not None else []
            records.append({
                "object_id": f"{survey}-{tile}{int(number)}", "survey": survey, "ra": float(ra), "dec": float(dec),
                "spectrum": None, "image": None, "properties": None,
                "flags": flags + extinction_flags(ebv[i], ebv_source),
                "photometry": deredden_photometry(photometry_struct(filters, flux[i], ivar[i]), ebv[i]),
            })
    return records


def _read_jpas(path: Path) -> list[dict[str, Any]]:
    return read_catalog(path, MINIJPAS_FILTERS, "jpas")


def _read_jplus(path: Path) -> list[dict[str, Any]]:
    return read_catalog(path, JPLUS_FILTERS, "jplus")


READER = SurveyReader("jpas", ("*minijpas*.fits", "*jpas*.fits", "*JPAS*.fits"), _read_jpas,
                      "miniJPAS / J-PAS MagABDualObj catalogues")
JPLUS_READER = SurveyReader("jplus", ("*jplus*.fits", "*JPLUS*.fits"), _read_jplus, "J-PLUS MagABDualObj catalogues")



class JPASCatalog(SurveyFilesBuilder):
    """miniJPAS / J-PAS catalogues as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER


class JPLUSCatalog(SurveyFilesBuilder):
    """J-PLUS catalogues as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = JPLUS_READER
