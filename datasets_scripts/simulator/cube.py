"""A MUSE cube of one simulated galaxy with known radial gradients of stellar age and metallicity.

The check an SFH map needs: the galaxy's rest-frame physics (``sed``) in rings, old and metal-rich at the centre,
younger and metal-poorer outwards (as in CALIFA/MaNGA discs, e.g. Sanchez-Blazquez et al. 2014), seen through
the MUSE spectrograph (``instruments.SPECTROGRAPHS["muse"]``: its wavelength grid and LSF) at a chosen S/N per
spaxel. The file has the ESO pipeline's layout (DATA, STAT in 1e-20 erg/s/cm2/A, a celestial and spectral WCS)
so ``galfm sfh-map`` reads it like a real cube, seen through the Milky Way's dust at its sky position (SFD, as
the readers correct it: `galfm.datasets_scripts.galactic_extinction`), plus the truth maps LOG_AGE_MW (log10
Gyr), LOG_Z and the stellar mass per spaxel (MASS).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.cosmology import Planck18
from astropy.io import fits
from astropy.wcs import WCS

from galfm.properties_galfm import mass_weighted_log_age

from ..galactic_extinction import sfd_ebv, spectrum_transmission
from .instruments import SPECTROGRAPHS
from .priors import delayed_tau_bin_sfr
from .sed import GalaxyParameters
from .stellar_populations import mass_weighted_log_z
from .survey import sed_model

MUSE_PIXEL_ARCSEC = 0.2


def ring_parameters(radius: np.ndarray, redshift: float) -> tuple[GalaxyParameters, np.ndarray, np.ndarray]:
    """Stellar populations of rings at ``radius`` (units of the disc scale length): (parameters of 1e10 Msun
    formed, log10 mass-weighted age in Gyr (``mass_weighted_log_age``, the rule the SFH head is scored by),
    mass-weighted log Z/Zsun). Inside-out growth: the star formation starts
    later and lasts longer outwards; the metallicity falls by 0.25 dex per scale length from +0.15."""
    radius = np.asarray(radius, dtype=float)
    t_univ = np.full(radius.size, Planck18.age(redshift).to_value("yr"))
    t_start = np.clip(0.5e9 + 1.6e9 * radius, 0, t_univ - 1e9)
    tau = 0.8e9 * (1.0 + 1.2 * radius)
    sfr = delayed_tau_bin_sfr(t_univ, tau, t_start)
    mass = 1e10 * sfr / sfr.sum(axis=1, keepdims=True)
    log_z_value = 0.15 - 0.25 * radius
    log_z = np.repeat(log_z_value[:, None], mass.shape[1], axis=1)
    n = radius.size
    params = GalaxyParameters(redshift=np.full(n, redshift), mass_formed=mass, log_z=log_z, av=np.full(n, 0.2),
                              eta=np.full(n, 2.0), log_u=np.full(n, -3.0), vdisp=np.full(n, 80.0))
    return params, mass_weighted_log_age(mass), mass_weighted_log_z(mass, log_z)


CUBE_RADEC = (150.0, 2.0)  # degrees: the COSMOS field, E(B-V)_SFD ~ 0.02


def simulate_cube(path: str | Path, size: int = 24, redshift: float = 0.02, scale_length_spaxels: float = 4.0,
                  central_snr: float = 8.0, rings: int = 12, seed: int = 0) -> Path:
    """Write a MUSE-format cube of ``size`` x ``size`` spaxels (0.2") of an exponential disc whose central spaxel
    has a median S/N per pixel of ``central_snr`` (falling as exp(-r) outwards); the noise has MUSE's spectral
    shape and is the same in every spaxel, as for a sky-dominated exposure. Fluxes are arbitrary (S/N is what
    matters); MASS is in the same arbitrary scale."""
    rng = np.random.default_rng(seed)
    muse = SPECTROGRAPHS["muse"]
    model = sed_model(Planck18)
    ring_radius = (np.arange(rings) + 0.5) * (3.0 / rings)  # 0-3 scale lengths
    params, age_ring, log_z_ring = ring_parameters(ring_radius, redshift)
    sed = model.rest_frame(params)
    spectra = muse.observe_noiseless(sed, params.vdisp, model.grid.edges).astype(float)  # per 1e10 Msun formed
    per_unit_light = 1.0 / np.median(spectra, axis=1)  # mass formed (x 1e10 Msun) per unit median flux
    yy, xx = np.mgrid[:size, :size]
    centre = (size - 1) / 2
    radius = np.hypot(yy - centre, xx - centre) / scale_length_spaxels
    ring = np.clip(np.floor(radius / (3.0 / rings)).astype(int), 0, rings - 1)
    light = np.exp(-radius)  # median flux per spaxel, an exponential disc; 1 at the centre
    clean = spectra[ring] * (per_unit_light[ring] * light)[..., None]  # (y, x, wavelength)
    clean *= spectrum_transmission(muse.wavelength, float(sfd_ebv(*CUBE_RADEC)))  # the sky's own foreground dust
    sigma = muse.noise_sigma() / np.median(muse.noise_sigma()) / central_snr
    noisy = clean + rng.standard_normal(clean.shape) * sigma
    mass = sed.stellar_mass[ring] * per_unit_light[ring] * light

    wcs = WCS(naxis=3)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN", "WAVE"]
    wcs.wcs.crval = [*CUBE_RADEC, muse.wavelength[0]]
    wcs.wcs.crpix = [centre + 1, centre + 1, 1]
    wcs.wcs.cdelt = [-MUSE_PIXEL_ARCSEC / 3600, MUSE_PIXEL_ARCSEC / 3600, float(np.diff(muse.wavelength)[0])]
    wcs.wcs.cunit = ["deg", "deg", "Angstrom"]
    header = wcs.to_header()
    header["BUNIT"] = "10**(-20)*erg/s/cm**2/Angstrom"
    to_muse = 1e-17 / 1e-20
    celestial = wcs.celestial.to_header()
    hdus = [fits.PrimaryHDU(),
            fits.ImageHDU(np.moveaxis(noisy, -1, 0).astype(np.float32) * to_muse, header, name="DATA"),
            fits.ImageHDU(np.broadcast_to((sigma * to_muse) ** 2, noisy.shape).transpose(2, 0, 1).astype(np.float32),
                          header, name="STAT"),
            fits.ImageHDU(age_ring[ring].astype(np.float32), celestial, name="LOG_AGE_MW"),
            fits.ImageHDU(log_z_ring[ring].astype(np.float32), celestial, name="LOG_Z"),
            fits.ImageHDU(mass.astype(np.float32), celestial, name="MASS")]
    hdus[0].header["REDSHIFT"] = (redshift, "of the simulated galaxy")
    hdus[0].header["COMMENT"] = "galfm simulated cube: LOG_AGE_MW (log10 Gyr), LOG_Z (log Z/Zsun), MASS: the truth"
    path = Path(path)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path
