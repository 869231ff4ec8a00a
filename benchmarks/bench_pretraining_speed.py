"""Pretraining speed per token: galfm's default step against AstroPT's at equal size, measured in one run.

    python benchmarks/bench_pretraining_speed.py [--astropt-python PATH] [--steps 6] [--threads 2] [--record]

One optimizer step = forward + backward + AdamW, fp32, batch 32, on this machine's CPU threads. galfm's batch is 32
galaxies of the embedded default survey (DESI spectrum, J-PAS + GALEX + Legacy Surveys photometry, grz images),
tokens counted as the real (unpadded) tokens of the batch; its step does the work of all three objectives
(masked, autoregressive, contrastive). AstroPT (``astropt`` 2.0.9, Smith et al. 2024) runs its causal GPT step on
32 sequences of T = 192 tokens of 16×16×3 image patches (its galaxy-image setting), from a separate virtual
environment given by ``--astropt-python`` (its torchvision pin must not enter galfm's):

    python -m venv astropt_venv && astropt_venv/bin/pip install torch==2.13.0 loralib einops huggingface_hub
    astropt_venv/bin/pip install --no-deps astropt==2.0.9

Without it the benchmark prints galfm alone. Sizes (layers, width): (4, 128), (4, 256), (6, 384); heads of 32
dimensions, feed-forward 4 × width, as both models use.

With ``--loop-data DIR`` (a ``galfm simulate`` folder) it also runs the real loop, ``galfm pretrain`` (tiny, batch
16, ``--loop-steps`` steps, in a child process), and compares its tokens/s, data reading and tokenization
included, with the model-only step on batches of the same folder; the child's peak resident memory is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from galfm import GalFMConfig, GalFMForPretraining, GalFMProcessor
from galfm.datasets_scripts.parquet_shards import load_records
from galfm.datasets_scripts.simulator import simulate
from galfm.training.benchmarking import record

RESULTS = Path(__file__).with_name("RESULTS.md")
SIZES = ((4, 128), (4, 256), (6, 384))
BATCH = 32

ASTROPT_STEP = """
import json, statistics, sys, time, torch
from astropt.model import GPT, GPTConfig, ModalityConfig, ModalityRegistry
layers, width, batch, tokens, steps, threads = (int(x) for x in sys.argv[1:7])
torch.set_num_threads(threads)
torch.manual_seed(0)
patch = 16 * 16 * 3
registry = ModalityRegistry([ModalityConfig(name="images", input_size=patch, pos_input_size=1, patch_size=16,
                                            embed_pos=True)])
config = GPTConfig(block_size=tokens, n_layer=layers, n_head=width // 32, n_embd=width, modalities=registry)
model = GPT(config, registry, master_process=False)
optimizer = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), "cpu")
x = torch.randn(batch, tokens + 1, patch)
inputs = {"images": x[:, :-1], "images_positions": torch.arange(tokens).expand(batch, -1)}
targets = {"images": x[:, 1:]}
times = []
for step in range(steps + 2):
    start = time.perf_counter()
    _, loss = model(inputs, targets=targets)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if step >= 2:
        times.append(time.perf_counter() - start)
print(json.dumps({"step_s": statistics.median(times), "tokens": batch * tokens,
                  "parameters": sum(p.numel() for p in model.parameters())}))
