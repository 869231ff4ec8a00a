"""The spectrum modality: any spectrograph's pixels on one observed-frame log-lambda grid, cut into patches.

Any wavelength grid (or several overlapping arms, such as DESI's B/R/Z) is resampled, flux-conserving and
ivar-weighted, onto the processor's grid (3000-20078 A at 1e-4 dex by default: 69 km/s, SDSS sampling). Each
patch token carries its normalised fluxes, their inverse errors (0 where masked) and its wavelength span; one
more token carries the normalisation (log10 median |flux|), so absolute flux is not lost.

Model space: a patch's values are asinh(flux / norm); their variance 1 / (w^2 (1 + v^2)) follows from the
normalised inverse error w through the asinh; the normalisation token's value is log10(norm).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .configuration_galfm import GalFMConfig
from .modality_base import (
    SPECTRUM_FLUX_UNIT,
    Modality,
    ModelTokens,
    astropy_units,
    attention_mask_of,
    input_error,
    inverse_variance,
    is_quantity,
    pad_tokens,
    token_mask,
    wavelength_angstrom,
)

if TYPE_CHECKING:  # annotations only: the processor sits above the modalities
    from .processing_galfm import GalFMProcessor



def spectral_flux(value: Any, wavelength: np.ndarray, galaxy: str, field: str) -> np.ndarray:
    """A flux density (or its error) in the record's 1e-17 erg/s/cm2/A, converting Quantities (f_nu too)."""
    if is_quantity(value):
        u = astropy_units()
        target = 1e-17 * u.erg / u.s / u.cm**2 / u.Angstrom
        try:
            value = value.to_value(target, equivalencies=u.spectral_density(wavelength * u.Angstrom))
        except (u.UnitConversionError, ValueError) as err:
            raise input_error(galaxy, field, f"unit {value.unit} is not a spectral flux density",
                              f"give flux in {SPECTRUM_FLUX_UNIT} (or an astropy Quantity in f_lambda or f_nu "
                              "units)") from err
    return np.asarray(value, dtype=np.float64)


@lru_cache(maxsize=8)
def log_grid_edges(log_min: float, log_step: float, num_pixels: int) -> np.ndarray:
    """Pixel edges (Angstrom) of a log-lambda grid; read-only, shared between calls."""
    edges = 10 ** (log_min + log_step * np.arange(num_pixels + 1))
    edges.flags.writeable = False
    return edges


def pixel_edges(centers: np.ndarray) -> np.ndarray:
    """Edges of contiguous pixels from their centres (midpoints; end pixels mirrored)."""
    mid = 0.5 * (centers[1:] + centers[:-1])
    return np.concatenate([[centers[0] - (mid[0] - centers[0])], mid, [centers[-1] + (centers[-1] - mid[-1])]])


def accumulate_onto_grid(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, grid_edges: np.ndarray,
                         sums: np.ndarray) -> None:
    """Add one spectrum's ivar-weighted overlaps to ``sums`` (3 x n_out: sum o*ivar, sum o*ivar*f, sum o^2*ivar).

    ``o`` is the length (Angstrom) by which an input pixel overlaps an output bin. With uniform ivar the
    resampled flux sum(o f)/sum(o) conserves the integral of f over any range of whole bins; with several
    overlapping arms the sums of all arms give the ivar-weighted combination. Pixels with ivar 0 add nothing.
    """
    good = ivar > 0
    edges = pixel_edges(wavelength)
    lo, hi = edges[:-1][good], edges[1:][good]
    f, w = flux[good], ivar[good]
    n_out = grid_edges.size - 1
    first_bin = np.clip(np.searchsorted(grid_edges, lo, side="right") - 1, -1, n_out)
    last_bin = np.clip(np.searchsorted(grid_edges, hi, side="left") - 1, -1, n_out)
    span = np.maximum(last_bin - first_bin + 1, 0)
    pixel = np.repeat(np.arange(lo.size), span)
    bin_index = np.repeat(first_bin, span) + (np.arange(pixel.size) - np.repeat(np.cumsum(span) - span, span))
    inside = (bin_index >= 0) & (bin_index < n_out)
    pixel, bin_index = pixel[inside], bin_index[inside]
    overlap = np.minimum(hi[pixel], grid_edges[bin_index + 1]) - np.maximum(lo[pixel], grid_edges[bin_index])
    keep = overlap > 0
    pixel, bin_index, overlap = pixel[keep], bin_index[keep], overlap[keep]
    sums[0] += np.bincount(bin_index, overlap * w[pixel], minlength=n_out)
    sums[1] += np.bincount(bin_index, overlap * w[pixel] * f[pixel], minlength=n_out)
    sums[2] += np.bincount(bin_index, overlap**2 * w[pixel], minlength=n_out)


