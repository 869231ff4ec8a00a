"""Self-supervised pretraining of galfm with Accelerate: one readable loop from a CPU to many GPUs.

    galfm pretrain --config training/configs/tiny.yaml --data SIM_DIR --output-dir OUT [--max-steps N] [--resume]
    accelerate launch --multi_gpu --num_processes 2 -m galfm.training.pretrain --config ... --data ... --output-dir ...

Data: the Parquet shards of a galaxy-record folder (``galfm simulate`` / ``galfm convert``), read in Arrow batches
and split by rank, shuffled with a seeded buffer. Precision: bf16 on GPU, fp32 on CPU. Every ``checkpoint_every``
steps a safetensors checkpoint (``checkpoint.py``) holds model, optimizer, scheduler, RNG and data position;
``--resume`` continues from the latest one exactly; ``--init-from MODEL`` continues a pretrained model on new data
(domain adaptation: self-supervised training on unlabelled observed-like galaxies). At the end: ``OUT/model``
(``save_pretrained``: loads with ``AutoModel`` as the encoder, with ``AutoModelForPreTraining`` whole),
``loss_history.csv``, ``loss_curves.png`` and ``trainer_state.json``.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm.auto import tqdm

from galfm.configuration_galfm import GalFMConfig
from galfm.datasets_scripts.parquet_shards import read_records, record_files
from galfm.pretraining_galfm import GalFMForPretraining
from galfm.processing_galfm import GalFMProcessor

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .run_config import from_yaml, json_mapping, option, parse_run_config
from .sharding import average_replicated_gradients, full_model_state, is_sharded, local_checksum, shard_model

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "tiny.yaml"
LOSS_KEYS = ("loss", "masked_loss", "autoregressive_loss", "contrastive_loss")
OBJECTIVES = ("masked", "autoregressive", "contrastive")


@dataclass
class PretrainConfig:
    """A pretraining run's settings: the YAML file's fields (see ``configs/tiny.yaml``), each also a flag."""
    preset: str = option("tiny", "model size: tiny, base or large (GalFMConfig.from_preset)")
    model: dict | str | None = option({}, "GalFMConfig overrides, e.g. {num_hidden_layers: 2} (JSON on the CLI)")
    objectives: dict | str | None = option({"masked": 1.0, "autoregressive": 1.0, "contrastive": 1.0},
                                    "loss weight of each objective (masked, autoregressive, contrastive); 0 = off")
    use_properties: bool = option(False, "let catalogue properties into self-supervised pretraining")
    batch_size: int = option(16, "galaxies per process per micro-batch")
    gradient_accumulation_steps: int = option(1, "micro-batches per optimizer step")
    max_steps: int = option(300, "optimizer steps")
    learning_rate: float = option(1e-3, "peak AdamW learning rate")
    min_learning_rate_ratio: float = option(0.1, "the cosine schedule's floor, as a fraction of the peak")
    weight_decay: float = option(0.05, "AdamW weight decay")
    adam_beta1: float = option(0.9, "AdamW beta1")
    adam_beta2: float = option(0.95, "AdamW beta2")
    warmup_steps: int = option(30, "linear warm-up steps")
    max_grad_norm: float = option(1.0, "gradient clipping norm")
    shuffle_buffer: int = option(512, "galaxies in the seeded streaming shuffle buffer")
    checkpoint_every: int = option(100, "steps between safetensors checkpoints")
    log_every: int = option(1, "steps between progress-bar updates")
    seed: int = option(0, "random seed (data order, masking, initialisation)")
    time_limit_minutes: float | None = option(None, "stop (checkpointed) after this much wall time")
    init_from: str | None = option(None, "continue a pretrained galfm folder (domain adaptation on new data)")
    fsdp: bool = option(False, "shard parameters, gradients and optimizer state over the processes (PyTorch "
                               "FSDP2; for `large`, see configs/large_fsdp.yaml); ignored with one process")
    num_workers: int = option(0, "DataLoader processes reading and tokenizing batches (0: in the training process; "
                                 "give several where cores are free, e.g. beside a GPU)")

    def __post_init__(self):
        self.model = json_mapping(self.model, "model")
        self.objectives = json_mapping(self.objectives, "objectives")
        unknown = set(self.objectives) - set(OBJECTIVES)
        if unknown:
            raise ValueError(f"objectives: unknown {sorted(unknown)}; use {', '.join(OBJECTIVES)}")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> PretrainConfig:
        return from_yaml(cls, path, **overrides)

    def model_config(self) -> GalFMConfig:
        weights = {f"{k}_loss_weight": float(v) for k, v in self.objectives.items()}
        return GalFMConfig.from_preset(self.preset, **{**self.model, **weights})


def shuffled_stream(data_dir: str | Path, rank: int, world_size: int, seed: int, buffer_size: int
                    ) -> Iterator[dict]:
    """This rank's share of the train shards in a seeded random order: the shard files permuted, then a buffer of
    ``buffer_size`` records drawn from at random (the algorithm of ``datasets``' own buffer shuffle, which here
    kept every record it had seen alive: 4.3 GB resident after 1000 galaxies). The share is every
    ``world_size``-th file when they divide evenly (each rank reads only its own), else every ``world_size``-th
    record (as ``datasets.distributed.split_dataset_by_node`` splits). Records are read by `read_records`, Arrow
    batches to numpy column by column: 4x faster than a ``datasets`` stream in numpy format, so reading is not
    what a CPU step waits for."""
    rng = np.random.default_rng(seed)
    shards = record_files(data_dir)["train"]
    files = [shards[i] for i in rng.permutation(len(shards))]
    if len(files) % world_size == 0:
        records = read_records(files[rank::world_size])
    else:
        records = itertools.islice(read_records(files), rank, None, world_size)
    buffer: list[dict] = []
    for record in records:
        if len(buffer) < buffer_size:
            buffer.append(record)
            continue
        slot = int(rng.integers(buffer_size))
        yield buffer[slot]
        buffer[slot] = record
    for slot in rng.permutation(len(buffer)):
        yield buffer[slot]


def record_batches(data_dir: str | Path, config: PretrainConfig, rank: int, world_size: int, epoch: int,
                   skip: int = 0) -> Iterator[tuple[int, list[dict]]]:
    """Endless (epoch, records) batches of this rank's share of the shards, in the seeded shuffle order;
    ``skip`` examples of ``epoch`` already seen (resume)."""
    while True:
        records = []
        stream = shuffled_stream(data_dir, rank, world_size, config.seed + epoch, config.shuffle_buffer)
        for record in itertools.islice(stream, skip, None):
            if not config.use_properties:
                record = {**record, "properties": None}
            records.append(record)
            if len(records) == config.batch_size:
                yield epoch, records
                records = []
        epoch, skip = epoch + 1, 0


class GalaxyBatches(IterableDataset):
    """`record_batches` tokenized, in DataLoader workers: with W workers, worker w tokenizes the batches j of the
    stream (counted from the resume point) with j % W == w, and the DataLoader takes them round-robin, so the order
    is the stream's whatever W and an interrupted run resumes exactly."""

    def __init__(self, data_dir: str | Path, config: PretrainConfig, processor: GalFMProcessor, rank: int,
                 world_size: int, epoch: int, skip: int = 0):
        super().__init__()
        self.data_dir, self.config, self.processor = data_dir, config, processor
        self.rank, self.world_size, self.epoch, self.skip = rank, world_size, epoch, skip

    def __iter__(self) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        batches = record_batches(self.data_dir, self.config, self.rank, self.world_size, self.epoch, self.skip)
        for j, (epoch, records) in enumerate(batches):
            if j % workers == worker:
                yield epoch, dict(self.processor(records, return_tensors="pt"))


