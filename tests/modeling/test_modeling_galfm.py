"""GalFMModel: shapes, invariances a user relies on, save/load, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import synthetic_galaxy
from galfm import TOKEN_TYPES, GalFMConfig, GalFMModel, GalFMProcessor


def embed(model, processor, records, **kwargs):
    with torch.no_grad():
        return model(**processor(records, return_tensors="pt"), **kwargs)


def test_output_shapes_and_token_bookkeeping(tiny_model, processor, galaxy):
    other = synthetic_galaxy(seed=3, object_id="b", image=False)
    out = embed(tiny_model, processor, [galaxy, other], output_hidden_states=True, output_attentions=True)
    batch = processor([galaxy, other], return_tensors="pt")
    n_tokens = 1 + 1 + batch["spectrum_values"].shape[1] + 8 + batch["image_values"].shape[1] + 19
    assert out.last_hidden_state.shape == (2, n_tokens, 128)
    assert out.pooler_output.shape == (2, 128)
    assert out.attention_mask.shape == (2, n_tokens) and out.attention_mask[1].sum() < out.attention_mask[0].sum()
    counts = torch.bincount(out.token_type_ids[0], minlength=len(TOKEN_TYPES)).tolist()
    assert counts == [1, 1, batch["spectrum_values"].shape[1], 8, batch["image_values"].shape[1], 19]
    assert len(out.hidden_states) == 5 and len(out.attentions) == 4
    assert out.attentions[0].shape == (2, 4, n_tokens, n_tokens)
    # attention never lands on padding
    assert torch.all(out.attentions[0][1][..., out.attention_mask[1] == 0] == 0)


def test_save_load_round_trip_gives_identical_outputs(tmp_path, tiny_model, processor, galaxy):
    tiny_model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))
    model = GalFMModel.from_pretrained(tmp_path).eval()
    proc = GalFMProcessor.from_pretrained(tmp_path)
    a = embed(tiny_model, processor, [galaxy])
    b = embed(model, proc, [galaxy])
    assert torch.equal(a.last_hidden_state, b.last_hidden_state)
    assert torch.equal(a.pooler_output, b.pooler_output)


def test_permuting_photometry_bands_does_not_change_the_embedding(tiny_model, processor):
    record = synthetic_galaxy(spectrum=False, image=False, properties=False)
    permuted = synthetic_galaxy(spectrum=False, image=False, properties=False)
    order = np.random.default_rng(0).permutation(len(record["photometry"]["band"]))
    permuted["photometry"] = {k: np.asarray(v)[order].tolist() for k, v in record["photometry"].items()}
    assert permuted["photometry"]["band"] != record["photometry"]["band"]
    a = embed(tiny_model, processor, [record]).pooler_output
    b = embed(tiny_model, processor, [permuted]).pooler_output
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_band_identity_matters(tiny_model, processor):
    """The same fluxes in other bands are another galaxy: the band embedding is not ignored."""
    record = synthetic_galaxy(spectrum=False, image=False, properties=False)
    swapped = synthetic_galaxy(spectrum=False, image=False, properties=False)
    swapped["photometry"]["band"] = list(reversed(record["photometry"]["band"]))
    a = embed(tiny_model, processor, [record]).pooler_output
    b = embed(tiny_model, processor, [swapped]).pooler_output
    assert (a - b).abs().max() > 1e-3


def test_dropping_a_modality_changes_only_what_it_should(tiny_model, processor):
    full = synthetic_galaxy()
    no_image = synthetic_galaxy(image=False)
    a, b = processor(full), processor(no_image)
    # the other modalities' tokens are untouched
    assert "image_values" not in b
    for key in b:
        np.testing.assert_array_equal(a[key], b[key])
    # the embedding does change: the image carried information
    ea = embed(tiny_model, processor, [full]).pooler_output
    eb = embed(tiny_model, processor, [no_image]).pooler_output
    assert (ea - eb).abs().max() > 1e-4
    # and a galaxy's embedding does not depend on what the other galaxies in its batch carry
    batched = embed(tiny_model, processor, [full, no_image]).pooler_output
    torch.testing.assert_close(batched[1], eb[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batched[0], ea[0], rtol=1e-5, atol=1e-5)


def test_real_sdss_and_desi_embed(tiny_model, processor, data_dir):
    from galfm.datasets_scripts.desi import read_coadd
    from galfm.datasets_scripts.sdss import read_spec

    records = [read_spec(data_dir / "sdss" / "spec-0266-51602-0013.fits"),
               *read_coadd(data_dir / "desi" / "coadd-4-80613-thru20210324.fits")]
    out = embed(tiny_model, processor, records)
    assert out.pooler_output.shape == (2, 128)
    assert torch.all(torch.isfinite(out.last_hidden_state))
    assert not torch.allclose(out.pooler_output[0], out.pooler_output[1])


def test_gradients_reach_every_modality_projection(processor, galaxy):
    torch.manual_seed(0)
    model = GalFMModel(GalFMConfig.from_preset("tiny")).train()
    out = model(**processor([galaxy], return_tensors="pt"))
    out.pooler_output.pow(2).sum().backward()
    emb, parts = model.embeddings, model.embeddings.modality_embeddings
    for layer in (parts["spectrum"].projection, parts["spectrum"].norm_projection, parts["photometry"].projection,
                  parts["image"].projection, parts["properties"].projection, emb.wavelength_embedding.proj_in):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_model_rejects_empty_and_mismatched_inputs(tiny_model):
    with pytest.raises(ValueError, match="GalFMProcessor"):
        tiny_model()
    with pytest.raises(ValueError, match="num_property_types"):
        tiny_model(property_values=torch.zeros(1, 1), property_ids=torch.full((1, 1), 999))
