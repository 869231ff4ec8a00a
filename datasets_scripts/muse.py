"""MUSE (PHANGS-MUSE and other) data cubes -> spectra of apertures (or of single spaxels).

The cube format of the ESO MUSE pipeline, as PHANGS-MUSE distributes it: ``DATA`` and ``STAT`` (variance)
extensions, flux density in 1e-20 erg/s/cm2/A per spaxel (``BUNIT``), spectral axis in *air* wavelengths
(``CTYPE3 = 'AWAV'``, CRVAL3/CD3_3/CRPIX3, Angstrom) converted here to vacuum, and a celestial WCS. NaN
spaxel values (outside the field) get ivar 0. An aperture spectrum is the sum of the spaxels inside the circle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from .fits_files import open_fits
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import air_to_vacuum

MUSE_UNIT = 1e-20  # erg/s/cm2/A
RECORD_UNIT = 1e-17


def cube_wavelength(header) -> np.ndarray:
    """Vacuum wavelengths (Angstrom) of the cube's spectral axis, from its WCS (air or vacuum)."""
    n = int(header["NAXIS3"])
    step = header.get("CD3_3", header.get("CDELT3"))
    if step is None or "CRVAL3" not in header:
        raise ValueError("cube header has no spectral WCS (CRVAL3 and CD3_3/CDELT3)")
    wave = header["CRVAL3"] + step * (np.arange(n) + 1 - header.get("CRPIX3", 1.0))
    unit = str(header.get("CUNIT3", "Angstrom")).strip().lower()
    wave = wave * {"angstrom": 1.0, "nm": 10.0, "m": 1e10}.get(unit, 1.0)
    return air_to_vacuum(wave) if str(header.get("CTYPE3", "")).strip().upper() == "AWAV" else wave


def read_cube(path: str | os.PathLike, positions: list[tuple[float, float]] | None = None,
              aperture_arcsec: float = 1.0, spaxels: bool = False) -> list[dict[str, Any]]:
    """Aperture spectra at ``positions`` (ra, dec in degrees; default: the cube centre), or every spaxel."""
    with open_fits(path, "a MUSE cube (DATA and STAT extensions, 1e-20 erg/s/cm2/A)", ["DATA", "STAT"]) as hdus:
        header = hdus["DATA"].header
        data = np.asarray(hdus["DATA"].data, dtype=float)
        stat = np.asarray(hdus["STAT"].data, dtype=float)
        unit = str(header.get("BUNIT", "")).replace(" ", "")
        if "10**-20" not in unit and "1e-20" not in unit.lower():
            raise ValueError(f"{path}: BUNIT {header.get('BUNIT')!r}; expected MUSE's 10**-20 erg/s/cm2/Angstrom")
        wavelength = cube_wavelength(header)
        celestial = WCS(header).celestial
    scale = MUSE_UNIT / RECORD_UNIT
    good = np.isfinite(data) & np.isfinite(stat) & (stat > 0)
    flux = np.where(good, data, 0.0) * scale
    var = np.where(good, stat, 0.0) * scale**2
    ny, nx = data.shape[1:]
    yy, xx = np.mgrid[:ny, :nx]
    pixel_arcsec = float(np.mean(proj_plane_pixel_scales(celestial)) * 3600)
    name = Path(path).stem

    def record(select: np.ndarray, ra: float, dec: float, tag: str) -> dict[str, Any]:
        f = flux[:, select].sum(axis=1)
        v = var[:, select].sum(axis=1)
        bad = ~good[:, select].all(axis=1) | ~(v > 0)
        return {"object_id": f"muse-{name}-{tag}", "survey": "muse", "ra": float(ra), "dec": float(dec),
                "spectrum": {"wavelength": wavelength, "flux": np.where(bad, 0.0, f).astype(np.float32),
                             "ivar": np.where(bad, 0.0, 1.0 / np.where(bad, 1.0, v)).astype(np.float32),
                             "mask": bad, "lsf_sigma": None},
                "photometry": None, "image": None, "properties": None,
                "flags": [f"muse_aperture_arcsec={aperture_arcsec if not spaxels else pixel_arcsec}"]}

    if spaxels:
        sky = celestial.pixel_to_world(xx.ravel(), yy.ravel())
        return [record((yy == y) & (xx == x), c.ra.deg, c.dec.deg, f"{y}-{x}")
                for y, x, c in zip(yy.ravel(), xx.ravel(), sky)]
    if positions is None:
        centre = celestial.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
        positions = [(centre.ra.deg, centre.dec.deg)]
    records = []
    for k, (ra, dec) in enumerate(positions):
        x, y = celestial.world_to_pixel(SkyCoord(ra, dec, unit="deg"))
        inside = np.hypot(xx - x, yy - y) * pixel_arcsec <= aperture_arcsec
        if not inside.any():
            raise ValueError(f"{path}: aperture at (ra, dec) = ({ra}, {dec}) lies outside the cube")
        records.append(record(inside, ra, dec, f"ap{k}"))
    return records


READER = SurveyReader("muse", ("*.fits",), read_cube, "MUSE / PHANGS-MUSE cubes (aperture or spaxel spectra)")



class MUSECubes(SurveyFilesBuilder):
    """MUSE / PHANGS-MUSE cubes as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
