"""Synthetic AB photometry of many galaxies at once: one matrix product per batch.

The same integral as speclite's ``get_ab_maggies`` (photon counting, AB zero point), but precomputed as a
response matrix on a fixed observed-frame grid so that G galaxies x B bands cost one (G, N) @ (N, B) product.
A test checks it against speclite itself.
"""

from __future__ import annotations

from functools import cache

import astropy.units as u
import numpy as np

from galfm.filters_galfm import load_filter

from .stellar_populations import integral_of_linear_interpolant

C_ANGSTROM_S = 2.99792458e18
AB_ZERO_POINT_FNU = 3631e-23  # erg/s/cm^2/Hz
PHOTOMETRY_LOG_STEP = 2e-4
PHOTOMETRY_RANGE = (1300.0, 60000.0)


def photometry_grid() -> np.ndarray:
    """Pixel edges (Angstrom) of the observed-frame grid on which photometry is integrated."""
    lo, hi = np.log10(PHOTOMETRY_RANGE)
    return 10 ** np.arange(lo, hi + PHOTOMETRY_LOG_STEP, PHOTOMETRY_LOG_STEP)


@cache
def response_matrix(bands: tuple[str, ...]) -> np.ndarray:
    """(N pixels, B bands): maggies = f_lambda (erg/s/cm^2/A, pixel means) @ matrix."""
    edges = photometry_grid()
    columns = []
    for band in bands:
        curve = load_filter(band)
        wave = curve.wavelength.to_value(u.Angstrom) if hasattr(curve.wavelength, "unit") else curve.wavelength
        wave = np.asarray(wave, dtype=float)
        response = np.asarray(curve.response, dtype=float)
        if wave[0] < edges[0] or wave[-1] > edges[-1]:
            raise ValueError(f"band {band!r}: curve {wave[0]:.0f}-{wave[-1]:.0f} A lies outside the simulator's "
                             f"photometry grid {PHOTOMETRY_RANGE} A.")
        per_pixel = np.diff(integral_of_linear_interpolant(wave, response * wave, edges))
        ab = AB_ZERO_POINT_FNU * C_ANGSTROM_S / wave**2
        norm = np.trapezoid(ab * response * wave, wave)
        columns.append(per_pixel / norm)
    return np.stack(columns, axis=1)


@cache
def band_window(band: str) -> slice:
    """The pixels of ``photometry_grid()`` where ``band`` transmits: a flux limit in one band needs only them."""
    inside = np.flatnonzero(response_matrix((band,))[:, 0])
    return slice(int(inside[0]), int(inside[-1]) + 1)


def band_maggies(flux_density: np.ndarray, band: str) -> np.ndarray:
    """AB maggies (G,) in ``band`` from pixel-mean f_lambda (G, n) on the pixels of ``band_window(band)``."""
    return flux_density @ response_matrix((band,))[band_window(band), 0]


def maggies(flux_density: np.ndarray, bands: tuple[str, ...]) -> np.ndarray:
    """AB maggies (G, B) from pixel-mean f_lambda (G, N) on ``photometry_grid()``."""
    return flux_density @ response_matrix(tuple(bands))
