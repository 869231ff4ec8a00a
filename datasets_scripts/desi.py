"""DESI ``coadd-*.fits`` (+ ``redrock-*.fits``) -> galaxy records.

``FIBERMAP`` gives TARGETID, TARGET_RA/DEC, PHOTSYS and the Legacy Surveys fluxes FLUX_G/R/Z/W1/W2 with
FLUX_IVAR_* (nanomaggies); per arm B/R/Z, ``*_WAVELENGTH`` (vacuum Angstrom, shared), ``*_FLUX``
(1e-17 erg/s/cm2/A), ``*_IVAR`` and ``*_MASK`` (one row per fibre). The three arms overlap and are kept as
three arms in the record's spectrum list: the tokenizer merges them, ivar-weighted, onto its grid.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .fits_files import open_fits

ARMS = ("B", "R", "Z")


def photometry_bands(photsys: str) -> list[str]:
    """Legacy Surveys DR9 bands of a target: BASS g,r + MzLS z in the north ('N'), DECam g,r,z in the south."""
    optical = ["bass_g", "bass_r", "mzls_z"] if photsys.strip() == "N" else ["decam_g", "decam_r", "decam_z"]
    return [*optical, "wise_w1", "wise_w2"]


def read_coadd(path: str | os.PathLike, redrock: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Galaxy records of a DESI coadd file; unassigned (TARGETID < 0) and sky fibres are skipped.

    ``redrock`` (optional) adds ``properties.redshift`` for fibres with ``ZWARN == 0``. The spectrum is a
    list of the three arms (``GalFMProcessor`` accepts that and merges them).
    """
    needed = ["FIBERMAP", *[f"{a}_{k}" for a in ARMS for k in ("WAVELENGTH", "FLUX", "IVAR", "MASK")]]
    with open_fits(path, "a DESI coadd-*.fits", needed) as hdus:
        fibermap = hdus["FIBERMAP"].data
        arms = {a: {k: hdus[f"{a}_{k}"].data for k in ("WAVELENGTH", "FLUX", "IVAR", "MASK")} for a in ARMS}
    redshifts = {}
    if redrock is not None:
        with open_fits(redrock, "a DESI redrock-*.fits", ["REDSHIFTS"]) as rr:
            table = rr["REDSHIFTS"].data
            redshifts = {int(t): float(z) for t, z, w in zip(table["TARGETID"], table["Z"], table["ZWARN"])
                         if int(w) == 0}

    records = []
    for row, fibre in enumerate(fibermap):
        target = int(fibre["TARGETID"])
        if target < 0 or str(fibre["OBJTYPE"]).strip() != "TGT":
            continue
        spectra = [
            {
                "wavelength": np.asarray(arms[a]["WAVELENGTH"], dtype=np.float64),
                "flux": np.asarray(arms[a]["FLUX"][row], dtype=np.float32),
                "ivar": np.asarray(arms[a]["IVAR"][row], dtype=np.float32),
                "mask": np.asarray(arms[a]["MASK"][row]) != 0,
            }
            for a in ARMS
        ]
        bands = photometry_bands(str(fibre["PHOTSYS"]))
        keys = ["G", "R", "Z", "W1", "W2"]
        records.append({
            "object_id": f"desi-{target}",
            "survey": "desi",
            "ra": float(fibre["TARGET_RA"]),
            "dec": float(fibre["TARGET_DEC"]),
            "spectrum": spectra,
            "photometry": {
                "band": bands,
                "flux": np.asarray([fibre[f"FLUX_{k}"] for k in keys], dtype=np.float32),
                "flux_ivar": np.asarray([fibre[f"FLUX_IVAR_{k}"] for k in keys], dtype=np.float32),
            },
            "image": None,
            "properties": {"redshift": redshifts[target]} if target in redshifts else None,
        })
    return records
