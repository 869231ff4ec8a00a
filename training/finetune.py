"""Fine-tune a galfm head with `transformers.Trainer`.

    galfm finetune --task photoz|properties|posterior|sfh|morphology --base PRETRAINED --data DIR \
        --output-dir OUT [--max-steps N] [--label-fraction 0.01] [--freeze-encoder] [--inputs image] [--targets ...]

``--base`` is a galfm folder or Hub repo (a pretraining output's ``model/``, or any saved encoder); the head is
new, the encoder starts from its weights (``--from-scratch`` starts from a fresh ``--preset`` instead: the
baseline a pretrained model must beat). ``--data`` is a galaxy-record folder with train/validation/test splits
(``galfm simulate``). Writes ``OUT/model`` (``save_pretrained`` + processor; loads with the head's
``from_pretrained`` or ``galfm.load_head``), ``OUT/metrics.json`` (validation and test scores from the local
`evaluate` modules), ``OUT/test_predictions.npz`` (per test galaxy: object_id, labels and the head's outputs) and
``OUT/predictions.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

from galfm import GalFMConfig, GalFMProcessor

from .tasks import MORPHOLOGY_CLASSES, TASKS, GalaxyTaskCollator, TaskSpec, get_task

logger = logging.getLogger("galfm.finetune")

# which outputs of each head Trainer hands to compute_metrics, in the order of the head's ModelOutput
OUTPUT_NAMES = {"GalFMForPropertyPrediction": ("mean", "std"), "GalFMForPosteriorEstimation": ("samples",),
                "GalFMForStarFormationHistory": ("sfh", "log_z", "log_z_std"),
                "GalFMForMorphologyClassification": ("logits",)}


class MissingLabelsError(ValueError):
    """The data lack the labels a task needs."""


@dataclass
class FinetuneArguments:
    task: str
    data: str
    output_dir: str
    base: str | None = None
    from_scratch: bool = False
    preset: str = "tiny"
    inputs: tuple[str, ...] | None = None
    targets: tuple[str, ...] | None = None
    band_prefixes: tuple[str, ...] | None = None
    max_steps: int = 500
    batch_size: int = 32
    learning_rate: float = 5e-4
    encoder_learning_rate_scale: float = 0.1
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    label_fraction: float = 1.0
    freeze_encoder: bool = False
    max_eval_samples: int | None = 2000
    num_workers: int = 0  # dataloader processes that tokenize batches (worth it on a GPU)
    time_limit_minutes: float | None = None  # stop training when exceeded (a fixed compute budget)
    seed: int = 0
    progress: bool = True


class TimeBudget(TrainerCallback):
    """Ends training once ``minutes`` of wall time have passed (the learning-rate schedule is cut short)."""

    def __init__(self, minutes: float):
        self.seconds, self.started = 60 * minutes, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.started > self.seconds:
            logger.warning("time limit reached after step %d of %d", state.global_step, state.max_steps)
            control.should_training_stop = True


def load_task_splits(data_dir: str | Path, task: TaskSpec, splits=("train", "validation", "test")) -> dict:
    """The splits of a galaxy-record folder, cut to rows that have the task's input and some label."""
    from galfm.datasets_scripts import load_records

    loaded = load_records(data_dir)
    if "train" not in loaded:
        raise ValueError(f"{data_dir}: no train split (found {list(loaded)}); write the folder with `galfm simulate`"
                         " or `galfm convert`")
    missing = [s for s in splits if s not in loaded]
    if missing and len(loaded["train"]) < 40:  # too few to hold any out: score on what there is
        loaded = {"train": loaded["train"], "validation": loaded["train"], "test": loaded["train"]}
        logger.warning("%s has no %s split and only %d rows: every split is the train split", data_dir,
                       "/".join(missing), len(loaded["train"]))
    elif missing:  # e.g. a converted survey, all in train: hold out 10% the same way every time
        held = loaded["train"].train_test_split(test_size=0.1, seed=0)
        halves = held["test"].train_test_split(test_size=0.5, seed=0)
        loaded = {"train": held["train"], "validation": halves["train"], "test": halves["test"]}
        logger.warning("%s has no %s split: 5%% + 5%% of train (seed 0) held out as validation and test",
                       data_dir, "/".join(missing))
    features = loaded[splits[0]].features
    if "properties" not in features:
        raise MissingLabelsError(f"{data_dir}: the records have no 'properties' column, so task {task.name!r} "
                                 f"has no labels ({', '.join(task.label_fields)})")
    known = set(features["properties"])
    absent = [f for f in task.label_fields if f not in known]
    if absent:
        raise MissingLabelsError(f"{data_dir}: properties lack {absent}, needed as labels by task {task.name!r}")
    columns = list(task.inputs) + ["properties"]

    def usable(*values) -> bool:
        record = dict(zip(columns, values))
        props = record["properties"] or {}
        return task.has_input(record) and any(props.get(f) is not None for f in task.label_fields)

    # only the columns the task reads: a photometry task never decodes spectra or images
    keep = ["object_id", *columns]
    out = {s: loaded[s].select_columns(keep).filter(usable, input_columns=columns,
                                                    desc=f"{task.name}: {s} rows with inputs and labels")
           for s in splits}
    if len(out[splits[0]]) == 0:
        raise MissingLabelsError(f"{data_dir}: no {splits[0]} galaxy has both the inputs ({', '.join(task.inputs)}) "
                                 f"and a label ({', '.join(task.label_fields)}) of task {task.name!r}")
    return out


