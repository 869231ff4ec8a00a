"""The population: how many galaxies of which kind, at which redshift, with which history.

Each relation is a published one (or a fit to it), with its scatter; all are written here so a reader can
judge them in one place. The sample is magnitude limited in the loose sense that the stellar-mass function is
drawn only above the mass a galaxy with M/L_r = 0.5 needs to reach ``r_limit`` at its redshift; the survey
then keeps the galaxies brighter than ``r_limit`` in SDSS r (a flux-limited sample, ``survey.py``).

  redshift           p(z) ~ dV_c/dz x the number density of galaxies above the completeness mass at z, on
                     0.002 < z < 2.5: a flux-limited survey's N(z), comoving densities that follow the
                     stellar-mass function below (after the flux cut: median z 0.086 at r < 17.77, 0.19 at
                     r < 19.8 (GAMA's 0.2), 0.42 at r < 22.5); drawn only below the redshift where the
                     completeness mass reaches its ceiling (`flux_limit_redshift`: 0.555 for r < 17.77)
  stellar mass       Baldry et al. (2012) double Schechter: log M* = 10.66, phi1 = 3.96e-3, alpha1 = -0.35,
                     phi2 = 0.79e-3, alpha2 = -1.47, above the completeness mass, below 10^12; its
                     normalisation follows the cosmic stellar-mass density of Madau & Dickinson (2014) (0.62 of
                     today's at z = 1, 0.25 at z = 2), its shape held fixed
  quenched fraction  logistic in log M*, 50% at 10.45 + 0.25 z, width 0.25 dex (Peng et al. 2010 in spirit)
  star formation     main sequence of Speagle et al. (2014), scatter 0.3 dex; quenched: log sSFR ~ N(-12, 0.4)
  SFH shape          delayed-tau in cosmic time (tau 2-10 Gyr star-forming, 0.3-1.5 Gyr quenched), times
                     log-normal bin-to-bin scatter of 0.3 dex (a continuity-like prior, Leja et al. 2019),
                     the last 100 Myr set by the drawn SFR
  metallicity        stellar mass-metallicity relation close to Gallazzi et al. (2005): -0.5 dex at 10^9,
                     -0.2 at 10^10, +0.1 at 10^11.5, scatter 0.15; older bins poorer by 0.3 log10(f_cum)
  dust               A_V = 0.3 + 0.35 log SFR + 0.2 (log M* - 10) (+0.2 scatter), larger for inclined disks,
                     clipped to 0-2.5; quenched A_V ~ |N(0, 0.15)|; birth clouds eta ~ U(1.5, 2.5)
  ionisation         log U = -3 + 0.5 (log sSFR + 9.5), scatter 0.25, clipped to -4..-1
  kinematics         log sigma = 2.0 + 0.28 (log M* - 10.5) (+0.1 if quenched), scatter 0.06 dex
  size               van der Wel et al. (2014) relations for late and early types, with their scatter
  structure          B/T ~ Beta(5, 2) if quenched, Beta(1.5, 5) otherwise; disk thickness q0 = 0.2; isotropic
                     inclination (cos i uniform); bulge axis ratio U(0.6, 1); Sersic index ~ 1 + 3 B/T
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.cosmology import FLRW

from galfm.properties_galfm import NUM_SFH_BINS, SFH_AGE_BIN_EDGES_GYR

from .cosmology_table import cosmology_table
from .sed import GalaxyParameters

SOLAR_ABS_MAG_R = 4.65  # AB, Willmer (2018)
COMPLETENESS_MASS_TO_LIGHT = 0.5  # M/L_r of the completeness mass
COMPLETENESS_LOG_MASS_RANGE = (7.5, 11.3)  # the completeness mass is clipped to this range
REDSHIFT_PRIOR_MAX = 2.5
MORPHOLOGY_CLASSES = ("elliptical", "lenticular", "spiral", "merger")


@dataclass
class Population:
    """Physical parameters (``params``) plus the structural ones the images need, for a batch of galaxies."""

    params: GalaxyParameters
    quenched: np.ndarray
    log_sfr_target: np.ndarray
    bulge_to_total: np.ndarray
    r_eff_arcsec: np.ndarray
    inclination_deg: np.ndarray
    disk_axis_ratio: np.ndarray
    bulge_axis_ratio: np.ndarray
    position_angle_deg: np.ndarray
    ra: np.ndarray
    dec: np.ndarray

    def subset(self, index) -> Population:
        fields = {k: (v.subset(index) if k == "params" else np.asarray(v)[index]) for k, v in self.__dict__.items()}
        return Population(**fields)

    @staticmethod
    def concatenate(parts: list[Population]) -> Population:
        params = GalaxyParameters(**{k: np.concatenate([getattr(p.params, k) for p in parts])
                                     for k in parts[0].params.__dict__})
        fields = {k: np.concatenate([getattr(p, k) for p in parts]) for k in parts[0].__dict__ if k != "params"}
        return Population(params=params, **fields)


MASS_FUNCTION_LOG_MASS = np.linspace(7.0, 12.0, 2001)
"""Where the mass function is tabulated for drawing (the draws lie between the completeness mass and 10^12)."""


def _baldry_mass_function(log_mass: np.ndarray) -> np.ndarray:
    x = 10 ** (np.asarray(log_mass, dtype=float) - 10.66)
    return np.log(10) * np.exp(-x) * (3.96e-3 * x ** (1 - 0.35) + 0.79e-3 * x ** (1 - 1.47))


def madau_dickinson_sfrd(redshift: np.ndarray) -> np.ndarray:
    """Cosmic star-formation rate density (Msun / yr / Mpc^3, Salpeter IMF): Madau & Dickinson (2014), eq. 15."""
    zp1 = 1.0 + np.asarray(redshift, dtype=float)
    return 0.015 * zp1**2.7 / (1.0 + (zp1 / 2.9) ** 5.6)


_DENSITY_RATIOS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def stellar_mass_density_ratio(redshift: np.ndarray, cosmology: FLRW) -> np.ndarray:
    """rho*(z) / rho*(0): the Madau & Dickinson (2014) star-formation history integrated over cosmic time (the
    return fraction and the IMF cancel in the ratio): 0.62 at z = 1, 0.25 at z = 2."""
    key = repr(cosmology)
    if key not in _DENSITY_RATIOS:
        z = np.geomspace(1e-4, 20.0, 2000)[::-1]  # forward in time
        age = cosmology_table(cosmology).age_yr(z)
        psi = madau_dickinson_sfrd(z)
        formed = np.concatenate([[0.0], np.cumsum(0.5 * (psi[1:] + psi[:-1]) * np.diff(age))])
        _DENSITY_RATIOS[key] = (np.log(z[::-1]), (formed / formed[-1])[::-1])
    log_z, ratio = _DENSITY_RATIOS[key]
    return np.interp(np.log(np.maximum(np.asarray(redshift, dtype=float), 1e-4)), log_z, ratio)


def stellar_mass_function(log_mass: np.ndarray, redshift: np.ndarray, cosmology: FLRW) -> np.ndarray:
    """Galaxies per Mpc^3 per dex of stellar mass (broadcast over ``log_mass`` and ``redshift``): the Baldry et
    al. (2012) z ~ 0 double Schechter, its normalisation following the cosmic stellar-mass density
    (`stellar_mass_density_ratio`), its shape held fixed."""
    return _baldry_mass_function(log_mass) * stellar_mass_density_ratio(redshift, cosmology)


def _schechter_mass_draw(rng: np.random.Generator, log_min: np.ndarray) -> np.ndarray:
    """log M* above ``log_min`` from the mass function's shape (the same at every redshift)."""
    grid = MASS_FUNCTION_LOG_MASS
    cdf = _mass_function_cdf()
    lo = np.interp(log_min, grid, cdf)
    return np.interp(lo + rng.random(log_min.size) * (cdf[-1] - lo), cdf, grid)


