"""The simulated population's redshifts: comoving densities that follow the stellar-mass function, and the N(z)
of a real flux-limited survey."""

from __future__ import annotations

import numpy as np
from astropy.cosmology import Planck18

from galfm.datasets_scripts.simulator import SimulationConfig
from galfm.datasets_scripts.simulator.cosmology_table import cosmology_table
from galfm.datasets_scripts.simulator.priors import (
    draw_population,
    stellar_mass_density_ratio,
    stellar_mass_function,
)
from galfm.datasets_scripts.simulator.survey import sed_model, simulate_chunk


def test_massive_galaxies_have_the_comoving_density_of_the_mass_function():
    """Above 10^10.8 Msun every galaxy out to z = 0.9 is a candidate of an r < 22.5 survey: their number per
    comoving volume must follow the mass function's evolution (it varied threefold with the old ad hoc N(z))."""
    live = sed_model(Planck18).grid.bin_live_fraction[4]
    pop = draw_population(np.random.default_rng(5), 40000, Planck18, live, r_limit=22.5)
    z, log_m = pop.params.redshift, np.log10(pop.params.mass_formed @ live)  # surviving mass, as drawn
    table = cosmology_table(Planck18)
    densities = []
    for lo, hi in ((0.2, 0.4), (0.7, 0.9)):
        grid = np.linspace(lo, hi, 200)
        volume = np.trapezoid(table.comoving_volume_element_mpc3(grid), grid)
        expected = np.trapezoid(table.comoving_volume_element_mpc3(grid) * stellar_mass_density_ratio(grid, Planck18),
                                grid) / volume
        count = np.sum((z > lo) & (z < hi) & (log_m > 10.8))
        assert count > 200
        densities.append(count / volume / expected)
    assert abs(densities[1] / densities[0] - 1) < 0.2


def test_the_mass_function_evolves_as_the_cosmic_stellar_mass_density():
    # Madau & Dickinson (2014): about 60% of today's stellar mass was in place at z = 1, a quarter at z = 2
    ratio = stellar_mass_density_ratio(np.array([0.0, 1.0, 2.0]), Planck18)
    assert ratio[0] == 1.0 and 0.5 < ratio[1] < 0.7 and 0.15 < ratio[2] < 0.35
    phi = stellar_mass_function(np.array([9.0, 10.66, 11.5]), np.zeros(3), Planck18)
    assert phi[0] > phi[1] > phi[2] > 0


def test_a_gama_like_survey_has_gamas_median_redshift():
    """r < 19.8 (GAMA): median z ~ 0.2 (Driver et al. 2011)."""
    config = SimulationConfig(n=600, seed=3, surveys=("sdss",), r_limit=19.8, bright_fraction=0.0,
                              anomaly_fraction=0.0)
    z = [r["properties"]["redshift"] for c in range(config.n_chunks) for r in simulate_chunk(config, c)]
    assert 0.16 < np.median(z) < 0.24
