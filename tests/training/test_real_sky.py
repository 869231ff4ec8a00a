"""What the real-sky benchmark reads and how it scores: catalogue values, flags, the bar's fractions."""

from __future__ import annotations

import numpy as np
import pytest

from galfm.training.real_sky import fainter, read_real_galaxies, summarize


def test_real_files_give_their_catalogue_redshift_class_and_security(data_dir):
    galaxies = {g.record["object_id"]: g for g in read_real_galaxies([data_dir / "sdss", data_dir / "desi"])}
    good = galaxies["sdss-0266-51602-0013"]
    assert good.secure and good.catalogue_class == "GALAXY" and good.catalogue_z == pytest.approx(0.12132, abs=1e-4)
    assert 14 < good.r_mag < 20
    assert galaxies["sdss-0332-52367-0639"].catalogue_class == "QSO" and not galaxies["sdss-0332-52367-0639"].secure
    assert "sdss-0269-51581-0003" not in galaxies  # no valid pixel: nothing to measure
    desi = galaxies["desi-39633345008634465"]
    assert desi.secure and desi.catalogue_z == pytest.approx(0.36874, abs=1e-5)


def test_summary_fractions_count_only_secure_galaxies():
    rows = [
        {"secure": True, "class": "GALAXY", "r_mag": 17.0, "spectrum": {"dz": 0.001, "within_2sigma": True},
         "photometry": {"dz": 0.03, "within_2sigma": True}},
        {"secure": True, "class": "GALAXY", "r_mag": 21.0, "spectrum": {"dz": -0.005, "within_2sigma": False},
         "photometry": {"dz": 0.2, "within_2sigma": False}},
        {"secure": False, "class": "QSO", "r_mag": None, "spectrum": {"dz": 0.5, "within_2sigma": False,
                                                                      "is_qso": True}},
    ]
    summary = summarize(rows)
    assert summary["spectrum"]["galaxies"] == 2 and summary["spectrum"]["within_0.003"] == 0.5
    assert summary["spectrum"]["within_0.01"] == 1.0 and summary["spectrum"]["within_2sigma"] == 0.5
    assert summary["photometry_r_lt_20"] == {"galaxies": 1, "within_0.05": 1.0}
    assert summary["qso"]["flagged"] == 1.0 and summary["qso"]["within_0.01"] == 0.0


def test_a_manga_cube_beside_its_drpall_is_a_secure_galaxy_the_shipped_head_measures(manga_cube):
    """The MaNGA path end to end: a gzipped LOGCUBE found in a folder, its drpall redshift, the shipped head's
    redshift from the aperture spectrum (the cube is made from a real SDSS spectrum, tests/conftest.py)."""
    from galfm.training.real_sky import measure
    from galfm.training.release import SHIPPED_DIR

    (galaxy,) = read_real_galaxies([manga_cube.parent])
    assert galaxy.secure and galaxy.catalogue_class == "GALAXY"
    assert galaxy.catalogue_z == pytest.approx(0.12132, abs=1e-4)
    from galfm import GalFMProcessor, load_head

    head = load_head(str(SHIPPED_DIR / "galfm-properties"))
    (row,) = measure(head, GalFMProcessor.from_pretrained(str(SHIPPED_DIR / "galfm")), [galaxy])
    assert abs(row["spectrum"]["dz"]) < 0.003 and row["spectrum"]["within_2sigma"]


def test_a_fainter_copy_keeps_the_files_noise_and_reaches_the_asked_snr(data_dir):
    """`fainter`: signal scaled to the S/N asked for, total noise still the file's own 1/sqrt(ivar)."""
    galaxy = next(g for g in read_real_galaxies([data_dir / "sdss"]) if g.secure)
    spectrum = galaxy.record["spectrum"]
    flux, ivar = np.asarray(spectrum["flux"], float), np.asarray(spectrum["ivar"], float)
    good = ivar > 0
    snr = np.median(np.abs(flux[good]) * np.sqrt(ivar[good]))
    copies = [fainter(galaxy.record, 1.0, np.random.default_rng(i))["spectrum"]["flux"] for i in range(200)]
    k = 1.0 / snr
    residual = (np.asarray(copies) - k * flux)[:, good] * np.sqrt(ivar[good])  # added noise in file sigmas
    assert np.std(residual) == pytest.approx(np.sqrt(1 - k**2), rel=0.01)
    assert np.median(np.abs(k * flux[good]) * np.sqrt(ivar[good])) == pytest.approx(1.0, rel=1e-6)
    assert fainter(galaxy.record, 2 * snr, np.random.default_rng(0)) is None  # never brighter than the file
    assert galaxy.record["spectrum"]["flux"] is spectrum["flux"]  # the record itself is untouched
