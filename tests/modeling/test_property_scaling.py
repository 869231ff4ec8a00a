"""The property scaling lives in the saved processor and head config only: a folder with a custom scaling
tokenizes, predicts and trains in record units after a save and reload."""

from __future__ import annotations

import torch

from galfm import GalFMConfig, GalFMForPretraining, GalFMForPropertyPrediction, GalFMProcessor, load_head
from galfm.modality_properties import default_property_specs

CUSTOM = {**default_property_specs(), "redshift": {"center": 2.0, "scale": 0.1, "transform": "linear"}}
PHOTOMETRY = {"object_id": "x", "photometry": {"band": ["sdss_g", "sdss_r"], "flux": [5.0, 10.0],
                                               "flux_ivar": [100.0, 100.0]}}


def _zero(linear: torch.nn.Linear) -> None:
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()


def test_the_processor_tokenizes_with_its_saved_scaling(tmp_path):
    GalFMProcessor(property_specs=CUSTOM).save_pretrained(tmp_path)
    processor = GalFMProcessor.from_pretrained(tmp_path)
    batch = processor({"object_id": "x", "properties": {"redshift": 2.3}})
    assert abs(float(batch["property_values"][0, 0]) - 3.0) < 1e-5  # (2.3 - 2.0) / 0.1


def test_a_head_with_a_custom_scaling_predicts_in_record_units(tmp_path):
    torch.manual_seed(0)
    config = GalFMConfig.from_preset("tiny", target_properties=["redshift"], property_specs=CUSTOM)
    head = GalFMForPropertyPrediction(config)
    _zero(head.head.fc2)  # standardised mean 0, log variance 0: the spec's centre, one scale of std
    head.save_pretrained(tmp_path)
    GalFMProcessor(property_specs=CUSTOM).save_pretrained(tmp_path)
    reloaded = load_head(str(tmp_path)).eval()
    batch = GalFMProcessor.from_pretrained(tmp_path)(PHOTOMETRY, return_tensors="pt")
    output = reloaded(**batch, labels=torch.tensor([[2.0]]))
    assert torch.allclose(output.mean, torch.tensor([[2.0]])) and torch.allclose(output.std, torch.tensor([[0.1]]))
    assert abs(float(output.loss.detach())) < 1e-6  # the label sits on the prediction: NLL 0.5 * (0 + 0) on that scale
    default = GalFMForPropertyPrediction(GalFMConfig.from_preset("tiny", target_properties=["redshift"]))
    _zero(default.head.fc2)
    # galfm.PROPERTIES' centre: the scaling is the config's
    assert abs(float(default(**batch).mean.detach()) - 0.5) < 1e-6


def test_predict_answers_in_the_processors_units(tmp_path):
    torch.manual_seed(0)
    model = GalFMForPretraining(GalFMConfig.from_preset("tiny")).eval()
    _zero(model.masked_heads.heads["property"])
    model.save_pretrained(tmp_path)
    GalFMProcessor(property_specs=CUSTOM).save_pretrained(tmp_path)
    reloaded = GalFMForPretraining.from_pretrained(tmp_path)
    value, sigma = reloaded.predict(PHOTOMETRY, ["redshift"], GalFMProcessor.from_pretrained(tmp_path))[0][
        "properties"]["redshift"]
    assert abs(value - 2.0) < 1e-6 and abs(sigma - 0.1) < 1e-6
