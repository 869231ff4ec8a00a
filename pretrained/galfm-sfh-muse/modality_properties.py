"""The properties modality: one token per known catalogue property (type id + standardised value).

The scaling between record units and model space is the one rule here: ``(x - center) / scale`` for
``transform="linear"``, ``asinh(x / scale)`` for ``"asinh"`` (fluxes and equivalent widths, which span decades
and may be negative). Its parameters are data saved with the processor (``property_specs``) and with each head
(``config.head_config.property_specs``), never read from a global at prediction time; the defaults come from
`galfm.PROPERTIES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .configuration_galfm import GalFMConfig
from .modality_base import Modality, ModelTokens, attention_mask_of, input_error, is_quantity, pad_tokens, token_mask
from .properties_galfm import NUM_SFH_BINS, PROPERTIES

if TYPE_CHECKING:  # annotations only: the processor sits above the modalities
    from .processing_galfm import GalFMProcessor



def default_property_specs() -> dict[str, dict[str, Any]]:
    """property -> {"center", "scale", "transform"} from `galfm.PROPERTIES`."""
    return {k: {"center": s.center, "scale": s.scale, "transform": s.transform} for k, s in PROPERTIES.items()}


def to_model_scale(value, spec: Mapping[str, Any]):
    """A property in record units -> model space (float, numpy array or torch tensor)."""
    if spec["transform"] == "asinh":
        x = value / spec["scale"]
        return torch.asinh(x) if isinstance(x, torch.Tensor) else np.arcsinh(x)
    return (value - spec["center"]) / spec["scale"]


def from_model_scale(mean, std, spec: Mapping[str, Any]):
    """Model-space mean (and std, or None) -> record units; an asinh-scaled std goes through the local derivative."""
    if spec["transform"] == "asinh":
        sinh, cosh = (torch.sinh, torch.cosh) if isinstance(mean, torch.Tensor) else (np.sinh, np.cosh)
        return spec["scale"] * sinh(mean), None if std is None else spec["scale"] * cosh(mean) * std
    return spec["center"] + spec["scale"] * mean, None if std is None else spec["scale"] * std


class PropertiesEmbedding(nn.Module):
    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.num_property_types = config.num_property_types
        self.projection = nn.Linear(1, config.hidden_size)
        self.type_embeddings = nn.Embedding(config.num_property_types, config.hidden_size)

    def forward(self, inputs: Mapping, tokens: Sequence[ModelTokens], wavelength_embedding: nn.Module
                ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        ids = inputs["property_ids"]
        if ids.numel() and int(ids.max()) >= self.num_property_types:
            raise ValueError(f"property id {int(ids.max())} >= config.num_property_types "
                             f"({self.num_property_types}): the processor lists more properties than the model knows")
        return [(self.projection(block.features.to(self.projection.weight.dtype)), self.type_embeddings(ids))
                for block in tokens]


def _items(key: str, raw: Any, names: Sequence[str], galaxy: str) -> list[tuple[str, Any]]:
    """(token name, value) pairs of one ``properties`` entry; the SFH vector is one token per age bin."""
    if key == "sfh":
        sfh = np.asarray(raw, dtype=np.float64)
        if sfh.shape != (NUM_SFH_BINS,):
            raise input_error(galaxy, "properties.sfh", f"shape {sfh.shape}",
                              f"give the mass fraction formed in each of the {NUM_SFH_BINS} age bins")
        return [(f"sfh_{i:02d}", v) for i, v in enumerate(sfh)]
    if key in names or key in PROPERTIES:  # known; tokenized if this processor lists it
        if is_quantity(raw):
            raise input_error(galaxy, f"properties.{key}", "got an astropy Quantity",
                              "give a plain number in the unit of galfm.properties_galfm.PROPERTIES")
        return [(key, raw)]
    raise input_error(galaxy, f"properties.{key}", "unknown property",
                      f"use one of: {', '.join(k for k in names if not k.startswith('sfh_'))}, sfh, morphology")


class PropertiesModality(Modality):
    name = "properties"
    token_types = ("property",)
    batch_keys = ("property_values", "property_ids", "property_attention_mask")
    observed = False  # labels: never a downstream task's input

    def tokenize(self, value: Any, galaxy: str, processor: GalFMProcessor) -> dict[str, np.ndarray] | None:
        names = processor.property_names
        type_id = {name: i for i, name in enumerate(names)}
        values, ids = [], []
        for key, raw in value.items():
            if raw is None or key == "morphology":
                continue
            for name, item in _items(key, raw, names, galaxy):
                if name not in type_id or not math.isfinite(float(item)):
                    continue
                values.append(to_model_scale(float(item), processor.property_specs[name]))
                ids.append(type_id[name])
        if not values:
            return None
        return {"values": np.asarray(values, np.float32), "ids": np.asarray(ids, np.int64)}

    def collate(self, tokens: Sequence[dict | None]) -> dict[str, np.ndarray]:
        return {"property_values": pad_tokens(tokens, "values"),
                "property_ids": pad_tokens(tokens, "ids", dtype=np.int64),
                "property_attention_mask": token_mask(tokens, "values")}

    def token_dims(self, config: GalFMConfig) -> dict[str, int]:
        return {"property": 1}

    def model_tokens(self, inputs: Mapping, config: GalFMConfig) -> list[ModelTokens]:
        values = inputs["property_values"].float()[..., None]
        mask = attention_mask_of(inputs, "property_attention_mask", values)
        floor = torch.full_like(values, config.pretraining_config.token_variance_floor)
        return [ModelTokens("property", values, values, floor, mask.bool()[..., None], mask)]

    def build_embedding(self, config: GalFMConfig) -> nn.Module:
        return PropertiesEmbedding(config)

    # -- predictions -----------------------------------------------------------------------------------------
    def claims(self, target: str, processor: GalFMProcessor) -> bool:
        return target in processor.property_names

    def hide(self, value: Any, targets: Sequence[str], wavelength_range=None) -> Any:
        return None if value is None else {k: v for k, v in value.items() if k not in targets}

    def query(self, targets: Sequence[str], processor: GalFMProcessor, wavelength_range=None) -> dict:
        return {name: 0.0 for name in targets}

    def answer(self, predicted, targets, processor: GalFMProcessor, config: GalFMConfig, given) -> dict:
        """{property: (value, std)} in `galfm.PROPERTIES` units."""
        mean, std = predicted["property"]
        out = {}
        for row, name in enumerate(targets):
            value, sigma = from_model_scale(float(mean[row, 0]), float(std[row, 0]), processor.property_specs[name])
            out[name] = (float(value), float(sigma))
        return out


PROPERTIES_MODALITY = PropertiesModality()

__all__ = ["PROPERTIES_MODALITY", "PropertiesModality", "default_property_specs", "from_model_scale",
           "to_model_scale"]
