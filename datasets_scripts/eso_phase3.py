"""ESO Phase 3 one-dimensional spectra (``SPECTRUM V1.0`` binary tables: LEGA-C, X-shooter, UVES, ...) ->
galaxy records.

The ``PHASE3SPECTRA`` (or first binary) HDU holds one row of arrays ``WAVE``, ``FLUX``, ``ERR`` (and ``QUAL``,
0 = good); their units are in ``TUNIT*`` (e.g. ``10**(-19).erg.cm**(-2).s**(-1).angstrom**(-1)``), read with
astropy.units. ``TUCD1`` containing ``obs.atmos`` marks air wavelengths (ESO Phase 3 standard, sec. 12.2),
converted to vacuum with pPXF's ``air_to_vac`` (the IAU/Ciddor relation). The files carry no redshift: the
catalogue's comes separately (e.g. LEGA-C DR3, van der Wel et al. 2021).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from ppxf.ppxf_util import air_to_vac

from .fits_files import open_fits
from .galactic_extinction import SFD_MAP_SOURCE, deredden_spectrum, extinction_flags, sfd_ebv
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import SPECTRUM_UNIT


def _unit(header, column: int, field: str, path) -> u.UnitBase:
    text = header.get(f"TUNIT{column}")
    if not text:
        raise ValueError(f"{path}: {field} has no TUNIT{column}; an ESO Phase 3 spectrum names its units")
    return u.Unit(text.replace("**", "^"), parse_strict="raise")  # ESO writes powers as ** (10**(-19).erg...)


def read_phase3_spectrum(path: str | os.PathLike) -> dict[str, Any]:
    """One ESO Phase 3 1D spectrum as a galaxy record (vacuum wavelength, flux in 1e-17 erg/s/cm2/A)."""
    with open_fits(path, "an ESO Phase 3 1D spectrum (SPECTRUM V1.0 table)") as hdus:
        table_hdu = hdus["PHASE3SPECTRA"] if "PHASE3SPECTRA" in hdus else hdus[1]
        header, row = table_hdu.header, table_hdu.data[0]
        names = [n.upper() for n in table_hdu.columns.names]
        missing = [c for c in ("WAVE", "FLUX", "ERR") if c not in names]
        if missing:
            raise ValueError(f"{path}: columns {missing} missing; an ESO Phase 3 spectrum has WAVE, FLUX, ERR")
        col = {n: names.index(n) + 1 for n in names}
        wave = np.asarray(row["WAVE"], dtype=np.float64) * _unit(header, col["WAVE"], "WAVE", path)
        wavelength = wave.to_value(u.Angstrom)
        if "obs.atmos" in str(header.get(f"TUCD{col['WAVE']}", "")):
            wavelength = air_to_vac(wavelength)
        flux_unit = _unit(header, col["FLUX"], "FLUX", path)
        scale = (1.0 * flux_unit).to_value(SPECTRUM_UNIT)
        flux = np.asarray(row["FLUX"], dtype=np.float64) * scale
        error = np.asarray(row["ERR"], dtype=np.float64) * scale
        quality = np.asarray(row["QUAL"]) if "QUAL" in names else np.zeros(flux.size, int)
        primary = hdus[0].header
    good = np.isfinite(flux) & np.isfinite(error) & (error > 0) & (quality == 0)
    ivar = np.where(good, 1.0 / np.where(good, error, 1.0) ** 2, 0.0)
    name = str(primary.get("OBJECT", header.get("OBJECT", Path(path).stem))).strip()
    ra = float(primary["RA"]) if "RA" in primary else None
    dec = float(primary["DEC"]) if "DEC" in primary else None
    spectrum = {"wavelength": wavelength, "flux": np.where(good, flux, 0.0).astype(np.float32),
                "ivar": ivar.astype(np.float32), "mask": ~good, "lsf_sigma": None}
    ebv = None if ra is None or dec is None else float(sfd_ebv(ra, dec))
    flags = extinction_flags(ebv, SFD_MAP_SOURCE)
    if ebv is not None:
        spectrum = deredden_spectrum(spectrum, ebv)
    return {"object_id": f"eso-{name}", "survey": "eso_phase3", "ra": ra, "dec": dec, "spectrum": spectrum,
            "photometry": None, "image": None, "properties": None, "flags": flags}


def _read(path: Path) -> list[dict[str, Any]]:
    return [read_phase3_spectrum(path)]


READER = SurveyReader("eso_phase3", ("ADP.*.fits", "legac_*.fits"), _read,
                      "ESO Phase 3 1D spectra (SPECTRUM V1.0 tables; LEGA-C, X-shooter, ...)")


class ESOPhase3Spectra(SurveyFilesBuilder):
    """ESO Phase 3 1D spectra as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
