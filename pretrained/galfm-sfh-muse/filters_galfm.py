"""Photometric filters by canonical name, summarised by effective wavelength and width.

The model never sees a filter's name: a band enters as its effective wavelength and FWHM (observed frame,
Angstrom), so SDSS's 5 bands, J-PAS's 56 and a filter the model never saw share one representation.

Where a package ships a measured curve, that curve is used: ``speclite`` (SDSS, DECam, BASS/MzLS, GALEX, WISE,
HSC, Euclid, ...) and ``sedpy`` (the HST WFC3/UVIS and ACS/WFC throughputs from STScI). Only bands no package
ships are synthesised here, as flat tops with soft edges at their published centre and width: the J-PAS and
J-PLUS narrow bands (Marin-Franch et al. 2012; Benitez et al. 2014; Bonoli et al. 2021, Table 1; Cenarro et al.
2019) and WFC3/UVIS F438W. ``band_source(name)`` says which applies to a band.

The filter libraries are imported lazily: a saved processor carries its filter table in its JSON config, so
loading one through ``trust_remote_code`` needs neither.
"""

from __future__ import annotations

from functools import cache

import numpy as np

# canonical name -> speclite "group-band" name
SPECLITE_BANDS: dict[str, str] = {
    **{f"sdss_{b}": f"sdss2010-{b}" for b in "ugriz"},
    **{f"decam_{b}": f"decam2014-{b}" for b in "ugrizY"},
    "bass_g": "BASS-g",
    "bass_r": "BASS-r",
    "mzls_z": "MzLS-z",
    "galex_fuv": "galex-fuv",
    "galex_nuv": "galex-nuv",
    **{f"wise_w{i}": f"wise2010-W{i}" for i in range(1, 5)},
    "euclid_vis": "Euclid-VIS",
    "euclid_y": "Euclid-Y",
    "euclid_j": "Euclid-J",
    "euclid_h": "Euclid-H",
    "twomass_j": "twomass-J",
    "twomass_h": "twomass-H",
    "twomass_ks": "twomass-Ks",
    **{f"hsc_{b}": f"hsc2017-{b}" for b in "grizy"},
    **{f"lsst_{b}": f"lsst2023-{b}" for b in "ugrizy"},
    **{f"panstarrs_{b}": f"panstarrs-{b}" for b in "grizy"},
    **{f"cfht_{b}": f"cfht_megacam-{b}" for b in "ugriz"},
    "gaia_g": "gaiadr3-G",
    "gaia_bp": "gaiadr3-BP",
    "gaia_rp": "gaiadr3-RP",
    # J-PAS / J-PLUS broad bands are close to SDSS's; the SDSS curves stand in for them.
    "jpas_gSDSS": "sdss2010-g",
    "jpas_rSDSS": "sdss2010-r",
    "jpas_iSDSS": "sdss2010-i",
}

# J-PAS synthetic bands: name -> (central wavelength, FWHM) in Angstrom. 54 narrow bands J0378...J0910
# (~145 A FWHM, centres every ~100 A), the two u bands and the long-pass J1007, after Bonoli et al. (2021).
JPAS_NARROW_FWHM = 145.0
JPAS_EDGE_WIDTH = 10.0  # Angstrom; logistic edge softness of the synthetic top-hats
JPAS_BANDS: dict[str, tuple[float, float]] = {
    "jpas_uJAVA": (3497.0, 509.0),
    "jpas_uJPAS": (3485.0, 324.0),
    "jpas_J0378": (3780.0, 168.0),
    "jpas_J0390": (3900.0, JPAS_NARROW_FWHM),
    **{f"jpas_J{c:04d}": (c * 10.0, JPAS_NARROW_FWHM) for c in range(400, 911, 10)},
    "jpas_J1007": (10072.0, 538.0),
}
JPAS_PEAK_TRANSMISSION = 0.85

