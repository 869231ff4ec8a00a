"""Folders saved before the modality redesign (36bfb7e; ``tests/data/compat``, made by
``make_compat_fixtures.py.txt`` there) load and give the same outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import DATA, diverse_galaxy
from galfm import GalFMForPretraining, GalFMForPropertyPrediction, GalFMProcessor

COMPAT = DATA / "compat"


@pytest.fixture(scope="module")
def outputs():
    processor = GalFMProcessor.from_pretrained(COMPAT / "pretraining")
    model = GalFMForPretraining.from_pretrained(COMPAT / "pretraining", dtype=torch.float32).eval()
    head = GalFMForPropertyPrediction.from_pretrained(COMPAT / "property_head", dtype=torch.float32).eval()
    records = [diverse_galaxy(i) for i in range(4)]
    records[1]["image"], records[2]["spectrum"], records[3]["photometry"] = None, None, None
    batch = processor(records, return_tensors="pt")
    model.config.pretraining_config.objective_assignment = "every_galaxy"  # the losses as the old step made them
    with torch.no_grad():
        encoded = model.galfm(**batch)
        torch.manual_seed(5)
        losses = model(**batch)
        predicted = head(**batch)
        answer = model.predict([diverse_galaxy(7)], ["spectrum", "sdss_r", "redshift"], processor)[0]
    keep = encoded.attention_mask.bool()
    return model, {
        "pooler_output": encoded.pooler_output.numpy(), "token_states": encoded.last_hidden_state[keep][::7].numpy(),
        "head_mean": predicted.mean.numpy(), "head_std": predicted.std.numpy(),
        "contrastive_loss": losses.contrastive_loss.numpy(), "masked_loss": losses.masked_loss.numpy(),
        "predicted_spectrum": answer["spectrum"]["flux"][::16],
        "predicted_spectrum_std": answer["spectrum"]["flux_std"][::16],
        "predicted_band": answer["photometry"]["flux"],
        "predicted_redshift": np.array(answer["properties"]["redshift"]),
    }


@pytest.mark.parametrize("name", ["pooler_output", "token_states", "head_mean", "head_std", "contrastive_loss",
                                  "predicted_spectrum", "predicted_spectrum_std", "predicted_band",
                                  "predicted_redshift"])
def test_legacy_folders_give_the_same_outputs(outputs, name):
    reference = np.load(COMPAT / "reference_outputs.npz")[name]
    np.testing.assert_allclose(outputs[1][name], reference, rtol=1e-6, atol=1e-6 * np.abs(reference).max())


def test_masked_loss_differs_only_by_the_target_variance_fix(outputs):
    """The old targets divided by the inverse error w, not w^2: the fix changes the masked loss, nothing else."""
    reference = float(np.load(COMPAT / "reference_outputs.npz")["masked_loss"])
    assert abs(float(outputs[1]["masked_loss"]) - reference) > 1e-3


def test_a_legacy_folder_resaves_under_todays_names(outputs, tmp_path):
    model = outputs[0]
    model.save_pretrained(tmp_path)
    again = GalFMForPretraining.from_pretrained(tmp_path, dtype=torch.float32)
    for (name, tensor), (other, value) in zip(model.state_dict().items(), again.state_dict().items()):
        assert name == other and torch.equal(tensor, value)
