"""Dust attenuation curves, A(lambda)/A(V), for the stellar continuum and the nebular lines.

The Calzetti et al. (2000, ApJ 533, 682, eq. 4) starburst curve with R_V = 4.05. Its published range is
0.12-2.2 micron; redward it is continued with the same formula until it reaches zero (about 3.1 micron) and
is zero beyond; blueward of 0.12 micron it is continued as k(0.12) (lambda / 0.12 micron)^-0.77, a shallower
rise than the formula's own slope (-0.92) and closer to the far-UV curve Reddy et al. (2016) measured; the
same continuation bagpipes uses.

Stars younger than 10 Myr and their nebular emission sit inside birth clouds and see ``eta`` times the
diffuse V-band attenuation (Charlot & Fall 2000; the split of Carnall et al. 2018).
"""

from __future__ import annotations

import numpy as np

CALZETTI_RV = 4.05
FAR_UV_SLOPE = -0.77
_V_BAND = 5500.0


def _calzetti_k(micron: np.ndarray) -> np.ndarray:
    x = micron
    blue = 2.659 * (-2.156 + 1.509 / x - 0.198 / x**2 + 0.011 / x**3) + CALZETTI_RV
    red = 2.659 * (-1.857 + 1.040 / x) + CALZETTI_RV
    return np.where(x < 0.63, blue, red)


def calzetti_curve(wavelength: np.ndarray) -> np.ndarray:
    """A(lambda)/A(V) of Calzetti et al. (2000) at rest wavelengths in Angstrom (see module docstring)."""
    micron = np.asarray(wavelength, dtype=float) * 1e-4
    k = _calzetti_k(np.clip(micron, 0.12, None))
    k = np.where(micron < 0.12, _calzetti_k(np.array(0.12)) * (micron / 0.12) ** FAR_UV_SLOPE, k)
    return np.clip(k, 0.0, None) / _calzetti_k(np.array(_V_BAND * 1e-4))