# J-PLUS's 7 medium/narrow bands (Cenarro et al. 2019, Table 2: central wavelength, FWHM); its broad bands are
# SDSS-like (``jpas_gSDSS`` ... and ``sdss_z``) and uJAVA/J0378/J0660 are J-PAS's own.
JPLUS_BANDS: dict[str, tuple[float, float]] = {
    "jplus_J0395": (3950.0, 100.0),
    "jplus_J0410": (4100.0, 200.0),
    "jplus_J0430": (4300.0, 200.0),
    "jplus_J0515": (5150.0, 200.0),
    "jplus_J0861": (8610.0, 400.0),
}

# canonical name -> sedpy filter name: HST total system throughputs (STScI), WFC3/UVIS chip 1 and ACS/WFC.
# ``hst_fNNNw`` is WFC3/UVIS (PHANGS-HST's camera); ``hst_acs_fNNNw`` the ACS/WFC band of the same name.
SEDPY_BANDS: dict[str, str] = {
    **{f"hst_{b}": f"wfc3_uvis_{b}" for b in ("f225w", "f275w", "f336w", "f390w", "f475w", "f555w", "f606w",
                                              "f814w")},
    **{f"hst_acs_{b}": f"acs_wfc_{b}" for b in ("f435w", "f475w", "f555w", "f606w", "f625w", "f775w", "f814w",
                                                "f850lp")},
}

# WFC3/UVIS F438W, which no package here ships: a top-hat at the Instrument Handbook's pivot wavelength and width.
HST_SYNTHETIC_BANDS: dict[str, tuple[float, float]] = {"hst_f438w": (4326.0, 615.0)}

SYNTHETIC_BANDS: dict[str, tuple[float, float]] = {**JPAS_BANDS, **JPLUS_BANDS, **HST_SYNTHETIC_BANDS}


def available_bands() -> list[str]:
    """All canonical band names galfm knows without being told a curve."""
    return sorted([*SPECLITE_BANDS, *SEDPY_BANDS, *SYNTHETIC_BANDS])


def band_source(name: str) -> str:
    """Where a band's curve comes from: the package and its curve name, or that it is synthesised."""
    if name in SPECLITE_BANDS:
        return f"speclite {SPECLITE_BANDS[name]}"
    if name in SEDPY_BANDS:
        return f"sedpy {SEDPY_BANDS[name]}"
    if name in SYNTHETIC_BANDS:
        center, fwhm = SYNTHETIC_BANDS[name]
        return f"synthesised top-hat ({center:.0f} A, FWHM {fwhm:.0f} A; no package ships this curve)"
    raise ValueError(f"Unknown filter {name!r}. Known bands: {', '.join(available_bands())}.")


def _speclite_filters():
    try:
        import speclite.filters as speclite_filters
    except ImportError as err:  # pragma: no cover - speclite is a hard dependency of the installed package
        raise ImportError("Filter curves need speclite: `pip install speclite`.") from err
    return speclite_filters


