"""SDSS/BOSS spec files: values and units equal what the files hold, failures flagged, lite and full layouts."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from galfm.datasets_scripts.galactic_extinction import band_transmission, spectrum_transmission
from galfm.datasets_scripts.schema import redshift_is_flagged, trusted_properties
from galfm.datasets_scripts.sdss import SDSS_BANDS, galactic_ebv, read_spec, spectrum_covers_band


def _ebv(hdus) -> float:
    """The SFD E(B-V) the reader de-reddened with (see test_galactic_extinction for where it comes from)."""
    return galactic_ebv(hdus[2].data[0], hdus[2].columns.names, hdus[0].header)[0]


def _extinction(hdus) -> np.ndarray:
    return np.array([band_transmission(band, _ebv(hdus)) for band in SDSS_BANDS])

FILES = ["spec-0266-51602-0013.fits", "spec-0266-51602-0107.fits", "spec-0269-51581-0003.fits",
         "spec-0332-52367-0639.fits", "spec-7338-57859-0739.fits"]


@pytest.mark.parametrize("name", FILES)
def test_every_sdss_file_matches_its_tables(data_dir, name, processor):
    path = data_dir / "sdss" / name
    record = read_spec(path)
    with fits.open(path) as hdus:
        coadd = hdus[1].data
        meta = hdus[2].data[0]
        zwarning, z, cls = int(meta["ZWARNING"]), float(meta["Z"]), str(meta["CLASS"]).strip()
        assert hdus[2].name in ("SPECOBJ", "SPALL")
        np.testing.assert_allclose(record["spectrum"]["wavelength"], 10 ** coadd["loglam"].astype(float), rtol=1e-6)
        transmission = spectrum_transmission(record["spectrum"]["wavelength"], _ebv(hdus))  # de-reddened
        np.testing.assert_allclose(record["spectrum"]["flux"] * transmission, coadd["flux"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(record["spectrum"]["ivar"] / transmission**2, coadd["ivar"], rtol=1e-5)
    assert f"sdss_class={cls}" in record["flags"]
    if zwarning == 0:
        assert record["properties"]["redshift"] == pytest.approx(z)
        assert f"sdss_z_err={float(meta['Z_ERR']):.3g}" in record["flags"]
    else:  # kept with its flag; tasks leave it out of their labels
        assert record["properties"]["redshift"] == pytest.approx(z) and f"sdss_zwarning={zwarning}" in record["flags"]
        assert redshift_is_flagged(record) and "redshift" not in trusted_properties(record)
    processor(record)  # every record tokenizes


def test_the_redshift_failure_is_kept_and_flagged(data_dir):
    record = read_spec(data_dir / "sdss" / "spec-0269-51581-0003.fits")
    assert record["flags"][:2] == ["sdss_class=GALAXY", "sdss_zwarning=6"]
    assert record["spectrum"] is not None


def test_ugriz_are_the_imaging_fibre_fluxes_not_the_spectrum_extrapolated_into_u(data_dir):
    """CALIBFLUX (imaging, the fibre's aperture) band by band, with its ivar; SPECTROFLUX u would be an
    extrapolation beyond the spectrograph's 3800 A start (here 0.57 mag brighter than the imaging's u)."""
    path = data_dir / "sdss" / "spec-0266-51602-0013.fits"
    record = read_spec(path)
    with fits.open(path) as hdus:
        meta = hdus[2].data[0]
        extinction = _extinction(hdus)  # the fluxes are de-reddened
        np.testing.assert_allclose(record["photometry"]["flux"] * extinction, meta["CALIBFLUX"], rtol=1e-6)
        np.testing.assert_allclose(record["photometry"]["flux_ivar"] / extinction**2, meta["CALIBFLUX_IVAR"],
                                   rtol=1e-5)
        assert -2.5 * np.log10(meta["SPECTROFLUX"][0] / meta["CALIBFLUX"][0]) < -0.5
    assert record["photometry"]["band"] == [f"sdss_{b}" for b in "ugriz"]
    assert "sdss_ugriz=u:CALIBFLUX,g:CALIBFLUX,r:CALIBFLUX,i:CALIBFLUX,z:CALIBFLUX" in record["flags"]


def test_without_calibflux_only_the_bands_the_spectrum_covers_come_from_spectroflux(data_dir, tmp_path):
    path = tmp_path / "spec.fits"
    with fits.open(data_dir / "sdss" / "spec-0266-51602-0013.fits") as hdus:
        hdus[2].data["CALIBFLUX_IVAR"][0] = 0.0  # no imaging flux: the pipeline's "missing"
        spectroflux = np.array(hdus[2].data["SPECTROFLUX"][0]) / _extinction(hdus)
        hdus.writeto(path)
    record = read_spec(path)
    # u (2980-4130 A) and z (7700-11200 A) reach past the spectrum's 3800-9200 A: extrapolations, left out
    assert record["photometry"]["band"] == ["sdss_g", "sdss_r", "sdss_i"]
    np.testing.assert_allclose(record["photometry"]["flux"], spectroflux[1:4], rtol=1e-5)
    assert "sdss_ugriz=g:SPECTROFLUX,r:SPECTROFLUX,i:SPECTROFLUX" in record["flags"]
    wavelength = record["spectrum"]["wavelength"]
    good = record["spectrum"]["ivar"] > 0
    assert not spectrum_covers_band(wavelength, good, "sdss_u")
    assert not spectrum_covers_band(wavelength, good, "sdss_z")
    assert spectrum_covers_band(wavelength, good, "sdss_r")
    assert not spectrum_covers_band(wavelength, good & (wavelength > 6000), "sdss_r")


@pytest.mark.parametrize("name", ["spec-0266-51602-0013.fits", "spec-0332-52367-0639.fits",
                                  "spec-7338-57859-0739.fits"])
def test_the_line_spread_comes_from_wdisp_at_the_spectrographs_resolution(data_dir, name):
    """SDSS and BOSS quote R = lambda / FWHM of about 1500 at 3800 A rising to about 2500 at 9000 A."""
    record = read_spec(data_dir / "sdss" / name)
    wavelength, sigma = record["spectrum"]["wavelength"], record["spectrum"]["lsf_sigma"]
    assert sigma.shape == wavelength.shape and np.all(sigma > 0)
    resolution = wavelength / (2 * np.sqrt(2 * np.log(2)) * sigma)
    blue, red = (float(np.median(resolution[np.abs(wavelength - w) < 100])) for w in (4000.0, 8800.0))
    assert 1200 < blue < 2000 and 1900 < red < 3000 and red > blue
    with fits.open(data_dir / "sdss" / name) as hdus:  # the conversion itself: wdisp pixels of 1e-4 dex
        wdisp = hdus[1].data["wdisp"].astype(float)
    good = wdisp > 0
    np.testing.assert_allclose(sigma[good], wdisp[good] * 1e-4 * np.log(10) * wavelength[good], rtol=1e-5)


def test_a_spectrum_without_valid_wdisp_has_no_line_spread(data_dir):
    assert read_spec(data_dir / "sdss" / "spec-0269-51581-0003.fits")["spectrum"]["lsf_sigma"] is None


def test_an_sdss_v_style_file_reads_its_position_and_name(data_dir, tmp_path):
    """SDSS-V spec-FIELD-MJD-CATALOGID files name the fibre position RACAT/DECCAT and have no PLATEID/FIBERID."""
    with fits.open(data_dir / "sdss" / "spec-0266-51602-0013.fits") as hdus:
        table = hdus["SPECOBJ"].data
        names = {"PLUG_RA": "RACAT", "PLUG_DEC": "DECCAT"}
        columns = [fits.Column(names.get(c.name, c.name), c.format, array=table[c.name], dim=c.dim)
                   for c in hdus["SPECOBJ"].columns]
        primary = hdus[0].copy()
        for key in ("PLATEID", "FIBERID", "PLUG_RA", "PLUG_DEC", "RA", "DEC"):
            primary.header.remove(key, ignore_missing=True, remove_all=True)
        ra, dec = float(table["PLUG_RA"][0]), float(table["PLUG_DEC"][0])
        path = tmp_path / "spec-101234-59800-27021598048451722.fits"
        fits.HDUList([primary, hdus["COADD"].copy(),
                      fits.BinTableHDU.from_columns(columns, name="SPALL")]).writeto(path)
    record = read_spec(path)
    assert record["object_id"] == "sdss-101234-59800-27021598048451722"
    assert (record["ra"], record["dec"]) == pytest.approx((ra, dec))
    assert record["properties"]["redshift"] == pytest.approx(0.12132, abs=1e-4)
