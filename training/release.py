"""``galfm release``: make the pretrained model and heads that ship with the package (``pretrained/``).

One command, the project's own steps in order, each skipped when its output exists (so a run resumes):

1. ``galfm simulate`` the default survey (bright SDSS-main-like + deep galaxies; DESI and SDSS spectra;
   J-PAS, GALEX, Legacy Surveys and SDSS photometry; grz images);
2. ``galfm pretrain`` the ``tiny`` encoder (`training/configs/tiny.yaml`) under a time budget;
3. ``galfm finetune`` the heads from it, each on random subsets of every galaxy's inputs (one modality, one
   survey's bands: `training/augment.py`) so they answer from whatever a real record has; the property head
   also gets the template redshift scan (`galfm.redshift_scan_galfm`), it and the photo-z head the photometric
   template fit (`galfm.photometric_redshift_galfm`); ``galfm-sfh-muse`` is fine-tuned on its own survey
   (`MUSE_SURVEY`: the SFH network's setting, what the bins of a MUSE cube look like);
4. the real galaxies at hand through the heads: the real-sky benchmark (`training/real_sky.py`) for the
   property head, pPXF fits of the same real spectra for the SFH heads (`training/sfh_vs_ppxf.py`);
5. model cards with the data, steps, hardware, wall time and results on simulation and on real galaxies.

``galfm release --heads galfm-sfh`` re-makes only the named heads: fine-tuned from the shipped base
(``OUT/galfm``) on their survey (simulated again in ``WORK`` where absent), re-scored, and their folders,
cards and entries of ``OUT/release.json`` replaced; the base and the other heads stay as they are.
``galfm release --photometric-fit`` rebuilds only the shipped heads' photometric fit (templates and library,
the train split of the release survey: what ``galfm finetune --photometric-redshift`` adds after training), the
trained weights untouched, then measures them on the real galaxies again.

The folders are named as their Hub repos (``org/galfm`` -> ``pretrained/galfm``); ``make install`` places them
in the Hugging Face cache (`galfm.place_in_hf_cache`), so ``from_pretrained("org/galfm")`` works offline.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from galfm.configuration_galfm import GalFMConfig
from galfm.datasets_scripts import load_records
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.heads_galfm import load_head
from galfm.modeling_galfm import GalFMModel
from galfm.processing_galfm import GalFMProcessor

from . import benchmarking
from .cards import SIMULATION_LIMITATIONS, set_card_section, write_base_card, write_head_card
from .evaluate import evaluate_head
from .finetune import FinetuneConfig, finetune
from .metrics import scatter_in_context
from .photoz_templates import add_photometric_redshift
from .pretrain import DEFAULT_CONFIG, PretrainConfig, pretrain
from .real_sky import TESTS_DATA, default_real_paths, markdown_table, run_real_sky
from .sfh_vs_ppxf import compare_with_ppxf, comparison_markdown, plot_comparison
from .tasks import PROPERTY_TARGETS

REPO_ORG = "org"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
"""Where the shipped folders live in a source checkout."""
RESULTS_FILE = SHIPPED_DIR.parent / "benchmarks" / "RESULTS.md"
PRETRAIN_STEPS = 2000
"""Pretraining steps of 16 galaxies: 2000 x 16 = the galaxies of 1000 steps of 32."""
PRETRAIN_MINUTES = 40.0
OWN_REDSHIFT_PREFIX = "own_redshift/"
"""Metrics of a head that reads the rest frame, scored at the redshifts its own scan finds (not the records')."""


@dataclass(frozen=True)
class ShippedHead:
    """A head that ships: its repo name, task, inputs and the fine-tuning options that differ from the defaults."""

    name: str
    task: str
    inputs: tuple[str, ...]
    targets: tuple[str, ...] = ()
    redshift_scan: bool = False
    photometric_redshift: bool = False
    steps: int = 600
    minutes: float = 5.0  # a time limit that ends training early on a slower machine
    survey: dict | None = None  # its own simulated survey (SimulationConfig fields); None: the release survey

    @property
    def repo_id(self) -> str:
        return f"{REPO_ORG}/{self.name}"


MUSE_SURVEY = {"n": 40000, "seed": 3, "surveys": ("muse", "phangs_hst"), "bright_fraction": 1.0,
               "min_spectrum_snr": 20.0}
"""The SFH network's setting: SDSS-main-like galaxies seen by MUSE through a 1" aperture, lifted to S/N 20-50 per
Angstrom, plus the five PHANGS-HST bands (what ``galfm sfh-map`` bins of a cube look like)."""

SHIPPED_HEADS: tuple[ShippedHead, ...] = (
    ShippedHead("galfm-properties", "properties", ("spectrum", "photometry"), PROPERTY_TARGETS, redshift_scan=True,
                photometric_redshift=True, steps=1500, minutes=12.0),
    ShippedHead("galfm-photoz", "photoz", ("photometry",), ("redshift",), photometric_redshift=True),
    ShippedHead("galfm-sfh", "sfh", ("spectrum", "photometry"), steps=1500, minutes=12.0),
    ShippedHead("galfm-sfh-muse", "sfh", ("spectrum", "photometry"), steps=4500, minutes=20.0, survey=MUSE_SURVEY),
    ShippedHead("galfm-posterior", "posterior", ("spectrum", "photometry")),
)


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def _simulate(work: Path, galaxies: int, seed: int, head: ShippedHead | None = None) -> Path:
    """The release survey (``WORK/data``), or a head's own (``WORK/data_<head>``), simulated where absent."""
    data = work / ("data" if head is None or head.survey is None else f"data_{head.name}")
    if not (data / "README.md").is_file():
        config = SimulationConfig(n=galaxies, seed=seed) if head is None or head.survey is None \
            else SimulationConfig(**head.survey)
        write_survey(config, data, num_proc=2)
    return data


def _pretrain(work: Path, data: Path, steps: int, minutes: float, seed: int) -> Path:
    run = work / "pretrain"
    if not (run / "model" / "model.safetensors").is_file():
        config = PretrainConfig.from_yaml(DEFAULT_CONFIG, max_steps=steps, seed=seed, time_limit_minutes=minutes,
                                          checkpoint_every=200)
        pretrain(config, data, run)
    return run


def _finetune(work: Path, data: Path, base: Path, head: ShippedHead, seed: int) -> Path:
    run = work / head.name
    if not (run / "metrics.json").is_file():
        finetune(FinetuneConfig(task=head.task, data=str(data), output_dir=str(run), base=str(base),
                                inputs=list(head.inputs), targets=list(head.targets) or None, band_prefixes=["all"],
                                max_steps=head.steps, time_limit_minutes=head.minutes, input_subsets=True,
                                redshift_scan=head.redshift_scan, photometric_redshift=head.photometric_redshift,
                                max_eval_samples=400, seed=seed))
    return run


def _rescore(run: Path, data: Path) -> None:
    """The saved head re-run on its test split with the current code, so the cards and RESULTS carry every figure
    the current rules define (the redshift scan's σ, a scatter beside its R² and baseline) without retraining;
    the per-galaxy predictions are rewritten with them."""
    saved = np.load(run / "test_predictions.npz")
    scores, outputs, labels, ids = evaluate_head(run / "model", data, "test", max_samples=len(saved["object_id"]))
    if list(ids) != [str(i) for i in saved["object_id"]]:
        raise RuntimeError(f"{run}: the test split of {data} is not the one this head was scored on")
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.update({f"test_{k}": v for k, v in scores.items()})
    if GalFMConfig.from_pretrained(run / "model").head_config.rest_frame_spectrum:
        # scored above at the records' redshifts (its training condition); also at the redshifts it finds itself
        own, _, _, _ = evaluate_head(run / "model", data, "test", max_samples=len(ids), conditions=False)
        metrics.update({f"test_{OWN_REDSHIFT_PREFIX}{k}": v for k, v in own.items()})
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    np.savez_compressed(run / "test_predictions.npz", object_id=np.asarray(ids), labels=labels, **outputs)


def _copy_model(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))