def _mass_function_cdf() -> np.ndarray:
    grid = MASS_FUNCTION_LOG_MASS
    phi = _baldry_mass_function(grid)
    return np.concatenate([[0.0], np.cumsum(0.5 * (phi[1:] + phi[:-1]) * np.diff(grid))])


_REDSHIFT_CDFS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _redshift_draw(rng: np.random.Generator, n: int, cosmology: FLRW, r_limit: float, z_max: float) -> np.ndarray:
    """Candidate redshifts: p(z) ~ dV_c/dz x the number density of galaxies above the completeness mass at z
    (`stellar_mass_function`), on 0.002 < z < ``z_max``: a flux-limited survey's N(z), before the exact flux cut."""
    key = (repr(cosmology), r_limit, z_max)
    if key not in _REDSHIFT_CDFS:
        z = np.linspace(0.002, min(z_max, REDSHIFT_PRIOR_MAX), 4000)
        cdf_mass = _mass_function_cdf()
        floor = completeness_log_mass(z, cosmology, r_limit)
        above = cdf_mass[-1] - np.interp(floor, MASS_FUNCTION_LOG_MASS, cdf_mass)
        volume = cosmology_table(cosmology).comoving_volume_element_mpc3(z)
        pdf = volume * stellar_mass_density_ratio(z, cosmology) * above
        _REDSHIFT_CDFS[key] = (z, np.cumsum(pdf) / pdf.sum())
    z, cdf = _REDSHIFT_CDFS[key]
    return np.interp(rng.random(n), cdf, z)


