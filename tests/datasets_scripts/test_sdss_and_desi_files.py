"""SDSS and DESI files read into records with the schema's units (the start of the survey loaders)."""

from __future__ import annotations

import numpy as np
import pytest

from galfm.datasets_scripts.desi import read_coadd
from galfm.datasets_scripts.sdss import read_spec


def test_sdss_spec_units_and_redshift(data_dir):
    record = read_spec(data_dir / "sdss" / "spec-0266-51602-0013.fits")
    spec = record["spectrum"]
    assert record["object_id"] == "sdss-0266-51602-0013"
    # loglam -> vacuum Angstrom on the 1e-4 dex grid
    assert spec["wavelength"][0] == pytest.approx(3803.64, abs=0.01)
    assert np.allclose(np.diff(np.log10(spec["wavelength"])), 1e-4, atol=1e-7)
    assert record["properties"]["redshift"] == pytest.approx(0.12132, abs=1e-5)
    assert record["photometry"]["band"] == ["sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z"]
    # only pixels with hard SPPIXMASK bits are masked (a few %), not the informational ones
    assert 0 < spec["mask"].mean() < 0.05


def test_sdss_redshift_failure_keeps_data_and_its_flagged_redshift(data_dir):
    from galfm.datasets_scripts.schema import trusted_properties

    record = read_spec(data_dir / "sdss" / "spec-0269-51581-0003.fits")  # ZWARNING = 6
    assert "redshift" in record["properties"] and "sdss_zwarning=6" in record["flags"]  # nothing is lost
    assert "redshift" not in trusted_properties(record)  # and no task takes it as a label
    assert record["spectrum"] is not None and record["photometry"] is not None


def test_desi_coadd_skips_sky_and_unassigned_fibres(data_dir):
    records = read_coadd(data_dir / "desi" / "coadd-sv3-dark-26065.fits")
    assert [r["object_id"] for r in records] == ["desi-39627866878511337", "desi-39627866878514741"]
    assert records[0]["photometry"]["band"][:3] == ["decam_g", "decam_r", "decam_z"]  # PHOTSYS S


def test_desi_coadd_with_redrock(data_dir):
    (record,) = read_coadd(data_dir / "desi" / "coadd-4-80613-thru20210324.fits",
                           data_dir / "desi" / "redrock-4-80613-thru20210324.fits", merge=False)
    assert record["object_id"] == "desi-39633345008634465"
    assert record["properties"]["redshift"] == pytest.approx(0.36874, abs=1e-5)
    assert record["photometry"]["band"] == ["bass_g", "bass_r", "mzls_z", "wise_w1", "wise_w2"]  # PHOTSYS N
    arms = record["spectrum"]
    assert [a["wavelength"][0] for a in arms] == [3600.0, 5760.0, 7520.0]
    assert arms[2]["wavelength"][-1] == pytest.approx(9824.0)


def test_corrupt_files_name_the_file(tmp_path):
    bad = tmp_path / "spec-broken.fits"
    bad.write_bytes(b"SIMPLE  =   this is not a FITS file")
    with pytest.raises(ValueError, match="spec-broken.fits"):
        read_spec(bad)
    with pytest.raises(ValueError, match="spec-broken.fits"):
        read_coadd(bad)


def test_missing_hdu_is_named(tmp_path, data_dir):
    from astropy.io import fits

    path = tmp_path / "coadd-nofibermap.fits"
    with fits.open(data_dir / "desi" / "coadd-4-80613-thru20210324.fits") as hdus:
        fits.HDUList([h for h in hdus if h.name != "FIBERMAP"]).writeto(path)
    with pytest.raises(ValueError, match=r"coadd-nofibermap.fits: missing HDUs \['FIBERMAP'\]"):
        read_coadd(path)


def test_truncated_file_is_named(tmp_path, data_dir):
    path = tmp_path / "spec-truncated.fits"
    path.write_bytes((data_dir / "sdss" / "spec-0266-51602-0013.fits").read_bytes()[:20000])
    with pytest.raises(ValueError, match="spec-truncated.fits"):
        read_spec(path)