def release(out: Path, work: Path, galaxies: int = 10000, pretrain_steps: int = PRETRAIN_STEPS,
            pretrain_minutes: float = PRETRAIN_MINUTES, seed: int = 0, results_file: Path | None = None) -> dict:
    """Run (or resume) every step; returns the record written to ``out/release.json`` (and, with
    ``results_file``, its table in benchmarks/RESULTS.md)."""
    work.mkdir(parents=True, exist_ok=True)
    timings_file = work / "timings.json"  # wall time of each step when it ran (a resumed run keeps them)
    timings: dict[str, float] = json.loads(timings_file.read_text()) if timings_file.is_file() else {}

    def timed(name: str, step, *args):
        start = time.perf_counter()
        result = step(*args)
        if name not in timings or time.perf_counter() - start > 5.0:
            timings[name] = time.perf_counter() - start
            timings_file.write_text(json.dumps(timings, indent=1))
        return result

    data = timed("simulate", _simulate, work, galaxies, seed)
    pretrain_run = timed("pretrain", _pretrain, work, data, pretrain_steps, pretrain_minutes, seed)
    pretrain_summary = json.loads((pretrain_run / "pretrain_summary.json").read_text()) \
        if (pretrain_run / "pretrain_summary.json").is_file() else {}
    surveys = {head.name: data if head.survey is None else timed(f"simulate {head.name}", _simulate, work,
                                                                 galaxies, seed, head) for head in SHIPPED_HEADS}
    runs = {head.name: timed(head.name, _finetune, work, surveys[head.name], pretrain_run / "model", head, seed)
            for head in SHIPPED_HEADS}
    for head in SHIPPED_HEADS:
        _rescore(runs[head.name], surveys[head.name])

    out.mkdir(parents=True, exist_ok=True)
    _copy_model(pretrain_run / "model", out / "galfm")
    for head in SHIPPED_HEADS:
        _copy_model(runs[head.name] / "model", out / head.name)

    record = {"galaxies": galaxies, "seed": seed, "hardware": hardware(), "timings_s": timings,
              "pretrain": pretrain_summary, "real_galaxies": {},
              "heads": {h.name: json.loads((runs[h.name] / "metrics.json").read_text()) for h in SHIPPED_HEADS}}
    _write_cards(out, record, runs, pretrain_run)
    (out / "release.json").write_text(json.dumps(record, indent=1, default=str))
    if results_file is not None:
        benchmarking.record(results_file, "release", "The shipped models (galfm release)", release_table(record))
    return record


