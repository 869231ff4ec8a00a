"""The DESI per-pixel noise spectrum that the simulated spectrographs scale: real sky lines, real throughput.

Derived from a real DESI coadd (SV1 tile 80613, TARGETID 39633345008634465, an r = 20.6 galaxy observed for
10973 s; ``tests/data/desi``): sigma(lambda) = 1 / sqrt(IVAR), the B/R/Z arms combined by inverse variance on
the common 0.8 Angstrom grid. At that depth the noise is dominated by the sky, so its shape carries the
night-sky emission lines and the instrument throughput. The packaged file is what ``derive_noise_curve``
returns; a test re-derives it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from astropy.io import fits

NOISE_FILE = Path(__file__).parent / "data" / "desi_noise_tile80613.fits"
SOURCE_TARGETID = 39633345008634465


def derive_noise_curve(coadd_path: str | Path) -> tuple[np.ndarray, np.ndarray, float]:
    """(wavelength, sigma in 1e-17 erg/s/cm^2/A, exposure time in s) of the reference fibre of a DESI coadd."""
    with fits.open(coadd_path) as hdul:
        fibermap = hdul["FIBERMAP"].data
        row = int(np.flatnonzero(fibermap["TARGETID"] == SOURCE_TARGETID)[0])
        exptime = float(fibermap["COADD_EXPTIME"][row])
        wavelength = np.round(np.arange(3600.0, 9824.0 + 0.4, 0.8), 1)
        ivar = np.zeros_like(wavelength)
        for arm in "BRZ":
            arm_wave = np.round(hdul[f"{arm}_WAVELENGTH"].data, 1)
            index = np.searchsorted(wavelength, arm_wave)
            arm_ivar = np.asarray(hdul[f"{arm}_IVAR"].data[row], dtype=float)
            arm_ivar[np.asarray(hdul[f"{arm}_MASK"].data[row]) != 0] = 0.0
            ivar[index] += arm_ivar
    good = ivar > 0
    ivar = np.interp(wavelength, wavelength[good], ivar[good])  # masked pixels: neighbours' noise
    return wavelength, 1.0 / np.sqrt(ivar), exptime


def write_noise_file(coadd_path: str | Path, out: str | Path = NOISE_FILE) -> None:
    wavelength, sigma, exptime = derive_noise_curve(coadd_path)
    header = fits.Header({"EXPTIME": exptime, "TARGETID": SOURCE_TARGETID,
                          "ORIGIN": "DESI coadd-4-80613-thru20210324.fits (EDR, SV1)",
                          "BUNIT": "1e-17 erg/(s cm2 Angstrom)"})
    columns = [fits.Column("WAVELENGTH", "D", unit="Angstrom", array=wavelength),
               fits.Column("SIGMA", "E", unit="1e-17 erg/(s cm2 Angstrom)", array=sigma.astype(np.float32))]
    fits.HDUList([fits.PrimaryHDU(header=header), fits.BinTableHDU.from_columns(columns, name="NOISE")]).writeto(
        out, overwrite=True)


@cache
def desi_noise_curve() -> tuple[np.ndarray, np.ndarray, float]:
    """(wavelength, sigma, exposure time) of the packaged DESI noise spectrum."""
    with fits.open(NOISE_FILE) as hdul:
        table = hdul["NOISE"].data
        return (np.asarray(table["WAVELENGTH"], dtype=float), np.asarray(table["SIGMA"], dtype=float),
                float(hdul[0].header["EXPTIME"]))
