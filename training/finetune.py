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

import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import EvalPrediction, Trainer, TrainerCallback, TrainingArguments

from galfm.configuration_galfm import GalFMConfig
from galfm.heads_galfm import GalFMForPropertyPrediction, GalFMForStarFormationHistory, GalFMHeadModel
from galfm.processing_galfm import GalFMProcessor

from .augment import InputSubsets
from .evaluate import split_outputs
from .photoz_templates import add_photometric_redshift
from .plots import plot_task
from .redshift_templates import add_redshift_scan
from .rest_frame_warmup import warm_up_rest_frame
from .run_config import comma_list, option, parse_run_config
from .tasks import (
    TASKS,
    GalaxyTaskCollator,
    MissingLabelsError,
    TaskSpec,
    get_task,
    load_task_splits,
    morphology_labels,
)

logger = logging.getLogger("galfm.finetune")


@dataclass
class FinetuneConfig:
    """A fine-tuning run's settings, each a flag (``--max-steps``) and a key of a ``--config`` YAML file."""

    task: str | None = option(None, f"what to fine-tune: {', '.join(TASKS)}")
    data: str | None = option(None, "galaxy-record folder with train/validation/test splits")
    output_dir: str | None = option(None, "where the head, metrics and plots go")
    base: str | None = option(None, "pretrained galfm folder or Hub repo (e.g. OUT/model of galfm pretrain)")
    from_scratch: bool = option(False, "no pretrained weights: a --preset encoder (the baseline to beat)")
    preset: str = option("tiny", "encoder size with --from-scratch")
    inputs: list[str] | None = option(None, "modalities to use, comma-separated (spectrum,photometry,image)")
    targets: list[str] | None = option(None, "properties predicted, comma-separated (photoz/properties/posterior)")
    band_prefixes: list[str] | None = option(None, "keep only bands starting with these, e.g. jpas_ ('all': every "
                                             "band)", aliases=["--bands"])
    max_steps: int = option(500, "optimizer steps")
    batch_size: int = option(32, "galaxies per device per step")
    learning_rate: float = option(5e-4, "peak learning rate of the head")
    encoder_learning_rate_scale: float = option(0.1, "the pretrained encoder's learning rate relative to the head's")
    weight_decay: float = option(0.01, "AdamW weight decay")
    warmup_ratio: float = option(0.05, "fraction of the steps spent warming up")
    label_fraction: float = option(1.0, "train on this fraction of the labelled galaxies")
    freeze_encoder: bool = option(False, "train the head alone on frozen embeddings")
    max_eval_samples: int | None = option(2000, "galaxies scored per evaluation split")
    num_workers: int = option(0, "dataloader processes tokenizing batches (worth it on a GPU)")
    time_limit_minutes: float | None = option(None, "stop training after this much wall time")
    input_subsets: bool = option(False, "train on random subsets of each galaxy's inputs (one modality, one "
                                 "survey's bands), so the head answers from whatever a record has")
    redshift_scan: bool = option(False, "a property head predicting redshift also fits rest-frame templates to "
                                 "the spectrum (galfm.redshift_scan_galfm); added after training")
    photometric_redshift: bool = option(False, "a property head predicting redshift also fits template SEDs to "
                                        "the photometry (galfm.photometric_redshift_galfm), the training galaxies "
                                        "as its population prior; added after training")
    rest_frame_spectrum: bool | None = option(None, "an SFH head also reads the spectrum in its rest frame (at the "
                                              "record's redshift in training, its own redshift scan, added after "
                                              "training, otherwise); default: on for an SFH head given spectra")
    rest_frame_warmup_epochs: float = option(20.0, "an SFH head's rest-frame branch and readout are first fitted "
                                             "for this many epochs on cached encoder summaries "
                                             "(galfm.training.rest_frame_warmup; 0: off)")
    rest_frame_warmup_learning_rate: float = option(1e-3, "peak learning rate of that fit")
    seed: int = option(0, "random seed")
    progress: bool = option(True, "show progress bars")

    def __post_init__(self):
        self.inputs, self.targets = comma_list(self.inputs), comma_list(self.targets)
        bands = comma_list(self.band_prefixes)
        self.band_prefixes = [] if bands == ["all"] else bands
        if not 0 < self.label_fraction <= 1:
            raise ValueError(f"label_fraction {self.label_fraction}: give a fraction in (0, 1]")

    def check(self) -> None:
        """The fields a run cannot do without."""
        missing = [name for name in ("task", "data", "output_dir") if getattr(self, name) is None]
        if missing:
            raise ValueError(f"give {', '.join('--' + m.replace('_', '-') for m in missing)}")
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of: {', '.join(TASKS)}")


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


