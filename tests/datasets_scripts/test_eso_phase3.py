"""ESO Phase 3 1D spectra (the LEGA-C spectrum the ppxf package ships): units and air -> vacuum at the boundary."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from galfm.datasets_scripts.eso_phase3 import read_phase3_spectrum
from galfm.datasets_scripts.galactic_extinction import sfd_ebv, spectrum_transmission
from galfm.datasets_scripts.surveys import survey_reader
from galfm.training.real_sky import ppxf_spectra_dir

LEGAC = ppxf_spectra_dir() / "legac_M19_56670_v3.0.fits"  # ppxf is a dependency of galfm


def test_legac_spectrum_in_record_units_and_vacuum_wavelengths():
    record = read_phase3_spectrum(LEGAC)
    with fits.open(LEGAC) as hdus:
        row = hdus[1].data[0]
        air, flux_1e19, quality = np.asarray(row["WAVE"], float), np.asarray(row["FLUX"]), np.asarray(row["QUAL"])
    spectrum = record["spectrum"]
    # vacuum is longer than air by n - 1 ~ 2.8e-4 in the optical (Ciddor 1996)
    ratio = spectrum["wavelength"] / air
    assert np.all((ratio > 1.00026) & (ratio < 1.00030))
    good = spectrum["ivar"] > 0
    assert good.sum() > 3000 and not np.any(good & (quality != 0))
    # 1e-19 -> 1e-17, de-reddened at COSMOS's SFD E(B-V) = 0.020 (3-4% across LEGA-C's 6300-8800 A)
    ebv = float(sfd_ebv(record["ra"], record["dec"]))
    assert 0.01 < ebv < 0.03 and f"mw_ebv={ebv:.4f}" in record["flags"]
    transmission = spectrum_transmission(spectrum["wavelength"][good], ebv)
    np.testing.assert_allclose(spectrum["flux"][good] * transmission, flux_1e19[good] / 100.0, rtol=1e-5)
    assert record["object_id"] == "eso-M19_56670" and record["properties"] is None


def test_the_survey_table_knows_eso_phase3_files():
    reader = survey_reader("eso_phase3")
    assert "legac_*.fits" in reader.patterns and reader.read(LEGAC)[0]["survey"] == "eso_phase3"


def test_a_table_without_flux_is_a_named_error(tmp_path):
    path = tmp_path / "legac_broken.fits"
    columns = [fits.Column(name="WAVE", format="3E", array=[[5000.0, 5001.0, 5002.0]], unit="angstrom")]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns, name="PHASE3SPECTRA")]).writeto(path)
    with pytest.raises(ValueError, match="FLUX"):
        read_phase3_spectrum(path)
