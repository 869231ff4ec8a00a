"""Legacy Surveys (DR8-DR10) catalogues and brick images -> galaxy records.

Catalogues: ``tractor-BRICK.fits`` and ``sweep-*.fits`` with FLUX_G/R/Z/W1..W4 and FLUX_IVAR_* in nanomaggies
(no TUNIT), MW_TRANSMISSION_* (Galactic transmission, divided out here), NOBS_*, TYPE, SHAPE_R/E1/E2 (DR9+;
SHAPEEXP_*/SHAPEDEV_* in DR8 sweeps) and SERSIC. A band with FLUX_IVAR = 0 or NOBS = 0 was not measured and is
left out. Northern objects (PHOTSYS 'N', or RELEASE 8001/9011) are BASS g,r + MzLS z; the rest DECam.

Brick images: ``legacysurvey-BRICK-image-BAND.fits.fz`` (tile-compressed, nanomaggies per 0.262" pixel) with
``...-invvar-BAND.fits.fz``; ``cutout`` cuts a square around a sky position with astropy WCS. Pixels outside
the brick or without data have ivar 0 (and flux 0).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.nddata import Cutout2D, NoOverlapError
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from .fits_files import open_fits
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import photometry_struct

OPTICAL = ("G", "R", "Z")
WISE = ("W1", "W2", "W3", "W4")
NORTH_RELEASES = (8001, 9011)
MODEL_SERSIC_INDEX = {"EXP": 1.0, "REX": 1.0, "DEV": 4.0}


def _is_north(row, names: list[str]) -> bool:
    if "PHOTSYS" in names:
        return str(row["PHOTSYS"]).strip() == "N"
    return int(row["RELEASE"]) in NORTH_RELEASES


def _shape(row, names: list[str], model: str) -> tuple[float | None, float | None, float | None]:
    """(half-light radius arcsec, axis ratio b/a, Sersic index) of the Tractor model; None for point sources."""
    if model in ("PSF", "DUP", ""):
        return None, None, None
    prefix = "SHAPE" if "SHAPE_R" in names else ("SHAPEDEV" if model == "DEV" else "SHAPEEXP")
    r, e1, e2 = (float(row[f"{prefix}_{k}"]) for k in ("R", "E1", "E2"))
    e = min(np.hypot(e1, e2), 0.999)
    sersic = float(row["SERSIC"]) if model == "SER" and "SERSIC" in names else MODEL_SERSIC_INDEX.get(model)
    return (r if r > 0 else None), (1 - e) / (1 + e), sersic


def band_name(letter: str, north: bool) -> str:
    """Canonical band of a Legacy Surveys flux column: BASS g,r / MzLS z in the north, DECam in the south."""
    letter = letter.lower()
    if letter.startswith("w"):
        return f"wise_{letter}"
    if north:
        return f"mzls_{letter}" if letter == "z" else f"bass_{letter}"
    return f"decam_{letter}"


def catalog_records(table, survey: str = "legacysurvey") -> list[dict[str, Any]]:
    """Records (photometry, shape, flags) of the rows of a tractor or sweep table."""
    names = list(table.columns.names)
    bands_present = [b for b in (*OPTICAL, *WISE) if f"FLUX_{b}" in names]
    records = []
    for row in table:
        north = _is_north(row, names)
        bands, flux, ivar = [], [], []
        for b in bands_present:
            transmission = float(row[f"MW_TRANSMISSION_{b}"]) if f"MW_TRANSMISSION_{b}" in names else 1.0
            measured = f"NOBS_{b}" not in names or int(row[f"NOBS_{b}"]) > 0
            bands.append(band_name(b, north))
            flux.append(float(row[f"FLUX_{b}"]) / transmission)
            ivar.append(float(row[f"FLUX_IVAR_{b}"]) * transmission**2 if measured else 0.0)
        model = str(row["TYPE"]).strip()
        r_eff, axis_ratio, sersic = _shape(row, names, model)
        properties = {"r_eff": r_eff, "axis_ratio": axis_ratio, "sersic_n": sersic}
        flags = [f"ls_type={model}"]
        if "MASKBITS" in names and int(row["MASKBITS"]):
            flags.append(f"ls_maskbits={int(row['MASKBITS'])}")
        records.append({
            "object_id": f"ls-{int(row['RELEASE'])}-{int(row['BRICKID'])}-{int(row['OBJID'])}", "survey": survey,
            "ra": float(row["RA"]), "dec": float(row["DEC"]), "spectrum": None,
            "photometry": photometry_struct(bands, np.array(flux), np.array(ivar)), "image": None,
            "properties": properties if any(v is not None for v in properties.values()) else None,
            "flags": flags,
        })
    return records


def _load_table(path: str | os.PathLike):
    with open_fits(path, "a Legacy Surveys tractor-*.fits or sweep-*.fits catalogue", []) as hdus:
        table = hdus[1].data
    missing = [c for c in ("RA", "DEC", "TYPE", "FLUX_G", "FLUX_IVAR_G", "RELEASE", "BRICKID", "OBJID")
               if c not in table.columns.names]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected a Legacy Surveys catalogue")
    return table


def read_catalog(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All rows of a ``tractor-*.fits`` or ``sweep-*.fits`` file."""
    return catalog_records(_load_table(path))


