"""`galfm push` against a Hub-protocol server on 127.0.0.1, then downloads through the real huggingface_hub client:
the pushed models reproduce their outputs, the cards carry the measured metrics, failures leave the folder intact."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hub_server import READ_TOKEN, WRITE_TOKEN, start_hub_server

from conftest import synthetic_galaxy
from galfm import GalFMConfig, GalFMForPretraining, GalFMForPropertyPrediction, GalFMProcessor
from galfm.training.cards import write_base_card, write_head_card


@pytest.fixture(scope="module")
def hub():
    server, state, url = start_hub_server()
    yield state, url
    server.shutdown()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """models/base (pretraining model) and models/photoz (a head), each with a card, as the demo writes them."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    base = GalFMForPretraining(GalFMConfig.from_preset("tiny"))
    base.save_pretrained(root / "base")
    GalFMProcessor().save_pretrained(root / "base")
    config = GalFMConfig.from_pretrained(root / "base", target_properties=["redshift"])
    head = GalFMForPropertyPrediction.from_pretrained(root / "base", config=config)
    head.config.galfm_task = {"name": "photoz", "inputs": ["photometry"], "targets": ["redshift"],
                              "band_prefixes": ["jpas_"]}
    head.save_pretrained(root / "photoz")
    GalFMProcessor().save_pretrained(root / "photoz")
    write_base_card(root / "base", "org/galfm", "tiny", base.galfm.num_parameters(), "test", "test data",
                    {"retrieval/image_to_spectrum_top_10": 0.25}, [])
    write_head_card(root / "photoz", "photoz", "org/galfm-photoz", "org/galfm",
                    {"redshift/sigma_nmad": 0.0123, "redshift/outlier_fraction": 0.015}, [], "test", "test data",
                    "J-PAS photometry", "GalFMForPropertyPrediction")
    # what the downloaded copies must reproduce
    record = synthetic_galaxy(0, spectrum=True, image=False, properties=False)
    batch = GalFMProcessor()([record], return_tensors="pt")
    with torch.no_grad():
        np.save(root / "expected_embedding.npy", base.galfm(**batch).pooler_output.numpy())
        np.save(root / "expected_redshift.npy", head(**batch).mean.numpy())
    return root


