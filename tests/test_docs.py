"""The API reference (`make docs`, mkdocs strict) covers every public module of the package: a new module that no
page lists would be missing from the documentation without any warning."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"galfm": ROOT / "modeling", "galfm.datasets_scripts": ROOT / "datasets_scripts",
           "galfm.datasets_scripts.simulator": ROOT / "datasets_scripts" / "simulator",
           "galfm.training": ROOT / "training"}
NOT_API = {"galfm.cli", "galfm.training.demo", "galfm.training.benchmarking"}  # commands, not an API


def test_every_public_module_is_in_the_api_reference():
    documented = set()
    for page in (ROOT / "docs" / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: ([\w.]+)$", page.read_text(), flags=re.M))
    modules = {f"{package}.{path.stem}" for package, folder in SOURCES.items() for path in folder.glob("*.py")
               if not path.stem.startswith("_")}
    assert documented <= modules, f"pages name modules that do not exist: {sorted(documented - modules)}"
    missing = modules - documented - NOT_API
    assert not missing, f"add these modules to a page of docs/api (or to NOT_API if internal): {sorted(missing)}"
    assert (ROOT / "mkdocs.yml").read_text().count("strict: true") == 1
