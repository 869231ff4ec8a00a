"""What a modality is: the one place each of its rules lives, from the record field to the model and back.

A `Modality` owns, for its record field (``record["spectrum"]``, ``record["photometry"]``, ...):

* record validation and tokenization (numpy), with `GalaxyInputError` naming the galaxy, the field and the fix;
* batching of its tokens (`collate`) into the processor outputs it lists in ``batch_keys``;
* the value transform into model space and the target variance propagated from the data's ivar
  (`model_tokens`), read both by the embeddings and by the pretraining losses;
* its embedding module (`build_embedding`), which adds a *where* part (wavelength, position, type) to each value;
* the inverse transform for predictions (`query`, `answer`: model space back to record units);
* selection (`select`): drop the field, keep some bands or a wavelength range.

The registry (`galfm.modalities.MODALITIES`) lists them as plain data. Kept free of third-party imports beyond
numpy, torch and transformers: these files travel with ``trust_remote_code`` folders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from transformers.activations import ACT2FN

from .configuration_galfm import GalFMConfig

if TYPE_CHECKING:  # annotations only: the processor sits above the modalities
    from .processing_galfm import GalFMProcessor


# Record units (see galfm.datasets_scripts.schema): spectra in 1e-17 erg/s/cm2/A on vacuum Angstrom,
# photometry and image pixels in nanomaggies (AB: m = 22.5 - 2.5 log10 f).
SPECTRUM_FLUX_UNIT = "1e-17 erg / (s cm2 Angstrom)"
NANOMAGGY_IN_JY = 3.631e-6


class GalaxyInputError(ValueError):
    """A galaxy record that cannot be tokenized; the message names the galaxy, the field and the fix."""


def input_error(galaxy: str, field: str, problem: str, fix: str) -> GalaxyInputError:
    return GalaxyInputError(f"galaxy {galaxy}: {field}: {problem}. Fix: {fix}")


# ---------------------------------------------------------------------------------------- units at the boundary
def is_quantity(x: Any) -> bool:
    return hasattr(x, "unit") and hasattr(x, "to_value")


def astropy_units():
    try:
        import astropy.units as u
    except ImportError as err:  # pragma: no cover - only reached when a Quantity was passed
        raise ImportError("astropy is needed to convert astropy Quantities") from err
    return u


def wavelength_angstrom(value: Any, galaxy: str, field: str) -> np.ndarray:
    """Wavelengths in Angstrom, converting length / frequency Quantities."""
    if is_quantity(value):
        u = astropy_units()
        try:
            value = value.to_value(u.Angstrom, equivalencies=u.spectral())
        except u.UnitConversionError as err:
            raise input_error(galaxy, field, f"unit {value.unit} is not a wavelength",
                              "give vacuum wavelengths in Angstrom (or any length/frequency Quantity)") from err
    return np.asarray(value, dtype=np.float64)


def photometric_flux(value: Any, galaxy: str, field: str) -> np.ndarray:
    """Band or pixel fluxes (or their errors) in nanomaggies, converting Quantities in Jy, maggies or AB mag."""
    if is_quantity(value):
        u = astropy_units()
        try:
            if value.unit.is_equivalent(u.nanomaggy):
                value = value.to_value(u.nanomaggy)
            else:
                value = value.to(u.Jy).value / NANOMAGGY_IN_JY
        except (u.UnitConversionError, ValueError, TypeError) as err:
            raise input_error(galaxy, field, f"unit {value.unit} is not a flux density",
                              "give fluxes in nanomaggies (or an astropy Quantity in Jy, maggies or AB mag)") from err
    return np.asarray(value, dtype=np.float64)


def ivar_from_sigma(sigma: np.ndarray) -> np.ndarray:
    """1/sigma^2, with 0 (no information) where sigma is 0, infinite or NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(sigma) & (sigma > 0), 1.0 / sigma**2, 0.0)