def galaxy_batches(data_dir: str | Path, config: PretrainConfig, processor: GalFMProcessor, rank: int,
                   world_size: int, epoch: int, skip: int = 0) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
    """Endless (epoch, tokenized batch) of this rank's share, tokenized by ``config.num_workers`` processes."""
    dataset = GalaxyBatches(data_dir, config, processor, rank, world_size, epoch, skip)
    if config.num_workers == 0:
        return iter(dataset)
    # its own generator: starting workers must not draw from the global RNG, or a resumed run would differ
    return iter(DataLoader(dataset, batch_size=None, num_workers=config.num_workers, prefetch_factor=4,
                           generator=torch.Generator().manual_seed(config.seed)))


def learning_rate_schedule(config: PretrainConfig):
    """Linear warm-up, then a cosine down to ``min_learning_rate_ratio`` of the peak at ``max_steps``."""
    floor = config.min_learning_rate_ratio

    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return schedule


def build_model(config: PretrainConfig) -> tuple[GalFMProcessor, GalFMForPretraining]:
    """A fresh model of ``config``, or the ``init_from`` model with its processor (its architecture carries
    over; the YAML's preset and model are ignored)."""
    if config.init_from:
        return GalFMProcessor.from_pretrained(config.init_from), GalFMForPretraining.from_pretrained(config.init_from)
    return GalFMProcessor(), GalFMForPretraining(config.model_config())


def train_step(model, batches, optimizer, scheduler, accelerator, config: PretrainConfig, state: dict) -> dict:
    """One optimizer step over ``gradient_accumulation_steps`` micro-batches; the history row it logs."""
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
            output = model(**{k: v.to(accelerator.device) for k, v in batch.items()})
            accelerator.backward(output.loss / config.gradient_accumulation_steps)
        for key in LOSS_KEYS:
            if getattr(output, key) is not None:
                sums[key] += getattr(output, key).detach() / config.gradient_accumulation_steps
        tokens += sum(v.sum() for k, v in batch.items() if k.endswith("attention_mask"))
    average_replicated_gradients(model)  # sharded: what FSDP leaves whole on every rank (nothing otherwise)
    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    state["step"] += 1
    logged = {k: float(accelerator.reduce(v, "mean")) for k, v in sums.items()}
    all_tokens = float(accelerator.reduce(tokens, "sum"))
    return {"step": state["step"], **logged, "lr": scheduler.get_last_lr()[0],
            "tokens_per_s": all_tokens / (time.perf_counter() - start)}


