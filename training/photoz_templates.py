"""The template table of the photometric redshift scan (`galfm.photometric_redshift_galfm`), from galfm's physics.

Templates: ``num_templates`` representative galaxies of the simulator's population (k-means of the shapes of
their IGM-free rest-frame SEDs — stellar populations, nebular lines and continuum, dust and its emission —
each cluster represented by its member nearest the centre). Each template is placed at every redshift of the
scan's grid z_s = 10^(s step) - 1, given that redshift's IGM transmission (Inoue et al. 2014) and integrated
through every band of the processor's filter table that has a measured or synthesised curve
(`galfm.datasets_scripts.simulator.photometry`: the same integral the simulator's photometry uses). The
amplitude is free in the fit, so each (template, redshift) row is stored scaled to its brightest band.
"""

from __future__ import annotations

import numpy as np
import torch
from astropy.cosmology import Planck18
from sklearn.cluster import KMeans

from galfm.datasets_scripts.simulator.igm import igm_transmission
from galfm.datasets_scripts.simulator.photometry import maggies, photometry_grid, response_matrix
from galfm.datasets_scripts.simulator.priors import draw_population
from galfm.datasets_scripts.simulator.sed import GalaxySED, observed_flux_density
from galfm.photometric_redshift_galfm import GalFMPhotometricRedshift
from galfm.processing_galfm import GalFMProcessor
from galfm.redshift_scan_galfm import shift_redshifts

SHAPE_RANGE_ANGSTROM = (900.0, 30000.0)
"""Rest wavelengths whose shape decides the clusters (what optical-to-near-infrared photometry sees)."""


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
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(rest edges (N + 1,), IGM-free rest-frame luminosity densities (num_templates, N)) of the k-means medoids
    of ``num_galaxies`` simulated galaxies (the deep r < 22.5 population and a bright r < 17.77 share)."""
    rng = np.random.default_rng(seed)
    model = GalaxySED(Planck18)
    live = model.grid.bin_live_fraction[4]
    deep = draw_population(rng, num_galaxies - num_galaxies // 3, Planck18, live, r_limit=22.5)
    bright = draw_population(rng, num_galaxies // 3, Planck18, live, r_limit=17.77)
    seds = np.concatenate([model.rest_frame(p.params, igm=False).luminosity for p in (deep, bright)])
    inside = (model.wavelength > SHAPE_RANGE_ANGSTROM[0]) & (model.wavelength < SHAPE_RANGE_ANGSTROM[1])
    # the shape: log f_nu in 200 log-spaced bins, less its mean (the amplitude is free)
    bins = np.array_split(np.flatnonzero(inside), 200)
    fnu = seds * model.wavelength[None, :] ** 2
    shape = np.log10(np.stack([fnu[:, b].mean(axis=1) for b in bins], axis=1).clip(1e-30))
    shape -= shape.mean(axis=1, keepdims=True)
    clusters = KMeans(num_templates, n_init=4, random_state=seed).fit(shape)
    distance = np.linalg.norm(shape[:, None, :] - clusters.cluster_centers_[None], axis=-1)
    medoids = [int(np.argmin(np.where(clusters.labels_ == k, distance[:, k], np.inf))) for k in range(num_templates)]
    return model.grid.edges, seds[medoids].astype(np.float64)


def template_maggies(rest_edges: np.ndarray, seds: np.ndarray, bands: list[str], redshifts: np.ndarray
                     ) -> np.ndarray:
    """(templates, redshifts, bands) maggies of each SED placed at each redshift, IGM included, each
    (template, redshift) row divided by its largest value (the fit's amplitude is free)."""
    observed_edges = photometry_grid()
    table = np.empty((len(seds), redshifts.size, len(bands)))
    unit_distance = np.ones(len(seds))
    for s, z in enumerate(redshifts):
        placed = seds.copy()
        n_igm, transmission = igm_transmission(np.full(1, z))
        placed[:, :n_igm] *= transmission
        flux = observed_flux_density(placed, np.full(len(seds), z), unit_distance, observed_edges, rest_edges)
        table[:, s] = maggies(flux, tuple(bands))
    return table / table.max(axis=-1, keepdims=True).clip(1e-300)


def add_photometric_redshift(model: torch.nn.Module, processor: GalFMProcessor, num_templates: int = 48,
                             seed: int = 0) -> GalFMPhotometricRedshift:
    """Give a property head (``model.photometric_redshift``) the template table for ``processor``'s bands."""
    settings = model.config.head_config
    bands = tabulable_bands(processor)
    redshifts = shift_redshifts(settings.photoz_shifts, settings.photoz_log_step).numpy()
    edges, seds = representative_seds(num_templates, seed=seed)
    table = template_maggies(edges, seds, bands, redshifts)
    settings.photometric_redshift = True
    settings.photoz_templates = num_templates
    settings.photoz_bands = bands
    settings.photoz_softening_nmgy = float(processor.photometry_softening_nmgy)
    module = GalFMPhotometricRedshift(model.config)
    module.template_maggies.copy_(torch.from_numpy(table))
    module.band_wavelength.copy_(torch.tensor([processor.filter_table[b] for b in bands], dtype=torch.float32))
    model.photometric_redshift = module.to(next(model.parameters()).device)
    return model.photometric_redshift


__all__ = ["add_photometric_redshift", "representative_seds", "tabulable_bands", "template_maggies"]