def inverse_variance(field_value: Mapping, flux_key: str, ivar_key: str, sigma_key: str, convert, galaxy: str,
                     prefix: str) -> np.ndarray:
    """The inverse variance of ``field_value[flux_key]`` from its ``ivar_key`` or ``sigma_key`` entry."""
    if field_value.get(ivar_key) is not None:
        ivar = field_value[ivar_key]
        if is_quantity(ivar):  # 1/flux^2: convert the implied error and invert back
            with np.errstate(divide="ignore"):
                return ivar_from_sigma(convert(ivar ** -0.5, galaxy, f"{prefix}.{ivar_key}"))
        ivar = np.asarray(ivar, dtype=np.float64)
        if np.any(ivar < 0):
            raise input_error(galaxy, f"{prefix}.{ivar_key}", f"{int(np.sum(ivar < 0))} negative inverse variances",
                              "inverse variance is 1/sigma^2 >= 0; set bad pixels to 0 or mark them in 'mask'")
        return ivar
    if field_value.get(sigma_key) is not None:
        sigma = convert(field_value[sigma_key], galaxy, f"{prefix}.{sigma_key}")
        if np.any(sigma < 0):
            raise input_error(galaxy, f"{prefix}.{sigma_key}", "negative uncertainties", "uncertainties must be >= 0")
        return ivar_from_sigma(sigma)
    raise input_error(galaxy, f"{prefix}.{ivar_key}", f"no uncertainty given for '{flux_key}'",
                      f"add '{ivar_key}' (1/sigma^2) or '{sigma_key}' (1-sigma errors)")


# ---------------------------------------------------------------------------------------------------- batching
def pad_tokens(tokens: Sequence[Mapping | None], field: str, dtype=np.float32) -> np.ndarray:
    """(galaxies, longest, ...) array of one token field, zero-padded; galaxies without tokens are all padding."""
    arrays = [t[field] if t is not None else None for t in tokens]
    length = max(len(a) for a in arrays if a is not None)
    shape = next(a.shape[1:] for a in arrays if a is not None)
    out = np.zeros((len(tokens), length, *shape), dtype=dtype)
    for i, a in enumerate(arrays):
        if a is not None:
            out[i, : len(a)] = a
    return out


def token_mask(tokens: Sequence[Mapping | None], field: str) -> np.ndarray:
    """(galaxies, longest) attention mask: 1 for real tokens, 0 for padding."""
    lengths = np.asarray([len(t[field]) if t is not None else 0 for t in tokens])
    return (np.arange(lengths.max())[None, :] < lengths[:, None]).astype(np.int64)


# ------------------------------------------------------------------------------------------------- model space
def attention_mask_of(inputs: Mapping, key: str, values: torch.Tensor) -> torch.Tensor:
    """``inputs[key]`` as a long (B, T) mask; every token real when the caller gave no mask."""
    mask = inputs.get(key)
    if mask is None:
        return torch.ones(values.shape[:2], dtype=torch.long, device=values.device)
    return mask.long()


@dataclass
class ModelTokens:
    """One token type of a batch in model space.

    ``features`` (B, T, F) are what the embedding projects; ``values`` (B, T, D), their ``variance`` (propagated
    from the data's ivar) and ``valid`` (B, T, D) are what a pretraining objective predicts; ``attention_mask``
    (B, T) marks real tokens.
    """

    token_type: str
    features: torch.Tensor
    values: torch.Tensor
    variance: torch.Tensor
    valid: torch.Tensor
    attention_mask: torch.Tensor


