"""The galaxy record as datasets.Features: real records encode, survive Arrow, and tokenize the same."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from conftest import synthetic_galaxy
from galfm import PROPERTIES
from galfm.datasets_scripts.schema import FIELD_UNITS, GALAXY_FEATURES, validate_record
from galfm.datasets_scripts.sdss import read_spec


def test_every_property_and_array_field_has_a_documented_unit():
    for key in GALAXY_FEATURES["properties"]:
        if key not in ("sfh", "morphology"):
            assert f"properties.{key}" in FIELD_UNITS and key in PROPERTIES
    for field in ("spectrum.wavelength", "spectrum.flux", "photometry.flux", "image.flux", "image.pixel_scale"):
        assert field in FIELD_UNITS


def test_records_round_trip_through_arrow_and_tokenize_identically(processor, data_dir, tmp_path):
    sdss = read_spec(data_dir / "sdss" / "spec-0266-51602-0013.fits")
    synthetic = synthetic_galaxy()
    synthetic["properties"]["morphology"] = "spiral"
    rows = [validate_record(sdss), validate_record(synthetic)]
    ds = datasets.Dataset.from_list(rows, features=GALAXY_FEATURES)
    ds.to_parquet(tmp_path / "galaxies.parquet")
    back = datasets.load_dataset("parquet", data_files=str(tmp_path / "galaxies.parquet"), split="train",
                                 features=GALAXY_FEATURES)
    assert back.features == GALAXY_FEATURES
    assert back[0]["properties"]["redshift"] == pytest.approx(0.1213, abs=1e-4)
    assert back[0]["image"] is None and back[1]["properties"]["morphology"] == "spiral"
    original = processor([sdss, synthetic])
    reloaded = processor([back[0], back[1]])
    assert original.keys() == reloaded.keys()
    for key in original:
        np.testing.assert_allclose(original[key], reloaded[key], rtol=1e-6, atol=1e-6, err_msg=key)


def test_validate_record_rejects_unknown_fields_and_mismatched_arrays():
    with pytest.raises(ValueError, match="unknown record fields"):
        validate_record({"object_id": "x", "spectra": {}})
    with pytest.raises(ValueError, match="unknown properties"):
        validate_record({"object_id": "x", "properties": {"mass": 1.0}})
    with pytest.raises(ValueError, match="photometry arrays differ"):
        validate_record({"object_id": "x", "photometry": {"band": ["sdss_r"], "flux": [1.0, 2.0],
                                                          "flux_ivar": [1.0]}})
