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

