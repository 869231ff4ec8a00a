"""Does self-supervised pretraining help? The quality bar of galfm's pretraining on the embedded default data.

    python benchmarks/bench_pretraining.py [--n 20000] [--minutes 15] [--record]

1. simulates the default survey (desi, jpas, galex, legacysurvey; skipped if --data is given),
2. pretrains the ``tiny`` preset for a fixed CPU budget (all three objectives, no labels), ``--seeds`` times,
3. on the test split: a linear probe (ridge) on frozen embeddings fitted with 1% of the training labels, against
   the same architecture (GalFMModel tiny + linear head) trained from scratch on the same 1%. Two probes: on the
   mean token state of every layer (embeddings included: a layer-wise probe, as is usual for frozen transformers)
   and on the last layer alone (galaxy token + mean token state); ridge penalty by 5-fold CV on the labelled
   galaxies:
   photo-z from J-PAS photometry alone (sigma_NMAD, outlier fraction) and log M* from the spectrum alone (R^2);
4. cross-modal retrieval: image-only and spectrum-only embeddings of the test galaxies find each other
   (top-1 / top-10 accuracy against chance),
and reports tokens/s of pretraining.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from galfm import GalFMConfig, GalFMForPretraining, GalFMModel, GalFMProcessor, select_modalities
from galfm.datasets_scripts import load_records
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.modeling_galfm import galaxy_summary, masked_mean
from galfm.training.benchmarking import record, spread
from galfm.training.evaluate import load_rows, retrieval_scores
from galfm.training.metrics import load_metric
from galfm.training.pretrain import PretrainConfig, pretrain

RESULTS = Path(__file__).with_name("RESULTS.md")
TASKS = {"photo-z (J-PAS photometry)": ("photometry", "redshift"), "log M* (spectrum)": ("spectrum", "log_mstar")}


def only(record: dict, modality: str) -> dict:
    """The record with one modality kept (J-PAS bands only for photometry)."""
    return select_modalities(record, [modality], band_prefixes=("jpas_",) if modality == "photometry" else ())


@torch.no_grad()
def embed(model: GalFMModel, processor: GalFMProcessor, records: list[dict], modality: str,
          batch: int = 64) -> dict[str, np.ndarray]:
    """Frozen features of each galaxy: ``last`` = the galaxy summary the heads read (galaxy token + mean token
    state of the last layer); ``layers`` = the mean token state of every layer, embeddings included (a layer-wise
    linear probe)."""
    model.eval()
    out = {"last": [], "layers": []}
    for i in range(0, len(records), batch):
        inputs = processor([only(r, modality) for r in records[i:i + batch]], return_tensors="pt")
        output = model(**inputs, output_hidden_states=True)
        mask = output.attention_mask
        out["last"].append(galaxy_summary(output.last_hidden_state, mask).float().numpy())
        out["layers"].append(torch.cat([masked_mean(h, mask) for h in output.hidden_states], -1).float().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def ridge(x_train, y_train, x_test, alphas=(0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)) -> np.ndarray:
    """Ridge regression on standardised features, the penalty chosen by 5-fold cross-validation on the labelled
    galaxies only (scikit-learn)."""
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, cv=KFold(5, shuffle=True, random_state=0)))
    return probe.fit(x_train, y_train).predict(x_test)


def photoz_score(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    score = load_metric("photoz").compute(predictions=predicted, references=truth)
    return score["sigma_nmad"], score["outlier_fraction"]


def r2(truth: np.ndarray, predicted: np.ndarray) -> float:
    return load_metric("regression").compute(predictions=predicted, references=truth)["r2"]


def scratch(processor, train, y_train, test, modality: str, steps: int = 300, seed: int = 0) -> np.ndarray:
    """GalFMModel tiny + a linear head, trained from random weights on the labelled subset (MSE)."""
    torch.manual_seed(seed)
    model = GalFMModel(GalFMConfig.from_preset("tiny"))
    head = torch.nn.Linear(model.config.hidden_size, 1)
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)
    mean, std = float(y_train.mean()), float(y_train.std())
    inputs_all = [only(r, modality) for r in train]
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        idx = rng.choice(len(train), size=min(32, len(train)), replace=False)
        batch = processor([inputs_all[i] for i in idx], return_tensors="pt")
        pred = head(model(**batch).pooler_output).squeeze(-1)
        loss = torch.nn.functional.mse_loss(pred, torch.tensor((y_train[idx] - mean) / std, dtype=torch.float32))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        feats = []
        for i in range(0, len(test), 64):
            batch = processor([only(r, modality) for r in test[i:i + 64]], return_tensors="pt")
            feats.append(head(model(**batch).pooler_output).squeeze(-1).numpy())
    return np.concatenate(feats) * std + mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="an existing simulated survey (default: simulate one)")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--minutes", type=float, default=15.0, help="pretraining budget")
    parser.add_argument("--work", default="bench_pretraining_work", help="folder for data and checkpoints")
    parser.add_argument("--label-fraction", type=float, default=0.01)
    parser.add_argument("--test", type=int, default=1000, help="test galaxies evaluated")
    parser.add_argument("--scratch-seeds", type=int, default=3, help="from-scratch runs (seeds) to average")
    parser.add_argument("--seeds", type=int, default=3, help="pretraining runs (seeds), each in the budget")
    parser.add_argument("--max-steps", type=int, default=2500, help="cosine horizon of each pretraining run")
    parser.add_argument("--evaluate-only", action="store_true", help="reuse WORK/pretrain-seed* of an earlier run")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    work = Path(args.work)
    timings = {}
    data = Path(args.data) if args.data else work / "survey"
    if not args.data:
        start = time.perf_counter()
        write_survey(SimulationConfig(n=args.n, seed=0), data, num_proc=2)
        timings["simulate"] = time.perf_counter() - start

    summaries, models = [], []
    for seed in range(args.seeds):
        run = work / f"pretrain-seed{seed}"
        # the cosine horizon is --max-steps; the time budget ends the run first if the machine is slower
        config = PretrainConfig(max_steps=args.max_steps, time_limit_minutes=args.minutes, checkpoint_every=10**9,
                                warmup_steps=50, batch_size=16, seed=seed)
        if not args.evaluate_only:
            start = time.perf_counter()
            pretrain(config, data, run, progress=True)
            timings[f"pretrain seed {seed}"] = time.perf_counter() - start
        summaries.append(json.loads((run / "pretrain_summary.json").read_text()))
        models.append(GalFMForPretraining.from_pretrained(run / "model"))

    processor = GalFMProcessor()
    n_train = len(load_records(data, split="train"))
    rng = np.random.default_rng(0)
    picks = rng.choice(n_train, size=max(8, int(args.label_fraction * n_train)), replace=False)
    labelled = load_rows(data, "train", indices=sorted(picks))
    test = load_rows(data, "test", args.test)
    rows, verdicts = [], []
    for task, (modality, key) in TASKS.items():
        y_train = np.array([r["properties"][key] for r in labelled])
        y_test = np.array([r["properties"][key] for r in test])
        probes = {"layers": [], "last": []}
        for model in models:
            features_train = embed(model.galfm, processor, labelled, modality)
            features_test = embed(model.galfm, processor, test, modality)
            for kind in probes:
                probes[kind].append(ridge(features_train[kind], y_train, features_test[kind]))
        baselines = [scratch(processor, labelled, y_train, test, modality, seed=seed)
                     for seed in range(args.scratch_seeds)]
        if key == "redshift":
            cells = {k: np.array([photoz_score(y_test, p) for p in v]) for k, v in probes.items()}
            runs = np.array([photoz_score(y_test, b) for b in baselines])
            gain = 1 - cells["last"][:, 0].mean() / runs[:, 0].mean()
            rows.append(f"| {task} | " + " | ".join(
                f"σ_NMAD {spread(c[:, 0], '.4f')}, outliers {spread(100 * c[:, 1], '.1f')}%" for c in cells.values())
                + f" | σ_NMAD {spread(runs[:, 0], '.4f')}, outliers {spread(100 * runs[:, 1], '.1f')}% | "
                f"{gain:.0%} lower σ_NMAD |")
        else:
            cells = {k: np.array([r2(y_test, p) for p in v]) for k, v in probes.items()}
            runs = np.array([r2(y_test, b) for b in baselines])
            gain = cells["last"].mean() / runs.mean() - 1
            rows.append(f"| {task} | R² {spread(cells['layers'], '.3f')} | R² {spread(cells['last'], '.3f')} | "
                        f"R² {spread(runs, '.3f')} | {gain:.0%} higher R² |")
        verdicts.append(gain)
    retrieval = [retrieval_scores(model, processor, test) or {} for model in models]
    names = [k for k in retrieval[0] if k != "count"]
    command = "python benchmarks/bench_pretraining.py " + " ".join(sys.argv[1:])
    origin = " (evaluating the pretraining runs already in --work)" if args.evaluate_only else ""
    steps = ", ".join(str(s["steps"]) for s in summaries)
    rate = np.mean([s["mean_tokens_per_s"] for s in summaries])
    table = (f"Command: `{command}`{origin} "
             f"(2 CPU threads; tiny preset; {args.seeds} pretraining seeds of {steps} steps of 16 galaxies, each in "
             f"a {args.minutes:g}-min budget (cosine horizon {args.max_steps} steps), {rate:.0f} tokens/s; "
             f"{len(labelled)} labelled galaxies = {args.label_fraction:.0%} of train; {len(test)} test galaxies; "
             f"mean ± sd over the pretraining seeds and over {args.scratch_seeds} from-scratch seeds)\n\n"
             "| task | linear probe, every layer's mean state | linear probe, last layer (galaxy token + mean) | "
             "same architecture from scratch | last-layer probe against scratch |\n|---|---|---|---|---|\n"
             + "\n".join(rows) + "\n\n| retrieval (test) | accuracy |\n|---|---|\n"
             + "".join(f"| {k} | {spread([r[k] for r in retrieval], '.3f')} |\n" for k in names))
    if "simulate" in timings:
        table += f"\nSimulating {args.n} galaxies took {timings['simulate'] / 60:.1f} min.\n"
    print(table)
    if args.record:
        record(RESULTS, "bench_pretraining", "Pretraining quality (`python benchmarks/bench_pretraining.py --record`)",
               table)


if __name__ == "__main__":
    main()
