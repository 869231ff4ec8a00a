"""Instruments: each survey is one object holding its wavelength grid, resolution and noise model.

The galaxy's physics (``sed.py``) knows nothing of these; an instrument takes rest-frame spectra and returns
what that survey would record, in the units of the galaxy record.

Spectrographs (resolution, sampling; noise scales the real DESI noise spectrum of ``sky_noise.py``; a fibre
collects only part of a galaxy's light, ``Spectrograph.aperture_fraction``):
  desi    3600-9824 A, 0.8 A pixels, LSF FWHM 1.8 A (R ~ 2000-5500), 1000 s effective dark time, 1.5" fibres
  sdss    3800-9200 A, log10 step 1e-4 (69 km/s), LSF sigma 69 km/s, noise x1.5 of DESI at 1000 s, 3" fibres
  euclid  NISP red grism 12000-19000 A, 13.4 A pixels, R = 450, flat (zodiacal) noise 0.2e-17 per pixel
  muse    4750-9350 A, 1.25 A pixels, LSF FWHM 2.6 A, noise x0.7 of DESI at 1000 s (1 h, 1" aperture)
The intrinsic resolution of the templates (MILES, 2.5 A FWHM) is not deconvolved: lines come out slightly
broader than the nominal LSF, as in a real fit with these templates.

Photometric depths (5 sigma, AB, point source, applied to total fluxes):
  jpas          54 narrow bands + uJAVA/uJPAS 22.0, J1007 21.0, gSDSS/rSDSS/iSDSS 23.0 (miniJPAS,
                Bonoli et al. 2021)
  galex         MIS: FUV 22.6, NUV 22.7 (Bianchi et al. 2014)
  legacysurvey  DECam g 24.0, r 23.4, z 22.5 (Dey et al. 2019); unWISE W1 20.7, W2 20.0
  sdss          u 22.0, g 22.2, r 22.2, i 21.3, z 20.5 (95% completeness, York et al. 2000); fibre fluxes, as
                the only SDSS ugriz galfm reads are the spec files' CALIBFLUX (imaging flux in the 3" fibre)
  euclid        VIS 26.2, Y/J/H 24.3 (Euclid Wide, Euclid Collaboration: Scaramella et al. 2022)
  phangs_hst    WFC3/UVIS F275W 24.5, F336W 24.8, F438W 25.3, F555W 25.8, F814W 25.2 (approximate depths of the
                PHANGS-HST exposures, Lee et al. 2022, ApJS 258, 10); curves from sedpy (F438W synthesised)
Images (GalSim, see ``imaging.py``): legacysurvey g/r/z at 0.262"/px, Moffat PSF FWHM 1.5/1.3/1.2";
euclid VIS at 0.1"/px, PSF FWHM 0.17".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.ndimage import gaussian_filter1d

from galfm.filters_galfm import JPAS_BANDS

from .sed import RestFrameSED, observed_flux_density
from .sky_noise import desi_noise_curve

C_KMS = 299792.458
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
DESI_EFFECTIVE_TIME_S = 1000.0


@dataclass
class Spectrograph:
    """Wavelength grid, line-spread function and noise of a spectroscopic survey.

    ``lsf_fwhm_angstrom`` (constant in wavelength) or ``lsf_sigma_kms`` (constant in velocity); noise is
    ``noise_scale`` x the DESI noise spectrum (or a flat ``flat_sigma`` in 1e-17 units).
    """

    name: str
    wavelength: np.ndarray
    lsf_fwhm_angstrom: float | None = None
    lsf_sigma_kms: float | None = None
    noise_scale: float = 1.0
    flat_sigma: float | None = None
    bad_pixel_fraction: float = 1e-3
    aperture_radius_arcsec: float | None = None
    seeing_fwhm_arcsec: float = 1.2

    def aperture_fraction(self, r_eff_arcsec: np.ndarray) -> np.ndarray:
        """Share of a galaxy's light the fibre collects (1 for a slitless or integrated spectrum).

        The galaxy seen through the seeing is approximated by a circular Gaussian of variance
        (r_eff / 1.1774)^2 + (FWHM / 2.3548)^2 (1.1774 sigma is a Gaussian's half-light radius); a fibre of radius R
        collects 1 - exp(-R^2 / 2 variance). A z ~ 0.1 SDSS galaxy (r_eff ~ 3") puts ~ 1/3 of its light in the 3"
        fibre, as real ones do.
        """
        r_eff = np.asarray(r_eff_arcsec, dtype=float)
        if self.aperture_radius_arcsec is None:
            return np.ones_like(r_eff)
        variance = (r_eff / 1.1774) ** 2 + (self.seeing_fwhm_arcsec * FWHM_TO_SIGMA) ** 2
        return 1.0 - np.exp(-0.5 * self.aperture_radius_arcsec**2 / variance)

    @cached_property
    def edges(self) -> np.ndarray:
        w = self.wavelength
        mid = 0.5 * (w[1:] + w[:-1])
        return np.concatenate([[w[0] - (mid[0] - w[0])], mid, [w[-1] + (w[-1] - mid[-1])]])

    def noise_sigma(self) -> np.ndarray:
        """Per-pixel noise, 1e-17 erg/s/cm^2/A (computed once per instrument)."""
        return self._noise_sigma

    @cached_property
    def _noise_sigma(self) -> np.ndarray:
        if self.flat_sigma is not None:
            return np.full(self.wavelength.shape, self.flat_sigma)
        wave, sigma, exptime = desi_noise_curve()
        sigma = sigma * np.sqrt(exptime / DESI_EFFECTIVE_TIME_S) * self.noise_scale
        # outside DESI's range (never for these grids) hold the edge value; per-Angstrom noise rescaled to pixels
        sigma = np.interp(self.wavelength, wave, sigma)
        return sigma * np.sqrt(0.8 / np.gradient(self.wavelength))

    def lsf_sigma_angstrom(self) -> np.ndarray:
        """Gaussian LSF sigma per pixel, Angstrom (computed once per instrument)."""
        return self._lsf_sigma

    @cached_property
    def _lsf_sigma(self) -> np.ndarray:
        if self.lsf_fwhm_angstrom is not None:
            return np.full(self.wavelength.shape, self.lsf_fwhm_angstrom * FWHM_TO_SIGMA)
        return self.wavelength * self.lsf_sigma_kms / C_KMS

    def observe_noiseless(self, sed: RestFrameSED, vdisp_kms: np.ndarray, rest_edges: np.ndarray) -> np.ndarray:
        """Noiseless spectra (G, pixels) in 1e-17 erg/s/cm^2/A: velocity dispersion, redshift, resolution."""
        log_step = np.log10(rest_edges[1] / rest_edges[0])
        pixel_kms = C_KMS * np.log(10) * log_step
        sigma_kms = np.asarray(vdisp_kms, dtype=float) ** 2
        if self.lsf_sigma_kms is not None:
            sigma_kms = sigma_kms + self.lsf_sigma_kms**2
        sigma_px = np.sqrt(sigma_kms) / pixel_kms
        broadened = _gaussian_broaden_log(sed, sigma_px, self.edges, log_step, rest_edges)
        flux = observed_flux_density(broadened, sed.redshift, sed.luminosity_distance_cm, self.edges,
                                     rest_edges) * 1e17
        if self.lsf_fwhm_angstrom is not None:
            pixel = float(np.median(np.diff(self.wavelength)))
            flux = gaussian_filter1d(flux, self.lsf_fwhm_angstrom * FWHM_TO_SIGMA / pixel, axis=1, mode="nearest")
        return flux.astype(np.float32)

    def add_noise(self, flux: np.ndarray, rng: np.random.Generator, noise_factor: float | np.ndarray = 1.0):
        """(noisy flux, ivar, mask): Gaussian sky-dominated noise, random bad pixels (ivar 0, flux 0);
        ``noise_factor`` scales the noise, one value or one per spectrum (G, 1)."""
        sigma = (self.noise_sigma() * noise_factor).astype(np.float32)
        noisy = flux + rng.standard_normal(flux.shape, dtype=np.float32) * sigma
        ivar = np.broadcast_to(1.0 / sigma**2, flux.shape).astype(np.float32).copy()
        mask = rng.random(flux.shape, dtype=np.float32) < self.bad_pixel_fraction
        noisy[mask] = 0.0
        ivar[mask] = 0.0
        return noisy.astype(np.float32), ivar, mask


def _gaussian_broaden_log(sed: RestFrameSED, sigma_px: np.ndarray, observed_edges: np.ndarray, log_step: float,
                          rest_edges: np.ndarray) -> np.ndarray:
    """Rest-frame spectra broadened by a Gaussian of ``sigma_px`` log-pixels (one sigma per galaxy).

    Only the window each galaxy's instrument range needs (the observed range blueshifted by its redshift, plus
    6 sigma) is convolved, by FFT over a window of the same length for every galaxy; pixels outside it are left
    zero, and the instrument never reads them.
    """
    n_gal, n_pix = sed.luminosity.shape
    pad = int(np.ceil(6 * max(float(np.max(sigma_px)), 1.0))) + 2
    lo = np.log10(observed_edges[0]) - np.log10(1 + sed.redshift) - np.log10(rest_edges[0])
    length = min(int(np.ceil(np.log10(observed_edges[-1] / observed_edges[0]) / log_step)) + 2 * pad + 2, n_pix)
    start = np.clip(np.floor(lo / log_step).astype(int) - pad, 0, n_pix - length)
    index = start[:, None] + np.arange(length)[None, :]
    window = np.take_along_axis(sed.luminosity, index, axis=1)
    n_fft = int(2 ** np.ceil(np.log2(length + 2 * pad)))
    transfer = np.exp(-2.0 * (np.pi * np.fft.rfftfreq(n_fft)[None, :] * sigma_px[:, None]) ** 2)
    smoothed = np.fft.irfft(np.fft.rfft(window, n=n_fft, axis=1) * transfer, n=n_fft, axis=1)[:, :length]
    full = np.zeros_like(sed.luminosity)
    np.put_along_axis(full, index, smoothed.astype(full.dtype), axis=1)
    return full


def _log_grid(lo: float, hi: float, step: float) -> np.ndarray:
    return 10 ** np.arange(np.log10(lo), np.log10(hi), step)


SPECTROGRAPHS: dict[str, Spectrograph] = {
    "desi": Spectrograph("desi", np.round(np.arange(3600.0, 9824.0 + 0.4, 0.8), 1), lsf_fwhm_angstrom=1.8,
                         aperture_radius_arcsec=0.75, seeing_fwhm_arcsec=1.1),
    "sdss": Spectrograph("sdss", _log_grid(3800.0, 9200.0, 1e-4), lsf_sigma_kms=69.0, noise_scale=1.5,
                         aperture_radius_arcsec=1.5, seeing_fwhm_arcsec=1.5),
    "euclid": Spectrograph("euclid", np.arange(12000.0, 19000.0 + 1, 13.4), lsf_sigma_kms=C_KMS / 450 * FWHM_TO_SIGMA,
                           flat_sigma=0.2),
    "muse": Spectrograph("muse", np.arange(4750.0, 9350.0 + 0.1, 1.25), lsf_fwhm_angstrom=2.6, noise_scale=0.7,
                         aperture_radius_arcsec=0.5, seeing_fwhm_arcsec=0.8),
}


@dataclass
class PhotometricSurvey:
    """Bands and their 5-sigma AB depths; ``fibre`` names a spectrograph when the fluxes are those of the light
    inside its fibre (``Spectrograph.aperture_fraction``) rather than totals."""

    name: str
    depths: dict[str, float] = field(default_factory=dict)
    fibre: str | None = None

    def aperture_fraction(self, r_eff_arcsec: np.ndarray) -> np.ndarray:
        """(G,) share of each galaxy's light these fluxes measure."""
        if self.fibre is None:
            return np.ones(np.shape(r_eff_arcsec))
        return SPECTROGRAPHS[self.fibre].aperture_fraction(r_eff_arcsec)

    @property
    def bands(self) -> tuple[str, ...]:
        return tuple(self.depths)

    def sigma_nanomaggies(self, depth_offset: float = 0.0) -> np.ndarray:
        m5 = np.array([self.depths[b] for b in self.bands]) - depth_offset
        return 10 ** (-0.4 * (m5 - 22.5)) / 5.0


_JPAS_DEPTHS = {b: (21.0 if b == "jpas_J1007" else 22.0) for b in JPAS_BANDS}
_JPAS_DEPTHS.update({"jpas_gSDSS": 23.0, "jpas_rSDSS": 23.0, "jpas_iSDSS": 23.0})

PHOTOMETRIC_SURVEYS: dict[str, PhotometricSurvey] = {
    "jpas": PhotometricSurvey("jpas", _JPAS_DEPTHS),
    "galex": PhotometricSurvey("galex", {"galex_fuv": 22.6, "galex_nuv": 22.7}),
    "legacysurvey": PhotometricSurvey("legacysurvey", {"decam_g": 24.0, "decam_r": 23.4, "decam_z": 22.5,
                                                       "wise_w1": 20.7, "wise_w2": 20.0}),
    "sdss": PhotometricSurvey("sdss", {"sdss_u": 22.0, "sdss_g": 22.2, "sdss_r": 22.2, "sdss_i": 21.3,
                                       "sdss_z": 20.5}, fibre="sdss"),
    "euclid": PhotometricSurvey("euclid", {"euclid_vis": 26.2, "euclid_y": 24.3, "euclid_j": 24.3,
                                           "euclid_h": 24.3}),
    "phangs_hst": PhotometricSurvey("phangs_hst", {"hst_f275w": 24.5, "hst_f336w": 24.8, "hst_f438w": 25.3,
                                                   "hst_f555w": 25.8, "hst_f814w": 25.2}),
}


@dataclass
class ImagingSurvey:
    """Bands, pixel scale, PSF FWHM per band and 5-sigma point-source depths of an imaging survey."""

    name: str
    bands: tuple[str, ...]
    pixel_scale: float
    psf_fwhm: tuple[float, ...]
    depths: tuple[float, ...]
    size: int = 64
    psf_kind: str = "moffat"

    def pixel_sigma(self, depth_offset: float = 0.0, psf_scale: float = 1.0) -> np.ndarray:
        """Sky noise per pixel (nanomaggies) giving the 5-sigma depth for a Gaussian-PSF point source."""
        f5 = 10 ** (-0.4 * (np.asarray(self.depths) - depth_offset - 22.5))
        psf_sigma_px = np.asarray(self.psf_fwhm) * psf_scale * FWHM_TO_SIGMA / self.pixel_scale
        noise_equivalent_area = 4 * np.pi * psf_sigma_px**2
        return f5 / 5.0 / np.sqrt(noise_equivalent_area)


IMAGING_SURVEYS: dict[str, ImagingSurvey] = {
    "legacysurvey": ImagingSurvey("legacysurvey", ("decam_g", "decam_r", "decam_z"), 0.262, (1.5, 1.3, 1.2),
                                  (24.0, 23.4, 22.5)),
    "euclid": ImagingSurvey("euclid", ("euclid_vis",), 0.1, (0.17,), (26.2,), psf_kind="gaussian"),
}

KNOWN_SURVEYS = ("desi", "sdss", "euclid", "muse", "jpas", "galex", "legacysurvey", "phangs_hst")