def retrain_heads(out: Path, work: Path, names: list[str], results_file: Path | None = None) -> dict:
    """Re-make the shipped heads ``names`` from the shipped base ``out/galfm``, each on its survey (the release
    survey of ``out/release.json``, its galaxies and seed, or the head's own), replacing their folders, cards and
    record entries."""
    known = {head.name: head for head in SHIPPED_HEADS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"--heads {','.join(unknown)}: not a shipped head; choose from {', '.join(known)}")
    record_file = out / "release.json"
    if not record_file.is_file() or not (out / "galfm" / "config.json").is_file():
        raise ValueError(f"{out}: no release.json and galfm/ to retrain heads from; run `galfm release` first")
    record = json.loads(record_file.read_text())
    work.mkdir(parents=True, exist_ok=True)
    for name in names:
        head = known[name]
        data = _simulate(work, record["galaxies"], record["seed"], head)
        start = time.perf_counter()
        run = _finetune(work, data, out / "galfm", head, record["seed"])
        if time.perf_counter() - start > 5.0:  # trained now (a resumed run keeps the recorded time)
            record["timings_s"][name] = time.perf_counter() - start
        _rescore(run, data)
        _copy_model(run / "model", out / name)
        record["heads"][name] = json.loads((run / "metrics.json").read_text())
        write_shipped_head_card(out, record, head, run)
    record["hardware"] = hardware()
    record_file.write_text(json.dumps(record, indent=1, default=str))
    if results_file is not None:
        benchmarking.record(results_file, "release", "The shipped models (galfm release)", release_table(record))
    return record


