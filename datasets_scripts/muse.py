"""MUSE (PHANGS-MUSE and other) data cubes -> spectra of apertures (or of single spaxels).

The cube format of the ESO MUSE pipeline, as PHANGS-MUSE distributes it: ``DATA`` and ``STAT`` (variance)
extensions, flux density in 1e-20 erg/s/cm2/A per spaxel (``BUNIT``), spectral axis in *air* wavelengths
(``CTYPE3 = 'AWAV'``, CRVAL3/CD3_3/CRPIX3, Angstrom) converted here to vacuum, and a celestial WCS. NaN
spaxel values (outside the field) get ivar 0. An aperture spectrum is the sum of the spaxels inside the circle.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from .fits_files import open_fits
from .galactic_extinction import SFD_MAP_SOURCE, extinction_flags, sfd_ebv, spectrum_transmission
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import SPECTRUM_UNIT, air_to_vacuum


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


@dataclass
class Cube:
    """A cube in record units: ``flux`` and ``var`` (wavelength, y, x) in 1e-17 erg/s/cm2/A per spaxel (0 where
    a value is missing, ``good`` False there), vacuum ``wavelength`` (Angstrom), the celestial ``wcs`` and its
    FITS ``header`` (for maps written on the cube's own sky grid)."""

    wavelength: np.ndarray
    flux: np.ndarray
    var: np.ndarray
    good: np.ndarray
    wcs: WCS
    header: Any
    extinction_flags: list[str] = field(default_factory=list)
    """How the cube was de-reddened (`galfm.datasets_scripts.galactic_extinction`); every record carries them."""
    survey: str = "muse"
    lsf_sigma: np.ndarray | None = None
    """Gaussian LSF sigma (wavelength, y, x) in Angstrom where the file gives it (MaNGA), else None."""
    flags: list[str] = field(default_factory=list)
    """Flags of the whole cube (e.g. its target class); every record carries them."""
    target: tuple[float, float] | None = None
    """(ra, dec) in degrees of the object the cube was pointed at, where the file names it (MaNGA)."""
    name: str = ""
    """What its records are named by (``{survey}-{name}-ap0``): the file's stem (MUSE), PLATEIFU (MaNGA)."""

    @property
    def pixel_arcsec(self) -> float:
        return float(np.mean(proj_plane_pixel_scales(self.wcs)) * 3600)


def flux_density_scale(path, bunit, expected: str = "MUSE's 10**(-20)*erg/s/cm**2/Angstrom") -> float:
    """Record units per cube unit, from BUNIT parsed by astropy (the pipeline writes '10**(-20)*erg/s/cm**2/
    Angstrom', PHANGS '10**-20 Angstrom-1 cm-2 erg s-1'): any spectral flux density per Angstrom is accepted."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", u.UnitsWarning)
            return float(u.Unit(str(bunit)).to(SPECTRUM_UNIT))
    except (ValueError, TypeError, u.UnitConversionError) as err:
        raise ValueError(f"{path}: BUNIT {bunit!r} is not a flux density per Angstrom; expected {expected}"
                         ) from err


def load_cube(path: str | os.PathLike) -> Cube:
    """The DATA/STAT cube of a MUSE file in record units, checked (BUNIT, spectral WCS)."""
    with open_fits(path, "a MUSE cube (DATA and STAT extensions, 1e-20 erg/s/cm2/A)", ["DATA", "STAT"]) as hdus:
        header = hdus["DATA"].header.copy()
        data = np.asarray(hdus["DATA"].data, dtype=float)
        stat = np.asarray(hdus["STAT"].data, dtype=float)
    scale = flux_density_scale(path, header.get("BUNIT"))
    if data.ndim != 3 or data.shape != stat.shape:
        raise ValueError(f"{path}: DATA {data.shape} and STAT {stat.shape} must be matching 3-D cubes")
    good = np.isfinite(data) & np.isfinite(stat) & (stat > 0)
    wcs, wavelength = WCS(header).celestial, cube_wavelength(header)
    # Galactic extinction at the cube's centre (a MUSE field spans 1': one E(B-V), against SFD's 6' beam)
    ny, nx = data.shape[1:]
    centre = wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    ebv = float(sfd_ebv(centre.ra.deg, centre.dec.deg))
    boost = (1.0 / spectrum_transmission(wavelength, ebv))[:, None, None]
    return Cube(wavelength, np.where(good, data, 0.0) * scale * boost, np.where(good, stat, 0.0) * (scale * boost)**2,
                good, wcs, header, extinction_flags(ebv, SFD_MAP_SOURCE), name=Path(path).stem)


def region_record(cube: Cube, select: np.ndarray, object_id: str, flags: list[str],
                  radec: tuple[float, float] | None = None) -> dict[str, Any]:
    """The record of the summed spectrum of the spaxels ``select`` (y, x boolean) at ``radec`` (degrees; default
    their mean sky position); a wavelength where any of them has no value gets ivar 0."""
    f = cube.flux[:, select].sum(axis=1)
    v = cube.var[:, select].sum(axis=1)
    bad = ~cube.good[:, select].all(axis=1) | ~(v > 0)
    if radec is None:
        y, x = np.nonzero(select)
        sky = cube.wcs.pixel_to_world(x.mean(), y.mean())
        radec = (sky.ra.deg, sky.dec.deg)
    lsf = None if cube.lsf_sigma is None else cube.lsf_sigma[:, select].mean(axis=1).astype(np.float32)
    return {"object_id": object_id, "survey": cube.survey, "ra": float(radec[0]), "dec": float(radec[1]),
            "spectrum": {"wavelength": cube.wavelength, "flux": np.where(bad, 0.0, f).astype(np.float32),
                         "ivar": np.where(bad, 0.0, 1.0 / np.where(bad, 1.0, v)).astype(np.float32),
                         "mask": bad, "lsf_sigma": lsf},
            "photometry": None, "image": None, "properties": None,
            "flags": [*flags, *cube.flags, *cube.extinction_flags]}


def read_cube(path: str | os.PathLike, positions: list[tuple[float, float]] | None = None,
              aperture_arcsec: float = 1.0, spaxels: bool = False) -> list[dict[str, Any]]:
    """Aperture spectra at ``positions`` (ra, dec in degrees; default: the cube centre), or every spaxel."""
    return cube_records(load_cube(path), positions, aperture_arcsec, spaxels)


def cube_records(cube: Cube, positions: list[tuple[float, float]] | None = None, aperture_arcsec: float = 1.0,
                 spaxels: bool = False) -> list[dict[str, Any]]:
    """Records of a loaded cube: aperture spectra at ``positions`` (default: the cube centre) or every spaxel;
    ids ``{survey}-{name}-ap{k}`` / ``{survey}-{name}-{y}-{x}``, the aperture in the flag
    ``{survey}_aperture_arcsec=...``."""
    name = cube.name
    ny, nx = cube.flux.shape[1:]
    yy, xx = np.mgrid[:ny, :nx]
    if spaxels:
        flags = [f"{cube.survey}_aperture_arcsec={cube.pixel_arcsec}"]
        sky = cube.wcs.pixel_to_world(xx.ravel(), yy.ravel())  # one WCS call for every spaxel
        return [region_record(cube, (yy == y) & (xx == x), f"{cube.survey}-{name}-{y}-{x}", flags, (ra, dec))
                for y, x, ra, dec in zip(yy.ravel(), xx.ravel(), sky.ra.deg, sky.dec.deg)]
    if positions is None:
        centre = cube.wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
        positions = [(centre.ra.deg, centre.dec.deg)]
    records = []
    for k, (ra, dec) in enumerate(positions):
        x, y = cube.wcs.world_to_pixel(SkyCoord(ra, dec, unit="deg"))
        # spaxel centres on the circle count as inside (1e-6 px: the WCS round trip is not exact)
        inside = np.hypot(xx - x, yy - y) <= aperture_arcsec / cube.pixel_arcsec + 1e-6
        if not inside.any():
            raise ValueError(f"{name}: aperture at (ra, dec) = ({ra}, {dec}) lies outside the cube")
        records.append(region_record(cube, inside, f"{cube.survey}-{name}-ap{k}",
                                     [f"{cube.survey}_aperture_arcsec={aperture_arcsec}"], (ra, dec)))
    return records


READER = SurveyReader("muse", ("*.fits",), read_cube, "MUSE / PHANGS-MUSE cubes (aperture or spaxel spectra)")



class MUSECubes(SurveyFilesBuilder):
    """MUSE / PHANGS-MUSE cubes as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER
