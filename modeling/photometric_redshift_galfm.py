"""A galaxy's photometric-redshift likelihood on a grid: template SEDs fitted to its band fluxes at every redshift.

The classical photo-z fit (as in EAZY or LePhare), made with galfm's own physics: ``template_maggies``
(templates, grid redshifts, bands) are representative simulated galaxies placed at every z_s =
10^(s * ``photoz_log_step``) - 1 with that redshift's IGM and integrated through the real filter curves
(`galfm.training.photoz_templates`). For each template and redshift the amplitude (>= 0) is solved by least
squares against the fluxes, whose errors get a template error ``photoz_template_error`` x flux added in
quadrature (no 48 templates span every real galaxy); the templates are then marginalised, exp(-chi2 / 2)
summed. Where the best fit's reduced chi2 exceeds 1, chi2 is divided by it: a galaxy no template matches gets a
wider likelihood, not a wrong narrow one. With ``photoz_mass_prior`` each (template, redshift) solution is
weighed by how many such galaxies the sky holds: its amplitude is a stellar mass (buffer ``template_log_mass``),
and the weight is dV_c/dz (``log_volume``) times the stellar-mass function at that mass (``log_mass_function``,
per redshift), times the width in log M* the fluxes leave (the amplitude marginalised to first order). Without it
(heads made before it) every solution counts alike.

The population prior (``photoz_library_size`` > 0): a library of galaxies measured in the same bands, each at
its own redshift (the head's training galaxies: simulated, or a real spectroscopic sample; one row per survey,
which must hold every band the galaxy has), the empirical photo-z of SDSS (Csabai et al. 2007; Beck et al. 2016)
in Bayesian form. Each row is fitted to the galaxy's fluxes with a free amplitude, both flux errors counted, and
weighed by exp(-chi2 / 2) times a Gaussian in their magnitude difference (``photoz_library_magnitude_sigma``: in a
flux-limited survey how bright a galaxy is says how far it probably is); their redshifts, each spread over
``photoz_library_kernel_pixels``, make p(z). What five broad bands leave open between templates (a Balmer break
at z = 0.1 or a redder galaxy at z = 0.3), the library decides by which galaxies exist; measured on simulated
galaxies the head never saw in `benchmarks/RESULTS.md`.

A band is recognised by its (effective wavelength, FWHM),
the only thing the tokens carry; bands without a tabulated curve (a filter added with ``processor.add_filter``)
are left out of the fit.

Why next to the encoder: a network trained on simulated photometry inherits every difference between the
simulation and a real survey, and on real galaxies it is biased; the template fit needs only the filter curves
and the SED physics, but on five broad bands it is broad and has degenerate solutions. The posterior is the
likelihood times the prior (the library's p(z), else the encoder's Gaussian), mixed with a flat share as the
spectrum's scan does (`galfm.redshift_scan_galfm.gaussian_prior`). Both read the same fluxes, so the product could
be too narrow in principle; its 68% coverage on simulated galaxies the head never saw is measured by
``benchmarks/bench_photometric_redshift.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .configuration_galfm import GalFMConfig
from .modality_photometry import asinh_magnitude_to_flux
from .redshift_scan_galfm import LOG10, RedshiftPosterior, gaussian_prior, grid_summary, shift_redshifts


@dataclass
class PhotometricScan:
    """``log_likelihood`` (B, S) over the grid (up to a constant; templates marginalised), ``chi2_min`` (B,) of
    the best template, ``num_bands`` (B,) the bands fitted, ``valid`` (B,) False where fewer than
    ``photoz_min_bands`` bands had a tabulated curve; ``library_log_prior`` (B, S) ln p(z) of the library
    (normalised; None without one) and ``library_valid`` (B,) where some row measured every band of the galaxy."""

    log_likelihood: torch.Tensor
    chi2_min: torch.Tensor
    num_bands: torch.Tensor
    valid: torch.Tensor
    library_log_prior: torch.Tensor | None = None
    library_valid: torch.Tensor | None = None


class GalFMPhotometricRedshift(nn.Module):
    """The template likelihood of the photometry tokens of a batch.

    Buffers (saved with the head): ``template_maggies`` (K, S, N) for the ``config.head_config.photoz_bands``,
    each (template, redshift) row scaled to its largest value; ``band_wavelength`` (N, 2), each band's
    (effective wavelength, FWHM) in Angstrom as the processor's filter table gives it. With a library:
    ``library_maggies`` and ``library_sigma`` (R, L) fluxes and errors on the ``photoz_library_bands`` (whose
    (wavelength, FWHM) are ``library_band_wavelength`` (L, 2)), each row divided by 10^``library_log_scale`` (R,)
    nanomaggies, sigma inf where a band was not measured; ``library_redshift`` (R,).
    """

    library_chunk = 1024  # library rows per step: (B, chunk, L) floats at a time

    def __init__(self, config: GalFMConfig):
        super().__init__()
        settings = config.head_config
        self.config = config
        num_bands = len(settings.photoz_bands or [])
        # half precision: rows are scaled to 1 and the fit allows a 5% template error, so 3 digits suffice
        self.register_buffer("template_maggies", torch.zeros(settings.photoz_templates, settings.photoz_shifts,
                                                             num_bands, dtype=torch.float16))
        self.register_buffer("band_wavelength", torch.zeros(num_bands, 2))
        if settings.photoz_mass_prior:
            self.register_buffer("template_log_mass", torch.zeros(settings.photoz_templates, settings.photoz_shifts))
            self.register_buffer("log_volume", torch.zeros(settings.photoz_shifts))
            self.register_buffer("mass_function_log_mass", torch.zeros(settings.photoz_mass_function_bins))
            self.register_buffer("log_mass_function", torch.zeros(settings.photoz_shifts,
                                                                   settings.photoz_mass_function_bins))
        if settings.photoz_library_size:
            size, num_library_bands = settings.photoz_library_size, len(settings.photoz_library_bands or [])
            self.register_buffer("library_maggies", torch.zeros(size, num_library_bands, dtype=torch.float16))
            self.register_buffer("library_sigma", torch.zeros(size, num_library_bands, dtype=torch.float16))
            self.register_buffer("library_log_scale", torch.zeros(size))
            self.register_buffer("library_redshift", torch.zeros(size))
            self.register_buffer("library_band_wavelength", torch.zeros(num_library_bands, 2))

    @staticmethod
    def band_index(wavelength: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """(B, T) index into ``table`` (N, 2) of each token's (lambda_eff, FWHM); N where none matches."""
        table = table.to(wavelength.dtype)
        close = ((wavelength[..., None, :] - table).abs() <= 1e-4 * table.abs().clamp_min(1.0)).all(-1)
        return torch.where(close.any(-1), close.float().argmax(-1), table.shape[0])

    def band_sums(self, inputs, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per galaxy and band of ``table``: sum of 1 / variance and of flux / variance (B, N), where the variance
        adds the template error; and sum of flux^2 / variance over the matched tokens (B,). A band measured twice
        counts twice."""
        settings = self.config.head_config
        values = inputs["photometry_values"].double()
        mask = inputs.get("photometry_attention_mask")
        present = torch.ones(values.shape[:2], dtype=torch.bool, device=values.device) if mask is None else mask.bool()
        index = self.band_index(inputs["photometry_wavelength"].float(), table)
        num_bands = table.shape[0]
        use = present & (index < num_bands)
        flux, sigma = asinh_magnitude_to_flux(values[..., 0], values[..., 1], settings.photoz_softening_nmgy)
        variance = sigma**2 + (settings.photoz_template_error * flux.clamp_min(0.0)) ** 2
        weight = torch.where(use, 1.0 / variance.clamp_min(1e-30), 0.0)
        slot = torch.where(use, index, num_bands)
        w = values.new_zeros(values.shape[0], num_bands + 1).scatter_add_(1, slot, weight)[:, :num_bands]
        wf = values.new_zeros(values.shape[0], num_bands + 1).scatter_add_(1, slot, weight * flux)[:, :num_bands]
        return w, wf, (weight * flux**2).sum(-1)

    def forward(self, inputs) -> PhotometricScan:
        settings = self.config.head_config
        w, wf, wff = self.band_sums(inputs, self.band_wavelength)
        m = self.template_maggies.double()  # (K, S, N)
        fm = torch.einsum("ksn,bn->bks", m, wf).clamp_min(0.0)
        mm = torch.einsum("ksn,bn->bks", m**2, w).clamp_min(1e-300)
        chi2 = wff[:, None, None] - fm**2 / mm  # at the best amplitude fm / mm, held >= 0
        num_bands = (w > 0).sum(-1)
        chi2_min = chi2.amin(dim=(1, 2))
        scale = (chi2_min / (num_bands - 1).clamp_min(1)).clamp_min(1.0)[:, None, None]
        log_weight = -0.5 * chi2 / scale
        if self.config.head_config.photoz_mass_prior:
            log_weight = log_weight + self.log_mass_prior(fm, mm)
        log_likelihood = torch.logsumexp(log_weight, dim=1)
        scan = PhotometricScan(log_likelihood, chi2_min, num_bands, num_bands >= settings.photoz_min_bands)
        if settings.photoz_library_size:
            scan.library_log_prior, scan.library_valid = self.library_prior(inputs, num_bands)
        return scan

    def library_prior(self, inputs, num_bands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) ln p(z) from the library rows that match the fluxes, and (B,) whether any row measured every band
        of the galaxy the library knows, and the library knows all ``num_bands`` it has with a tabulated curve
        (like with like: a J-PAS galaxy is not judged by its three broad bands, nor an SDSS one by a row that lacks
        its u)."""
        settings = self.config.head_config
        w, wf, _ = self.band_sums(inputs, self.library_band_wavelength)
        columns = (w > 0).any(0)  # only the library bands this batch measured
        w, wf = w[:, columns], wf[:, columns]
        measured = w > 0
        num_known = measured.sum(-1, keepdim=True)  # (B, 1) the galaxy's bands in the library's table
        # single precision in the (batch, rows, bands) block: the fluxes are nanomaggies, chi2 needs no more
        flux, variance = (wf / w.clamp_min(1e-300)).float(), (1.0 / w.clamp_min(1e-300)).float()
        log_weights = []
        for start in range(0, self.library_redshift.numel(), self.library_chunk):
            rows = slice(start, start + self.library_chunk)
            reference = self.library_maggies[rows][:, columns].float()[None]  # (1, R, L)
            reference_sigma = self.library_sigma[rows][:, columns].float()[None]
            common = measured[:, None, :] & torch.isfinite(reference_sigma)
            reference = torch.where(common, reference, 0.0)
            reference_sigma = torch.where(common, reference_sigma, 0.0)
            target = torch.where(common, flux[:, None, :], 0.0)
            inverse = torch.where(common, 1.0 / variance[:, None, :], 0.0)
            for _ in range(2):  # the amplitude, then the variance with the reference's error at that amplitude
                amplitude = ((inverse * target * reference).sum(-1)
                             / (inverse * reference**2).sum(-1).clamp_min(1e-30)).clamp_min(1e-8)
                inverse = torch.where(common, 1.0 / (variance[:, None, :] + (amplitude[..., None] * reference_sigma)
                                                     ** 2), 0.0)
            chi2 = (inverse * (target - amplitude[..., None] * reference) ** 2).sum(-1)
            # a reference with larger errors explains any fluxes less sharply: the Gaussian's normalisation
            log_norm = 0.5 * torch.where(common, torch.log(inverse.clamp_min(1e-30)), 0.0).sum(-1)
            magnitude_difference = 2.5 * (self.library_log_scale[rows] - torch.log10(amplitude))
            log_weight = (-0.5 * chi2 + log_norm
                          - 0.5 * (magnitude_difference / settings.photoz_library_magnitude_sigma) ** 2).double()
            covered = (common.sum(-1) == num_known) & (num_known >= num_bands[:, None])
            log_weights.append(torch.where(covered & (num_known >= settings.photoz_min_bands), log_weight,
                                           -torch.inf))
        log_weight = torch.cat(log_weights, dim=1)  # (B, R)
        valid = torch.isfinite(log_weight).any(-1)
        weight = torch.softmax(torch.where(valid[:, None], log_weight, 0.0), dim=-1)
        # each library redshift spread over a Gaussian of ``photoz_library_kernel_pixels`` on the grid
        pixels = torch.arange(settings.photoz_shifts, device=w.device, dtype=torch.float64)
        density = w.new_zeros(w.shape[0], settings.photoz_shifts)
        for start in range(0, self.library_redshift.numel(), self.library_chunk):
            rows = slice(start, start + self.library_chunk)
            at = torch.log10(1 + self.library_redshift[rows].double()) / settings.photoz_log_step
            kernel = torch.exp(-0.5 * ((pixels[None] - at[:, None]) / settings.photoz_library_kernel_pixels) ** 2)
            density += weight[:, rows] @ (kernel / kernel.sum(-1, keepdim=True))
        return torch.log(density.clamp_min(1e-300)), valid

    def log_mass_prior(self, fm: torch.Tensor, mm: torch.Tensor) -> torch.Tensor:
        """(B, K, S) ln of the prior weight of each (template, redshift) solution with best amplitude fm / mm
        (nanomaggies in the brightest band) and amplitude error 1 / sqrt(mm)."""
        amplitude = (fm / mm).clamp_min(1e-30)
        log_mass = self.template_log_mass.double() + torch.log10(amplitude)
        grid, table = self.mass_function_log_mass.double(), self.log_mass_function.double()
        position = ((log_mass - grid[0]) / (grid[1] - grid[0])).clamp(0, grid.numel() - 1)
        lower = position.floor().long().clamp_max(grid.numel() - 2)
        fraction = position - lower
        rows = table[None, None].expand(*lower.shape[:2], *table.shape)  # (B, K, S, M): each redshift its own
        at = torch.stack([lower, lower + 1], dim=-1)
        below, above = rows.gather(-1, at).unbind(-1)
        log10_density = (1 - fraction) * below + fraction * above
        # the fluxes pin log M* to within (amplitude error / amplitude) / ln 10, at most ~0.4 dex (S/N 1)
        log_width = -torch.log((fm / mm.sqrt()).clamp_min(1.0))
        return LOG10 * log10_density + log_width + self.log_volume.double()


def photometric_redshift_posterior(scan: PhotometricScan, prior_mean: torch.Tensor, prior_std: torch.Tensor,
                                   config: GalFMConfig) -> RedshiftPosterior:
    """Template likelihood x the prior, summarised by `grid_summary`: highest peak, sigma, pdf on the grid. The
    prior is the library's p(z) where the head has one and the galaxy's bands are in it, else the encoder's
    Gaussian redshift; either mixed with the flat share ``scan_prior_outlier_fraction``."""
    settings = config.head_config
    step = settings.photoz_log_step
    grid = shift_redshifts(settings.photoz_shifts, step, scan.log_likelihood.device)
    prior = gaussian_prior(grid, step, prior_mean, prior_std, settings.scan_prior_outlier_fraction)
    if scan.library_log_prior is not None:
        outlier = settings.scan_prior_outlier_fraction
        library = (1 - outlier) * scan.library_log_prior.exp() + outlier / grid.numel()
        prior = torch.where(scan.library_valid[:, None], library, prior)
    redshift, sigma, pdf, peak = grid_summary(scan.log_likelihood + prior.log(), grid, step,
                                              settings.photoz_sigma_floor_pixels)
    return RedshiftPosterior(redshift=redshift, sigma=sigma, pdf=pdf, grid=grid, peak_probability=peak,
                             is_qso=torch.zeros_like(scan.valid), qso_score=torch.zeros_like(redshift))


__all__ = ["GalFMPhotometricRedshift", "PhotometricScan", "photometric_redshift_posterior"]