def rebuild_photometric_fit(out: Path, work: Path) -> dict:
    """The photometric fit of every shipped head that has one made again with the current code: templates and
    the library from the train split of the release survey (simulated in ``WORK`` where absent, with the record's
    galaxies and seed); the trained weights stay. Then the real galaxies again (cards, ``release.json``)."""
    record_file = out / "release.json"
    if not record_file.is_file():
        raise ValueError(f"{out}: no release.json; run `galfm release` first")
    record = json.loads(record_file.read_text())
    for head in SHIPPED_HEADS:
        if not head.photometric_redshift:
            continue
        data = _simulate(work, record["galaxies"], record["seed"], head)
        model, processor = load_head(str(out / head.name)), GalFMProcessor.from_pretrained(out / head.name)
        add_photometric_redshift(model, processor, seed=record["seed"], library=load_records(data, split="train"))
        model.save_pretrained(out / head.name)
        settings = model.config.head_config
        record["heads"][head.name]["photometric_fit"] = {
            "templates": settings.photoz_templates, "library_galaxies": settings.photoz_library_size,
            "library_survey": f"{record['galaxies']} simulated galaxies, seed {record['seed']}, train split"}
    record_file.write_text(json.dumps(record, indent=1, default=str))
    return refresh_real_galaxies(out)


def release_table(record: dict) -> str:
    """What was trained, for how long, and how each head scores on the simulated test split."""
    minutes = {k: v / 60 for k, v in record["timings_s"].items()}
    lines = [f"`galfm release --record` on {record['hardware']}: {record['galaxies']} simulated galaxies (seed "
             f"{record['seed']}), `tiny` encoder pretrained {record['pretrain'].get('steps')} steps of 16 in "
             f"{minutes['pretrain']:.1f} min, then each head with Trainer (batch 32) on random input subsets.", "",
             "| model | steps | minutes | simulated test split (all inputs; the release survey's unless said) |",
             "|---|---|---|---|",
             f"| org/galfm | {record['pretrain'].get('steps')} | {minutes['pretrain']:.1f} | final loss "
             f"{record['pretrain'].get('final_loss', float('nan')):.3f} |"]
    chosen = {"galfm-properties": ["redshift/outlier_fraction", "redshift/coverage_68", "log_mstar/r2",
                                   "log_mstar/coverage_68", "log_ssfr/r2"],
              "galfm-photoz": ["redshift/outlier_fraction", "redshift/coverage_68"],
              "galfm-sfh": ["sfh/mean_bin_scatter"],
              "galfm-posterior": ["log_mstar/coverage_68", "log_mstar/coverage_95", "log_mstar/rank_ks"]}
    scatters = {"galfm-properties": [("redshift σ_NMAD", "redshift", "")],
                "galfm-photoz": [("redshift σ_NMAD", "redshift", "")],
                "galfm-sfh": [("mass-weighted age scatter", "log_age_mw", "dex"), ("log Z scatter", "log_z", "dex"),
                              ("at its own scan's redshift: age scatter", OWN_REDSHIFT_PREFIX + "log_age_mw", "dex"),
                              ("log Z scatter", OWN_REDSHIFT_PREFIX + "log_z", "dex")]}
    scatters["galfm-sfh-muse"], chosen["galfm-sfh-muse"] = scatters["galfm-sfh"], chosen["galfm-sfh"]
    for head in (h for h in SHIPPED_HEADS if h.name in record["heads"]):
        metrics = record["heads"][head.name]
        text = [] if head.survey is None else [f"its own survey ({head.survey['n']} galaxies: "
                                                f"{' + '.join(head.survey['surveys'])})"]
        text += [f"{label} {scatter_in_context(metrics, prefix, unit)}" for label, prefix, unit in
                scatters.get(head.name, [])]
        text += [f"{k} {metrics['test_' + k]:.4g}" for k in chosen.get(head.name, [])
                 if isinstance(metrics.get("test_" + k), (int, float))]
        lines.append(f"| {head.repo_id} | {metrics['steps']} | {minutes[head.name]:.1f} | {', '.join(text)} |")
    return "\n".join(lines) + "\n"


