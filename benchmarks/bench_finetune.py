"""The downstream quality and speed bars: heads fine-tuned with Trainer on the embedded default survey.

    python benchmarks/bench_finetune.py --data SURVEY --base PRETRAINED_MODEL --work W [--steps 1500] [--record]

SURVEY is a ``galfm simulate`` folder (the default survey: desi, jpas, galex, legacysurvey), PRETRAINED_MODEL the
``model/`` folder of ``galfm pretrain`` (e.g. from ``bench_pretraining.py``). Sections, each on the test split:

1. heads (``galfm finetune``): photo-z from J-PAS photometry (sigma_NMAD, outliers, for r < 22), photo-z from grz
   images, log M* from spectra (R², 68% coverage), SFH (per-bin and mass-weighted-age scatter, log Z), the
   flow-matching posterior (coverage), morphology (accuracy);
2. SFH inference speed per galaxy against one bagpipes (nautilus) fit of the same galaxy's photometry;
3. few labels: photo-z with 1%, 10%, 100% of the labels, frozen pretrained embeddings + head vs the same
   architecture trained from scratch;
4. outliers: AUROC of embedding k-NN outlier scores on the flagged anomalies of an observed-like survey;
   cross-modal retrieval (image -> spectrum) top-k through a FAISS index;
5. domain adaptation: the photo-z head trained on clean simulations, evaluated on observed-like galaxies,
   before and after continuing self-supervised pretraining on unlabelled observed-like data.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from galfm import GalFMForPretraining, GalFMProcessor, load_head
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.training.benchmarking import photoz_rows, record, run_finetune
from galfm.training.evaluate import evaluate_head, load_rows, outlier_scores, retrieval_scores
from galfm.training.metrics import scatter_in_context
from galfm.training.pretrain import PretrainConfig, pretrain
from galfm.training.tasks import GalaxyTaskCollator, get_task

RESULTS = Path(__file__).with_name("RESULTS.md")


def sfh_speed(out: Path, data: Path, n: int = 256, fit: bool = True) -> tuple[float, float | None, str]:
    """(seconds per galaxy for the SFH head incl. tokenization, seconds for one bagpipes fit, what was fitted)."""
    from galfm.datasets_scripts import load_records

    head = load_head(str(out / "model")).eval()
    processor = GalFMProcessor.from_pretrained(out / "model")
    task = get_task("sfh")
    rows = list(load_records(data, split="test").select(range(n)))
    collate = GalaxyTaskCollator(processor, task)
    torch.set_num_threads(1)
    started = time.perf_counter()
    with torch.no_grad():
        for i in range(0, n, 64):
            batch = collate(rows[i:i + 64])
            batch.pop("labels")
            head(**batch)
    ours = (time.perf_counter() - started) / n
    torch.set_num_threads(2)
    return ours, *(bagpipes_fit_seconds(rows[0]) if fit else (None, "not timed (--skip-bagpipes)"))


def bagpipes_fit_seconds(row: dict) -> tuple[float | None, str]:
    """One bagpipes fit (nautilus sampler) of a galaxy's photometry at its known redshift: delayed-tau SFH,
    mass, metallicity, Calzetti Av (5 free parameters; far fewer than the 16-bin SFH the head predicts). It runs in
    its own process inside a temporary folder, because bagpipes writes ``pipes/`` where it is imported."""
    import subprocess

    from galfm.filters_galfm import load_filter

    phot = row["photometry"]
    bands = [b for b in phot["band"] if not b.startswith("wise_")]
    index = [list(phot["band"]).index(b) for b in bands]
    flux_uJy = np.array([phot["flux"][i] for i in index]) * 3.631  # nanomaggies -> microJy
    ivar = np.array([phot["flux_ivar"][i] for i in index])
    err_uJy = np.where(ivar > 0, ivar ** -0.5 * 3.631, 1e10)
    with tempfile.TemporaryDirectory() as tmp:
        filters = []
        for band in bands:
            curve = load_filter(band)
            np.savetxt(Path(tmp) / f"{band}.txt", np.c_[curve.wavelength, curve.response])
            filters.append(str(Path(tmp) / f"{band}.txt"))
        np.save(Path(tmp) / "photometry.npy", np.c_[flux_uJy, err_uJy])
        code = f"""
import json, time, numpy as np, bagpipes
data = np.load("photometry.npy")
galaxy = bagpipes.galaxy("bench", lambda _: data, spectrum_exists=False, filt_list={filters!r})
fit = bagpipes.fit(galaxy, {{"redshift": {float(row["properties"]["redshift"])},
    "delayed": {{"age": (0.05, 13.0), "tau": (0.1, 10.0), "massformed": (6.0, 13.0), "metallicity": (0.05, 2.5)}},
    "dust": {{"type": "Calzetti", "Av": (0.0, 3.0)}}}}, run="bench")
