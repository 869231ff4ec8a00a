"""The template table of the photometric redshift scan (`galfm.photometric_redshift_galfm`), from galfm's physics.

Templates: ``num_templates`` representative galaxies of the simulator's population (k-means of the shapes of
their IGM-free rest-frame SEDs — stellar populations, nebular lines and continuum, dust and its emission —
each cluster represented by its member nearest the centre). Each template is placed at every redshift of the
scan's grid z_s = 10^(s step) - 1, given that redshift's IGM transmission (Inoue et al. 2014) and integrated
through every band of the processor's filter table that has a measured or synthesised curve
(`galfm.datasets_scripts.simulator.photometry`: the same integral the simulator's photometry uses). The
amplitude is free in the fit, so each (template, redshift) row is stored scaled to its brightest band.

The prior of the fit (``mass_prior=True``, off by default): a template's amplitude at a redshift is a stellar
mass (the template galaxy's own, scaled), so each (template, redshift) row also stores the log M* that makes its
brightest band 1 nanomaggie at that redshift's luminosity distance; the fit weighs each solution by the number
of such galaxies in the sky, dV_c/dz times the stellar-mass function at that redshift (the simulator's own
`priors.stellar_mass_function`, from which its galaxies are drawn). Five broad bands cannot tell a dwarf at
z = 0.05 from a massive galaxy at z = 0.5, or a Balmer break from a Lyman break; the number of such galaxies
can.

The library (``library`` records, e.g. the head's training split): galaxies with photometry and a trusted
redshift, each kept at its own redshift with its measured fluxes and errors, one row per photometric survey
(fibre and total fluxes of one galaxy differ in amplitude, not only in noise), as the fit's population prior
(`galfm.photometric_redshift_galfm`). Simulated records carry the simulator's population and selection; a real
spectroscopic sample makes it the empirical photo-z of that survey.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch
from astropy.cosmology import Planck18
from sklearn.cluster import KMeans

from galfm.configuration_galfm import GalFMHeadConfig
from galfm.datasets_scripts.schema import trusted_properties
from galfm.datasets_scripts.simulator.cosmology_table import cosmology_table
from galfm.datasets_scripts.simulator.igm import igm_transmission
from galfm.datasets_scripts.simulator.instruments import PHOTOMETRIC_SURVEYS
from galfm.datasets_scripts.simulator.photometry import maggies, photometry_grid, response_matrix
from galfm.datasets_scripts.simulator.priors import draw_population, stellar_mass_function
from galfm.datasets_scripts.simulator.sed import GalaxySED, observed_flux_density
from galfm.modality_photometry import PHOTOMETRY, asinh_magnitude_to_flux, keep_bands
from galfm.photometric_redshift_galfm import GalFMPhotometricRedshift
from galfm.processing_galfm import GalFMProcessor
from galfm.redshift_scan_galfm import shift_redshifts

SHAPE_RANGE_ANGSTROM = (900.0, 30000.0)
"""Rest wavelengths whose shape decides the clusters (what optical-to-near-infrared photometry sees)."""
MASS_PRIOR_LOG_MASS = np.arange(5.0, 13.51, 0.05)
"""log M* where the prior's stellar-mass function is tabulated (beyond: its end values)."""
MIN_PRIOR_REDSHIFT = 1e-4
"""The grid's first redshift is 0 (no volume, no distance): the prior's tables take this one there."""
LIBRARY_MAX_BANDS = 12
"""Surveys with more bands (J-PAS's 60) stay out of the library: their template fit alone is sharp (97-100% within
0.05 (1 + z) on simulated galaxies, `benchmarks/RESULTS.md`), and a row would cost 60 columns."""


def tabulable_bands(processor: GalFMProcessor) -> list[str]:
    """The processor's bands whose curve lies inside the simulator's photometry grid (not WISE W3/W4)."""
    bands = []
    for band in processor.filter_table:
        try:
            response_matrix((band,))
        except (ValueError, KeyError):
            continue
        bands.append(band)
    return bands