def _data_text(record: dict, head: ShippedHead | None = None) -> str:
    if head is not None and head.survey is not None:
        survey = head.survey
        return (f"{survey['n']} galaxies of the galfm simulator at the SFH network's setting (`SimulationConfig("
                f"n={survey['n']}, seed={survey['seed']}, surveys={survey['surveys']}, bright_fraction="
                f"{survey['bright_fraction']}, min_spectrum_snr={survey['min_spectrum_snr']})`: SDSS-main-like "
                "galaxies, MUSE 1\" aperture spectra at S/N 20-50 per Angstrom, HST WFC3/UVIS F275W-F814W)")
    return (f"{record['galaxies']} galaxies of the galfm simulated survey (`galfm simulate --n "
            f"{record['galaxies']} --seed {record['seed']}`: 30% SDSS-main-like r < 17.77, 70% r < 22.5; "
            "DESI and SDSS spectra through fibres, J-PAS + GALEX + Legacy Surveys photometry and SDSS ugriz "
            "fibre fluxes, grz images)")


def real_galaxy_section(out: Path, head: ShippedHead) -> tuple[str, dict] | None:
    """The "Real galaxies" section of a shipped head's card and its summary: every real spectrum at hand through
    the head with a redshift scan (`real_sky`), pPXF fits of the same real spectra beside an SFH head
    (`sfh_vs_ppxf`); None for a head neither judges."""
    folder, paths = out / head.name, default_real_paths(TESTS_DATA)
    if head.redshift_scan:
        rows, summary = run_real_sky(folder, paths, folder)
        text = ("Every real spectrum at hand (tests/data: SDSS, DESI; the spectra ppxf ships: NGC 3073, NGC 3522, "
                "LEGA-C M19_56670) through this head (`python benchmarks/bench_real_sky.py`). |dz| is "
                "|z - z_catalogue| / (1 + z_catalogue).\n\n"
                f"```json\n{json.dumps(summary, indent=1)}\n```\n\n{markdown_table(rows)}\n\n"
                "![real_sky](real_sky.png)\n")
        return text, summary
    if head.task == "sfh":
        rows, summary = compare_with_ppxf(folder, paths)
        plot = plot_comparison(rows, folder / "real_galaxies.png")
        command = f"python benchmarks/bench_sfh_vs_ppxf.py --head pretrained/{head.name}"
        text = f"{comparison_markdown(rows, summary, command)}\n![real_galaxies]({plot.name})\n"
        if head.survey is not None and "muse" in head.survey["surveys"]:
            text = ("This head was trained at the SFH network's setting (MUSE spectra, 4750-9350 A observed); the "
                    "real spectra below are fibre spectra reaching bluer than anything it saw in training, since no "
                    "real MUSE spectrum at hand reaches S/N 10 (the bundled PHANGS-MUSE sub-cube reaches 4.5 binned "
                    "whole).\n\n" + text)
        return text, summary
    return None


