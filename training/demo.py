"""``galfm demo`` (what ``make demo`` runs): the shipped model at work, end to end on a 2-core CPU.

1. simulate an evaluation survey the shipped model never saw (another seed of the default survey);
2. take the shipped pretrained model and heads by repo id from the Hugging Face cache (``org/galfm``,
   ``org/galfm-properties``, ... placed there by ``make install``);
3. fine-tune one new head with Trainer from ``org/galfm`` (morphology from images);
4. evaluate everything (``galfm evaluate``): the real galaxies at hand first (SDSS, DESI, the spectra ppxf
   ships), then the simulated test split, a predicted spectrum and a similarity-search gallery;
5. write ``report.md`` + ``report.html`` (opening with the real-sky table and plot) and Hub-ready folders.

Each stage leaves its outputs in ``OUT`` and is skipped when they exist, so a re-run resumes. ``--quick`` is the
same pipeline with few galaxies and steps (a smoke run). Remaking the shipped models themselves is
``galfm release`` (``make release``).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import markdown
import matplotlib.pyplot as plt
import numpy as np
import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError

from galfm.datasets_scripts.parquet_shards import load_records
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.pretraining_galfm import GalFMForPretraining
from galfm.processing_galfm import GalFMProcessor
from galfm.search_galfm import GalaxyIndex, embed_galaxies

from .cards import write_head_card
from .evaluate import evaluate_models
from .finetune import FinetuneConfig, finetune
from .metrics import scatter_in_context
from .real_sky import default_real_paths, summary_markdown
from .release import REPO_ORG, SHIPPED_HEADS

SHIPPED = {"base": f"{REPO_ORG}/galfm", **{h.task: h.repo_id for h in SHIPPED_HEADS}}
"""The demo's model folders and the shipped repo each comes from."""
NEW_HEAD = "morphology"


@dataclass(frozen=True)
class DemoPlan:
    galaxies: int
    finetune_steps: int
    eval_samples: int
    batch_size: int = 32

    @classmethod
    def make(cls, quick: bool) -> DemoPlan:
        if quick:
            return cls(galaxies=320, finetune_steps=10, eval_samples=24, batch_size=16)
        return cls(galaxies=2000, finetune_steps=300, eval_samples=400)


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


def _simulate(out: Path, plan: DemoPlan, seed: int) -> Path:
    data = out / "data" / "simulated"
    if not (data / "README.md").is_file():
        write_survey(SimulationConfig(n=plan.galaxies, seed=seed, shard_size=1000 if plan.galaxies > 2000 else 200),
                     data, num_proc=2 if plan.galaxies > 1000 else 1)
    return data


def shipped_folder(repo_id: str) -> Path:
    """The cached snapshot of a shipped repo (offline: what a Hub download left, or ``make install`` placed)."""
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except LocalEntryNotFoundError as err:
        raise FileNotFoundError(f"{repo_id} is not in the Hugging Face cache: run `make install` (or "
                                "`galfm install-pretrained pretrained`) first") from err


def _fetch_models(out: Path) -> Path:
    models = out / "models"
    for name, repo_id in SHIPPED.items():
        target = models / name
        if not (target / "config.json").is_file():
            shutil.copytree(shipped_folder(repo_id), target, dirs_exist_ok=True)
    return models


def _finetune_new_head(out: Path, data: Path, models: Path, plan: DemoPlan, seed: int) -> None:
    run = out / "runs" / NEW_HEAD
    if not (run / "metrics.json").is_file():
        print(f"  fine-tuning {NEW_HEAD} from {SHIPPED['base']} ({plan.finetune_steps} steps)", flush=True)
        finetune(FinetuneConfig(task=NEW_HEAD, data=str(data), output_dir=str(run), base=str(models / "base"),
                                max_steps=plan.finetune_steps, batch_size=plan.batch_size,
                                max_eval_samples=plan.eval_samples, seed=seed))
    target = models / NEW_HEAD
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(run / "model", target)


