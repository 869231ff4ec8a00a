"""The physical properties a galaxy record can carry, with units and the scaling used to tokenize them.

One table, shared by the record schema (``galfm.datasets_scripts.schema``), the tokenizer and the heads, so
that a property means the same thing everywhere. Kept free of third-party imports: it travels with
``trust_remote_code`` folders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Lookback-time edges (Gyr) of the 16 star-formation-history bins. The first bin (< 10 Myr) holds the stars
# still inside their birth clouds; the rest are roughly log-spaced up to the age of the Universe.
SFH_AGE_BIN_EDGES_GYR: tuple[float, ...] = (
    0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.5, 6.5, 9.0, 13.8,
)
NUM_SFH_BINS = len(SFH_AGE_BIN_EDGES_GYR) - 1


def mass_weighted_log_age(sfh: np.ndarray) -> np.ndarray:
    """log10 of the mass-weighted lookback age (Gyr) of 16-bin SFH fractions, bins at their log-midpoints (the
    first bin at 5 Myr); truth and prediction use the same bin ages, so their difference is the SFH's error."""
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    centers = np.sqrt(np.maximum(edges[:-1], 0.005) * edges[1:])
    return np.log10((sfh * centers).sum(-1) / sfh.sum(-1))

# Emission lines the record knows, keyed by their short name: vacuum rest wavelength in Angstrom.
EMISSION_LINES: dict[str, float] = {
    "oii_3727": 3728.48,  # [OII] 3726+3729 doublet, flux summed
    "hbeta": 4862.68,
    "oiii_5007": 5008.24,
    "halpha": 6564.61,
    "nii_6584": 6585.27,
    "sii_6717": 6718.29,
    "sii_6731": 6732.67,
}


@dataclass(frozen=True)
class PropertySpec:
    """A scalar property: its unit, meaning and the tokenizer's scaling.

    The token value is ``(x - center) / scale`` for ``transform="linear"`` and ``asinh(x / scale)`` for
    ``transform="asinh"`` (fluxes and equivalent widths, which span decades and may be negative).
    """

    name: str
    unit: str
    description: str
    center: float = 0.0
    scale: float = 1.0
    transform: str = "linear"


def _property_table() -> dict[str, PropertySpec]:
    specs = [
        PropertySpec("redshift", "", "spectroscopic or true redshift", 0.5, 0.5),
        PropertySpec("log_mstar", "dex(Msun)", "log10 stellar mass (surviving stars + remnants)", 10.0, 1.0),
        PropertySpec("log_z", "dex", "log10 stellar metallicity Z/Zsun (Zsun = 0.02)", -0.3, 0.5),
        PropertySpec("av", "mag", "V-band dust attenuation of the stellar continuum", 0.5, 0.5),
        PropertySpec("log_sfr", "dex(Msun/yr)", "log10 star formation rate averaged over 100 Myr", 0.0, 1.5),
        PropertySpec("log_ssfr", "dex(1/yr)", "log10 specific star formation rate (100 Myr)", -10.5, 1.0),
        PropertySpec("age_mw", "Gyr", "mass-weighted stellar age", 4.0, 3.0),
        PropertySpec("vdisp", "km/s", "stellar velocity dispersion", 150.0, 100.0),
        PropertySpec("bulge_to_total", "", "bulge-to-total light ratio (r band)", 0.4, 0.3),
        PropertySpec("sersic_n", "", "single-Sersic index", 2.5, 1.5),
        PropertySpec("r_eff", "arcsec", "half-light radius", 1.5, 1.5, "asinh"),
        PropertySpec("axis_ratio", "", "projected minor/major axis ratio b/a", 0.6, 0.25),
        PropertySpec("inclination", "deg", "disk inclination (0 = face-on)", 45.0, 25.0),
    ]
    for line, wave in EMISSION_LINES.items():
        specs.append(
            PropertySpec(f"flux_{line}", "1e-17 erg/s/cm2", f"{line} line flux (vacuum {wave} A)", 0.0, 10.0, "asinh")
        )
        specs.append(PropertySpec(f"ew_{line}", "Angstrom", f"{line} rest-frame equivalent width (emission > 0)",
                                  0.0, 10.0, "asinh"))
    for i in range(NUM_SFH_BINS):
        lo, hi = SFH_AGE_BIN_EDGES_GYR[i], SFH_AGE_BIN_EDGES_GYR[i + 1]
        specs.append(PropertySpec(f"sfh_{i:02d}", "", f"fraction of all stellar mass formed {lo}-{hi} Gyr ago",
                                  0.05, 0.1))
    return {s.name: s for s in specs}


PROPERTIES: dict[str, PropertySpec] = _property_table()
SCALAR_PROPERTY_KEYS: tuple[str, ...] = tuple(k for k in PROPERTIES if not k.startswith("sfh_"))
"""Scalar keys stored directly in a record's ``properties``; the SFH is stored as the 16-vector ``sfh``."""
