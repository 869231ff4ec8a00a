"""Similarity search and outlier scores on galfm embeddings, with FAISS.

Embeddings are unit vectors, so an inner-product index (``faiss.IndexFlatIP``, exact) ranks by cosine
similarity. `embed_galaxies` computes them from one modality or all: with a `GalFMForPretraining` model the
per-modality embeddings come from the contrastive projection, which aligns image, spectrum and photometry in
one space, so an image query retrieves spectra; a plain `GalFMModel` gives its ``pooler_output``.

Outlier score (`GalaxyIndex.outlier_scores`): the mean cosine distance (1 - cos) from a galaxy's embedding to its
k nearest neighbours in a reference index (the query itself excluded). A k-nearest-neighbour density proxy: a
galaxy unlike everything seen scores high. It needs no labels and no model of the anomalies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import faiss
import numpy as np
import torch
from tqdm.auto import tqdm

from .modalities import contrastive_modalities, observed_modalities, select_modalities
from .modeling_galfm import GalFMModel
from .pretraining_galfm import GalFMForPretraining
from .processing_galfm import GalFMProcessor

SEARCH_MODALITIES = contrastive_modalities()


@torch.no_grad()
def embed_galaxies(model: GalFMForPretraining | GalFMModel, processor: GalFMProcessor, records: Sequence[Mapping],
                   modality: str | None = None,
                   batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """(N, d) float32 unit-norm embeddings of ``records`` from ``modality`` alone (None: every observed modality;
    labels never enter a search embedding). ``model``: a `GalFMForPretraining` (cross-modal) or `GalFMModel`.

    Records without that modality raise; select them first (e.g. ``[r for r in records if r["image"]]``).
    """
    if modality is not None and modality not in SEARCH_MODALITIES:
        raise ValueError(f"modality {modality!r}: choose one of {', '.join(SEARCH_MODALITIES)} (or None: all)")
    keep = [modality] if modality is not None else observed_modalities()
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in tqdm(range(0, len(records), batch_size), disable=not progress, desc=f"embedding {modality or 'all'}"):
        chunk = [select_modalities(r, keep) for r in records[start:start + batch_size]]
        missing = [r["object_id"] for r in chunk if modality is not None and r[modality] is None]
        if missing:
            raise ValueError(f"galaxies {missing[:5]} have no {modality}: embed only records that have it")
        batch = {k: v.to(device) for k, v in processor(chunk, return_tensors="pt").items()}
        if hasattr(model, "modality_embeddings") and modality is not None:
            vectors = model.modality_embeddings(model.galfm.embed(batch), [modality])[modality][0]
        else:
            encoder = model.galfm if hasattr(model, "galfm") else model
            vectors = torch.nn.functional.normalize(encoder(**batch).pooler_output.float(), dim=-1)
        out.append(vectors.cpu().numpy().astype(np.float32))
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), np.float32)


class GalaxyIndex:
    """A FAISS inner-product index of unit embeddings with the galaxies' ids; saves to and loads from a folder."""

    def __init__(self, dim: int, modality: str | None = None):
        self.index = faiss.IndexFlatIP(dim)
        self.ids: list[str] = []
        self.modality = modality

    @classmethod
    def from_embeddings(cls, embeddings: np.ndarray, ids: Sequence[str], modality: str | None = None) -> GalaxyIndex:
        index = cls(embeddings.shape[1], modality)
        index.add(embeddings, ids)
        return index

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.index.d or len(ids) != len(embeddings):
            raise ValueError(f"embeddings {embeddings.shape} and {len(ids)} ids: give (N, {self.index.d}) and N ids")
        if not np.all(np.isfinite(embeddings)):
            raise ValueError("embeddings contain NaN or inf")
        self.index.add(embeddings)
        self.ids.extend(str(i) for i in ids)

    def search(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, list[list[str]]]:
        """(cosine similarities (Q, k), ids (Q lists of k)), best first."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, rows = self.index.search(queries, min(k, len(self)))
        return scores, [[self.ids[j] for j in row if j >= 0] for row in rows]

    def outlier_scores(self, embeddings: np.ndarray, k: int = 10, ids: Sequence[str] | None = None) -> np.ndarray:
        """Mean cosine distance to the k nearest galaxies of the index; with ``ids``, a galaxy's own entry
        is skipped (scoring the indexed galaxies themselves)."""
        scores, found = self.search(embeddings, k + (1 if ids is not None else 0))
        out = np.empty(len(scores))
        for i, (row, names) in enumerate(zip(scores, found)):
            if ids is not None:
                keep = [j for j, name in enumerate(names) if name != str(ids[i])][:k]
                row = row[keep]
            out[i] = float(np.mean(1.0 - row[:k]))
        return out

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        (folder / "index.json").write_text(json.dumps({"ids": self.ids, "modality": self.modality,
                                                       "metric": "cosine (inner product of unit vectors)"}))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> GalaxyIndex:
        folder = Path(folder)
        for name in ("index.faiss", "index.json"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} is missing: save the index with GalaxyIndex.save(folder)")
        meta = json.loads((folder / "index.json").read_text())
        index = cls.__new__(cls)
        index.index = faiss.read_index(str(folder / "index.faiss"))
        index.ids, index.modality = list(meta["ids"]), meta.get("modality")
        if index.index.ntotal != len(index.ids):
            raise ValueError(f"{folder}: index holds {index.index.ntotal} vectors but {len(index.ids)} ids")
        return index


__all__ = ["GalaxyIndex", "SEARCH_MODALITIES", "embed_galaxies"]
