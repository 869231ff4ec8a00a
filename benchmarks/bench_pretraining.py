"""Does self-supervised pretraining help? The quality bar of galfm's pretraining on the embedded default data.

    python benchmarks/bench_pretraining.py [--n 20000] [--minutes 15] [--record]

1. simulates the default survey (desi, jpas, galex, legacysurvey; skipped if --data is given),
2. pretrains the ``tiny`` preset for a fixed CPU budget (all three objectives, no labels),
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

from galfm import GalFMConfig, GalFMForPretraining, GalFMModel, GalFMProcessor
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.modeling_galfm import masked_mean
from galfm.training.pretrain import PretrainConfig, pretrain

sys.path.insert(0, str(Path(__file__).parent))
from results_file import record  # noqa: E402

TASKS = {"photo-z (J-PAS photometry)": ("photometry", "redshift"), "log M* (spectrum)": ("spectrum", "log_mstar")}


def sigma_nmad(z_true: np.ndarray, z_pred: np.ndarray) -> tuple[float, float]:
    dz = (z_pred - z_true) / (1 + z_true)
    return float(1.4826 * np.median(np.abs(dz - np.median(dz)))), float(np.mean(np.abs(dz) > 0.15))


def r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))


def only(record: dict, modality: str) -> dict:
    """The record with one modality kept (J-PAS bands only for photometry)."""
    out = {"object_id": record["object_id"], "spectrum": None, "photometry": None, "image": None, "properties": None}
    if modality == "photometry":
        phot = record["photometry"]
        keep = [i for i, b in enumerate(phot["band"]) if b.startswith("jpas_")]
        out["photometry"] = {k: [phot[k][i] for i in keep] for k in ("band", "flux", "flux_ivar")}
    else:
        out[modality] = record[modality]
    return out


@torch.no_grad()
def embed(model: GalFMModel, processor: GalFMProcessor, records: list[dict], modality: str,
          batch: int = 64) -> dict[str, np.ndarray]:
    """Frozen features of each galaxy: ``last`` = galaxy token + mean token state of the last layer (what the heads
    read); ``layers`` = the mean token state of every layer, embeddings included (a layer-wise linear probe)."""
    model.eval()
    out = {"last": [], "layers": []}
    for i in range(0, len(records), batch):
        inputs = processor([only(r, modality) for r in records[i:i + batch]], return_tensors="pt")
        output = model(**inputs, output_hidden_states=True)
        mask = output.attention_mask
        out["last"].append(torch.cat([output.last_hidden_state[:, 0], masked_mean(output.last_hidden_state, mask)],
                                     dim=-1).float().numpy())
        out["layers"].append(torch.cat([masked_mean(h, mask) for h in output.hidden_states], -1).float().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def spread(values: np.ndarray, fmt: str) -> str:
    """mean ± standard deviation over runs (the value alone for one run)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


def _ridge_fit_predict(x_train, y_train, x_test, alpha: float) -> np.ndarray:
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a = np.c_[(x_train - mu) / sd, np.ones(len(x_train))]
    w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ y_train)
    return np.c_[(x_test - mu) / sd, np.ones(len(x_test))] @ w


def ridge(x_train, y_train, x_test, alphas=(0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)) -> np.ndarray:
    """Ridge regression, the penalty chosen by 5-fold cross-validation on the labelled galaxies only."""
    folds = np.array_split(np.random.default_rng(0).permutation(len(x_train)), 5)
    def cv_error(alpha):
        errors = []
        for k, held in enumerate(folds):
            fit = np.concatenate([f for j, f in enumerate(folds) if j != k])
            pred = _ridge_fit_predict(x_train[fit], y_train[fit], x_train[held], alpha)
            errors.append(np.mean((pred - y_train[held]) ** 2))
        return np.mean(errors)
    best = min(alphas, key=cv_error)
    return _ridge_fit_predict(x_train, y_train, x_test, best)


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


@torch.no_grad()
def retrieval(model: GalFMForPretraining, processor, records: list[dict]) -> dict[str, float]:
    model.eval()
    views = {"image": [], "spectrum": []}
    for i in range(0, len(records), 64):
        batch = processor([{**r, "photometry": None, "properties": None} for r in records[i:i + 64]],
                          return_tensors="pt")
        emb, mask, types = model.galfm.embed(**batch)
        out = model.modality_embeddings(emb, mask, types)
        if not set(views) <= set(out):
            return {}  # the survey has no images or no spectra
        for k in views:
            views[k].append(out[k][0].numpy())
    a, b = np.concatenate(views["image"]), np.concatenate(views["spectrum"])
    sim = a @ b.T
    ranks = (sim > np.diag(sim)[:, None]).sum(1)  # rank of the true spectrum for each image
    ranks_t = (sim.T > np.diag(sim)[:, None]).sum(1)
    n = len(a)
    return {"image->spectrum top-1": float(np.mean(ranks < 1)), "image->spectrum top-10": float(np.mean(ranks < 10)),
            "spectrum->image top-1": float(np.mean(ranks_t < 1)),
            "spectrum->image top-10": float(np.mean(ranks_t < 10)), "chance top-1": 1 / n, "chance top-10": 10 / n}


