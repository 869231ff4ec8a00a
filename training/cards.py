"""Model cards with measured results: the templates of ``galfm.model_cards`` filled in, and the Hub metadata
(``model-index`` eval results) built with `huggingface_hub.ModelCardData`, so the numbers on a model page are
the ones the evaluation measured."""

from __future__ import annotations

import shutil
from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData

from galfm.model_cards import render

DEFAULT_DATASET = ("org/galfm-sim", "galfm simulated survey (BC03 + Cloudy + Calzetti + Inoue IGM, DESI/J-PAS/GALEX/"
                   "Legacy Surveys instruments)")

# per task: the card's words and which metrics go into model-index (metrics.json key, type, display name)
TASK_CARDS = {
    "photoz": dict(
        title="photometric redshifts", task_type="tabular-regression",
        description="Redshift with a Gaussian 1-sigma uncertainty from photometry (J-PAS-like narrow bands, or "
                    "broad bands alone when the head was trained on input subsets, as the shipped one was). With a "
                    "photometric fit, template SEDs are fitted through the real filter curves at every redshift of a "
                    "0.001 dex grid and the posterior is that likelihood times a prior: the p(z) of the training "
                    "galaxies whose fluxes and brightness match (its library), else the encoder's Gaussian.",
        outputs="`mean`, `std` (redshift); with the fit also `photometric_redshift_pdf` on "
                "`photometric_redshift_grid`, `redshift_source` (2 = the fit), `encoder_redshift`",
        intended_use="photo-z; uncertainties calibrated on the simulated test set "
        "(68/95% coverage in the table)",
        metrics=[("redshift/sigma_nmad", "sigma_nmad", "σ_NMAD"), ("redshift/r2", "r2", "redshift R²"),
                 ("redshift/baseline_sigma_nmad", "sigma_nmad", "σ_NMAD of predicting the mean"),
                 ("redshift/outlier_fraction",
                 "outlier_fraction", "outlier fraction |Δz|/(1+z) > 0.15"), ("redshift/bias", "bias", "median bias"),
                 ("redshift/coverage_68", "coverage_68", "68% interval coverage")]),
    "properties": dict(
        title="stellar-population properties", task_type="tabular-regression",
        description="Redshift, stellar mass, metallicity, dust, specific SFR, mass-weighted age and line equivalent "
                    "widths, each with a Gaussian 1-sigma uncertainty (beta-NLL), from spectrum + photometry. With "
                    "a redshift scan, the redshift of a galaxy with a spectrum is a fit of rest-frame galaxy and "
                    "QSO templates at every redshift of a 1e-4 dex grid, with the encoder's Gaussian as the prior; "
                    "with a photometric fit, the redshift of a galaxy without a spectrum is a template-SED fit to its "
                    "photometry, with the p(z) of the training galaxies whose fluxes and brightness match as the "
                    "prior (its library; the encoder's Gaussian for bands the library lacks).",
        outputs="`mean`, `std` per target (record units, `galfm.PROPERTIES`); with the scan also `redshift_pdf` "
                "on `redshift_grid` (every mode kept), `redshift_peak_probability`, `redshift_delta_chi2` and "
                "`redshift_warning` (DELTACHI2 < 9 to the best other solution, as redrock's ZWARN), `is_qso`, "
                "`qso_score`; with the "
                "photometric fit `photometric_redshift_pdf` on `photometric_redshift_grid`; `redshift_source` "
                "(0 encoder, 1 spectrum scan, 2 photometric fit)",
        intended_use="fast physical parameters for large spectroscopic samples; check coverage before trusting σ",
        metrics=[("log_mstar/r2", "r2", "log M* R²"), ("log_mstar/coverage_68", "coverage_68", "log M* 68% coverage"),
                 ("redshift/sigma_nmad", "sigma_nmad", "redshift σ_NMAD"), ("redshift/r2", "r2", "redshift R²"),
                 ("redshift/baseline_sigma_nmad", "sigma_nmad", "redshift σ_NMAD of predicting the mean"),
                 ("log_ssfr/r2", "r2", "log sSFR R²")]),
    "posterior": dict(
        title="posteriors by flow matching", task_type="tabular-regression",
        description="Samples of p(log M*, log sSFR, log Z, Av, age | data): a conditional flow-matching velocity "
                    "field on the galaxy summary, integrated with Heun's method (simulation-based inference).",
        outputs="`samples` (galaxies × samples × parameters); `GalFMForPosteriorEstimation.sample(n, **batch)`",
        intended_use="amortised posteriors; coverage and rank statistics in the table",
        metrics=[("log_mstar/coverage_68", "coverage_68", "log M* 68% coverage"),
                 ("log_mstar/coverage_95", "coverage_95", "log M* 95% coverage"),
                 ("log_mstar/rank_ks", "rank_ks", "log M* rank-statistic KS distance")]),
    "sfh": dict(
        title="star formation histories", task_type="tabular-regression",
        description="Mass fractions formed in 16 lookback-time bins (a softmax: non-negative, summing to one) and "
                    "the stellar metallicity with an uncertainty, from spectrum + photometry; the spectrum is also "
                    "read in its rest frame (`galfm.rest_frame_galfm`) at the redshift given (`redshift=`), else at "
                    "the head's own template-scan redshift.",
        outputs="`sfh` (16 fractions, `galfm.SFH_AGE_BIN_EDGES_GYR`), `log_z`, `log_z_std`, `redshift` (where the "
                "rest frame was read), `redshift_warning` (the scan did not single it out)",
        intended_use="SFHs for large samples, orders of magnitude faster than spectral fitting",
        metrics=[("log_age_mw/scatter_dex", "nmad", "mass-weighted age scatter (dex)"),
                 ("log_age_mw/r2", "r2", "mass-weighted age R²"),
                 ("log_age_mw/baseline_nmad", "nmad", "age scatter of predicting the mean (dex)"),
                 ("log_z/nmad", "nmad", "log Z scatter (dex)"), ("log_z/r2", "r2", "log Z R²"),
                 ("log_z/baseline_nmad", "nmad", "log Z scatter of predicting the mean (dex)"),
                 ("sfh/mean_bin_scatter", "scatter", "mean per-bin scatter of mass fractions")]),
    "morphology": dict(
        title="morphology", task_type="image-classification",
        description="Morphological class (spiral, lenticular, elliptical, merger) from grz image cut-outs.",
        outputs="`logits` over `config.id2label`", intended_use="morphology of simulated-like cut-outs",
        metrics=[("accuracy", "accuracy", "accuracy"), ("auroc_macro", "roc_auc", "macro one-vs-rest AUROC")]),
}