class Modality:
    """Base class of a modality; subclasses set the class attributes and implement the methods."""

    name: str = ""
    """The record field (``record[name]``)."""
    token_types: tuple[str, ...] = ()
    """Token types this modality puts in the sequence, in order."""
    batch_keys: tuple[str, ...] = ()
    """Processor outputs (model inputs) of this modality."""
    observed: bool = True
    """An observation (input of a downstream task); False for labels such as catalogue properties."""
    contrastive: bool = False
    """Takes part in the contrastive objective and cross-modal search as one view of the galaxy."""
    ordered_token_type: str | None = None
    """A token type ordered along an axis (the spectrum's wavelength) that the masked objective may cut in two."""

    # -- records ---------------------------------------------------------------------------------------------
    def tokenize(self, value: Any, galaxy: str, processor: GalFMProcessor) -> dict[str, np.ndarray] | None:
        """Tokens of one galaxy's field (numpy), or None when nothing usable is left."""
        raise NotImplementedError

    def collate(self, tokens: Sequence[dict | None]) -> dict[str, np.ndarray]:
        """Batch arrays (``batch_keys``) of the galaxies' tokens; None where a galaxy lacks the modality."""
        raise NotImplementedError

    def select(self, value: Any, **options) -> Any:
        """The field restricted by ``options`` (e.g. ``band_prefixes``); None when nothing is left."""
        return value

    def present(self, inputs: Mapping) -> bool:
        """Whether a batch of model inputs holds this modality."""
        return inputs.get(self.batch_keys[0]) is not None

    # -- model space -----------------------------------------------------------------------------------------
    def token_dims(self, config: GalFMConfig) -> dict[str, int]:
        """Values per token of each token type (what the pretraining heads predict)."""
        raise NotImplementedError

    def model_tokens(self, inputs: Mapping, config: GalFMConfig) -> list[ModelTokens]:
        """The batch in model space, one entry per token type present."""
        raise NotImplementedError

    def build_embedding(self, config: GalFMConfig) -> nn.Module:
        """A module whose ``forward(inputs, tokens, wavelength_embedding)`` gives, per `ModelTokens`, the
        (value embedding, where embedding) pair, each (B, T, hidden)."""
        raise NotImplementedError

    # -- predictions -----------------------------------------------------------------------------------------
    def claims(self, target: str, processor: GalFMProcessor) -> bool:
        """Whether ``model.predict(targets=[target])`` asks this modality (e.g. a band name for photometry)."""
        return False

    def hide(self, value: Any, targets: Sequence[str], wavelength_range=None) -> Any:
        """The input field with what is asked for removed, so an answer never echoes the record."""
        return None

    def query(self, targets: Sequence[str], processor: GalFMProcessor, wavelength_range=None) -> Any:
        """A field whose tokens sit where the answers go (values are placeholders the decoder never sees)."""
        raise NotImplementedError

    def known_from_input(self, inputs: Mapping) -> dict[str, torch.Tensor]:
        """{token type: (B,) bool}: query tokens not predicted for galaxies whose input already has them."""
        return {}

    def answer(self, predicted: Mapping[str, tuple[np.ndarray, np.ndarray]], targets: Sequence[str],
               processor: GalFMProcessor, config: GalFMConfig, given: Mapping[str, Any]) -> Any:
        """One galaxy's answer in record units from the decoder's (mean, std) per token type (rows, width);
        ``given`` holds what the input told about this galaxy (e.g. its spectrum normalisation)."""
        raise NotImplementedError


# ------------------------------------------------------------------------------------- shared embedding parts
class GalFMFourierFeatures(nn.Module):
    """sin/cos of a scalar coordinate at geometrically spaced frequencies (fixed, not learned).

    The frequencies are computed in ``forward`` rather than kept as a buffer: they are a pure function of the
    config, and ``from_pretrained`` builds modules on the meta device, where a non-persistent buffer is lost.
    """

    def __init__(self, num_frequencies: int, frequency_range: Sequence[float]):
        super().__init__()
        self.num_frequencies = num_frequencies
        self.log_min, self.log_max = math.log10(frequency_range[0]), math.log10(frequency_range[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # float32 even under bf16 autocast: 1e-3 dex wavelength offsets times 2*pi*500 need the mantissa
        freqs = torch.logspace(self.log_min, self.log_max, self.num_frequencies, device=x.device)
        angles = x.float().unsqueeze(-1) * (2 * math.pi * freqs)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class GalFMWavelengthEmbedding(nn.Module):
    """Embeds an observed-frame (wavelength, width) pair in Angstrom: a band, a spectral patch, an image band.

    Shared by every modality placed on the wavelength axis, so a band and the spectral patch under it land
    near each other. Resolutions: ``config.wavelength_frequency_range`` and ``config.width_frequency_range``.
    """

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.reference = config.wavelength_reference
        n = config.num_wavelength_frequencies
        n_width = max(n // 4, 1)
        self.center_features = GalFMFourierFeatures(n, config.wavelength_frequency_range)
        self.width_features = GalFMFourierFeatures(n_width, config.width_frequency_range)
        self.proj_in = nn.Linear(2 * n + 2 * n_width, config.hidden_size)
        self.act = ACT2FN[config.hidden_act]
        self.proj_out = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, wavelength: torch.Tensor) -> torch.Tensor:
        wavelength = wavelength.float()  # never bf16: 5000 A would be +-20 A
        center, width = wavelength[..., 0].clamp_min(1.0), wavelength[..., 1].clamp_min(1e-3)
        log_center = torch.log10(center / self.reference)
        log_width = torch.log10(width / center)
        features = torch.cat([self.center_features(log_center), self.width_features(log_width)], dim=-1)
        return self.proj_out(self.act(self.proj_in(features.to(self.proj_in.weight.dtype))))


__all__ = ["GalFMFourierFeatures", "GalFMWavelengthEmbedding", "GalaxyInputError", "Modality", "ModelTokens",
           "attention_mask_of", "input_error", "pad_tokens", "token_mask"]
