"""The ``galfm`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TESTS_DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _cmd_info(args: argparse.Namespace) -> int:
    from .configuration_galfm import PRESET_PARAMETERS, PRESETS
    from .filters_galfm import available_bands

    print("Model presets (GalFMConfig.from_preset):")
    for name, sizes in PRESETS.items():
        print(f"  {name:6s} {PRESET_PARAMETERS[name] / 1e6:8.2f}M parameters  {sizes}")
    bands = available_bands()
    print(f"Known photometric bands ({len(bands)}): {', '.join(bands)}")
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from .hub_cache import place_in_hf_cache

    snapshot = place_in_hf_cache(args.folder, args.repo, cache_dir=args.cache_dir, revision=args.revision)
    print(f"{args.folder} -> {snapshot}")
    print(f'With HF_HUB_OFFLINE=1: AutoModel.from_pretrained("{args.repo}") now loads it.')
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from galfm.training.demo import run_demo

    run_demo(out_dir=Path(args.out), data_dir=Path(args.data_dir), quick=args.quick, seed=args.seed)
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    try:
        from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
    except ImportError as err:  # a trust_remote_code copy of the model files has no simulator
        print(f"galfm simulate needs the installed galfm package: {err}", file=sys.stderr)
        return 2
    try:
        config = SimulationConfig(n=args.n, seed=args.seed, surveys=tuple(args.surveys.split(",")),
                                  variant=args.variant, r_limit=args.r_limit, anomaly_fraction=args.anomaly_fraction,
                                  shard_size=args.shard_size)
    except ValueError as err:
        print(f"galfm simulate: {err}", file=sys.stderr)
        return 2
    summary = write_survey(config, args.out, num_proc=args.num_proc)
    print(f"{summary['n']} galaxies -> {args.out} ({len(summary['files'])} Parquet shards, splits "
          f"{summary['splits']}, anomalies {summary['anomalies']}); dataset card: {Path(args.out) / 'README.md'}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    try:
        from galfm.datasets_scripts.convert import convert_survey
    except ImportError as err:
        print(f"galfm convert needs the installed galfm package: {err}", file=sys.stderr)
        return 2
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
    from galfm.training.pretrain import PretrainConfig, pretrain

    try:
        config = PretrainConfig.from_yaml(args.config, max_steps=args.max_steps, batch_size=args.batch_size,
                                          checkpoint_every=args.checkpoint_every, init_from=args.init_from)
    except (ValueError, FileNotFoundError) as err:
        print(f"galfm pretrain: {err}", file=sys.stderr)
        return 2
    pretrain(config, args.data, args.output_dir, resume=args.resume, stop_after=args.stop_after)
    print(f"model -> {Path(args.output_dir) / 'model'} (AutoModel loads it); curves: "
          f"{Path(args.output_dir) / 'loss_curves.png'}")
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    import json

    from galfm.training.finetune import MissingLabelsError, arguments_from, finetune

    try:
        metrics = finetune(arguments_from(args))
    except (MissingLabelsError, ValueError) as err:
        print(f"galfm finetune: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in metrics.items() if k.startswith("test_")}, indent=2))
    print(f"head -> {Path(args.output_dir) / 'model'} (galfm.load_head loads it); metrics: "
          f"{Path(args.output_dir) / 'metrics.json'}; plot: {Path(args.output_dir) / 'predictions.png'}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from galfm.training.evaluate import evaluate_models

    try:
        results = evaluate_models(args.model, args.data, args.out, args.split, args.max_samples)
    except FileNotFoundError as err:
        print(f"galfm evaluate: {err}", file=sys.stderr)
        return 2
    for name, reason in results["skipped"].items():
        print(f"skipped {name}: {reason}")
    print(f"{len(results['tasks'])} task(s) scored -> {Path(args.out) / 'evaluation.md'}, metrics.json")
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    from galfm.training.hub import HubPushError, run

    try:
        commits = run(args)
    except HubPushError as err:
        print(f"galfm push: {err}", file=sys.stderr)
        return 2
    for repo, url in commits.items():
        print(f"{repo}: {url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="galfm", description="galfm: a multimodal foundation model for galaxies.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="model presets with parameter counts, and the known filter bands")
    info.set_defaults(func=_cmd_info)

    demo = sub.add_parser("demo", help="the main job end to end: simulate, pretrain, fine-tune, evaluate, report, "
                          "model cards (resumes finished stages)")
    demo.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    demo.add_argument("--quick", action="store_true", help="few galaxies and steps: a smoke run in a few minutes")
    demo.add_argument("--data-dir", default=str(TESTS_DATA),
                      help="real galaxies for the report: folder with sdss/, desi/, legacysurvey/ FITS files")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)

    simulate = sub.add_parser("simulate", help="write a simulated multimodal galaxy survey as Parquet shards + card")
    simulate.add_argument("--n", type=int, default=20000, help="number of galaxies (default 20000)")
    simulate.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same bytes")
    simulate.add_argument("--surveys", default="desi,jpas,galex,legacysurvey",
                          help="comma list of desi, sdss, euclid, muse, jpas, galex, legacysurvey")
    simulate.add_argument("--variant", default="clean", choices=["clean", "observed"],
                          help="observed: zero points, calibration tilt, sky residuals, missing bands, anomalies")
    simulate.add_argument("--r-limit", type=float, default=22.5, help="flux limit: keep galaxies with SDSS r < this")
    simulate.add_argument("--anomaly-fraction", type=float, default=None,
                          help="fraction of flagged anomalies (default 0 clean, 0.03 observed)")
    simulate.add_argument("--shard-size", type=int, default=1000, help="galaxies per Parquet shard")
    simulate.add_argument("--num-proc", type=int, default=1, help="worker processes")
    simulate.add_argument("--out", required=True, help="output folder (data/*.parquet + README.md)")
    simulate.set_defaults(func=_cmd_simulate)

    convert = sub.add_parser("convert", help="a directory of survey files -> Parquet shards + dataset card")
    convert.add_argument("--survey", required=True, help="sdss, desi, legacysurvey, galex, jpas, jplus, euclid, "
                         "euclid_mer, muse, phangs_hst, galaxyzoo")
    convert.add_argument("--data-dir", required=True, help="folder of the survey's own files (searched recursively)")
    convert.add_argument("--out", required=True, help="output folder (data/train-*.parquet + README.md)")
    convert.add_argument("--shard-size", type=int, default=1000, help="records per Parquet shard")
    convert.set_defaults(func=_cmd_convert)

    try:
        from galfm.training.pretrain import build_parser as pretrain_parser
    except ImportError:  # a trust_remote_code copy of the model files has no training package
        pretrain_parser = None
    if pretrain_parser is not None:
        pretrain = sub.add_parser("pretrain", help="self-supervised pretraining with Accelerate (CPU to multi-GPU)")
        pretrain_parser(pretrain)
        pretrain.set_defaults(func=_cmd_pretrain)
        from galfm.training.finetune import build_parser as finetune_parser

        finetune = sub.add_parser("finetune", help="fine-tune a head (photoz, properties, posterior, sfh, "
                                  "morphology) with transformers.Trainer")
        finetune_parser(finetune)
        finetune.set_defaults(func=_cmd_finetune)
        from galfm.training.evaluate import build_parser as evaluate_parser

        evaluate = sub.add_parser("evaluate", help="score heads and pretrained models on a galaxy-record folder "
                                  "(JSON + Markdown + PNGs)")
        evaluate_parser(evaluate)
        evaluate.set_defaults(func=_cmd_evaluate)
        from galfm.training.hub import build_parser as push_parser

        push = sub.add_parser("push", help="push a model (and its heads) or a dataset to the Hugging Face Hub")
        push_parser(push)
        push.set_defaults(func=_cmd_push)

    cache = sub.add_parser("cache", help="place a saved model folder in the HF cache as a Hub repo id (offline use)")
    cache.add_argument("folder", help="a save_pretrained folder")
    cache.add_argument("--repo", required=True, help="repo id to serve it as, e.g. org/galfm")
    cache.add_argument("--cache-dir", default=None, help="HF hub cache (default: $HF_HUB_CACHE)")
    cache.add_argument("--revision", default="main")
    cache.set_defaults(func=_cmd_cache)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
