"""The SFH head at the SFH network's setting: MUSE-like spectra at S/N >= 20 per Angstrom plus the five PHANGS-HST
bands, then the simulated cube of ``galfm sfh-map`` with its known gradients.

    python benchmarks/bench_sfh_network.py [--galaxies 40000] [--steps 4500] [--minutes 16] [--work DIR]
        [--encoder-only | --head pretrained/galfm-sfh-muse] [--record]

1. ``galfm simulate --surveys muse,phangs_hst --bright-fraction 1 --min-spectrum-snr 20 --seed 3``
   (`galfm.training.release.MUSE_SURVEY`, the survey the shipped galfm-sfh-muse is trained on: SDSS-main-like
   galaxies, MUSE 1" aperture spectra lifted to S/N 20-50 per Angstrom, WFC3/UVIS F275W-F814W photometry);
2. ``galfm finetune --task sfh`` from the shipped base (pretrained/galfm) on random input subsets, so the head
   also serves spectrum-only cube bins; the rest-frame branch and readout first fitted on cached encoder
   summaries (`galfm.training.rest_frame_warmup`; ``--encoder-only``: without the branch; ``--head DIR``: no
   fine-tune, the head in DIR is scored: the shipped galfm-sfh-muse is this step's head, made by ``galfm release``
   with the same FinetuneConfig on the same survey);
3. the test split's log Z and mass-weighted age scatter, each beside its R² and the scatter of predicting the
   mean (the SFH network reaches ~0.03 dex in log Z and ~0.1 dex in age; the bar here is <= 0.05 and <= 0.1),
   with the head given each galaxy's true redshift (as in training) and at its own template scan's;
4. beside them, a linear reference on the same splits: ridge regression on the principal components of each
   spectrum moved to the rest frame at its true redshift (what the spectra hold for a linear model that is given
   the redshift the encoder must find itself);
5. this head and the shipped SFH heads on a simulated cube (``galfm.datasets_scripts.simulator.cube``): correlation
   of the binned maps with the true radial gradients.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from astropy.io import fits
from scipy.stats import pearsonr, spearmanr

from galfm.datasets_scripts import load_records
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.datasets_scripts.simulator.cube import simulate_cube
from galfm.properties_galfm import mass_weighted_log_age
from galfm.training.benchmarking import record
from galfm.training.evaluate import evaluate_head
from galfm.training.finetune import FinetuneConfig, finetune
from galfm.training.metrics import load_metric, scatter_in_context
from galfm.training.release import MUSE_SURVEY, SHIPPED_DIR
from galfm.training.sfh_map import bin_average, run_sfh_map

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def cube_recovery(cube_path: Path, head: str | Path, out: Path, target_snr: float) -> dict:
    """Pearson / Spearman correlation of the head's binned maps with the cube's mass-weighted truth per bin."""
    result, _, _ = run_sfh_map(cube_path, out, str(head), target_snr)
    with fits.open(cube_path) as truth:
        mass = truth["MASS"].data
        scores = {"bins": len(result.snr)}
        for key in ("LOG_AGE_MW", "LOG_Z"):
            true, predicted = bin_average(truth[key].data, result.bins, mass), result.per_bin[key]
            scores[key] = {"pearson": float(pearsonr(true, predicted)[0]),
                           "spearman": float(spearmanr(true, predicted)[0]),
                           "true_range": [float(true.min()), float(true.max())],
                           "predicted_range": [float(predicted.min()), float(predicted.max())]}
    return scores


REST_GRID = np.geomspace(4000.0, 8200.0, 3000)  # Angstrom: what MUSE's 4750-9350 A sees at z <~ 0.15


def _rest_frame_rows(records) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spectra on `REST_GRID` at the true redshift, NaN outside the spectrum; log Z; mass-weighted log age)."""
    rows, log_z, sfh = [], [], []
    for galaxy in records:
        spectrum, properties = galaxy["spectrum"], galaxy["properties"]
        rest = np.asarray(spectrum["wavelength"], dtype=float) / (1 + properties["redshift"])
        rows.append(np.interp(REST_GRID, rest, np.asarray(spectrum["flux"], dtype=float), left=np.nan, right=np.nan))
        log_z.append(properties["log_z"])
        sfh.append(properties["sfh"])
    return np.asarray(rows), np.asarray(log_z), mass_weighted_log_age(np.asarray(sfh, dtype=float))


