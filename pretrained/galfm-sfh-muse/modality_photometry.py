"""The photometry modality: one token per band, placed by the band's effective wavelength and FWHM.

A band enters the model only through its (lambda_eff, FWHM) from the processor's filter table, so band order
does not matter and a filter the model never saw is a new point on the same wavelength axis. The flux becomes
an asinh magnitude (Lupton et al. 1999: finite for zero and negative fluxes) with its error.

Model space: (asinh mag - ``photometry_mag_center``) / ``photometry_mag_scale``, with variance
(mag error / scale)^2; the embedding also reads log10 of the magnitude error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .configuration_galfm import GalFMConfig
from .modality_base import (
    Modality,
    ModelTokens,
    attention_mask_of,
    input_error,
    inverse_variance,
    pad_tokens,
    photometric_flux,
    token_mask,
)

if TYPE_CHECKING:  # annotations only: the processor sits above the modalities
    from .processing_galfm import GalFMProcessor


ASINH_MAG_SCALE = 2.5 / math.log(10.0)
PHOTOMETRY_FIELDS = ("band", "flux", "flux_ivar", "flux_sigma")


def asinh_magnitude(flux_nmgy: np.ndarray, softening_nmgy: float) -> np.ndarray:
    """Lupton et al. (1999) asinh magnitude; equals 22.5 - 2.5 log10(f) for f >> softening, finite for f <= 0."""
    b = softening_nmgy
    return 22.5 - ASINH_MAG_SCALE * (np.arcsinh(flux_nmgy / (2 * b)) + math.log(b))


def asinh_magnitude_to_flux(mag: np.ndarray | torch.Tensor, mag_std: np.ndarray | torch.Tensor,
                            softening_nmgy: float) -> tuple[np.ndarray, np.ndarray] | tuple[torch.Tensor, torch.Tensor]:
    """The inverse of `asinh_magnitude` (nanomaggies), the error through the local derivative (arrays or
    tensors); exact for the errors the tokenizer made."""
    b = softening_nmgy
    argument = (22.5 - mag) / ASINH_MAG_SCALE - math.log(b)
    sinh, cosh = (torch.sinh, torch.cosh) if isinstance(argument, torch.Tensor) else (np.sinh, np.cosh)
    return 2 * b * sinh(argument), 2 * b * cosh(argument) * mag_std / ASINH_MAG_SCALE


def band_wavelengths(processor: GalFMProcessor, bands: Sequence[str], galaxy: str, field: str) -> np.ndarray:
    """(bands, 2) effective wavelength and FWHM (Angstrom) from the processor's filter table."""
    out = []
    for band in bands:
        if band not in processor.filter_table:
            raise input_error(galaxy, field, f"unknown band {band!r}",
                              "use a canonical name (galfm.filters_galfm.available_bands()) or teach the processor "
                              "the curve with processor.add_filter(name, wavelength, response)")
        out.append(processor.filter_table[band])
    return np.asarray(out, dtype=np.float32).reshape(-1, 2)


def keep_bands(photometry: Mapping, keep: Sequence[int]) -> dict | None:
    """The photometry restricted to the band indices ``keep``; None when none is left."""
    if not keep:
        return None
    fields = [k for k in PHOTOMETRY_FIELDS if photometry.get(k) is not None]
    return {k: [photometry[k][i] for i in keep] for k in fields}