def resample_spectrum(arms: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], grid_edges: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Flux-conserving, ivar-weighted resampling of one or more (wavelength, flux, ivar) arms onto bins.

    Returns (flux, ivar) on the bins; bins no good pixel touches have ivar 0 (and flux 0).
    """
    sums = np.zeros((3, grid_edges.size - 1))
    for wavelength, flux, ivar in arms:
        accumulate_onto_grid(wavelength, flux, ivar, grid_edges, sums)
    weight, weighted_flux, weight_sq = sums
    good = weight > 0
    flux = np.zeros_like(weight)
    ivar = np.zeros_like(weight)
    flux[good] = weighted_flux[good] / weight[good]
    ivar[good] = weight[good] ** 2 / weight_sq[good]
    return flux, ivar


def grid_edges(processor: GalFMProcessor) -> np.ndarray:
    """Edges (Angstrom) of the processor's observed-frame log-lambda grid."""
    return log_grid_edges(processor.spectrum_log_wavelength_min, processor.spectrum_log_wavelength_step,
                          processor.spectrum_num_patches * processor.spectrum_patch_size)


def grid_centers(processor: GalFMProcessor) -> np.ndarray:
    edges = grid_edges(processor)
    return np.sqrt(edges[:-1] * edges[1:])


def unpack_patches(inputs: Mapping[str, torch.Tensor], log_min: float, log_step: float, num_pixels: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The processor's packed patches back on the full observed grid: (flux, ivar), each (B, num_pixels) float64,
    in the normalised units of ``spectrum_values``; ivar 0 where nothing was measured.

    ``log_min`` (lower edge of the first pixel, log10 Angstrom), ``log_step`` (dex) and ``num_pixels`` describe the
    grid the patches must lie on (the processor's); a patch off it raises, naming the field.
    """
    values = inputs["spectrum_values"].double()
    weights = inputs["spectrum_weights"].double()
    centres = inputs["spectrum_wavelength"][..., 0].double()
    batch, patches, size = values.shape
    mask = inputs.get("spectrum_attention_mask")
    present = torch.ones(batch, patches, dtype=torch.bool, device=values.device) if mask is None else mask.bool()
    position = (torch.log10(centres.clamp_min(1.0)) - log_min) / (log_step * size) - 0.5
    index = torch.round(position).long()
    if (present & ((position - index).abs() > 0.01)).any():
        raise ValueError(f"spectrum_wavelength: the spectrum patches are not on this head's grid (log10 lambda_min "
                         f"{log_min}, step {log_step}); use the processor saved with this head")
    num_patches = num_pixels // size
    index = torch.where(present, index.clamp(0, num_patches - 1), num_patches)  # padding goes to a spare slot
    flux = values.new_zeros(batch, num_patches + 1, size)
    ivar = values.new_zeros(batch, num_patches + 1, size)
    rows = torch.arange(batch, device=values.device)[:, None].expand(-1, patches)
    flux[rows, index] = values
    ivar[rows, index] = weights**2
    return flux[:, :num_patches].reshape(batch, -1), ivar[:, :num_patches].reshape(batch, -1)


def in_range(wavelength: np.ndarray, wavelength_range: tuple[float, float] | None) -> np.ndarray:
    """Pixels inside ``wavelength_range`` (inclusive); every pixel when it is None."""
    if wavelength_range is None:
        return np.ones(wavelength.size, bool)
    return (wavelength >= wavelength_range[0]) & (wavelength <= wavelength_range[1])


def _prepare_arm(arm: Any, field: str, galaxy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One arm validated and converted: (wavelength A, flux 1e-17, ivar with bad pixels at 0)."""
    if not isinstance(arm, Mapping):
        raise input_error(galaxy, field, f"expected a mapping, got {type(arm).__name__}",
                          "give {'wavelength', 'flux', 'ivar'[, 'mask']} (or a list of them, one per arm)")
    if arm.get("wavelength") is None:
        raise input_error(galaxy, f"{field}.wavelength", "missing",
                          "give the observed vacuum wavelength of every pixel (Angstrom or a length Quantity)")
    if arm.get("flux") is None:
        raise input_error(galaxy, f"{field}.flux", "missing", f"give the flux density in {SPECTRUM_FLUX_UNIT}")
    wavelength = wavelength_angstrom(arm["wavelength"], galaxy, f"{field}.wavelength")
    flux = spectral_flux(arm["flux"], wavelength, galaxy, f"{field}.flux")

    def convert(value, galaxy_name, field_name):
        return spectral_flux(value, wavelength, galaxy_name, field_name)

    ivar = inverse_variance(arm, "flux", "ivar", "sigma", convert, galaxy, field)
    lengths = {"wavelength": wavelength.shape, "flux": flux.shape, "ivar": ivar.shape}
    mask = arm.get("mask")
    if mask is not None:
        mask = np.asarray(mask)
        lengths["mask"] = mask.shape
    if wavelength.ndim != 1 or len(set(lengths.values())) != 1:
        raise input_error(galaxy, field, f"array shapes differ or are not 1-D: {lengths}",
                          "give one value per pixel in every array")
    if wavelength.size < 2:
        raise input_error(galaxy, f"{field}.wavelength", "fewer than 2 pixels", "give a spectrum of >= 2 pixels")
    if not np.all(np.isfinite(wavelength)) or np.any(np.diff(wavelength) <= 0):
        raise input_error(galaxy, f"{field}.wavelength", "not finite and strictly increasing",
                          "sort the pixels by wavelength and remove duplicates")
    good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    if mask is not None:
        good &= ~mask.astype(bool)  # mask: True (or any nonzero bit) = bad pixel
    return wavelength, flux, np.where(good, ivar, 0.0)  # ivar 0 pixels add nothing


def _arms(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class SpectrumEmbedding(nn.Module):
    """Patch values + inverse errors -> hidden; the normalisation token -> hidden."""

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.norm_projection = nn.Linear(1, config.hidden_size)
        self.projection = nn.Linear(2 * config.spectrum_patch_size, config.hidden_size)

    def forward(self, inputs: Mapping, tokens: Sequence[ModelTokens], wavelength_embedding: nn.Module
                ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        out = []
        for block in tokens:
            if block.token_type == "spectrum_norm":
                out.append((self.norm_projection(block.features.to(self.norm_projection.weight.dtype)), None))
            else:
                out.append((self.projection(block.features.to(self.projection.weight.dtype)),
                            wavelength_embedding(inputs["spectrum_wavelength"])))
        return out


class SpectrumModality(Modality):
    name = "spectrum"
    token_types = ("spectrum_norm", "spectrum")
    batch_keys = ("spectrum_values", "spectrum_weights", "spectrum_wavelength", "spectrum_attention_mask",
                  "spectrum_norm", "spectrum_norm_mask")
    contrastive = True
    ordered_token_type = "spectrum"

    # -- records ---------------------------------------------------------------------------------------------
    def tokenize(self, value: Any, galaxy: str, processor: GalFMProcessor) -> dict[str, np.ndarray] | None:
        arms = _arms(value)
        prepared = [_prepare_arm(arm, "spectrum" if len(arms) == 1 else f"spectrum[{i}]", galaxy)
                    for i, arm in enumerate(arms)]
        edges = grid_edges(processor)
        flux, ivar = resample_spectrum(prepared, edges)
        p = processor.spectrum_patch_size
        flux, ivar = flux.reshape(-1, p), ivar.reshape(-1, p)
        present = (ivar > 0).any(axis=1)
        if not present.any():
            return None
        valid = ivar > 0
        norm = float(np.median(np.abs(flux[valid])))
        if not norm > 0:
            norm = float(np.mean(np.abs(flux[valid]))) or 1.0
        lo, hi = edges[:-1:p], edges[p::p]
        return {
            "values": (flux[present] / norm).astype(np.float32),
            "weights": (np.sqrt(ivar[present]) * norm).astype(np.float32),
            "wavelength": np.stack([np.sqrt(lo * hi), hi - lo], axis=-1)[present].astype(np.float32),
            "norm": np.float32(math.log10(norm)),
        }

    def collate(self, tokens: Sequence[dict | None]) -> dict[str, np.ndarray]:
        out = {f"spectrum_{field}": pad_tokens(tokens, field) for field in ("values", "weights", "wavelength")}
        out["spectrum_attention_mask"] = token_mask(tokens, "values")
        out["spectrum_norm"] = np.asarray([t["norm"] if t is not None else 0.0 for t in tokens], dtype=np.float32)
        out["spectrum_norm_mask"] = np.asarray([int(t is not None) for t in tokens], dtype=np.int64)
        return out

    def select(self, value: Any, wavelength_range: tuple[float, float] | None = None, **options) -> Any:
        """Keep only the pixels inside ``wavelength_range`` (the others masked)."""
        if value is None or wavelength_range is None:
            return value
        return [{**arm, "mask": _masked(arm, ~in_range(np.asarray(arm["wavelength"], float), wavelength_range))}
                for arm in _arms(value)]

    def present(self, inputs: Mapping) -> bool:
        return inputs.get("spectrum_values") is not None or inputs.get("spectrum_norm") is not None

    # -- model space -----------------------------------------------------------------------------------------
    def token_dims(self, config: GalFMConfig) -> dict[str, int]:
        return {"spectrum_norm": 1, "spectrum": config.spectrum_patch_size}

    def model_tokens(self, inputs: Mapping, config: GalFMConfig) -> list[ModelTokens]:
        out = []
        norm = inputs.get("spectrum_norm")
        if norm is not None:
            batch = norm.shape[0]
            norm = norm.float().reshape(batch, 1, 1)
            given = inputs.get("spectrum_norm_mask")
            mask = torch.ones(batch, 1, dtype=torch.long, device=norm.device) if given is None \
                else given.reshape(batch, 1).long()
            floor = torch.full_like(norm, config.pretraining_config.token_variance_floor)
            out.append(ModelTokens("spectrum_norm", norm, norm, floor, mask.bool()[..., None], mask))
        if inputs.get("spectrum_values") is not None:
            values, weights = inputs["spectrum_values"].float(), inputs["spectrum_weights"].float()
            measured = weights > 0
            model_values = torch.asinh(values)
            features = torch.cat([model_values * measured, torch.asinh(weights)], dim=-1)
            variance = torch.where(measured, 1.0 / (weights.clamp_min(1e-12) ** 2 * (1 + values**2)),
                                   torch.ones_like(weights))
            mask = attention_mask_of(inputs, "spectrum_attention_mask", values)
            out.append(ModelTokens("spectrum", features, model_values, variance,
                                   measured & mask.bool()[..., None], mask))
        return out

    def build_embedding(self, config: GalFMConfig) -> nn.Module:
        return SpectrumEmbedding(config)

    # -- predictions -----------------------------------------------------------------------------------------
    def claims(self, target: str, processor: GalFMProcessor) -> bool:
        return target == "spectrum"

    def hide(self, value: Any, targets: Sequence[str], wavelength_range=None) -> Any:
        """No spectrum, or (with ``wavelength_range``) the spectrum with that range masked."""
        if value is None or wavelength_range is None:
            return None
        return [{**arm, "mask": _masked(arm, in_range(np.asarray(arm["wavelength"], float), wavelength_range))}
                for arm in _arms(value)]

    def query(self, targets: Sequence[str], processor: GalFMProcessor, wavelength_range=None) -> dict:
        centers = grid_centers(processor)
        inside = in_range(centers, wavelength_range)
        if not inside.any():
            edges = grid_edges(processor)
            raise ValueError(f"wavelength_range {wavelength_range} misses the processor grid "
                             f"({edges[0]:.0f}-{edges[-1]:.0f} A)")
        return {"wavelength": centers, "flux": np.ones(centers.size), "ivar": inside.astype(float)}

    def known_from_input(self, inputs: Mapping) -> dict[str, torch.Tensor]:
        """A galaxy given a spectrum keeps its own normalisation: it is used, not predicted."""
        given = inputs.get("spectrum_norm_mask")
        return {} if given is None else {"spectrum_norm": given.bool()}

    def answer(self, predicted, targets, processor: GalFMProcessor, config: GalFMConfig, given) -> dict:
        """{wavelength, flux, flux_std} in 1e-17 erg/s/cm2/A on the grid pixels asked for."""
        if given.get("spectrum_norm_mask"):  # the input's own normalisation
            norm = 10.0 ** float(given["spectrum_norm"])
        else:
            norm = 10.0 ** float(predicted["spectrum_norm"][0][0, 0])
        p = processor.spectrum_patch_size
        wavelength_range = given.get("wavelength_range")
        centers = grid_centers(processor)
        inside = in_range(centers, wavelength_range)
        patches = np.flatnonzero(inside.reshape(-1, p).any(1))
        wave = centers.reshape(-1, p)[patches].ravel()
        mean, std = predicted["spectrum"]
        mean, std = mean[:, :p].ravel(), std[:, :p].ravel()
        flux, flux_std = norm * np.sinh(mean), norm * np.cosh(mean) * std
        keep = in_range(wave, wavelength_range)
        return {"wavelength": wave[keep], "flux": flux[keep], "flux_std": flux_std[keep]}


def _masked(arm: Mapping, hide: np.ndarray) -> np.ndarray:
    old = np.zeros(hide.size, bool) if arm.get("mask") is None else np.asarray(arm["mask"]).astype(bool)
    return old | hide


SPECTRUM = SpectrumModality()

__all__ = ["SPECTRUM", "SpectrumModality", "grid_edges", "log_grid_edges", "pixel_edges", "resample_spectrum",
           "spectral_flux", "unpack_patches"]
