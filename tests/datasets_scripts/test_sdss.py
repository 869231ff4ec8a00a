"""SDSS/BOSS spec files: values and units equal what the files hold, failures flagged, lite and full layouts."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from galfm.datasets_scripts.schema import redshift_is_flagged, trusted_properties
from galfm.datasets_scripts.sdss import read_spec

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
        assert record["spectrum"]["flux"][0] == pytest.approx(float(coadd["flux"][0]))
        np.testing.assert_allclose(record["spectrum"]["wavelength"], 10 ** coadd["loglam"].astype(float), rtol=1e-6)
        np.testing.assert_array_equal(record["spectrum"]["ivar"], coadd["ivar"])
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
    assert record["flags"] == ["sdss_class=GALAXY", "sdss_zwarning=6"]
    assert record["spectrum"] is not None
