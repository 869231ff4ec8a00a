"""Embedding throughput of GalFMModel on this machine, against its own fp32 matmul rate.

For the ``tiny`` and ``base`` presets and three kinds of batch (photometry only: J-PAS + ugriz + GALEX;
spectrum only: a DESI-like three-arm spectrum; everything: spectrum, photometry, a 64x64 grz image and
properties), it measures galaxies/s of the model forward (fp32, no grad), counts FLOPs per galaxy with
``torch.utils.flop_counter.FlopCounterMode`` (plus the attention products, which it does not see on the CPU),
and divides the achieved FLOP rate by the rate of a large fp32
matmul measured in the same run. Tokenization speed (CPU, numpy) is reported separately.

    python benchmarks/bench_inference.py [--record] [--threads N]

``--record`` writes the table into benchmarks/RESULTS.md (between the inference markers).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from galfm import GalFMConfig, GalFMModel, GalFMProcessor
from galfm.training.benchmarking import record

RESULTS = Path(__file__).with_name("RESULTS.md")

JPAS_BANDS = ["jpas_uJAVA", "jpas_uJPAS", "jpas_J0378", "jpas_J0390", *[f"jpas_J{c:04d}" for c in range(400, 911, 10)],
              "jpas_J1007"]
BROAD_BANDS = ["galex_fuv", "galex_nuv", *[f"sdss_{b}" for b in "ugriz"]]


def make_record(rng: np.random.Generator, kind: str) -> dict:
    record = {"object_id": "bench"}
    if kind in ("spectrum", "all"):
        arms = []
        for lo, hi in ((3600.0, 5800.0), (5760.0, 7620.0), (7520.0, 9824.0)):
            wave = np.arange(lo, hi + 0.1, 0.8)
            flux = 1.0 + wave / 8000.0 + rng.normal(0, 0.3, wave.size)
            arms.append({"wavelength": wave, "flux": flux, "ivar": np.full(wave.size, 10.0)})
        record["spectrum"] = arms
    if kind in ("photometry", "all"):
        bands = JPAS_BANDS + BROAD_BANDS
        record["photometry"] = {"band": bands, "flux": rng.uniform(1, 20, len(bands)),
                                "flux_ivar": np.full(len(bands), 25.0)}
    if kind == "all":
        record["image"] = {"band": ["decam_g", "decam_r", "decam_z"], "flux": rng.normal(0, 0.01, (3, 64, 64)),
                           "ivar": np.full((3, 64, 64), 1e4), "pixel_scale": 0.262, "psf_fwhm": [1.3, 1.2, 1.1]}
        record["properties"] = {"redshift": 0.3, "log_mstar": 10.5}
    return record


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    """Best fp32 GEMM rate (FLOP/s) of an n x n x n matmul: this machine's practical peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / min(times)


def time_forward(model: GalFMModel, batch: dict, repeats: int) -> float:
    with torch.inference_mode():
        for _ in range(2):
            model(**batch)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(**batch)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    processor = GalFMProcessor()

    peak = matmul_rate()
    print(f"fp32 matmul rate (2048^3, {args.threads} threads): {peak / 1e9:.1f} GFLOP/s")
    rows = []
    for preset, batch_size in (("tiny", 64), ("base", 32)):
        model = GalFMModel(GalFMConfig.from_preset(preset)).eval()
        for kind in ("photometry", "spectrum", "all"):
            records = [make_record(rng, kind) for _ in range(batch_size)]
            t0 = time.perf_counter()
            batch = processor(records, return_tensors="pt")
            tokenize_rate = batch_size / (time.perf_counter() - t0)
            tokens = 1 + int(sum(v.sum() for k, v in batch.items() if k.endswith("attention_mask") or k.endswith(
                "norm_mask"))) / batch_size
            with FlopCounterMode(display=False) as counter, torch.inference_mode():
                length = model(**batch).last_hidden_state.shape[1]
            # FlopCounterMode has no formula for CPU SDPA: add QK^T and AV (2 * 2 N^2 d per layer) by hand
            attention = model.config.num_hidden_layers * 4 * length**2 * model.config.hidden_size
            flops = counter.get_total_flops() / batch_size + attention
            seconds = time_forward(model, batch, args.repeats)
            rate = batch_size / seconds
            rows.append({"preset": preset, "batch": kind, "batch_size": batch_size, "tokens": tokens,
                         "galaxies_per_s": rate, "gflop_per_galaxy": flops / 1e9,
                         "fraction": flops * rate / peak, "tokenize_per_s": tokenize_rate})
            print(f"{preset:5s} {kind:10s} {rate:9.1f} gal/s  {flops / 1e9:7.3f} GFLOP/gal  "
                  f"{100 * flops * rate / peak:5.1f}% of matmul  (tokenizer {tokenize_rate:7.1f} gal/s)")

    header = (f"Machine: {platform.machine()}, {args.threads} torch threads, torch {torch.__version__}; "
              f"fp32 matmul rate measured in the same run: **{peak / 1e9:.1f} GFLOP/s**.\n\n"
              "| preset | batch | batch size | tokens/galaxy | galaxies/s | GFLOP/galaxy | % of matmul rate | "
              "tokenizer galaxies/s |\n|---|---|---|---|---|---|---|---|\n")
    table = header + "".join(
        f"| {r['preset']} | {r['batch']} | {r['batch_size']} | {r['tokens']:.0f} | {r['galaxies_per_s']:.1f} | "
        f"{r['gflop_per_galaxy']:.3f} | {100 * r['fraction']:.1f}% | {r['tokenize_per_s']:.0f} |\n" for r in rows)
    print()
    print(table)
    if args.record:
        record(RESULTS, "bench_inference", "Inference (`python benchmarks/bench_inference.py --record`)", table)


if __name__ == "__main__":
    main()
