"""Redshift from photometry alone, three ways, on simulated galaxies the head never saw: the encoder alone, the
template fit alone (flat prior) and the head's answer (the fit times its prior: the library's p(z) where the head
has a library covering the bands, else the encoder's Gaussian).

    python benchmarks/bench_photometric_redshift.py [--head pretrained/galfm-properties] [--data SURVEY ...]
        [--n 1500] [--record]

Without ``--data`` two surveys are simulated (seed 7, not the release's seed 0; SDSS, Legacy Surveys and J-PAS
photometry): the clean instruments and the observed variant (per-band zero points of 0.03 mag rms fixed per
dataset, 0.3 mag shallower, 10% of bands missing; anomalies left out). Every galaxy of a survey is scored, per
band set (SDSS ugriz, Legacy grz + W1/W2, J-PAS), for r < 20 and for all: sigma_NMAD, median bias, outliers
(|dz| / (1 + z) > 0.15), the share within 0.05 (1 + z) (the real-sky bar's cut) and the 68% interval coverage.
The real galaxies' photometry-alone rows are in the real-sky section (``bench_real_sky.py``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from galfm.datasets_scripts import load_records
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.heads_galfm import load_head
from galfm.modalities import get_modalities
from galfm.photometric_redshift_galfm import photometric_redshift_posterior
from galfm.processing_galfm import GalFMProcessor
from galfm.training.benchmarking import record
from galfm.training.metrics import load_metric
from galfm.training.real_sky import r_magnitude
from galfm.training.release import SHIPPED_DIR

ROOT = Path(__file__).resolve().parent.parent
BAND_SETS = {"SDSS ugriz": ("sdss_",), "Legacy grz + W1/W2": ("decam_", "bass_", "mzls_", "wise_"),
             "J-PAS": ("jpas_",)}
FLAT_PRIOR_STD = 1e3  # a Gaussian this wide is flat over the grid: the template fit alone


def simulate(folder: Path, n: int, variant: str) -> Path:
    if not (folder / "README.md").is_file():
        write_survey(SimulationConfig(n=n, seed=7, surveys=("sdss", "legacysurvey", "jpas"), variant=variant,
                                      anomaly_fraction=0.0), folder, progress=True)
    return folder


def read_rows(data: Path) -> list[dict]:
    """Every galaxy of a survey folder, all splits (the head never saw these surveys)."""
    return [r for split in ("train", "validation", "test") for r in load_records(data, split=split)]


@torch.no_grad()
def predict(head, processor, rows: list[dict], prefixes: tuple[str, ...], batch_size: int = 64
            ) -> dict[str, np.ndarray]:
    """Per galaxy with >= 3 bands of the set: truth, r magnitude and (z, sigma) of the three estimates."""
    photometry = get_modalities(["photometry"])[0]
    records, truth, r_mag = [], [], []
    for row in rows:
        selected = photometry.select(row["photometry"], band_prefixes=prefixes)
        if selected is None or len(selected["band"]) < 3:
            continue
        records.append({"object_id": row["object_id"], "photometry": selected})
        truth.append(row["properties"]["redshift"])
        r_mag.append(r_magnitude(row["photometry"]) or np.nan)
    index = head.targets.index("redshift")
    out = {k: [] for k in ("head", "head_std", "encoder", "encoder_std", "fit", "fit_std")}
    for start in range(0, len(records), batch_size):
        batch = processor(records[start:start + batch_size], return_tensors="pt")
        result = head(**batch)
        out["head"].append(result.mean[:, index]), out["head_std"].append(result.std[:, index])
        out["encoder"].append(result.encoder_redshift[:, 0]), out["encoder_std"].append(result.encoder_redshift[:, 1])
        scan = head.photometric_redshift(batch)
        scan.library_log_prior = None  # the fit alone: neither the library's p(z) nor the encoder's Gaussian
        flat = photometric_redshift_posterior(scan, torch.zeros(len(result.mean)),
                                              torch.full((len(result.mean),), FLAT_PRIOR_STD), head.config)
        out["fit"].append(flat.redshift), out["fit_std"].append(flat.sigma)
    arrays = {k: torch.cat(v).double().numpy() for k, v in out.items()}
    return {**arrays, "truth": np.asarray(truth), "r_mag": np.asarray(r_mag)}


def scores(z: np.ndarray, sigma: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    result = dict(load_metric("photoz").compute(predictions=z, references=truth))
    result.update(load_metric("coverage").compute(predictions=z, references=truth, std=sigma))
    result["within_0.05"] = float(np.mean(np.abs(z - truth) / (1 + truth) < 0.05))
    return result


def table(results: dict) -> str:
    lines = ["| survey | bands | galaxies | estimate | σ_NMAD | bias | outliers | within 0.05 | 68% coverage |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (variant, bands, cut), by_estimate in results.items():
        for estimate, s in by_estimate.items():
            lines.append(f"| {variant} | {bands} | {cut} ({s['count']}) | {estimate} | {s['sigma_nmad']:.4f} | "
                         f"{s['bias']:+.4f} | {100 * s['outlier_fraction']:.1f}% | {100 * s['within_0.05']:.0f}% | "
                         f"{100 * s['coverage_68']:.0f}% |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--head", default=str(SHIPPED_DIR / "galfm-properties"))
    parser.add_argument("--data", nargs="*", help="galfm survey folders (default: simulate clean + observed)")
    parser.add_argument("--n", type=int, default=1500, help="galaxies per simulated survey")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("GALFM_THREADS", "2")))
    head, processor = load_head(args.head).eval(), GalFMProcessor.from_pretrained(args.head)
    if head.photometric_redshift is None:
        raise SystemExit(f"{args.head}: no photometric fit (galfm finetune --photometric-redshift)")
    work = Path(tempfile.mkdtemp(prefix="bench_photoz_fit_"))
    surveys = {Path(d).name: Path(d) for d in args.data} if args.data else {
        v: simulate(work / v, args.n, v) for v in ("clean", "observed")}
    results = {}
    for name, data in surveys.items():
        rows = read_rows(data)
        for bands, prefixes in BAND_SETS.items():
            p = predict(head, processor, rows, prefixes)
            for cut, keep in (("r < 20", p["r_mag"] < 20), ("all", np.ones(len(p["truth"]), bool))):
                results[(name, bands, cut)] = {
                    label: {**scores(p[key][keep], p[f"{key}_std"][keep], p["truth"][keep]),
                            "count": int(keep.sum())}
                    for label, key in (("encoder alone", "encoder"), ("template fit alone", "fit"),
                                       ("head (fit x prior)", "head"))}
    text = table(results)
    print(text)
    if args.record:
        command = "python benchmarks/bench_photometric_redshift.py" + (f" --head {args.head}" if args.head else "")
        note = (f"Command: `{command}` ({args.n} galaxies per simulated survey, seed 7; head `{args.head}`). "
                "The head's photometry-alone answer is the template fit times its prior: the library's p(z) "
                "where it covers the bands (SDSS, Legacy), else the encoder's Gaussian "
                "(`galfm.photometric_redshift_galfm`).\n\n")
        record(ROOT / "benchmarks" / "RESULTS.md", "bench_photometric_redshift",
               "Redshift from photometry alone: encoder, template fit, both (`python "
               "benchmarks/bench_photometric_redshift.py`)", note + text)


if __name__ == "__main__":
    main()
