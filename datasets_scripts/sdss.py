"""SDSS/BOSS ``spec-PLATE-MJD-FIBER.fits`` files -> galaxy records.

HDU1 ``COADD``: ``loglam`` (log10 vacuum Angstrom), ``flux`` (1e-17 erg/s/cm2/A), ``ivar``, ``and_mask``;
HDU2 (``SPECOBJ`` in DR8+ lite/full files, ``SPALL`` in BOSS v5_13_2): ``Z``, ``ZWARNING``, ``CLASS``,
``PLUG_RA``/``PLUG_DEC``, ``CALIBFLUX`` (ugriz fibre fluxes from the SDSS imaging, nanomaggies) and
``SPECTROFLUX`` (the spectrum projected onto ugriz). ``wdisp`` (the LSF sigma in pixels) becomes the record's
``spectrum.lsf_sigma`` in Angstrom (`lsf_sigma_angstrom`).

The photometry is the imaging's fibre flux (``CALIBFLUX``, with its ivar) band by band; a band without it falls
back on ``SPECTROFLUX`` only where the spectrum covers the filter (`spectrum_covers_band`). The spectrograph
covers 3800-9200 A (SDSS; BOSS 3600-10400 A) while u spans 2980-4130 A and z 7700-11200 A, so ``SPECTROFLUX``
u and z are partly extrapolations: on the bundled SDSS galaxies SPECTROFLUX u is 0.4-0.6 mag brighter than the
imaging's u in the same fibre.

Spectrum and photometry are corrected for Milky-Way extinction (`galfm.datasets_scripts.galactic_extinction`):
E(B-V) from BOSS's ``EXTINCTION`` where the file has it, else from the SFD map at PLUG_RA/PLUG_DEC; the flags
``mw_ebv=...`` and ``mw_ebv_source=...`` record which.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from galfm.filters_galfm import load_filter

from .fits_files import open_fits
from .galactic_extinction import (
    BAND_COEFFICIENTS,
    SFD_MAP_SOURCE,
    deredden_photometry,
    deredden_spectrum,
    extinction_flags,
    sfd_ebv,
)
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader

# SPPIXMASK bits that make a pixel unusable (SDSS DR17 bitmask reference): NOPLUG, BADTRACE, BADFLAT, BADARC,
# FULLREJECT, NOSKY, BRIGHTSKY, NODATA, COMBINEREJ, BADFLUXFACTOR, BADSKYCHI. Informational bits
# (MANYBADCOLUMNS, NEARBADPIXEL, LOWFLAT, PARTIALREJECT, SCATTEREDLIGHT, CROSSTALK) are set on ~half of all
# good pixels and do not mask.
BAD_PIXEL_BITS = (0, 1, 2, 3, 18, 22, 23, 24, 25, 26, 27)
BAD_PIXEL_MASK = sum(1 << b for b in BAD_PIXEL_BITS)
SDSS_BANDS = tuple(f"sdss_{b}" for b in "ugriz")
COVERED_RESPONSE = 0.99
"""A synthetic band flux from the spectrum counts as measured when the good pixels span this share of the
filter's response (the rest is extrapolation)."""


@cache
def _response_span(band: str) -> tuple[float, float]:
    """(lo, hi) Angstrom holding the central ``COVERED_RESPONSE`` of the filter's photon-weighted response."""
    curve = load_filter(band)
    wave = np.asarray(curve.wavelength, dtype=float)
    weight = np.asarray(curve.response, dtype=float) * wave
    cumulative = np.cumsum(weight) / weight.sum()
    tail = (1.0 - COVERED_RESPONSE) / 2
    lo, hi = np.interp([tail, 1.0 - tail], cumulative, wave)
    return float(lo), float(hi)


def spectrum_covers_band(wavelength: np.ndarray, good: np.ndarray, band: str) -> bool:
    """Whether the good pixels span the filter's central ``COVERED_RESPONSE`` of its photon-weighted response."""
    lo, hi = _response_span(band)
    inside = wavelength[good]
    return inside.size > 0 and inside.min() <= lo and inside.max() >= hi