def jpas_response(name: str, wavelength: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic transmission (J-PAS, J-PLUS, WFC3 F438W): a flat top with logistic edges at the FWHM."""
    center, fwhm = SYNTHETIC_BANDS[name]
    if wavelength is None:
        half = fwhm / 2 + 8 * JPAS_EDGE_WIDTH
        wavelength = np.linspace(center - half, center + half, 401)
    lo, hi = center - fwhm / 2, center + fwhm / 2
    rise = 1.0 / (1.0 + np.exp(-(wavelength - lo) / (JPAS_EDGE_WIDTH / 4)))
    fall = 1.0 / (1.0 + np.exp((wavelength - hi) / (JPAS_EDGE_WIDTH / 4)))
    response = JPAS_PEAK_TRANSMISSION * rise * fall
    response[[0, -1]] = 0.0
    return wavelength, response


@cache
def load_filter(name: str):
    """A ``speclite.filters.FilterResponse`` for a canonical band name."""
    speclite_filters = _speclite_filters()
    if name in SPECLITE_BANDS:
        return speclite_filters.load_filter(SPECLITE_BANDS[name])
    if name in SEDPY_BANDS:
        wavelength, response = _sedpy_curve(SEDPY_BANDS[name])
    elif name in SYNTHETIC_BANDS:
        wavelength, response = jpas_response(name)
    else:
        raise ValueError(f"Unknown filter {name!r}. Known bands: {', '.join(available_bands())}.")
    import astropy.units as u

    group, band = name.rsplit("_", 1)
    return speclite_filters.FilterResponse(
        wavelength=wavelength * u.Angstrom, response=response, meta={"group_name": group, "band_name": band}
    )


def _sedpy_curve(sedpy_name: str) -> tuple[np.ndarray, np.ndarray]:
    """A sedpy throughput as (wavelength, response), with the zero ends speclite requires."""
    try:
        from sedpy.observate import Filter
    except ImportError as err:  # pragma: no cover - astro-sedpy is a hard dependency of the installed package
        raise ImportError("HST filter curves need sedpy: `pip install astro-sedpy`.") from err
    curve = Filter(sedpy_name)
    wavelength = np.asarray(curve.wavelength, dtype=float)
    response = np.clip(np.asarray(curve.transmission, dtype=float), 0.0, None)
    response[[0, -1]] = 0.0
    return wavelength, response


def summarize_response(wavelength, response) -> tuple[float, float]:
    """(effective wavelength, FWHM) in Angstrom of a photon-counting response curve.

    The effective wavelength is speclite's (``FilterResponse.effective_wavelength``); the FWHM is measured
    between the outermost half-maximum crossings of the curve. ``wavelength`` is in Angstrom or an astropy
    Quantity of length.
    """
    speclite_filters = _speclite_filters()
    import astropy.units as u

    wavelength = u.Quantity(wavelength, u.Angstrom).to_value(u.Angstrom).astype(float)
    response = np.asarray(response, dtype=float)
    if wavelength.ndim != 1 or wavelength.shape != response.shape or wavelength.size < 3:
        raise ValueError("A filter curve needs matching 1-D wavelength and response arrays (at least 3 points).")
    try:
        curve = speclite_filters.FilterResponse(
            wavelength=wavelength * u.Angstrom, response=response, meta={"group_name": "user", "band_name": "x"}
        )
    except ValueError as err:
        raise ValueError(f"Invalid filter curve: {err} (speclite needs increasing wavelengths, 0 <= response "
                         "<= 1 and zero response at both ends).") from err
    return float(curve.effective_wavelength.to_value(u.Angstrom)), _fwhm(wavelength, response)


def _fwhm(wavelength: np.ndarray, response: np.ndarray) -> float:
    half = 0.5 * response.max()
    above = np.nonzero(response >= half)[0]
    i, j = above[0], above[-1]

    def crossing(k0: int, k1: int) -> float:
        r0, r1 = response[k0], response[k1]
        return float(wavelength[k0] + (half - r0) * (wavelength[k1] - wavelength[k0]) / (r1 - r0))

    left = crossing(i - 1, i) if i > 0 else float(wavelength[0])
    right = crossing(j, j + 1) if j < wavelength.size - 1 else float(wavelength[-1])
    return right - left


@cache
def band_summary(name: str) -> tuple[float, float]:
    """(effective wavelength, FWHM) in Angstrom of a canonical band."""
    import astropy.units as u

    curve = load_filter(name)
    return float(curve.effective_wavelength.to_value(u.Angstrom)), _fwhm(curve.wavelength, curve.response)


def default_filter_table() -> dict[str, list[float]]:
    """Every known band as ``{name: [effective wavelength, FWHM]}`` (Angstrom), the tokenizer's filter table."""
    return {name: [round(v, 3) for v in band_summary(name)] for name in available_bands()}
