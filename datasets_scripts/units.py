"""Conversions at the loader boundary: survey units in, record units (nanomaggies, 1e-17 cgs, vacuum) out.

Placeholders (-999, -99, 99, NaN, zero ivar) never become data: a band or pixel without a measurement is
dropped (photometry) or given ivar 0 (spectra, images).
"""

from __future__ import annotations

from collections.abc import Sequence

import astropy.units as u
import numpy as np

NANOMAGGY = 3.631 * u.uJy  # AB: m = 22.5 - 2.5 log10(f / nanomaggy)
SPECTRUM_UNIT = 1e-17 * u.erg / u.s / u.cm**2 / u.Angstrom  # of a record's spectrum.flux


def air_to_vacuum(wavelength_air: np.ndarray) -> np.ndarray:
    """Vacuum wavelength (Angstrom) from air, Morton (2000) / Ciddor (1996); unchanged below 2000 Angstrom."""
    wavelength_air = np.asarray(wavelength_air, dtype=float)
    s2 = (1e4 / wavelength_air) ** 2
    n = 1 + 8.336624212083e-5 + 2.408926869968e-2 / (130.1065924522 - s2) + 1.599740894897e-4 / (38.92568793293 - s2)
    return np.where(wavelength_air > 2000.0, wavelength_air * n, wavelength_air)


def ab_mag_to_nanomaggies(mag: np.ndarray, mag_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flux, flux_ivar) in nanomaggies from AB magnitudes; placeholders (|m| >= 90, m <= -90, err <= 0,
    non-finite) give ivar 0 and flux NaN, for ``photometry_struct`` to drop."""
    mag = np.asarray(mag, dtype=float)
    mag_err = np.asarray(mag_err, dtype=float)
    valid = np.isfinite(mag) & np.isfinite(mag_err) & (np.abs(mag) < 90) & (mag_err > 0) & (mag_err < 90)
    flux = np.where(valid, 10 ** (-0.4 * (np.where(valid, mag, 0) - 22.5)), np.nan)
    sigma = flux * 0.4 * np.log(10) * np.where(valid, mag_err, np.nan)
    return flux, np.where(valid, 1.0 / sigma**2, 0.0)


def flux_to_nanomaggies(flux: np.ndarray, flux_err: np.ndarray, unit: u.UnitBase) -> tuple[np.ndarray, np.ndarray]:
    """(flux, flux_ivar) in nanomaggies from fluxes in any spectral flux-density unit (uJy, mJy, Jy, ...)."""
    factor = (1 * unit).to_value(NANOMAGGY)
    flux = np.asarray(flux, dtype=float) * factor
    err = np.asarray(flux_err, dtype=float) * factor
    valid = np.isfinite(flux) & np.isfinite(err) & (err > 0) & (np.abs(flux) < 1e20)
    return np.where(valid, flux, np.nan), np.where(valid, 1.0 / np.where(valid, err, 1.0) ** 2, 0.0)


def photometry_struct(bands: Sequence[str], flux: np.ndarray, flux_ivar: np.ndarray) -> dict | None:
    """The record's photometry with unmeasured bands (ivar 0 or NaN) left out; ``None`` if none is left."""
    flux = np.asarray(flux, dtype=float)
    flux_ivar = np.asarray(flux_ivar, dtype=float)
    keep = np.isfinite(flux) & np.isfinite(flux_ivar) & (flux_ivar > 0)
    if not keep.any():
        return None
    return {"band": [b for b, k in zip(bands, keep) if k], "flux": flux[keep].astype(np.float32),
            "flux_ivar": flux_ivar[keep].astype(np.float32)}


def column(table, name: str):
    """A FITS/astropy table column by case-insensitive name, with a clear error when absent."""
    names = {n.lower(): n for n in table.columns.names} if hasattr(table, "columns") else {}
    if name.lower() not in names:
        raise KeyError(f"column {name!r} not found (have {sorted(names.values())[:20]}...)")
    return table[names[name.lower()]]