class PhotometryEmbedding(nn.Module):
    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.projection = nn.Linear(2, config.hidden_size)

    def forward(self, inputs: Mapping, tokens: Sequence[ModelTokens], wavelength_embedding: nn.Module
                ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        return [(self.projection(block.features.to(self.projection.weight.dtype)),
                 wavelength_embedding(inputs["photometry_wavelength"])) for block in tokens]


class PhotometryModality(Modality):
    name = "photometry"
    token_types = ("photometry",)
    batch_keys = ("photometry_values", "photometry_wavelength", "photometry_attention_mask")
    contrastive = True

    # -- records ---------------------------------------------------------------------------------------------
    def tokenize(self, value: Any, galaxy: str, processor: GalFMProcessor) -> dict[str, np.ndarray] | None:
        if value.get("band") is None or value.get("flux") is None:
            raise input_error(galaxy, "photometry", "needs 'band' and 'flux'",
                              "give band names, fluxes in nanomaggies and 'flux_ivar' (or 'flux_sigma')")
        bands = [str(b) for b in value["band"]]
        flux = photometric_flux(value["flux"], galaxy, "photometry.flux")
        ivar = inverse_variance(value, "flux", "flux_ivar", "flux_sigma", photometric_flux, galaxy, "photometry")
        if flux.ndim != 1 or flux.shape != ivar.shape or flux.size != len(bands):
            raise input_error(galaxy, "photometry", f"{len(bands)} bands but flux shape {flux.shape} and ivar "
                              f"shape {ivar.shape}", "give one flux and one flux_ivar per band")
        wavelength = band_wavelengths(processor, bands, galaxy, "photometry.band")
        good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
        if not good.any():
            return None
        flux, sigma = flux[good], ivar[good] ** -0.5
        b = processor.photometry_softening_nmgy
        mag = asinh_magnitude(flux, b)
        mag_err = ASINH_MAG_SCALE * sigma / np.sqrt(flux**2 + 4 * b**2)
        return {"values": np.stack([mag, mag_err], axis=-1).astype(np.float32), "wavelength": wavelength[good]}

    def collate(self, tokens: Sequence[dict | None]) -> dict[str, np.ndarray]:
        return {"photometry_values": pad_tokens(tokens, "values"),
                "photometry_wavelength": pad_tokens(tokens, "wavelength"),
                "photometry_attention_mask": token_mask(tokens, "values")}

    def select(self, value: Any, band_prefixes: Sequence[str] = (), **options) -> Any:
        """Keep only the bands whose names start with one of ``band_prefixes`` (empty: all)."""
        if value is None or not band_prefixes:
            return value
        return keep_bands(value, [i for i, b in enumerate(value["band"]) if str(b).startswith(tuple(band_prefixes))])

    # -- model space -----------------------------------------------------------------------------------------
    def token_dims(self, config: GalFMConfig) -> dict[str, int]:
        return {"photometry": 1}

    def model_tokens(self, inputs: Mapping, config: GalFMConfig) -> list[ModelTokens]:
        values = inputs["photometry_values"].float()
        mag = (values[..., 0] - config.photometry_mag_center) / config.photometry_mag_scale
        log_err = torch.log10(values[..., 1].clamp_min(config.photometry_min_mag_error))
        variance = ((values[..., 1] / config.photometry_mag_scale) ** 2)[..., None]
        mask = attention_mask_of(inputs, "photometry_attention_mask", values)
        return [ModelTokens("photometry", torch.stack([mag, log_err], dim=-1), mag[..., None], variance,
                            mask.bool()[..., None], mask)]

    def build_embedding(self, config: GalFMConfig) -> nn.Module:
        return PhotometryEmbedding(config)

    # -- predictions -----------------------------------------------------------------------------------------
    def claims(self, target: str, processor: GalFMProcessor) -> bool:
        return target in processor.filter_table

    def hide(self, value: Any, targets: Sequence[str], wavelength_range=None) -> Any:
        if value is None:
            return None
        return keep_bands(value, [i for i, b in enumerate(value["band"]) if b not in targets])

    def query(self, targets: Sequence[str], processor: GalFMProcessor, wavelength_range=None) -> dict:
        return {"band": list(targets), "flux": np.ones(len(targets)), "flux_ivar": np.ones(len(targets))}

    def answer(self, predicted, targets, processor: GalFMProcessor, config: GalFMConfig, given) -> dict:
        """{band, flux, flux_std} in nanomaggies."""
        mean, std = predicted["photometry"]
        mag = config.photometry_mag_center + config.photometry_mag_scale * mean[:, 0]
        flux, flux_std = asinh_magnitude_to_flux(mag, config.photometry_mag_scale * std[:, 0],
                                                 processor.photometry_softening_nmgy)
        return {"band": list(targets), "flux": flux, "flux_std": flux_std}


PHOTOMETRY = PhotometryModality()

__all__ = ["ASINH_MAG_SCALE", "PHOTOMETRY", "PhotometryModality", "asinh_magnitude", "asinh_magnitude_to_flux",
           "band_wavelengths", "keep_bands"]
