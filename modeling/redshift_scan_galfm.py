"""A spectrum's redshift likelihood on a fine grid: rest-frame templates fitted at every redshift.

A spectrum on the processor's log-lambda grid is a rest-frame spectrum shifted by log10(1 + z): on that grid a
redshift is a whole number of pixels, so fitting templates at every shift is a set of cross-correlations
(computed by FFT). At each shift s the best linear combination of the rest-frame templates and a few
observed-frame Legendre polynomials (which absorb spectrophotometric calibration errors and the difference
between a fibre's light and the whole galaxy's) is solved by least squares, giving chi2(s) for every
z_s = 10^(s * step) - 1. This is the method of the DESI and SDSS pipelines (redrock, idlspec2d); the templates
are built from galfm's own stellar-population models (`galfm.training.redshift_templates`) and saved with the
head as buffers, so a head folder carries everything the scan needs.

Two template sets are fitted: galaxies (stellar continua and narrow-line groups with free amplitudes, so any
star-forming, AGN or LINER line ratio fits) and broad-line QSOs. The QSO fit is the "not a normal galaxy"
score: when it beats the galaxy fit by ``scan_qso_delta_chi2`` (in units of the reduced chi2) the spectrum is
classed a QSO and its redshift comes from the QSO templates.

The grid's likelihood, exp(-(chi2 - chi2_min) / (2 max(1, chi2_min / dof))), keeps every mode: a spectrum
whose lines could be [O II] at one redshift or H alpha at another shows two peaks (``pdf``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from astropy.constants import c as speed_of_light
from numpy.polynomial.legendre import legvander
from torch import nn

from .configuration_galfm import GalFMConfig
from .modality_spectrum import unpack_patches

LOG10 = math.log(10.0)
SPEED_OF_LIGHT_KMS = speed_of_light.to_value("km/s")


@dataclass
class RedshiftScan:
    """Per galaxy (B) and grid shift (S): chi2 of the best template fit of each class, and its degrees of freedom.

    ``galaxy_chi2`` (B, S_galaxy), ``qso_chi2`` (B, S_qso); ``dof`` (B,); ``valid`` (B,) False where the
    spectrum has too few good pixels to fit (the head then keeps its own redshift).
    """

    galaxy_chi2: torch.Tensor
    qso_chi2: torch.Tensor
    dof: torch.Tensor
    valid: torch.Tensor


def shift_redshifts(num_shifts: int, log_step: float, device=None) -> torch.Tensor:
    """z_s = 10^(s * log_step) - 1 for s = 0 .. num_shifts - 1 (float64)."""
    return torch.pow(10.0, torch.arange(num_shifts, dtype=torch.float64, device=device) * log_step) - 1.0


def legendre_basis(num_pixels: int, degree: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """(degree + 1, num_pixels) Legendre polynomials on x in [-1, 1] across the observed grid."""
    return torch.as_tensor(legvander(np.linspace(-1.0, 1.0, num_pixels), degree).T, dtype=dtype, device=device)


class GalFMRedshiftScan(nn.Module):
    """chi2(z) of galaxy and QSO template fits for the spectrum tokens of a batch.

    Buffers (saved with the head): ``galaxy_templates`` (K_g, R) and ``qso_templates`` (K_q, R) on the rest
    grid log10(lambda_j) = ``scan_rest_log_min`` + j * ``scan_log_step``, whose pixel j + s lands on observed
    pixel j - (``scan_max_shift`` - s) at shift s.
    """

    def __init__(self, config: GalFMConfig):
        super().__init__()
        settings = config.head_config
        self.config = config
        self.patch_size = config.spectrum_patch_size
        self.num_observed = settings.scan_observed_pixels
        self.max_shift = settings.scan_max_shift
        rest_pixels = self.num_observed + self.max_shift
        self.register_buffer("galaxy_templates", torch.zeros(settings.scan_galaxy_templates, rest_pixels))
        self.register_buffer("qso_templates", torch.zeros(settings.scan_qso_templates, rest_pixels))

    # -- the spectrum on the full observed grid ------------------------------------------------------------------
    def observed_pixels(self, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(flux, ivar), each (B, N) float64 on the full observed grid, from the processor's packed patches."""
        settings = self.config.head_config
        return unpack_patches(inputs, settings.scan_observed_log_min, settings.scan_log_step, self.num_observed)

    # -- the fit ----------------------------------------------------------------------------------------------
    def chi2(self, flux: torch.Tensor, ivar: torch.Tensor, templates: torch.Tensor, num_shifts: int,
             num_nonnegative: int = 0) -> torch.Tensor:
        """(B, num_shifts) chi2 of the best linear fit of templates + polynomials at each shift s; the last
        ``num_nonnegative`` templates (emission lines) keep amplitudes >= 0."""
        settings = self.config.head_config
        batch, n = flux.shape
        templates = templates.double()
        k = templates.shape[0]
        poly = legendre_basis(n, settings.scan_polynomial_degree, device=flux.device)
        q = poly.shape[0]
        rest = templates.shape[1]
        n_fft = 1 << int(math.ceil(math.log2(n + rest)))
        lags = torch.arange(self.max_shift, self.max_shift - num_shifts, -1, device=flux.device)  # t = m - s

        def correlate(data_fft: torch.Tensor, template_fft: torch.Tensor) -> torch.Tensor:
            # sum_i data[i] template[i + t], for the lags of the shifts asked for
            return torch.fft.irfft(data_fft.conj() * template_fft, n=n_fft)[..., lags]

        pair_i, pair_j = torch.triu_indices(k, k, device=flux.device)
        template_fft = torch.fft.rfft(templates, n=n_fft)
        pair_fft = torch.fft.rfft(templates[pair_i] * templates[pair_j], n=n_fft)
        w_fft = torch.fft.rfft(ivar, n=n_fft)  # (B, F)
        wf_fft = torch.fft.rfft(ivar * flux, n=n_fft)
        wp_fft = torch.fft.rfft(ivar[:, None, :] * poly[None], n=n_fft)  # (B, Q, F)

        size = k + q
        a = flux.new_zeros(batch, num_shifts, size, size)
        tt = correlate(w_fft[:, None], pair_fft[None]).permute(0, 2, 1)  # (B, S, pairs)
        a[:, :, pair_i, pair_j] = tt
        a[:, :, pair_j, pair_i] = tt
        tp = correlate(wp_fft[:, :, None], template_fft[None, None]).permute(0, 3, 2, 1)  # (B, S, K, Q)
        a[:, :, :k, k:] = tp
        a[:, :, k:, :k] = tp.transpose(-1, -2)
        a[:, :, k:, k:] = torch.einsum("bn,pn,qn->bpq", ivar, poly, poly)[:, None]
        b = flux.new_zeros(batch, num_shifts, size)
        b[:, :, :k] = correlate(wf_fft[:, None], template_fft[None]).permute(0, 2, 1)
        b[:, :, k:] = torch.einsum("bn,pn->bp", ivar * flux, poly)[:, None]
        # a template that misses the observed range at a shift has a zero row: a small ridge keeps A invertible
        diagonal = a.diagonal(dim1=-2, dim2=-1)
        ridge = 1e-9 * diagonal.amax(-1, keepdim=True).clamp_min(1e-30) + 1e-30
        a = a + torch.diag_embed(ridge.expand_as(diagonal))
        coefficients = torch.linalg.solve(a, b)
        if num_nonnegative:
            coefficients = self._drop_negative_lines(a, b, coefficients, range(k - num_nonnegative, k))
        total = (ivar * flux**2).sum(-1, keepdim=True)
        return total - (b * coefficients).sum(-1)

    @staticmethod
    def _drop_negative_lines(a: torch.Tensor, b: torch.Tensor, coefficients: torch.Tensor, lines: range,
                             rounds: int = 4) -> torch.Tensor:
        """Least squares with the ``lines`` coefficients >= 0, by an active set without re-entry: each round
        drops the lines fitted negative (their rows and columns become the identity, their right-hand side 0)
        and solves again. Emission cannot be negative; without this, noise dips fit as "absorption lines" and
        lower chi2 at wrong redshifts, most at low S/N. With every coefficient of the solution kept, b . c is
        still the chi2 reduction of the constrained fit."""
        size = a.shape[-1]
        active = torch.ones(coefficients.shape, dtype=torch.bool, device=a.device)
        is_line = torch.zeros(size, dtype=torch.bool, device=a.device)
        is_line[lines.start:lines.stop] = True
        eye = torch.eye(size, dtype=a.dtype, device=a.device)
        for _ in range(rounds):
            negative = (coefficients < 0) & is_line  # dropped lines solve to exactly 0
            if not negative.any():
                break
            active = active & ~negative
            pair = active[..., :, None] & active[..., None, :]
            inactive = (~active).to(a.dtype)
            coefficients = torch.linalg.solve(a * pair + eye * inactive[..., None], b * active)
        return coefficients * active

    def forward(self, inputs, chunk_size: int = 8) -> RedshiftScan:
        settings = self.config.head_config
        flux, ivar = self.observed_pixels(inputs)
        galaxy, qso = [], []
        for start in range(0, flux.shape[0], chunk_size):
            f, w = flux[start:start + chunk_size], ivar[start:start + chunk_size]
            galaxy.append(self.chi2(f, w, self.galaxy_templates, settings.scan_galaxy_shifts,
                                    settings.scan_galaxy_emission_templates))
            qso.append(self.chi2(f, w, self.qso_templates, settings.scan_qso_shifts))
        good = (ivar > 0).sum(-1)
        parameters = self.galaxy_templates.shape[0] + settings.scan_polynomial_degree + 1
        dof = (good - parameters).clamp_min(1).double()
        return RedshiftScan(torch.cat(galaxy), torch.cat(qso), dof, good >= settings.scan_min_pixels)