@torch.no_grad()
def _spectrum_plot(base: Path, data: Path, path: Path, galaxies: int = 40) -> dict:
    """Spectra of test galaxies predicted from their photometry alone: the flux level over ``galaxies`` of them
    (median predicted / true), and one plotted against its simulated spectrum.

    The plotted galaxy is the one at the 75th percentile of spectral S/N: a clear spectrum of typical brightness
    (the brightest galaxies are where a model's prediction regresses most towards the mean).
    """
    model = GalFMForPretraining.from_pretrained(base).eval()
    processor = GalFMProcessor.from_pretrained(base)
    test = load_records(data, split="test")
    candidates = [test[i] for i in range(min(200, len(test)))]
    candidates = [r for r in candidates if r["spectrum"] and r["photometry"]][:galaxies]

    def signal_to_noise(row):
        flux, ivar = np.asarray(row["spectrum"]["flux"]), np.asarray(row["spectrum"]["ivar"])
        return float(np.median(flux * np.sqrt(ivar)))

    def predicted(row):
        wave = np.asarray(row["spectrum"]["wavelength"])
        answer = model.predict([{**row, "image": None, "properties": None}], ["spectrum"], processor=processor,
                               wavelength_range=(wave[0], wave[-1]))[0]["spectrum"]
        return answer, np.interp(answer["wavelength"], wave, np.asarray(row["spectrum"]["flux"]))

    predictions = [predicted(row) for row in candidates]
    ratios = [float(np.median(answer["flux"]) / np.median(truth)) for answer, truth in predictions]
    order = np.argsort([signal_to_noise(r) for r in candidates])
    chosen = int(order[int(0.75 * (len(order) - 1))])
    row, (pred, grid_true) = candidates[chosen], predictions[chosen]
    true_wave, true_flux = np.asarray(row["spectrum"]["wavelength"]), np.asarray(row["spectrum"]["flux"])
    ivar = np.asarray(row["spectrum"]["ivar"])
    bins = len(true_wave) // 8 * 8  # ivar-weighted means of 8 pixels, for the eye
    weight = ivar[:bins].reshape(-1, 8)
    binned = (true_flux[:bins].reshape(-1, 8) * weight).sum(1) / np.maximum(weight.sum(1), 1e-12)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(true_wave[:bins].reshape(-1, 8).mean(1), binned, color="0.4", lw=0.6,
            label="simulated fibre spectrum (noisy; 8-pixel bins)")
    ax.plot(pred["wavelength"], pred["flux"], color="C1", lw=0.8, label="predicted from photometry alone")
    ax.fill_between(pred["wavelength"], pred["flux"] - pred["flux_std"], pred["flux"] + pred["flux_std"],
                    color="C1", alpha=0.25, lw=0)
    z = row["properties"]["redshift"]
    ratio = float(np.median(pred["flux"]) / np.median(grid_true))
    ax.set(xlabel="observed wavelength [Å]", ylabel="flux [1e-17 erg/s/cm²/Å]",
           title=f"{row['object_id']} (z = {z:.3f}), 75th-percentile S/N: predicted / true flux {ratio:.2f} "
                 f"(median over {len(ratios)} test galaxies {np.median(ratios):.2f})",
           ylim=(min(0.0, np.nanpercentile(binned, 0.5)), 1.3 * np.nanpercentile(binned, 99.5)))
    ax.title.set_fontsize(8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"object_id": row["object_id"], "galaxies": len(ratios), "median_abs_fractional_error": float(
        np.median(np.abs(pred["flux"] - grid_true) / np.maximum(np.abs(grid_true), 1e-3))),
        "median_flux_ratio": float(np.median(ratios)),
        "flux_ratio_16_84": [float(np.percentile(ratios, 16)), float(np.percentile(ratios, 84))]}


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


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _summary_rows(evaluation: dict, spectrum: dict) -> list[str]:
    """The report's results table on the simulated test split: one line per task."""
    fmt = _fmt
    tasks = evaluation["tasks"]
    photoz, props, post = tasks.get("photoz", {}), tasks.get("properties", {}), tasks.get("posterior", {})
    sfh, morph = tasks.get("sfh", {}), tasks.get("morphology", {})
    retrieval = tasks.get("base/retrieval", {})
    summary = [
        ("photo-z from photometry", f"σ_NMAD {scatter_in_context(photoz, 'redshift')}, outliers "
         f"{fmt(photoz.get('redshift/outlier_fraction'))}, 68% coverage {fmt(photoz.get('redshift/coverage_68'))}"),
        ("redshift (spectrum + photometry; template scan)", f"σ_NMAD {scatter_in_context(props, 'redshift')}, "
         f"outliers {fmt(props.get('redshift/outlier_fraction'))}, 68% coverage "
         f"{fmt(props.get('redshift/coverage_68'))}"),
        ("log M* (spectrum + photometry)", f"R² {fmt(props.get('log_mstar/r2'))}, 68% coverage "
         f"{fmt(props.get('log_mstar/coverage_68'))}"),
        ("posterior log M*", f"68/95% coverage {fmt(post.get('log_mstar/coverage_68'))}/"
         f"{fmt(post.get('log_mstar/coverage_95'))}, rank KS {fmt(post.get('log_mstar/rank_ks'))}"),
        ("SFH", f"mass-weighted age scatter {scatter_in_context(sfh, 'log_age_mw', 'dex')}, log Z scatter "
         f"{scatter_in_context(sfh, 'log_z', 'dex')}, per-bin scatter {fmt(sfh.get('sfh/mean_bin_scatter'))}"),
        ("morphology from images (fine-tuned here)", f"accuracy {fmt(morph.get('accuracy'))}"),
        ("image → spectrum retrieval", f"top-1 {fmt(retrieval.get('image_to_spectrum_top_1'))}, top-10 "
         f"{fmt(retrieval.get('image_to_spectrum_top_10'))} (chance {fmt(retrieval.get('chance_top_10'))} for top-10)"),
        ("spectrum from photometry", f"median predicted / true flux {fmt(spectrum['median_flux_ratio'])} over "
         f"{spectrum['galaxies']} test galaxies (16–84%: {fmt(spectrum['flux_ratio_16_84'][0])}–"
         f"{fmt(spectrum['flux_ratio_16_84'][1])}); plotted {spectrum['object_id']}: median absolute fractional "
         f"error {fmt(spectrum['median_abs_fractional_error'])}"),
    ]
    return [f"| {a} | {b} |" for a, b in summary]


