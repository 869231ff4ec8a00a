"""HSC-SSP (PDR2/PDR3) forced-photometry catalogues -> records with grizy CModel photometry.

Columns as the HSC-SSP database's ``forced`` table writes them from its catalogue query (Aihara et al. 2019,
PASJ 71, 114; Aihara et al. 2022, PASJ 74, 247; schema at hsc-release.mtk.nao.ac.jp/schema), read
case-insensitively: ``object_id``, ``ra``, ``dec``, ``{b}_cmodel_flux`` with ``{b}_cmodel_fluxerr`` (PDR3) or
``{b}_cmodel_fluxsigma`` (PDR2) in nJy for b in g, r, i, z, y, and optionally ``{b}_cmodel_flag`` (the CModel
fit failed: the band is left out and the flag kept), ``a_{b}`` (Galactic extinction in magnitudes, divided out
here like the Legacy Surveys' MW_TRANSMISSION) and ``i_extendedness_value`` (0 for point sources).
CModel is the HSC team's recommendation for colours of extended objects (PDR3 FAQ).
"""

from __future__ import annotations

import os
from typing import Any

import astropy.units as u
import numpy as np

from .fits_files import open_fits
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import column, flux_to_nanomaggies, photometry_struct

HSC_BANDS = ("g", "r", "i", "z", "y")
EXPECTED = "an HSC-SSP forced catalogue (object_id, ra, dec, {g,r,i,z,y}_cmodel_flux and _fluxerr in nJy)"


def _error_column(names: list[str], band: str) -> str | None:
    for suffix in ("fluxerr", "fluxsigma"):
        if f"{band}_cmodel_{suffix}" in names:
            return f"{band}_cmodel_{suffix}"
    return None


def read_catalog(path: str | os.PathLike) -> list[dict[str, Any]]:
    with open_fits(path, EXPECTED, []) as hdus:
        table = hdus[1].data
        names = [n.lower() for n in table.columns.names]
        missing = [c for c in ("object_id", "ra", "dec") if c not in names]
        present = [b for b in HSC_BANDS if f"{b}_cmodel_flux" in names and _error_column(names, b)]
        if missing or not present:
            raise ValueError(f"{path}: missing {missing or 'every {b}_cmodel_flux/_fluxerr column'}; "
                             f"expected {EXPECTED}")
        flux, ivar, flagged = [], [], []
        for b in present:
            f, w = flux_to_nanomaggies(column(table, f"{b}_cmodel_flux"), column(table, _error_column(names, b)),
                                       u.nJy)
            if f"a_{b}" in names:  # de-redden: flux x 10^(0.4 A), ivar / 10^(0.8 A)
                boost = 10 ** (0.4 * np.asarray(column(table, f"a_{b}"), dtype=float))
                f, w = f * boost, w / boost**2
            bad = (np.asarray(column(table, f"{b}_cmodel_flag"), dtype=bool) if f"{b}_cmodel_flag" in names
                   else np.zeros(len(f), dtype=bool))
            flux.append(f)
            ivar.append(np.where(bad, 0.0, w))
            flagged.append(bad)
        flux, ivar, flagged = np.array(flux), np.array(ivar), np.array(flagged)
        extendedness = (np.asarray(column(table, "i_extendedness_value"), dtype=float)
                        if "i_extendedness_value" in names else None)
        records = []
        for i, (oid, ra, dec) in enumerate(zip(column(table, "object_id"), column(table, "ra"), column(table, "dec"))):
            flags = [f"hsc_{b}_cmodel_flag" for b, bad in zip(present, flagged[:, i]) if bad]
            if extendedness is not None and np.isfinite(extendedness[i]):
                flags.append(f"hsc_i_extendedness={extendedness[i]:g}")
            records.append({
                "object_id": f"hsc-{int(oid)}", "survey": "hsc", "ra": float(ra), "dec": float(dec),
                "spectrum": None, "image": None, "properties": None, "flags": flags,
                "photometry": photometry_struct([f"hsc_{b}" for b in present], flux[:, i], ivar[:, i]),
            })
    return records


READER = SurveyReader("hsc", ("*hsc*.fits", "*HSC*.fits", "*pdr3*.fits", "*pdr2*.fits"), read_catalog,
                      "HSC-SSP PDR2/PDR3 forced-photometry catalogues (FITS)")


class HSCCatalog(SurveyFilesBuilder):
    """HSC-SSP catalogues as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
