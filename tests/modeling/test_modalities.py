"""The modality table: a new modality is one class and one registry line; selection is one rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest
import torch
from torch import nn

from conftest import diverse_galaxy, synthetic_galaxy
from galfm import GalFMConfig, GalFMForPretraining, GalFMModel, GalFMProcessor, Modality, select_modalities
from galfm.modalities import MODALITIES, register_modality, token_types
from galfm.modality_base import ModelTokens, attention_mask_of, input_error, pad_tokens, token_mask


class RadioModality(Modality):
    """A toy fifth modality: radio continuum fluxes at a few frequencies, one token each."""

    name = "radio"
    token_types = ("radio",)
    batch_keys = ("radio_values", "radio_frequency", "radio_attention_mask")
    contrastive = True

    def tokenize(self, value, galaxy, processor):
        flux = np.asarray(value["flux_mjy"], float)
        if not np.all(np.isfinite(flux)):
            raise input_error(galaxy, "radio.flux_mjy", "not finite", "drop the missing frequencies")
        return {"values": np.log10(np.abs(flux) + 1e-3)[:, None].astype(np.float32),
                "frequency": np.log10(np.asarray(value["frequency_ghz"], float))[:, None].astype(np.float32)}

    def collate(self, tokens: Sequence[dict | None]) -> dict[str, np.ndarray]:
        return {"radio_values": pad_tokens(tokens, "values"), "radio_frequency": pad_tokens(tokens, "frequency"),
                "radio_attention_mask": token_mask(tokens, "values")}

    def token_dims(self, config):
        return {"radio": 1}

    def model_tokens(self, inputs: Mapping, config):
        values = inputs["radio_values"].float()
        mask = attention_mask_of(inputs, "radio_attention_mask", values)
        return [ModelTokens("radio", values, values, torch.full_like(values, 0.01), mask.bool()[..., None], mask)]

    def build_embedding(self, config):
        return RadioEmbedding(config)


class RadioEmbedding(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.projection = nn.Linear(1, config.hidden_size)
        self.frequency = nn.Linear(1, config.hidden_size)

    def forward(self, inputs, tokens, wavelength_embedding):
        return [(self.projection(b.features), self.frequency(inputs["radio_frequency"].float())) for b in tokens]


@pytest.fixture()
def radio():
    register_modality(RadioModality())
    yield
    MODALITIES.pop("radio")


def _with_radio(i: int) -> dict:
    record = diverse_galaxy(i, image=False)
    record["radio"] = {"frequency_ghz": [1.4, 3.0, 6.0], "flux_mjy": [2.0 * (i + 1), 1.2 * (i + 1), 0.8 * (i + 1)]}
    return record


def test_a_fifth_modality_from_outside_the_package_trains_a_step(radio):
    modalities = ["spectrum", "photometry", "image", "properties", "radio"]
    processor = GalFMProcessor(modalities=modalities)
    batch = processor([_with_radio(i) for i in range(6)], return_tensors="pt")
    assert batch["radio_values"].shape == (6, 3, 1)
    torch.manual_seed(0)
    config = GalFMConfig.from_preset("tiny", modalities=modalities)
    assert token_types(config.modalities)[-1] == "radio"
    model = GalFMForPretraining(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    output = model(**batch)
    output.loss.backward()
    radio_weights = model.galfm.embeddings.modality_embeddings["radio"].projection.weight
    assert radio_weights.grad is not None and radio_weights.grad.abs().sum() > 0
    assert model.masked_heads.heads["radio"].weight.grad is not None
    optimizer.step()
    encoder = GalFMModel(config).eval()
    out = encoder(**batch)
    radio_id = token_types(config.modalities).index("radio")
    assert (out.token_type_ids == radio_id).sum() == 6 * 3
    # a galaxy with only the new modality is a galaxy
    alone = processor([{"object_id": "r", "radio": _with_radio(0)["radio"]}], return_tensors="pt")
    assert encoder(**alone).pooler_output.shape == (1, 128)


def test_a_modality_must_name_new_token_types(radio):
    clash = RadioModality()
    clash.name, clash.token_types = "radio2", ("photometry",)
    with pytest.raises(ValueError, match="already belong"):
        register_modality(clash)
    with pytest.raises(ValueError, match="unknown modalities"):
        GalFMProcessor(modalities=["spectrum", "lidar"])


def test_select_modalities_keeps_what_is_asked_and_drops_labels():
    record = synthetic_galaxy()
    only = select_modalities(record, ["photometry"], band_prefixes=("sdss_",))
    assert only["spectrum"] is None and only["image"] is None and only["properties"] is None
    assert only["object_id"] == record["object_id"]
    assert only["photometry"]["band"] == ["sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z"]
    cut = select_modalities(record, ["spectrum"], wavelength_range=(5000.0, 6000.0))
    wave, mask = np.asarray(cut["spectrum"][0]["wavelength"]), cut["spectrum"][0]["mask"]
    assert mask[(wave < 5000) | (wave > 6000)].all() and not mask[(wave > 5000) & (wave < 6000)].any()
    assert record["spectrum"]["mask"].sum() == 0  # the record itself is untouched
