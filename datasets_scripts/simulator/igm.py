"""Absorption by the intergalactic medium: the analytic Inoue et al. (2014, MNRAS 442, 1805) model.

Lyman-series (39 lines) and Lyman-continuum optical depths from the Lyman-alpha forest (LAF) and damped
Lyman-alpha systems (DLA), equations 21-29 of the paper, with the line coefficients of its Table 2 read from
the copy shipped beside the BC03 grids. Tabulated once on the rest-frame grid for a redshift grid and
interpolated linearly in redshift.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .stellar_populations import LYMAN_LIMIT, grid_directory, rest_frame_grid

IGM_REDSHIFT_STEP = 0.02
IGM_MAX_REDSHIFT = 4.0
LYMAN_ALPHA = 1215.67


def _lyman_series_coefficients() -> np.ndarray:
    """Rows (j, lambda_j, A_LAF_j1, A_LAF_j2, A_LAF_j3, A_DLA_j1, A_DLA_j2) of Inoue et al. (2014) Table 2."""
    return np.loadtxt(grid_directory() / "lyman_series_coefs_inoue_2014_table2.txt")


def igm_optical_depth(observed_wavelength: np.ndarray, redshift: np.ndarray | float) -> np.ndarray:
    """Mean IGM optical depth at observed wavelengths (Angstrom) towards sources at ``redshift`` (broadcast)."""
    lam = np.asarray(observed_wavelength, dtype=float)
    zp1 = 1.0 + np.asarray(redshift, dtype=float)
    tau = np.zeros(np.broadcast_shapes(lam.shape, zp1.shape))
    for _, lam_j, laf1, laf2, laf3, dla1, dla2 in _lyman_series_coefficients():
        lam_b, zp1_b = np.broadcast_arrays(lam, zp1)
        inside = np.nonzero((lam_b > lam_j) & (lam_b < lam_j * zp1_b))
        x = lam_b[inside] / lam_j
        laf = np.where(x < 2.2, laf1 * x**1.2, np.where(x < 5.7, laf2 * x**3.7, laf3 * x**5.5))
        dla = np.where(x < 3.0, dla1 * x**2, dla2 * x**3)
        tau[inside] += laf + dla

    x = lam / LYMAN_LIMIT
    inside = (lam > LYMAN_LIMIT) & (lam < LYMAN_LIMIT * zp1)
    laf_low = 0.325 * (x**1.2 - zp1**-0.9 * x**2.1)  # z < 1.2
    laf_mid = np.where(x < 2.2, 2.55e-2 * zp1**1.6 * x**2.1 + 0.325 * x**1.2 - 0.250 * x**2.1,
                       2.55e-2 * (zp1**1.6 * x**2.1 - x**3.7))  # 1.2 <= z < 4.7
    laf_high = np.where(x < 2.2, 5.22e-4 * zp1**3.4 * x**2.1 + 0.325 * x**1.2 - 3.14e-2 * x**2.1,
                        np.where(x < 5.7, 5.22e-4 * zp1**3.4 * x**2.1 + 0.218 * x**2.1 - 2.55e-2 * x**3.7,
                                 5.22e-4 * (zp1**3.4 * x**2.1 - x**5.5)))  # z >= 4.7
    laf = np.where(zp1 < 2.2, laf_low, np.where(zp1 < 5.7, laf_mid, laf_high))
    dla_low = 0.211 * zp1**2 - 7.66e-2 * zp1**2.3 * x**-0.3 - 0.135 * x**2  # z < 2
    dla_high = np.where(x < 3.0,
                        0.634 + 4.70e-2 * zp1**3 - 1.78e-2 * zp1**3.3 * x**-0.3 - 0.135 * x**2 - 0.291 * x**-0.3,
                        4.70e-2 * zp1**3 - 1.78e-2 * zp1**3.3 * x**-0.3)
    dla = np.where(zp1 < 3.0, dla_low, dla_high)
    tau += np.where(inside, laf + dla, 0.0)
    return tau


@cache
def igm_transmission_table() -> tuple[np.ndarray, int, np.ndarray]:
    """(redshifts, n_pixels, transmission[z, pixel]) over the rest-frame pixels blueward of Lyman alpha."""
    wavelength, _ = rest_frame_grid()
    n_pixels = int(np.searchsorted(wavelength, LYMAN_ALPHA))
    redshifts = np.arange(0.0, IGM_MAX_REDSHIFT + IGM_REDSHIFT_STEP / 2, IGM_REDSHIFT_STEP)
    observed = wavelength[None, :n_pixels] * (1 + redshifts[:, None])
    table = np.exp(-igm_optical_depth(observed, redshifts[:, None]))
    return redshifts, n_pixels, table.astype(np.float32)


def igm_transmission(redshift: np.ndarray) -> tuple[int, np.ndarray]:
    """(n_pixels, transmission (galaxies, n_pixels)) for the first rest-frame pixels; 1 beyond them."""
    redshift = np.asarray(redshift, dtype=float)
    if np.any(redshift > IGM_MAX_REDSHIFT) or np.any(redshift < 0):
        raise ValueError(f"redshift: the IGM table covers 0 <= z <= {IGM_MAX_REDSHIFT}; got {redshift.min()}.."
                         f"{redshift.max()}.")
    redshifts, n_pixels, table = igm_transmission_table()
    position = redshift / IGM_REDSHIFT_STEP
    k = np.clip(np.floor(position).astype(int), 0, redshifts.size - 2)
    f = (position - k)[:, None].astype(np.float32)
    return n_pixels, (1 - f) * table[k] + f * table[k + 1]
