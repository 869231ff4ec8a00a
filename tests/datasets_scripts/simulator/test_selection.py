"""The flux-limited selection: the bound must never reject a galaxy the survey keeps, and the exact flux must be
the full SED's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from astropy.cosmology import Planck18

from galfm.datasets_scripts.simulator.photometry import band_maggies
from galfm.datasets_scripts.simulator.priors import draw_population
from galfm.datasets_scripts.simulator.sed import observed_flux_density
from galfm.datasets_scripts.simulator.selection import BOUND_MARGIN
from galfm.datasets_scripts.simulator.survey import SimulationConfig, flux_limit, sed_model


@pytest.fixture(scope="module")
def model():
    return sed_model(Planck18)


def _full_sed_maggies(model, limit, params) -> np.ndarray:
    sed = model.rest_frame(params)
    return band_maggies(observed_flux_density(sed.luminosity, sed.redshift, sed.luminosity_distance_cm,
                                              limit.band_edges, model.grid.edges), limit.band)


@pytest.mark.parametrize("r_limit", [17.77, 22.5])
def test_the_bound_holds_and_the_exact_flux_is_the_full_seds(model, r_limit):
    """Without this the selection silently drops galaxies the survey keeps (the sample would be biased red)."""
    limit = flux_limit(SimulationConfig(), r_limit)
    pop = draw_population(np.random.default_rng(11), 1500, Planck18, model.grid.bin_live_fraction[4], r_limit)
    true = _full_sed_maggies(model, limit, pop.params)
    np.testing.assert_allclose(limit.band_maggies(pop.params), true, rtol=1e-5)
    ratio = limit.maggies_bound(pop.params) * BOUND_MARGIN / true
    assert ratio.min() >= 1.0
    assert np.median(ratio) < 1.2  # tight enough to be worth it: few need their exact flux (1.12 at r < 22.5)
    kept = limit.passes(pop.params)
    np.testing.assert_array_equal(kept, np.flatnonzero(true > limit.maggies))
    np.testing.assert_array_equal(limit.passes(pop.params, at_most=5), kept[:5])


def test_the_tables_interpolation_error_is_inside_its_margin(model):
    """Without dust the bound is the table's interpolation in redshift alone: its error must sit well inside
    BOUND_MARGIN, or the margin is a guess."""
    limit = flux_limit(SimulationConfig(), 22.5)
    pop = draw_population(np.random.default_rng(12), 1000, Planck18, model.grid.bin_live_fraction[4], 22.5)
    dust_free = dataclasses.replace(pop.params, av=np.zeros_like(pop.params.av))
    ratio = limit.maggies_bound(dust_free) / limit.band_maggies(dust_free)
    assert np.abs(ratio - 1).max() < 0.2 * (BOUND_MARGIN - 1)


def test_the_exact_window_refuses_rest_pixels_beyond_its_physics(model):
    pop = draw_population(np.random.default_rng(13), 4, Planck18, model.grid.bin_live_fraction[4], 22.5)
    with pytest.raises(ValueError, match="dust emission"):
        model.luminosity_in(pop.params, slice(0, model.grid.edges.size - 1))
    limit = flux_limit(SimulationConfig(), 17.77)
    far = dataclasses.replace(pop.params, redshift=np.full(4, limit.z_max + 0.5))
    with pytest.raises(ValueError, match="redshift"):
        limit.maggies_bound(far)