def out_of_time(config: PretrainConfig, started: float, accelerator) -> bool:
    """Whether the time limit has passed, agreed by every rank."""
    if config.time_limit_minutes is None:
        return False
    over = torch.tensor(float(time.perf_counter() - started > 60 * config.time_limit_minutes),
                        device=accelerator.device)
    return bool(accelerator.reduce(over, "max") > 0)


def pretrain(config: PretrainConfig, data_dir: str | Path, output_dir: str | Path, resume: bool = False,
             stop_after: int | None = None, progress: bool = True) -> dict:
    """Run (or continue) pretraining; ``stop_after`` ends the run after that step, checkpointed, as a job
    reaching its wall-time limit would (continue it with ``resume=True``)."""
    output_dir = Path(output_dir)
    on_gpu = torch.cuda.is_available()
    fsdp = config.fsdp and int(os.environ.get("WORLD_SIZE", "1")) > 1
    # sharded, the model computes in bf16 by its FSDP policy; replicated, by Accelerate's autocast
    accelerator = Accelerator(cpu=not on_gpu, mixed_precision="bf16" if on_gpu and not fsdp else "no")
    set_seed(config.seed, device_specific=True)
    processor, model = build_model(config)
    if fsdp:
        model = shard_model(model, accelerator.device, bf16=on_gpu)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                                  betas=(config.adam_beta1, config.adam_beta2))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_schedule(config))
    if not fsdp:
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
        row = train_step(model, batches, optimizer, scheduler, accelerator, config, state)
        state["history"].append(row)
        bar.update(1)
        if state["step"] % config.log_every == 0:
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
        timed_out = out_of_time(config, started, accelerator)  # every rank takes part in the vote
        stopping = timed_out or (stop_after is not None and state["step"] >= stop_after)
        if state["step"] % config.checkpoint_every == 0 or state["step"] == config.max_steps or stopping:
            save_checkpoint(output_dir / f"checkpoint-{state['step']}", accelerator, model, optimizer, scheduler,
                            state)
        if stopping:
            accelerator.print(f"stopped after step {state['step']}; continue with --resume")
            break
    bar.close()
    save_outputs(accelerator, model, processor, output_dir, state, started)
    return state


def save_outputs(accelerator, model, processor: GalFMProcessor, output_dir: Path, state: dict,
                 started: float) -> None:
    """``model/`` (save_pretrained + processor), the loss history and curves, and ``pretrain_summary.json``
    (with each rank's parameter checksum: DDP replicas must agree)."""
    unwrapped = accelerator.unwrap_model(model)
    sharded = is_sharded(unwrapped)
    checksum = local_checksum(unwrapped).to(accelerator.device)
    # replicated: each rank's own sum (DDP must keep them equal); sharded: the sum over every rank's shard
    checksums = ([float(accelerator.reduce(checksum, "sum"))] * accelerator.num_processes if sharded
                 else accelerator.gather(checksum).tolist())
    weights = full_model_state(unwrapped) if sharded else None
    if accelerator.is_main_process:
        unwrapped.save_pretrained(output_dir / "model", state_dict=weights, safe_serialization=True)
        processor.save_pretrained(output_dir / "model")
        _write_history(output_dir, state["history"])
        history = state["history"]
        summary = {"steps": state["step"], "processes": accelerator.num_processes, "sharded": sharded,
                   "parameter_checksums": checksums,
                   "final_loss": history[-1]["loss"] if history else None,
                   "mean_tokens_per_s": sum(r["tokens_per_s"] for r in history) / max(1, len(history)),
                   "wall_minutes_this_run": (time.perf_counter() - started) / 60}
        (output_dir / "pretrain_summary.json").write_text(json.dumps(summary, indent=1))
    accelerator.wait_for_everyone()


def _write_history(output_dir: Path, history: list[dict]) -> None:

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


def add_run_arguments(parser) -> None:
    """The run's own flags (where the data are and the outputs go), next to the config's."""
    parser.add_argument("--data", required=True, help="folder of galaxy-record Parquet shards (galfm simulate)")
    parser.add_argument("--output-dir", required=True, help="checkpoints, final model, loss curves")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop (checkpointed) after this step, e.g. before a job's time limit; then --resume")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output-dir")


def main(argv: list[str] | None = None) -> int:
    config, run = parse_run_config(PretrainConfig, argv, "galfm pretrain: self-supervised pretraining "
                                   "(Accelerate)", DEFAULT_CONFIG, add_run_arguments)
    pretrain(config, run.data, run.output_dir, resume=run.resume, stop_after=run.stop_after)
    print(f"model -> {Path(run.output_dir) / 'model'} (AutoModel loads it); curves: "
          f"{Path(run.output_dir) / 'loss_curves.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