@dataclass
class RedshiftPosterior:
    """The scan turned into a redshift: ``redshift`` (B,), the highest peak, and ``sigma`` (B,), its width widened by
    the spread of the posterior mass outside it; the posterior ``pdf`` (B, S) per grid
    pixel on ``grid`` (S,), ``peak_probability`` (B,) (the share of the posterior in the chosen peak; low means
    several solutions), ``delta_chi2`` (B,; spectrum scans): how much worse the best fit away from the reported
    redshift is (`delta_chi2`; small means the data hardly prefer it), ``is_qso`` (B,) and ``qso_score`` (B,):
    galaxy-fit minus QSO-fit chi2 over the reduced chi2 (large: not a normal galaxy)."""

    redshift: torch.Tensor
    sigma: torch.Tensor
    pdf: torch.Tensor
    grid: torch.Tensor
    peak_probability: torch.Tensor
    is_qso: torch.Tensor
    qso_score: torch.Tensor
    delta_chi2: torch.Tensor | None = None


def _peak(log_post: torch.Tensor, floor_pixels: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(position, sigma) in pixels of the highest peak: a parabola through its three pixels, sigma from its
    curvature with ``floor_pixels`` added in quadrature (the grid step and template mismatch). A maximum on the
    grid's first or last pixel is no peak (the posterior still rises past the edge): it stays where it is and
    sigma is the posterior's spread about it."""
    s = log_post.shape[-1]
    best = log_post.argmax(-1)
    centre = best.clamp(1, s - 2)
    rows = torch.arange(log_post.shape[0], device=log_post.device)
    left, mid, right = log_post[rows, centre - 1], log_post[rows, centre], log_post[rows, centre + 1]
    curvature = (left - 2 * mid + right).clamp_max(-1e-12)
    offset = (0.5 * (left - right) / curvature).clamp(-1.0, 1.0)
    inside = best == centre
    position = torch.where(inside, centre.double() + offset, best.double())
    pixels = torch.arange(s, device=log_post.device, dtype=torch.float64)
    spread = (torch.softmax(log_post.double(), -1) * (pixels[None] - position[:, None]) ** 2).sum(-1)
    sigma = torch.sqrt(torch.where(inside, 1.0 / -curvature.double(), spread) + floor_pixels**2)
    return position, sigma


def grid_summary(log_post: torch.Tensor, grid: torch.Tensor, log_step: float, floor_pixels: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(redshift, sigma, pdf, peak_probability) of a log posterior (B, S) on ``grid`` (z_s = 10^(s log_step) - 1):
    the highest peak, its width widened by the spread of the mass outside it, the normalised pdf per pixel and
    the share of the mass in the peak."""
    position, sigma_px = _peak(log_post, floor_pixels)
    pdf = torch.softmax(log_post, -1)
    pixels = torch.arange(grid.numel(), device=grid.device, dtype=torch.float64)
    near = (pixels[None] - position[:, None]).abs() <= 3 * sigma_px[:, None] + 1
    redshift = torch.pow(10.0, position * log_step) - 1
    sigma = LOG10 * log_step * (1 + redshift) * sigma_px
    # the posterior mass outside the reported peak widens sigma by its spread about the reported redshift
    # (the second moment), so data with other plausible solutions are never quoted as precise
    elsewhere = (pdf * ~near * (grid[None] - redshift[:, None]) ** 2).sum(-1)
    return redshift, torch.sqrt(sigma**2 + elsewhere), pdf, (pdf * near).sum(-1)


def delta_chi2(log_likelihood: torch.Tensor, log_post: torch.Tensor, log_step: float, floor_pixels: float,
               window_kms: float) -> torch.Tensor:
    """(B,) chi2 of a spectrum's best fit outside the reported peak of ``log_post`` minus that of the best fit
    inside it, from the (B, S) log likelihood on the same grid (z_s = 10^(s log_step) - 1): the pipelines'
    DELTACHI2 (redrock and idlspec2d flag a value below 9, ZWARN SMALL_DELTA_CHI2). "Outside" is at least
    ``window_kms`` and 3 peak sigmas away. The likelihood alone, not the prior: what the data decide; negative
    where the prior moved the answer off the likelihood's best fit. (A photometric fit's peak is broad, so this
    measure says nothing there: its pdf and peak probability do.)"""
    position, sigma_px = _peak(log_post, floor_pixels)
    window_px = window_kms / SPEED_OF_LIGHT_KMS / (LOG10 * log_step)
    pixels = torch.arange(log_post.shape[-1], device=log_post.device, dtype=torch.float64)
    near = (pixels[None] - position[:, None]).abs() <= torch.clamp_min(3 * sigma_px + 1, window_px)[:, None]
    inside = torch.where(near, log_likelihood, -torch.inf).amax(-1)
    outside = torch.where(near, -torch.inf, log_likelihood).amax(-1)
    return torch.where(torch.isfinite(outside), 2 * (inside - outside), torch.inf)


def gaussian_prior(grid: torch.Tensor, log_step: float, mean: torch.Tensor, std: torch.Tensor,
                   outlier_fraction: float) -> torch.Tensor:
    """(B, S) prior probability per grid pixel: a Gaussian in z (``mean``, ``std`` per galaxy) mixed with a flat
    share ``outlier_fraction``, so a wrong prior can never outvote clear data."""
    width = LOG10 * log_step * (1 + grid)  # dz per pixel
    mean, std = mean.double()[:, None], std.double().clamp_min(1e-4)[:, None]
    gaussian = torch.exp(-0.5 * ((grid[None] - mean) / std) ** 2) * width[None]
    gaussian = gaussian / gaussian.sum(-1, keepdim=True).clamp_min(1e-300)
    return (1 - outlier_fraction) * gaussian + outlier_fraction / grid.numel()


def redshift_posterior(scan: RedshiftScan, prior_mean: torch.Tensor, prior_std: torch.Tensor,
                       config: GalFMConfig) -> RedshiftPosterior:
    """Galaxy posterior = scan likelihood x (the encoder's Gaussian redshift, mixed with a flat share
    ``scan_prior_outlier_fraction`` so a wrong prior can never outvote a clear spectrum); QSOs, classed by the
    chi2 difference, take the QSO scan with a flat prior."""
    settings = config.head_config
    step = settings.scan_log_step
    galaxy_grid = shift_redshifts(settings.scan_galaxy_shifts, step, scan.galaxy_chi2.device)
    qso_grid = shift_redshifts(settings.scan_qso_shifts, step, scan.qso_chi2.device)

    gal_min = scan.galaxy_chi2.amin(-1)
    reduced = (gal_min / scan.dof).clamp_min(1.0)
    qso_score = (gal_min - scan.qso_chi2.amin(-1)) / reduced
    is_qso = qso_score > settings.scan_qso_delta_chi2

    def log_likelihood(chi2: torch.Tensor) -> torch.Tensor:
        chi2_min = chi2.amin(-1, keepdim=True)
        scale = (chi2_min / scan.dof[:, None]).clamp_min(1.0)
        return -(chi2 - chi2_min) / (2 * scale)

    prior = gaussian_prior(galaxy_grid, step, prior_mean, prior_std, settings.scan_prior_outlier_fraction)
    galaxy_log_post = log_likelihood(scan.galaxy_chi2) + prior.log()
    qso_log_post = log_likelihood(scan.qso_chi2)

    gz, gs, gpdf, gpeak = grid_summary(galaxy_log_post, galaxy_grid, step, settings.scan_sigma_floor_pixels)
    qz, qs, qpdf, qpeak = grid_summary(qso_log_post, qso_grid, step, settings.scan_qso_sigma_floor_pixels)
    window = settings.scan_delta_chi2_window_kms
    galaxy_delta = delta_chi2(log_likelihood(scan.galaxy_chi2), galaxy_log_post, step,
                              settings.scan_sigma_floor_pixels, window)
    qso_delta = delta_chi2(qso_log_post, qso_log_post, step, settings.scan_qso_sigma_floor_pixels, window)
    pdf = torch.zeros(gpdf.shape[0], qso_grid.numel(), dtype=gpdf.dtype, device=gpdf.device)
    pdf[:, :galaxy_grid.numel()] = gpdf
    pdf = torch.where(is_qso[:, None], qpdf, pdf)
    return RedshiftPosterior(
        redshift=torch.where(is_qso, qz, gz), sigma=torch.where(is_qso, qs, gs), pdf=pdf, grid=qso_grid,
        peak_probability=torch.where(is_qso, qpeak, gpeak), delta_chi2=torch.where(is_qso, qso_delta, galaxy_delta),
        is_qso=is_qso, qso_score=qso_score,
    )


__all__ = ["GalFMRedshiftScan", "RedshiftPosterior", "RedshiftScan", "delta_chi2", "gaussian_prior", "grid_summary",
           "legendre_basis", "redshift_posterior", "shift_redshifts"]
