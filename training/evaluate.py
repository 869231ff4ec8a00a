"""Evaluate galfm models on a galaxy-record folder: every task the data support, JSON + Markdown + PNGs.

    galfm evaluate --model DIR --data DIR --out DIR [--split test] [--max-samples 1000]

``--model`` is a saved head, a pretrained model, or a folder holding several (e.g. ``demo_output/models``):
each head (``galfm finetune`` output) is scored on its own task; a pretrained model (``AutoModelForPreTraining``)
gives cross-modal retrieval (image -> spectrum top-k) and, where the data flag anomalies, outlier AUROC, plus an
embedding map. A task whose labels or inputs the data lack is skipped, and the report says why. Metrics come
from the local `evaluate` modules (``galfm.training.metrics``).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from galfm.configuration_galfm import GalFMConfig
from galfm.datasets_scripts.parquet_shards import load_records
from galfm.heads_galfm import HEAD_CLASSES, GalFMHeadModel, load_head
from galfm.pretraining_galfm import GalFMForPretraining
from galfm.processing_galfm import GalFMProcessor
from galfm.search_galfm import GalaxyIndex, embed_galaxies

from .metrics import load_metric
from .plots import plot_task
from .real_sky import TESTS_DATA, default_real_paths, plot_real_sky, run_real_sky, summary_markdown
from .real_sky import markdown_table as real_sky_table
from .tasks import GalaxyTaskCollator, MissingLabelsError, TaskSpec, get_task, load_task_splits

logger = logging.getLogger("galfm.evaluate")

# which outputs of each head Trainer hands to compute_metrics, in the order of the head's ModelOutput
OUTPUT_NAMES = {"GalFMForPropertyPrediction": ("mean", "std"), "GalFMForPosteriorEstimation": ("samples",),
                "GalFMForStarFormationHistory": ("sfh", "log_z", "log_z_std"),
                "GalFMForMorphologyClassification": ("logits",)}


def split_outputs(model: GalFMHeadModel, predictions) -> dict[str, np.ndarray]:
    """A head's output tuple (or Trainer's predictions) as {output name: array}."""
    names = OUTPUT_NAMES[type(model).__name__]
    predictions = predictions if isinstance(predictions, tuple) else (predictions,)
    return dict(zip(names, predictions))


def task_of(head) -> TaskSpec:
    """The task a saved head (or its config) was fine-tuned for (``config.galfm_task``, written by `finetune`)."""
    config = getattr(head, "config", head)
    saved = getattr(config, "galfm_task", None)
    if not saved:
        raise ValueError(f"{(config.architectures or ['this model'])[0]} has no config.galfm_task: it was not saved "
                         "by galfm finetune; give the task explicitly")
    return get_task(saved["name"]).with_options(saved["inputs"], saved["targets"] or None, saved["band_prefixes"])


@torch.no_grad()
def evaluate_head(model_dir: str | Path, data_dir: str | Path, split: str = "test", max_samples: int | None = None,
                  batch_size: int = 64, conditions: bool = True
                  ) -> tuple[dict, dict[str, np.ndarray], np.ndarray, list[str]]:
    """Score a saved head on a split of a galaxy-record folder: (metrics, outputs, labels, object_ids).

    ``conditions``: hand the head the task's conditions from the records (the SFH head's redshift), as in
    training; False: the head finds them itself (its redshift scan), as on a spectrum without a catalogue z."""
    head = load_head(str(model_dir)).eval()
    task = task_of(head)
    dataset = load_task_splits(data_dir, task, splits=(split,))[split]
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    collate = GalaxyTaskCollator(GalFMProcessor.from_pretrained(model_dir), task, dict(head.config.label2id or {})
                                 if task.name == "morphology" else {})
    outputs, labels = {}, []
    for start in range(0, len(dataset), batch_size):
        batch = collate(list(dataset.select(range(start, min(start + batch_size, len(dataset))))))
        labels.append(batch.pop("labels").numpy())
        if not conditions:
            for name in task.conditions:
                batch.pop(name, None)
        for name, value in split_outputs(head, head(**batch).to_tuple()).items():
            outputs.setdefault(name, []).append(value.numpy())
    outputs = {k: np.concatenate(v) for k, v in outputs.items()}
    labels = np.concatenate(labels)
    return task.scores(outputs, labels), outputs, labels, list(dataset["object_id"])


def find_models(model_dir: str | Path) -> dict[str, tuple[str, Path, GalFMConfig]]:
    """{name: (architecture, folder, config)} of the galfm models in ``model_dir`` or its direct subfolders."""
    model_dir = Path(model_dir)
    candidates = [model_dir] + sorted(p for p in model_dir.iterdir() if p.is_dir()) if model_dir.is_dir() else []
    found = {}
    for folder in candidates:
        for inner in (folder, folder / "model"):
            if (inner / "config.json").is_file():
                config = GalFMConfig.from_pretrained(inner)
                architecture = (config.architectures or [""])[0]
                if architecture in HEAD_CLASSES or architecture == "GalFMForPretraining":
                    found[folder.name if folder != model_dir else model_dir.name] = (architecture, inner, config)
                break
    if not found:
        raise FileNotFoundError(f"{model_dir}: no galfm head or pretrained model (config.json with a galfm "
                                "architecture) here or in its subfolders")
    return found


def load_rows(data_dir: str | Path, split: str, limit: int | None = None, indices=None) -> list[dict]:
    """Rows of a split as records: the first ``limit`` or those at ``indices`` (only those are materialised: images
    make rows large); train where the folder has only train (e.g. a converted survey)."""
    splits = load_records(data_dir)
    if split not in splits:
        logger.warning("%s has no %s split; using train", data_dir, split)
        split = "train"
    dataset = splits[split]
    if indices is None:
        indices = range(min(limit or len(dataset), len(dataset)))
    return [dataset[int(i)] for i in indices]


@torch.no_grad()
def retrieval_scores(model: GalFMForPretraining, processor: GalFMProcessor, rows: list[dict]) -> dict | None:
    """Image -> spectrum and spectrum -> image top-1/top-10 through FAISS indexes; None without both."""
    rows = [r for r in rows if r.get("image") is not None and r.get("spectrum") is not None]
    if len(rows) < 11:
        return None
    ids = [r["object_id"] for r in rows]
    spectra = embed_galaxies(model, processor, rows, "spectrum")
    images = embed_galaxies(model, processor, rows, "image")
    out = {"count": len(rows), "chance_top_1": 1 / len(rows), "chance_top_10": 10 / len(rows)}
    for name, index_vectors, query_vectors in (("image_to_spectrum", spectra, images),
                                               ("spectrum_to_image", images, spectra)):
        _, found = GalaxyIndex.from_embeddings(index_vectors, ids).search(query_vectors, k=10)
        top = load_metric("retrieval").compute(predictions=found, references=ids, k=(1, 10))
        out.update({f"{name}_top_1": top["top_1"], f"{name}_top_10": top["top_10"]})
    return out


@torch.no_grad()
def outlier_scores(model: GalFMForPretraining, processor: GalFMProcessor, reference: list[dict], rows: list[dict],
                   k: int = 10,
                   modality: str | None = None) -> tuple[dict | None, np.ndarray | None]:
    """k-NN outlier scores of ``rows`` against an index of ``reference`` embeddings, and their AUROC on the
    rows' ``anomaly`` flags (None when nothing is flagged)."""
    if modality is not None:
        reference = [r for r in reference if r.get(modality) is not None]
        rows = [r for r in rows if r.get(modality) is not None]
    index = GalaxyIndex.from_embeddings(embed_galaxies(model, processor, reference, modality),
                                        [r["object_id"] for r in reference])
    same = {r["object_id"] for r in reference}
    ids = [r["object_id"] if r["object_id"] in same else None for r in rows]
    scores = index.outlier_scores(embed_galaxies(model, processor, rows, modality), k=k,
                                  ids=ids if any(ids) else None)
    flagged = np.array([r.get("anomaly") is not None for r in rows], int)
    if flagged.sum() == 0 or flagged.sum() == len(flagged):
        return None, scores
    result = dict(load_metric("auroc").compute(predictions=scores, references=flagged))
    for kind in sorted({r["anomaly"] for r in rows if r.get("anomaly")}):
        pick = np.array([r.get("anomaly") in (None, kind) for r in rows])
        result[f"auroc_{kind}"] = load_metric("auroc").compute(predictions=scores[pick],
                                                               references=flagged[pick])["auroc"]
    return result, scores