"""


def galfm_batch(processor: GalFMProcessor) -> dict[str, torch.Tensor]:
    """32 galaxies of the embedded default survey, labels left out (as in pretraining)."""
    records = [{**r, "properties": None} for r in simulate(BATCH, seed=0)]
    return dict(processor(records, return_tensors="pt"))


def galfm_step(layers: int, width: int, batch: dict[str, torch.Tensor], steps: int) -> dict:
    torch.manual_seed(0)
    config = GalFMConfig(hidden_size=width, num_hidden_layers=layers, num_attention_heads=width // 32,
                         intermediate_size=4 * width)
    model = GalFMForPretraining(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05, betas=(0.9, 0.95))
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        output = model(**batch)
        output.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= 2:
            times.append(time.perf_counter() - start)
    tokens = int(sum(v.sum() for k, v in batch.items() if k.endswith("attention_mask")))
    return {"step_s": statistics.median(times), "tokens": tokens + BATCH,  # + the galaxy token of each
            "parameters": sum(p.numel() for p in model.parameters())}


def astropt_step(python: str, layers: int, width: int, steps: int, threads: int, tokens: int = 192) -> dict:
    done = subprocess.run([python, "-c", ASTROPT_STEP, str(layers), str(width), str(BATCH), str(tokens), str(steps),
                           str(threads)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def loop_against_model(data: Path, steps: int, threads: int, workers: int) -> str:
    """The real pretraining loop (a ``galfm pretrain`` child) against the model-only step, tiny, batch 16."""
    train = load_records(data, split="train")
    records = [{**train[i], "properties": None} for i in range(16)]
    model_only = galfm_step(4, 128, dict(GalFMProcessor()(records, return_tensors="pt")), 6)
    model_rate = model_only["tokens"] / model_only["step_s"]
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "galfm.training.pretrain", "--data", str(data), "--output-dir", out,
                   "--max-steps", str(steps), "--batch-size", "16", "--warmup-steps", "5",
                   "--checkpoint-every", str(10**9), "--num-workers", str(workers)]
        subprocess.run(command, check=True, capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        summary = json.loads((Path(out) / "pretrain_summary.json").read_text())
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    history_rate = summary["mean_tokens_per_s"]
    return (f"\nThe loop (`galfm pretrain`, tiny, batch 16, {steps} steps, --num-workers {workers}, on `{data}`): "
            f"{history_rate:,.0f} tokens/s with data reading and tokenization, against {model_rate:,.0f} for the "
            f"model-only step on 16 galaxies of the same folder: {history_rate / model_rate:.2f}×. Peak resident "
            f"memory of the pretraining process: {peak_gib:.2f} GiB.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--astropt-python", default=None, help="python of a venv with astropt installed")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per model (after 2 warm-up steps)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loop-data", default=None, help="a galfm simulate folder: also time the real loop on it")
    parser.add_argument("--loop-steps", type=int, default=60)
    parser.add_argument("--loop-workers", type=int, default=0)
    parser.add_argument("--loop-only", action="store_true", help="only the loop measurement (no size table)")
    parser.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = galfm_batch(GalFMProcessor())
    padded = batch["spectrum_values"].shape[0] * sum(v.shape[1] for k, v in batch.items()
                                                     if k.endswith("attention_mask"))
    rows = ["| size (layers, width) | AstroPT tokens/s (T = 192) | galfm tokens/s (default step) | galfm / AstroPT |",
            "|---|---|---|---|"]
    # the loop first: its child's peak memory is then not mixed with AstroPT's children
    loop = loop_against_model(Path(args.loop_data), args.loop_steps, args.threads, args.loop_workers) \
        if args.loop_data else ""
    for layers, width in () if args.loop_only else SIZES:
        ours = galfm_step(layers, width, batch, args.steps)
        ours_rate = ours["tokens"] / ours["step_s"]
        theirs_rate = None
        if args.astropt_python:
            theirs = astropt_step(args.astropt_python, layers, width, args.steps, args.threads)
            theirs_rate = theirs["tokens"] / theirs["step_s"]
        ratio = f"{ours_rate / theirs_rate:.2f}×" if theirs_rate else "—"
        rows.append(f"| {layers}, {width} | {f'{theirs_rate:,.0f}' if theirs_rate else 'not run'} | "
                    f"{ours_rate:,.0f} | {ratio} |")
        print(rows[-1], flush=True)
    real = int(sum(v.sum() for k, v in batch.items() if k.endswith("attention_mask")))
    command = f"Command: `python benchmarks/bench_pretraining_speed.py {' '.join(sys.argv[1:])}`"
    if args.loop_only:
        table = f"{command} ({args.threads} CPU threads)\n{loop}"
    else:
        table = (f"{command} ({args.threads} CPU threads, fp32, batch {BATCH}, median of {args.steps} steps of "
                 f"forward + backward + AdamW; galfm: {real / BATCH:.0f} real tokens per galaxy, {real / padded:.0%} "
                 "of the padded batch)\n\n" + "\n".join(rows) + "\n" + loop)
    print(table)
    if args.record:
        if args.loop_only:
            record(RESULTS, "bench_pretraining_loop", "Pretraining loop against the model-only step "
                   "(`python benchmarks/bench_pretraining_speed.py --loop-only --loop-data ... --record`)", table)
        else:
            record(RESULTS, "bench_pretraining_speed", "Pretraining speed per token against AstroPT "
                   "(`python benchmarks/bench_pretraining_speed.py --astropt-python ... --record`)", table)


if __name__ == "__main__":
    main()
