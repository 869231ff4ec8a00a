"""Push galfm models and datasets to the Hugging Face Hub (or any Hub-protocol endpoint).

    galfm push --model DIR --repo org/galfm [--private]
    galfm push --dataset DIR --repo org/galfm-sim

A model folder is what ``save_pretrained`` wrote (safetensors weights, config, processor config, the model's
code for ``trust_remote_code``) plus its card (``README.md``) and plots. A folder holding several models (e.g.
``demo_output/models``: ``base/`` and one folder per head) pushes the pretrained model to ``org/galfm`` and each
head to its own repo ``org/galfm-<head>`` (e.g. ``org/galfm-photoz``), so that every head loads with a plain
``from_pretrained("org/galfm-photoz")`` and has its own card and evaluation results. A dataset folder
(``galfm simulate`` / ``galfm convert``) pushes its Parquet shards and card as a dataset repo.

Nothing local is modified: a push that fails (no token, no write access, an interrupted upload) raises
`HubPushError` with what to do, and the folder stays as it was.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError

MODEL_PATTERNS = ["*.safetensors", "*.json", "*.py", "*.md", "*.png", "*.txt"]
DATASET_PATTERNS = ["data/*.parquet", "README.md", "*.png"]
FORBIDDEN = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt")


class HubPushError(RuntimeError):
    """A push that did not complete; the message says why and what to do."""


def _check_model_folder(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise HubPushError(f"{folder}: no config.json; push a folder written by save_pretrained")
    if not list(folder.glob("*.safetensors")):
        raise HubPushError(f"{folder}: no *.safetensors weights; galfm publishes safetensors only")
    pickled = [p.name for pattern in FORBIDDEN for p in folder.glob(pattern)]
    if pickled:
        raise HubPushError(f"{folder}: pickled files {pickled} would be published; galfm pushes safetensors only "
                           "(remove them or save with safe_serialization=True)")


def _upload(folder: Path, repo_id: str, repo_type: str, patterns: list[str], private: bool, token: str | None,
            message: str, endpoint: str | None) -> str:
    token = token or get_token()
    api = HfApi(endpoint=endpoint, token=token)
    if token is None:
        raise HubPushError(f"no Hugging Face token to push {folder} to {repo_id}: run `hf auth login` or set "
                           "HF_TOKEN (a token with write access)")
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status in (401, 403):
            raise HubPushError(f"cannot create or write {repo_type} repo {repo_id} (HTTP {status}): the token lacks "
                               "write access to that namespace; use a write token or a namespace you own") from err
        raise HubPushError(f"creating {repo_id} failed: {err}") from err
    try:
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type,
                                   allow_patterns=patterns, ignore_patterns=list(FORBIDDEN), commit_message=message)
    except (HfHubHTTPError, OSError, RuntimeError) as err:  # the client wraps failed LFS transfers in RuntimeError
        reason = f"{err}: {err.__cause__}" if err.__cause__ is not None else str(err)
        raise HubPushError(f"upload of {folder} to {repo_id} did not complete ({reason}); nothing was committed and "
                           "the local folder is unchanged: run the same push again") from err
    return commit.commit_url if hasattr(commit, "commit_url") else str(commit)


def push_model(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
               endpoint: str | None = None) -> str:
    """Push one saved model (encoder, pretraining model or head) to ``repo_id``; returns the commit URL."""
    folder = Path(folder)
    _check_model_folder(folder)
    return _upload(folder, repo_id, "model", MODEL_PATTERNS, private, token, f"galfm: upload {folder.name}",
                   endpoint)


def push_dataset(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
                 endpoint: str | None = None) -> str:
    """Push a galaxy-record folder (Parquet shards + card) as a dataset repo; returns the commit URL."""
    folder = Path(folder)
    if not list(folder.glob("data/*.parquet")):
        raise HubPushError(f"{folder}: no data/*.parquet shards; write the folder with galfm simulate/convert")
    return _upload(folder, repo_id, "dataset", DATASET_PATTERNS, private, token, "galfm: upload dataset", endpoint)


def model_folders(folder: Path) -> dict[str, Path]:
    """The model folders to push: ``folder`` itself, or its subfolders that hold a saved model."""
    if (folder / "config.json").is_file():
        return {"": folder}
    found = {p.name: p for p in sorted(folder.iterdir()) if (p / "config.json").is_file()}
    if not found:
        raise HubPushError(f"{folder}: no config.json here or in a subfolder; push a save_pretrained folder")
    return found


def push_models(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
                endpoint: str | None = None) -> dict[str, str]:
    """Push a model folder, or each model of a folder of models: the pretrained model (``base``, or a subfolder
    named as the repo, like ``pretrained/galfm``) to ``repo_id`` and every head to ``repo_id-<name>`` (a head
    folder already named ``galfm-<name>`` keeps its name). Returns {repo: commit URL}."""
    folders = model_folders(Path(folder))
    repo_name = repo_id.split("/")[-1]
    commits = {}
    for name, path in folders.items():
        suffix = name[len(repo_name) + 1:] if name.startswith(f"{repo_name}-") else name
        target = repo_id if name in ("", "base", repo_name) else f"{repo_id}-{suffix}"
        commits[target] = push_model(path, target, private, token, endpoint)
    return commits


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="galfm push", description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="a save_pretrained folder, or a folder of them (base/ + one per head)")
    what.add_argument("--dataset", help="a galaxy-record folder (data/*.parquet + README.md)")
    parser.add_argument("--repo", required=True, help="repo id, e.g. org/galfm (heads go to org/galfm-<head>)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--token", default=None, help="default: the logged-in token or HF_TOKEN")
    return parser


def run(args: argparse.Namespace) -> dict[str, str]:
    if args.model:
        return push_models(args.model, args.repo, args.private, args.token)
    return {args.repo: push_dataset(args.dataset, args.repo, args.private, args.token)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(json.dumps(run(args), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
