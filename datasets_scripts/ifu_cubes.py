"""The IFU cube formats galfm reads, chosen by a file's extensions: MaNGA LOGCUBE (FLUX/IVAR/MASK/WAVE) or the
ESO MUSE pipeline's DATA/STAT cube."""

from __future__ import annotations

import os

from astropy.io import fits

from .manga import MANGA_HDUS, load_manga_cube
from .muse import Cube, load_cube


def load_ifu_cube(path: str | os.PathLike) -> Cube:
    """The cube of a MaNGA or MUSE file in record units (each reader's errors name what it expected)."""
    try:
        with fits.open(path, memmap=True) as hdus:
            names = {h.name for h in hdus}
    except (OSError, ValueError):
        names = set()  # let the MUSE reader raise its error naming the file
    return load_manga_cube(path) if MANGA_HDUS <= names else load_cube(path)