@torch.no_grad()
def plot_embedding_map(model: GalFMForPretraining, processor: GalFMProcessor, rows: list[dict], path: Path) -> bool:
    """The embeddings' first two principal components, coloured by redshift and by log M* where known."""

    vectors = embed_galaxies(model, processor, rows)
    centred = vectors - vectors.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    panels = [(key, np.array([(r.get("properties") or {}).get(key) or np.nan for r in rows], float))
              for key in ("redshift", "log_mstar", "log_ssfr")]
    panels = [(k, v) for k, v in panels if np.isfinite(v).sum() > 10]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, (key, values) in zip(axes[0], panels):
        art = ax.scatter(xy[:, 0], xy[:, 1], c=values, s=4, cmap="viridis")
        fig.colorbar(art, ax=ax, label=key)
        ax.set(xlabel="PC 1", ylabel="PC 2", title=f"embeddings coloured by {key}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def evaluate_models(model_dir: str | Path, data_dir: str | Path, out_dir: str | Path, split: str = "test",
                    max_samples: int = 1000, real_paths: Sequence[str | Path] = ()) -> dict:
    """Score every model found in ``model_dir`` on ``data_dir``; write ``metrics.json``, ``evaluation.md`` and
    one PNG per task to ``out_dir``. A property head that predicts redshift is also measured on the real
    spectra in ``real_paths`` (`galfm.training.real_sky`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"data": str(data_dir), "split": split, "tasks": {}, "skipped": {}, "plots": {},
                     "real_sky": {}}
    for name, (architecture, folder, config) in find_models(model_dir).items():
        if architecture == "GalFMForPretraining":
            model = GalFMForPretraining.from_pretrained(folder).eval()
            processor = GalFMProcessor.from_pretrained(folder)
            rows = load_rows(data_dir, split, max_samples)
            retrieval = retrieval_scores(model, processor, rows)
            if retrieval is None:
                results["skipped"][f"{name}/retrieval"] = "the data have no galaxies with both image and spectrum"
            else:
                results["tasks"][f"{name}/retrieval"] = retrieval
            if any(r.get("anomaly") for r in rows):
                reference = [r for r in load_rows(data_dir, "train", max_samples) if not r.get("anomaly")]
                scores, _ = outlier_scores(model, processor, reference, rows)
                results["tasks"][f"{name}/outliers"] = scores
            else:
                results["skipped"][f"{name}/outliers"] = "no galaxy in the split is flagged as an anomaly"
            if plot_embedding_map(model, processor, rows, out_dir / f"{name}_embedding_map.png"):
                results["plots"][f"{name}/embedding_map"] = f"{name}_embedding_map.png"
            continue
        try:
            metrics, outputs, labels, _ = evaluate_head(folder, data_dir, split=split, max_samples=max_samples)
        except MissingLabelsError as err:
            results["skipped"][name] = str(err)
            logger.warning("skipping %s: %s", name, err)
            continue
        results["tasks"][name] = metrics
        plot_task(task_of(config), outputs, labels, out_dir / f"{name}.png", label2id=dict(config.label2id or {}))
        results["plots"][name] = f"{name}.png"
        if real_paths and architecture == "GalFMForPropertyPrediction" and \
                "redshift" in (config.head_config.target_properties or []):
            rows, summary = run_real_sky(folder, real_paths)
            plot_real_sky(rows, out_dir / f"{name}_real_sky.png")
            results["real_sky"][name] = {"summary": summary, "table": real_sky_table(rows),
                                         "plot": f"{name}_real_sky.png"}
    (out_dir / "metrics.json").write_text(json.dumps(results, indent=2))
    (out_dir / "evaluation.md").write_text(markdown_report(results))
    return results


def markdown_report(results: dict) -> str:
    lines = [f"# galfm evaluation on `{results['data']}` ({results['split']} split)", ""]
    for name, real in results.get("real_sky", {}).items():
        lines += [f"## {name} on real galaxies", "", summary_markdown(real["summary"]), real["table"], "",
                  f"![{name} real sky]({real['plot']})", ""]
    for task, metrics in results["tasks"].items():
        lines += [f"## {task}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()]
        if task in results["plots"]:
            lines += ["", f"![{task}]({results['plots'][task]})"]
        lines.append("")
    for plot, path in results["plots"].items():
        if plot not in results["tasks"]:
            lines += [f"## {plot}", "", f"![{plot}]({path})", ""]
    if results["skipped"]:
        lines += ["## Skipped", ""] + [f"- **{k}**: {v}" for k, v in results["skipped"].items()] + [""]
    return "\n".join(lines)


def real_paths(given: Sequence[str] | None) -> list[Path]:
    """``--real``: the paths given, or (flag absent) the bundled real files."""
    return default_real_paths(TESTS_DATA) if given is None else [Path(p) for p in given]


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="galfm evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a head, a pretrained model, or a folder of them")
    parser.add_argument("--data", required=True, help="galaxy-record folder (galfm simulate / galfm convert)")
    parser.add_argument("--out", required=True, help="folder for metrics.json, evaluation.md and PNGs")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-samples", type=int, default=1000)
    parser.add_argument("--real", nargs="*", default=None,
                        help="real spectra (files or folders) for the real-sky section; default: the bundled "
                             "tests/data and ppxf's spectra; give no path to skip it")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = evaluate_models(args.model, args.data, args.out, args.split, args.max_samples, real_paths(args.real))
    print(markdown_report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
