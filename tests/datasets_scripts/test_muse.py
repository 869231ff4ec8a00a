"""MUSE cubes (the PHANGS-MUSE format): air wavelengths to vacuum, 1e-20 to 1e-17 units, aperture sums."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from galfm.datasets_scripts.galactic_extinction import SFD_MAP_SOURCE, sfd_ebv, spectrum_transmission
from galfm.datasets_scripts.muse import read_cube
from galfm.datasets_scripts.units import air_to_vacuum

CUBE = "subcub_mosaic.fits"


def test_wavelengths_are_vacuum(data_dir):
    (record,) = read_cube(data_dir / "muse" / CUBE)
    wave = record["spectrum"]["wavelength"]
    assert wave.size == 500
    assert wave[0] == pytest.approx(air_to_vacuum(4750.0)) and wave[0] == pytest.approx(4751.33, abs=0.01)
    np.testing.assert_allclose(air_to_vacuum(np.array([6562.80, 5006.84])), [6564.61, 5008.24], atol=0.02)


def test_aperture_is_the_sum_of_its_spaxels_in_record_units(data_dir, processor):
    with fits.open(data_dir / "muse" / CUBE) as hdus:
        data, stat = hdus["DATA"].data.astype(float), hdus["STAT"].data.astype(float)
    (record,) = read_cube(data_dir / "muse" / CUBE, aperture_arcsec=0.25)  # the centre spaxel and its 4 neighbours
    ny, nx = data.shape[1:]
    yy, xx = np.mgrid[:ny, :nx]
    inside = np.hypot(xx - (nx - 1) / 2, yy - (ny - 1) / 2) * 0.2 <= 0.25
    # 1e-20 -> 1e-17, de-reddened at the cube centre's SFD E(B-V) (galactic_extinction)
    ebv = float(sfd_ebv(record["ra"], record["dec"]))  # the aperture sits at the cube's centre
    boost = 1 / spectrum_transmission(record["spectrum"]["wavelength"], ebv)
    assert boost[0] > boost[-1] > 1 and f"mw_ebv_source={SFD_MAP_SOURCE}" in record["flags"]
    expected = data[:, inside].sum(axis=1) * 1e-3 * boost
    good = ~record["spectrum"]["mask"]
    np.testing.assert_allclose(record["spectrum"]["flux"][good], expected[good], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(record["spectrum"]["ivar"][good],
                               1 / (stat[:, inside].sum(axis=1)[good] * 1e-6 * boost[good] ** 2), rtol=1e-4)
    processor(record)


def test_spaxel_mode_and_apertures_off_the_cube(data_dir):
    spaxels = read_cube(data_dir / "muse" / CUBE, spaxels=True)
    assert len(spaxels) == 900 and spaxels[0]["object_id"].endswith("-0-0")
    with pytest.raises(ValueError, match="outside the cube"):
        read_cube(data_dir / "muse" / CUBE, positions=[(10.0, 10.0)])
