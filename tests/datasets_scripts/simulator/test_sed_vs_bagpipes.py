"""The simulator's physics against bagpipes.model_galaxy for the same galaxy (bagpipes is imported only here)."""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.cosmology import FlatLambdaCDM

from galfm.datasets_scripts.simulator.igm import igm_transmission
from galfm.datasets_scripts.simulator.photometry import AB_ZERO_POINT_FNU, C_ANGSTROM_S, maggies, photometry_grid
from galfm.datasets_scripts.simulator.sed import GalaxyParameters, GalaxySED, observed_flux_density
from galfm.datasets_scripts.simulator.stellar_populations import L_SUN_ERG_S, rest_frame_grid
from galfm.datasets_scripts.units import air_to_vacuum
from galfm.filters_galfm import load_filter
from galfm.properties_galfm import SFH_AGE_BIN_EDGES_GYR

COSMOLOGY = FlatLambdaCDM(H0=70, Om0=0.3)  # bagpipes' own
METALLICITY, AV, ETA, LOG_U = 0.7, 0.5, 2.0, -2.5
# z = 0.05: GALEX sees the rest-frame UV above Ly-alpha; 0.3: the default survey's typical galaxy;
# 1.2: the oldest SFH bins are cut by the age of the Universe and the IGM enters GALEX NUV
REDSHIFTS = (0.05, 0.3, 1.2)
SFR = np.array([3.0, 2.5, 2.0, 2.0, 1.8, 1.5, 1.5, 1.2, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0])
BANDS = ("galex_fuv", "galex_nuv", "sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z", "decam_g", "decam_r", "decam_z",
         "jpas_J0400", "jpas_J0500", "jpas_J0660", "jpas_J0850", "jpas_uJAVA", "euclid_vis", "euclid_y", "euclid_j",
         "euclid_h", "wise_w1", "wise_w2")
LINES = {"halpha": ["H  1  6562.80A"], "hbeta": ["H  1  4861.32A"], "oiii_5007": ["O  3  5006.84A"],
         "oii_3727": ["O  2  3726.03A", "O  2  3728.81A"]}


def _sfh(redshift: float):
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    t_univ = COSMOLOGY.age(redshift).value
    n_bins = int(np.sum(edges[:-1] < t_univ))
    upper = np.minimum(edges[1:n_bins + 1], t_univ)
    mass = np.zeros(16)
    mass[:n_bins] = SFR[:n_bins] * (upper - edges[:n_bins]) * 1e9
    return mass, n_bins, t_univ


@pytest.fixture(scope="module")
def sed():
    return GalaxySED(COSMOLOGY)


@pytest.fixture(scope="module", params=REDSHIFTS, ids=[f"z={z}" for z in REDSHIFTS])
def redshift(request) -> float:
    return request.param


@pytest.fixture(scope="module")
def ours(sed, redshift):
    mass, _, _ = _sfh(redshift)
    params = GalaxyParameters(redshift=np.array([redshift]), mass_formed=mass[None],
                              log_z=np.full((1, 16), np.log10(METALLICITY)), av=np.array([AV]), eta=np.array([ETA]),
                              log_u=np.array([LOG_U]), vdisp=np.array([0.0]))
    return sed, sed.rest_frame(params)


@pytest.fixture(scope="module")
def bagpipes_model(tmp_path_factory, redshift):
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
    mass, n_bins, t_univ = _sfh(redshift)
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    continuity = {"bin_edges": [*(edges[:n_bins] * 1e3), t_univ * 1e3], "massformed": np.log10(mass.sum()),
                  "metallicity": METALLICITY}
    for i in range(1, n_bins):  # bagpipes orders bins oldest first, as log SFR ratios
        continuity[f"dsfr{i}"] = np.log10(SFR[n_bins - 1 - i] / SFR[n_bins - i])
    components = {"redshift": redshift, "continuity": continuity, "t_bc": 0.01,
                  "dust": {"type": "Calzetti", "Av": AV, "eta": ETA}, "nebular": {"logU": LOG_U}}
    # a spectrum spanning all bands makes bagpipes sample the model at R = 1000 everywhere the bands look
    spec_wavs = np.arange(1500.0, 56000.0, 2.0)
    return bagpipes.model_galaxy(components, filt_list=filt_list, spec_wavs=spec_wavs)


def test_stellar_mass_bookkeeping_matches_bagpipes(ours, bagpipes_model, redshift):
    _, rest = ours
    mass, _, _ = _sfh(redshift)
    assert bagpipes_model.sfh.formed_mass == pytest.approx(np.log10(mass.sum()), abs=1e-9)
    assert np.log10(rest.stellar_mass[0]) == pytest.approx(bagpipes_model.sfh.stellar_mass, abs=0.005)


def test_line_fluxes_match_bagpipes(ours, bagpipes_model):
    sed, rest = ours
    four_pi_d2 = 4 * np.pi * rest.luminosity_distance_cm[0] ** 2
    for name, labels in LINES.items():
        ours = rest.line_luminosity[0, sed.grid.line_index(name)].sum() * L_SUN_ERG_S / four_pi_d2
        theirs = sum(bagpipes_model.line_fluxes[label] for label in labels)
        assert ours == pytest.approx(theirs, rel=0.02), name


