"""The pPXF reference of the SFH comparison: right on a spectrum of known history, and why it is unregularised."""

from __future__ import annotations

import numpy as np
import pytest

from galfm.datasets_scripts.simulator.stellar_populations import (
    METALLICITIES_ZSUN,
    load_stellar_population_grid,
    mass_weighted_log_z,
)
from galfm.properties_galfm import mass_weighted_log_age
from galfm.training.sfh_vs_ppxf import SMOOTH_REGUL, median_snr, ppxf_population


def known_population_spectrum(snr: float, redshift: float = 0.08, seed: int = 0) -> tuple[dict, float, float]:
    """30% of the mass formed 50-100 Myr ago and 70% 3-4.5 Gyr ago, at solar metallicity, as SDSS would see it
    (3800-9200 Angstrom, 69 km/s pixels): the spectrum, its log mass-weighted age and its log Z."""
    grid = load_stellar_population_grid()
    sfh = np.zeros(16)
    sfh[3], sfh[12] = 0.3, 0.7
    solar = int(np.flatnonzero(METALLICITIES_ZSUN == 1.0)[0])
    rest = np.tensordot(sfh, grid.bin_spectra[solar], axes=1)
    wavelength = grid.wavelength * (1 + redshift)
    keep = (wavelength > 3800) & (wavelength < 9200)
    flux = rest[keep] / np.median(rest[keep])
    sigma = flux / snr
    rng = np.random.default_rng(seed)
    spectrum = {"wavelength": wavelength[keep], "flux": flux + rng.normal(0, sigma), "ivar": sigma**-2}
    log_z = mass_weighted_log_z(sfh, np.zeros(16))  # solar throughout: 0
    return spectrum, float(mass_weighted_log_age(sfh[None])[0]), float(log_z)


def test_the_reference_recovers_a_known_history_at_high_snr():
    spectrum, age, log_z = known_population_spectrum(snr=1e4)
    assert median_snr(spectrum) == pytest.approx(1e4, rel=0.01)
    fit_age, fit_z = ppxf_population(spectrum, 0.08, load_stellar_population_grid())
    assert fit_age == pytest.approx(age, abs=0.05) and fit_z == pytest.approx(log_z, abs=0.05)


def test_regularising_the_reference_pushes_its_metallicity_high():
    """At S/N 50 per pixel the unregularised fit keeps log Z near the truth; regularised (regul 100) the weights
    spread to the 2.5 and 5 Zsun templates and the mass-weighted mean Z comes out high: why the reference is the
    unregularised fit."""
    spectrum, _, log_z = known_population_spectrum(snr=50)
    grid = load_stellar_population_grid()
    assert ppxf_population(spectrum, 0.08, grid)[1] == pytest.approx(log_z, abs=0.1)
    assert ppxf_population(spectrum, 0.08, grid, SMOOTH_REGUL)[1] > log_z + 0.15
