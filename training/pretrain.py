"""Self-supervised pretraining of galfm with Accelerate: one readable loop from a CPU to many GPUs.

    galfm pretrain --config training/configs/tiny.yaml --data SIM_DIR --output-dir OUT [--max-steps N] [--resume]
    accelerate launch --multi_gpu --num_processes 2 -m galfm.training.pretrain --config ... --data ... --output-dir ...

Data: the Parquet shards of a galaxy-record folder (``galfm simulate`` / ``galfm convert``), streamed and split
by rank, shuffled with a seeded buffer. Precision: bf16 on GPU, fp32 on CPU. Every ``checkpoint_every`` steps a
safetensors checkpoint (``checkpoint.py``) holds model, optimizer, scheduler, RNG and data position;
``--resume`` continues from the latest one exactly; ``--init-from MODEL`` continues a pretrained model on new data
(domain adaptation: self-supervised training on unlabelled observed-like galaxies). At the end: ``OUT/model``
(``save_pretrained``: loads with ``AutoModel`` as the encoder, with ``AutoModelForPreTraining`` whole),
``loss_history.csv``, ``loss_curves.png`` and ``trainer_state.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import yaml

from galfm import GalFMConfig, GalFMForPretraining, GalFMProcessor

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "tiny.yaml"
LOSS_KEYS = ("loss", "masked_loss", "autoregressive_loss", "contrastive_loss")


@dataclass
class PretrainConfig:
    """The YAML file's fields (see ``configs/tiny.yaml``)."""

    preset: str = "tiny"
    model: dict = field(default_factory=dict)
    objectives: dict = field(default_factory=lambda: {"masked": 1.0, "autoregressive": 1.0, "contrastive": 1.0})
    use_properties: bool = False
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    max_steps: int = 300
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 30
    max_grad_norm: float = 1.0
    shuffle_buffer: int = 512
    checkpoint_every: int = 100
    log_every: int = 1
    seed: int = 0
    time_limit_minutes: float | None = None  # stop (checkpointed) when exceeded, e.g. a fixed compute budget
    init_from: str | None = None  # continue from a pretrained galfm (domain adaptation on new unlabelled data)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> PretrainConfig:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**{**raw, **{k: v for k, v in overrides.items() if v is not None}})

    def model_config(self) -> GalFMConfig:
        weights = {f"{k}_loss_weight": float(v) for k, v in self.objectives.items()}
        unknown = set(self.objectives) - {"masked", "autoregressive", "contrastive"}
        if unknown:
            raise ValueError(f"objectives: unknown {sorted(unknown)}; use masked, autoregressive, contrastive")
        return GalFMConfig.from_preset(self.preset, **{**self.model, **weights})


def galaxy_batches(data_dir: str | Path, config: PretrainConfig, processor: GalFMProcessor, rank: int,
                   world_size: int, epoch: int, skip: int = 0):
    """Endless tokenized batches of this rank's share of the shards; ``skip`` examples already seen."""
    from datasets.distributed import split_dataset_by_node

    from galfm.datasets_scripts import load_records

    while True:
        stream = load_records(data_dir, split="train", streaming=True)
        stream = split_dataset_by_node(stream, rank=rank, world_size=world_size)
        stream = stream.shuffle(seed=config.seed + epoch, buffer_size=config.shuffle_buffer)
        if skip:
            stream = stream.skip(skip)
        records = []
        for record in stream:
            if not config.use_properties:
                record = {**record, "properties": None}
            records.append(record)
            if len(records) == config.batch_size:
                yield epoch, processor(records, return_tensors="pt")
                records = []
        epoch, skip = epoch + 1, 0


def _lr_lambda(config: PretrainConfig, max_steps: int):
    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, max_steps - config.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return schedule


