"""A galaxy's light from its physics: star-formation history, metallicity, nebular emission, dust, IGM.

``GalaxySED.rest_frame`` turns a batch of physical parameters into rest-frame luminosity densities;
``observed_flux_density`` then redshifts them onto any observed pixel grid with f_lambda = L / (4 pi d_L^2
(1+z)). Everything is vectorised over galaxies (one matrix product for the stellar populations) so that a
survey of 10^5 galaxies takes minutes, not the hours of a per-galaxy SED code.

Physics, per galaxy:
  stars      constant star formation inside each of the 16 lookback-time bins, the mass formed per bin given;
             the oldest bin is cut at the age of the Universe at the galaxy's redshift; metallicity per bin,
             interpolated linearly in Z between the 7 BC03 metallicities (as bagpipes does);
  gas        Cloudy continuum + 124 lines of the stars younger than 10 Myr, at the young stars' metallicity and
             the galaxy's log U; their ionising photons are all absorbed (f_esc = 0);
  dust       Calzetti (2000) curve; birth clouds (< 10 Myr, with their nebular emission) see eta * A_V, the
             rest A_V; the absorbed energy is re-emitted with Draine & Li (2007) spectra (energy balance);
  IGM        Inoue et al. (2014) mean transmission.
Velocity dispersion is applied by the instruments (``instruments.py``), which also add their resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
from astropy.cosmology import FLRW

from .cosmology_table import cosmology_table
from .dust import calzetti_curve
from .igm import LYMAN_ALPHA, igm_transmission
from .stellar_populations import (
    L_SUN_ERG_S,
    LOG_U_GRID,
    LYMAN_LIMIT,
    METALLICITIES_ZSUN,
    REST_LOG_STEP,
    StellarPopulationGrid,
    load_stellar_population_grid,
)

AV_TO_TAU = np.log(10) / 2.5


@dataclass
class GalaxyParameters:
    """Physical parameters of a batch of galaxies (arrays over galaxies).

    ``mass_formed`` (G, 16) Msun formed in each lookback bin; ``log_z`` (G, 16) log10 Z/Zsun of the stars of
    each bin (the first bin's value is also the gas metallicity); ``av`` diffuse V-band attenuation (mag);
    ``eta`` birth-cloud attenuation factor (>= 1); ``log_u`` ionisation parameter; ``vdisp`` stellar velocity
    dispersion (km/s).
    """

    redshift: np.ndarray
    mass_formed: np.ndarray
    log_z: np.ndarray
    av: np.ndarray
    eta: np.ndarray
    log_u: np.ndarray
    vdisp: np.ndarray

    def __len__(self) -> int:
        return int(np.asarray(self.redshift).size)

    def subset(self, index) -> GalaxyParameters:
        return GalaxyParameters(**{k: np.asarray(v)[index] for k, v in self.__dict__.items()})


@dataclass
class RestFrameSED:
    """Rest-frame emission of a batch: ``luminosity`` (G, N) L_sun/Angstrom on the rest grid (dust, lines and
    IGM included), ``line_luminosity`` (G, L) attenuated Cloudy lines in L_sun, ``continuum`` (G, N) the same
    spectrum without lines, ``stellar_mass`` (G) surviving mass in Msun, ``luminosity_distance_cm`` (G)."""

    luminosity: np.ndarray
    continuum: np.ndarray
    line_luminosity: np.ndarray
    stellar_mass: np.ndarray
    redshift: np.ndarray
    luminosity_distance_cm: np.ndarray

    def subset(self, index) -> RestFrameSED:
        return RestFrameSED(**{k: np.asarray(v)[index] for k, v in self.__dict__.items()})

    @staticmethod
    def concatenate(parts: list[RestFrameSED]) -> RestFrameSED:
        return RestFrameSED(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in parts[0].__dict__})


def _linear_weights(grid: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower index, weight of the upper point) for linear interpolation on ``grid``, clipped to its ends."""
    values = np.clip(values, grid[0], grid[-1])
    k = np.clip(np.searchsorted(grid, values, side="right") - 1, 0, grid.size - 2)
    return k, (values - grid[k]) / (grid[k + 1] - grid[k])


class GalaxySED:
    """Vectorised galaxy SED model on the rest-frame grid of ``stellar_populations``."""

    def __init__(self, cosmology: FLRW, grid: StellarPopulationGrid | None = None):
        self.cosmology = cosmology
        self.distances = cosmology_table(cosmology)
        self.grid = grid or load_stellar_population_grid()
        g = self.grid
        self.wavelength = g.wavelength
        self.pixel_width = np.diff(g.edges)
        self.n_metallicity, self.n_bins, self.n_pixels = g.bin_spectra.shape
        self.dust_curve = calzetti_curve(g.wavelength).astype(np.float32)
        self.line_dust_curve = calzetti_curve(g.line_wavelengths)
        self.flat_bins = g.bin_spectra.reshape(-1, self.n_pixels)
        self.flat_cumulative = g.cumulative.reshape(-1, self.n_pixels)
        self.flat_nebular = g.nebular_continuum.reshape(-1, self.n_pixels)
        self.flat_lines = g.nebular_lines.reshape(-1, g.nebular_lines.shape[-1])
        self.ionising = g.wavelength < LYMAN_LIMIT
        self.line_to_pixels = self._line_placement()
        # the model's spectra on all rest pixels, and (made on demand by `_columns`) on windows of them
        self._window_cache: dict[tuple, dict[str, np.ndarray]] = {(None, None): {
            "young": g.bin_spectra[:, 0, :], "bins": self.flat_bins, "cumulative": self.flat_cumulative,
            "nebular": self.flat_nebular, "lines": self.line_to_pixels.T}}

    def _line_placement(self) -> scipy.sparse.csr_matrix:
        """Sparse (L, N): a line's luminosity shared between the two pixels around its centre, per Angstrom."""
        g = self.grid
        position = (np.log10(g.line_wavelengths) - np.log10(g.wavelength[0])) / REST_LOG_STEP
        inside = (position >= 0) & (position < self.n_pixels - 1)
        k = np.floor(position[inside]).astype(int)
        f = position[inside] - k
        rows = np.flatnonzero(inside)
        data = np.concatenate([(1 - f) / self.pixel_width[k], f / self.pixel_width[k + 1]])
        return scipy.sparse.csr_matrix(
            (data, (np.concatenate([rows, rows]), np.concatenate([k, k + 1]))), shape=(len(position), self.n_pixels)
        )

    def age_of_universe_yr(self, redshift: np.ndarray) -> np.ndarray:
        return self.distances.age_yr(redshift)

    def check(self, params: GalaxyParameters) -> None:
        """Named errors for parameters the model cannot represent."""
        edges = self.grid.bin_edges_yr
        t_univ = self.age_of_universe_yr(params.redshift)
        if np.any(~np.isfinite(params.mass_formed)) or np.any(params.mass_formed < 0):
            raise ValueError("mass_formed: must be finite and >= 0 (Msun per SFH bin).")
        impossible = (edges[None, :-1] >= t_univ[:, None]) & (params.mass_formed > 0)
        if impossible.any():
            g, b = np.argwhere(impossible)[0]
            raise ValueError(f"mass_formed: galaxy {g} at z={params.redshift[g]:.3f} forms stars in SFH bin {b} "
                             f"({edges[b] / 1e9:.2f}-{edges[b + 1] / 1e9:.2f} Gyr ago), older than the Universe "
                             f"({t_univ[g] / 1e9:.2f} Gyr). Fix: put that mass in younger bins.")
        if np.any(params.eta < 1) or np.any(params.av < 0):
            raise ValueError("av/eta: need av >= 0 mag and eta >= 1 (birth clouds are at least as dusty).")

    def _columns(self, pixels: slice) -> dict[str, np.ndarray]:
        """The model's spectra on the rest pixels ``pixels`` (``slice(None)``: all; a window: contiguous copies,
        made once)."""
        key = (pixels.start, pixels.stop)
        if key not in self._window_cache:
            self._window_cache[key] = {
                "young": np.ascontiguousarray(self.grid.bin_spectra[:, 0, pixels]),
                "bins": np.ascontiguousarray(self.flat_bins[:, pixels]),
                "cumulative": np.ascontiguousarray(self.flat_cumulative[:, pixels]),
                "nebular": np.ascontiguousarray(self.flat_nebular[:, pixels]),
                "lines": self.line_to_pixels[:, pixels].T.tocsr(),
            }
        return self._window_cache[key]

    def stellar_weights(self, params: GalaxyParameters, t_univ: np.ndarray):
        """How much of each model spectrum a batch's stars are: (``weights`` (G, Z, B) Msun of each full bin's
        spectrum per metallicity, ``cut`` sparse (G, Z * nodes) weights of the cumulative spectra for a bin cut
        by the age of the Universe, surviving mass (G)). Every stellar spectrum is linear in these."""
        g = self.grid
        n_gal, n_z, n_b = len(params), self.n_metallicity, self.n_bins
        edges = g.bin_edges_yr
        z_index, z_frac = _linear_weights(METALLICITIES_ZSUN, 10.0 ** np.asarray(params.log_z, dtype=float))
        zw = np.zeros((n_gal, n_z, n_b))
        gal, b = np.meshgrid(np.arange(n_gal), np.arange(n_b), indexing="ij")
        zw[gal, z_index, b] += 1 - z_frac
        zw[gal, z_index + 1, b] += z_frac
        mass = np.asarray(params.mass_formed, dtype=float)

        truncated = (edges[None, :-1] < t_univ[:, None]) & (edges[None, 1:] > t_univ[:, None])
        weights = zw * (mass * ~truncated)[:, None, :]  # (G, Z, B)
        live = np.einsum("gzb,zb->g", weights, g.bin_live_fraction)

        # A bin cut by the age of the Universe: (C(t_univ) - C(lower edge)) / (t_univ - lower edge) per Msun.
        nodes = g.cumulative_ages_yr
        gal_t, bin_t = np.nonzero(truncated & (mass > 0))
        rows, cols, vals = [np.zeros(0, int)], [np.zeros(0, int)], [np.zeros(0)]
        if gal_t.size:
            k, f = _linear_weights(nodes, t_univ[gal_t])
            k_low = np.searchsorted(nodes, edges[bin_t])
            per_msun = mass[gal_t, bin_t] / (t_univ[gal_t] - edges[bin_t])
            for zi in range(n_z):
                w = zw[gal_t, zi, bin_t] * per_msun
                for node, coef in ((k, 1 - f), (k + 1, f), (k_low, -np.ones_like(f))):
                    rows.append(gal_t)
                    cols.append(zi * nodes.size + node)
                    vals.append(w * coef)
                    live += np.bincount(gal_t, w * coef * g.cumulative_live[zi, node], minlength=n_gal)
        cut = scipy.sparse.csr_matrix(
            (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_gal, n_z * nodes.size))
        return weights, cut, live

    def _stellar(self, params: GalaxyParameters, t_univ: np.ndarray, pixels: slice = slice(None)):
        """Young (< 10 Myr) and old stellar spectra (G, N) (on the rest pixels ``pixels``), surviving mass (G)."""
        columns = self._columns(pixels)
        weights, cut, live = self.stellar_weights(params, t_univ)
        young = weights[:, :, 0].astype(np.float32) @ columns["young"]
        weights_old = weights.copy()
        weights_old[:, :, 0] = 0
        old = weights_old.reshape(len(params), -1).astype(np.float32) @ columns["bins"]
        if cut.nnz:
            old += cut @ columns["cumulative"]
        return young, old, live

    def nebular_weights(self, params: GalaxyParameters) -> np.ndarray:
        """(G, Z * U) Msun of the birth-cloud bin on each (metallicity, log U) Cloudy model: the nebular
        continuum and lines are linear in these."""
        n_gal = len(params)
        z_index, z_frac = _linear_weights(METALLICITIES_ZSUN, 10.0 ** np.asarray(params.log_z[:, 0], dtype=float))
        u_index, u_frac = _linear_weights(LOG_U_GRID, np.asarray(params.log_u, dtype=float))
        w = np.zeros((n_gal, self.n_metallicity, LOG_U_GRID.size))
        gal = np.arange(n_gal)
        m0 = np.asarray(params.mass_formed[:, 0], dtype=float)
        for dz, wz in ((0, 1 - z_frac), (1, z_frac)):
            for du, wu in ((0, 1 - u_frac), (1, u_frac)):
                w[gal, z_index + dz, u_index + du] += wz * wu * m0
        return w.reshape(n_gal, -1)

    def _nebular(self, params: GalaxyParameters, pixels: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Nebular continuum (G, N) (on the rest pixels ``pixels``) and lines (G, L) of the birth-cloud bin,
        before dust."""
        w = self.nebular_weights(params)
        return w.astype(np.float32) @ self._columns(pixels)["nebular"], w @ self.flat_lines

    def _attenuated(self, params: GalaxyParameters, pixels: slice = slice(None)):
        """Stars and nebular continuum after dust (G, n) on the rest pixels ``pixels``, the Cloudy lines before
        and after dust (G, L), the intrinsic energy on those pixels (G) and the surviving mass (G)."""
        self.check(params)
        t_univ = self.age_of_universe_yr(np.asarray(params.redshift, dtype=float))
        young, old, stellar_mass = self._stellar(params, t_univ, pixels)
        nebular_continuum, lines = self._nebular(params, pixels)
        young[:, self.ionising[pixels]] = 0.0  # f_esc = 0: ionising photons of young stars power the nebula

        av = np.asarray(params.av, dtype=np.float32)[:, None]
        eta = np.asarray(params.eta, dtype=np.float32)[:, None]
        tau_v = np.float32(AV_TO_TAU) * av
        width = self.pixel_width[pixels].astype(np.float32)
        curve = self.dust_curve[None, pixels]
        young += nebular_continuum
        intrinsic_energy = old @ width + young @ width
        young *= np.exp(-(eta - 1) * tau_v * curve)  # birth clouds
        young += old
        continuum = young
        continuum *= np.exp(-tau_v * curve)  # diffuse ISM
        lines_attenuated = lines * np.exp(-AV_TO_TAU * np.asarray(params.eta * params.av)[:, None]
                                          * self.line_dust_curve[None, :])
        return continuum, lines, lines_attenuated, intrinsic_energy, stellar_mass

    def rest_frame(self, params: GalaxyParameters, igm: bool = True) -> RestFrameSED:
        """Attenuated rest-frame spectra of a batch (see module docstring for the physics).

        ``igm=False`` leaves out the IGM, whose transmission depends on the redshift the spectrum is observed
        at: photometric-redshift templates apply it at each redshift they are placed at."""
        redshift = np.asarray(params.redshift, dtype=float)
        continuum, lines, lines_attenuated, intrinsic_energy, stellar_mass = self._attenuated(params)
        width = self.pixel_width.astype(np.float32)
        absorbed = intrinsic_energy - continuum @ width + (lines - lines_attenuated).sum(axis=1)
        continuum += absorbed[:, None].astype(np.float32) * self.grid.dust_emission[None, :]

        line_spectrum = np.asarray((self.line_to_pixels.T @ lines_attenuated.T).T, dtype=np.float32)
        if igm:
            n_igm, transmission = igm_transmission(redshift)
            continuum[:, :n_igm] *= transmission
            line_spectrum[:, :n_igm] *= transmission
        d_l = self.distances.luminosity_distance_cm(redshift)
        return RestFrameSED(luminosity=continuum + line_spectrum, continuum=continuum,
                            line_luminosity=lines_attenuated, stellar_mass=stellar_mass, redshift=redshift,
                            luminosity_distance_cm=d_l)

    def luminosity_in(self, params: GalaxyParameters, pixels: slice) -> np.ndarray:
        """``rest_frame(params).luminosity[:, pixels]`` (G, n), made on those pixels alone: a flux limit in one
        band needs no more. Only where neither the dust emission (beyond 1 micron) nor the IGM (blueward of
        Lyman alpha) reaches, the two parts of the SED that need the whole spectrum."""
        if np.any(self.grid.dust_emission[pixels] > 0) or self.wavelength[pixels][0] < LYMAN_ALPHA:
            raise ValueError(f"pixels: {self.wavelength[pixels][[0, -1]]} A reaches the dust emission or the IGM; "
                             "a window must lie between Lyman alpha and 1 micron (rest frame).")
        continuum, _, lines_attenuated, _, _ = self._attenuated(params, pixels)
        continuum += np.asarray(self._columns(pixels)["lines"] @ lines_attenuated.T, dtype=np.float32).T
        return continuum


def continuum_beside(sed: RestFrameSED, wavelength: np.ndarray, centre: float) -> np.ndarray:
    """(G,) mean rest-frame continuum (L_sun/A) 20-60 A either side of ``centre``: what a line's equivalent width
    is measured against."""
    side = (np.abs(wavelength - centre) > 20) & (np.abs(wavelength - centre) < 60)
    return sed.continuum[:, side].mean(axis=1)


def observed_flux_density(sed_luminosity: np.ndarray, redshift: np.ndarray, luminosity_distance_cm: np.ndarray,
                          observed_edges: np.ndarray, rest_edges: np.ndarray) -> np.ndarray:
    """Mean observed f_lambda (erg/s/cm^2/Angstrom) in each observed pixel between ``observed_edges``.

    Flux conserving: the rest-frame luminosity falling between the blueshifted pixel edges, spread over the
    observed pixel, divided by 4 pi d_L^2. ``sed_luminosity`` (G, N) in L_sun/Angstrom on pixels with
    ``rest_edges`` uniform in log10.
    """
    n_gal, n_pix = sed_luminosity.shape
    log_step = np.log10(rest_edges[1] / rest_edges[0])
    log_edges = ((np.log10(observed_edges) - np.log10(rest_edges[0])) / log_step).astype(np.float32)
    shift = (np.log10(1 + np.asarray(redshift, dtype=float)) / log_step).astype(np.float32)
    position = np.clip(log_edges[None, :] - shift[:, None], 0, n_pix)
    # only the rest pixels some galaxy of the batch sees enter the cumulative sum
    first = int(np.floor(position.min()))
    last = min(int(np.ceil(position.max())) + 1, n_pix)
    window = sed_luminosity[:, first:last] * np.diff(rest_edges)[None, first:last]
    cumulative = np.zeros((n_gal, last - first + 1), dtype=np.float64)
    np.cumsum(window, axis=1, dtype=np.float64, out=cumulative[:, 1:])
    position -= first
    k = np.minimum(position.astype(np.int32), last - first - 1)
    f = position - k
    rows = np.arange(n_gal)[:, None]
    at_edges = cumulative[rows, k]
    at_edges += f * (cumulative[rows, k + 1] - at_edges)
    energy = np.diff(at_edges, axis=1) * L_SUN_ERG_S
    return energy / np.diff(observed_edges)[None, :] / (4 * np.pi * luminosity_distance_cm[:, None] ** 2)
