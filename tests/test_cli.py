"""The galfm command: help lists the subcommands; the quick demo runs the main job end to end."""

from __future__ import annotations

import json
import subprocess
import sys

from galfm.cli import main


def test_help_lists_subcommands():
    proc = subprocess.run([sys.executable, "-m", "galfm.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("info", "demo", "simulate", "convert", "pretrain", "finetune", "evaluate", "push", "cache"):
        assert command in proc.stdout


def test_info_prints_presets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "0.86M" in out and "jpas_J0378" in out


def test_quick_demo_runs_end_to_end_and_resumes(tmp_path, data_dir, capsys):
    from huggingface_hub import ModelCard

    assert main(["demo", "--quick", "--out", str(tmp_path), "--data-dir", str(data_dir)]) == 0
    report = (tmp_path / "report.md").read_text()
    for section in ("Photometric redshifts", "Posterior calibration", "Similarity search", "Real galaxies",
                    "Training curves", "Hub-ready folders"):
        assert f"## {section}" in report
    assert "desi-39633345008634465" in report and "sdss-0266-51602-0013" in report
    assert "<table>" in (tmp_path / "report.html").read_text()
    for image in ("spectrum_from_photometry.png", "search_gallery.png", "training_curves.png",
                  "evaluation/photoz.png", "evaluation/base_embedding_map.png"):
        assert (tmp_path / image).stat().st_size > 10_000, image
    evaluation = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert {"photoz", "properties", "posterior", "sfh", "morphology", "base/retrieval"} <= set(evaluation["tasks"])
    card = ModelCard.load(tmp_path / "models" / "photoz" / "README.md")
    sigma = next(r.metric_value for r in card.data.eval_results if r.metric_type == "sigma_nmad")
    assert sigma == evaluation["tasks"]["photoz"]["redshift/sigma_nmad"]  # the card carries the measured number
    assert ModelCard.load(tmp_path / "models" / "base" / "README.md").data.library_name == "transformers"
    # a second run reuses every finished stage
    weights = tmp_path / "runs" / "pretrain" / "model" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["demo", "--quick", "--out", str(tmp_path), "--data-dir", str(data_dir)]) == 0
    assert weights.stat().st_mtime_ns == stamp
    assert "fine-tuning" not in capsys.readouterr().out
