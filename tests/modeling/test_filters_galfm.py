"""Filter curves: measured throughputs where a package ships them, synthesised top-hats only where none does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sedpy

from galfm.filters_galfm import available_bands, band_source, band_summary, load_filter

SEDPY_FILTERS = Path(sedpy.__file__).parent / "data" / "filters"


def _raw_curve(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The shipped STScI throughput table, read with numpy alone (two columns, '#' comments)."""
    table = np.loadtxt(SEDPY_FILTERS / f"{name}.par", comments="#")
    return table[:, 0], table[:, 1]


@pytest.mark.parametrize("band, sedpy_name", [("hst_f275w", "wfc3_uvis_f275w"), ("hst_f555w", "wfc3_uvis_f555w"),
                                               ("hst_f814w", "wfc3_uvis_f814w"), ("hst_acs_f435w", "acs_wfc_f435w")])
def test_hst_bands_are_the_shipped_throughputs(band, sedpy_name):
    wavelength, response = _raw_curve(sedpy_name)
    # photon-counting effective wavelength and FWHM of the raw table, computed independently
    expected_eff = np.trapezoid(wavelength**2 * response, wavelength) / np.trapezoid(wavelength * response, wavelength)
    above = wavelength[response >= response.max() / 2]
    expected_fwhm = above[-1] - above[0]
    eff, fwhm = band_summary(band)
    assert eff == pytest.approx(expected_eff, rel=2e-3)
    assert fwhm == pytest.approx(expected_fwhm, abs=5.0)  # 1 A table steps, interpolated crossings
    assert band_source(band) == f"sedpy {sedpy_name}"


def test_pivot_wavelengths_match_the_instrument_handbook():
    """WFC3 Instrument Handbook (UVIS1) pivot wavelengths: F275W 2710, F336W 3355, F555W 5308, F814W 8029 A."""
    for band, pivot in {"hst_f275w": 2710.0, "hst_f336w": 3355.0, "hst_f555w": 5308.0, "hst_f814w": 8029.0}.items():
        curve = load_filter(band)
        lam = curve.wavelength
        measured = np.sqrt(np.trapezoid(lam * curve.response, lam) / np.trapezoid(curve.response / lam, lam))
        assert measured == pytest.approx(pivot, rel=2e-3), band


def test_every_band_has_a_source_and_only_unshipped_ones_are_synthesised():
    sources = {name: band_source(name) for name in available_bands()}
    synthesised = {name for name, source in sources.items() if source.startswith("synthesised")}
    assert "hst_f438w" in synthesised  # no package here ships WFC3 F438W
    assert not synthesised & {"hst_f275w", "hst_f336w", "hst_f555w", "hst_f814w", "sdss_r", "decam_g", "hsc_y",
                              "galex_nuv", "wise_w1"}
    assert {name.split("_")[0] for name in synthesised} == {"jpas", "jplus", "hst"}
    assert sources["hsc_i"].startswith("speclite hsc2017")
    with pytest.raises(ValueError, match="Unknown filter 'hst_f999w'"):
        band_source("hst_f999w")
