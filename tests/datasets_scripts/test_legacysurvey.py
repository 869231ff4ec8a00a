"""Legacy Surveys tractor/sweep catalogues and brick cut-outs."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from galfm.datasets_scripts.legacysurvey import cutout, read_catalog

BRICK = "legacysurvey-0959p805-{}-g.fits.fz"


def test_tractor_row_with_transmission_divided_out(data_dir):
    path = data_dir / "legacysurvey" / "tractor-1054p567.fits"
    (record,) = read_catalog(path)
    row = fits.getdata(path)[0]
    assert record["object_id"] == "ls-9011-607466-2657"
    assert record["photometry"]["band"] == ["bass_g", "bass_r", "mzls_z", "wise_w1", "wise_w2", "wise_w3", "wise_w4"]
    for band, key in zip(record["photometry"]["band"], ("G", "R", "Z", "W1", "W2", "W3", "W4")):
        i = record["photometry"]["band"].index(band)
        assert record["photometry"]["flux"][i] == pytest.approx(row[f"FLUX_{key}"] / row[f"MW_TRANSMISSION_{key}"])
        assert record["photometry"]["flux_ivar"][i] == pytest.approx(
            row[f"FLUX_IVAR_{key}"] * row[f"MW_TRANSMISSION_{key}"] ** 2, rel=1e-6)
    assert record["properties"]["r_eff"] == pytest.approx(row["SHAPE_R"])
    assert record["flags"] == ["ls_type=REX"]


def test_sweep_rows_shapes_and_point_sources(data_dir):
    records = read_catalog(data_dir / "legacysurvey" / "sweep-310m005-320p000.fits")
    table = fits.getdata(data_dir / "legacysurvey" / "sweep-310m005-320p000.fits")
    assert len(records) == len(table) == 6
    for record, row in zip(records, table):
        if row["TYPE"].strip() == "PSF":
            assert record["properties"] is None
        else:  # DR8 sweeps: exponential shape columns
            e = np.hypot(row["SHAPEEXP_E1"], row["SHAPEEXP_E2"])
            assert record["properties"]["r_eff"] == pytest.approx(row["SHAPEEXP_R"])
            assert record["properties"]["axis_ratio"] == pytest.approx((1 - e) / (1 + e), rel=1e-5)
        assert record["photometry"]["band"][0] == "decam_g"


def test_brick_cutout_follows_the_wcs_and_marks_empty_pixels(data_dir):
    image, invvar = (data_dir / "legacysurvey" / BRICK.format(k) for k in ("image", "invvar"))
    data, ivar_full = fits.getdata(image), fits.getdata(invvar)
    wcs = WCS(fits.getheader(image, 1))
    rows, cols = np.nonzero(ivar_full > 0)
    y, x = rows.min() + 10, cols[rows == rows.min() + 10].min()  # at the edge of the covered region
    ra, dec = wcs.pixel_to_world_values(x, y)
    flux, ivar, scale = cutout(image, invvar, float(ra), float(dec), size=32)
    assert flux.shape == ivar.shape == (32, 32) and scale == pytest.approx(0.262, abs=1e-4)
    assert flux[16, 16] == pytest.approx(data[y, x]) and ivar[16, 16] == pytest.approx(ivar_full[y, x])
    assert 0 < (ivar > 0).mean() < 1  # part of the cut-out has no data ...
    assert np.all(flux[ivar == 0] == 0)  # ... and carries ivar 0, flux 0
    with pytest.raises(ValueError, match="outside this brick"):
        cutout(image, invvar, float(ra) + 5, float(dec))


def test_catalogue_rows_get_cutouts_from_brick_images_beside_them(tmp_path, data_dir):
    import shutil

    from astropy.table import Table

    from galfm.datasets_scripts import load_survey

    for kind in ("image", "invvar"):
        shutil.copy(data_dir / "legacysurvey" / BRICK.format(kind), tmp_path)
    image = tmp_path / BRICK.format("image")
    ivar_full = fits.getdata(tmp_path / BRICK.format("invvar"))
    rows, cols = np.nonzero(ivar_full > 0)
    ra, dec = WCS(fits.getheader(image, 1)).pixel_to_world_values(cols[len(cols) // 2], rows[len(rows) // 2])
    Table({"RELEASE": [9010], "BRICKID": [1], "OBJID": [5], "BRICKNAME": ["0959p805"], "TYPE": ["PSF"],
           "RA": [float(ra)], "DEC": [float(dec)], "FLUX_G": [2.0], "FLUX_IVAR_G": [100.0],
           "MW_TRANSMISSION_G": [0.9], "NOBS_G": [3]}).write(tmp_path / "tractor-0959p805.fits")
    (record,) = load_survey("legacysurvey", tmp_path, cache_dir=str(tmp_path / "cache"))
    assert record["image"]["band"] == ["decam_g"]
    flux = np.asarray(record["image"]["flux"])
    assert flux.shape == (1, 64, 64) and record["image"]["pixel_scale"] == pytest.approx(0.262, abs=1e-4)
    ivar = np.asarray(record["image"]["ivar"])
    assert ivar.min() >= 0 and (ivar > 0).any() and np.all(flux[ivar == 0] == 0)