def representative_seds(num_templates: int = 48, num_galaxies: int = 3000, seed: int = 0
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rest edges (N + 1,), IGM-free rest-frame luminosity densities (num_templates, N), their log stellar masses
    (num_templates,)) of the k-means medoids of ``num_galaxies`` simulated galaxies (the deep r < 22.5 population
    and a bright r < 17.77 share)."""
    rng = np.random.default_rng(seed)
    model = GalaxySED(Planck18)
    live = model.grid.bin_live_fraction[4]
    deep = draw_population(rng, num_galaxies - num_galaxies // 3, Planck18, live, r_limit=22.5)
    bright = draw_population(rng, num_galaxies // 3, Planck18, live, r_limit=17.77)
    rest = [model.rest_frame(p.params, igm=False) for p in (deep, bright)]
    seds = np.concatenate([r.luminosity for r in rest])
    log_mass = np.log10(np.concatenate([r.stellar_mass for r in rest]))
    inside = (model.wavelength > SHAPE_RANGE_ANGSTROM[0]) & (model.wavelength < SHAPE_RANGE_ANGSTROM[1])
    # the shape: log f_nu in 200 log-spaced bins, less its mean (the amplitude is free)
    bins = np.array_split(np.flatnonzero(inside), 200)
    fnu = seds * model.wavelength[None, :] ** 2
    shape = np.log10(np.stack([fnu[:, b].mean(axis=1) for b in bins], axis=1).clip(1e-30))
    shape -= shape.mean(axis=1, keepdims=True)
    clusters = KMeans(num_templates, n_init=4, random_state=seed).fit(shape)
    distance = np.linalg.norm(shape[:, None, :] - clusters.cluster_centers_[None], axis=-1)
    medoids = [int(np.argmin(np.where(clusters.labels_ == k, distance[:, k], np.inf))) for k in range(num_templates)]
    return model.grid.edges, seds[medoids].astype(np.float64), log_mass[medoids]


def template_maggies(rest_edges: np.ndarray, seds: np.ndarray, bands: list[str], redshifts: np.ndarray,
                     log_mass: np.ndarray | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """(templates, redshifts, bands) maggies of each SED placed at each redshift, IGM included, each
    (template, redshift) row divided by its largest value (the fit's amplitude is free).

    With the SEDs' ``log_mass`` also (templates, redshifts): the log M* whose brightest band is 1 nanomaggie at
    that redshift's luminosity distance (Planck18, as the templates' ages)."""
    observed_edges = photometry_grid()
    table = np.empty((len(seds), redshifts.size, len(bands)))
    unit_distance = np.ones(len(seds))
    for s, z in enumerate(redshifts):
        placed = seds.copy()
        n_igm, transmission = igm_transmission(np.full(1, z))
        placed[:, :n_igm] *= transmission
        flux = observed_flux_density(placed, np.full(len(seds), z), unit_distance, observed_edges, rest_edges)
        table[:, s] = maggies(flux, tuple(bands))
    brightest = table.max(axis=-1, keepdims=True).clip(1e-300)
    if log_mass is None:
        return table / brightest
    distance_cm = Planck18.luminosity_distance(np.maximum(redshifts, MIN_PRIOR_REDSHIFT)).to_value("cm")
    log_nanomaggies = np.log10(brightest[..., 0] * 1e9) - 2 * np.log10(distance_cm)[None, :]
    return table / brightest, np.asarray(log_mass)[:, None] - log_nanomaggies


def mass_prior_tables(redshifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ln of dV_c/dz per grid pixel (S,), log10 of the stellar-mass function (S, len(`MASS_PRIOR_LOG_MASS`))):
    the number of galaxies per redshift pixel and per dex of stellar mass (Planck18). The grid is uniform in
    log(1 + z), so each pixel spans dz proportional to 1 + z."""
    z = np.maximum(redshifts, MIN_PRIOR_REDSHIFT)
    volume = cosmology_table(Planck18).comoving_volume_element_mpc3(z) * (1 + z)
    density = stellar_mass_function(MASS_PRIOR_LOG_MASS[None, :], z[:, None], Planck18)
    return np.log(volume), np.log10(np.maximum(density, 1e-300))


def photometric_survey(band: str) -> str:
    """The survey whose catalogue measures ``band`` (the simulator's photometric surveys; else its name's
    prefix): one survey's fluxes share an aperture (SDSS's spectroscopic fluxes are a fibre's, J-PAS's total)."""
    return next((name for name, survey in PHOTOMETRIC_SURVEYS.items() if band in survey.bands), band.split("_")[0])


