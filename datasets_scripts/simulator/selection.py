"""The flux-limited selection: which of the drawn galaxies a survey with a limit in one band keeps.

A survey keeps a galaxy when its noiseless flux in the selection band is above the limit. Making every
candidate's full SED to find out spends most of the time on galaxies that are thrown away (at r < 17.77 about
40 candidates are drawn per galaxy kept). Three steps, each exact, make the same selection:

  1. a bound, from a table: a band's flux is linear in each model spectrum's light (the stellar bins per
     metallicity, the cumulative spectra of a bin cut by the age of the Universe, the Cloudy continuum and
     lines), so the dust-free flux of every model spectrum through the band is tabulated once on a grid in
     log10(1 + z). A candidate's dust-free flux is then its weights (`GalaxySED.stellar_weights`,
     `GalaxySED.nebular_weights`) against the table at its redshift. Dust dims each part of that light by at
     least its attenuation at the reddest rest wavelength the band sees (the Calzetti curve falls with
     wavelength; the table keeps that least attenuation per redshift), the IGM only removes light: an upper
     bound on the flux, widened by the table's interpolation error (``BOUND_MARGIN``).
  2. the exact flux of the candidates the bound keeps, from their light on the band's rest pixels alone
     (`GalaxySED.luminosity_in`).
  3. full SEDs for the galaxies kept.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .photometry import band_window, photometry_grid, response_matrix
from .sed import AV_TO_TAU, GalaxyParameters, GalaxySED, observed_flux_density
from .stellar_populations import L_SUN_ERG_S

TABLE_LOG_STEP = 5e-4  # step of the bound's redshift grid in log10(1 + z): 5 rest pixels
BOUND_MARGIN = 1.01  # the table's interpolation error in z is below 0.1% (a test measures it)


def selection_pixels(model: GalaxySED, band: str, z_max: float) -> tuple[np.ndarray, slice]:
    """(observed pixel edges of ``band`` on ``photometry_grid()``, the rest-frame pixels of ``model`` that the
    band sees at redshifts up to ``z_max``)."""
    window = band_window(band)
    band_edges = photometry_grid()[window.start:window.stop + 1]
    edges = model.grid.edges
    return band_edges, slice(max(int(np.searchsorted(edges, band_edges[0] / (1 + z_max))) - 2, 0),
                             int(np.searchsorted(edges, band_edges[-1])) + 2)


class FluxLimit:
    """A limit ``magnitude`` (AB) in ``band`` for galaxies of ``model`` at redshifts up to ``z_max``."""

    def __init__(self, model: GalaxySED, band: str, magnitude: float, z_max: float):
        self.model = model
        self.band = band
        self.maggies = 10 ** (-0.4 * magnitude)
        self.z_max = z_max
        self.band_edges, self.pixels = selection_pixels(model, band, z_max)
        self.response = response_matrix((band,))[band_window(band), 0]

    # -- 1. the bound ------------------------------------------------------------------------------------------
    def _kernel(self, log1pz: np.ndarray) -> np.ndarray:
        """(redshifts, n) band maggies per L_sun/A on each rest pixel of ``pixels``, for a galaxy at 4 pi d_L^2 =
        L_sun/(erg/s) cm^2 (the scale keeps the table within float32).

        The operator of `observed_flux_density` followed by `band_maggies`, transposed: observed pixel j takes the
        rest pixels between its blueshifted edges, so rest pixel p contributes the integral over [p, p + 1] of
        a step function that is response_j / width_j on observed pixel j's span."""
        rest_edges = self.model.grid.edges
        log_step = np.log10(rest_edges[1] / rest_edges[0])
        start, stop = self.pixels.start, self.pixels.stop
        position = (np.log10(self.band_edges)[None, :] - np.log10(rest_edges[0]) - log1pz[:, None]) / log_step
        density = self.response / np.diff(self.band_edges)
        integral = np.concatenate([np.zeros((log1pz.size, 1)), np.cumsum(density * np.diff(position, axis=1), axis=1)],
                                  axis=1)
        at = np.arange(start, stop + 1, dtype=float)
        cumulative = np.stack([np.interp(at, p, c) for p, c in zip(position, integral)])
        return np.diff(cumulative, axis=1) * np.diff(rest_edges)[None, start:stop]

    @cached_property
    def _table(self) -> dict[str, np.ndarray]:
        """Per model spectrum, its dust-free band flux (at 4 pi d_L^2 = L_sun/(erg/s) cm^2) on the grid in
        log10(1 + z)."""
        grid = np.arange(0.0, np.log10(1 + self.z_max) + 2 * TABLE_LOG_STEP, TABLE_LOG_STEP)
        kernel = self._kernel(grid).T.astype(np.float32)  # (n, Z)
        model, pixels = self.model, self.pixels
        nebular = model.flat_nebular[:, pixels] + (model.line_to_pixels[:, pixels].T @ model.flat_lines.T).T
        # the least A(lambda)/A(V) the band sees at each grid redshift (2 pixels wider: lines share 2 pixels)
        seen = np.abs(kernel.T) > 0
        seen = seen | np.roll(seen, 1, axis=1) | np.roll(seen, -1, axis=1) | np.roll(seen, 2, axis=1)
        curve = np.where(seen, model.dust_curve[None, pixels], np.inf).min(axis=1)
        # (redshifts, spectra): a galaxy's row is one contiguous read
        return {"bins": (model.flat_bins[:, pixels] @ kernel).T.copy(),
                "cumulative": (model.flat_cumulative[:, pixels] @ kernel).T.copy(),
                "nebular": (nebular.astype(np.float32) @ kernel).T.copy(),
                "least_curve": np.minimum(curve[:-1], curve[1:])}

    def maggies_bound(self, params: GalaxyParameters) -> np.ndarray:
        """(G,) an upper bound on each galaxy's band maggies from the table (up to its interpolation error): its
        stars and gas without IGM, each dimmed by the least attenuation the band sees."""
        model, table = self.model, self._table
        redshift = np.asarray(params.redshift, dtype=float)
        if redshift.size and redshift.max() > self.z_max:
            raise ValueError(f"redshift: {redshift.max():.3f} is beyond this limit's table (z_max = {self.z_max}).")
        position = np.log10(1 + redshift) / TABLE_LOG_STEP
        k = np.floor(position).astype(int)
        f = position - k

        def at_redshift(name: str) -> np.ndarray:  # (G, columns)
            rows = table[name]
            return rows[k] * (1 - f)[:, None] + rows[k + 1] * f[:, None]

        weights, cut, _ = model.stellar_weights(params, model.age_of_universe_yr(redshift))
        per_bin = (weights * at_redshift("bins").reshape(weights.shape)).sum(axis=1)  # (G, B)
        old = per_bin[:, 1:].sum(axis=1)
        if cut.nnz:
            old += np.asarray(cut.multiply(at_redshift("cumulative")).sum(axis=1)).ravel()
        birth_clouds = per_bin[:, 0] + np.einsum("gk,gk->g", model.nebular_weights(params), at_redshift("nebular"))
        tau = AV_TO_TAU * np.asarray(params.av, dtype=float) * table["least_curve"][k]
        flux = old * np.exp(-tau) + birth_clouds * np.exp(-np.asarray(params.eta, dtype=float) * tau)
        return flux * L_SUN_ERG_S / (4 * np.pi * model.distances.luminosity_distance_cm(redshift) ** 2)

    # -- 2. the exact flux ---------------------------------------------------------------------------------------
    def band_maggies(self, params: GalaxyParameters) -> np.ndarray:
        """(G,) noiseless band maggies of each galaxy, exact, from its light on the band's rest pixels alone."""
        redshift = np.asarray(params.redshift, dtype=float)
        light = self.model.luminosity_in(params, self.pixels)
        flux = observed_flux_density(light, redshift, self.model.distances.luminosity_distance_cm(redshift),
                                     self.band_edges, self.model.grid.edges[self.pixels.start:self.pixels.stop + 1])
        return flux @ self.response

    def passes(self, params: GalaxyParameters, at_most: int | None = None) -> np.ndarray:
        """Indices of the first (up to ``at_most``) galaxies brighter than the limit: the bound first, then the
        exact flux of those it keeps, in order, only until ``at_most`` are found."""
        maybe = np.flatnonzero(self.maggies_bound(params) * BOUND_MARGIN > self.maggies)
        wanted = maybe.size if at_most is None else at_most
        found, count, start = [], 0, 0
        while start < maybe.size and count < wanted:
            batch = maybe[start:start + int(1.25 * (wanted - count)) + 8]
            found.append(batch[self.band_maggies(params.subset(batch)) > self.maggies])
            count += found[-1].size
            start += batch.size
        return np.concatenate(found)[:wanted] if found else maybe[:0]
