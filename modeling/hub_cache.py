"""Place a saved model folder in the Hugging Face cache, exactly as a Hub download would have left it.

Then ``AutoModel.from_pretrained("org/galfm")`` resolves the repo id offline (``HF_HUB_OFFLINE=1``) through
huggingface_hub's own cache lookup: the path every user's first download takes, without a network.
Layout: ``<cache>/models--org--galfm/{blobs/<sha256>, snapshots/<commit>/<file> -> blob, refs/<revision>}``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from huggingface_hub import constants


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def place_in_hf_cache(folder: str | os.PathLike, repo_id: str, cache_dir: str | os.PathLike | None = None,
                      revision: str = "main", repo_type: str = "model") -> Path:
    """Copy ``folder`` (a ``save_pretrained`` output) into the HF cache as ``repo_id`` at ``revision``.

    Args:
        folder: the saved folder.
        repo_id: ``"org/name"``, the id users will pass to ``from_pretrained``.
        cache_dir: cache root; default ``huggingface_hub.constants.HF_HUB_CACHE`` (honours ``HF_HUB_CACHE``/
            ``HF_HOME``).
        revision: the ref to point at the snapshot (a branch name such as ``main``).
        repo_type: ``"model"`` or ``"dataset"``.

    Returns:
        The snapshot directory. Its name, the commit id, is a hash of the files' contents, so placing the same
        folder twice is idempotent.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a directory; save the model with save_pretrained(folder) first")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id must look like 'org/name', got {repo_id!r}")
    if repo_type not in ("model", "dataset"):
        raise ValueError(f"repo_type must be 'model' or 'dataset', got {repo_type!r}")
    cache = Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE)
    repo_dir = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not files:
        raise ValueError(f"{folder} holds no files")
    hashes = {p.relative_to(folder).as_posix(): _sha256(p) for p in files}
    commit = hashlib.sha1("".join(f"{k}\0{v}\n" for k, v in sorted(hashes.items())).encode()).hexdigest()

    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot = repo_dir / "snapshots" / commit
    for relative, digest in hashes.items():
        blob = repo_dir / "blobs" / digest
        if not blob.exists():
            shutil.copyfile(folder / relative, blob)
        target = snapshot / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        try:
            target.symlink_to(os.path.relpath(blob, target.parent))
        except OSError:  # file systems without symlinks: huggingface_hub copies too
            shutil.copyfile(blob, target)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / revision).write_text(commit)
    return snapshot
