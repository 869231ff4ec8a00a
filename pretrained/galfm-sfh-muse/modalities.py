"""The table of modalities, as plain data: record field -> the `Modality` that owns every rule about it.

Adding a modality is one new module (a `galfm.modality_base.Modality` subclass) and one line here, or
`register_modality` from outside the package; the processor, the embeddings, the pretraining objectives,
``predict()``, search and the fine-tuning tasks all read this table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .modality_base import Modality
from .modality_image import IMAGE
from .modality_photometry import PHOTOMETRY
from .modality_properties import PROPERTIES_MODALITY
from .modality_spectrum import SPECTRUM

MODALITIES: dict[str, Modality] = {
    "spectrum": SPECTRUM,
    "photometry": PHOTOMETRY,
    "image": IMAGE,
    "properties": PROPERTIES_MODALITY,
}

GALAXY_TOKEN_TYPE = "galaxy"
RECORD_METADATA = ("object_id", "survey", "ra", "dec")
"""Record fields that are neither modalities nor labels, kept by every selection."""


def register_modality(modality: Modality) -> None:
    """Add a modality to the table (a model uses it once its config lists it in ``modalities``)."""
    if not modality.name or not modality.token_types:
        raise ValueError(f"{type(modality).__name__}: set its name and token_types")
    taken = {t for m in MODALITIES.values() if m.name != modality.name for t in m.token_types}
    clash = sorted(taken & set(modality.token_types))
    if clash:
        raise ValueError(f"{modality.name}: token types {clash} already belong to another modality")
    MODALITIES[modality.name] = modality


def get_modalities(names: Sequence[str]) -> list[Modality]:
    """The modalities named (a config's or processor's ``modalities``), in that order."""
    unknown = [n for n in names if n not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; known: {', '.join(MODALITIES)} (add one with "
                         "galfm.modalities.register_modality)")
    return [MODALITIES[n] for n in names]


def token_types(names: Sequence[str]) -> tuple[str, ...]:
    """Token types of a model over these modalities: the galaxy token, then each modality's own, in order;
    a token type's id is its index here."""
    return (GALAXY_TOKEN_TYPE, *(t for m in get_modalities(names) for t in m.token_types))


def observed_modalities(names: Sequence[str] | None = None) -> tuple[str, ...]:
    """The modalities that are observations (inputs of downstream tasks), not labels."""
    return tuple(m.name for m in get_modalities(names or list(MODALITIES)) if m.observed)


def contrastive_modalities(names: Sequence[str] | None = None) -> tuple[str, ...]:
    """The modalities that are views of a galaxy in the contrastive objective and in cross-modal search."""
    return tuple(m.name for m in get_modalities(names or list(MODALITIES)) if m.contrastive)


def select_modalities(record: Mapping, keep: Sequence[str], **options: Any) -> dict:
    """The record with only the modalities in ``keep``, each restricted by ``options`` (e.g.
    ``band_prefixes=("jpas_",)``, ``wavelength_range=(4000, 7000)``); every other modality, labels included
    unless kept, becomes None. The one "keep this modality" step of the package."""
    unknown = [k for k in keep if k not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; choose from {', '.join(MODALITIES)}")
    out = {k: record.get(k) for k in RECORD_METADATA}
    for name, modality in MODALITIES.items():
        value = record.get(name) if name in keep else None
        out[name] = None if value is None else modality.select(value, **options)
    return out


__all__ = ["GALAXY_TOKEN_TYPE", "MODALITIES", "RECORD_METADATA", "contrastive_modalities", "get_modalities",
           "observed_modalities", "register_modality", "select_modalities", "token_types"]
