"""SDSS-IV MaNGA data cubes (``manga-PLATE-IFU-LOGCUBE.fits.gz``) -> spectra of apertures (or of single spaxels).

The DRP cube format (SDSS DR15-DR17 data model): ``FLUX`` (wavelength, y, x) in 1e-17 erg/s/cm2/A per spaxel
(``BUNIT = '1E-17 erg/s/cm^2/Ang/spaxel'``) with its celestial WCS (0.5" spaxels), ``IVAR``, ``MASK`` (the
MANGA_DRP3PIXMASK bits: NOCOV 0, LOWCOV 1, DEADFIBER 2, FORESTAR 3, DONOTUSE 10 make a value unusable), ``WAVE``
(vacuum Angstrom, log-uniform, 3622-10354 A) and the LSF: ``LSFPOST`` (DR17) or ``DISP`` (DR15), Gaussian sigma
in Angstrom per spaxel and wavelength, which becomes ``spectrum.lsf_sigma``. The primary header gives
``PLATEIFU``, ``OBJRA``/``OBJDEC`` (the target), ``EBVGAL`` (SFD E(B-V), used to de-redden with galfm's one
Galactic curve rather than the file's own ``REDCORR``) and ``MNGTARG1`` (non-zero: a galaxy of the main
samples, kept as ``manga_class=GALAXY``).

A cube has no redshift of its own; a ``drpall-*.fits`` catalogue in the same folder (columns ``PLATEIFU`` and
``NSA_Z`` or ``Z``) gives ``properties.redshift``. The default record is the spectrum summed in a 1.5"-radius
aperture on the target (the size of an SDSS fibre); ``spaxels=True`` gives every spaxel instead.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from .fits_files import open_fits
from .galactic_extinction import SFD_MAP_SOURCE, extinction_flags, sfd_ebv, spectrum_transmission
from .muse import Cube, cube_records, flux_density_scale
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader

UNUSABLE_BITS = (0, 1, 2, 3, 10)  # NOCOV, LOWCOV, DEADFIBER, FORESTAR, DONOTUSE
UNUSABLE_MASK = sum(1 << b for b in UNUSABLE_BITS)
LSF_HDUS = ("LSFPOST", "DISP")  # DR17, DR15: post-pixelised Gaussian sigma, Angstrom
MANGA_HDUS = frozenset({"FLUX", "IVAR", "MASK", "WAVE"})
"""The extensions that make a file a MaNGA cube (how `ifu_cubes` and the real-sky benchmark recognise one)."""
EXPECTED = "a MaNGA manga-PLATE-IFU-LOGCUBE.fits(.gz) (FLUX, IVAR, MASK, WAVE extensions)"


def _bunit(header) -> str:
    """MaNGA's BUNIT in astropy's spelling: '1E-17 erg/s/cm^2/Ang/spaxel' -> '1E-17 erg/s/cm^2/Angstrom'."""
    text = str(header.get("BUNIT", "1E-17 erg/s/cm^2/Ang/spaxel")).replace("/spaxel", "")
    return re.sub(r"\bAng\b", "Angstrom", text)


def load_manga_cube(path: str | os.PathLike) -> Cube:
    """The FLUX/IVAR cube of a MaNGA LOGCUBE in record units, de-reddened, with its LSF and target flags."""
    with open_fits(path, EXPECTED, sorted(MANGA_HDUS)) as hdus:
        primary, header = hdus[0].header.copy(), hdus["FLUX"].header.copy()
        flux = np.asarray(hdus["FLUX"].data, dtype=float)
        ivar = np.asarray(hdus["IVAR"].data, dtype=float)
        mask = np.asarray(hdus["MASK"].data).astype(np.int64)
        wavelength = np.asarray(hdus["WAVE"].data, dtype=np.float64)
        lsf_hdu = next((name for name in LSF_HDUS if name in hdus), None)
        lsf = None if lsf_hdu is None else np.asarray(hdus[lsf_hdu].data, dtype=float)
    if flux.ndim != 3 or not (flux.shape == ivar.shape == mask.shape) or flux.shape[0] != wavelength.size:
        raise ValueError(f"{path}: FLUX {flux.shape}, IVAR {ivar.shape}, MASK {mask.shape} and WAVE "
                         f"{wavelength.shape} must be matching (wavelength, y, x) cubes; expected {EXPECTED}")
    if lsf is not None and lsf.shape != flux.shape:
        lsf = None  # an LSF of another shape (a summary vector) is not per spaxel: leave it out, not guess
    scale = flux_density_scale(path, _bunit(header), "MaNGA's 1E-17 erg/s/cm^2/Ang/spaxel")
    good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0) & ((mask & UNUSABLE_MASK) == 0)
    var = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    wcs = WCS(header).celestial
    target = _target(primary, wcs, flux.shape)
    if "EBVGAL" in primary and np.isfinite(float(primary["EBVGAL"])):
        ebv, source = float(primary["EBVGAL"]), "manga_ebvgal"
    else:
        ebv, source = float(sfd_ebv(*target)), SFD_MAP_SOURCE
    boost = (1.0 / spectrum_transmission(wavelength, ebv))[:, None, None]
    plateifu = str(primary.get("PLATEIFU", Path(path).name.split(".fits")[0])).strip()
    flags = [f"manga_plateifu={plateifu}"]
    if int(primary.get("MNGTARG1", 0) or 0) > 0:
        flags.append("manga_class=GALAXY")
    if lsf is not None:
        lsf = np.where(np.isfinite(lsf) & (lsf > 0), lsf, np.nan)
        lsf = np.where(np.isnan(lsf), np.nanmedian(lsf, axis=(1, 2), keepdims=True), lsf)
    return Cube(wavelength, np.where(good, flux, 0.0) * scale * boost, var * (scale * boost) ** 2, good, wcs,
                header, extinction_flags(ebv, source), survey="manga", lsf_sigma=lsf, flags=flags, target=target,
                name=plateifu)


def _target(primary, wcs: WCS, shape: tuple[int, ...]) -> tuple[float, float]:
    """(ra, dec) of the target: OBJRA/OBJDEC, else IFURA/IFUDEC, else the cube centre."""
    for ra_key, dec_key in (("OBJRA", "OBJDEC"), ("IFURA", "IFUDEC")):
        if ra_key in primary and dec_key in primary:
            return float(primary[ra_key]), float(primary[dec_key])
    centre = wcs.pixel_to_world((shape[2] - 1) / 2, (shape[1] - 1) / 2)
    return float(centre.ra.deg), float(centre.dec.deg)


def drpall_redshifts(folder: str | os.PathLike) -> dict[str, float]:
    """PLATEIFU -> redshift from every ``drpall-*.fits`` in ``folder`` (NSA_Z where the catalogue has it, else Z;
    rows without a positive finite value are left out). Read once per folder and catalogue version."""
    catalogues = tuple((str(p), p.stat().st_mtime_ns) for p in sorted(Path(folder).glob("drpall-*.fits*")))
    return dict(_drpall_redshifts(catalogues))


@cache
def _drpall_redshifts(catalogues: tuple[tuple[str, int], ...]) -> tuple[tuple[str, float], ...]:
    redshifts: dict[str, float] = {}
    for catalogue, _ in catalogues:
        with open_fits(catalogue, "a MaNGA drpall-*.fits catalogue (PLATEIFU, NSA_Z or Z)", []) as hdus:
            table = next(h.data for h in hdus if isinstance(h, fits.BinTableHDU) and "PLATEIFU" in h.columns.names)
            column = next((c for c in ("NSA_Z", "Z", "nsa_z", "z") if c in table.columns.names), None)
            if column is None:
                raise ValueError(f"{catalogue}: no NSA_Z or Z column; expected a MaNGA drpall catalogue")
            for plateifu, z in zip(table["PLATEIFU"], table[column]):
                if np.isfinite(z) and z > 0:
                    redshifts[str(plateifu).strip()] = float(z)
    return tuple(redshifts.items())


def read_manga_cube(path: str | os.PathLike, positions: list[tuple[float, float]] | None = None,
                    aperture_arcsec: float = 1.5, spaxels: bool = False) -> list[dict[str, Any]]:
    """Aperture spectra at ``positions`` (ra, dec in degrees; default: the target), or every spaxel (ids
    ``manga-PLATE-IFU-ap0``, ``manga-PLATE-IFU-Y-X``), with the drpall redshift where a catalogue is beside the cube
    (flag ``manga_z_source=drpall``)."""
    cube = load_manga_cube(path)
    records = cube_records(cube, positions or [cube.target], aperture_arcsec, spaxels)
    z = drpall_redshifts(Path(path).parent).get(cube.name)
    if z is not None:
        for record in records:
            record["properties"] = {"redshift": z}
            record["flags"].append("manga_z_source=drpall")
    return records


READER = SurveyReader("manga", ("manga-*-LOGCUBE*.fits",), read_manga_cube,
                      "SDSS-IV MaNGA LOGCUBE data cubes (aperture or spaxel spectra; drpall redshifts)")


class MaNGACubes(SurveyFilesBuilder):
    """MaNGA LOGCUBE files as a ``datasets`` builder (``data_dir=`` the folder of cubes and, optionally, drpall)."""

    READER = READER