def pretrain(config: PretrainConfig, data_dir: str | Path, output_dir: str | Path, resume: bool = False,
             stop_after: int | None = None, progress: bool = True) -> dict:
    """Run (or continue) pretraining; ``stop_after`` ends the run after that step, checkpointed, as a job
    reaching its wall-time limit would (continue it with ``resume=True``)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    output_dir = Path(output_dir)
    on_gpu = torch.cuda.is_available()
    accelerator = Accelerator(cpu=not on_gpu, mixed_precision="bf16" if on_gpu else "no")
    set_seed(config.seed, device_specific=True)
    if config.init_from:  # its architecture and processor carry over; the YAML's preset and model are ignored
        processor = GalFMProcessor.from_pretrained(config.init_from)
        model = GalFMForPretraining.from_pretrained(config.init_from)
    else:
        processor = GalFMProcessor()
        model = GalFMForPretraining(config.model_config())
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                                  betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, config.max_steps))
    model, optimizer = accelerator.prepare(model, optimizer)

    state = {"step": 0, "epoch": 0, "examples_seen": 0, "history": [], "config": asdict(config)}
    if resume:
        checkpoint = latest_checkpoint(output_dir)
        if checkpoint is None:
            raise FileNotFoundError(f"--resume: no complete checkpoint-* in {output_dir}")
        state = load_checkpoint(checkpoint, accelerator, model, optimizer, scheduler)
        accelerator.print(f"resumed from {checkpoint} at step {state['step']}")

    batches = galaxy_batches(data_dir, config, processor, accelerator.process_index, accelerator.num_processes,
                             state["epoch"], state["examples_seen"])
    bar = tqdm(total=config.max_steps, initial=state["step"], desc="pretraining", unit="step",
               disable=not (progress and accelerator.is_main_process))
    model.train()
    started = time.perf_counter()
    while state["step"] < config.max_steps:
        start = time.perf_counter()
        sums = {k: torch.zeros((), device=accelerator.device) for k in LOSS_KEYS}
        tokens = torch.zeros((), device=accelerator.device)
        for micro in range(config.gradient_accumulation_steps):
            epoch, batch = next(batches)
            if epoch != state["epoch"]:
                state["epoch"], state["examples_seen"] = epoch, 0
            state["examples_seen"] += config.batch_size
            last = micro == config.gradient_accumulation_steps - 1
            with contextlib.nullcontext() if last else accelerator.no_sync(model):
                output = model(**batch.to(accelerator.device))
                accelerator.backward(output.loss / config.gradient_accumulation_steps)
            for key in LOSS_KEYS:
                if getattr(output, key) is not None:
                    sums[key] += getattr(output, key).detach() / config.gradient_accumulation_steps
            tokens += sum(v.sum() for k, v in batch.items() if k.endswith("attention_mask"))
        accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] += 1

        logged = {k: float(accelerator.reduce(v, "mean")) for k, v in sums.items()}
        all_tokens = float(accelerator.reduce(tokens, "sum"))
        row = {"step": state["step"], **logged, "lr": scheduler.get_last_lr()[0],
               "tokens_per_s": all_tokens / (time.perf_counter() - start)}
        state["history"].append(row)
        bar.update(1)
        if state["step"] % config.log_every == 0:
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
        stopping = stop_after is not None and state["step"] >= stop_after
        if config.time_limit_minutes is not None:  # all ranks must agree to stop
            over = torch.tensor(float(time.perf_counter() - started > 60 * config.time_limit_minutes),
                                device=accelerator.device)
            stopping = stopping or bool(accelerator.reduce(over, "max") > 0)
        if state["step"] % config.checkpoint_every == 0 or state["step"] == config.max_steps or stopping:
            save_checkpoint(output_dir / f"checkpoint-{state['step']}", accelerator, model, optimizer, scheduler,
                            state)
        if stopping:
            accelerator.print(f"stopped after step {state['step']}; continue with --resume")
            break
    bar.close()

    unwrapped = accelerator.unwrap_model(model)
    checksum = torch.stack([p.detach().double().sum() for p in unwrapped.parameters()]).sum().reshape(1)
    checksums = accelerator.gather(checksum.to(accelerator.device)).tolist()
    if accelerator.is_main_process:
        unwrapped.save_pretrained(output_dir / "model", safe_serialization=True)
        processor.save_pretrained(output_dir / "model")
        _write_history(output_dir, state["history"])
        history = state["history"]
        summary = {"steps": state["step"], "processes": accelerator.num_processes, "parameter_checksums": checksums,
                   "final_loss": history[-1]["loss"] if history else None,
                   "mean_tokens_per_s": sum(r["tokens_per_s"] for r in history) / max(1, len(history)),
                   "wall_minutes_this_run": (time.perf_counter() - started) / 60}
        (output_dir / "pretrain_summary.json").write_text(json.dumps(summary, indent=1))
    accelerator.wait_for_everyone()
    return state


def _write_history(output_dir: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(output_dir / "loss_history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in history]
    for key in LOSS_KEYS:
        if any(r[key] for r in history):
            ax.plot(steps, [r[key] for r in history], label=key.replace("_", " "))
    ax.set(xlabel="step", ylabel="loss", title="galfm pretraining")
    ax.legend()
    fig.tight_layout()
    fig.savefig(output_dir / "loss_curves.png", dpi=110)
    plt.close(fig)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="galfm pretrain", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML file (default: configs/tiny.yaml)")
    parser.add_argument("--data", required=True, help="folder of galaxy-record Parquet shards (galfm simulate)")
    parser.add_argument("--output-dir", required=True, help="checkpoints, final model, loss curves")
    parser.add_argument("--max-steps", type=int, default=None, help="override the config's max_steps")
    parser.add_argument("--batch-size", type=int, default=None, help="override the config's batch_size")
    parser.add_argument("--checkpoint-every", type=int, default=None, help="override the config's checkpoint_every")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop (checkpointed) after this step, e.g. before a job's time limit; then --resume")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output-dir")
    parser.add_argument("--init-from", default=None,
                        help="start from a pretrained galfm folder (continued pretraining, e.g. domain adaptation)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = PretrainConfig.from_yaml(args.config, max_steps=args.max_steps, batch_size=args.batch_size,
                                      checkpoint_every=args.checkpoint_every, init_from=args.init_from)
    pretrain(config, args.data, args.output_dir, resume=args.resume, stop_after=args.stop_after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