def test_continuum_matches_bagpipes(ours, bagpipes_model, redshift):
    sed, rest = ours
    wave_air = bagpipes_model.spectrum[:, 0]
    keep = (wave_air > 3600) & (wave_air < 9800)
    wave_air, theirs = wave_air[keep], bagpipes_model.spectrum[keep, 1]
    # bagpipes keeps the grids' air wavelengths; compare at the same physical wavelength
    wave = air_to_vacuum(wave_air)
    edges = np.concatenate([[wave[0] - 1], 0.5 * (wave[1:] + wave[:-1]), [wave[-1] + 1]])
    ours = observed_flux_density(rest.continuum, rest.redshift, rest.luminosity_distance_cm, edges, sed.grid.edges)[0]
    rest_wave = wave / (1 + redshift)
    far_from_lines = np.all(np.abs(rest_wave[:, None] - sed.grid.line_wavelengths[None, :]) > 15, axis=1)
    ratio = ours[far_from_lines] / theirs[far_from_lines]
    assert np.median(np.abs(ratio - 1)) < 0.02
    assert abs(np.median(ratio) - 1) < 0.01


def test_band_fluxes_match_bagpipes(ours, bagpipes_model, redshift):
    sed, rest = ours
    grid = photometry_grid()
    f_obs = observed_flux_density(rest.luminosity, rest.redshift, rest.luminosity_distance_cm, grid, sed.grid.edges)
    ours = maggies(f_obs, BANDS)[0]
    compared = 0
    for band, ours_maggies, theirs_flambda in zip(BANDS, ours, bagpipes_model.photometry):
        curve = load_filter(band)
        if curve.wavelength.min() / (1 + redshift) < 1216.0:
            continue  # the Lyman-alpha forest: tested against bagpipes' IGM table below
        compared += 1
        wave = np.asarray(curve.wavelength)
        weight = np.trapezoid(curve.response * wave, wave)
        ab = np.trapezoid(AB_ZERO_POINT_FNU * C_ANGSTROM_S / wave**2 * curve.response * wave, wave)
        theirs_maggies = theirs_flambda * weight / ab  # bagpipes: photon-weighted mean f_lambda
        assert ours_maggies == pytest.approx(theirs_maggies, rel=0.01), band
    assert compared >= len(BANDS) - 2


def test_redshift_dims_the_galaxy_by_the_luminosity_distance(ours, redshift):
    sed, rest = ours
    d_l = COSMOLOGY.luminosity_distance(redshift).to(u.cm).value
    assert rest.luminosity_distance_cm[0] == pytest.approx(d_l, rel=1e-6)
    total_rest = (rest.luminosity[0] * np.diff(sed.grid.edges)).sum() * L_SUN_ERG_S
    edges = sed.grid.edges * (1 + redshift)
    observed = observed_flux_density(rest.luminosity, rest.redshift, rest.luminosity_distance_cm, edges,
                                     sed.grid.edges)[0]
    assert (observed * np.diff(edges)).sum() == pytest.approx(total_rest / (4 * np.pi * d_l**2), rel=1e-6)


def test_igm_transmission_matches_bagpipes_table(bagpipes_model):
    from bagpipes import config

    wave = np.arange(920.0, 1210.0, 1.0)
    n_pixels, ours = igm_transmission(np.array([0.5, 1.5, 3.0]))
    rest, _ = rest_frame_grid()
    for row, z in enumerate((0.5, 1.5, 3.0)):
        theirs = np.interp(wave, config.igm_wavelengths, config.raw_igm_grid[int(round(z * 100))])
        ours_at = np.interp(wave, rest[:n_pixels], ours[row])
        assert np.max(np.abs(ours_at - theirs)) < 0.02, z
    assert ours[2].mean() < 0.5 < ours[0].mean()  # the forest thickens with redshift


def test_metallicity_history_is_the_sum_of_its_bins(sed):
    """Per-bin metallicities (the evolving history) superpose exactly like single-metallicity populations."""
    mass, _, _ = _sfh(0.3)
    log_z = np.linspace(-0.8, 0.2, 16)[::-1]  # young stars richest
    common = dict(redshift=np.array([0.3]), av=np.array([0.0]), eta=np.array([1.0]), log_u=np.array([-2.5]),
                  vdisp=np.array([0.0]))
    whole = sed.rest_frame(GalaxyParameters(mass_formed=mass[None], log_z=log_z[None], **common))
    parts = np.zeros_like(whole.continuum)
    stellar_mass = 0.0
    for b in np.flatnonzero(mass):
        single = np.zeros(16)
        single[b] = mass[b]
        one = sed.rest_frame(GalaxyParameters(mass_formed=single[None], log_z=np.full((1, 16), log_z[b]), **common))
        if b > 0:  # the nebular emission follows the youngest bin only
            parts += one.continuum
            stellar_mass += one.stellar_mass[0]
        else:
            young = one
    parts += young.continuum
    stellar_mass += young.stellar_mass[0]
    np.testing.assert_allclose(whole.continuum, parts, rtol=2e-4, atol=1e-6 * whole.continuum.max())
    assert whole.stellar_mass[0] == pytest.approx(stellar_mass, rel=1e-9)