def _unclipped_completeness_log_mass(redshift: np.ndarray, cosmology: FLRW, r_limit: float) -> np.ndarray:
    distance_modulus = cosmology_table(cosmology).distmod(redshift)
    abs_mag = r_limit - distance_modulus + 2.5 * np.log10(1 + redshift)
    return -0.4 * (abs_mag - SOLAR_ABS_MAG_R) + np.log10(COMPLETENESS_MASS_TO_LIGHT)


def completeness_log_mass(redshift: np.ndarray, cosmology: FLRW, r_limit: float) -> np.ndarray:
    """Lowest log M* drawn at each redshift: reaches ``r_limit`` with M/L_r = 0.5 (k-correction ~ 2.5 log(1+z))."""
    return np.clip(_unclipped_completeness_log_mass(redshift, cosmology, r_limit), *COMPLETENESS_LOG_MASS_RANGE)


def flux_limit_redshift(cosmology: FLRW, r_limit: float) -> float:
    """The redshift where the completeness mass reaches its ceiling (log M* = 11.3): beyond it the mass floor no
    longer follows the flux limit, and the candidates drawn there are only rejected by it (at r < 17.77 none of
    20000 candidates at z ~ 0.5 passes, and a third of the prior's redshifts lie beyond z = 0.555). Redshifts are
    drawn below it, which saves the SEDs of those candidates; a deep limit (r < 22.5) never reaches the ceiling
    below z = 2.5."""
    z = np.geomspace(0.002, REDSHIFT_PRIOR_MAX, 4000)
    below = _unclipped_completeness_log_mass(z, cosmology, r_limit) <= COMPLETENESS_LOG_MASS_RANGE[1]
    return float(z[below][-1]) if below.any() else float(z[0])


def delayed_tau_bin_sfr(t_univ_yr: np.ndarray, tau_yr: np.ndarray, t_start_yr: np.ndarray) -> np.ndarray:
    """Mean delayed-tau SFR in each lookback bin (arbitrary normalisation), zero before the Big Bang."""
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR) * 1e9
    frac = (np.arange(16) + 0.5) / 16
    sfr = np.zeros((t_univ_yr.size, NUM_SFH_BINS))
    for b in range(NUM_SFH_BINS):
        upper = np.minimum(edges[b + 1], t_univ_yr)
        lookback = edges[b] + frac[None, :] * np.clip(upper - edges[b], 0, None)[:, None]
        t = t_univ_yr[:, None] - lookback - t_start_yr[:, None]
        sfr[:, b] = np.where(t > 0, t * np.exp(-t / tau_yr[:, None]), 0.0).mean(axis=1)
        sfr[edges[b] >= t_univ_yr, b] = 0.0
    return sfr


