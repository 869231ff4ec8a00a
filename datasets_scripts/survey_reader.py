"""What a survey module provides to ``load_survey``: its file patterns and a file -> records function."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SurveyReader:
    """How to read one survey: file name patterns (globs, searched recursively) and a file -> records function
    (``read(path, **options)``)."""

    name: str
    patterns: tuple[str, ...]
    read: Callable[..., Iterable[dict[str, Any]]]
    description: str = ""
