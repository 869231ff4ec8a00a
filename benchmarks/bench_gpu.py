"""galfm on one GPU: pretraining throughput and model FLOP utilisation, and a photo-z head trained long.

    python benchmarks/bench_gpu.py --rows SURVEY --phot SURVEY --base PRETRAINED [--photoz-steps 10000] --out gpu.md
    python benchmarks/bench_gpu.py --record-from gpu.md      # on the development machine: into RESULTS.md

1. Throughput of one pretraining step (`GalFMForPretraining`, all three objectives, forward + backward + AdamW,
   bf16 autocast) of the ``tiny`` and ``base`` presets on tokenized galaxies already on the GPU (the first
   ``--rows-limit`` galaxies of the train split of ``--rows``, a folder with every modality, repeated to fill a
   batch). FLOPs per step are counted with
   ``torch.utils.flop_counter.FlopCounterMode`` on one step (matmuls and SDPA attention, forward and backward);
   model FLOP utilisation = achieved FLOP/s / the GPU's dense bf16 peak (989 TFLOP/s for H100/H200 SXM).
2. The real loop, `galfm.training.pretrain` (Accelerate, bf16), on ``--rows``: tokens/s end to end, tokenization on the
   CPU included, against the model-only figure.
3. Photo-z from J-PAS photometry with `galfm finetune` (Trainer, bf16) for ``--photoz-steps`` steps from the
   pretrained ``tiny`` model (``--base``; from scratch without it): σ_NMAD and outliers for r < 22 on the test
   split of ``--phot``, the embedded default survey (its spectra and images may be stripped to make it small: the
   task reads photometry only).

The session that recorded RESULTS.md carried a 128-galaxy copy for ``--rows`` and the 20k survey with spectrum
and image set to null for ``--phot`` (13 MB), because its GPU machine received files only through a 64 MB copy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from galfm import GalFMConfig, GalFMForPretraining, GalFMProcessor
from galfm.training.benchmarking import photoz_rows, record, run_finetune

RESULTS = Path(__file__).with_name("RESULTS.md")

DENSE_BF16_PEAK = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12}


def peak_flops(name: str) -> float | None:
    return next((v for k, v in DENSE_BF16_PEAK.items() if k in name), None)


def device_batch(processor: GalFMProcessor, rows: list[dict], batch_size: int) -> dict[str, torch.Tensor]:
    records = [{**rows[i % len(rows)], "properties": None} for i in range(batch_size)]
    return {k: v.cuda() for k, v in processor(records, return_tensors="pt").items()}


def step_throughput(preset: str, batch: dict[str, torch.Tensor], steps: int = 30) -> dict[str, float]:
    """Model-only pretraining steps per second on one batch that already sits on the GPU."""
    torch.manual_seed(0)
    torch.cuda.reset_peak_memory_stats()
    model = GalFMForPretraining(GalFMConfig.from_preset(preset)).cuda().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(5):
        step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    batch_size = batch["photometry_values"].shape[0]
    tokens = sum(int(v.sum()) for k, v in batch.items() if k.endswith("attention_mask")) + batch_size
    peak = peak_flops(torch.cuda.get_device_name())
    return {"parameters": sum(p.numel() for p in model.parameters()), "batch": batch_size,
            "tokens_per_galaxy": tokens / batch_size, "step_ms": 1e3 * seconds, "galaxies_per_s": batch_size / seconds,
            "tokens_per_s": tokens / seconds, "tflop_per_step": flops / 1e12, "tflop_per_s": flops / seconds / 1e12,
            "mfu": flops / seconds / peak if peak else float("nan"),
            "max_memory_gib": torch.cuda.max_memory_allocated() / 2**30}


def loop_throughput(preset: str, rows_dir: Path, out: Path, batch_size: int, steps: int) -> dict:
    from galfm.training.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(preset=preset, batch_size=batch_size, max_steps=steps, warmup_steps=2,
                            checkpoint_every=10**6, shuffle_buffer=64)
    pretrain(config, rows_dir, out / f"loop_{preset}", progress=False)
    return json.loads((out / f"loop_{preset}" / "pretrain_summary.json").read_text())


def photoz_long(phot: Path, base: Path | None, out: Path, steps: int, batch_size: int, workers: int,
                minutes: float | None) -> tuple[dict, list]:
    """`bench_finetune.run` of the photo-z task at GPU scale; its rows for r < 22 and for all galaxies."""
    run_dir = out / "photoz_gpu"
    metrics = run_finetune("photoz", phot, base, run_dir, steps, batch_size=batch_size, learning_rate=1e-3,
                  encoder_learning_rate_scale=0.3, max_eval_samples=1000, num_workers=workers,
                  time_limit_minutes=minutes, progress=False)
    rows = photoz_rows("photo-z from J-PAS photometry", run_dir, phot)
    rows += photoz_rows("photo-z from J-PAS photometry", run_dir, phot, r_limit=None)
    return metrics, rows


def throughput(args: argparse.Namespace, work: Path, lines: list[str]) -> None:
    """Sections 1 and 2 (appended to ``lines``, written to ``--out`` as they come): model-only steps on the GPU,
    then the real loop."""
    from galfm.datasets_scripts import load_records

    dataset = load_records(args.rows, split="train")
    rows = [dataset[i] for i in range(min(args.rows_limit, len(dataset)))]
    print(f"{len(rows)} galaxies loaded", flush=True)
    processor = GalFMProcessor()
    start = time.perf_counter()
    processor(rows, return_tensors="pt")
    tokenizer_rate = len(rows) / (time.perf_counter() - start)
    lines += ["| preset | parameters | batch | tokens/galaxy | step (ms) | galaxies/s | tokens/s | TFLOP/step | "
              "TFLOP/s | MFU | peak memory (GiB) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for preset, sizes in (("tiny", (64, 256)), ("base", (64, 256))):
        for batch_size in sizes:
            r = step_throughput(preset, device_batch(processor, rows, batch_size))
            lines.append(f"| {preset} | {r['parameters'] / 1e6:.2f}M | {r['batch']} | {r['tokens_per_galaxy']:.0f} | "
                         f"{r['step_ms']:.1f} | {r['galaxies_per_s']:.0f} | {r['tokens_per_s']:.3g} | "
                         f"{r['tflop_per_step']:.3f} | {r['tflop_per_s']:.1f} | {100 * r['mfu']:.1f}% | "
                         f"{r['max_memory_gib']:.1f} |")
            print(lines[-1], flush=True)
            if args.out:
                Path(args.out).write_text("\n".join(lines) + "\n")
            torch.cuda.empty_cache()
    lines += ["", f"Tokenization (GalFMProcessor, numpy, one CPU process): {tokenizer_rate:.0f} galaxies/s with every "
              "modality.", "", "| the real loop (`galfm.training.pretrain`, Accelerate bf16, tokenizing in the loop) "
              "| steps | tokens/s |", "|---|---|---|"]
    for preset in ("tiny", "base"):
        summary = loop_throughput(preset, Path(args.rows), work, 64, 40)
        lines.append(f"| {preset}, batch 64 | {summary['steps']} | {summary['mean_tokens_per_s']:.3g} |")
        print(lines[-1], flush=True)
        if args.out:
            Path(args.out).write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", help="galaxy folder with every modality (train split), for throughput")
    parser.add_argument("--rows-limit", type=int, default=128, help="galaxies of --rows tokenized for section 1")
    parser.add_argument("--phot", help="the embedded default survey (photometry is enough), for photo-z")
    parser.add_argument("--base", help="pretrained tiny model folder, the photo-z head's encoder")
    parser.add_argument("--work", default="bench_gpu_work")
    parser.add_argument("--photoz-steps", type=int, default=10000)
    parser.add_argument("--photoz-batch", type=int, default=256)
    parser.add_argument("--workers", type=int, default=8, help="dataloader workers (tokenization)")
    parser.add_argument("--photoz-minutes", type=float, default=None, help="training time limit of the photo-z run")
    parser.add_argument("--skip-photoz", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--out", default=None, help="write the markdown table here")
    parser.add_argument("--record-from", default=None, help="record a table written by --out into RESULTS.md")
    args = parser.parse_args()
    if args.record_from:
        record(RESULTS, "bench_gpu", "GPU: pretraining throughput and long photo-z (`python benchmarks/bench_gpu.py`)",
               Path(args.record_from).read_text())
        return
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = True
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name()
    lines = [f"Device: {name}, torch {torch.__version__}; bf16 autocast; dense bf16 peak taken as "
             f"{(peak_flops(name) or float('nan')) / 1e12:.0f} TFLOP/s. Command: `python benchmarks/bench_gpu.py "
             f"{' '.join(sys.argv[1:])}`", ""]

    if not args.skip_throughput:
        throughput(args, work, lines)
    if not args.skip_photoz:
        base = Path(args.base) if args.base else None
        metrics, rows_md = photoz_long(Path(args.phot), base, work, args.photoz_steps, args.photoz_batch,
                                       args.workers, args.photoz_minutes)
        start = "the pretrained tiny model" if base else "scratch (tiny preset, encoder at the full learning rate)"
        lines += ["", f"Photo-z from J-PAS photometry, `galfm finetune --task photoz` on the GPU from {start}: "
                  f"{metrics['steps']} of {args.photoz_steps} scheduled Trainer steps of {args.photoz_batch} "
                  f"galaxies, learning rate 1e-3{' (encoder 0.3x)' if base else ''}, "
                  f"{metrics['wall_s'] / 60:.1f} min; test split.", "",
                  "| measure | result |", "|---|---|", *rows_md]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        Path(args.out).write_text(table)


if __name__ == "__main__":
    main()
