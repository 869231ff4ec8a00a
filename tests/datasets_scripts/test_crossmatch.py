"""Cross-matching on sky position: the DESI spectrum and the Legacy Surveys photometry of one galaxy."""

from __future__ import annotations

import numpy as np
import pytest

from galfm.datasets_scripts import crossmatch
from galfm.datasets_scripts.desi import read_coadd
from galfm.datasets_scripts.legacysurvey import read_catalog
from galfm.datasets_scripts.schema import validate_record


def test_desi_target_and_tractor_row_become_one_record(data_dir, processor):
    desi = read_coadd(data_dir / "desi" / "coadd-4-80613-thru20210324.fits",
                      data_dir / "desi" / "redrock-4-80613-thru20210324.fits")
    tractor = read_catalog(data_dir / "legacysurvey" / "tractor-1054p567.fits")
    result = crossmatch(desi, tractor, radius_arcsec=1.0)
    (record,) = result.records
    assert record["object_id"] == "desi-39633345008634465+ls-9011-607466-2657"
    assert record["spectrum"]["wavelength"].size == 7781
    assert record["photometry"]["band"] == ["bass_g", "bass_r", "mzls_z", "wise_w1", "wise_w2", "wise_w3",
                                            "wise_w4"]
    assert record["properties"]["redshift"] == pytest.approx(0.36874, abs=1e-5)
    assert record["properties"]["r_eff"] == pytest.approx(0.3878, abs=1e-4)
    assert not result.unmatched and not result.ambiguous
    assert not result.conflicts  # DESI's FIBERMAP fluxes are this tractor row's, MW-corrected the same way
    validate_record(record)
    processor(record)


def _record(object_id, ra, dec, survey="a"):
    return {"object_id": object_id, "survey": survey, "ra": ra, "dec": dec, "spectrum": None, "image": None,
            "properties": None, "flags": None,
            "photometry": {"band": ["sdss_r"], "flux": np.array([1.0], np.float32),
                           "flux_ivar": np.array([1.0], np.float32)}}


def test_unmatched_and_ambiguous_are_reported_not_dropped():
    primary = [_record("p1", 10.0, 0.0), _record("p2", 20.0, 0.0), _record("nopos", None, None)]
    other = [_record("o1", 10.0, 0.5 / 3600, "b"), _record("o2", 10.0, -0.5 / 3600, "b"),  # both near p1
             _record("o3", 30.0, 0.0, "b")]
    result = crossmatch(primary, other, radius_arcsec=1.0)
    assert result.ambiguous == [("p1", ["o1", "o2"])]
    assert {r["object_id"] for r in result.unmatched} == {"nopos", "o1", "o2", "o3"}
    assert [r["object_id"] for r in result.records] == ["p1", "p2", "nopos"]  # primaries kept, unmerged
    assert "1 ambiguous" in result.summary()


def test_a_band_measured_twice_keeps_the_precise_one_and_says_so():
    a = _record("p1", 10.0, 0.0)
    b = _record("o1", 10.0, 0.0, "b")
    b["photometry"] = {"band": ["sdss_r", "sdss_g"], "flux": np.array([1.2, 2.0], np.float32),
                       "flux_ivar": np.array([4.0, 1.0], np.float32)}
    result = crossmatch([a], [b])
    (record,) = result.records
    assert record["photometry"]["band"] == ["sdss_r", "sdss_g"]
    assert record["photometry"]["flux"][0] == pytest.approx(1.2)
    assert len(result.conflicts) == 1 and "sdss_r measured twice" in result.conflicts[0]
