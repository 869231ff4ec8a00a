"""The image modality: one token per band and ``image_patch_size``² patch of a cut-out.

Each token carries the patch's asinh surface brightness and inverse errors, its band's wavelength (the same
axis as photometry and spectra), the patch offset from the image centre in arcsec, the PSF FWHM and the pixel
scale, so cut-outs of any survey, size or resolution share one model. Empty patches (ivar 0) are dropped.

Model space: asinh(SB / softening) as tokenized, with variance 1 / w^2 from the inverse error w of that value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .configuration_galfm import GalFMConfig
from .modality_base import (
    GalFMFourierFeatures,
    Modality,
    ModelTokens,
    attention_mask_of,
    input_error,
    pad_tokens,
    photometric_flux,
    token_mask,
)
from .modality_photometry import band_wavelengths

if TYPE_CHECKING:  # annotations only: the processor sits above the modalities
    from .processing_galfm import GalFMProcessor


IMAGE_FIELDS = ("values", "weights", "wavelength", "position", "seeing")


def to_patches(cube: np.ndarray, patch_size: int) -> np.ndarray:
    """(bands, H, W) with H, W multiples of ``patch_size`` -> (bands, patches, patch_size**2), row-major patches."""
    bands, height, width = cube.shape
    rows, cols = height // patch_size, width // patch_size
    return (cube.reshape(bands, rows, patch_size, cols, patch_size).transpose(0, 1, 3, 2, 4)
            .reshape(bands, rows * cols, patch_size * patch_size))


def _validated(image: Mapping, galaxy: str) -> tuple[list[str], np.ndarray, np.ndarray, float, np.ndarray]:
    for key in ("band", "flux", "ivar", "pixel_scale"):
        if image.get(key) is None:
            raise input_error(galaxy, f"image.{key}", "missing",
                              "give band names, flux and ivar (bands x H x W, nanomaggies/pixel), pixel_scale "
                              "(arcsec) and psf_fwhm (arcsec)")
    bands = [str(b) for b in image["band"]]
    flux = photometric_flux(image["flux"], galaxy, "image.flux")
    ivar = np.asarray(image["ivar"], dtype=np.float64)
    if flux.ndim != 3 or flux.shape != ivar.shape or flux.shape[0] != len(bands):
        raise input_error(galaxy, "image", f"{len(bands)} bands but flux {flux.shape}, ivar {ivar.shape}",
                          "give flux and ivar as (bands, H, W) arrays with one plane per band")
    if np.any(ivar < 0):
        raise input_error(galaxy, "image.ivar", "negative inverse variances", "set empty pixels' ivar to 0")
    pixel_scale = float(image["pixel_scale"])
    if not pixel_scale > 0:
        raise input_error(galaxy, "image.pixel_scale", f"{pixel_scale} is not positive", "give arcsec per pixel")
    psf = image.get("psf_fwhm")
    psf = np.full(len(bands), np.nan) if psf is None else np.broadcast_to(
        np.asarray(psf, dtype=np.float64), (len(bands),))
    return bands, flux, ivar, pixel_scale, psf


class ImageEmbedding(nn.Module):
    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.position_scale = config.position_scale
        self.projection = nn.Linear(2 * config.image_patch_size**2, config.hidden_size)
        self.position_features = GalFMFourierFeatures(config.num_position_frequencies,
                                                      config.position_frequency_range)
        self.position_projection = nn.Linear(4 * config.num_position_frequencies, config.hidden_size)
        self.seeing_projection = nn.Linear(2, config.hidden_size)

    def forward(self, inputs: Mapping, tokens: Sequence[ModelTokens], wavelength_embedding: nn.Module
                ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        dtype = self.projection.weight.dtype
        position = inputs["image_position"].float() / self.position_scale
        position = torch.cat([self.position_features(position[..., 0]),
                              self.position_features(position[..., 1])], dim=-1).to(dtype)
        where = (wavelength_embedding(inputs["image_wavelength"]) + self.position_projection(position)
                 + self.seeing_projection(inputs["image_seeing"].to(dtype)))
        return [(self.projection(block.features.to(dtype)), where) for block in tokens]


class ImageModality(Modality):
    name = "image"
    token_types = ("image",)
    batch_keys = ("image_values", "image_weights", "image_wavelength", "image_position", "image_seeing",
                  "image_attention_mask")
    contrastive = True

    def tokenize(self, value: Any, galaxy: str, processor: GalFMProcessor) -> dict[str, np.ndarray] | None:
        bands, flux, ivar, pixel_scale, psf = _validated(value, galaxy)
        wavelength = band_wavelengths(processor, bands, galaxy, "image.band")
        p = processor.image_patch_size
        n_bands, height, width = flux.shape
        rows, cols = -(-height // p), -(-width // p)
        pad = ((0, 0), (0, rows * p - height), (0, cols * p - width))
        good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
        ivar = np.pad(np.where(good, ivar, 0.0), pad)
        flux = np.pad(np.where(good, flux, 0.0), pad)
        area = pixel_scale**2
        softening = processor.image_softening
        surface_brightness = flux / area
        values = np.arcsinh(surface_brightness / softening)
        with np.errstate(divide="ignore"):
            sigma_sb = np.where(ivar > 0, ivar ** -0.5 / area, np.inf)
        weights = np.sqrt(surface_brightness**2 + softening**2) / sigma_sb  # inverse error of the asinh value
        values, weights, present = to_patches(values, p), to_patches(weights, p), to_patches(ivar > 0, p).any(-1)
        if not present.any():
            return None
        yy, xx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        # patch centre relative to the image centre, arcsec (x right, y up the array)
        offsets = np.stack([(xx.ravel() + 0.5) * p - width / 2, (yy.ravel() + 0.5) * p - height / 2], -1)
        seeing = np.stack([psf, np.full(n_bands, pixel_scale)], -1)
        band_index = np.repeat(np.arange(n_bands), rows * cols).reshape(n_bands, -1)[present]
        return {
            "values": values[present].astype(np.float32),
            "weights": weights[present].astype(np.float32),
            "wavelength": wavelength[band_index],
            "position": np.broadcast_to(offsets * pixel_scale, (n_bands, rows * cols, 2))[present].astype(np.float32),
            "seeing": np.nan_to_num(seeing[band_index], nan=0.0).astype(np.float32),
        }

    def collate(self, tokens: Sequence[dict | None]) -> dict[str, np.ndarray]:
        out = {f"image_{field}": pad_tokens(tokens, field) for field in IMAGE_FIELDS}
        out["image_attention_mask"] = token_mask(tokens, "values")
        return out

    def token_dims(self, config: GalFMConfig) -> dict[str, int]:
        return {"image": config.image_patch_size**2}

    def model_tokens(self, inputs: Mapping, config: GalFMConfig) -> list[ModelTokens]:
        values, weights = inputs["image_values"].float(), inputs["image_weights"].float()
        measured = weights > 0
        features = torch.cat([values * measured, torch.asinh(weights)], dim=-1)
        variance = torch.where(measured, 1.0 / weights.clamp_min(1e-12) ** 2, torch.ones_like(weights))
        mask = attention_mask_of(inputs, "image_attention_mask", values)
        return [ModelTokens("image", features, values, variance, measured & mask.bool()[..., None], mask)]

    def build_embedding(self, config: GalFMConfig) -> nn.Module:
        return ImageEmbedding(config)


IMAGE = ImageModality()

__all__ = ["IMAGE", "ImageModality", "to_patches"]
