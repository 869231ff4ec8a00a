import astropy.units as u
import numpy as np
import pytest
from astropy.cosmology import FlatLambdaCDM, Planck18

from galfm.datasets_scripts.simulator.cosmology_table import CosmologyTable


@pytest.mark.parametrize("cosmology", [Planck18, FlatLambdaCDM(H0=70, Om0=0.3)], ids=["Planck18", "flat-70-0.3"])
def test_table_matches_astropy_integrals(cosmology):
    table = CosmologyTable(cosmology)
    z = np.random.default_rng(0).uniform(0.002, 6.0, 300)
    np.testing.assert_allclose(table.age_yr(z), cosmology.age(z).to_value(u.yr), rtol=1e-7)
    np.testing.assert_allclose(table.luminosity_distance_cm(z), cosmology.luminosity_distance(z).to_value(u.cm),
                               rtol=1e-7)
    np.testing.assert_allclose(table.distmod(z), cosmology.distmod(z).to_value(u.mag), atol=1e-6)
    np.testing.assert_allclose(table.kpc_proper_per_arcsec(z),
                               cosmology.kpc_proper_per_arcmin(z).to_value(u.kpc / u.arcmin) / 60.0, rtol=1e-7)


def test_redshift_outside_the_table_is_named():
    table = CosmologyTable(Planck18)
    with pytest.raises(ValueError, match="redshift"):
        table.age_yr(np.array([0.1, 25.0]))
    with pytest.raises(ValueError, match="redshift"):
        table.distmod(np.array([np.nan]))