def cutout(image_path: str | os.PathLike, invvar_path: str | os.PathLike, ra: float, dec: float,
           size: int = 64) -> tuple[np.ndarray, np.ndarray, float]:
    """(flux, ivar, pixel scale in arcsec) of a size x size cut-out of a brick image centred on (ra, dec).

    Outside the brick, and where the brick has no data (invvar 0), the cut-out has ivar 0 and flux 0.
    """
    expected = "a Legacy Surveys legacysurvey-BRICK-{image,invvar}-BAND.fits.fz brick"
    with open_fits(image_path, expected, []) as img, open_fits(invvar_path, expected, []) as inv:
        hdu = next(h for h in img if h.data is not None)
        wcs = WCS(hdu.header)
        invvar = next(h for h in inv if h.data is not None).data
        position = SkyCoord(ra, dec, unit="deg")
        kwargs = dict(position=position, size=(size, size), wcs=wcs, mode="partial", fill_value=0.0)
        try:
            flux = Cutout2D(np.asarray(hdu.data, dtype=np.float32), **kwargs).data
            ivar = Cutout2D(np.asarray(invvar, dtype=np.float32), **kwargs).data
        except NoOverlapError as err:
            raise ValueError(f"{image_path}: (ra, dec) = ({ra}, {dec}) lies outside this brick") from err
    flux = np.where(ivar > 0, flux, 0.0).astype(np.float32)
    scale = float(np.mean(proj_plane_pixel_scales(wcs)) * 3600)
    return flux, ivar.astype(np.float32), scale


def brick_images(directory: Path, brick: str) -> dict[str, tuple[Path, Path]]:
    """{band letter: (image, invvar)} of the brick's image files found in ``directory``."""
    found = {}
    for image in directory.rglob(f"legacysurvey-{brick}-image-*.fits*"):
        band = image.name.split("-image-")[1].split(".")[0]
        invvar = image.with_name(image.name.replace("-image-", "-invvar-"))
        if invvar.is_file():
            found[band] = (image, invvar)
    return found


def _read(path: Path, cutout_size: int = 64, image_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Catalogue rows, with g/r/z cut-outs where the row's brick images are found under ``image_dir`` (default:
    the catalogue's folder; for a full data release pass its ``coadd`` folder)."""
    table = _load_table(path)
    records = catalog_records(table)
    search = Path(image_dir) if image_dir is not None else path.parent
    bricks = ([str(b).strip() for b in table["BRICKNAME"]] if "BRICKNAME" in table.columns.names
              else [None] * len(records))
    found: dict[str, dict] = {}  # per brick, looked up once per catalogue file
    for record, brick in zip(records, bricks):
        if brick and brick not in found:
            found[brick] = brick_images(search, brick)
        images = found.get(brick, {}) if brick else {}
        if not images:
            continue
        bands = [b for b in "grz" if b in images]
        planes = [cutout(*images[b], record["ra"], record["dec"], cutout_size) for b in bands]
        north = any(b.startswith("bass") for b in (record["photometry"] or {}).get("band", []))
        record["image"] = {"band": [band_name(b, north) for b in bands],
                           "flux": np.stack([p[0] for p in planes]), "ivar": np.stack([p[1] for p in planes]),
                           "pixel_scale": planes[0][2], "psf_fwhm": None}
    return records


READER = SurveyReader("legacysurvey", ("tractor-*.fits", "sweep-*.fits"), _read,
                      "Legacy Surveys tractor/sweep catalogues (+ brick images beside them for cut-outs)")



class LegacySurveyCatalog(SurveyFilesBuilder):
    """Legacy Surveys catalogues (+ brick cut-outs) as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
