"""``galfm demo`` (what ``make demo`` runs): the main job end to end on a 2-core CPU.

1. simulate the default survey (DESI spectra, J-PAS + GALEX + Legacy Surveys photometry, grz images);
2. pretrain the ``tiny`` model (masked any-to-any, autoregressive, contrastive);
3. fine-tune the heads with Trainer (photo-z, properties, posterior, SFH, morphology);
4. evaluate everything on the test split (``galfm evaluate``), plus a predicted spectrum, a similarity-search
   gallery and the real bundled SDSS / DESI / Legacy Surveys galaxies through the trained model;
5. write ``report.md`` + ``report.html`` and Hub-ready folders (``models/base``, ``models/<head>``) with cards.

Each stage leaves its outputs in ``OUT`` and is skipped when they exist, so a re-run resumes. ``--quick`` is the
same pipeline with few galaxies and steps (a smoke run).
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import markdown
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

from galfm.configuration_galfm import GalFMConfig
from galfm.datasets_scripts.desi import read_coadd
from galfm.datasets_scripts.legacysurvey import read_catalog
from galfm.datasets_scripts.parquet_shards import load_records
from galfm.datasets_scripts.sdss import read_spec
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.heads_galfm import load_head
from galfm.modeling_galfm import GalFMModel
from galfm.pretraining_galfm import GalFMForPretraining
from galfm.processing_galfm import GalFMProcessor
from galfm.search_galfm import GalaxyIndex, embed_galaxies

from .cards import write_base_card, write_head_card
from .evaluate import evaluate_models, task_of
from .finetune import FinetuneConfig, finetune
from .pretrain import DEFAULT_CONFIG, PretrainConfig, pretrain
from .tasks import GalaxyTaskCollator

HEAD_TASKS = ("photoz", "properties", "posterior", "sfh", "morphology")


@dataclass(frozen=True)
class DemoPlan:
    galaxies: int
    pretrain_steps: int
    pretrain_minutes: float
    finetune_steps: int
    eval_samples: int
    batch_size: int = 32

    @classmethod
    def make(cls, quick: bool) -> DemoPlan:
        if quick:
            return cls(galaxies=400, pretrain_steps=20, pretrain_minutes=1.0, finetune_steps=15, eval_samples=40,
                       batch_size=16)
        return cls(galaxies=8000, pretrain_steps=2000, pretrain_minutes=5.0, finetune_steps=300, eval_samples=400)


class Stage:
    """Prints a numbered header, times the stage, and records the time."""

    def __init__(self, timings: dict, number: int, total: int, name: str):
        self.timings, self.label, self.name = timings, f"[{number}/{total}] {name}", name

    def __enter__(self):
        print(f"\n{self.label} ...", flush=True)
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        seconds = time.perf_counter() - self.start
        self.timings[self.name] = seconds
        print(f"{self.label}: {seconds:.0f} s", flush=True)


def load_bundled_records(data_dir: Path) -> list[dict]:
    """The real test spectra: every SDSS spec-*.fits and DESI coadd-*.fits under ``data_dir``."""

    sdss = sorted((data_dir / "sdss").glob("spec-*.fits"))
    desi = sorted((data_dir / "desi").glob("coadd-*.fits"))
    if not sdss and not desi:
        raise FileNotFoundError(f"no sdss/spec-*.fits or desi/coadd-*.fits under {data_dir}; pass --data-dir")
    records = [read_spec(p) for p in sdss]
    for path in desi:
        redrock = path.with_name(path.name.replace("coadd-", "redrock-"))
        records.extend(read_coadd(path, redrock if redrock.exists() else None))
    return records


def _simulate(out: Path, plan: DemoPlan, seed: int) -> Path:
    data = out / "data" / "simulated"
    if not (data / "README.md").is_file():
        write_survey(SimulationConfig(n=plan.galaxies, seed=seed, shard_size=1000 if plan.galaxies > 2000 else 200),
                     data, num_proc=2 if plan.galaxies > 2000 else 1)
    return data


def _pretrain(out: Path, data: Path, plan: DemoPlan, seed: int) -> Path:
    run = out / "runs" / "pretrain"
    if not (run / "model" / "model.safetensors").is_file():
        config = PretrainConfig.from_yaml(DEFAULT_CONFIG, max_steps=plan.pretrain_steps, seed=seed,
                                          time_limit_minutes=plan.pretrain_minutes, checkpoint_every=10**9,
                                          warmup_steps=min(30, max(1, plan.pretrain_steps // 10)))
        pretrain(config, data, run)
    return run


def _finetune(out: Path, data: Path, base: Path, plan: DemoPlan, seed: int) -> None:
    for task in HEAD_TASKS:
        run = out / "runs" / task
        if not (run / "metrics.json").is_file():
            print(f"  fine-tuning {task} ({plan.finetune_steps} steps)", flush=True)
            finetune(FinetuneConfig(task=task, data=str(data), output_dir=str(run), base=str(base),
                                    max_steps=plan.finetune_steps, batch_size=plan.batch_size,
                                    max_eval_samples=plan.eval_samples, seed=seed))


def _hub_folders(out: Path, pretrain_run: Path) -> Path:
    models = out / "models"
    for name, source in [("base", pretrain_run / "model")] + [(t, out / "runs" / t / "model") for t in HEAD_TASKS]:
        target = models / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
    return models


@torch.no_grad()
def _spectrum_plot(base: Path, data: Path, path: Path) -> dict:
    """The DESI spectrum of a test galaxy predicted from its photometry alone, against the simulated one."""



    model = GalFMForPretraining.from_pretrained(base).eval()
    processor = GalFMProcessor.from_pretrained(base)
    test = load_records(data, split="test")
    candidates = [test[i] for i in range(min(200, len(test)))]
    candidates = [r for r in candidates if r["spectrum"] and r["photometry"]]

    def signal_to_noise(row):
        flux, ivar = np.asarray(row["spectrum"]["flux"]), np.asarray(row["spectrum"]["ivar"])
        return float(np.median(flux * np.sqrt(ivar)))

    row = max(candidates, key=signal_to_noise)  # the clearest spectrum of the first test galaxies
    record = {**row, "image": None, "properties": None}
    answer = model.predict([record], ["spectrum"], processor=processor,
                           wavelength_range=(row["spectrum"]["wavelength"][0], row["spectrum"]["wavelength"][-1]))[0]
    pred = answer["spectrum"]
    true_wave, true_flux = np.asarray(row["spectrum"]["wavelength"]), np.asarray(row["spectrum"]["flux"])
    ivar = np.asarray(row["spectrum"]["ivar"])
    bins = len(true_wave) // 8 * 8  # ivar-weighted means of 8 pixels, for the eye
    weight = ivar[:bins].reshape(-1, 8)
    binned = (true_flux[:bins].reshape(-1, 8) * weight).sum(1) / np.maximum(weight.sum(1), 1e-12)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(true_wave[:bins].reshape(-1, 8).mean(1), binned, color="0.4", lw=0.6,
            label="simulated DESI spectrum (noisy; 8-pixel bins)")
    ax.plot(pred["wavelength"], pred["flux"], color="C1", lw=0.8, label="predicted from photometry alone")
    ax.fill_between(pred["wavelength"], pred["flux"] - pred["flux_std"], pred["flux"] + pred["flux_std"],
                    color="C1", alpha=0.25, lw=0)
    z = row["properties"]["redshift"]
    ax.set(xlabel="observed wavelength [Å]", ylabel="flux [1e-17 erg/s/cm²/Å]",
           title=f"{row['object_id']} (z = {z:.3f}): spectrum from J-PAS + GALEX + Legacy photometry",
           ylim=(min(0.0, np.nanpercentile(binned, 0.5)), 1.3 * np.nanpercentile(binned, 99.5)))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    grid_true = np.interp(pred["wavelength"], true_wave, true_flux)
    return {"object_id": row["object_id"], "median_abs_fractional_error": float(
        np.median(np.abs(pred["flux"] - grid_true) / np.maximum(np.abs(grid_true), 1e-3)))}


@torch.no_grad()
def _search_gallery(base: Path, data: Path, path: Path, n_index: int, queries: int = 4, k: int = 5) -> None:
    """Image queries against a FAISS index of test spectra: each row a query image and its best matches' images."""



    model = GalFMForPretraining.from_pretrained(base).eval()
    processor = GalFMProcessor.from_pretrained(base)
    test = load_records(data, split="test")
    rows = [test[i] for i in range(min(n_index, len(test)))]
    rows = [r for r in rows if r["image"] is not None and r["spectrum"] is not None]
    ids = [r["object_id"] for r in rows]
    index = GalaxyIndex.from_embeddings(embed_galaxies(model, processor, rows, "spectrum"), ids, "spectrum")
    scores, found = index.search(embed_galaxies(model, processor, rows[:queries], "image"), k=k)
    by_id = {r["object_id"]: r for r in rows}

    def show(ax, row, title):
        image = np.asarray(row["image"]["flux"])[1]
        ax.imshow(np.arcsinh(image / 0.05), cmap="gray_r", origin="lower")
        ax.set_title(title, fontsize=7)
        ax.axis("off")

    fig, axes = plt.subplots(len(found), k + 1, figsize=(1.6 * (k + 1), 1.8 * len(found)), squeeze=False)
    for q, (row_ids, row_scores) in enumerate(zip(found, scores)):
        query = rows[q]
        show(axes[q, 0], query, f"query z={query['properties']['redshift']:.2f}")
        for j, (gid, score) in enumerate(zip(row_ids, row_scores)):
            match = by_id[gid]
            mark = " (self)" if gid == query["object_id"] else ""
            show(axes[q, j + 1], match, f"z={match['properties']['redshift']:.2f} cos={score:.2f}{mark}")
    fig.suptitle("image query -> nearest spectra in the FAISS index (their images shown)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _training_curves(out: Path, path: Path) -> None:
    """The pretraining losses and each head's Trainer loss, one figure."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    with open(out / "runs" / "pretrain" / "loss_history.csv") as handle:
        rows = list(csv.DictReader(handle))
    for key in ("loss", "masked_loss", "autoregressive_loss", "contrastive_loss"):
        values = [float(r[key]) if r[key] not in ("", "None") else np.nan for r in rows]
        axes[0].plot([int(r["step"]) for r in rows], values, label=key.replace("_", " "))
    axes[0].set(xlabel="step", ylabel="loss", title="pretraining")
    axes[0].legend(fontsize=7)
    for task in HEAD_TASKS:
        log = json.loads((out / "runs" / task / "train_log.json").read_text())
        points = [(e["step"], e["loss"]) for e in log if "loss" in e]
        if points:
            steps, losses = zip(*points)
            axes[1].plot(steps, np.asarray(losses) - losses[0], label=task)
    axes[1].set(xlabel="step", ylabel="loss − first logged loss", title="fine-tuning (Trainer)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def _real_galaxies(out: Path, data_dir: Path) -> list[dict]:
    """The bundled real spectra (SDSS, DESI) and Legacy Surveys photometry through the properties head."""

    records = load_bundled_records(data_dir)
    tractor = sorted((data_dir / "legacysurvey").glob("tractor-*.fits"))
    if tractor:
        records += [r for r in read_catalog(tractor[0]) if r.get("photometry")][:5]
    head = load_head(str(out / "models" / "properties")).eval()
    task = task_of(head)
    collate = GalaxyTaskCollator(GalFMProcessor.from_pretrained(out / "models" / "properties"), task)
    rows = []
    for record in records:
        batch = collate([record])
        batch.pop("labels")
        output = head(**batch)
        given = [m for m in ("spectrum", "photometry") if record.get(m) is not None]
        bands = len(record["photometry"]["band"]) if record.get("photometry") else 0
        entry = {"object_id": record["object_id"], "survey": record.get("survey"), "inputs": " + ".join(given),
                 "bands": bands, "catalogue_z": (record.get("properties") or {}).get("redshift")}
        for i, name in enumerate(task.targets):
            entry[name] = (float(output.mean[0, i]), float(output.std[0, i]))
        rows.append(entry)
    return rows


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _summary_rows(evaluation: dict, spectrum: dict) -> list[str]:
    """The report's results table: one line per task, from the evaluation's metrics."""
    fmt = _fmt
    tasks = evaluation["tasks"]
    photoz, props, post = tasks.get("photoz", {}), tasks.get("properties", {}), tasks.get("posterior", {})
    sfh, morph = tasks.get("sfh", {}), tasks.get("morphology", {})
    retrieval = tasks.get("base/retrieval", {})
    summary = [
        ("photo-z from J-PAS photometry", f"σ_NMAD {fmt(photoz.get('redshift/sigma_nmad'))}, outliers "
         f"{fmt(photoz.get('redshift/outlier_fraction'))}, 68% coverage {fmt(photoz.get('redshift/coverage_68'))}"),
        ("log M* (spectrum + photometry)", f"R² {fmt(props.get('log_mstar/r2'))}, 68% coverage "
         f"{fmt(props.get('log_mstar/coverage_68'))}"),
        ("redshift (spectrum + photometry)", f"σ_NMAD {fmt(props.get('redshift/sigma_nmad'))}"),
        ("posterior log M*", f"68/95% coverage {fmt(post.get('log_mstar/coverage_68'))}/"
         f"{fmt(post.get('log_mstar/coverage_95'))}, rank KS {fmt(post.get('log_mstar/rank_ks'))}"),
        ("SFH", f"mass-weighted age scatter {fmt(sfh.get('log_age_mw/scatter_dex'))} dex, log Z scatter "
         f"{fmt(sfh.get('log_z/nmad'))} dex, per-bin scatter {fmt(sfh.get('sfh/mean_bin_scatter'))}"),
        ("morphology from images", f"accuracy {fmt(morph.get('accuracy'))}"),
        ("image → spectrum retrieval", f"top-1 {fmt(retrieval.get('image_to_spectrum_top_1'))}, top-10 "
         f"{fmt(retrieval.get('image_to_spectrum_top_10'))} (chance {fmt(retrieval.get('chance_top_10'))} for top-10)"),
        ("spectrum from photometry", f"median absolute fractional error "
         f"{fmt(spectrum['median_abs_fractional_error'])} "
         f"({spectrum['object_id']})"),
    ]
    return [f"| {a} | {b} |" for a, b in summary]


def _real_galaxy_rows(real: list[dict]) -> list[str]:
    rows = []
    for r in real:
        z, m = r.get("redshift", (np.nan, np.nan)), r.get("log_mstar", (np.nan, np.nan))
        cat = f"{r['catalogue_z']:.4f}" if r["catalogue_z"] is not None else "—"
        rows.append(f"| {r['object_id']} | {r['survey']} | {r['inputs']} ({r['bands']} bands) | {cat} | "
                    f"{z[0]:.3f} ± {z[1]:.3f} | {m[0]:.2f} ± {m[1]:.2f} |")
    return rows


def _write_report(out: Path, plan: DemoPlan, quick: bool, timings: dict, evaluation: dict, spectrum: dict,
                  real: list[dict]) -> None:
    """``report.md`` and ``report.html``: the results table, every plot, the real galaxies, timings."""
    lines = [
        f"# galfm demo report{' (quick smoke run)' if quick else ''}", "",
        f"Simulated survey of {plan.galaxies} galaxies; `tiny` model pretrained for at most {plan.pretrain_steps} "
        f"steps / {plan.pretrain_minutes:g} min, heads fine-tuned for {plan.finetune_steps} Trainer steps; "
        f"evaluated on up to {plan.eval_samples} test galaxies. Stages 1–6 took {sum(timings.values()) / 60:.1f} min.",
        "", "## Results (test split)", "", "| task | result |", "|---|---|",
        *_summary_rows(evaluation, spectrum), "",
        "All metrics per task: `evaluation/evaluation.md` and `evaluation/metrics.json`.", "",
        "## Photometric redshifts", "", "![photo-z](evaluation/photoz.png)", "",
        "## Properties with uncertainties", "", "![properties](evaluation/properties.png)", "",
        "## Posterior calibration", "", "![posterior](evaluation/posterior.png)", "",
        "## Star formation histories", "", "![sfh](evaluation/sfh.png)", "",
        "## Morphology", "", "![morphology](evaluation/morphology.png)", "",
        "## A spectrum predicted from photometry", "", "![spectrum](spectrum_from_photometry.png)", "",
        "## Similarity search", "", "![gallery](search_gallery.png)", "",
        "## Embedding map", "", "![embeddings](evaluation/base_embedding_map.png)", "",
        "## Training curves", "", "![curves](training_curves.png)", "",
        "## Real galaxies", "",
        "The bundled real SDSS and DESI spectra (with their photometry) and Legacy Surveys DR9 photometry, through "
        "the properties head trained on simulations. The simulation-to-real gap is shown as it is: the model never "
        "saw real data, and the Legacy-only galaxies have 4–6 broad bands where it was trained with ~70 bands.", "",
        "| galaxy | survey | inputs | catalogue z | predicted z | predicted log M* |", "|---|---|---|---|---|---|",
        *_real_galaxy_rows(real),
    ]
    lines += ["", "## Timings", "", "| stage | seconds |", "|---|---|",
              *[f"| {k} | {v:.0f} |" for k, v in timings.items()], "",
              "## Hub-ready folders", "", "`models/base` (pretrained model, `AutoModel` / `AutoModelForPreTraining`) "
              "and `models/<head>` with model cards (`README.md`, model-index with the numbers above): "
              "`galfm push --model models --repo org/galfm` sends the base to `org/galfm` and each head to "
              "`org/galfm-<head>`.", ""]
    if evaluation["skipped"]:
        lines += ["## Skipped evaluations", ""] + [f"- {k}: {v}" for k, v in evaluation["skipped"].items()] + [""]
    text = "\n".join(lines)
    (out / "report.md").write_text(text)
    html = markdown.markdown(text, extensions=["tables"])
    (out / "report.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>galfm demo report"
                                     f"</title><style>body{{font-family:sans-serif;max-width:60em;margin:auto}}"
                                     f"table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}"
                                     f"img{{max-width:100%}}</style></head><body>{html}</body></html>")


def _cards(out: Path, plan: DemoPlan, evaluation: dict, repo: str = "org/galfm") -> None:
    data_text = (f"{plan.galaxies} galaxies of the galfm simulated survey (`galfm simulate`, seed 0): BC03 stellar "
                 "populations, Cloudy nebular emission, Calzetti dust, Inoue IGM; DESI-like spectra, J-PAS + GALEX + "
                 "Legacy Surveys photometry, GalSim grz images; priors documented in the dataset card.")
    config = GalFMConfig.from_pretrained(out / "models" / "base")

    parameters = GalFMModel(config).num_parameters()
    base_metrics = {**evaluation["tasks"].get("base/retrieval", {}), **evaluation["tasks"].get("base/outliers", {})}
    write_base_card(out / "models" / "base", repo, "tiny", parameters,
                    f"self-supervised pretraining, {plan.pretrain_steps} steps max / {plan.pretrain_minutes:g} min "
                    "on 2 CPU cores (masked + autoregressive + contrastive)", data_text,
                    {f"retrieval/{k}": v for k, v in base_metrics.items()},
                    [out / "evaluation" / "base_embedding_map.png", out / "runs" / "pretrain" / "loss_curves.png"])
    inputs = {"photoz": "J-PAS photometry", "properties": "spectrum + photometry",
              "posterior": "spectrum + photometry", "sfh": "spectrum + photometry", "morphology": "grz image"}
    heads = {"photoz": "GalFMForPropertyPrediction", "properties": "GalFMForPropertyPrediction",
             "posterior": "GalFMForPosteriorEstimation", "sfh": "GalFMForStarFormationHistory",
             "morphology": "GalFMForMorphologyClassification"}
    for task in HEAD_TASKS:
        write_head_card(out / "models" / task, task, f"{repo}-{task}", repo, evaluation["tasks"].get(task, {}),
                        [out / "evaluation" / f"{task}.png"], f"Trainer, {plan.finetune_steps} steps from {repo}",
                        data_text, inputs[task], heads[task])


def run_demo(out_dir: Path, data_dir: Path, quick: bool = False, seed: int = 0) -> dict:
    """Run (or resume) the whole demo; returns the evaluation results."""

    torch.set_num_threads(2)
    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = DemoPlan.make(quick)
    timings: dict[str, float] = {}
    total = 7
    with Stage(timings, 1, total, f"simulate {plan.galaxies} galaxies"):
        data = _simulate(out, plan, seed)
    with Stage(timings, 2, total, "pretrain the tiny model"):
        pretrain_run = _pretrain(out, data, plan, seed)
    with Stage(timings, 3, total, f"fine-tune {len(HEAD_TASKS)} heads with Trainer"):
        _finetune(out, data, pretrain_run / "model", plan, seed)
        models = _hub_folders(out, pretrain_run)
    with Stage(timings, 4, total, "evaluate on the test split"):
        evaluation = evaluate_models(models, data, out / "evaluation", max_samples=plan.eval_samples)
    with Stage(timings, 5, total, "predicted spectrum, search gallery, training curves"):
        spectrum = _spectrum_plot(models / "base", data, out / "spectrum_from_photometry.png")
        _search_gallery(models / "base", data, out / "search_gallery.png", plan.eval_samples)
        _training_curves(out, out / "training_curves.png")
    with Stage(timings, 6, total, "real SDSS / DESI / Legacy Surveys galaxies"):
        real = _real_galaxies(out, data_dir)
    with Stage(timings, 7, total, "model cards and report"):
        _cards(out, plan, evaluation)
        (out / "demo_timings.json").write_text(json.dumps({"plan": asdict(plan), "seconds": timings}, indent=1))
        _write_report(out, plan, quick, timings, evaluation, spectrum, real)
    print(f"\nreport: {out / 'report.md'} (+ report.html); Hub-ready folders: {models}; total "
          f"{sum(timings.values()) / 60:.1f} min")
    return evaluation