def write_shipped_head_card(out: Path, record: dict, head: ShippedHead, run: Path) -> Path:
    """The card of one shipped head from the release record (its metrics, steps and wall time), with its real
    galaxies (`real_galaxy_section`, whose summary goes into ``record["real_galaxies"]``)."""
    metrics = record["heads"][head.name]
    scores = {k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_")}
    training = (f"`galfm release`: Trainer, {metrics['steps']} steps ({record['timings_s'][head.name] / 60:.1f} "
                f"min on {record['hardware']}) from {REPO_ORG}/galfm, on random subsets of each galaxy's inputs")
    card = write_head_card(out / head.name, head.task, head.repo_id, f"{REPO_ORG}/galfm", scores,
                           [run / "predictions.png"], training, _data_text(record, head),
                           " / ".join(head.inputs) + " (any subset)", _architecture(out / head.name))
    _set_real_galaxies(out, record, head)
    return card


def _set_real_galaxies(out: Path, record: dict, head: ShippedHead) -> None:
    real = real_galaxy_section(out, head)
    if real is not None:
        set_card_section(out / head.name / "README.md", "Real galaxies", real[0])
        record.setdefault("real_galaxies", {})[head.name] = real[1]


def refresh_real_galaxies(out: Path) -> dict:
    """Measure the shipped heads on the real galaxies at hand again and rewrite what their cards say of real data
    (the "Real galaxies" and "Limitations" sections) and ``release.json``'s entries; the weights and the simulated
    results stay as they are (for new real files, or a changed comparison)."""
    record_file = out / "release.json"
    if not record_file.is_file():
        raise ValueError(f"{out}: no release.json; run `galfm release` first")
    record = json.loads(record_file.read_text())
    record.pop("real_sky", None)  # before 2026-12-04 the property head's summary alone, under that key
    for name in ["galfm", *(head.name for head in SHIPPED_HEADS)]:
        set_card_section(out / name / "README.md", "Limitations", SIMULATION_LIMITATIONS)
    for head in SHIPPED_HEADS:
        _set_real_galaxies(out, record, head)
    record_file.write_text(json.dumps(record, indent=1, default=str))
    return record


def _write_cards(out: Path, record: dict, runs: dict[str, Path], pretrain_run: Path) -> None:
    data_text = _data_text(record)
    steps = record["pretrain"].get("steps", "?")
    parameters = GalFMModel.from_pretrained(out / "galfm").num_parameters()
    write_base_card(out / "galfm", f"{REPO_ORG}/galfm", "tiny", parameters,
                    f"`galfm release`: self-supervised pretraining (masked + autoregressive + contrastive), {steps} "
                    f"steps in {record['timings_s']['pretrain'] / 60:.1f} min on {record['hardware']}", data_text,
                    {}, [pretrain_run / "loss_curves.png"])
    for head in SHIPPED_HEADS:
        write_shipped_head_card(out, record, head, runs[head.name])


def shipped_folders(folder: Path) -> dict[str, Path]:
    """{repo id: folder} of the model folders (with a config.json) directly inside ``folder``."""
    if not folder.is_dir():
        return {}
    return {f"{REPO_ORG}/{p.name}": p for p in sorted(folder.iterdir()) if (p / "config.json").is_file()}


def _architecture(folder: Path) -> str:
    return json.loads((folder / "config.json").read_text()).get("architectures", ["?"])[0]


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="galfm release", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="pretrained", help="where the shipped folders go (default pretrained/)")
    parser.add_argument("--work", default="release_work", help="simulation and training runs")
    parser.add_argument("--galaxies", type=int, default=10000)
    parser.add_argument("--pretrain-steps", type=int, default=PRETRAIN_STEPS, help="pretraining steps of 16 galaxies")
    parser.add_argument("--pretrain-minutes", type=float, default=PRETRAIN_MINUTES,
                        help="time limit of the pretraining")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heads", default=None,
                        help="re-make only these shipped heads (comma-separated, e.g. galfm-sfh) from OUT/galfm")
    parser.add_argument("--real-galaxies", action="store_true",
                        help="only measure the shipped heads in OUT on the real galaxies again (cards, release.json)")
    parser.add_argument("--photometric-fit", action="store_true",
                        help="only rebuild the shipped heads' photometric fit (templates, library of the release "
                             "survey's train split; weights untouched), then the real galaxies again")
    parser.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    return parser


def run(args: argparse.Namespace) -> int:
    """What ``galfm release`` (and ``python -m galfm.training.release``) does with its parsed flags."""
    results_file = RESULTS_FILE if args.record else None
    if args.real_galaxies or args.photometric_fit:
        try:
            record = rebuild_photometric_fit(Path(args.out), Path(args.work)) if args.photometric_fit \
                else refresh_real_galaxies(Path(args.out))
        except ValueError as err:
            print(f"galfm release: {err}", file=sys.stderr)
            return 2
        print(f"real galaxies measured again in {args.out}: {', '.join(record['real_galaxies'])} (cards, release.json)")
        return 0
    if args.heads:
        try:
            record = retrain_heads(Path(args.out), Path(args.work), args.heads.split(","), results_file)
        except ValueError as err:
            print(f"galfm release: {err}", file=sys.stderr)
            return 2
        print(f"re-made in {args.out}: {args.heads} (release.json and their cards updated)")
    else:
        record = release(Path(args.out), Path(args.work), args.galaxies, args.pretrain_steps, args.pretrain_minutes,
                         args.seed, results_file)
        real = record["real_galaxies"].get("galfm-properties")
        print(f"shipped folders in {args.out}: galfm, {', '.join(record['heads'])}; real sky: {real}")
    print(f"Place them in the HF cache (what `make install` does): galfm install-pretrained {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))

if __name__ == "__main__":
    raise SystemExit(main())
