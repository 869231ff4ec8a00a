"""The galfm command: help lists the subcommands; the quick demo runs the main job end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from galfm.cli import main
from galfm.training.release import SHIPPED_DIR


def test_help_lists_subcommands():
    proc = subprocess.run([sys.executable, "-m", "galfm.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("info", "demo", "simulate", "convert", "pretrain", "finetune", "evaluate", "push", "cache",
                    "release", "install-pretrained"):
        assert command in proc.stdout


def test_info_prints_presets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "0.86M" in out and "jpas_J0378" in out


@pytest.mark.skipif(not (SHIPPED_DIR / "galfm" / "config.json").is_file(), reason="no shipped models (make release)")
def test_quick_demo_runs_the_shipped_model_end_to_end_and_resumes(tmp_path, data_dir, capsys):
    from huggingface_hub import ModelCard

    assert main(["install-pretrained", str(SHIPPED_DIR)]) == 0  # what `make install` does before `make demo`
    assert main(["demo", "--quick", "--out", str(tmp_path), "--data-dir", str(data_dir)]) == 0
    report = (tmp_path / "report.md").read_text()
    sections = [line[3:] for line in report.splitlines() if line.startswith("## ")]
    assert sections[0] == "Real galaxies"  # the report opens with the real sky
    for section in ("Photometric redshifts", "Posterior calibration", "Similarity search", "Hub-ready folders"):
        assert section in sections
    assert "desi-39633345008634465" in report and "sdss-0266-51602-0013" in report and "real_sky.png" in report
    assert "<table>" in (tmp_path / "report.html").read_text()
    for image in ("spectrum_from_photometry.png", "search_gallery.png", "evaluation/photoz.png",
                  "evaluation/properties_real_sky.png", "evaluation/base_embedding_map.png"):
        assert (tmp_path / image).stat().st_size > 10_000, image
    evaluation = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert {"photoz", "properties", "posterior", "sfh", "morphology", "base/retrieval"} <= set(evaluation["tasks"])
    real = evaluation["real_sky"]["properties"]["summary"]["spectrum"]
    assert real["galaxies"] >= 3 and real["within_0.01"] == 1.0
    card = ModelCard.load(tmp_path / "models" / "morphology" / "README.md")
    accuracy = next(r.metric_value for r in card.data.eval_results if r.metric_type == "accuracy")
    assert accuracy == evaluation["tasks"]["morphology"]["accuracy"]  # the card carries the measured number
    assert ModelCard.load(tmp_path / "models" / "base" / "README.md").data.library_name == "transformers"
    # a second run reuses every finished stage
    weights = tmp_path / "runs" / "morphology" / "model" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["demo", "--quick", "--out", str(tmp_path), "--data-dir", str(data_dir)]) == 0
    assert weights.stat().st_mtime_ns == stamp
    assert "fine-tuning" not in capsys.readouterr().out
