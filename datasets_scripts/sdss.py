"""SDSS/BOSS ``spec-PLATE-MJD-FIBER.fits`` files -> galaxy records.

HDU1 ``COADD``: ``loglam`` (log10 vacuum Angstrom), ``flux`` (1e-17 erg/s/cm2/A), ``ivar``, ``and_mask``;
HDU2 (``SPECOBJ`` in DR8+ lite/full files, ``SPALL`` in BOSS v5_13_2): ``Z``, ``ZWARNING``, ``CLASS``,
``PLUG_RA``/``PLUG_DEC`` and ``SPECTROFLUX`` (ugriz synthetic fluxes, nanomaggies).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .fits_files import open_fits
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader

# SPPIXMASK bits that make a pixel unusable (SDSS DR17 bitmask reference): NOPLUG, BADTRACE, BADFLAT, BADARC,
# FULLREJECT, NOSKY, BRIGHTSKY, NODATA, COMBINEREJ, BADFLUXFACTOR, BADSKYCHI. Informational bits
# (MANYBADCOLUMNS, NEARBADPIXEL, LOWFLAT, PARTIALREJECT, SCATTEREDLIGHT, CROSSTALK) are set on ~half of all
# good pixels and do not mask.
BAD_PIXEL_BITS = (0, 1, 2, 3, 18, 22, 23, 24, 25, 26, 27)
BAD_PIXEL_MASK = sum(1 << b for b in BAD_PIXEL_BITS)


def _wavelength(loglam: np.ndarray, coeff0: float | None, coeff1: float | None) -> np.ndarray:
    """Vacuum Angstrom from ``loglam``; snapped to the exact COEFF0 + COEFF1 * i grid when the header has it
    (``loglam`` is stored as float32, ~2e-7 dex of rounding)."""
    loglam = np.asarray(loglam, dtype=np.float64)
    if coeff0 is not None and coeff1:
        index = np.round((loglam - coeff0) / coeff1)
        exact = coeff0 + coeff1 * index
        if np.max(np.abs(exact - loglam)) < 0.1 * coeff1:
            loglam = exact
    return 10.0**loglam


def read_spec(path: str | os.PathLike) -> dict[str, Any]:
    """One SDSS spectrum file as a galaxy record.

    The pipeline redshift always enters ``properties.redshift``; when ``ZWARNING != 0`` it carries the flag
    ``sdss_zwarning=N`` and tasks leave it out of their labels (`galfm.datasets_scripts.schema.trusted_properties`).
    ``SPECTROFLUX`` has no ivar in every data release; where it is missing, the photometry is left out rather
    than given invented errors. ``CLASS`` (GALAXY, QSO, STAR) is kept as the flag ``sdss_class=...`` and
    ``Z_ERR`` as ``sdss_z_err=...``.
    """
    with open_fits(path, "an SDSS spec-PLATE-MJD-FIBER.fits", ["COADD"]) as hdus:
        names = [h.name for h in hdus]
        coadd = hdus["COADD"].data
        meta_hdu = next((hdus[n] for n in ("SPECOBJ", "SPALL") if n in names), None)
        meta = meta_hdu.data[0] if meta_hdu is not None else None
        columns = meta_hdu.columns.names if meta_hdu is not None else []
        header = hdus[0].header
        spectrum = {
            "wavelength": _wavelength(coadd["loglam"], header.get("COEFF0"), header.get("COEFF1")),
            "flux": coadd["flux"].astype(np.float32),
            "ivar": coadd["ivar"].astype(np.float32),
            "mask": (coadd["and_mask"].astype(np.int64) & BAD_PIXEL_MASK) != 0,
            "lsf_sigma": None,
        }
        plate, mjd, fiber = header.get("PLATEID"), header.get("MJD"), header.get("FIBERID")
    record: dict[str, Any] = {
        "object_id": f"sdss-{plate:04d}-{mjd}-{fiber:04d}" if None not in (plate, mjd, fiber) else str(path),
        "survey": "sdss",
        "ra": float(meta["PLUG_RA"]) if meta is not None else None,
        "dec": float(meta["PLUG_DEC"]) if meta is not None else None,
        "spectrum": spectrum,
        "photometry": None,
        "image": None,
        "properties": None,
        "flags": [],
    }
    if meta is not None and "CLASS" in columns:
        record["flags"].append(f"sdss_class={str(meta['CLASS']).strip()}")
    if meta is not None and int(meta["ZWARNING"]) != 0:
        record["flags"].append(f"sdss_zwarning={int(meta['ZWARNING'])}")
    elif meta is not None and "Z_ERR" in columns:
        record["flags"].append(f"sdss_z_err={float(meta['Z_ERR']):.3g}")
    if meta is not None and "SPECTROFLUX" in columns and "SPECTROFLUX_IVAR" in columns:
        record["photometry"] = {
            "band": [f"sdss_{b}" for b in "ugriz"],
            "flux": np.asarray(meta["SPECTROFLUX"], dtype=np.float32),
            "flux_ivar": np.asarray(meta["SPECTROFLUX_IVAR"], dtype=np.float32),
        }
    if meta is not None and np.isfinite(meta["Z"]):
        record["properties"] = {"redshift": float(meta["Z"])}
    return record


def _read(path: Path) -> list[dict[str, Any]]:
    return [read_spec(path)]


READER = SurveyReader("sdss", ("spec-*.fits",), _read, "SDSS/BOSS spec-PLATE-MJD-FIBER.fits (lite or full)")



class SDSSSpectra(SurveyFilesBuilder):
    """SDSS/BOSS spectra as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