def _real_sky_section(evaluation: dict) -> list[str]:
    real = evaluation["real_sky"].get("properties")
    if real is None:
        return ["No real spectra were found (pass --data-dir, or install ppxf for its spectra).", ""]
    lines = ["Every real spectrum at hand through the shipped `org/galfm-properties` head, which never saw real "
             "data: its redshift from a spectrum is a fit of rest-frame templates at every redshift "
             "(`galfm.redshift_scan_galfm`) with the encoder's own redshift as the prior. Secure = the pipeline "
             "redshift has no warning and the class is GALAXY; |dz| = |z - z_catalogue| / (1 + z_catalogue).", "",
             summary_markdown(real["summary"])]
    return lines + ["", real["table"], "", f"![real galaxies](evaluation/{real['plot']})", ""]


def _write_report(out: Path, plan: DemoPlan, quick: bool, timings: dict, evaluation: dict, spectrum: dict) -> None:
    """``report.md`` and ``report.html``: the real galaxies first, then the simulated results and every plot."""
    lines = [
        f"# galfm demo report{' (quick smoke run)' if quick else ''}", "",
        f"The shipped models ({', '.join(SHIPPED.values())}) and a {NEW_HEAD} head fine-tuned here for "
        f"{plan.finetune_steps} Trainer steps; evaluated on real galaxies and on up to {plan.eval_samples} test "
        f"galaxies of a simulated survey of {plan.galaxies} (seed unseen in training). Stages took "
        f"{sum(timings.values()) / 60:.1f} min.", "",
        "## Real galaxies", "", *_real_sky_section(evaluation),
        "## Results on the simulation (test split)", "", "| task | result |", "|---|---|",
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
    ]
    lines += ["## Timings", "", "| stage | seconds |", "|---|---|",
              *[f"| {k} | {v:.0f} |" for k, v in timings.items()], "",
              "## Hub-ready folders", "", "`models/base` (the shipped pretrained model) and `models/<head>` with "
              "model cards (`README.md`, model-index with the measured numbers): `galfm push --model models --repo "
              "org/galfm` sends the base to `org/galfm` and each head to `org/galfm-<head>`.", ""]
    if evaluation["skipped"]:
        lines += ["## Skipped evaluations", ""] + [f"- {k}: {v}" for k, v in evaluation["skipped"].items()] + [""]
    text = "\n".join(lines)
    (out / "report.md").write_text(text)
    html = markdown.markdown(text, extensions=["tables"])
    (out / "report.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>galfm demo report"
                                     f"</title><style>body{{font-family:sans-serif;max-width:60em;margin:auto}}"
                                     f"table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}"
                                     f"img{{max-width:100%}}</style></head><body>{html}</body></html>")