def _env(url: str, home: Path, token: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=url, HF_HUB_DISABLE_XET="1", HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1")
    if token:
        env["HF_TOKEN"] = token
    return env


def _galfm(args: list[str], env: dict) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("galfm")), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_push_then_download_reproduces_the_models(hub, models, tmp_path):
    state, url = hub
    pushed = _galfm(["push", "--model", str(models), "--repo", "org/galfm"], _env(url, tmp_path, WRITE_TOKEN))
    assert pushed.returncode == 0, pushed.stderr
    assert "org/galfm:" in pushed.stdout and "org/galfm-photoz:" in pushed.stdout
    assert "model:org/galfm" in state.repos and "model:org/galfm-photoz" in state.repos
    files = set(state.repos["model:org/galfm"]["files"])
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "modeling_galfm.py", "README.md"} <= files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl"))]

    code = textwrap.dedent(f"""
        import json, numpy as np, torch, galfm
        from huggingface_hub import ModelCard
        from transformers import AutoModel, AutoProcessor
        import sys; sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from conftest import synthetic_galaxy
        processor = AutoProcessor.from_pretrained("org/galfm")
        model = AutoModel.from_pretrained("org/galfm").eval()
        head = galfm.load_head("org/galfm-photoz").eval()
        batch = processor([synthetic_galaxy(0, image=False, properties=False)], return_tensors="pt")
        with torch.no_grad():
            embedding = model(**batch).pooler_output.numpy()
            redshift = head(**batch).mean.numpy()
        card = ModelCard.load("org/galfm-photoz")
        results = {{r.metric_type: r.metric_value for r in card.data.eval_results}}
        folder = {str(models)!r}
        expected = np.load(folder + "/expected_embedding.npy"), np.load(folder + "/expected_redshift.npy")
        print(json.dumps({{"processor": type(processor).__name__, "model": type(model).__name__,
                          "embedding_diff": float(np.abs(embedding - expected[0]).max()),
                          "redshift_diff": float(np.abs(redshift - expected[1]).max()),
                          "results": results, "base_model": card.data.base_model}}))
    """)
    env = _env(url, tmp_path / "download", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["processor"] == "GalFMProcessor" and out["model"] == "GalFMModel"
    assert out["embedding_diff"] < 1e-6 and out["redshift_diff"] < 1e-6
    assert out["results"]["sigma_nmad"] == pytest.approx(0.0123)
    assert out["results"]["outlier_fraction"] == pytest.approx(0.015)
    assert out["base_model"] == "org/galfm"
    # the download went through the Hub protocol, file by file
    assert any(r.startswith("GET /org/galfm-photoz/resolve/") and r.endswith("model.safetensors")
               for r in state.requests)


def test_push_without_a_token_says_how_to_get_one(hub, models, monkeypatch):
    from galfm.training.hub import HubPushError, push_model

    _, url = hub
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    before = _digest(models)
    with pytest.raises(HubPushError, match="no Hugging Face token.*HF_TOKEN"):
        push_model(models / "base", "org/nothing", endpoint=url)
    assert _digest(models) == before


def test_push_to_a_repo_it_cannot_write(hub, models):
    from galfm.training.hub import HubPushError, push_model

    state, url = hub
    with pytest.raises(HubPushError, match="HTTP 403.*write access"):
        push_model(models / "base", "other/galfm", token=READ_TOKEN, endpoint=url)
    assert "model:other/galfm" not in state.repos


def test_an_interrupted_upload_commits_nothing_and_keeps_the_folder(hub, tmp_path):
    state, url = hub
    torch.manual_seed(5)  # weights the server has never seen, so they must be uploaded
    GalFMForPretraining(GalFMConfig.from_preset("tiny")).save_pretrained(tmp_path / "fresh")
    before = _digest(tmp_path / "fresh")
    state.fail_lfs_uploads = True
    try:
        done = _galfm(["push", "--model", str(tmp_path / "fresh"), "--repo", "org/interrupted"],
                      _env(url, tmp_path / "home", WRITE_TOKEN))
    finally:
        state.fail_lfs_uploads = False
    assert done.returncode == 2 and "did not complete" in done.stderr and "run the same push again" in done.stderr
    assert state.repos["model:org/interrupted"]["files"] == {}  # created, but no commit landed
    assert _digest(tmp_path / "fresh") == before
    again = _galfm(["push", "--model", str(tmp_path / "fresh"), "--repo", "org/interrupted"],
                   _env(url, tmp_path / "home", WRITE_TOKEN))
    assert again.returncode == 0 and "model.safetensors" in state.repos["model:org/interrupted"]["files"]


def test_dataset_push_sends_shards_and_card(hub, tmp_path):
    from galfm.datasets_scripts.simulator import SimulationConfig, write_survey

    state, url = hub
    write_survey(SimulationConfig(n=30, seed=2, surveys=("jpas",), shard_size=20), tmp_path / "sim", progress=False)
    done = _galfm(["push", "--dataset", str(tmp_path / "sim"), "--repo", "org/galfm-sim"],
                  _env(url, tmp_path, WRITE_TOKEN))
    assert done.returncode == 0, done.stderr
    files = set(state.repos["dataset:org/galfm-sim"]["files"])
    assert "README.md" in files and {f for f in files if f.startswith("data/")} == {
        str(p.relative_to(tmp_path / "sim")) for p in (tmp_path / "sim" / "data").glob("*.parquet")}


def test_pickles_are_refused(tmp_path):
    from galfm.training.hub import HubPushError, push_model

    GalFMForPretraining(GalFMConfig.from_preset("tiny")).save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(HubPushError, match="safetensors only"):
        push_model(tmp_path, "org/x", token="hf_write", endpoint="http://127.0.0.1:9")


def test_the_shipped_layout_pushes_each_folder_to_its_own_repo(tmp_path, monkeypatch):
    from galfm.training import hub

    for name in ("galfm", "galfm-properties", "galfm-photoz"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    monkeypatch.setattr(hub, "push_model", lambda path, target, *args: f"{Path(path).name}->{target}")
    assert sorted(hub.push_models(tmp_path, "you/galfm").values()) == [
        "galfm->you/galfm", "galfm-photoz->you/galfm-photoz", "galfm-properties->you/galfm-properties"]
