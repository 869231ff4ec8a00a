"""Euclid Q1 products -> galaxy records: SIR combined 1-D spectra and the MER final catalogue.

SIR ``SPECTRA_RGS_COMBINED`` (red grism): one table HDU per object, named by its OBJECT_ID, with WAVELENGTH
(Angstrom), SIGNAL and VAR in units of the header's FSCALE (erg/s/cm2/A and its square), MASK, QUALITY, NDITH.
A pixel is bad where MASK has bit 0 (invalid) or bit 6 set, as in IRSA's Euclid Q1 spectra tutorial, or where
VAR is not positive; bad pixels get ivar 0.

MER final catalogue (Euclid Q1 DPDD, ``mer_finalcatalog``): OBJECT_ID, RIGHT_ASCENSION, DECLINATION and total
fluxes in micro-Jansky, FLUX_VIS_PSF, FLUX_Y/J/H_TEMPLFIT with FLUXERR_*; SPURIOUS_FLAG and DET_QUALITY_FLAG are
kept as flags.
"""

from __future__ import annotations

import os
from typing import Any

import astropy.units as u
import numpy as np

from .fits_files import open_fits
from .galactic_extinction import catalogue_ebv, deredden_photometry, extinction_flags
from .survey_files import SurveyFilesBuilder
from .survey_reader import SurveyReader
from .units import SPECTRUM_UNIT, column, flux_to_nanomaggies, photometry_struct

BAD_MASK_BITS = (1 << 0) | (1 << 6)
MER_FLUXES = {"euclid_vis": "VIS_PSF", "euclid_y": "Y_TEMPLFIT", "euclid_j": "J_TEMPLFIT", "euclid_h": "H_TEMPLFIT"}


def read_sir_spectra(path: str | os.PathLike) -> list[dict[str, Any]]:
    """One record per object HDU of a SIR combined-spectra file, flux scaled by FSCALE to 1e-17 units."""
    with open_fits(path, "a Euclid SIR SPECTRA_RGS_COMBINED file (one table HDU per OBJECT_ID)", []) as hdus:
        records = []
        for hdu in hdus[1:]:
            names = hdu.columns.names if hasattr(hdu, "columns") else []
            missing = [c for c in ("WAVELENGTH", "SIGNAL", "VAR", "MASK") if c not in names]
            if missing or "FSCALE" not in hdu.header:
                raise ValueError(f"{path}: HDU {hdu.name!r} lacks {missing or ['FSCALE']}; expected a Euclid SIR "
                                 "combined spectrum (WAVELENGTH, SIGNAL, VAR, MASK and the FSCALE keyword)")
            scale = float(hdu.header["FSCALE"]) * (u.erg / u.s / u.cm**2 / u.Angstrom).to(SPECTRUM_UNIT)
            data = hdu.data
            var = np.asarray(data["VAR"], dtype=float) * scale**2
            bad = ((np.asarray(data["MASK"]).astype(np.int64) & BAD_MASK_BITS) != 0) | ~(var > 0)
            bad |= ~np.isfinite(np.asarray(data["SIGNAL"], dtype=float))
            flux = np.where(bad, 0.0, np.asarray(data["SIGNAL"], dtype=float) * scale)
            records.append({
                "object_id": f"euclid-{hdu.name}", "survey": "euclid", "ra": None, "dec": None,
                "spectrum": {"wavelength": np.asarray(data["WAVELENGTH"], dtype=np.float64),
                             "flux": flux.astype(np.float32),
                             "ivar": np.where(bad, 0.0, 1.0 / np.where(bad, 1.0, var)).astype(np.float32),
                             "mask": bad, "lsf_sigma": None},
                # the SIR file gives no position: Galactic extinction is not corrected, and the record says so
                "photometry": None, "image": None, "properties": None,
                "flags": ["euclid_grism=RGS", *extinction_flags(None)],
            })
    return records


def read_mer_catalog(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records with VIS/Y/J/H photometry (micro-Jansky -> nanomaggies) from a MER final catalogue."""
    with open_fits(path, "a Euclid MER final catalogue (OBJECT_ID, RIGHT_ASCENSION, FLUX_VIS_PSF, ...)", []) as hdus:
        table = hdus[1].data
        names = [n.upper() for n in table.columns.names]
        needed = ["OBJECT_ID", "RIGHT_ASCENSION", "DECLINATION",
                  *[f"{p}{c}" for c in MER_FLUXES.values() for p in ("FLUX_", "FLUXERR_")]]
        missing = [c for c in needed if c not in names]
        if missing:
            raise ValueError(f"{path}: missing MER columns {missing}; expected a Euclid Q1 MER final catalogue")
        fluxes = {b: flux_to_nanomaggies(column(table, f"FLUX_{c}"), column(table, f"FLUXERR_{c}"), u.uJy)
                  for b, c in MER_FLUXES.items()}
        flag_columns = [c for c in ("SPURIOUS_FLAG", "DET_QUALITY_FLAG") if c in names]
        ebv, ebv_source = catalogue_ebv(table, column(table, "RIGHT_ASCENSION"), column(table, "DECLINATION"))
        records = []
        for i, (oid, ra, dec) in enumerate(zip(column(table, "OBJECT_ID"), column(table, "RIGHT_ASCENSION"),
                                               column(table, "DECLINATION"))):
            flags = [f"euclid_{c.lower()}={int(column(table, c)[i])}" for c in flag_columns if column(table, c)[i]]
            flags += extinction_flags(ebv[i], ebv_source)
            records.append({
                "object_id": f"euclid-{int(oid)}", "survey": "euclid", "ra": float(ra), "dec": float(dec),
                "spectrum": None, "image": None, "properties": None, "flags": flags,
                "photometry": deredden_photometry(photometry_struct(
                    list(fluxes), np.array([fluxes[b][0][i] for b in fluxes]),
                    np.array([fluxes[b][1][i] for b in fluxes])), ebv[i]),
            })
    return records



READER = SurveyReader("euclid", ("*SPECTRA_RGS*.fits", "*sir*SPECTRA*.fits"), read_sir_spectra,
                      "Euclid Q1 SIR combined 1-D spectra")
MER_READER = SurveyReader("euclid_mer", ("*MER*FINAL*CAT*.fits", "*mer*final*cat*.fits", "*mer_catalog*.fits"),
                          read_mer_catalog, "Euclid Q1 MER final catalogues")



class EuclidSpectra(SurveyFilesBuilder):
    """Euclid SIR spectra as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = READER


class EuclidMERCatalog(SurveyFilesBuilder):
    """Euclid MER catalogues as a ``datasets`` builder (``data_dir=`` the folder of files)."""

    READER = MER_READER
