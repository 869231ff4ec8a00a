"""Galaxy images with GalSim: a de Vaucouleurs bulge plus an inclined exponential disk, seen through a PSF.

Fluxes are the galaxy's noiseless photometry in each band (nanomaggies), split by the bulge-to-total ratio,
so images and catalogue photometry agree. Bulge and disk share one SED (their colours are not separated: a
simplification). The bulge half-light radius is half the disk's, which is set so the total has the galaxy's
half-light radius only approximately (documented, not solved for). Mergers add a second, shifted galaxy.
"""

from __future__ import annotations

import galsim
import numpy as np

from .instruments import ImagingSurvey


def render_images(survey: ImagingSurvey, band_flux_nmgy: np.ndarray, r_eff_arcsec: float, bulge_to_total: float,
                  disk_axis_ratio: float, bulge_axis_ratio: float, position_angle_deg: float,
                  companion: tuple[float, float, float] | None = None, psf_scale: float = 1.0) -> np.ndarray:
    """Noiseless images (bands, size, size) in nanomaggies per pixel.

    ``companion`` = (flux ratio, dx, dy in arcsec) draws a second copy of the galaxy for a merger.
    """
    beta = galsim.Angle(position_angle_deg, galsim.degrees)
    disk = galsim.Exponential(half_light_radius=max(r_eff_arcsec, 0.02)).shear(q=disk_axis_ratio, beta=beta)
    bulge = galsim.DeVaucouleurs(half_light_radius=max(0.5 * r_eff_arcsec, 0.02), trunc=0)
    bulge = bulge.shear(q=bulge_axis_ratio, beta=beta)
    profile = (1 - bulge_to_total) * disk + bulge_to_total * bulge
    if companion is not None:
        ratio, dx, dy = companion
        profile = profile + ratio * profile.rotate(90 * galsim.degrees).shift(dx, dy)
    params = galsim.GSParams(folding_threshold=1e-2, maximum_fft_size=4096)
    images = np.zeros((len(survey.bands), survey.size, survey.size), dtype=np.float32)
    for b, fwhm in enumerate(survey.psf_fwhm):
        if survey.psf_kind == "moffat":
            psf = galsim.Moffat(beta=3.5, fwhm=fwhm * psf_scale)
        else:
            psf = galsim.Gaussian(fwhm=fwhm * psf_scale)
        total = profile.withFlux(1.0)
        final = galsim.Convolve([total, psf], gsparams=params)
        drawn = final.drawImage(nx=survey.size, ny=survey.size, scale=survey.pixel_scale)
        images[b] = drawn.array * float(band_flux_nmgy[b]) * (1.0 + (companion[0] if companion else 0.0))
    return images
