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


def test_the_dataset_cards_command_writes_the_same_survey_again(tmp_path):
    """The card names every non-default selection option (a card without them would reproduce another survey);
    here a DESI-BGS-like bright selection (r < 19.5)."""
    import hashlib
    import shlex

    import numpy as np

    from galfm.datasets_scripts import load_records

    first = tmp_path / "first"
    assert main(["simulate", "--n", "60", "--seed", "4", "--surveys", "sdss", "--bright-fraction", "1",
                 "--bright-r-limit", "19.5", "--shard-size", "40", "--out", str(first)]) == 0
    card = (first / "README.md").read_text()
    command = card.split("Made with: `", 1)[1].split("`", 1)[0]
    assert "--bright-r-limit 19.5" in command and "--bright-fraction 1.0" in command
    again = tmp_path / "again"
    assert main(shlex.split(command.replace("--out DIR", f"--out {again}"))[1:]) == 0

    def digest(folder):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "data").glob("*"))}

    assert digest(first) == digest(again)
    r_mag = [22.5 - 2.5 * np.log10(r["photometry"]["flux"][r["photometry"]["band"].index("sdss_r")])
             for r in load_records(first, "train")]
    assert np.median(r_mag) < 19.5 + 2.0  # fibre magnitudes: the total light is brighter than 19.5
    assert main(["simulate", "--n", "5", "--bright-r-limit", "nan", "--out", str(tmp_path / "bad")]) == 2