start = time.perf_counter()
fit.fit(verbose=False, sampler="nautilus", n_live=400)
print(json.dumps(time.perf_counter() - start))
"""
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"failed ({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'no output'})"
        seconds = float(done.stdout.strip().splitlines()[-1])
    return seconds, f"{len(bands)}-band photometry, 5 free parameters, nautilus (n_live=400)"


@torch.no_grad()
def outliers_and_retrieval(base: Path, data: Path, observed: Path, n_reference: int = 3000) -> list[str]:
    model = GalFMForPretraining.from_pretrained(base).eval()
    processor = GalFMProcessor.from_pretrained(base)
    reference = load_rows(data, "train", n_reference)
    rows = load_rows(observed, "train", 100000)
    lines = []
    for modality in (None, "spectrum", "photometry", "image"):
        scores, _ = outlier_scores(model, processor, reference, rows, modality=modality)
        kinds = ", ".join(f"{k[6:]} {v:.2f}" for k, v in scores.items() if k.startswith("auroc_"))
        lines.append(f"| outlier AUROC, {modality or 'all-modality'} embeddings vs {len(reference)} clean galaxies "
                     f"({scores['positives']} anomalies in {scores['count']} observed-like) | {scores['auroc']:.3f} "
                     f"({kinds}) |")
    top = retrieval_scores(model, processor, load_rows(data, "test", 1000))
    lines.append(f"| cross-modal retrieval through FAISS, {top['count']} test galaxies | image→spectrum top-1 "
                 f"{top['image_to_spectrum_top_1']:.3f}, top-10 {top['image_to_spectrum_top_10']:.3f}; "
                 f"spectrum→image top-1 {top['spectrum_to_image_top_1']:.3f}, top-10 "
                 f"{top['spectrum_to_image_top_10']:.3f} (chance {top['chance_top_1']:.4f}, "
                 f"{top['chance_top_10']:.4f}) |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="simulated survey (galfm simulate)")
    parser.add_argument("--base", required=True, help="pretrained galfm model folder")
    parser.add_argument("--work", default="bench_finetune_work")
    parser.add_argument("--steps", type=int, default=1500, help="Trainer steps per head")
    parser.add_argument("--photoz-steps", type=int, default=None, help="Trainer steps of the photo-z heads "
                        "(default: --steps)")
    parser.add_argument("--few-label-steps", type=int, default=600)
    parser.add_argument("--observed-n", type=int, default=6000, help="observed-like galaxies simulated")
    parser.add_argument("--adapt-minutes", type=float, default=5.0, help="continued pretraining budget")
    parser.add_argument("--skip-bagpipes", action="store_true")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    work, data, base = Path(args.work), Path(args.data), Path(args.base)
    work.mkdir(parents=True, exist_ok=True)
    common = dict(batch_size=32, max_eval_samples=1000, progress=False)
    lines = ["| measure | result |", "|---|---|"]
    timings = {}

    # 1. heads
    photoz_steps = args.photoz_steps or args.steps
    photoz = run_finetune("photoz", data, base, work / "photoz_jpas", photoz_steps, **common)
    lines += photoz_rows("photo-z from J-PAS photometry", work / "photoz_jpas", data)
    lines += photoz_rows("photo-z from J-PAS photometry", work / "photoz_jpas", data, r_limit=None)
    run_finetune("photoz", data, base, work / "photoz_images", photoz_steps, inputs=["image"], band_prefixes=[],
                 **common)
    lines += photoz_rows("photo-z from grz images", work / "photoz_images", data, r_limit=None)
    mass = run_finetune("properties", data, base, work / "mass_spectra", args.steps, inputs=["spectrum"],
               targets=("log_mstar", "log_ssfr", "log_z", "age_mw"), **common)
    for name in ("log_mstar", "log_ssfr", "log_z", "age_mw"):
        lines.append(f"| {name} from spectra | NMAD {scatter_in_context(mass, name)}, "
                     f"68%/95% coverage {100 * mass[f'test_{name}/coverage_68']:.0f}%/"
                     f"{100 * mass[f'test_{name}/coverage_95']:.0f}% |")
    sfh = run_finetune("sfh", data, base, work / "sfh", args.steps, **common)
    lines.append(f"| SFH (spectrum + photometry) | per-bin scatter of mass fractions "
                 f"{sfh['test_sfh/mean_bin_scatter']:.3f} (mean of 16 bins); mass-weighted age "
                 f"NMAD {scatter_in_context(sfh, 'log_age_mw', 'dex')}, "
                 f"RMSE {sfh['test_log_age_mw/rmse']:.3f} dex; "
                 f"log Z NMAD {scatter_in_context(sfh, 'log_z', 'dex')} |")
    posterior = run_finetune("posterior", data, base, work / "posterior", args.steps, **common)
    cover = [f"{t} {100 * posterior[f'test_{t}/coverage_68']:.0f}/{100 * posterior[f'test_{t}/coverage_95']:.0f}"
             for t in get_task("posterior").targets]
    lines.append(f"| flow-matching posterior, 68/95% coverage (%) | {', '.join(cover)} |")
    morph = run_finetune("morphology", data, base, work / "morphology", args.steps, **common)
    lines.append(f"| morphology from grz images | accuracy {morph['test_accuracy']:.3f}, macro AUROC "
                 f"{morph.get('test_auroc_macro', float('nan')):.3f} |")

    # 2. speed
    ours, theirs, what = sfh_speed(work / "sfh", data, fit=not args.skip_bagpipes)
    timings["sfh_head_s_per_galaxy"], timings["bagpipes_fit_s"] = ours, theirs
    if theirs is not None:
        lines.append(f"| SFH head vs one bagpipes fit ({what}), 1 thread | {1e3 * ours:.2f} ms/galaxy vs "
                     f"{theirs:.0f} s: **{theirs / ours:.1e}× faster** |")
    else:
        lines.append(f"| SFH head inference (spectrum + photometry, tokenization included), 1 thread | "
                     f"{1e3 * ours:.2f} ms/galaxy; bagpipes fit {what} |")

    # 3. few labels
    for fraction in (0.01, 0.1, 1.0):
        tag = f"{fraction:g}"
        frozen = run_finetune("photoz", data, base, work / f"few_{tag}_pretrained", args.few_label_steps,
                     label_fraction=fraction, freeze_encoder=True, **common)
        scratch = run_finetune("photoz", data, None, work / f"few_{tag}_scratch", args.few_label_steps,
                      label_fraction=fraction, **common)
        lines.append(f"| photo-z (J-PAS), {100 * fraction:g}% labels ({frozen['train_galaxies']} galaxies): frozen "
                     f"pretrained + head vs from scratch | σ_NMAD {scatter_in_context(frozen, 'redshift')} vs "
                     f"{scatter_in_context(scratch, 'redshift')}; outliers "
                     f"{100 * frozen['test_redshift/outlier_fraction']:.1f}% vs "
                     f"{100 * scratch['test_redshift/outlier_fraction']:.1f}% |")

    # 4. outliers and retrieval
    observed = work / "observed"
    if not (observed / "README.md").is_file():
        write_survey(SimulationConfig(n=args.observed_n, seed=77, variant="observed"), observed, progress=False)
    lines += outliers_and_retrieval(base, data, observed)

    # 5. domain adaptation
    def observed_photoz(head_dir: Path) -> dict:
        return evaluate_head(head_dir / "model", observed, split="test")[0]

    adapted = work / "adapted"
    if not (adapted / "model" / "model.safetensors").is_file():
        config = PretrainConfig.from_yaml(Path(__file__).parents[1] / "training" / "configs" / "tiny.yaml",
                                          init_from=str(base), max_steps=100000, warmup_steps=10,
                                          learning_rate=3e-4, time_limit_minutes=args.adapt_minutes)
        pretrain(config, observed, adapted, progress=False)
    adapted_photoz = run_finetune("photoz", data, adapted / "model", work / "photoz_jpas_adapted", photoz_steps,
                                  **common)
    for name, head_dir, clean in (("before", work / "photoz_jpas", photoz),
                                  ("after", work / "photoz_jpas_adapted", adapted_photoz)):
        obs = observed_photoz(head_dir)
        lines.append(f"| domain gap {name} adaptation: photo-z (J-PAS) clean test → observed-like test "
                     f"({obs['redshift/count']} galaxies) | σ_NMAD {clean['test_redshift/sigma_nmad']:.4f} → "
                     f"{obs['redshift/sigma_nmad']:.4f}; outliers {100 * clean['test_redshift/outlier_fraction']:.1f}% "
                     f"→ {100 * obs['redshift/outlier_fraction']:.1f}% |")

    table = "\n".join(lines)
    print(table)
    (work / "results.md").write_text(table + "\n")
    (work / "timings.json").write_text(json.dumps(timings, indent=1))
    if args.record:
        heading = (f"Command: `python benchmarks/bench_finetune.py --data {args.data} --base {args.base} --steps "
                   f"{args.steps} --photoz-steps {photoz_steps} --few-label-steps {args.few_label_steps} "
                   f"--observed-n {args.observed_n} "
                   f"--adapt-minutes {args.adapt_minutes}{' --skip-bagpipes' if args.skip_bagpipes else ''} --record` "
                   "(tiny preset; Trainer, batch 32, 2 CPU threads; "
                   "test split, 1000 galaxies unless stated)")
        record(RESULTS, "bench_finetune", "Downstream heads (`python benchmarks/bench_finetune.py --record`)",
               f"{heading}\n\n{table}\n")


if __name__ == "__main__":
    main()
