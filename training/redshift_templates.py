"""The rest-frame templates of the redshift scan (`galfm.redshift_scan_galfm`), built from galfm's own physics.

Galaxies: the leading principal components of the stellar continua (BC03 through the simulator's SED model:
its population of star-formation histories, metallicities and dust, at redshifts 0-1.5) and one template per
group of narrow emission lines, each with an amplitude >= 0: Balmer (case B ratios), [O II] 3726,3729 with
[Ne III] 3869 at a tenth of it (star-forming galaxies' typical ratio; [Ne III] is never seen without [O II], so it
must not explain a lone line), [O III] 4959,5007, [N II] 6548,6583, [S II] 6716,6731, [S III] 9069,9531, He I
5876 with [O I] 6300, and the UV lines C III] 1909 and Mg II 2800 of z > 1 emitters. Free group amplitudes fit
any star-forming, Seyfert 2 or LINER line ratio. QSOs: two power laws and broad (FWHM 4000 km/s) lines.
Line wavelengths are vacuum (NIST / SDSS line list); intrinsic doublet ratios are the atomic ones
(Osterbrock & Ferland 2006). The continuum is broadened to a velocity dispersion of 150 km/s, the lines to
``line_sigma_kms`` (dispersion and instrument together), as a pipeline template would be.
"""

from __future__ import annotations

import numpy as np
import torch
from astropy.cosmology import Planck18
from scipy.ndimage import gaussian_filter1d

from galfm.configuration_galfm import GalFMConfig
from galfm.datasets_scripts.simulator.instruments import C_KMS
from galfm.datasets_scripts.simulator.priors import draw_population
from galfm.datasets_scripts.simulator.sed import GalaxySED
from galfm.datasets_scripts.simulator.stellar_populations import bin_onto_edges
from galfm.modality_spectrum import log_grid_edges
from galfm.processing_galfm import GalFMProcessor
from galfm.redshift_scan_galfm import GalFMRedshiftScan

# (vacuum Angstrom, relative strength) per narrow-line group; each group is one template.
NARROW_LINE_GROUPS: dict[str, tuple[tuple[float, float], ...]] = {
    "balmer": ((6564.61, 2.86), (4862.68, 1.0), (4341.68, 0.468), (4102.89, 0.259), (3971.20, 0.159),
               (3890.17, 0.105)),
    "oii": ((3727.09, 1.0), (3729.88, 1.35), (3869.86, 0.235)),
    "oiii": ((4960.30, 1.0), (5008.24, 2.98)),
    "nii": ((6549.86, 1.0), (6585.27, 3.05)),
    "sii": ((6718.29, 1.3), (6732.67, 1.0)),
    "siii": ((9071.1, 1.0), (9533.2, 2.44)),
    "weak": ((5877.25, 0.11), (6302.05, 0.1), (6365.54, 0.033)),
    "uv": ((1908.73, 1.0), (2796.35, 0.6), (2803.53, 0.4)),
}
# broad lines of type-1 AGN (Vanden Berk et al. 2001 composite): groups of (vacuum Angstrom, strength)
QSO_LINE_GROUPS: dict[str, tuple[tuple[float, float], ...]] = {
    "lya_nv": ((1215.67, 1.0), (1240.14, 0.25)),
    "siiv_civ": ((1399.8, 0.2), (1549.06, 0.6)),
    "ciii": ((1908.73, 1.0),),
    "mgii": ((2798.75, 1.0),),
    "hbeta_hgamma": ((4862.68, 1.0), (4341.68, 0.4), (5008.24, 0.1)),
    "halpha": ((6564.61, 1.0),),
}
QSO_LINE_FWHM_KMS = 4000.0


def rest_edges(config: GalFMConfig) -> np.ndarray:
    """Pixel edges (Angstrom) of the scan's rest-frame grid: rest pixel j + (max_shift - s) lands on observed
    pixel j at shift s."""
    settings = config.head_config
    step, shift = settings.scan_log_step, settings.scan_max_shift
    return log_grid_edges(settings.scan_observed_log_min - shift * step, step,
                          settings.scan_observed_pixels + shift)


def rest_grid(config: GalFMConfig) -> np.ndarray:
    """Centres (Angstrom) of the scan's rest-frame pixels (geometric means of their edges)."""
    edges = rest_edges(config)
    return np.sqrt(edges[1:] * edges[:-1])


