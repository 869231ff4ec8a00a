"""DESI ``coadd-*.fits`` (+ ``redrock-*.fits`` / ``zbest-*.fits``) -> galaxy records.

``FIBERMAP`` gives TARGETID, TARGET_RA/DEC, PHOTSYS, EBV and the Legacy Surveys fluxes FLUX_G/R/Z/W1/W2 with
FLUX_IVAR_* (nanomaggies, *not* corrected for Galactic extinction); per arm B/R/Z, ``*_WAVELENGTH`` (vacuum
Angstrom, shared by all fibres), ``*_FLUX`` (1e-17 erg/s/cm2/A), ``*_IVAR``, ``*_MASK`` and ``*_RESOLUTION``
(the resolution matrix, whose width per pixel becomes ``spectrum.lsf_sigma``, `lsf_sigma_angstrom`). Both file layouts
are read: healpix (``coadd-main-dark-10032.fits``) and tile (``coadd-4-80613-thru20210324.fits``); the redshift
file beside a coadd is found by its name.

Photometry and spectrum are corrected for Milky-Way extinction at the fibre's ``EBV`` (SFD; the map at
TARGET_RA/DEC where the column is absent), the photometry with the Legacy Surveys DR9 coefficients, the spectrum
with their curve (`galfm.datasets_scripts.galactic_extinction`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .fits_files import open_fits
from .galactic_extinction import SFD_MAP_SOURCE, deredden_photometry, deredden_spectrum, extinction_flags, sfd_ebv
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import photometry_struct

ARMS = ("B", "R", "Z")
FLUX_KEYS = ("G", "R", "Z", "W1", "W2")


def photometry_bands(photsys: str) -> list[str]:
    """Legacy Surveys DR9 bands of a target: BASS g,r + MzLS z in the north ('N'), DECam g,r,z in the south."""
    optical = ["bass_g", "bass_r", "mzls_z"] if photsys.strip() == "N" else ["decam_g", "decam_r", "decam_z"]
    return [*optical, "wise_w1", "wise_w2"]


def merge_arms(arms: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One spectrum on the union of the arms' pixels; where arms overlap, the inverse-variance-weighted mean.

    The arms share DESI's 0.8 Angstrom grid (pixel centres equal to 0.01 A), so overlapping pixels coincide.
    A pixel is masked only if no arm has a good measurement there; the LSF sigma of an overlapping pixel is the
    same inverse-variance-weighted mean (the plain mean where neither arm has a good measurement).
    """
    keys = [np.round(a["wavelength"], 2) for a in arms]
    grid, first = np.unique(np.concatenate(keys), return_index=True)
    weighted, ivar = np.zeros(grid.size), np.zeros(grid.size)
    lsf_weighted, lsf_plain, count = np.zeros(grid.size), np.zeros(grid.size), np.zeros(grid.size)
    with_lsf = all(a.get("lsf_sigma") is not None for a in arms)
    for arm, key in zip(arms, keys):
        index = np.searchsorted(grid, key)
        good_ivar = np.where(arm["mask"], 0.0, np.asarray(arm["ivar"], dtype=float))
        np.add.at(weighted, index, good_ivar * arm["flux"])
        np.add.at(ivar, index, good_ivar)
        np.add.at(count, index, 1.0)
        if with_lsf:
            np.add.at(lsf_weighted, index, good_ivar * arm["lsf_sigma"])
            np.add.at(lsf_plain, index, arm["lsf_sigma"])
    flux = np.divide(weighted, ivar, out=np.zeros_like(weighted), where=ivar > 0)
    lsf = None
    if with_lsf:
        lsf = np.where(ivar > 0, lsf_weighted / np.where(ivar > 0, ivar, 1.0), lsf_plain / count).astype(np.float32)
    wavelength = np.concatenate([a["wavelength"] for a in arms])[first]
    return {"wavelength": wavelength.astype(np.float64), "flux": flux.astype(np.float32),
            "ivar": ivar.astype(np.float32), "mask": ivar == 0, "lsf_sigma": lsf}