def linear_reference(data: Path, test_size: int, components: int = 200) -> dict[str, float]:
    """Ridge (alpha by cross-validation) on the first ``components`` principal components of the median-normalised
    rest-frame spectra (pixels every galaxy covers), trained on the train split, scored on the first ``test_size``
    of the test split with the heads' own regression metric."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import RidgeCV

    train = _rest_frame_rows(load_records(data, "train"))
    test = tuple(part[:test_size] for part in _rest_frame_rows(load_records(data, "test")))
    covered = np.isfinite(train[0]).all(0) & np.isfinite(test[0]).all(0)
    x_train, x_test = (rows[:, covered] / np.median(rows[:, covered], 1, keepdims=True) for rows in (train[0], test[0]))
    pca = PCA(components, random_state=0).fit(x_train)
    scores = {}
    for name, column in (("log_z", 1), ("log_age_mw", 2)):
        fit = RidgeCV(alphas=np.logspace(-4, 3, 15)).fit(pca.transform(x_train), train[column])
        metric = load_metric("regression").compute(predictions=fit.predict(pca.transform(x_test)),
                                                   references=test[column])
        scores.update({f"{name}/{k}": v for k, v in metric.items()})
    return scores


def _minutes(timings: dict, step: str) -> str:
    return f"{timings[step] / 60:.1f} min" if step in timings else "time not kept"


def _warmup_text(metrics: dict) -> str:
    warmup = metrics.get("rest_frame_warmup")
    if not warmup:
        return ""
    return (f", after its rest-frame branch and readout were fitted on cached encoder summaries "
            f"({warmup['steps']} steps of 32 over {warmup['galaxies']} galaxies: {warmup['cache_seconds'] / 60:.1f} "
            f"min caching + {warmup['fit_seconds'] / 60:.1f} min fitting)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--galaxies", type=int, default=40000)
    parser.add_argument("--steps", type=int, default=4500)
    parser.add_argument("--minutes", type=float, default=16.0)
    parser.add_argument("--work", default="bench_work/sfh_network")
    parser.add_argument("--encoder-only", action="store_true",
                        help="the head without its rest-frame branch (the ablation; in WORK/sfh_muse_encoder_only)")
    parser.add_argument("--head", default=None,
                        help="score this already fine-tuned SFH head (e.g. pretrained/galfm-sfh-muse) instead of "
                             "fine-tuning one")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if args.head and args.encoder_only:
        parser.error("--head scores a head as it is; --encoder-only fine-tunes one: give one of them")
    torch.set_num_threads(2)
    work = Path(args.work)
    summary_file = work / ("sfh_network_encoder_only.json" if args.encoder_only else "sfh_network.json")
    # a re-run reuses WORK's survey and head, and quotes their first timings (the survey's from either run)
    timings = {}
    for earlier in (work / "sfh_network.json", summary_file):
        if earlier.is_file():
            timings.update(json.loads(earlier.read_text()).get("timings_s", {}))
    if args.encoder_only and not summary_file.is_file():
        timings.pop("finetune", None)

    data = work / "data"
    start = time.perf_counter()
    if not (data / "README.md").is_file():
        write_survey(SimulationConfig(**{**MUSE_SURVEY, "n": args.galaxies}), data, num_proc=2)
        timings["simulate"] = time.perf_counter() - start

    run = work / ("sfh_muse_encoder_only" if args.encoder_only else "sfh_muse")
    start = time.perf_counter()
    if args.head:
        model = Path(args.head)
        if not (model / "config.json").is_file():
            parser.error(f"--head {args.head}: no saved head there (config.json missing)")
        metrics = evaluate_head(model, data, "test", max_samples=400)[0]
        made = (f"SFH head `{args.head}` scored as it is (made by `galfm release` with this fine-tune's "
                "FinetuneConfig on this survey: its steps and minutes in the release table)")
    elif not (run / "metrics.json").is_file():
        finetune(FinetuneConfig(task="sfh", data=str(data), output_dir=str(run), base=str(SHIPPED_DIR / "galfm"),
                                inputs=["spectrum", "photometry"], band_prefixes=["all"], max_steps=args.steps,
                                time_limit_minutes=args.minutes, input_subsets=True, max_eval_samples=400, seed=0,
                                rest_frame_spectrum=not args.encoder_only))
        timings["finetune"] = time.perf_counter() - start
    if not args.head:
        model = run / "model"
        metrics = json.loads((run / "metrics.json").read_text())
        made = (f"SFH head{' without its rest-frame branch' if args.encoder_only else ''} fine-tuned from "
                f"pretrained/galfm for {metrics.get('steps', args.steps)} steps of 32 "
                f"({_minutes(timings, 'finetune')} in all, CPU, random input subsets){_warmup_text(metrics)}")

    scanned, _, _, _ = evaluate_head(model, data, "test", max_samples=400, conditions=False)
    reference = linear_reference(data, test_size=400)
    cube = simulate_cube(work / "gradient_cube.fits", central_snr=40.0)
    heads = {"this head": model}
    for name in ("galfm-sfh", "galfm-sfh-muse"):
        if (SHIPPED_DIR / name / "config.json").is_file() and (SHIPPED_DIR / name).resolve() != model.resolve():
            heads[f"shipped {name}"] = SHIPPED_DIR / name
    recovery = {name: cube_recovery(cube, head, work / f"maps_{name}", 20.0) for name, head in heads.items()}

    command = (f"--head {args.head}" if args.head else
               f"--steps {args.steps} --minutes {args.minutes:g}{' --encoder-only' if args.encoder_only else ''}")
    lines = [f"`python benchmarks/bench_sfh_network.py --galaxies {args.galaxies} {command} --record`: "
             f"{args.galaxies} simulated galaxies (MUSE 1\" spectra at S/N 20-50 per Å + PHANGS-HST F275W-F814W; "
             f"simulated in {_minutes(timings, 'simulate')}), {made}.", "",
             "| test split (400 galaxies) | head, all inputs, at the true z: scatter (R²; predicting the mean) | "
             "head at its own scan's z | linear reference: ridge on the rest-frame spectrum at the true z | bar |",
             "|---|---|---|---|---|",
             f"| log Z | {scatter_in_context(metrics, 'log_z', 'dex')} | "
             f"{scatter_in_context(scanned, 'log_z', 'dex')} | "
             f"{scatter_in_context(reference, 'log_z', 'dex')} | ≤ 0.05 dex |",
             f"| mass-weighted age | {scatter_in_context(metrics, 'log_age_mw', 'dex')} | "
             f"{scatter_in_context(scanned, 'log_age_mw', 'dex')} | "
             f"{scatter_in_context(reference, 'log_age_mw', 'dex')} | ≤ 0.1 dex |", "",
             "Simulated MUSE cube (24×24 spaxels, exponential disc, central S/N 40 per pixel, inside-out age and "
             "-0.25 dex per scale length metallicity gradients), Voronoi-binned to S/N 20 (`galfm sfh-map`):", "",
             "| head | bins | log age: Pearson / Spearman with truth | log Z: Pearson / Spearman |",
             "|---|---|---|---|"]
    for name, scores in recovery.items():
        age, log_z = scores["LOG_AGE_MW"], scores["LOG_Z"]
        lines.append(f"| {name} | {scores['bins']} | {age['pearson']:.2f} / {age['spearman']:.2f} | "
                     f"{log_z['pearson']:.2f} / {log_z['spearman']:.2f} |")
    text = "\n".join(lines) + "\n"
    summary = {"metrics": metrics, "at_scan_redshift": scanned, "linear_reference": reference, "cube": recovery,
               "timings_s": timings}
    summary_file.write_text(json.dumps(summary, indent=1))
    print(text)
    if args.record and not args.encoder_only:
        record(RESULTS, "sfh_network", "SFH at the SFH network's setting (bench_sfh_network.py)", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