def morphology_labels(train) -> dict[str, int]:
    found = {p.get("morphology") for p in train["properties"] if p and p.get("morphology")}
    names = [c for c in MORPHOLOGY_CLASSES] + sorted(found - set(MORPHOLOGY_CLASSES))
    return {name: i for i, name in enumerate(names)}


def build_head(task: TaskSpec, args: FinetuneArguments, label2id: dict[str, int]):
    """The task's head: encoder from ``args.base`` (or a fresh ``args.preset``), new head weights."""
    head_options = {}
    if task.targets:
        head_options["target_properties"] = list(task.targets)
    if label2id:
        head_options["id2label"] = {i: name for name, i in label2id.items()}
        head_options["label2id"] = dict(label2id)
    if args.from_scratch:
        torch.manual_seed(args.seed)
        return task.head(GalFMConfig.from_preset(args.preset, **head_options))
    if args.base is None:
        raise ValueError("--base: give a pretrained galfm folder or Hub repo (or --from-scratch for a baseline)")
    config = GalFMConfig.from_pretrained(args.base, **head_options)
    return task.head.from_pretrained(args.base, config=config)


def split_outputs(model, predictions) -> dict[str, np.ndarray]:
    names = OUTPUT_NAMES[type(model).__name__]
    predictions = predictions if isinstance(predictions, tuple) else (predictions,)
    return dict(zip(names, predictions))


