"""Milky-Way extinction: the map against the full-resolution SFD values the real files carry, the spectrum's curve
against the published band coefficients, and SDSS records de-reddened with their source named."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from galfm.datasets_scripts.galactic_extinction import (
    BAND_COEFFICIENTS,
    SFD_MAP_SOURCE,
    band_coefficient,
    band_transmission,
    curve_coefficient,
    sfd_ebv,
)
from galfm.datasets_scripts.sdss import read_spec


def test_the_offline_map_agrees_with_the_full_resolution_values_in_real_files(data_dir):
    """DESI's EBV, the Legacy sweep's MW_TRANSMISSION_G (R_g = 3.214) and BOSS's EXTINCTION (R_r = 2.285) come
    from SFD at full resolution; the nside-64 copy is within 0.01 of each (0.0003, 0.009, 0.0026 measured)."""
    with fits.open(data_dir / "desi" / "coadd-4-80613-thru20210324.fits") as hdus:
        fibre = hdus["FIBERMAP"].data[0]
    assert sfd_ebv(fibre["TARGET_RA"], fibre["TARGET_DEC"]) == pytest.approx(fibre["EBV"], abs=0.002)
    with fits.open(data_dir / "legacysurvey" / "sweep-310m005-320p000.fits") as hdus:
        sweep = hdus[1].data
    catalogue = -2.5 * np.log10(sweep["MW_TRANSMISSION_G"]) / BAND_COEFFICIENTS["decam_g"]
    np.testing.assert_allclose(sfd_ebv(sweep["RA"], sweep["DEC"]), catalogue, atol=0.01)
    with fits.open(data_dir / "sdss" / "spec-7338-57859-0739.fits") as hdus:
        row = hdus["SPALL"].data[0]
    assert sfd_ebv(row["PLUG_RA"], row["PLUG_DEC"]) == pytest.approx(row["EXTINCTION"][2] / 2.285, abs=0.004)


@pytest.mark.parametrize("band", ["sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z", "decam_g", "decam_z"])
def test_the_spectrum_curve_gives_the_published_band_coefficients(band):
    """F99 (R_V = 3.1) at 0.86 E(B-V)_SFD through the band, for a 7000 K source as Schlafly & Finkbeiner (2011)
    used: within 4% of their Table 6 coefficients (2-3% low measured), so spectrum and photometry agree and a
    band without a published value (J-PAS, GALEX, Euclid) gets a right one."""
    assert curve_coefficient(band) == pytest.approx(BAND_COEFFICIENTS[band], rel=0.04)
    assert band_transmission(band, 0.1) == pytest.approx(10 ** (-0.04 * BAND_COEFFICIENTS[band]))


def test_bands_without_a_published_coefficient_follow_the_curve():
    """GALEX NUV sits on the 2175 A bump (7.2-8.0 E(B-V) in the literature, for galaxy and stellar SEDs; 6.4 for
    the 7000 K source); Euclid H is nearly transparent."""
    assert 5.5 < band_coefficient("galex_nuv") < 9.0
    assert band_coefficient("jpas_J0400") > band_coefficient("jpas_J0700") > band_coefficient("euclid_h") > 0.3
    assert band_coefficient("euclid_h") < 0.6


def test_sdss_records_are_de_reddened_and_say_how(data_dir):
    """A DR8 SPECOBJ row carries no extinction: E(B-V) from the map (0.083 at plate 266); BOSS's spAll row does."""
    path = data_dir / "sdss" / "spec-0266-51602-0013.fits"
    record = read_spec(path)
    with fits.open(path) as hdus:
        row, coadd = hdus["SPECOBJ"].data[0], hdus["COADD"].data
    ebv = float(sfd_ebv(row["PLUG_RA"], row["PLUG_DEC"]))
    assert 0.07 < ebv < 0.1
    assert f"mw_ebv={ebv:.4f}" in record["flags"] and f"mw_ebv_source={SFD_MAP_SOURCE}" in record["flags"]
    u_flux = record["photometry"]["flux"][record["photometry"]["band"].index("sdss_u")]
    assert u_flux == pytest.approx(row["CALIBFLUX"][0] * 10 ** (0.4 * 4.239 * ebv), rel=1e-5)  # 0.35 mag in u
    good = coadd["ivar"] > 0
    ratio = record["spectrum"]["flux"][good] / coadd["flux"][good]
    ratio = ratio[np.isfinite(ratio) & (np.abs(coadd["flux"][good]) > 1)]
    assert ratio[0] > ratio[-1] > 1  # blue pixels boosted more than red ones
    boss = read_spec(data_dir / "sdss" / "spec-7338-57859-0739.fits")
    assert "mw_ebv_source=sdss_extinction" in boss["flags"]


def test_a_position_off_the_sky_is_a_named_error():
    with pytest.raises(ValueError, match="sky position"):
        sfd_ebv(10.0, 95.0)