SIMULATION_LIMITATIONS = (
    "Trained on simulations: the sky, the instruments and the galaxy population are models. Real surveys add "
    "calibration errors, artefacts and populations the priors miss, so expect a simulation-to-real gap (the demo "
    "report shows it on real SDSS/DESI/Legacy Surveys galaxies). Domain adaptation (continued self-supervised "
    "pretraining on unlabelled real data, `galfm pretrain --init-from`) is the way to narrow it, but on the nine "
    "real spectra at hand it changed nothing measurable (`benchmarks/bench_domain_adaptation.py`): adapt on "
    "thousands of spectra of your survey and re-measure before use.")


def _front_matter(name: str, task_type: str, task_name: str, metrics: dict, chosen: list[tuple[str, str, str]],
                  dataset: tuple[str, str], base_model: str | None, tags: list[str]) -> str:
    results = [EvalResult(task_type=task_type, task_name=task_name, dataset_type=dataset[0], dataset_name=dataset[1],
                          dataset_split="test", metric_type=kind, metric_name=label, metric_value=float(metrics[key]))
               for key, kind, label in chosen if isinstance(metrics.get(key), (int, float))]
    data = ModelCardData(model_name=name, library_name="transformers", license="bsd-3-clause",
                         tags=["astronomy", "galaxies", "multimodal", "galfm", *tags], datasets=[dataset[0]],
                         base_model=base_model, eval_results=results or None)
    return f"---\n{data.to_yaml()}\n---\n\n"


def results_table(metrics: dict) -> str:
    rows = [f"| {k} | {v:.4g} |" for k, v in metrics.items() if isinstance(v, float)]
    rows += [f"| {k} | {v} |" for k, v in metrics.items() if isinstance(v, int) and not isinstance(v, bool)]
    return "\n".join(["| metric (test split) | value |", "|---|---|", *rows]) if rows else "Not evaluated yet."


def _plots(folder: Path, plots: list[Path]) -> str:
    lines = []
    for plot in plots:
        if Path(plot).is_file():
            shutil.copy(plot, folder / Path(plot).name)
            lines.append(f"![{Path(plot).stem}]({Path(plot).name})")
    return "\n\n".join(lines)


def write_head_card(folder: str | Path, task: str, repo_id: str, base_repo: str, metrics: dict, plots: list[Path],
                    training: str, training_data: str, inputs: str, architecture: str,
                    dataset: tuple[str, str] = DEFAULT_DATASET) -> Path:
    """``folder/README.md`` for a fine-tuned head; ``metrics`` are the task's scores (keys without split)."""
    folder, info = Path(folder), TASK_CARDS[task]
    body = render("head_model.md", title=info["title"], description=info["description"], architecture=architecture,
                  base_repo=base_repo, inputs=inputs, outputs=info["outputs"], training=training, repo_id=repo_id,
                  intended_use=info["intended_use"], training_data=training_data, results=results_table(metrics),
                  plots=_plots(folder, plots), limitations=SIMULATION_LIMITATIONS)
    card = _front_matter(repo_id.split("/")[-1], info["task_type"], info["title"], metrics, info["metrics"], dataset,
                         base_repo, [task]) + body
    (folder / "README.md").write_text(card)
    return folder / "README.md"


def write_base_card(folder: str | Path, repo_id: str, preset: str, parameters: int, training: str,
                    training_data: str, metrics: dict, plots: list[Path],
                    dataset: tuple[str, str] = DEFAULT_DATASET) -> Path:
    """``folder/README.md`` for the pretrained model; ``metrics`` e.g. retrieval top-k and outlier AUROC."""
    folder = Path(folder)
    chosen = [(k, k.split("/")[-1], k) for k, v in metrics.items() if isinstance(v, float)]
    body = render("base_model.md", preset=preset, parameters=f"{parameters:,}", repo_id=repo_id, training=training,
                  training_data=training_data, results=results_table(metrics), plots=_plots(folder, plots),
                  limitations=SIMULATION_LIMITATIONS)
    card = _front_matter(repo_id.split("/")[-1], "feature-extraction", "galaxy embeddings", metrics, chosen, dataset,
                         None, ["feature-extraction"]) + body
    (folder / "README.md").write_text(card)
    return folder / "README.md"


def set_card_section(card: str | Path, title: str, text: str) -> Path:
    """Put ``## title`` with ``text`` into a card: replacing that section where the card has it (up to the next
    ``## `` heading), else appended, so writing the same section twice leaves one."""
    card = Path(card)
    lines = card.read_text().rstrip("\n").split("\n")
    heading = f"## {title}"
    section = [heading, "", *text.strip("\n").split("\n")]
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = [*section, ""] if end < len(lines) else section
    else:
        lines += ["", *section]
    card.write_text("\n".join(lines) + "\n")
    return card
