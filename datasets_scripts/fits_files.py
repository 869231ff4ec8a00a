"""Opening survey FITS files with errors that name the file and what was expected."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

from astropy.io import fits


def open_fits(path: str | os.PathLike, expected: str, required_hdus: Sequence[str] = ()) -> fits.HDUList:
    """Open ``path`` fully in memory and check it has ``required_hdus``.

    Raises ``ValueError`` naming the file, the problem and ``expected`` (e.g. "an SDSS spec-*.fits") for a
    truncated or non-FITS file or a missing HDU.
    """
    hdus = None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*truncated.*")
            hdus = fits.open(path, memmap=False)
            names = [h.name for h in hdus]
            for hdu in hdus:  # astropy reads data lazily: touch it so truncation fails here, by name
                _ = hdu.data
    except (OSError, TypeError, ValueError, Warning) as err:
        if hdus is not None:
            hdus.close()
        raise ValueError(f"{path}: not a readable (or a truncated) FITS file ({err}); expected {expected}") from err
    missing = [n for n in required_hdus if n not in names]
    if missing:
        hdus.close()
        raise ValueError(f"{path}: missing HDUs {missing} (found {names}); expected {expected}")
    return hdus