def draw_population(rng: np.random.Generator, n: int, cosmology: FLRW, live_fraction: np.ndarray,
                    r_limit: float = 22.0) -> Population:
    """Draw ``n`` galaxies. ``live_fraction`` (16,) approximates surviving/formed mass per bin for the mass
    normalisation; the record's stellar mass is then measured exactly from the SED model."""
    distances = cosmology_table(cosmology)
    z = _redshift_draw(rng, n, cosmology, r_limit, flux_limit_redshift(cosmology, r_limit))
    t_univ = distances.age_yr(z)
    log_m = _schechter_mass_draw(rng, completeness_log_mass(z, cosmology, r_limit))
    quenched = rng.random(n) < 1.0 / (1.0 + np.exp(-(log_m - (10.45 + 0.25 * z)) / 0.25))

    t_gyr = t_univ / 1e9
    log_sfr_ms = (0.84 - 0.026 * t_gyr) * log_m - (6.51 - 0.11 * t_gyr)
    log_sfr = np.where(quenched, log_m + rng.normal(-12.0, 0.4, n), log_sfr_ms + rng.normal(0, 0.3, n))

    tau = np.where(quenched, rng.uniform(0.3, 1.5, n), rng.uniform(2.0, 10.0, n)) * 1e9
    t_start = rng.uniform(0.0, 1.5e9, n) * np.minimum(1.0, t_univ / 4e9)
    shape = delayed_tau_bin_sfr(t_univ, tau, t_start) * np.exp(rng.normal(0, 0.3 * np.log(10), (n, NUM_SFH_BINS)))
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR) * 1e9
    width = np.clip(np.minimum(edges[1:], t_univ[:, None]) - edges[:-1], 0, None)
    recent = edges[1:] <= 1e8  # the four bins of the last 100 Myr carry the drawn SFR
    burst = np.exp(rng.normal(0, 0.2 * np.log(10), (n, recent.sum())))
    recent_mass = 10 ** log_sfr[:, None] * width[:, recent] * burst
    old_mass = shape * width
    old_mass[:, recent] = 0.0
    target = 10**log_m
    recent_live = (recent_mass * live_fraction[recent]).sum(axis=1)
    old_live = (old_mass * live_fraction).sum(axis=1)
    scale = np.clip(target - recent_live, 0.05 * target, None) / np.maximum(old_live, 1e-30)
    mass_formed = old_mass * scale[:, None]
    mass_formed[:, recent] = recent_mass

    log_z_final = -0.6 + 0.75 / (1 + np.exp(-(log_m - 10.0) / 0.5)) + rng.normal(0, 0.15, n)
    cumulative = np.cumsum(mass_formed[:, ::-1], axis=1)[:, ::-1] / mass_formed.sum(axis=1, keepdims=True)
    formed_by_then = 1.0 - cumulative + mass_formed / mass_formed.sum(axis=1, keepdims=True)  # incl. own bin
    log_z = log_z_final[:, None] + 0.3 * np.log10(np.clip(formed_by_then, 0.1, 1.0))
    log_z = np.clip(log_z, np.log10(0.005), np.log10(5.0))

    cos_i = rng.random(n)
    inclination = np.degrees(np.arccos(cos_i))
    bt = np.where(quenched, rng.beta(5, 2, n), rng.beta(1.5, 5, n))
    disk_q = np.sqrt(cos_i**2 * (1 - 0.2**2) + 0.2**2)
    sfr_lin = 10**log_sfr
    av_sf = 0.3 + 0.35 * np.log10(sfr_lin) + 0.2 * (log_m - 10) + rng.normal(0, 0.2, n)
    av_sf *= 1 + 0.5 * (1 - bt) * (1 - cos_i)
    av = np.where(quenched, np.abs(rng.normal(0, 0.15, n)), np.clip(av_sf, 0.0, 2.5))
    eta = rng.uniform(1.5, 2.5, n)
    log_ssfr = log_sfr - log_m
    log_u = np.clip(-3.0 + 0.5 * (log_ssfr + 9.5) + rng.normal(0, 0.25, n), -4.0, -1.0)
    vdisp = np.clip(10 ** (2.0 + 0.28 * (log_m - 10.5) + 0.1 * quenched + rng.normal(0, 0.06, n)), 30.0, 450.0)

    log_re_late = 0.86 - 0.75 * np.log10(1 + z) + 0.22 * (log_m - 10.7) + rng.normal(0, 0.16, n)
    log_re_early = 0.60 - 1.48 * np.log10(1 + z) + 0.75 * (log_m - 10.7) + rng.normal(0, 0.10, n)
    r_eff_kpc = 10 ** np.where(quenched, log_re_early, log_re_late)
    kpc_per_arcsec = distances.kpc_proper_per_arcsec(z)
    r_eff = np.clip(r_eff_kpc / kpc_per_arcsec, 0.05, 20.0)

    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    params = GalaxyParameters(redshift=z, mass_formed=mass_formed, log_z=log_z, av=av, eta=eta, log_u=log_u,
                              vdisp=vdisp)
    return Population(params=params, quenched=quenched, log_sfr_target=log_sfr, bulge_to_total=bt,
                      r_eff_arcsec=r_eff, inclination_deg=inclination, disk_axis_ratio=disk_q,
                      bulge_axis_ratio=rng.uniform(0.6, 1.0, n), position_angle_deg=rng.uniform(0, 180.0, n),
                      ra=ra, dec=dec)
