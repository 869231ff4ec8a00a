"""Model and dataset card templates (package data), rendered with measured results."""

from importlib import resources
from string import Template


def template(name: str) -> str:
    """The text of a card template shipped with galfm, e.g. ``template("base_model.md")``."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def render(name: str, **values: str) -> str:
    """Fill a template's ``$placeholders``; a missing value is an error, not a blank in a published card."""
    try:
        return Template(template(name)).substitute(**values)
    except KeyError as err:
        raise ValueError(f"card template {name!r} needs a value for {err.args[0]!r}") from err
