"""The example notebooks run end to end (nbclient, an IPython kernel of this interpreter) with their outputs
stripped in git; each one's key printed results are checked, so a notebook that runs but says the wrong thing
fails, and each must show a plot."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = {
    "01_quickstart.ipynb": ["z = 0.123", "(pipeline 0.12315)", "QSO: False", "cosine 1.000"],
    "02_your_own_data.ipynb": ["5 spectra with a trusted label",
                               "the downloaded head predicts what the trained one does: True"],
    "03_star_formation_histories.ipynb": ["spaxel S/N per pixel: median 0.13", "'BIN_ID'"],
}


def _outputs(notebook) -> list[dict]:
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def test_notebooks_are_stored_without_outputs():
    assert sorted(p.name for p in EXAMPLES.glob("*.ipynb")) == sorted(NOTEBOOKS)
    for name in NOTEBOOKS:
        notebook = nbformat.read(EXAMPLES / name, as_version=4)
        assert not _outputs(notebook), f"{name}: strip outputs before committing"


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_end_to_end(name, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()
    outputs = _outputs(notebook)
    text = "\n".join(o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", "")) for o in outputs)
    for expected in NOTEBOOKS[name]:
        assert expected in text, f"{name}: expected {expected!r} in its outputs"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no plot"
