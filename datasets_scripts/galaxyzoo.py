"""Galaxy Zoo DECaLS (Walmsley et al. 2022): PNG cut-outs + vote-fraction CSV -> images with morphology labels.

The CSV names each galaxy (``iauname``), its PNG (``local_png_loc``, relative to the CSV) and vote fractions
(``<question>_<answer>_fraction``). The PNGs are 424x424 colour composites of DECaLS g, r, z (blue, green,
red) with a display stretch: their pixel values are *not* fluxes. They enter the record as the image with
bands (decam_z, decam_r, decam_g) for (R, G, B), values in [0, 1], and the flag ``image_units=display`` so
that nothing mistakes them for nanomaggies; the pixel scale varies with galaxy size and is left unset.

Labels: ``morphology`` is ``ring`` where the ring column is 1, else ``featured`` or ``smooth`` by the
majority vote on the first question; every vote fraction is kept as a flag ``gz_<column>=<value>``.

The cut-outs' pixel scale and seeing are not in the vote table (a ``pixscale`` column is used when present):
pass them as ``pixel_scale`` and ``psf_fwhm`` (arcsec); without them the records carry none and
``GalFMProcessor`` refuses the image, naming the missing field.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np

from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader

FEATURED = "smooth-or-featured_featured-or-disk_fraction"


def _label(row: dict[str, str]) -> str | None:
    if row.get("ring", "").strip() == "1":
        return "ring"
    if row.get(FEATURED, "").strip():
        return "featured" if float(row[FEATURED]) > 0.5 else "smooth"
    return None


def read_catalog(path: str | os.PathLike, pixel_scale: float | None = None,
                 psf_fwhm: float | None = None) -> list[dict[str, Any]]:
    path = Path(path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "iauname" not in rows[0]:
        raise ValueError(f"{path}: expected a Galaxy Zoo CSV with an 'iauname' column (and 'local_png_loc')")
    records = []
    for row in rows:
        png = path.parent / row.get("local_png_loc", f"{row['iauname']}.png")
        if not png.is_file():
            raise FileNotFoundError(f"{path}: image {png} of {row['iauname']} not found")
        pixels = np.asarray(matplotlib.image.imread(png), dtype=np.float32)[..., :3]  # RGBA/RGB, 0-1
        image = np.moveaxis(pixels, -1, 0)
        fractions = [f"gz_{k}={float(v):.4f}" for k, v in row.items() if k.endswith("_fraction") and v.strip()]
        records.append({
            "object_id": f"gz-{row['iauname']}", "survey": "galaxyzoo", "ra": None, "dec": None,
            "spectrum": None, "photometry": None, "properties": {"morphology": _label(row)},
            "image": {"band": ["decam_z", "decam_r", "decam_g"], "flux": image, "ivar": np.ones_like(image),
                      "pixel_scale": float(row["pixscale"]) if row.get("pixscale") else pixel_scale,
                      "psf_fwhm": None if psf_fwhm is None else np.full(3, psf_fwhm, dtype=np.float32)},
            "flags": ["image_units=display", *fractions, *( ["gz_ring=1"] if row.get("ring") == "1" else [])],
        })
    return records


READER = SurveyReader("galaxyzoo", ("*.csv",), read_catalog, "Galaxy Zoo DECaLS vote CSV + PNG cut-outs")



class GalaxyZooDECaLS(SurveyFilesBuilder):
    """Galaxy Zoo DECaLS images and votes as a ``datasets`` builder (``data_dir=`` the folder of files)."""
    READER = READER
