"""The ``galfm`` command line: one subcommand per job, each a thin wrapper over the package's functions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .configuration_galfm import PRESET_PARAMETERS, PRESETS
from .datasets_scripts import available_surveys
from .datasets_scripts.convert import convert_survey
from .datasets_scripts.simulator import SimulationConfig, finalize_survey, write_survey
from .filters_galfm import available_bands, band_source, band_summary
from .hub_cache import place_in_hf_cache
from .training import evaluate as evaluate_job
from .training import finetune as finetune_job
from .training import hub as push_job
from .training import pretrain as pretrain_job
from .training import release as release_job
from .training import sfh_map as sfh_map_job
from .training.demo import run_demo
from .training.real_sky import TESTS_DATA


def _cmd_info(args: argparse.Namespace) -> int:
    print("Model presets (GalFMConfig.from_preset):")
    for name, sizes in PRESETS.items():
        print(f"  {name:6s} {PRESET_PARAMETERS[name] / 1e6:8.2f}M parameters  {sizes}")
    bands = available_bands()
    print(f"Known photometric bands ({len(bands)}): name, effective wavelength and FWHM (A), curve source")
    for name in bands:
        wavelength, fwhm = band_summary(name)
        print(f"  {name:16s} {wavelength:8.1f} {fwhm:7.1f}  {band_source(name)}")
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    snapshot = place_in_hf_cache(args.folder, args.repo, cache_dir=args.cache_dir, revision=args.revision)
    print(f"{args.folder} -> {snapshot}")
    print(f'With HF_HUB_OFFLINE=1: AutoModel.from_pretrained("{args.repo}") now loads it.')
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    run_demo(out_dir=Path(args.out), data_dir=Path(args.data_dir), quick=args.quick, seed=args.seed)
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    try:
        config = SimulationConfig(n=args.n, seed=args.seed, surveys=tuple(args.surveys.split(",")),
                                  variant=args.variant, r_limit=args.r_limit, bright_fraction=args.bright_fraction,
                                  bright_r_limit=args.bright_r_limit,
                                  min_spectrum_snr=args.min_spectrum_snr,
                                  anomaly_fraction=args.anomaly_fraction,
                                  shard_size=args.shard_size)
    except ValueError as err:
        print(f"galfm simulate: {err}", file=sys.stderr)
        return 2
    try:
        if args.finalize:
            summary = finalize_survey(config, args.out)
        else:
            summary = write_survey(config, args.out, num_proc=args.num_proc, part=args.part, parts=args.parts)
    except (ValueError, FileNotFoundError) as err:
        print(f"galfm simulate: {err}", file=sys.stderr)
        return 2
    if "part" in summary:
        print(f"part {summary['part']} of {summary['parts']}: {summary['n']} galaxies -> {args.out} "
              f"({len(summary['files'])} Parquet shards); when every part is done: galfm simulate ... --finalize")
        return 0
    print(f"{summary['n']} galaxies -> {args.out} ({len(summary['files'])} Parquet shards, splits "
          f"{summary['splits']}, anomalies {summary['anomalies']}); dataset card: {Path(args.out) / 'README.md'}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    try:
        summary = convert_survey(args.survey, args.data_dir, args.out, shard_size=args.shard_size)
    except (ValueError, FileNotFoundError) as err:
        print(f"galfm convert: {err}", file=sys.stderr)
        return 2
    print(f"{summary['records']} records from {summary['files']} {args.survey} files -> {args.out} "
          f"({len(summary['shards'])} shards); {len(summary['skipped'])} files skipped")
    for path, why in summary["skipped"].items():
        print(f"  skipped {path}: {why}")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    try:
        return pretrain_job.main(args.arguments)
    except (ValueError, FileNotFoundError) as err:
        print(f"galfm pretrain: {err}", file=sys.stderr)
        return 2


def _cmd_finetune(args: argparse.Namespace) -> int:
    return finetune_job.main(args.arguments)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    try:
        results = evaluate_job.evaluate_models(args.model, args.data, args.out, args.split, args.max_samples,
                                               evaluate_job.real_paths(args.real))
    except FileNotFoundError as err:
        print(f"galfm evaluate: {err}", file=sys.stderr)
        return 2
    for name, reason in results["skipped"].items():
        print(f"skipped {name}: {reason}")
    print(f"{len(results['tasks'])} task(s) scored -> {Path(args.out) / 'evaluation.md'}, metrics.json")
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    return release_job.run(args)


def _cmd_install_pretrained(args: argparse.Namespace) -> int:
    folders = release_job.shipped_folders(Path(args.folder))
    if not folders:
        print(f"galfm install-pretrained: no model folders (config.json) in {args.folder}", file=sys.stderr)
        return 2
    for repo_id, folder in folders.items():
        snapshot = place_in_hf_cache(folder, repo_id, cache_dir=args.cache_dir)
        print(f"{folder} -> {repo_id} ({snapshot})")
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    try:
        commits = push_job.run(args)
    except push_job.HubPushError as err:
        print(f"galfm push: {err}", file=sys.stderr)
        return 2
    for repo, url in commits.items():
        print(f"{repo}: {url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="galfm", description="galfm: a multimodal foundation model for galaxies.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sfh_map = sub.add_parser("sfh-map", help="maps of stellar age, metallicity and mass fractions from an IFU cube "
                             "(Voronoi-binned spaxels through an SFH head)")
    sfh_map_job.add_arguments(sfh_map)
    sfh_map.set_defaults(func=sfh_map_job.main)

    info = sub.add_parser("info", help="model presets with parameter counts, and the known filter bands")
    info.set_defaults(func=_cmd_info)

    demo = sub.add_parser("demo", help="the shipped model at work: real galaxies, a simulated test survey, a new "
                          "head fine-tuned with Trainer, report and cards (resumes finished stages)")
    demo.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    demo.add_argument("--quick", action="store_true", help="few galaxies and steps: a smoke run in a few minutes")
    demo.add_argument("--data-dir", default=str(TESTS_DATA),
                      help="real galaxies for the report: folder with sdss/, desi/, legacysurvey/ FITS files")
    demo.add_argument("--seed", type=int, default=1,
                      help="seed of the evaluation survey (the shipped models were trained on seed 0)")
    demo.set_defaults(func=_cmd_demo)

    simulate = sub.add_parser("simulate", help="write a simulated multimodal galaxy survey as Parquet shards + card")
    simulate.add_argument("--n", type=int, default=20000, help="number of galaxies (default 20000)")
    simulate.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same bytes")
    simulate.add_argument("--surveys", default="desi,sdss,jpas,galex,legacysurvey",
                          help="comma list of desi, sdss, euclid, muse, jpas, galex, legacysurvey")
    simulate.add_argument("--variant", default="clean", choices=["clean", "observed"],
                          help="observed: zero points, calibration tilt, sky residuals, missing bands, anomalies")
    simulate.add_argument("--r-limit", type=float, default=22.5, help="flux limit: keep galaxies with SDSS r < this")
    simulate.add_argument("--bright-fraction", type=float, default=0.3,
                          help="share of the galaxies drawn from a bright selection, SDSS r < 17.77 (main sample)")
    simulate.add_argument("--bright-r-limit", type=float, default=17.77,
                          help="r limit of the bright selection (17.77: SDSS main sample; 19.5: DESI BGS Bright)")
    simulate.add_argument("--min-spectrum-snr", type=float, default=None,
                          help="lift fainter spectra to a S/N per Angstrom between this and 2.5x it (binned-IFU or "
                               "deep-spectrum setting, e.g. 20 for the SFH network's MUSE spectra)")
    simulate.add_argument("--anomaly-fraction", type=float, default=None,
                          help="fraction of flagged anomalies (default 0 clean, 0.03 observed)")
    simulate.add_argument("--shard-size", type=int, default=1000, help="galaxies per Parquet shard")
    simulate.add_argument("--num-proc", type=int, default=1, help="worker processes")
    simulate.add_argument("--parts", type=int, default=1,
                          help="split the survey into this many jobs (e.g. a Slurm array), each run with --part")
    simulate.add_argument("--part", type=int, default=0, help="which part this job writes (0 .. parts-1)")
    simulate.add_argument("--finalize", action="store_true",
                          help="after every part: check the files and write the dataset card")
    simulate.add_argument("--out", required=True, help="output folder (data/*.parquet + README.md)")
    simulate.set_defaults(func=_cmd_simulate)

    convert = sub.add_parser("convert", help="a directory of survey files -> Parquet shards + dataset card")
    convert.add_argument("--survey", required=True, help=", ".join(available_surveys()))
    convert.add_argument("--data-dir", required=True, help="folder of the survey's own files (searched recursively)")
    convert.add_argument("--out", required=True, help="output folder (data/train-*.parquet + README.md)")
    convert.add_argument("--shard-size", type=int, default=1000, help="records per Parquet shard")
    convert.set_defaults(func=_cmd_convert)

    for name, job, what in (
            ("pretrain", pretrain_job, "self-supervised pretraining with Accelerate (CPU to multi-GPU)"),
            ("finetune", finetune_job, "fine-tune a head (photoz, properties, posterior, sfh, morphology) with "
                                       "transformers.Trainer")):
        command = sub.add_parser(name, help=what, add_help=False,
                                 description=f"galfm {name} [--config YAML] [flags]: see `galfm {name} --help`")
        command.add_argument("arguments", nargs=argparse.REMAINDER, help=f"the flags of {job.__name__}")

    evaluate = sub.add_parser("evaluate", help="score heads and pretrained models on a galaxy-record folder "
                              "(JSON + Markdown + PNGs)")
    evaluate_job.build_parser(evaluate)
    evaluate.set_defaults(func=_cmd_evaluate)
    push = sub.add_parser("push", help="push a model (and its heads) or a dataset to the Hugging Face Hub")
    push_job.build_parser(push)
    push.set_defaults(func=_cmd_push)

    release = sub.add_parser("release", help="make the pretrained model and heads that ship in pretrained/ "
                             "(simulate, pretrain, fine-tune, real-sky benchmark, cards)")
    release_job.build_parser(release)
    release.set_defaults(func=_cmd_release)
    install = sub.add_parser("install-pretrained", help="place every shipped folder (pretrained/<name>) in the HF "
                             "cache as org/<name>, so from_pretrained('org/galfm') works offline")
    install.add_argument("folder", nargs="?", default=str(release_job.SHIPPED_DIR))
    install.add_argument("--cache-dir", default=None, help="HF hub cache (default: $HF_HUB_CACHE)")
    install.set_defaults(func=_cmd_install_pretrained)

    cache = sub.add_parser("cache", help="place a saved model folder in the HF cache as a Hub repo id (offline use)")
    cache.add_argument("folder", help="a save_pretrained folder")
    cache.add_argument("--repo", required=True, help="repo id to serve it as, e.g. org/galfm")
    cache.add_argument("--cache-dir", default=None, help="HF hub cache (default: $HF_HUB_CACHE)")
    cache.add_argument("--revision", default="main")
    cache.set_defaults(func=_cmd_cache)
    return parser


DELEGATED = {"pretrain": _cmd_pretrain, "finetune": _cmd_finetune}
"""Subcommands whose flags are those of their run config (`galfm.training.run_config`): handed over whole."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return DELEGATED[argv[0]](argparse.Namespace(arguments=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