def finetune(args: FinetuneArguments) -> dict:
    """Train the head with Trainer; evaluate on validation and test; save model, metrics and a plot."""
    from transformers import EvalPrediction, Trainer, TrainingArguments

    task = get_task(args.task).with_options(args.inputs, args.targets, args.band_prefixes)
    output_dir = Path(args.output_dir)
    splits = load_task_splits(args.data, task)
    train = splits["train"].shuffle(seed=args.seed)
    if not 0 < args.label_fraction <= 1:
        raise ValueError(f"--label-fraction {args.label_fraction}: give a fraction in (0, 1]")
    train = train.select(range(max(1, round(args.label_fraction * len(train)))))
    evaluation = {s: splits[s] if args.max_eval_samples is None else
                  splits[s].select(range(min(args.max_eval_samples, len(splits[s])))) for s in ("validation", "test")}
    label2id = morphology_labels(train) if task.name == "morphology" else {}

    model = build_head(task, args, label2id)
    if args.freeze_encoder:
        model.freeze_encoder()
    processor = GalFMProcessor.from_pretrained(args.base) if (args.base and not args.from_scratch) \
        else GalFMProcessor()
    collator = GalaxyTaskCollator(processor, task, label2id)

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        return task.scores(split_outputs(model, prediction.predictions), prediction.label_ids)

    on_gpu = torch.cuda.is_available()
    training_args = TrainingArguments(
        output_dir=str(output_dir / "trainer"), max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size, learning_rate=args.learning_rate,
        weight_decay=args.weight_decay, warmup_steps=round(args.warmup_ratio * args.max_steps),
        lr_scheduler_type="cosine", logging_steps=max(1, args.max_steps // 20), eval_strategy="no",
        save_strategy="no", report_to=[], remove_unused_columns=False, label_names=["labels"], seed=args.seed,
        use_cpu=not on_gpu, bf16=on_gpu, dataloader_num_workers=args.num_workers, disable_tqdm=not args.progress,
    )
    optimizer = None
    if not args.freeze_encoder and args.encoder_learning_rate_scale != 1.0:
        # a pretrained encoder moves slower than the new head (layer-wise learning rates, as in ULMFiT)
        encoder = [p for p in model.galfm.parameters() if p.requires_grad]
        ids = {id(p) for p in encoder}
        head = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
        scale = 1.0 if args.from_scratch else args.encoder_learning_rate_scale
        optimizer = torch.optim.AdamW([{"params": encoder, "lr": args.learning_rate * scale},
                                       {"params": head, "lr": args.learning_rate}], weight_decay=args.weight_decay)
    trainer = Trainer(model=model, args=training_args, train_dataset=train, data_collator=collator,
                      compute_metrics=compute_metrics, optimizers=(optimizer, None),
                      callbacks=[TimeBudget(args.time_limit_minutes)] if args.time_limit_minutes else None)
    trainer.train()
    metrics = {"task": task.name, "inputs": list(task.inputs), "targets": list(task.targets),
               "band_prefixes": list(task.band_prefixes), "train_galaxies": len(train),
               "label_fraction": args.label_fraction, "steps": trainer.state.global_step,
               "base": None if args.from_scratch else args.base, "freeze_encoder": args.freeze_encoder}
    results = {}
    for split, dataset in evaluation.items():
        prediction = trainer.predict(dataset, metric_key_prefix=split)
        metrics.update({k: v for k, v in prediction.metrics.items() if not k.endswith(("_runtime", "per_second"))})
        results[split] = (split_outputs(model, prediction.predictions), prediction.label_ids)

    output_dir.mkdir(parents=True, exist_ok=True)
    # the task travels with the head, so `evaluate_head` and `galfm evaluate` feed it the same inputs
    model.config.galfm_task = {"name": task.name, "inputs": list(task.inputs), "targets": list(task.targets),
                               "band_prefixes": list(task.band_prefixes)}
    # the base model's auto_map points at classes this folder does not hold; save_pretrained adds the head's own
    # (AutoModelForImageClassification for morphology) and copies its code
    model.config.auto_map = {"AutoConfig": "configuration_galfm.GalFMConfig"}
    model.save_pretrained(output_dir / "model")
    processor.save_pretrained(output_dir / "model")
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    outputs, label_ids = results["test"]  # per-galaxy test predictions, for reports and selections (e.g. r < 22)
    np.savez_compressed(output_dir / "test_predictions.npz", object_id=np.asarray(evaluation["test"]["object_id"]),
                        labels=label_ids, **outputs)
    (output_dir / "finetune_args.json").write_text(json.dumps(asdict(args), indent=2, default=list))
    (output_dir / "train_log.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    from .plots import plot_task

    plot_task(task, *results["test"], output_dir / "predictions.png", label2id=label2id)
    return metrics


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
                  batch_size: int = 64) -> tuple[dict, dict[str, np.ndarray], np.ndarray, list[str]]:
    """Score a saved head on a split of a galaxy-record folder: (metrics, outputs, labels, object_ids)."""
    from galfm import load_head

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
        for name, value in split_outputs(head, head(**batch).to_tuple()).items():
            outputs.setdefault(name, []).append(value.numpy())
    outputs = {k: np.concatenate(v) for k, v in outputs.items()}
    labels = np.concatenate(labels)
    return task.scores(outputs, labels), outputs, labels, list(dataset["object_id"])


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, choices=sorted(TASKS), help="what to fine-tune")
    parser.add_argument("--base", help="pretrained galfm folder or Hub repo (e.g. OUT/model of galfm pretrain)")
    parser.add_argument("--data", required=True, help="galaxy-record folder with train/validation/test splits")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--max-steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--encoder-learning-rate-scale", type=float, default=0.1,
                        help="the pretrained encoder's learning rate relative to the head's")
    parser.add_argument("--label-fraction", type=float, default=1.0, help="train on this fraction of the labels")
    parser.add_argument("--freeze-encoder", action="store_true", help="train the head alone on frozen embeddings")
    parser.add_argument("--from-scratch", action="store_true", help="no pretrained weights: a --preset encoder")
    parser.add_argument("--preset", default="tiny", help="encoder size with --from-scratch")
    parser.add_argument("--inputs", help="comma-separated modalities to use (spectrum,photometry,image)")
    parser.add_argument("--targets", help="comma-separated properties (photoz/properties/posterior)")
    parser.add_argument("--bands", help="comma-separated band-name prefixes to keep, e.g. jpas_ or decam_ ('all')")
    parser.add_argument("--max-eval-samples", type=int, default=2000)
    parser.add_argument("--num-workers", type=int, default=0, help="dataloader processes tokenizing batches")
    parser.add_argument("--time-limit-minutes", type=float, default=None, help="stop training after this long")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def arguments_from(ns: argparse.Namespace) -> FinetuneArguments:
    def listed(value):
        return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())

    bands = listed(ns.bands)
    return FinetuneArguments(
        task=ns.task, data=ns.data, output_dir=ns.output_dir, base=ns.base, from_scratch=ns.from_scratch,
        preset=ns.preset, inputs=listed(ns.inputs), targets=listed(ns.targets),
        band_prefixes=() if bands == ("all",) else bands, max_steps=ns.max_steps, batch_size=ns.batch_size,
        learning_rate=ns.learning_rate, encoder_learning_rate_scale=ns.encoder_learning_rate_scale,
        label_fraction=ns.label_fraction, freeze_encoder=ns.freeze_encoder,
        max_eval_samples=ns.max_eval_samples, num_workers=ns.num_workers,
        time_limit_minutes=ns.time_limit_minutes, seed=ns.seed)


def main(argv: list[str] | None = None) -> None:
    metrics = finetune(arguments_from(build_parser().parse_args(argv)))
    print(json.dumps({k: v for k, v in metrics.items() if k.startswith("test_")}, indent=2))


if __name__ == "__main__":
    main()