def uses_rest_frame(task: TaskSpec, args: FinetuneConfig) -> bool:
    """Whether the head reads the spectrum in its rest frame: an SFH head given spectra, unless switched off."""
    wanted = task.head is GalFMForStarFormationHistory and "spectrum" in task.inputs
    if args.rest_frame_spectrum and not wanted:
        raise ValueError("--rest-frame-spectrum: only an SFH head given spectra (--task sfh) has one")
    return wanted and args.rest_frame_spectrum is not False


def build_head(task: TaskSpec, args: FinetuneConfig, processor: GalFMProcessor,
               label2id: dict[str, int]) -> GalFMHeadModel:
    """The task's head: encoder from ``args.base`` (or a fresh ``args.preset``), new head weights; its property
    scaling is the processor's, so the saved folder predicts in the units its processor tokenizes."""
    head_config = {"property_specs": processor.property_specs}
    if uses_rest_frame(task, args):
        head_config["rest_frame_spectrum"] = True
    if task.targets:
        head_config["target_properties"] = list(task.targets)
    labels = {"id2label": {i: name for name, i in label2id.items()}, "label2id": dict(label2id)} if label2id else {}
    if args.from_scratch:
        torch.manual_seed(args.seed)
        return task.head(GalFMConfig.from_preset(args.preset, **head_config, **labels))
    if args.base is None:
        raise ValueError("--base: give a pretrained galfm folder or Hub repo (or --from-scratch for a baseline)")
    config = GalFMConfig.from_pretrained(args.base, head_config=head_config, **labels)
    return task.head.from_pretrained(args.base, config=config)


def build_optimizer(model: GalFMHeadModel, args: FinetuneConfig) -> torch.optim.Optimizer | None:
    """AdamW with the pretrained encoder slower than the new head (layer-wise learning rates, as in ULMFiT);
    None (Trainer's own) when both move at one rate."""
    if args.freeze_encoder or args.encoder_learning_rate_scale == 1.0:
        return None
    encoder = [p for p in model.galfm.parameters() if p.requires_grad]
    ids = {id(p) for p in encoder}
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    scale = 1.0 if args.from_scratch else args.encoder_learning_rate_scale
    return torch.optim.AdamW([{"params": encoder, "lr": args.learning_rate * scale},
                              {"params": head, "lr": args.learning_rate}], weight_decay=args.weight_decay)