def load_rows(data: Path, split: str, indices=None, limit: int | None = None) -> list[dict]:
    """Rows of a split as records; only the ones asked for are materialised (images make rows large)."""
    from galfm.datasets_scripts import load_records

    ds = load_records(data, split=split)
    if indices is None:
        indices = range(min(limit or len(ds), len(ds)))
    return [ds[int(i)] for i in indices]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="an existing simulated survey (default: simulate one)")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--minutes", type=float, default=15.0, help="pretraining budget")
    parser.add_argument("--work", default="bench_pretraining_work", help="folder for data and checkpoints")
    parser.add_argument("--label-fraction", type=float, default=0.01)
    parser.add_argument("--test", type=int, default=1000, help="test galaxies evaluated")
    parser.add_argument("--scratch-seeds", type=int, default=3, help="from-scratch runs (seeds) to average")
    parser.add_argument("--evaluate-only", action="store_true", help="reuse WORK/pretrain from an earlier run")
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

    # the cosine horizon is 800 steps; the time budget usually ends the run first
    config = PretrainConfig(max_steps=800, time_limit_minutes=args.minutes, checkpoint_every=250, warmup_steps=50,
                            batch_size=16)
    if not args.evaluate_only:
        start = time.perf_counter()
        pretrain(config, data, work / "pretrain", progress=True)
        timings["pretrain"] = time.perf_counter() - start
    summary = json.loads((work / "pretrain" / "pretrain_summary.json").read_text())

    processor = GalFMProcessor()
    pretrained = GalFMForPretraining.from_pretrained(work / "pretrain" / "model")
    from galfm.datasets_scripts import load_records

    n_train = len(load_records(data, split="train"))
    rng = np.random.default_rng(0)
    picks = rng.choice(n_train, size=max(8, int(args.label_fraction * n_train)), replace=False)
    labelled = load_rows(data, "train", sorted(picks))
    test = load_rows(data, "test", limit=args.test)
    rows = []
    for task, (modality, key) in TASKS.items():
        y_train = np.array([r["properties"][key] for r in labelled])
        y_test = np.array([r["properties"][key] for r in test])
        features_train = embed(pretrained.galfm, processor, labelled, modality)
        features_test = embed(pretrained.galfm, processor, test, modality)
        probes = {k: ridge(features_train[k], y_train, features_test[k]) for k in ("layers", "last")}
        baselines = [scratch(processor, labelled, y_train, test, modality, seed=seed)
                     for seed in range(args.scratch_seeds)]
        if key == "redshift":
            probe_cells = [sigma_nmad(y_test, probes[k]) for k in ("layers", "last")]
            runs = np.array([sigma_nmad(y_test, b) for b in baselines])
            rows.append(f"| {task} | " + " | ".join(f"σ_NMAD {s:.4f}, outliers {o:.1%}" for s, o in probe_cells)
                        + f" | σ_NMAD {spread(runs[:, 0], '.4f')}, outliers {spread(100 * runs[:, 1], '.1f')}% |")
        else:
            runs = np.array([r2(y_test, b) for b in baselines])
            rows.append(f"| {task} | R² {r2(y_test, probes['layers']):.3f} | R² {r2(y_test, probes['last']):.3f} | "
                        f"R² {spread(runs, '.3f')} |")
    ret = retrieval(pretrained, processor, test)
    command = "python benchmarks/bench_pretraining.py " + " ".join(sys.argv[1:])
    origin = " (evaluating the pretraining run already in --work)" if args.evaluate_only else ""
    table = (f"Command: `{command}`{origin} "
             f"(2 CPU threads; tiny preset; {summary['steps']} steps of 16 galaxies in "
             f"a {args.minutes:g}-min budget, {summary['mean_tokens_per_s']:.0f} tokens/s; "
             f"{len(labelled)} labelled galaxies = {args.label_fraction:.0%} of train; {len(test)} test galaxies)\n\n"
             "| task | linear probe, every layer's mean state | linear probe, last layer (galaxy token + mean) | "
             f"same architecture from scratch (mean ± sd of {args.scratch_seeds} seeds) |\n|---|---|---|---|\n"
             + "\n".join(rows) + "\n\n| retrieval (test) | accuracy |\n|---|---|\n"
             + "".join(f"| {k} | {v:.3f} |\n" for k, v in ret.items()))
    if "simulate" in timings:
        table += f"\nSimulating {args.n} galaxies took {timings['simulate'] / 60:.1f} min.\n"
    print(table)
    if args.record:
        record("bench_pretraining", "Pretraining quality (`python benchmarks/bench_pretraining.py --record`)", table)


if __name__ == "__main__":
    main()
