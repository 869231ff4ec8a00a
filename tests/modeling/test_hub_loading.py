"""Loading by Hub id from the HF cache offline, and through trust_remote_code where galfm is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import synthetic_galaxy
from galfm import place_in_hf_cache

TESTS = Path(__file__).resolve().parents[1]

LOAD_AND_EMBED = """
import sys
sys.path.insert(0, {tests!r})
{prelude}
import numpy as np, torch
from transformers import AutoModel, AutoProcessor
from conftest import synthetic_galaxy
torch.set_num_threads(1)
model = AutoModel.from_pretrained({source!r}{kwargs}).eval()
processor = AutoProcessor.from_pretrained({source!r}{kwargs})
with torch.no_grad():
    out = model(**processor([synthetic_galaxy(0), synthetic_galaxy(1, image=False)], return_tensors="pt"))
np.save({out!r}, out.pooler_output.numpy())
print(type(model).__module__, type(model).__name__, type(processor).__module__, type(processor).__name__)
"""

NO_GALFM = 'sys.modules["galfm"] = None  # as if galfm were not installed: any import of it fails'


def _run(tmp_path: Path, source: str, prelude: str = "", trust_remote_code: bool = False) -> tuple[str, np.ndarray]:
    out = tmp_path / "embedding.npy"
    code = LOAD_AND_EMBED.format(tests=str(TESTS), prelude=prelude, source=source, out=str(out),
                                 kwargs=", trust_remote_code=True" if trust_remote_code else "")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"),
           "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1], np.load(out)


@pytest.fixture()
def saved_model(tmp_path, tiny_model, processor):
    folder = tmp_path / "galfm-tiny"
    tiny_model.save_pretrained(folder)
    processor.save_pretrained(folder)
    with torch.no_grad():
        expected = tiny_model(**processor([synthetic_galaxy(0), synthetic_galaxy(1, image=False)],
                                          return_tensors="pt")).pooler_output.numpy()
    return folder, expected


def test_saved_folder_carries_code_and_auto_map(saved_model):
    folder, _ = saved_model
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "configuration_galfm.GalFMConfig",
                                  "AutoModel": "modeling_galfm.GalFMModel"}
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["auto_map"] == {"AutoProcessor": "processing_galfm.GalFMProcessor"}
    for name in ("configuration_galfm.py", "modeling_galfm.py", "processing_galfm.py", "filters_galfm.py",
                 "properties_galfm.py"):
        assert (folder / name).exists(), name


def test_place_in_hf_cache_builds_the_hub_layout(tmp_path, saved_model):
    folder, _ = saved_model
    snapshot = place_in_hf_cache(folder, "org/galfm", cache_dir=tmp_path / "hub")
    repo = tmp_path / "hub" / "models--org--galfm"
    assert (repo / "refs" / "main").read_text() == snapshot.name and len(snapshot.name) == 40
    weights = snapshot / "model.safetensors"
    assert weights.is_symlink() and weights.resolve().parent == (repo / "blobs").resolve()
    assert place_in_hf_cache(folder, "org/galfm", cache_dir=tmp_path / "hub") == snapshot  # idempotent
    with pytest.raises(ValueError, match="org/name"):
        place_in_hf_cache(folder, "galfm", cache_dir=tmp_path / "hub")


def test_load_by_hub_id_offline(tmp_path, saved_model):
    folder, expected = saved_model
    place_in_hf_cache(folder, "org/galfm", cache_dir=tmp_path / "hub")
    classes, embedding = _run(tmp_path, "org/galfm", prelude="import galfm")
    assert classes == "galfm.modeling_galfm GalFMModel galfm.processing_galfm GalFMProcessor"
    np.testing.assert_array_equal(embedding, expected)


def test_remote_code_load_without_galfm(tmp_path, saved_model):
    folder, expected = saved_model
    classes, embedding = _run(tmp_path, str(folder), prelude=NO_GALFM, trust_remote_code=True)
    model_module, model_class, proc_module, proc_class = classes.split()
    assert model_module.startswith("transformers_modules.") and proc_module.startswith("transformers_modules.")
    assert (model_class, proc_class) == ("GalFMModel", "GalFMProcessor")
    np.testing.assert_allclose(embedding, expected, rtol=1e-6, atol=1e-6)


def test_remote_code_load_by_hub_id_without_galfm(tmp_path, saved_model):
    """What a user without galfm installed meets: a Hub download plus trust_remote_code."""
    folder, expected = saved_model
    place_in_hf_cache(folder, "org/galfm", cache_dir=tmp_path / "hub")
    classes, embedding = _run(tmp_path, "org/galfm", prelude=NO_GALFM, trust_remote_code=True)
    assert classes.startswith("transformers_modules.")
    np.testing.assert_allclose(embedding, expected, rtol=1e-6, atol=1e-6)