def galactic_ebv(meta, columns: list[str], header) -> tuple[float | None, str]:
    """(SFD E(B-V), where it came from): BOSS's ``EXTINCTION`` (A_ugriz, Schlafly & Finkbeiner coefficients) as
    A_r / 2.285, else the SFD map at PLUG_RA/PLUG_DEC (DR7-era and DR8+ SPECOBJ rows carry no extinction);
    (None, "none") without coordinates."""
    if meta is not None and "EXTINCTION" in columns:
        a_r = float(np.asarray(meta["EXTINCTION"])[2])
        if np.isfinite(a_r) and a_r > 0:
            return a_r / BAND_COEFFICIENTS["sdss_r"], "sdss_extinction"
    ra, dec = sky_position(meta, columns, header)
    if ra is None or dec is None:
        return None, "none"
    return float(sfd_ebv(ra, dec)), SFD_MAP_SOURCE


POSITION_COLUMNS = (("PLUG_RA", "PLUG_DEC"), ("RACAT", "DECCAT"), ("FIBER_RA", "FIBER_DEC"), ("RA", "DEC"))
"""Where a spec file's metadata row (or header) gives the fibre's sky position: plate-era files PLUG_RA/DEC,
SDSS-V (robotic FPS) files RACAT/DECCAT and FIBER_RA/DEC."""


def sky_position(meta, columns: list[str], header) -> tuple[float | None, float | None]:
    """(ra, dec) in degrees from the first of `POSITION_COLUMNS` the row has (finite), else the header."""
    for ra_key, dec_key in POSITION_COLUMNS:
        for source, keys in ((meta, columns), (header, header)):
            if source is not None and ra_key in keys and dec_key in keys:
                ra, dec = float(source[ra_key]), float(source[dec_key])
                if np.isfinite(ra) and np.isfinite(dec):
                    return ra, dec
    return None, None


def _photometry(meta, columns: list[str], spectrum: dict) -> tuple[dict | None, str | None]:
    """(ugriz fibre photometry, its source flag): per band the imaging's CALIBFLUX, else a SPECTROFLUX the
    spectrum covers; None where no band has a flux with an ivar."""
    sources = [(name, f"{name}_IVAR") for name in ("CALIBFLUX", "SPECTROFLUX")
               if meta is not None and name in columns and f"{name}_IVAR" in columns]
    good = (spectrum["ivar"] > 0) & ~spectrum["mask"]
    bands, flux, ivar, used = [], [], [], []
    for i, band in enumerate(SDSS_BANDS):
        for name, ivar_name in sources:
            value, weight = float(meta[name][i]), float(meta[ivar_name][i])
            if not (np.isfinite(value) and np.isfinite(weight) and weight > 0):
                continue
            if name == "SPECTROFLUX" and not spectrum_covers_band(spectrum["wavelength"], good, band):
                continue
            bands.append(band)
            flux.append(value)
            ivar.append(weight)
            used.append(f"{band[-1]}:{name}")
            break
    if not bands:
        return None, None
    photometry = {"band": bands, "flux": np.asarray(flux, np.float32), "flux_ivar": np.asarray(ivar, np.float32)}
    return photometry, "sdss_ugriz=" + ",".join(used)


def _wavelength(loglam: np.ndarray, coeff0: float | None, coeff1: float | None) -> np.ndarray:
    """Vacuum Angstrom from ``loglam``; snapped to the exact COEFF0 + COEFF1 * i grid when the header has it
    (``loglam`` is stored as float32, ~2e-7 dex of rounding)."""
    loglam = np.asarray(loglam, dtype=np.float64)
    if coeff0 is not None and coeff1:
        index = np.round((loglam - coeff0) / coeff1)
        exact = coeff0 + coeff1 * index
        if np.max(np.abs(exact - loglam)) < 0.1 * coeff1:
            loglam = exact
    return 10.0**loglam


def lsf_sigma_angstrom(coadd, coeff1: float | None) -> np.ndarray | None:
    """Gaussian LSF sigma per pixel (Angstrom) from the coadd's ``wdisp``, which idlspec2d gives in pixels of
    ``COEFF1`` dex (1e-4 for SDSS and BOSS): sigma = wdisp * COEFF1 * ln(10) * lambda. Pixels without a positive
    ``wdisp`` (masked ones) take the value interpolated from their neighbours; None without a usable column."""
    if "wdisp" not in [name.lower() for name in coadd.columns.names]:
        return None  # e.g. SDSS-V files, whose WRESL is not read here
    wdisp = np.asarray(coadd["wdisp"], dtype=np.float64)
    good = np.isfinite(wdisp) & (wdisp > 0)
    if good.sum() < 2:
        return None
    index = np.arange(wdisp.size)
    wdisp = np.interp(index, index[good], wdisp[good])
    wavelength = 10.0 ** np.asarray(coadd["loglam"], dtype=np.float64)
    return (wdisp * (coeff1 or 1e-4) * np.log(10.0) * wavelength).astype(np.float32)


