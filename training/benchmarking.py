"""What the benchmarks in ``benchmarks/`` share: recording a table in ``benchmarks/RESULTS.md``, a reusable
fine-tuning run, and the photo-z rows of a run's test predictions. Metrics come from `galfm.training.metrics`
and `galfm.training.evaluate` only; no benchmark computes one itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from galfm.datasets_scripts.parquet_shards import load_records

from .finetune import FinetuneConfig, finetune
from .metrics import load_metric, scatter_in_context
from .real_sky import r_magnitude


def record(results_file: str | Path, name: str, heading: str, table: str) -> None:
    """Write ``table`` into ``results_file`` between the markers of ``name`` (replacing the last run)."""
    results_file = Path(results_file)
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = results_file.read_text() if results_file.exists() else "# Benchmark results\n"
    block = f"{begin}\n{table}{end}"
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n## {heading}\n\n{block}\n"
    results_file.write_text(text)
    print(f"recorded in {results_file}")


def spread(values, fmt: str) -> str:
    """mean ± standard deviation over runs (the value alone for one run)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


def run_finetune(task: str, data: Path, base: Path | None, out: Path, steps: int, **options) -> dict:
    """One `galfm finetune` run (reused if its metrics exist), with its wall time."""
    if (out / "metrics.json").is_file():
        return json.loads((out / "metrics.json").read_text())
    started = time.perf_counter()
    config = FinetuneConfig(task=task, data=str(data), output_dir=str(out), base=None if base is None else str(base),
                            from_scratch=base is None, max_steps=steps, **options)
    metrics = finetune(config)
    metrics["wall_s"] = time.perf_counter() - started
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def r_band_magnitudes(data: Path, object_ids, split: str = "test") -> np.ndarray:
    """SDSS-r-like AB magnitude of galaxies from their catalogue photometry (`real_sky.r_magnitude`); NaN where
    none."""
    rows = load_records(data, split=split).select_columns(["object_id", "photometry"])
    mags = {row["object_id"]: r_magnitude(row["photometry"]) for row in rows}
    return np.array([np.nan if mags.get(i) is None else mags[i] for i in object_ids])


def photoz_rows(name: str, out: Path, data: Path, r_limit: float | None = 22.0) -> list[str]:
    """The Markdown row of a photo-z run's test predictions (``out/test_predictions.npz``), cut at ``r_limit``."""
    saved = np.load(out / "test_predictions.npz")
    z_true, z_pred = saved["labels"][:, 0], saved["mean"][:, 0]
    keep = np.isfinite(z_true)
    label = "all"
    if r_limit is not None:
        keep &= r_band_magnitudes(data, saved["object_id"]) < r_limit
        label = f"r < {r_limit:g}"
    score = load_metric("photoz").compute(predictions=z_pred[keep], references=z_true[keep])
    cover = load_metric("coverage").compute(predictions=z_pred[keep], references=z_true[keep],
                                            std=saved["std"][keep, 0])
    scatter = scatter_in_context({f"redshift/{k}": v for k, v in score.items()}, "redshift")
    return [f"| {name} ({label}, {score['count']} galaxies) | σ_NMAD {scatter}, outliers "
            f"{100 * score['outlier_fraction']:.1f}%, bias {score['bias']:+.4f}, 68%/95% coverage "
            f"{100 * cover['coverage_68']:.0f}%/{100 * cover['coverage_95']:.0f}% |"]


__all__ = ["photoz_rows", "r_band_magnitudes", "record", "run_finetune", "spread"]
