"""The simulator's physics against bagpipes.model_galaxy for the same galaxy (bagpipes is imported only here)."""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.cosmology import FlatLambdaCDM

from galfm.datasets_scripts.simulator.photometry import AB_ZERO_POINT_FNU, C_ANGSTROM_S, maggies, photometry_grid
from galfm.datasets_scripts.simulator.sed import GalaxyParameters, GalaxySED, observed_flux_density
from galfm.datasets_scripts.simulator.stellar_populations import L_SUN_ERG_S, air_to_vacuum
from galfm.filters_galfm import load_filter
from galfm.properties_galfm import SFH_AGE_BIN_EDGES_GYR

COSMOLOGY = FlatLambdaCDM(H0=70, Om0=0.3)  # bagpipes' own
REDSHIFT, METALLICITY, AV, ETA, LOG_U = 0.3, 0.7, 0.5, 2.0, -2.5
SFR = np.array([3.0, 2.5, 2.0, 2.0, 1.8, 1.5, 1.5, 1.2, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0])
BANDS = ("galex_fuv", "galex_nuv", "sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z", "decam_g", "decam_r", "decam_z",
         "jpas_J0400", "jpas_J0500", "jpas_J0660", "jpas_J0850", "jpas_uJAVA", "euclid_vis", "euclid_y", "euclid_j",
         "euclid_h", "wise_w1", "wise_w2")
LINES = {"halpha": ["H  1  6562.80A"], "hbeta": ["H  1  4861.32A"], "oiii_5007": ["O  3  5006.84A"],
         "oii_3727": ["O  2  3726.03A", "O  2  3728.81A"]}


def _sfh():
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    t_univ = COSMOLOGY.age(REDSHIFT).value
    n_bins = int(np.sum(edges[:-1] < t_univ))
    upper = np.minimum(edges[1:n_bins + 1], t_univ)
    mass = np.zeros(16)
    mass[:n_bins] = SFR[:n_bins] * (upper - edges[:n_bins]) * 1e9
    return mass, n_bins, t_univ


@pytest.fixture(scope="module")
def ours():
    mass, _, _ = _sfh()
    sed = GalaxySED(COSMOLOGY)
    params = GalaxyParameters(redshift=np.array([REDSHIFT]), mass_formed=mass[None],
                              log_z=np.full((1, 16), np.log10(METALLICITY)), av=np.array([AV]), eta=np.array([ETA]),
                              log_u=np.array([LOG_U]), vdisp=np.array([0.0]))
    return sed, sed.rest_frame(params)


@pytest.fixture(scope="module")
def bagpipes_model(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import bagpipes

    folder = tmp_path_factory.mktemp("filters")
    filt_list = []
    for band in BANDS:
        curve = load_filter(band)
        path = folder / f"{band}.dat"
        np.savetxt(path, np.c_[curve.wavelength, curve.response])
        filt_list.append(str(path))
    mass, n_bins, t_univ = _sfh()
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    continuity = {"bin_edges": [*(edges[:n_bins] * 1e3), t_univ * 1e3], "massformed": np.log10(mass.sum()),
                  "metallicity": METALLICITY}
    for i in range(1, n_bins):  # bagpipes orders bins oldest first, as log SFR ratios
        continuity[f"dsfr{i}"] = np.log10(SFR[n_bins - 1 - i] / SFR[n_bins - i])
    components = {"redshift": REDSHIFT, "continuity": continuity, "t_bc": 0.01,
                  "dust": {"type": "Calzetti", "Av": AV, "eta": ETA}, "nebular": {"logU": LOG_U}}
    # a spectrum spanning all bands makes bagpipes sample the model at R = 1000 everywhere the bands look
    spec_wavs = np.arange(1500.0, 56000.0, 2.0)
    return bagpipes.model_galaxy(components, filt_list=filt_list, spec_wavs=spec_wavs)


def test_stellar_mass_bookkeeping_matches_bagpipes(ours, bagpipes_model):
    _, rest = ours
    mass, _, _ = _sfh()
    assert bagpipes_model.sfh.formed_mass == pytest.approx(np.log10(mass.sum()), abs=1e-9)
    assert np.log10(rest.stellar_mass[0]) == pytest.approx(bagpipes_model.sfh.stellar_mass, abs=0.005)


def test_line_fluxes_match_bagpipes(ours, bagpipes_model):
    sed, rest = ours
    four_pi_d2 = 4 * np.pi * rest.luminosity_distance_cm[0] ** 2
    for name, labels in LINES.items():
        mine = rest.line_luminosity[0, sed.grid.line_index(name)].sum() * L_SUN_ERG_S / four_pi_d2
        theirs = sum(bagpipes_model.line_fluxes[label] for label in labels)
        assert mine == pytest.approx(theirs, rel=0.02), name


def test_continuum_matches_bagpipes(ours, bagpipes_model):
    sed, rest = ours
    wave_air = bagpipes_model.spectrum[:, 0]
    keep = (wave_air > 3600) & (wave_air < 9800)
    wave_air, theirs = wave_air[keep], bagpipes_model.spectrum[keep, 1]
    # bagpipes keeps the grids' air wavelengths; compare at the same physical wavelength
    wave = air_to_vacuum(wave_air)
    edges = np.concatenate([[wave[0] - 1], 0.5 * (wave[1:] + wave[:-1]), [wave[-1] + 1]])
    mine = observed_flux_density(rest.continuum, rest.redshift, rest.luminosity_distance_cm, edges, sed.grid.edges)[0]
    rest_wave = wave / (1 + REDSHIFT)
    far_from_lines = np.all(np.abs(rest_wave[:, None] - sed.grid.line_wavelengths[None, :]) > 15, axis=1)
    ratio = mine[far_from_lines] / theirs[far_from_lines]
    assert np.median(np.abs(ratio - 1)) < 0.02
    assert abs(np.median(ratio) - 1) < 0.01


def test_band_fluxes_match_bagpipes(ours, bagpipes_model):
    sed, rest = ours
    grid = photometry_grid()
    f_obs = observed_flux_density(rest.luminosity, rest.redshift, rest.luminosity_distance_cm, grid, sed.grid.edges)
    mine = maggies(f_obs, BANDS)[0]
    for band, ours_maggies, theirs_flambda in zip(BANDS, mine, bagpipes_model.photometry):
        curve = load_filter(band)
        wave = np.asarray(curve.wavelength)
        weight = np.trapezoid(curve.response * wave, wave)
        ab = np.trapezoid(AB_ZERO_POINT_FNU * C_ANGSTROM_S / wave**2 * curve.response * wave, wave)
        theirs_maggies = theirs_flambda * weight / ab  # bagpipes: photon-weighted mean f_lambda
        assert ours_maggies == pytest.approx(theirs_maggies, rel=0.01), band


def test_redshift_dims_the_galaxy_by_the_luminosity_distance(ours):
    sed, rest = ours
    d_l = COSMOLOGY.luminosity_distance(REDSHIFT).to(u.cm).value
    assert rest.luminosity_distance_cm[0] == pytest.approx(d_l, rel=1e-6)
    total_rest = (rest.luminosity[0] * np.diff(sed.grid.edges)).sum() * L_SUN_ERG_S
    edges = sed.grid.edges * (1 + REDSHIFT)
    observed = observed_flux_density(rest.luminosity, rest.redshift, rest.luminosity_distance_cm, edges,
                                     sed.grid.edges)[0]
    assert (observed * np.diff(edges)).sum() == pytest.approx(total_rest / (4 * np.pi * d_l**2), rel=1e-6)