def read_spec(path: str | os.PathLike) -> dict[str, Any]:
    """One SDSS spectrum file as a galaxy record.

    The pipeline redshift always enters ``properties.redshift``; when ``ZWARNING != 0`` it carries the flag
    ``sdss_zwarning=N`` and tasks leave it out of their labels (`galfm.datasets_scripts.schema.trusted_properties`).
    Photometry: see the module docstring; a flux without an ivar is left out rather than given invented errors,
    and the flag ``sdss_ugriz=u:CALIBFLUX,...`` says where each band came from.
    ``CLASS`` (GALAXY, QSO, STAR) is kept as the flag ``sdss_class=...`` and
    ``Z_ERR`` as ``sdss_z_err=...``.
    """
    with open_fits(path, "an SDSS spec-PLATE-MJD-FIBER.fits", ["COADD"]) as hdus:
        names = [h.name for h in hdus]
        coadd = hdus["COADD"].data
        meta_hdu = next((hdus[n] for n in ("SPECOBJ", "SPALL") if n in names), None)
        meta = meta_hdu.data[0] if meta_hdu is not None else None
        columns = meta_hdu.columns.names if meta_hdu is not None else []
        header = hdus[0].header
        spectrum = {
            "wavelength": _wavelength(coadd["loglam"], header.get("COEFF0"), header.get("COEFF1")),
            "flux": coadd["flux"].astype(np.float32),
            "ivar": coadd["ivar"].astype(np.float32),
            "mask": (coadd["and_mask"].astype(np.int64) & BAD_PIXEL_MASK) != 0,
            "lsf_sigma": lsf_sigma_angstrom(coadd, header.get("COEFF1")),
        }
        plate, mjd, fiber = header.get("PLATEID"), header.get("MJD"), header.get("FIBERID")
        ra, dec = sky_position(meta, columns, header)
    # plate-era files by plate-mjd-fibre; SDSS-V's spec-FIELD-MJD-CATALOGID by the name it has
    object_id = (f"sdss-{plate:04d}-{mjd}-{fiber:04d}" if None not in (plate, mjd, fiber) else
                 "sdss-" + Path(path).name.split(".fits")[0].removeprefix("spec-"))
    record: dict[str, Any] = {
        "object_id": object_id,
        "survey": "sdss",
        "ra": ra,
        "dec": dec,
        "spectrum": spectrum,
        "photometry": None,
        "image": None,
        "properties": None,
        "flags": [],
    }
    if meta is not None and "CLASS" in columns:
        record["flags"].append(f"sdss_class={str(meta['CLASS']).strip()}")
    if meta is not None and int(meta["ZWARNING"]) != 0:
        record["flags"].append(f"sdss_zwarning={int(meta['ZWARNING'])}")
    elif meta is not None and "Z_ERR" in columns:
        record["flags"].append(f"sdss_z_err={float(meta['Z_ERR']):.3g}")
    ebv, ebv_source = galactic_ebv(meta, columns, header)
    record["flags"].extend(extinction_flags(ebv, ebv_source))
    record["photometry"], source = _photometry(meta, columns, spectrum)
    if ebv is not None:
        record["spectrum"] = deredden_spectrum(spectrum, ebv)
        record["photometry"] = deredden_photometry(record["photometry"], ebv)
    if source:
        record["flags"].append(source)
    if meta is not None and np.isfinite(meta["Z"]):
        record["properties"] = {"redshift": float(meta["Z"])}
    return record


def _read(path: Path) -> list[dict[str, Any]]:
    return [read_spec(path)]


READER = SurveyReader("sdss", ("spec-*.fits",), _read, "SDSS/BOSS spec-PLATE-MJD-FIBER.fits (lite or full)")



class SDSSSpectra(SurveyFilesBuilder):
    """SDSS/BOSS spectra as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
