"""Run configurations: one dataclass per job (pretraining, fine-tuning), read from a YAML file with command-line
overrides. The defaults are written once, in the dataclass; `transformers.HfArgumentParser` makes a flag of
every field (``--max-steps`` and ``--max_steps``), with the field's ``help``.

    config, run = parse_run_config(PretrainConfig, argv, extra=add_run_arguments)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from transformers import HfArgumentParser

Config = TypeVar("Config")


def option(default: Any = None, help: str = "", **metadata: Any) -> Any:
    """A dataclass field with its command-line help (``default`` may be a list, copied per instance)."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help, **metadata})
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def json_mapping(value: dict | str | None, name: str) -> dict:
    """A mapping field given as a dict (YAML, Python) or a JSON string (command line)."""
    if value is None or isinstance(value, dict):
        return dict(value or {})
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise ValueError(f"{name}: {value!r} is not JSON; give e.g. '{{\"num_decoder_layers\": 1}}'") from err
    if not isinstance(parsed, dict):
        raise ValueError(f"{name}: {value!r} is not a JSON object")
    return parsed


def comma_list(value: Sequence[str] | str | None) -> list[str] | None:
    """``["a,b", "c"]`` or ``"a,b"`` -> ``["a", "b", "c"]``; None stays None."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def read_yaml(cls: type[Config], path: str | Path) -> dict[str, Any]:
    """The YAML file's values, checked against the dataclass's fields."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
    return raw


def from_yaml(cls: type[Config], path: str | Path, **overrides: Any) -> Config:
    """The dataclass from a YAML file; keyword overrides that are not None win."""
    return cls(**{**read_yaml(cls, path), **{k: v for k, v in overrides.items() if v is not None}})


def build_parser(cls: type, description: str, default_config: str | Path | None = None,
                 extra: Callable[[argparse.ArgumentParser], None] | None = None) -> HfArgumentParser:
    parser = HfArgumentParser(cls, prog=description.split(":")[0], description=description)
    parser.add_argument("--config", default=None if default_config is None else str(default_config),
                        help="YAML file of these fields; flags given here override it"
                             + (f" (default: {default_config})" if default_config else ""))
    if extra is not None:
        extra(parser)
    return parser


def parse_run_config(cls: type[Config], argv: Sequence[str] | None, description: str,
                     default_config: str | Path | None = None,
                     extra: Callable[[argparse.ArgumentParser], None] | None = None
                     ) -> tuple[Config, argparse.Namespace]:
    """(the dataclass from ``--config`` YAML + flags, the namespace of the ``extra`` run arguments);
    ``description`` starts with the program name (``"galfm pretrain: ..."``)."""
    parser = build_parser(cls, description, default_config, extra)
    early, _ = parser.parse_known_args(argv)
    if early.config:
        parser.set_defaults(**read_yaml(cls, early.config))
    outputs = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    config, run = outputs[0], (outputs[1] if len(outputs) > 1 else argparse.Namespace())
    return config, run


__all__ = ["build_parser", "comma_list", "from_yaml", "json_mapping", "option", "parse_run_config", "read_yaml"]