def _card(out: Path, plan: DemoPlan, evaluation: dict) -> None:
    """The card of the head fine-tuned here (the shipped folders keep theirs)."""
    data_text = (f"{plan.galaxies} galaxies of the galfm simulated survey (`galfm simulate`, seed 1): BC03 stellar "
                 "populations, Cloudy nebular emission, Calzetti dust, Inoue IGM; DESI and SDSS fibre spectra, J-PAS + "
                 "GALEX + Legacy Surveys + SDSS photometry, GalSim grz images; priors in the dataset card.")
    write_head_card(out / "models" / NEW_HEAD, NEW_HEAD, f"{SHIPPED['base']}-{NEW_HEAD}", SHIPPED["base"],
                    evaluation["tasks"].get(NEW_HEAD, {}), [out / "evaluation" / f"{NEW_HEAD}.png"],
                    f"Trainer, {plan.finetune_steps} steps from {SHIPPED['base']}", data_text, "grz image",
                    "GalFMForMorphologyClassification")


def run_demo(out_dir: Path, data_dir: Path, quick: bool = False, seed: int = 1) -> dict:
    """Run (or resume) the whole demo; returns the evaluation results."""

    torch.set_num_threads(2)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = DemoPlan.make(quick)
    timings: dict[str, float] = {}
    total = 6
    with Stage(timings, 1, total, f"simulate {plan.galaxies} evaluation galaxies"):
        data = _simulate(out, plan, seed)
    with Stage(timings, 2, total, "the shipped models from the Hugging Face cache"):
        models = _fetch_models(out)
    with Stage(timings, 3, total, f"fine-tune a {NEW_HEAD} head with Trainer"):
        _finetune_new_head(out, data, models, plan, seed)
    with Stage(timings, 4, total, "evaluate: real galaxies and the simulated test split"):
        evaluation = evaluate_models(models, data, out / "evaluation", max_samples=plan.eval_samples,
                                     real_paths=default_real_paths(Path(data_dir)))
    with Stage(timings, 5, total, "predicted spectrum and search gallery"):
        spectrum = _spectrum_plot(models / "base", data, out / "spectrum_from_photometry.png")
        _search_gallery(models / "base", data, out / "search_gallery.png", plan.eval_samples)
    with Stage(timings, 6, total, "model card and report"):
        _card(out, plan, evaluation)
        (out / "demo_timings.json").write_text(json.dumps({"plan": asdict(plan), "seconds": timings}, indent=1))
        _write_report(out, plan, quick, timings, evaluation, spectrum)
    print(f"\nreport: {out / 'report.md'} (+ report.html); Hub-ready folders: {models}; total "
          f"{sum(timings.values()) / 60:.1f} min")
    return evaluation
