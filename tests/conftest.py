"""Shared fixtures: a tokenizer, a tiny model, real and synthetic galaxy records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def processor():
    from galfm import GalFMProcessor

    return GalFMProcessor()


@pytest.fixture()
def tiny_model():
    from galfm import GalFMConfig, GalFMModel

    torch.manual_seed(0)
    return GalFMModel(GalFMConfig.from_preset("tiny")).eval()


def synthetic_galaxy(seed: int = 0, object_id: str = "synthetic-0", spectrum=True, photometry=True, image=True,
                     properties=True) -> dict:
    """A record with every modality: a red continuum with Halpha, ugriz + J-PAS bands, a grz Sersic-like blob."""
    rng = np.random.default_rng(seed)
    record = {"object_id": object_id, "survey": "test", "ra": 150.0, "dec": 2.0,
              "spectrum": None, "photometry": None, "image": None, "properties": None}
    if spectrum:
        wave = np.arange(3600.0, 9800.0, 0.8)
        flux = 2.0 + wave / 5000.0 + 30 * np.exp(-0.5 * ((wave - 7000.0) / 3.0) ** 2)
        ivar = np.full(wave.size, 4.0)
        record["spectrum"] = {"wavelength": wave, "flux": flux + rng.normal(0, 0.5, wave.size), "ivar": ivar,
                              "mask": np.zeros(wave.size, bool)}
    if photometry:
        bands = ["sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z", "jpas_J0400", "jpas_J0500", "galex_nuv"]
        flux = np.array([2.0, 6.0, 10.0, 13.0, 15.0, 4.0, 7.0, 0.3]) * (1 + 0.05 * rng.normal(size=len(bands)))
        record["photometry"] = {"band": bands, "flux": flux, "flux_ivar": np.full(len(bands), 100.0)}
    if image:
        yy, xx = np.mgrid[:32, :32] - 15.5
        blob = np.exp(-np.hypot(xx, yy) / 3.0)
        flux = np.stack([blob * s for s in (0.5, 1.0, 1.4)]) + rng.normal(0, 0.01, (3, 32, 32))
        record["image"] = {"band": ["decam_g", "decam_r", "decam_z"], "flux": flux,
                           "ivar": np.full((3, 32, 32), 1e4), "pixel_scale": 0.262, "psf_fwhm": [1.3, 1.2, 1.1]}
    if properties:
        record["properties"] = {"redshift": 0.07, "log_mstar": 10.3, "flux_halpha": 120.0,
                                "sfh": np.full(16, 1 / 16)}
    return record


@pytest.fixture()
def galaxy() -> dict:
    return synthetic_galaxy()


def diverse_galaxy(i: int, **kwargs) -> dict:
    """``synthetic_galaxy`` made distinct: brightness, colour and the Halpha line move with ``i``."""
    record = synthetic_galaxy(i, object_id=f"g{i:02d}", **kwargs)
    scale, tilt = 10 ** (0.4 * (i % 7)), 2.0 * ((i * 5) % 11) / 11 - 1.0
    if record["spectrum"] is not None:
        wave = record["spectrum"]["wavelength"]
        line = 30 * np.exp(-0.5 * ((wave - (6600.0 + 37.0 * (i % 13))) / 3.0) ** 2)
        record["spectrum"]["flux"] = scale * ((2.0 + wave / 5000.0) * (wave / 6000.0) ** tilt + line)
    if record["photometry"] is not None:
        record["photometry"]["flux"] = record["photometry"]["flux"] * scale * (1 + tilt * np.linspace(-1, 1, 8))
    if record["image"] is not None:
        record["image"]["flux"] = record["image"]["flux"] * scale
    return record



MANGA_PLATEIFU = "8485-1901"


def write_manga_cube(folder: Path, source_spectrum: Path, ebv: float = 0.05, size: int = 15) -> Path:
    """A MaNGA DRP LOGCUBE by the SDSS DR17 data model (FLUX/IVAR/MASK/WAVE/LSFPOST, 0.5" spaxels, vacuum
    log-uniform WAVE from 3621.6 A in steps of 1e-4 dex, BUNIT '1E-17 erg/s/cm^2/Ang/spaxel', observed fluxes
    with EBVGAL in the primary header) and its drpall catalogue, made from a real SDSS spectrum: the galaxy is an
    exponential disc whose light inside the 1.5"-radius aperture (an SDSS fibre) is that spectrum."""
    from astropy.io import fits

    with fits.open(source_spectrum) as hdus:
        coadd, meta = hdus["COADD"].data, hdus["SPECOBJ"].data[0]
        sdss_wave = 10.0 ** coadd["loglam"].astype(float)
        good = (coadd["ivar"] > 0) & (coadd["and_mask"] == 0)
        flux, ivar, wdisp = (coadd[k].astype(float) for k in ("flux", "ivar", "wdisp"))
        z, ra, dec = float(meta["Z"]), float(meta["PLUG_RA"]), float(meta["PLUG_DEC"])
    wave = 10.0 ** (3.5589 + 1e-4 * np.arange(4563))
    covered = (wave > sdss_wave[good][0]) & (wave < sdss_wave[good][-1])
    spectrum = np.interp(wave, sdss_wave[good], flux[good]) * covered
    spectrum_ivar = np.interp(wave, sdss_wave[good], ivar[good]) * covered
    sigma = np.interp(wave, sdss_wave, wdisp * 1e-4 * np.log(10) * sdss_wave)
    yy, xx = np.mgrid[:size, :size]
    radius = np.hypot(yy - size // 2, xx - size // 2) * 0.5
    weight = np.exp(-radius / 1.2)
    weight /= weight[radius <= 1.5].sum()
    cube = (spectrum[:, None, None] * weight).astype(np.float32)
    cube_ivar = (spectrum_ivar[:, None, None] / weight**2).astype(np.float32)
    mask = np.where(covered, 0, 1 << 10)[:, None, None] * np.ones((1, size, size), dtype=np.int32)
    mask[:, 0, 0] |= 1  # a corner spaxel without coverage (NOCOV)
    lsf = np.broadcast_to(sigma[:, None, None], cube.shape).astype(np.float32)

    primary = fits.PrimaryHDU()
    primary.header.update({"PLATEIFU": MANGA_PLATEIFU, "MANGAID": "1-209232", "OBJRA": ra, "OBJDEC": dec,
                           "IFURA": ra, "IFUDEC": dec, "EBVGAL": ebv, "MNGTARG1": 2080})
    wcs = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": ra, "CRVAL2": dec, "CRPIX1": size // 2 + 1,
           "CRPIX2": size // 2 + 1, "CD1_1": -0.5 / 3600, "CD2_2": 0.5 / 3600, "CUNIT1": "deg", "CUNIT2": "deg",
           "CTYPE3": "WAVE-LOG", "CRVAL3": wave[0], "CD3_3": wave[0] * 1e-4 * np.log(10), "CRPIX3": 1.0,
           "CUNIT3": "Angstrom"}
    flux_hdu = fits.ImageHDU(cube, name="FLUX")
    flux_hdu.header.update({**wcs, "BUNIT": "1E-17 erg/s/cm^2/Ang/spaxel"})
    hdus = fits.HDUList([primary, flux_hdu, fits.ImageHDU(cube_ivar, name="IVAR"),
                         fits.ImageHDU(mask, name="MASK"), fits.ImageHDU(wave, name="WAVE"),
                         fits.ImageHDU(lsf, name="LSFPOST")])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"manga-{MANGA_PLATEIFU}-LOGCUBE.fits.gz"
    hdus.writeto(path, overwrite=True)
    drpall = fits.BinTableHDU.from_columns([fits.Column("PLATEIFU", "12A", array=[MANGA_PLATEIFU, "7443-12703"]),
                                            fits.Column("NSA_Z", "D", array=[z, 0.0283])], name="MANGA")
    fits.HDUList([fits.PrimaryHDU(), drpall]).writeto(folder / "drpall-v3_1_1.fits", overwrite=True)
    return path


@pytest.fixture(scope="session")
def manga_cube(tmp_path_factory) -> Path:
    """A MaNGA cube (and drpall) made from the real SDSS spectrum spec-0266-51602-0013 (z = 0.1213)."""
    return write_manga_cube(tmp_path_factory.mktemp("manga"), DATA / "sdss" / "spec-0266-51602-0013.fits")
