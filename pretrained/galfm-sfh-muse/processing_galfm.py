"""GalFMProcessor: the multimodal galaxy tokenizer.

Turns galaxy records (the schema of ``galfm.datasets_scripts.schema``; every modality optional) into padded
token tensors for ``GalFMModel``. Each modality's rules live in its own module (`galfm.modality_spectrum`,
`galfm.modality_photometry`, `galfm.modality_image`, `galfm.modality_properties`, listed by
`galfm.modalities.MODALITIES`); the processor holds their settings (grid, filter table, scalings), saved by
``save_pretrained`` so inference needs no filter library, and batches what they produce.

Missing data become absent tokens (attention mask 0), never zeros.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from transformers import BatchFeature, FeatureExtractionMixin

from .configuration_galfm import BUILTIN_MODALITIES
from .filters_galfm import default_filter_table, summarize_response
from .modalities import get_modalities
from .modality_base import GalaxyInputError, input_error
from .modality_properties import default_property_specs
from .modality_spectrum import grid_edges


class GalFMProcessor(FeatureExtractionMixin):
    r"""Tokenizes galaxy records for `GalFMModel`.

    Args:
        spectrum_log_wavelength_min (`float`): log10 of the first pixel's lower edge (observed vacuum Angstrom).
        spectrum_log_wavelength_step (`float`): pixel width in dex (1e-4 dex = 69 km/s, SDSS/BOSS sampling).
        spectrum_num_patches (`int`): patches on the grid; ``spectrum_num_patches * spectrum_patch_size`` pixels.
        spectrum_patch_size (`int`): pixels per spectrum token.
        photometry_softening_nmgy (`float`): asinh-magnitude softening b (nanomaggies; 0.1 nmgy = 25 AB).
        image_patch_size (`int`): pixels along each side of an image patch token.
        image_softening (`float`): surface-brightness softening of image pixels (nanomaggies / arcsec²).
        filter_table (`dict`): band name -> [effective wavelength, FWHM] (Angstrom). Default: every speclite
            band galfm knows plus the synthetic J-PAS set.
        property_names (`list`): the tokenizable properties in the order that defines their type ids (a list,
            because JSON configs do not keep dict order).
        property_specs (`dict`): property -> {"center", "scale", "transform"}, the token scaling.
        modalities (`list`): the record fields tokenized, names in `galfm.modalities.MODALITIES`.
    """

    model_input_names = [
        "spectrum_values", "spectrum_weights", "spectrum_wavelength", "spectrum_attention_mask",
        "spectrum_norm", "spectrum_norm_mask",
        "photometry_values", "photometry_wavelength", "photometry_attention_mask",
        "image_values", "image_weights", "image_wavelength", "image_position", "image_seeing",
        "image_attention_mask",
        "property_values", "property_ids", "property_attention_mask",
    ]

    def __init__(
        self,
        spectrum_log_wavelength_min: float = math.log10(3000.0),
        spectrum_log_wavelength_step: float = 1e-4,
        spectrum_num_patches: int = 129,
        spectrum_patch_size: int = 64,
        photometry_softening_nmgy: float = 0.1,
        image_patch_size: int = 8,
        image_softening: float = 0.05,
        filter_table: dict[str, list[float]] | None = None,
        property_names: list[str] | None = None,
        property_specs: dict[str, dict[str, Any]] | None = None,
        modalities: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.spectrum_log_wavelength_min = float(spectrum_log_wavelength_min)
        self.spectrum_log_wavelength_step = float(spectrum_log_wavelength_step)
        self.spectrum_num_patches = int(spectrum_num_patches)
        self.spectrum_patch_size = int(spectrum_patch_size)
        self.photometry_softening_nmgy = float(photometry_softening_nmgy)
        self.image_patch_size = int(image_patch_size)
        self.image_softening = float(image_softening)
        self.filter_table = {k: [float(x) for x in v] for k, v in (filter_table or default_filter_table()).items()}
        self.property_specs = property_specs if property_specs is not None else default_property_specs()
        self.property_names = list(property_names) if property_names is not None else list(self.property_specs)
        missing = [k for k in self.property_names if k not in self.property_specs]
        if missing:
            raise ValueError(f"property_specs lacks the scaling of {missing}")
        self.modalities = list(modalities or BUILTIN_MODALITIES)
        get_modalities(self.modalities)  # fail here on an unknown name, not at the first record

    @property
    def spectrum_grid_edges(self) -> np.ndarray:
        """Edges (Angstrom) of the common observed-frame log-lambda grid."""
        return grid_edges(self)

    def add_filter(self, name: str, wavelength, response) -> None:
        """Teach the tokenizer a new band from its transmission curve (Angstrom or a length Quantity).

        Only the effective wavelength and FWHM are kept: the model places any band by those two numbers.
        """
        self.filter_table[name] = [float(x) for x in summarize_response(wavelength, response)]

    def tokenize(self, record: Mapping, index: int = 0) -> dict[str, dict[str, np.ndarray]]:
        """Tokens of one record, per modality; raises `GalaxyInputError` if nothing usable is left."""
        if not isinstance(record, Mapping):
            raise GalaxyInputError(f"galaxy #{index}: expected a mapping (a galaxy record), got {type(record)}")
        galaxy = repr(record["object_id"]) if record.get("object_id") is not None else f"#{index}"
        given = [m.name for m in get_modalities(self.modalities) if record.get(m.name) is not None]
        tokens = {}
        for modality in get_modalities(given):
            found = modality.tokenize(record[modality.name], galaxy, self)
            if found is not None:
                tokens[modality.name] = found
        if not tokens:
            what = f"its {', '.join(given)} held no valid data" if given else "it has no modality"
            edges = self.spectrum_grid_edges
            raise input_error(galaxy, "record", f"no usable modality ({what}; spectra must overlap "
                              f"{edges[0]:.0f}-{edges[-1]:.0f} A)",
                              f"give at least one of {', '.join(self.modalities)} with finite values and ivar > 0")
        return tokens

    def __call__(self, records: Mapping | Sequence[Mapping], return_tensors: str | None = None, **kwargs
                 ) -> BatchFeature:
        """Tokenize one record or a list of records into a padded batch.

        Keys are present only for modalities that some galaxy in the batch has; each modality has its own
        ``*_attention_mask`` (1 = real token, 0 = padding).
        """
        if kwargs:
            raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
        if isinstance(records, Mapping):
            records = [records]
        tokens = [self.tokenize(r, i) for i, r in enumerate(records)]
        data: dict[str, np.ndarray] = {}
        for modality in get_modalities(self.modalities):
            if any(modality.name in t for t in tokens):
                data.update(modality.collate([t.get(modality.name) for t in tokens]))
        return BatchFeature(data=data, tensor_type=return_tensors)


__all__ = ["GalFMProcessor", "GalaxyInputError"]