def library_table(records: Iterable[Mapping], processor: GalFMProcessor, size: int = 10000, seed: int = 0
                  ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bands, maggies (R, L), sigma (R, L), log10 scale (R,), redshift (R,)) of up to ``size`` of the records
    that have photometry and a trusted redshift (a random ``size`` of them, ``seed``): one row per record and
    photometric survey (`photometric_survey`) with ``photoz_min_bands`` to `LIBRARY_MAX_BANDS` bands, fluxes in
    nanomaggies as the processor's tokens give them back, each row divided by its largest flux (10^scale), sigma
    inf where the row's survey did not measure a band. The bands: every band measured in the rows kept."""
    rows = [(r, trusted_properties(r).get("redshift")) for r in records if r.get("photometry") is not None]
    rows = [(r, z) for r, z in rows if z is not None and np.isfinite(z)]
    if not rows:
        raise ValueError("library: no record has photometry and a trusted properties.redshift")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.permutation(len(rows))[:size]) if len(rows) > size else np.arange(len(rows))
    tokens, redshift, bands, names = [], [], {}, []
    for i in keep:
        record, z = rows[i]
        photometry = record["photometry"]
        by_survey: dict[str, list[int]] = {}
        for j, band in enumerate(photometry["band"]):
            by_survey.setdefault(photometric_survey(str(band)), []).append(j)
        for indices in by_survey.values():
            if not GalFMHeadConfig.photoz_min_bands <= len(indices) <= LIBRARY_MAX_BANDS:
                continue
            part = keep_bands(photometry, indices)
            token = PHOTOMETRY.tokenize(part, str(record.get("object_id")), processor)
            if token is None or len(token["values"]) < GalFMHeadConfig.photoz_min_bands:
                continue
            # a token knows its band by (wavelength, FWHM) alone; within one survey each is one band
            name_of = {tuple(np.asarray(processor.filter_table[str(b)], dtype=np.float32).tolist()): str(b)
                       for b in part["band"] if str(b) in processor.filter_table}
            for wavelength in map(tuple, token["wavelength"].tolist()):
                if wavelength not in bands:
                    bands[wavelength] = len(bands)
                    names.append(name_of[wavelength])
            tokens.append(token)
            redshift.append(z)
    if not tokens:
        raise ValueError(f"library: no record has {GalFMHeadConfig.photoz_min_bands} to {LIBRARY_MAX_BANDS} bands "
                         "of one photometric survey")
    flux = np.zeros((len(tokens), len(bands)))
    sigma = np.full((len(tokens), len(bands)), np.inf)
    for row, token in enumerate(tokens):
        f, s = asinh_magnitude_to_flux(token["values"][:, 0].astype(np.float64), token["values"][:, 1].astype(
            np.float64), processor.photometry_softening_nmgy)
        columns = [bands[tuple(w)] for w in token["wavelength"].tolist()]
        flux[row, columns], sigma[row, columns] = f, s
    scale = np.abs(np.where(np.isfinite(sigma), flux, 0.0)).max(axis=1).clip(1e-6)
    return names, flux / scale[:, None], sigma / scale[:, None], np.log10(scale), np.asarray(redshift)


def add_photometric_redshift(model: torch.nn.Module, processor: GalFMProcessor, num_templates: int = 48,
                             seed: int = 0, mass_prior: bool = False, library: Iterable[Mapping] | None = None,
                             library_size: int = 10000) -> GalFMPhotometricRedshift:
    """Give a property head (``model.photometric_redshift``) the template table for ``processor``'s bands.

    ``mass_prior`` adds the stellar-mass x volume prior (off by default: measured on simulated galaxies it removes
    the J-PAS outliers, 0.7% -> 0.0% at r < 20, but biases broadband redshifts high, SDSS ugriz +0.010 -> +0.032,
    and narrows their intervals below 68% coverage; `benchmarks/RESULTS.md`). ``library``: records (the training
    split) whose photometry and redshifts become the fit's population prior, up to ``library_size`` of them
    (`library_table`); without it the encoder's Gaussian stays the prior."""
    settings = model.config.head_config
    bands = tabulable_bands(processor)
    redshifts = shift_redshifts(settings.photoz_shifts, settings.photoz_log_step).numpy()
    edges, seds, log_mass = representative_seds(num_templates, seed=seed)
    table, template_log_mass = template_maggies(edges, seds, bands, redshifts, log_mass)
    settings.photometric_redshift = True
    settings.photoz_templates = num_templates
    settings.photoz_bands = bands
    settings.photoz_softening_nmgy = float(processor.photometry_softening_nmgy)
    settings.photoz_mass_prior = mass_prior
    settings.photoz_mass_function_bins = int(MASS_PRIOR_LOG_MASS.size) if mass_prior else 0
    tables = None if library is None else library_table(library, processor, library_size, seed)
    settings.photoz_library_size = 0 if tables is None else int(tables[4].size)
    settings.photoz_library_bands = None if tables is None else tables[0]
    module = GalFMPhotometricRedshift(model.config)
    module.template_maggies.copy_(torch.from_numpy(table))
    module.band_wavelength.copy_(torch.tensor([processor.filter_table[b] for b in bands], dtype=torch.float32))
    if mass_prior:
        log_volume, log_mass_function = mass_prior_tables(redshifts)
        module.template_log_mass.copy_(torch.from_numpy(template_log_mass))
        module.log_volume.copy_(torch.from_numpy(log_volume))
        module.mass_function_log_mass.copy_(torch.from_numpy(MASS_PRIOR_LOG_MASS))
        module.log_mass_function.copy_(torch.from_numpy(log_mass_function))
    if tables is not None:
        names, flux, sigma, log_scale, redshift = tables
        module.library_maggies.copy_(torch.from_numpy(flux))
        module.library_sigma.copy_(torch.from_numpy(sigma))
        module.library_log_scale.copy_(torch.from_numpy(log_scale))
        module.library_redshift.copy_(torch.from_numpy(redshift))
        module.library_band_wavelength.copy_(torch.tensor([processor.filter_table[b] for b in names],
                                                          dtype=torch.float32))
    model.photometric_redshift = module.to(next(model.parameters()).device)
    return model.photometric_redshift


__all__ = ["LIBRARY_MAX_BANDS", "add_photometric_redshift", "library_table", "mass_prior_tables",
           "photometric_survey", "representative_seds", "tabulable_bands", "template_maggies"]