def build_trainer(model: GalFMHeadModel, task: TaskSpec, train, collator: GalaxyTaskCollator,
                  args: FinetuneConfig) -> Trainer:
    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        return task.scores(split_outputs(model, prediction.predictions), prediction.label_ids)

    on_gpu = torch.cuda.is_available()
    training_args = TrainingArguments(
        output_dir=str(Path(args.output_dir) / "trainer"), max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=args.batch_size,
        learning_rate=args.learning_rate, weight_decay=args.weight_decay,
        warmup_steps=round(args.warmup_ratio * args.max_steps), lr_scheduler_type="cosine",
        logging_steps=max(1, args.max_steps // 20), eval_strategy="no", save_strategy="no", report_to=[],
        remove_unused_columns=False, label_names=["labels"], seed=args.seed, use_cpu=not on_gpu, bf16=on_gpu,
        dataloader_num_workers=args.num_workers, disable_tqdm=not args.progress,
    )
    return Trainer(model=model, args=training_args, train_dataset=train, data_collator=collator,
                   compute_metrics=compute_metrics, optimizers=(build_optimizer(model, args), None),
                   callbacks=[TimeBudget(args.time_limit_minutes)] if args.time_limit_minutes else None)


def save_run(output_dir: Path, model: GalFMHeadModel, processor: GalFMProcessor, task: TaskSpec, trainer: Trainer,
             args: FinetuneConfig, metrics: dict, test_ids: list[str], test_results: tuple, label2id: dict) -> None:
    """The head folder, metrics, per-galaxy test predictions, the run's config and log, and the test plot."""
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
    outputs, label_ids = test_results  # per-galaxy test predictions, for reports and selections (e.g. r < 22)
    np.savez_compressed(output_dir / "test_predictions.npz", object_id=np.asarray(test_ids), labels=label_ids,
                        **outputs)
    (output_dir / "finetune_args.json").write_text(json.dumps(asdict(args), indent=2, default=list))
    (output_dir / "train_log.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    plot_task(task, outputs, label_ids, output_dir / "predictions.png", label2id=label2id)


def finetune(args: FinetuneConfig) -> dict:
    """Train the head with Trainer; evaluate on validation and test; save model, metrics and a plot."""
    args.check()
    task = get_task(args.task).with_options(args.inputs, args.targets, args.band_prefixes)
    splits = load_task_splits(args.data, task)
    train = splits["train"].shuffle(seed=args.seed)
    train = train.select(range(max(1, round(args.label_fraction * len(train)))))
    evaluation = {s: splits[s] if args.max_eval_samples is None else
                  splits[s].select(range(min(args.max_eval_samples, len(splits[s])))) for s in ("validation", "test")}
    label2id = morphology_labels(train) if task.name == "morphology" else {}
    processor = GalFMProcessor.from_pretrained(args.base) if (args.base and not args.from_scratch) \
        else GalFMProcessor()
    model = build_head(task, args, processor, label2id)
    if args.freeze_encoder:
        model.freeze_encoder()
    for flag, wanted in (("--redshift-scan", args.redshift_scan),
                         ("--photometric-redshift", args.photometric_redshift)):
        if wanted and ("redshift" not in task.targets or task.head is not GalFMForPropertyPrediction):
            raise ValueError(f"{flag}: only a property head predicting redshift has one")
    collator = GalaxyTaskCollator(processor, task, label2id)
    warmup = None
    if model.config.head_config.rest_frame_spectrum and args.rest_frame_warmup_epochs > 0:
        warmup = warm_up_rest_frame(model, train, collator, args.rest_frame_warmup_epochs,
                                    args.rest_frame_warmup_learning_rate, args.batch_size, args.weight_decay,
                                    args.seed, args.num_workers, args.progress)
    train_set = InputSubsets(train, task.inputs, seed=args.seed) if args.input_subsets else train
    trainer = build_trainer(model, task, train_set, collator, args)
    trainer.train()
    if args.redshift_scan or model.config.head_config.rest_frame_spectrum:
        add_redshift_scan(model, processor, seed=args.seed)
    if args.photometric_redshift:  # the training galaxies with photometry become the fit's population prior
        add_photometric_redshift(model, processor, seed=args.seed,
                                 library=train if "photometry" in train.column_names else None)
    metrics = {"task": task.name, "inputs": list(task.inputs), "targets": list(task.targets),
               "band_prefixes": list(task.band_prefixes), "train_galaxies": len(train),
               "label_fraction": args.label_fraction, "steps": trainer.state.global_step,
               "base": None if args.from_scratch else args.base, "freeze_encoder": args.freeze_encoder}
    if warmup is not None:
        metrics["rest_frame_warmup"] = warmup
    results = {}
    for split, dataset in evaluation.items():
        prediction = trainer.predict(dataset, metric_key_prefix=split)
        metrics.update({k: v for k, v in prediction.metrics.items() if not k.endswith(("_runtime", "per_second"))})
        results[split] = (split_outputs(model, prediction.predictions), prediction.label_ids)
    save_run(Path(args.output_dir), model, processor, task, trainer, args, metrics,
             list(evaluation["test"]["object_id"]), results["test"], label2id)
    return metrics


def main(argv: list[str] | None = None) -> int:
    try:
        args, _ = parse_run_config(FinetuneConfig, argv, "galfm finetune: fine-tune a head with "
                                   "transformers.Trainer")
        metrics = finetune(args)
    except (MissingLabelsError, ValueError) as err:
        print(f"galfm finetune: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in metrics.items() if k.startswith("test_")}, indent=2))
    print(f"head -> {Path(args.output_dir) / 'model'} (galfm.load_head loads it); metrics: "
          f"{Path(args.output_dir) / 'metrics.json'}; plot: {Path(args.output_dir) / 'predictions.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