def _gaussian_lines(centres: np.ndarray, lines, sigma_kms: float) -> np.ndarray:
    """Sum of unit-flux Gaussians (per Angstrom) of the given (wavelength, strength) on the grid."""
    out = np.zeros(centres.size)
    for wavelength, strength in lines:
        sigma = wavelength * sigma_kms / C_KMS
        out += strength * np.exp(-0.5 * ((centres - wavelength) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    return out


def continuum_components(edges: np.ndarray, num_components: int = 6, num_galaxies: int = 1500,
                         seed: int = 0, sigma_kms: float = 150.0) -> np.ndarray:
    """Leading principal components (num_components, R) of simulated stellar continua on the rest grid of
    ``edges`` (uniform in log lambda), broadened to a velocity dispersion of ``sigma_kms``."""
    rng = np.random.default_rng(seed)
    model = GalaxySED(Planck18)
    population = draw_population(rng, num_galaxies, Planck18, model.grid.bin_live_fraction[4], r_limit=22.5)
    sed = model.rest_frame(population.params)
    spectra = bin_onto_edges(model.wavelength, sed.continuum.astype(np.float64), edges)
    pixel_kms = C_KMS * np.log(10) * np.log10(edges[1] / edges[0])
    spectra = gaussian_filter1d(spectra, sigma_kms / pixel_kms, axis=-1, mode="nearest")
    centres = np.sqrt(edges[1:] * edges[:-1])
    optical = (centres > 4000) & (centres < 6000)
    spectra /= np.median(spectra[:, optical], axis=1, keepdims=True)
    _, _, vt = np.linalg.svd(spectra, full_matrices=False)
    components = vt[:num_components]
    return components / np.abs(components).max(axis=1, keepdims=True)


def galaxy_templates(edges: np.ndarray, line_sigma_kms: float = 120.0, seed: int = 0) -> np.ndarray:
    """(K_g, R): continuum components, then one template per narrow-line group, on the grid of ``edges``."""
    centres = np.sqrt(edges[1:] * edges[:-1])
    continuum = continuum_components(edges, seed=seed)
    lines = np.stack([_gaussian_lines(centres, group, line_sigma_kms) for group in NARROW_LINE_GROUPS.values()])
    lines /= lines.max(axis=1, keepdims=True)
    return np.concatenate([continuum, lines]).astype(np.float32)


def qso_templates(centres: np.ndarray) -> np.ndarray:
    """(K_q, R): f_lambda power laws lambda^-1.5 and lambda^-0.5 (normalised at 3000 A), broad-line groups."""
    sigma = QSO_LINE_FWHM_KMS / 2.3548
    power_laws = np.stack([(centres / 3000.0) ** -1.5, (centres / 3000.0) ** -0.5])
    power_laws /= power_laws.max(axis=1, keepdims=True)
    lines = np.stack([_gaussian_lines(centres, group, sigma) for group in QSO_LINE_GROUPS.values()])
    lines /= lines.max(axis=1, keepdims=True)
    return np.concatenate([power_laws, lines]).astype(np.float32)


def add_redshift_scan(model: torch.nn.Module, processor: GalFMProcessor, seed: int = 0) -> GalFMRedshiftScan:
    """Give a head (``model.redshift_scan``: a property head's redshift, an SFH head's rest frame) the scan for
    ``processor``'s grid, templates included."""
    settings = model.config.head_config
    num_pixels = processor.spectrum_num_patches * processor.spectrum_patch_size
    settings.scan_observed_log_min = float(processor.spectrum_log_wavelength_min)
    settings.scan_log_step = float(processor.spectrum_log_wavelength_step)
    settings.scan_observed_pixels = int(num_pixels)
    edges = rest_edges(model.config)
    galaxies, qsos = galaxy_templates(edges, seed=seed), qso_templates(np.sqrt(edges[1:] * edges[:-1]))
    settings.scan_galaxy_templates, settings.scan_qso_templates = len(galaxies), len(qsos)
    settings.scan_galaxy_emission_templates = len(NARROW_LINE_GROUPS)  # the last ones: amplitudes >= 0
    settings.redshift_scan = True
    scan = GalFMRedshiftScan(model.config)
    scan.galaxy_templates.copy_(torch.from_numpy(galaxies))
    scan.qso_templates.copy_(torch.from_numpy(qsos))
    model.redshift_scan = scan.to(next(model.parameters()).device)
    return model.redshift_scan


__all__ = ["NARROW_LINE_GROUPS", "QSO_LINE_GROUPS", "add_redshift_scan", "continuum_components", "galaxy_templates",
           "qso_templates", "rest_edges", "rest_grid"]
