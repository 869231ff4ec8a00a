"""The galfm command: help lists the subcommands; the demo embeds the bundled real spectra."""

from __future__ import annotations

import json
import subprocess
import sys

from galfm.cli import main


def test_help_lists_subcommands():
    proc = subprocess.run([sys.executable, "-m", "galfm.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("info", "demo", "simulate", "convert", "pretrain", "cache"):
        assert command in proc.stdout


def test_info_prints_presets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "0.86M" in out and "jpas_J0378" in out


def test_demo_embeds_real_galaxies(tmp_path, data_dir, capsys):
    assert main(["demo", "--out", str(tmp_path), "--data-dir", str(data_dir)]) == 0
    summary = json.loads((tmp_path / "demo_summary.json").read_text())
    # every SDSS file of the folder, and the 3 DESI targets (sky and unassigned fibres skipped)
    assert summary["pooler_output_shape"] == [len(list((data_dir / "sdss").glob("spec-*.fits"))) + 3, 128]
    assert "desi-39633345008634465" in summary["galaxies"]
    assert (tmp_path / "galfm-tiny" / "model.safetensors").exists()
    assert "cosine similarity" in capsys.readouterr().out


def test_demo_folder_card_parses(tmp_path, data_dir):
    from huggingface_hub import ModelCard

    main(["demo", "--out", str(tmp_path), "--data-dir", str(data_dir)])
    card = ModelCard.load(tmp_path / "galfm-tiny" / "README.md")
    assert card.data.library_name == "transformers" and "galfm" in card.data.tags
    assert "862,976" in card.text
