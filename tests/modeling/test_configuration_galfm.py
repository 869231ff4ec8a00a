"""Model size presets and config validation."""

from __future__ import annotations

import pytest
import torch

from galfm import PRESET_PARAMETERS, PRESETS, GalFMConfig, GalFMModel


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_parameter_counts_are_documented(name):
    with torch.device("meta"):  # no memory: large is 305M parameters
        model = GalFMModel(GalFMConfig.from_preset(name))
    assert sum(p.numel() for p in model.parameters()) == PRESET_PARAMETERS[name]


def test_presets_grow():
    assert PRESET_PARAMETERS["tiny"] < PRESET_PARAMETERS["base"] < PRESET_PARAMETERS["large"]


def test_preset_overrides_and_errors():
    config = GalFMConfig.from_preset("base", hidden_dropout_prob=0.1)
    assert config.hidden_size == 512 and config.hidden_dropout_prob == 0.1
    with pytest.raises(ValueError, match="tiny, base, large"):
        GalFMConfig.from_preset("huge")
    with pytest.raises(ValueError, match="multiple of num_attention_heads"):
        GalFMConfig(hidden_size=100, num_attention_heads=3)


def test_config_json_round_trip(tmp_path):
    config = GalFMConfig.from_preset("tiny", spectrum_patch_size=32)
    config.save_pretrained(tmp_path)
    loaded = GalFMConfig.from_pretrained(tmp_path)
    assert loaded.spectrum_patch_size == 32 and loaded.model_type == "galfm"
    assert loaded.to_dict()["hidden_size"] == 128
