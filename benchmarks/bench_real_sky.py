"""Real galaxies through the shipped property head: redshift from the spectrum, spectrum + photometry, photometry.

    python benchmarks/bench_real_sky.py [--head pretrained/galfm-properties] [--paths FOLDER ...] [--out DIR] [--record]

Reads every real file at hand: tests/data (SDSS, DESI), the spectra the ppxf package ships (NGC 3073 and
NGC 3522 SDSS DR18, LEGA-C M19_56670) and any folder passed with --paths. Prints the per-object table and the
summary against the bar (secure galaxies: spectrum within 0.003 for >= 90% and 0.01 for all, |dz| < 2 sigma
for >= 90%; photometry alone within 0.05 (1+z) for r < 20; QSOs flagged), writes real_sky.{json,md,png}, and
with --record puts the table in benchmarks/RESULTS.md.

Nothing in the head was fitted to these files: the templates come from galfm's own stellar-population models
and the line physics (`galfm.training.redshift_templates`), the encoder and its heads were trained on the
simulation only, and no setting was chosen by looking at them; so a leave-one-out table equals this one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from galfm.heads_galfm import load_head
from galfm.processing_galfm import GalFMProcessor
from galfm.training.benchmarking import record
from galfm.training.real_sky import (
    default_real_paths,
    markdown_table,
    measure,
    plot_real_sky,
    read_real_galaxies,
    summarize,
)
from galfm.training.release import SHIPPED_DIR

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def summary_table(summary: dict) -> str:
    lines = ["| input | galaxies | within 0.003 | within 0.01 | within 0.05 | abs dz < 2 sigma | median abs dz |",
             "|---|---|---|---|---|---|---|"]
    for mode in ("spectrum", "spectrum+photometry", "photometry"):
        if mode in summary:
            s = summary[mode]
            lines.append(f"| {mode} | {s['galaxies']} | {s['within_0.003']:.2f} | {s['within_0.01']:.2f} | "
                         f"{s['within_0.05']:.2f} | {s['within_2sigma']:.2f} | {s['median_abs_dz']:.5f} |")
    extra = []
    if "photometry_r_lt_20" in summary:
        b = summary["photometry_r_lt_20"]
        extra.append(f"photometry alone, r < 20: {b['within_0.05']:.2f} of {b['galaxies']} within 0.05 (1+z)")
    if "qso" in summary:
        q = summary["qso"]
        extra.append(f"QSOs: {q['flagged']:.2f} of {q['objects']} flagged as QSO (not a normal galaxy); "
                     f"{q['within_0.01']:.2f} with the QSO redshift within 0.01")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {e}" for e in extra) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--head", default=str(SHIPPED_DIR / "galfm-properties"),
                        help="property head folder or repo id (default: the shipped head, pretrained/galfm-properties)")
    parser.add_argument("--paths", nargs="*", default=[], help="more files or folders of real spectra")
    parser.add_argument("--out", default="real_sky_output")
    parser.add_argument("--record", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    paths = default_real_paths(ROOT / "tests" / "data") + [Path(p) for p in args.paths]

    head = load_head(args.head)
    processor = GalFMProcessor.from_pretrained(args.head)
    galaxies = read_real_galaxies(paths)
    start = time.perf_counter()
    rows = measure(head, processor, galaxies)
    seconds = (time.perf_counter() - start) / max(1, len(galaxies))
    summary = summarize(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "real_sky.json").write_text(json.dumps({"summary": summary, "objects": rows}, indent=1))
    plot_real_sky(rows, out / "real_sky.png")
    table = markdown_table(rows)
    head_name = Path(args.head).relative_to(ROOT) if Path(args.head).is_absolute() and ROOT in Path(args.head).parents \
        else args.head
    text = (f"`python benchmarks/bench_real_sky.py --head {head_name} --record` ({len(galaxies)} objects, "
            f"{seconds:.2f} s per object for all three input modes, CPU)\n\n{summary_table(summary)}\n{table}\n")
    (out / "real_sky.md").write_text(text)
    print(text)
    print(f"plot: {out / 'real_sky.png'}")
    if args.record:
        record(RESULTS, "real_sky", "Real galaxies (bench_real_sky.py)", text)
    bar = summary.get("spectrum", {})
    print("bar (spectrum: >= 0.90 within 0.003, all within 0.01, >= 0.90 within 2 sigma):",
          bool(bar) and bar["within_0.003"] >= 0.9 and bar["within_0.01"] == 1.0 and bar["within_2sigma"] >= 0.9)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
