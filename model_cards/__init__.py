"""Model and dataset card templates (package data), rendered with measured results."""

from importlib import resources


def template(name: str) -> str:
    """The text of a card template shipped with galfm, e.g. ``template("base_model.md")``."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
