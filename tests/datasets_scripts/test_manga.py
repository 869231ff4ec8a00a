"""MaNGA LOGCUBEs: units, masks, the line spread, de-reddening and the drpall redshift, on a cube made by the DR17
data model from a real SDSS spectrum (tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from galfm.datasets_scripts import load_survey
from galfm.datasets_scripts.galactic_extinction import spectrum_transmission
from galfm.datasets_scripts.manga import load_manga_cube, read_manga_cube
from galfm.datasets_scripts.schema import validate_record


def test_the_target_aperture_is_the_sum_of_its_spaxels_dereddened(manga_cube, processor):
    (record,) = read_manga_cube(manga_cube)
    validate_record(record)
    with fits.open(manga_cube) as hdus:
        flux, wave = hdus["FLUX"].data.astype(float), hdus["WAVE"].data
        lsf = hdus["LSFPOST"].data[:, 7, 7]
        ebv = hdus[0].header["EBVGAL"]
    yy, xx = np.mgrid[:15, :15]
    inside = np.hypot(yy - 7, xx - 7) * 0.5 <= 1.5
    spectrum = record["spectrum"]
    good = ~spectrum["mask"]
    expected = flux[:, inside].sum(axis=1) / spectrum_transmission(wave, ebv)
    np.testing.assert_allclose(spectrum["flux"][good], expected[good], rtol=1e-5)
    assert 0.3 < good.mean() < 0.95  # the SDSS spectrum covers 3800-9200 A of MaNGA's 3622-10354 A
    np.testing.assert_allclose(spectrum["lsf_sigma"], lsf, rtol=1e-5)
    assert record["properties"]["redshift"] == pytest.approx(0.12132, abs=1e-4)
    assert {"manga_class=GALAXY", "manga_z_source=drpall", "mw_ebv=0.0500", "mw_ebv_source=manga_ebvgal",
            "manga_aperture_arcsec=1.5"} <= set(record["flags"])
    assert record["survey"] == "manga" and record["object_id"] == "manga-8485-1901-ap0"
    processor(record)


def test_unusable_spaxels_are_masked_and_every_spaxel_can_be_read(manga_cube):
    cube = load_manga_cube(manga_cube)
    assert not cube.good[:, 0, 0].any()  # NOCOV
    assert cube.pixel_arcsec == pytest.approx(0.5)
    records = read_manga_cube(manga_cube, spaxels=True)
    assert len(records) == 15 * 15
    assert np.all(records[0]["spectrum"]["ivar"] == 0) and records[0]["spectrum"]["mask"].all()


def test_load_survey_finds_gzipped_cubes(manga_cube):
    ds = load_survey("manga", manga_cube.parent, cache_dir=str(manga_cube.parent / "cache"))
    assert len(ds) == 1 and ds[0]["properties"]["redshift"] == pytest.approx(0.12132, abs=1e-4)


def test_a_cube_with_the_wrong_units_is_refused_by_name(manga_cube, tmp_path):
    with fits.open(manga_cube) as hdus:
        hdus["FLUX"].header["BUNIT"] = "counts"
        hdus.writeto(tmp_path / "manga-1-2-LOGCUBE.fits")
    with pytest.raises(ValueError, match="BUNIT 'counts'"):
        load_manga_cube(tmp_path / "manga-1-2-LOGCUBE.fits")