def lsf_sigma_angstrom(resolution: np.ndarray, wavelength: np.ndarray) -> np.ndarray:
    """Gaussian-equivalent LSF sigma per pixel (Angstrom) of one fibre's resolution matrix.

    DESI stores the matrix by diagonals, (ndiag, nwave) with offsets ndiag // 2 ... -ndiag // 2; the column of
    pixel j is its line-spread profile. Its second moment about its centroid, in pixels, times the pixel width
    (0.8 A) is the sigma; pixels without a profile (masked) take their neighbours' value. The matrix maps the
    true spectrum to the extracted pixels, so this includes the spectrograph's and the extraction's broadening."""
    kernel = np.clip(np.asarray(resolution, dtype=np.float64), 0.0, None)
    offsets = (kernel.shape[0] // 2 - np.arange(kernel.shape[0]))[:, None].astype(float)
    total = kernel.sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    centre = (kernel * offsets).sum(axis=0) / safe
    sigma_pixels = np.sqrt(np.clip((kernel * (offsets - centre) ** 2).sum(axis=0) / safe, 0.0, None))
    good = sigma_pixels > 0  # pixels the extraction gave no profile (masked) take their neighbours' value
    if 2 <= good.sum() < good.size:
        index = np.arange(good.size)
        sigma_pixels = np.interp(index, index[good], sigma_pixels[good])
    return (sigma_pixels * np.gradient(np.asarray(wavelength, dtype=np.float64))).astype(np.float32)


def redshift_file(coadd: Path) -> Path | None:
    """The redrock (or older zbest) file beside a coadd, by DESI's naming (gzipped or not, either of them)."""
    stem = coadd.name.removesuffix(".gz")
    for prefix in ("redrock-", "zbest-"):
        for suffix in ("", ".gz"):
            candidate = coadd.with_name(stem.replace("coadd-", prefix, 1) + suffix)
            if candidate.is_file():
                return candidate
    return None


def read_coadd(path: str | os.PathLike, redrock: str | os.PathLike | None = None,
               merge: bool = True) -> list[dict[str, Any]]:
    """Galaxy records of a DESI coadd file; unassigned (TARGETID < 0) and sky fibres are skipped.

    ``redrock`` adds ``properties.redshift`` (and the flag ``desi_spectype=...``); a redshift with ``ZWARN != 0``
    is kept with the flag ``desi_zwarn=N``, which tasks respect. ``merge=False`` keeps the three arms as a list
    (``GalFMProcessor`` merges them too).
    """
    needed = ["FIBERMAP", *[f"{a}_{k}" for a in ARMS for k in ("WAVELENGTH", "FLUX", "IVAR", "MASK")]]
    with open_fits(path, "a DESI coadd-*.fits", needed) as hdus:
        fibermap = hdus["FIBERMAP"].data
        arms = {a: {k: hdus[f"{a}_{k}"].data for k in ("WAVELENGTH", "FLUX", "IVAR", "MASK")} for a in ARMS}
        for a in ARMS:  # optional: files written without resolution data still read, with lsf_sigma None
            arms[a]["RESOLUTION"] = hdus[f"{a}_RESOLUTION"].data if f"{a}_RESOLUTION" in hdus else None
    redshifts: dict[int, tuple[float, int, str]] = {}
    if redrock is not None:
        with open_fits(redrock, "a DESI redrock-*.fits or zbest-*.fits", []) as rr:
            name = "REDSHIFTS" if "REDSHIFTS" in rr else "ZBEST"
            table = rr[name].data
            redshifts = {int(t): (float(z), int(w), str(s).strip())
                         for t, z, w, s in zip(table["TARGETID"], table["Z"], table["ZWARN"], table["SPECTYPE"])}

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
                "lsf_sigma": (None if arms[a]["RESOLUTION"] is None else
                              lsf_sigma_angstrom(arms[a]["RESOLUTION"][row], arms[a]["WAVELENGTH"])),
            }
            for a in ARMS
        ]
        if "EBV" in fibermap.columns.names:
            ebv, ebv_source = float(fibre["EBV"]), "desi_ebv"
        else:
            ebv, ebv_source = float(sfd_ebv(fibre["TARGET_RA"], fibre["TARGET_DEC"])), SFD_MAP_SOURCE
        spectra = [deredden_spectrum(arm, ebv) for arm in spectra]
        photometry = photometry_struct(photometry_bands(str(fibre["PHOTSYS"])),
                                       np.asarray([fibre[f"FLUX_{k}"] for k in FLUX_KEYS], dtype=float),
                                       np.asarray([fibre[f"FLUX_IVAR_{k}"] for k in FLUX_KEYS], dtype=float))
        record = {
            "object_id": f"desi-{target}", "survey": "desi",
            "ra": float(fibre["TARGET_RA"]), "dec": float(fibre["TARGET_DEC"]),
            "spectrum": merge_arms(spectra) if merge else spectra,
            "photometry": deredden_photometry(photometry, ebv),
            "image": None, "properties": None, "flags": extinction_flags(ebv, ebv_source),
        }
        if target in redshifts:
            z, zwarn, spectype = redshifts[target]
            record["flags"].append(f"desi_spectype={spectype}")
            record["properties"] = {"redshift": z}
            if zwarn != 0:
                record["flags"].append(f"desi_zwarn={zwarn}")
        records.append(record)
    return records


def _read(path: Path) -> list[dict[str, Any]]:
    return read_coadd(path, redshift_file(path))


READER = SurveyReader("desi", ("coadd-*.fits",), _read, "DESI coadd-*.fits with redrock-/zbest- beside them")



class DESISpectra(SurveyFilesBuilder):
    """DESI coadds (+ redshifts) as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
