"""An SFH head against a pPXF full-spectrum fit of the same real spectra, timed in the same run.

    python benchmarks/bench_sfh_vs_ppxf.py [--head pretrained/galfm-sfh] [--min-snr 10] [--record]

What is compared and how: `galfm.training.sfh_vs_ppxf`. ``--record`` writes the table into RESULTS.md;
the shipped SFH heads' cards carry the same table in their "Real galaxies" section (`galfm release`, or
`galfm release --real-galaxies` to measure again without retraining).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from galfm.training.benchmarking import record
from galfm.training.real_sky import TESTS_DATA, default_real_paths
from galfm.training.release import SHIPPED_DIR
from galfm.training.sfh_vs_ppxf import MIN_SNR, compare_with_ppxf, comparison_markdown

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
DEFAULT_HEAD = SHIPPED_DIR / "galfm-sfh"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--head", default=str(DEFAULT_HEAD), help="an SFH head folder")
    parser.add_argument("--min-snr", type=float, default=MIN_SNR, help="median S/N per pixel of the spectra kept")
    parser.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows, summary = compare_with_ppxf(args.head, default_real_paths(TESTS_DATA), args.min_snr)
    command = "python benchmarks/bench_sfh_vs_ppxf.py" + (
        "" if Path(args.head).resolve() == DEFAULT_HEAD.resolve() else f" --head {args.head}") + (
        "" if args.min_snr == MIN_SNR else f" --min-snr {args.min_snr:g}")
    text = comparison_markdown(rows, summary, command)
    print(text)
    if args.record:
        record(RESULTS, "sfh_vs_ppxf", "SFH head against pPXF on real spectra (bench_sfh_vs_ppxf.py)", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
