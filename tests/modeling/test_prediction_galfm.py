"""Any-modality prediction: answers in record units, on the right grid, never echoing what was asked for."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import synthetic_galaxy
from galfm import GalFMConfig, GalFMForPretraining


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GalFMForPretraining(GalFMConfig.from_preset("tiny")).eval()


def test_answers_every_kind_of_target(model, processor):
    records = [synthetic_galaxy(i, object_id=f"g{i}") for i in range(3)]
    out = model.predict(records, ["spectrum", "jpas_J0660", "decam_r", "ew_halpha"], processor=processor)
    assert len(out) == 3
    spectrum = out[0]["spectrum"]
    edges = processor.spectrum_grid_edges
    assert spectrum["wavelength"].shape == spectrum["flux"].shape == spectrum["flux_std"].shape == (edges.size - 1,)
    np.testing.assert_allclose(spectrum["wavelength"], np.sqrt(edges[:-1] * edges[1:]))
    assert np.all(spectrum["flux_std"] > 0) and np.all(np.isfinite(spectrum["flux"]))
    assert out[0]["photometry"]["band"] == ["jpas_J0660", "decam_r"]
    assert out[0]["photometry"]["flux"].shape == (2,) and np.all(out[0]["photometry"]["flux_std"] > 0)
    value, std = out[0]["properties"]["ew_halpha"]
    assert np.isfinite(value) and std > 0


def test_a_wavelength_range_gives_that_part_only(model, processor):
    out = model.predict([synthetic_galaxy(0)], ["spectrum"], processor=processor, wavelength_range=(6500.0, 7500.0))
    wave = out[0]["spectrum"]["wavelength"]
    assert wave.min() >= 6500.0 and wave.max() <= 7500.0 and wave.size > 100
    assert np.all(np.diff(wave) > 0)


def test_the_answer_never_sees_the_targets_own_data(model, processor):
    galaxy = synthetic_galaxy(0)
    changed = synthetic_galaxy(0)
    changed["spectrum"]["flux"] = changed["spectrum"]["flux"] * 5.0  # the spectrum being predicted
    changed["photometry"]["flux"][5] *= 3.0  # jpas_J0400, being predicted
    changed["properties"]["flux_halpha"] = 1.0  # a property being predicted
    targets = ["spectrum", "jpas_J0400", "flux_halpha"]
    a, b = model.predict([galaxy], targets, processor), model.predict([changed], targets, processor)
    np.testing.assert_allclose(a[0]["spectrum"]["flux"], b[0]["spectrum"]["flux"], rtol=1e-5)
    np.testing.assert_allclose(a[0]["photometry"]["flux"], b[0]["photometry"]["flux"], rtol=1e-5)
    assert a[0]["properties"]["flux_halpha"] == pytest.approx(b[0]["properties"]["flux_halpha"], rel=1e-5)
    # while an input that is not a target does change the answer
    changed["photometry"]["flux"][2] *= 3.0
    c = model.predict([changed], targets, processor)
    assert not np.allclose(a[0]["photometry"]["flux"], c[0]["photometry"]["flux"])


def test_unknown_target_is_named(model, processor):
    with pytest.raises(ValueError, match="target 'hst_f999w'"):
        model.predict([synthetic_galaxy(0)], ["hst_f999w"], processor)
