"""``galfm demo``: the main job as far as it exists today.

Builds a randomly initialised ``tiny`` model, tokenizes the bundled real SDSS and DESI spectra (with their
photometry), embeds them, prints the shapes and the cosine-similarity matrix, and saves a Hub-ready folder.
Later stages (simulated survey, pretraining, heads, report) grow here as they land.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch


def load_bundled_records(data_dir: Path) -> list[dict]:
    """The real test spectra: every SDSS spec-*.fits and DESI coadd-*.fits under ``data_dir``."""
    from galfm.datasets_scripts.desi import read_coadd
    from galfm.datasets_scripts.sdss import read_spec

    sdss = sorted((data_dir / "sdss").glob("spec-*.fits"))
    desi = sorted((data_dir / "desi").glob("coadd-*.fits"))
    if not sdss and not desi:
        raise FileNotFoundError(f"no sdss/spec-*.fits or desi/coadd-*.fits under {data_dir}; pass --data-dir")
    records = [read_spec(p) for p in sdss]
    for path in desi:
        redrock = path.with_name(path.name.replace("coadd-", "redrock-"))
        records.extend(read_coadd(path, redrock if redrock.exists() else None))
    return records


def run_demo(out_dir: Path, data_dir: Path, seed: int = 0) -> dict:
    from galfm.model_cards import render

    from . import GalFMConfig, GalFMModel, GalFMProcessor

    torch.manual_seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = load_bundled_records(data_dir)
    processor = GalFMProcessor()
    config = GalFMConfig.from_preset("tiny")
    model = GalFMModel(config).eval()
    print(f"[1/3] tiny model: {model.num_parameters() / 1e6:.2f}M parameters; {len(records)} real galaxies")

    batch = processor(records, return_tensors="pt")
    print("[2/3] tokens per galaxy (spectrum / photometry):")
    for i, record in enumerate(records):
        n_spec = int(batch["spectrum_attention_mask"][i].sum()) if "spectrum_attention_mask" in batch else 0
        n_phot = int(batch["photometry_attention_mask"][i].sum()) if "photometry_attention_mask" in batch else 0
        z = (record.get("properties") or {}).get("redshift")
        z_text = f"{z:.4f}" if z is not None else "n/a"
        print(f"  [{i}] {record['object_id']:26s} {n_spec:4d} / {n_phot:2d}   catalogue z = {z_text}")
    inputs = {k: v for k, v in batch.items() if not k.startswith("property")}  # embed data, not catalogue z
    with torch.no_grad():
        output = model(**inputs)
    embeddings = torch.nn.functional.normalize(output.pooler_output, dim=-1)
    similarity = embeddings @ embeddings.T
    print(f"[3/3] last_hidden_state {tuple(output.last_hidden_state.shape)}, "
          f"pooler_output {tuple(output.pooler_output.shape)}")
    print("cosine similarity of the galaxy embeddings (untrained weights: expect little structure):")
    print("      " + "".join(f"{f'[{j}]':>8s}" for j in range(len(records))))
    for i, row in enumerate(similarity.tolist()):
        print(f"  [{i}] " + "".join(f"{v:8.3f}" for v in row))

    folder = out_dir / "galfm-tiny"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "README.md").write_text(render(
        "base_model.md", preset="tiny", parameters=f"{model.num_parameters():,}", repo_id="org/galfm",
        training="none: randomly initialised weights (demo); pretraining arrives with `galfm pretrain`",
        limitations="Untrained: embeddings only reflect the tokenization, not learned galaxy physics.",
    ))
    summary = {
        "galaxies": [r["object_id"] for r in records],
        "last_hidden_state_shape": list(output.last_hidden_state.shape),
        "pooler_output_shape": list(output.pooler_output.shape),
        "cosine_similarity": similarity.tolist(),
        "model_folder": str(folder),
    }
    (out_dir / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"saved {folder} (safetensors + config + processor + code) and {out_dir / 'demo_summary.json'}")
    return summary
