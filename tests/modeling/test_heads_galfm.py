"""The downstream heads: shapes, the SFH simplex, labels with gaps, save/load, and a posterior that covers the truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import diverse_galaxy, synthetic_galaxy
from galfm import (
    GalFMConfig,
    GalFMForMorphologyClassification,
    GalFMForPosteriorEstimation,
    GalFMForPretraining,
    GalFMForPropertyPrediction,
    GalFMForStarFormationHistory,
    load_head,
)

TARGETS = ["redshift", "log_mstar", "ew_halpha"]


@pytest.fixture(scope="module")
def batch(processor):
    records = [synthetic_galaxy(i, object_id=f"g{i}", properties=False) for i in range(4)]
    return dict(processor(records, return_tensors="pt"))


def _config(**overrides) -> GalFMConfig:
    return GalFMConfig.from_preset("tiny", **{"target_properties": TARGETS, "posterior_eval_samples": 50, **overrides})


def test_property_head_predicts_every_target_with_an_uncertainty(batch):
    torch.manual_seed(0)
    model = GalFMForPropertyPrediction(_config())
    labels = torch.tensor([[0.1, 10.2, 30.0], [0.3, 9.5, float("nan")], [0.2, 11.0, 3.0], [0.5, 10.0, 1.0]])
    out = model(**batch, labels=labels)
    assert out.mean.shape == out.std.shape == (4, 3)
    assert torch.all(out.std > 0) and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.head.fc2.weight.grad.abs().sum() > 0
    # a NaN label is a gap, not a value: whatever stands there, the loss is the same
    other = labels.clone()
    other[1, 2] = 1e6
    masked = model(**batch, labels=labels).loss
    assert not torch.isclose(masked, model(**batch, labels=other).loss)
    other[1, 2] = float("nan")
    torch.testing.assert_close(masked, model(**batch, labels=other).loss)


def test_property_head_learns_and_its_uncertainty_shrinks(processor):
    torch.manual_seed(0)
    model = GalFMForPropertyPrediction(_config(target_properties=["log_mstar"]))
    records = [diverse_galaxy(i, properties=False, spectrum=False, image=False) for i in range(6)]
    batch = dict(processor(records, return_tensors="pt"))
    labels = torch.tensor([[9.0], [9.5], [10.0], [10.5], [11.0], [11.5]])  # brightness grows with i
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = model(**batch, labels=labels)
    for _ in range(150):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out = model(**batch, labels=labels)
    assert torch.all(torch.diff(out.mean[:, 0]) > 0)  # the ranking by mass is learnt
    assert float((out.mean - labels).detach().abs().max()) < 0.3
    assert float(out.std.detach().mean()) < 0.5 * float(first.std.detach().mean())


def test_sfh_head_outputs_a_simplex(batch):
    model = GalFMForStarFormationHistory(_config())
    labels = torch.cat([torch.full((4, 16), 1 / 16), torch.tensor([[-0.3], [0.0], [float("nan")], [0.2]])], 1)
    out = model(**batch, labels=labels)
    assert out.sfh.shape == (4, 16) and torch.all(out.sfh >= 0)
    torch.testing.assert_close(out.sfh.sum(-1), torch.ones(4))
    assert out.log_z.shape == out.log_z_std.shape == (4,) and torch.isfinite(out.loss)


def test_morphology_head_ignores_unlabelled_galaxies(batch):
    config = _config(id2label={0: "spiral", 1: "elliptical", 2: "merger"})
    model = GalFMForMorphologyClassification(config)
    out = model(**batch, labels=torch.tensor([0, 2, -100, 1]))
    assert out.logits.shape == (4, 3) and torch.isfinite(out.loss)
    assert model(**batch, labels=torch.full((4,), -100)).loss.item() == 0.0


@pytest.mark.parametrize("head", [GalFMForPropertyPrediction, GalFMForPosteriorEstimation,
                                  GalFMForStarFormationHistory, GalFMForMorphologyClassification])
def test_heads_round_trip_and_start_from_a_pretrained_encoder(head, batch, tmp_path):
    torch.manual_seed(0)
    pretrained = GalFMForPretraining(GalFMConfig.from_preset("tiny"))
    pretrained.save_pretrained(tmp_path / "base")
    config = GalFMConfig.from_pretrained(tmp_path / "base", target_properties=TARGETS, posterior_eval_samples=0,
                                         id2label={0: "spiral", 1: "elliptical"})
    model = head.from_pretrained(tmp_path / "base", config=config).eval()
    # the encoder is the pretrained one, bit for bit
    for name, value in pretrained.galfm.state_dict().items():
        torch.testing.assert_close(model.galfm.state_dict()[name], value)
    model.save_pretrained(tmp_path / "head")
    reloaded = load_head(str(tmp_path / "head")).eval()
    assert type(reloaded) is head
    with torch.no_grad():
        torch.manual_seed(1)
        a = model(**batch).to_tuple()
        torch.manual_seed(1)
        b = reloaded(**batch).to_tuple()
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)


def test_load_head_refuses_an_encoder(tmp_path):
    GalFMForPretraining(GalFMConfig.from_preset("tiny")).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a galfm head"):
        load_head(str(tmp_path))


def test_unknown_target_property_is_named():
    with pytest.raises(ValueError, match="unknown \\['stellar_mass'\\]"):
        GalFMForPropertyPrediction(GalFMConfig.from_preset("tiny", target_properties=["stellar_mass"]))
    with pytest.raises(ValueError, match="target_properties is empty"):
        GalFMForPosteriorEstimation(GalFMConfig.from_preset("tiny"))


def test_posterior_covers_the_truth_on_an_easy_problem(processor):
    """theta = log M* uniform in [9, 11]; the data: one number, (theta - 10) / 2 + N(0, 0.1). The exact
    posterior is N(10 + 2 d, 0.2) (flat prior, away from the edges); the flow must recover it."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    def draw(n):
        theta = rng.uniform(9.0, 11.0, n)
        data = 0.5 * (theta - 10.0) + rng.normal(0, 0.1, n)
        records = [{"object_id": f"t{i}", "properties": {"av": float(d)}} for i, d in enumerate(data)]
        return dict(processor(records, return_tensors="pt")), torch.tensor(theta[:, None], dtype=torch.float32)

    config = GalFMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                         head_hidden_size=64, target_properties=["log_mstar"], flow_matching_steps=16)
    model = GalFMForPosteriorEstimation(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        inputs, theta = draw(128)
        loss = model(**inputs, labels=theta).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    inputs, theta = draw(300)
    central = (theta[:, 0] > 9.4) & (theta[:, 0] < 10.6)  # where the flat prior's edges do not cut the posterior
    samples = model.sample(num_samples=200, generator=torch.Generator().manual_seed(0), **inputs)
    assert samples.shape == (300, 200, 1)
    lo, hi = torch.quantile(samples[:, :, 0], torch.tensor([0.025, 0.975]), dim=1)
    covered = ((theta[:, 0] >= lo) & (theta[:, 0] <= hi))[central].float().mean()
    assert 0.85 <= covered <= 1.0
    width = samples[central, :, 0].std(1).median()
    assert 0.12 < width < 0.32  # the exact posterior width is 0.2
