"""Similarity search and outlier scores: a galaxy finds itself, an index survives a save, anomalies stand out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import diverse_galaxy, synthetic_galaxy
from galfm import GalaxyIndex, GalFMConfig, GalFMForPretraining, embed_galaxies


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GalFMForPretraining(GalFMConfig.from_preset("tiny")).eval()


@pytest.fixture(scope="module")
def records():
    return [diverse_galaxy(i) for i in range(24)]


def test_each_galaxy_finds_itself_first(model, processor, records):
    embeddings = embed_galaxies(model, processor, records, modality="photometry", batch_size=10)
    assert embeddings.shape == (24, 128)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    index = GalaxyIndex.from_embeddings(embeddings, [r["object_id"] for r in records], modality="spectrum")
    scores, ids = index.search(embeddings, k=3)
    assert [row[0] for row in ids] == [r["object_id"] for r in records]
    np.testing.assert_allclose(scores[:, 0], 1.0, rtol=1e-5)


def test_cross_modal_search_runs_image_queries_against_spectra(model, processor, records):
    spectra = embed_galaxies(model, processor, records, modality="spectrum")
    images = embed_galaxies(model, processor, records[:5], modality="image")
    index = GalaxyIndex.from_embeddings(spectra, [r["object_id"] for r in records], modality="spectrum")
    scores, ids = index.search(images, k=10)
    assert scores.shape == (5, 10) and all(len(row) == 10 for row in ids)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_index_saves_and_loads(model, processor, records, tmp_path):
    embeddings = embed_galaxies(model, processor, records)
    index = GalaxyIndex.from_embeddings(embeddings, [r["object_id"] for r in records])
    index.save(tmp_path / "index")
    again = GalaxyIndex.load(tmp_path / "index")
    assert len(again) == 24 and again.ids == index.ids
    a, b = index.search(embeddings[:4], 5), again.search(embeddings[:4], 5)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    with pytest.raises(FileNotFoundError, match="index.faiss"):
        GalaxyIndex.load(tmp_path)


def test_an_injected_anomaly_scores_above_normal_galaxies():
    """Normal galaxies fill a few populations (clusters of embeddings); one galaxy lies off all of them."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 64))

    def population(n):
        x = centers[rng.integers(0, 4, n)] + 0.3 * rng.normal(size=(n, 64))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    reference = population(400)
    index = GalaxyIndex.from_embeddings(reference, [f"r{i}" for i in range(400)])
    normal = population(50)
    anomaly = rng.normal(size=(1, 64)).astype(np.float32)
    anomaly /= np.linalg.norm(anomaly)
    assert index.outlier_scores(anomaly, k=10)[0] > index.outlier_scores(normal, k=10).max()
    # scoring the indexed galaxies themselves skips their own entry (which would score 0)
    own = index.outlier_scores(reference[:20], k=10, ids=index.ids[:20])
    assert np.all(own > 0.01)
    np.testing.assert_allclose(own, index.outlier_scores(reference[:20], k=11)[:, None].ravel() * 11 / 10, rtol=1e-4)


def test_missing_modality_is_named(model, processor):
    record = synthetic_galaxy(0, image=False)
    with pytest.raises(ValueError, match="have no image"):
        embed_galaxies(model, processor, [record], modality="image")
    with pytest.raises(ValueError, match="modality 'sed'"):
        embed_galaxies(model, processor, [record], modality="sed")
