"""The galaxy record: one row per galaxy, every modality optional (``None`` when absent).

Units are fixed here and converted once, at the loader boundary (astropy.units), never inside the model:

=========================  ==============================================================================
field                      meaning and unit
=========================  ==============================================================================
object_id                  survey identifier (string), e.g. ``"sdss-0266-51602-0013"``
survey                     survey name (``"sdss"``, ``"desi"``, ``"legacysurvey"``, ``"simulated"``, ...)
ra, dec                    ICRS degrees (nullable)
spectrum.wavelength        observed-frame **vacuum** wavelength of each pixel, Angstrom
spectrum.flux              flux density, 1e-17 erg s^-1 cm^-2 Angstrom^-1
spectrum.ivar              inverse variance of ``flux`` (same unit^-2); 0 = no information
spectrum.mask              True = bad pixel
spectrum.lsf_sigma         line-spread-function Gaussian sigma per pixel, Angstrom (nullable)
photometry.band            canonical filter names (``galfm.available_bands()``), e.g. ``sdss_r``, ``jpas_J0378``
photometry.flux            total flux, nanomaggies (AB: m = 22.5 - 2.5 log10 f; 1 nmgy = 3.631 microJy)
photometry.flux_ivar       inverse variance of ``flux``, nanomaggies^-2; 0 = not measured
image.band                 canonical filter name of each plane
image.flux                 bands x H x W, nanomaggies per pixel
image.ivar                 bands x H x W, nanomaggies^-2; 0 = no data
image.pixel_scale          arcsec per pixel
image.psf_fwhm             PSF FWHM per band, arcsec
properties.<key>           the scalars of ``galfm.PROPERTIES`` (unit and meaning listed there), nullable
properties.sfh             16 fractions of the total formed stellar mass, per lookback-time bin
                           (``galfm.SFH_AGE_BIN_EDGES_GYR``), nullable
properties.morphology      class label (string), nullable
anomaly                    why a record is unusual (``"qso"``, ``"merger"``, ``"artefact"``), ``None`` if normal
flags                      survey quality notes kept with the data (e.g. ``"sdss_zwarning=4"``), nullable
=========================  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import datasets
import numpy as np

from galfm.properties_galfm import NUM_SFH_BINS, PROPERTIES, SCALAR_PROPERTY_KEYS

FIELD_UNITS: dict[str, str] = {
    "ra": "deg", "dec": "deg",
    "spectrum.wavelength": "Angstrom (vacuum, observed frame)",
    "spectrum.flux": "1e-17 erg / (s cm2 Angstrom)",
    "spectrum.ivar": "(1e-17 erg / (s cm2 Angstrom))^-2",
    "spectrum.lsf_sigma": "Angstrom",
    "photometry.flux": "nanomaggy", "photometry.flux_ivar": "nanomaggy^-2",
    "image.flux": "nanomaggy / pixel", "image.ivar": "(nanomaggy / pixel)^-2",
    "image.pixel_scale": "arcsec / pixel", "image.psf_fwhm": "arcsec",
    **{f"properties.{k}": PROPERTIES[k].unit for k in SCALAR_PROPERTY_KEYS},
    "properties.sfh": "fraction of formed mass per age bin",
}


def _floats(dtype: str = "float32") -> datasets.List:
    return datasets.List(datasets.Value(dtype))


GALAXY_FEATURES = datasets.Features(
    {
        "object_id": datasets.Value("string"),
        "survey": datasets.Value("string"),
        "ra": datasets.Value("float64"),
        "dec": datasets.Value("float64"),
        "spectrum": {
            "wavelength": _floats("float64"),
            "flux": _floats(),
            "ivar": _floats(),
            "mask": datasets.List(datasets.Value("bool")),
            "lsf_sigma": _floats(),
        },
        "photometry": {
            "band": datasets.List(datasets.Value("string")),
            "flux": _floats(),
            "flux_ivar": _floats(),
        },
        "image": {
            "band": datasets.List(datasets.Value("string")),
            "flux": datasets.List(datasets.List(_floats())),
            "ivar": datasets.List(datasets.List(_floats())),
            "pixel_scale": datasets.Value("float32"),
            "psf_fwhm": _floats(),
        },
        "properties": {
            **{k: datasets.Value("float32") for k in SCALAR_PROPERTY_KEYS},
            "sfh": datasets.List(datasets.Value("float32"), length=NUM_SFH_BINS),
            "morphology": datasets.Value("string"),
        },
        "anomaly": datasets.Value("string"),
        "flags": datasets.List(datasets.Value("string")),
    }
)
"""The record as ``datasets.Features``; every struct and property may be ``None``."""


def empty_properties() -> dict[str, Any]:
    """A ``properties`` struct with every key present and ``None``."""
    return {**{k: None for k in SCALAR_PROPERTY_KEYS}, "sfh": None, "morphology": None}


def validate_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Check a record against the schema and return it encoded (lists, all keys present).

    Raises ``ValueError`` naming the galaxy and field on unknown keys or arrays of mismatched length.
    """
    name = record.get("object_id", "?")
    unknown = set(record) - set(GALAXY_FEATURES)
    if unknown:
        raise ValueError(f"galaxy {name!r}: unknown record fields {sorted(unknown)}; the schema has "
                         f"{list(GALAXY_FEATURES)}")
    row = {k: record.get(k) for k in GALAXY_FEATURES}
    if row["properties"] is not None:
        props = dict(row["properties"])
        extra = set(props) - set(empty_properties())
        if extra:
            raise ValueError(f"galaxy {name!r}: unknown properties {sorted(extra)}; known: {list(empty_properties())}")
        row["properties"] = {**empty_properties(), **props}
    for struct, arrays in (("spectrum", ("wavelength", "flux", "ivar", "mask")),
                           ("photometry", ("band", "flux", "flux_ivar"))):
        if row[struct] is None:
            continue
        lengths = {k: len(row[struct][k]) for k in arrays if row[struct].get(k) is not None}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"galaxy {name!r}: {struct} arrays differ in length: {lengths}")
        row[struct] = {k: row[struct].get(k) for k in GALAXY_FEATURES[struct]}
    if row["image"] is not None:
        shapes = {k: np.shape(row["image"][k]) for k in ("flux", "ivar")}
        if shapes["flux"] != shapes["ivar"] or len(shapes["flux"]) != 3 or shapes["flux"][0] != len(
                row["image"]["band"]):
            raise ValueError(f"galaxy {name!r}: image flux/ivar must both be (bands, H, W); got {shapes}")
        row["image"] = {k: row["image"].get(k) for k in GALAXY_FEATURES["image"]}
    return GALAXY_FEATURES.encode_example(row)


# Survey flags that mark a pipeline redshift as unreliable. The redshift stays in ``properties`` (no data is
# lost); tasks and evaluations train and score only on trusted labels (`trusted_properties`).
REDSHIFT_WARNING_FLAGS: tuple[str, ...] = ("sdss_zwarning", "desi_zwarn")


def redshift_is_flagged(record: Mapping[str, Any]) -> bool:
    """True when one of the record's flags says its pipeline redshift is not secure (ZWARNING != 0)."""
    return any(str(f).split("=", 1)[0] in REDSHIFT_WARNING_FLAGS for f in (record.get("flags") or ()))


def trusted_properties(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's ``properties`` fit to be labels: a flagged pipeline redshift is left out."""
    properties = dict(record.get("properties") or {})
    if redshift_is_flagged(record):
        properties.pop("redshift", None)
    return properties
