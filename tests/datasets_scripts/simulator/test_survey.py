"""The simulated survey: schema-valid records, determinism, physics a galaxy astronomer checks first."""

from __future__ import annotations

import hashlib
from pathlib import Path

import astropy.units as u
import datasets
import numpy as np
import pytest
from astropy.cosmology import Planck18

from galfm.datasets_scripts.schema import GALAXY_FEATURES, validate_record
from galfm.datasets_scripts.simulator import SimulationConfig, simulate, write_survey
from galfm.datasets_scripts.simulator.instruments import SPECTROGRAPHS
from galfm.datasets_scripts.simulator.photometry import maggies, photometry_grid
from galfm.datasets_scripts.simulator.priors import draw_population
from galfm.datasets_scripts.simulator.sed import observed_flux_density
from galfm.datasets_scripts.simulator.sky_noise import NOISE_FILE, derive_noise_curve, desi_noise_curve
from galfm.datasets_scripts.simulator.survey import sed_model as shared_sed_model
from galfm.filters_galfm import load_filter

DATA = Path(__file__).parents[2] / "data"


@pytest.fixture(scope="module")
def sed_model():
    return shared_sed_model(Planck18)


@pytest.fixture(scope="module")
def clean_records():
    return list(simulate(40, seed=3, surveys=("desi", "jpas", "galex", "legacysurvey")))


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "data").glob("*.parquet"))}


def test_records_are_schema_valid_and_complete(clean_records, processor):
    for record in clean_records:
        validate_record(record)
        assert record["spectrum"]["flux"].shape == (7781,)
        assert np.all(np.isfinite(record["spectrum"]["flux"])) and np.all(record["spectrum"]["ivar"] >= 0)
        assert len(record["photometry"]["band"]) == 57 + 3 + 2 + 5  # J-PAS (54 narrow, uJAVA, uJPAS, J1007, gri)
        assert record["image"]["flux"].shape == (3, 64, 64)
        props = record["properties"]
        assert all(props[k] is not None for k in props), [k for k in props if props[k] is None]
        assert sum(props["sfh"]) == pytest.approx(1.0, abs=1e-5)
        assert record["anomaly"] is None
    features = processor(clean_records[:4])
    assert features["spectrum_values"].shape[0] == 4


def test_same_seed_same_bytes_whatever_num_proc(tmp_path):
    config = SimulationConfig(n=24, seed=5, surveys=("desi", "jpas"), chunk_size=8, shard_size=10)
    write_survey(config, tmp_path / "a", progress=False)
    write_survey(config, tmp_path / "b", num_proc=2, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert sorted(_digest(tmp_path / "a")) == ["test-00000-of-00001.parquet", "train-00000-of-00003.parquet",
                                               "train-00001-of-00003.parquet", "train-00002-of-00003.parquet",
                                               "validation-00000-of-00001.parquet"]
    other = SimulationConfig(n=24, seed=6, surveys=("desi", "jpas"), chunk_size=8, shard_size=10)
    write_survey(other, tmp_path / "c", progress=False)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_parts_written_apart_equal_the_whole(tmp_path):
    """Two jobs (a scheduler's array) write together the same bytes as one job, card included."""
    from galfm.cli import main

    config = SimulationConfig(n=60, seed=3, surveys=("desi", "jpas"), chunk_size=8, shard_size=10)
    write_survey(config, tmp_path / "whole", progress=False)
    common = ["simulate", "--n", "60", "--seed", "3", "--surveys", "desi,jpas", "--shard-size", "10",
              "--out", str(tmp_path / "parts")]
    config_cli = SimulationConfig(n=60, seed=3, surveys=("desi", "jpas"), shard_size=10)  # default chunk size
    write_survey(config_cli, tmp_path / "whole_cli", progress=False)
    assert main(common + ["--finalize"]) == 2  # nothing written yet: a clear error, no card
    assert main(common + ["--parts", "2", "--part", "1"]) == 0
    assert main(common + ["--parts", "2", "--part", "0"]) == 0
    assert not (tmp_path / "parts" / "README.md").exists()
    assert main(common + ["--finalize"]) == 0
    assert _digest(tmp_path / "parts") == _digest(tmp_path / "whole_cli")
    assert (tmp_path / "parts" / "README.md").read_text() == (tmp_path / "whole_cli" / "README.md").read_text()
    halves = [write_survey(config, tmp_path / "halves", progress=False, part=p, parts=2) for p in (0, 1)]
    assert sorted(halves[0]["files"] + halves[1]["files"]) == sorted(f"data/{name}"
                                                                    for name in _digest(tmp_path / "whole"))
    assert _digest(tmp_path / "halves") == _digest(tmp_path / "whole")


def test_shards_load_with_datasets_and_stream(tmp_path):
    config = SimulationConfig(n=20, seed=1, surveys=("sdss", "legacysurvey"), variant="observed",
                              anomaly_fraction=0.5)
    out, cache = tmp_path / "survey", str(tmp_path / "hf_cache")
    summary = write_survey(config, out, progress=False)
    loaded = datasets.load_dataset(str(out), cache_dir=cache)
    assert {split: len(ds) for split, ds in loaded.items()} == config.split_sizes
    assert loaded["train"].features == GALAXY_FEATURES
    streamed = next(iter(datasets.load_dataset(str(out), split="train", streaming=True)))
    assert streamed["object_id"] == loaded["train"][0]["object_id"]
    stored = sum(r is not None for ds in loaded.values() for r in ds["anomaly"])
    assert stored == sum(summary["anomalies"].values()) > 0
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "path: data/train-*" in card and "Baldry" in card
    assert (out / "overview.png").stat().st_size > 1000


def test_quiescent_and_star_forming_separate_in_u_minus_r(sed_model):
    # candidates of an SDSS main-sample-like r < 17.77 survey, Strateva et al.'s sample
    pop = draw_population(np.random.default_rng(11), 1500, Planck18, sed_model.grid.bin_live_fraction[4], 17.77)
    rest = sed_model.rest_frame(pop.params)
    f_obs = observed_flux_density(rest.luminosity, rest.redshift, rest.luminosity_distance_cm, photometry_grid(),
                                  sed_model.grid.edges)
    u_band, r_band = maggies(f_obs, ("sdss_u", "sdss_r")).T
    nearby = pop.params.redshift < 0.2
    colour = -2.5 * np.log10(u_band / r_band)[nearby]
    quenched = pop.quenched[nearby]
    assert quenched.sum() >= 10 and (~quenched).sum() >= 50
    # Strateva et al. (2001): the two populations split at u - r = 2.22
    assert np.median(colour[quenched]) > 2.22 > np.median(colour[~quenched])
    assert np.mean(colour[quenched] > 2.22) > 0.8 and np.mean(colour[~quenched] < 2.22) > 0.7


def test_spectrum_and_photometry_agree(sed_model):
    """A band synthesised from the noiseless DESI spectrum equals the catalogue flux (same SED, two paths)."""
    pop = draw_population(np.random.default_rng(0), 8, Planck18, sed_model.grid.bin_live_fraction[4])
    rest = sed_model.rest_frame(pop.params)
    desi = SPECTROGRAPHS["desi"]
    spectrum = desi.observe_noiseless(rest, pop.params.vdisp, sed_model.grid.edges).astype(float) * 1e-17
    from_spectrum = load_filter("sdss_r").get_ab_maggies(spectrum * u.erg / u.s / u.cm**2 / u.AA,
                                                          desi.wavelength * u.AA)
    f_obs = observed_flux_density(rest.luminosity, rest.redshift, rest.luminosity_distance_cm, photometry_grid(),
                                  sed_model.grid.edges)
    np.testing.assert_allclose(np.asarray(from_spectrum, dtype=float), maggies(f_obs, ("sdss_r",))[:, 0], rtol=0.01)


def test_image_flux_matches_photometry(clean_records):
    for r in clean_records:
        if r["properties"]["r_eff"] > 1.0:
            continue
        phot = dict(zip(r["photometry"]["band"], r["photometry"]["flux"]))
        sigma = 1 / np.sqrt(r["image"]["ivar"][1, 0, 0])
        total = r["image"]["flux"][1].sum()
        phot_sigma = 1 / np.sqrt(r["photometry"]["flux_ivar"][r["photometry"]["band"].index("decam_r")])
        assert float(total) == pytest.approx(float(phot["decam_r"]), abs=float(5 * sigma * 64 + 5 * phot_sigma),
                                             rel=0.1)


def test_observed_variant_perturbs_and_flags():
    config = dict(n=60, seed=2, surveys=("desi", "jpas"))
    clean = list(simulate(variant="clean", **config))
    observed = list(simulate(variant="observed", anomaly_fraction=0.5, **config))
    assert {r["anomaly"] for r in observed} >= {"qso", "artefact"}
    assert any(len(r["photometry"]["band"]) < 60 for r in observed)  # missing bands are dropped, not zeroed
    assert np.median([r["spectrum"]["ivar"].mean() for r in observed]) < np.median(
        [r["spectrum"]["ivar"].mean() for r in clean])
    assert all(r["survey"] == "simulated-observed" for r in observed)


def test_packaged_desi_noise_is_rederived_from_the_real_coadd():
    wave, sigma, exptime = derive_noise_curve(DATA / "desi" / "coadd-4-80613-thru20210324.fits")
    packaged = desi_noise_curve()
    np.testing.assert_allclose(packaged[0], wave)
    np.testing.assert_allclose(packaged[1], sigma, rtol=1e-6)
    assert packaged[2] == pytest.approx(exptime, rel=1e-6) and NOISE_FILE.stat().st_size < 200_000
    assert np.percentile(sigma, 99) > 3 * np.median(sigma)  # sky lines are in it


def test_bad_configuration_is_named():
    with pytest.raises(ValueError, match="surveys: unknown"):
        SimulationConfig(surveys=("desi", "hubble"))
    with pytest.raises(ValueError, match="variant"):
        SimulationConfig(variant="noisy")


def test_builder_prepares_splits(tmp_path):
    from galfm.datasets_scripts.simulated import SimulatedGalaxies

    builder = SimulatedGalaxies(cache_dir=str(tmp_path), n=20, seed=0, surveys="jpas,galex")
    builder.download_and_prepare()
    train = builder.as_dataset(split="train")
    assert len(train) == 18 and train.features == GALAXY_FEATURES
    assert train[0]["object_id"] == "sim0-00000000" and train[0]["spectrum"] is None


def _star_forming_galaxy(redshift: float):
    from galfm.datasets_scripts.simulator.sed import GalaxyParameters

    mass = np.zeros(16)
    mass[:10] = 1e9 * np.diff(np.asarray([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5]))
    return GalaxyParameters(redshift=np.array([redshift]), mass_formed=mass[None], log_z=np.full((1, 16), -0.3),
                            av=np.array([0.3]), eta=np.array([2.0]), log_u=np.array([-2.5]), vdisp=np.array([60.0]))


@pytest.mark.parametrize("instrument,redshift,line", [("sdss", 0.1, "halpha"), ("desi", 0.8, "oiii_5007"),
                                                     ("muse", 0.3, "halpha"), ("euclid", 1.0, "halpha")])
def test_emission_lines_land_at_their_redshifted_vacuum_wavelength(sed_model, instrument, redshift, line):
    from galfm.properties_galfm import EMISSION_LINES

    spec = SPECTROGRAPHS[instrument]
    rest = sed_model.rest_frame(_star_forming_galaxy(redshift))
    flux = spec.observe_noiseless(rest, np.array([60.0]), sed_model.grid.edges)[0].astype(float)
    expected = EMISSION_LINES[line] * (1 + redshift)
    window = np.abs(spec.wavelength - expected) < 6 * spec.lsf_sigma_angstrom()[0] + 5
    side = (np.abs(spec.wavelength - expected) > 60) & (np.abs(spec.wavelength - expected) < 120)
    excess = np.clip(flux[window] - np.median(flux[side]), 0, None)
    centroid = (excess * spec.wavelength[window]).sum() / excess.sum()
    pixel = np.median(np.diff(spec.wavelength))
    assert abs(centroid - expected) < 0.5 * pixel, (centroid, expected)


def test_euclid_muse_sdss_records(tmp_path):
    records = list(simulate(6, seed=9, surveys=("euclid", "muse", "sdss")))
    kinds = {r["spectrum"]["wavelength"].size for r in records}
    assert kinds <= {SPECTROGRAPHS[s].wavelength.size for s in ("euclid", "muse", "sdss")}
    for r in records:
        assert r["image"]["band"] == ["euclid_vis"] and r["image"]["flux"].shape == (1, 64, 64)
        assert r["image"]["pixel_scale"] == pytest.approx(0.1)
        assert set(r["photometry"]["band"]) == {"euclid_vis", "euclid_y", "euclid_j", "euclid_h",
                                                 *(f"sdss_{b}" for b in "ugriz")}
        assert np.all(r["spectrum"]["lsf_sigma"] > 0)


def test_the_bright_selection_is_the_sdss_main_sample_and_the_deep_one_reaches_further():
    bright = list(simulate(60, seed=8, surveys=("sdss", "legacysurvey"), bright_fraction=1.0))
    deep = list(simulate(60, seed=8, surveys=("sdss", "legacysurvey"), bright_fraction=0.0))

    def r_mag(record):  # the total r (Legacy Surveys DECam r; galfm's SDSS ugriz are fibre fluxes)
        flux = record["photometry"]["flux"][record["photometry"]["band"].index("decam_r")]
        return 22.5 - 2.5 * np.log10(max(flux, 1e-3))

    assert np.percentile([r_mag(r) for r in bright], 90) < 17.77 + 0.3  # noise scatters a little past the limit
    z_bright = np.median([r["properties"]["redshift"] for r in bright])
    z_deep = np.median([r["properties"]["redshift"] for r in deep])
    assert 0.04 < z_bright < 0.2 and z_deep > 2 * z_bright  # SDSS main sample: median z ~ 0.1


def test_a_fibre_collects_part_of_a_large_galaxy_and_most_of_a_point_source():
    sdss = SPECTROGRAPHS["sdss"]
    point, z01_galaxy, huge = sdss.aperture_fraction(np.array([0.0, 3.0, 30.0]))
    # a point source through 1.5" FWHM seeing in a 3" fibre: 1 - 2^(-(3/1.5)^2) = 1 - 1/16 of its light
    assert point == pytest.approx(1 - 2.0 ** -4, rel=1e-3)
    assert 0.15 < z01_galaxy < 0.45 and huge < 0.01
    assert SPECTROGRAPHS["euclid"].aperture_fraction(np.array([3.0]))[0] == 1.0  # slitless: all the light


def test_min_spectrum_snr_lifts_faint_spectra_to_the_sfh_network_setting():
    """--min-spectrum-snr 20: every MUSE spectrum has a median S/N of 20-50 per Angstrom (binned-IFU setting), and
    the PHANGS-HST bands come with it; without it most 1" MUSE spectra of the same galaxies are far fainter."""
    def snr_per_angstrom(records):
        out = []
        for r in records:
            s = r["spectrum"]
            good = np.asarray(s["ivar"]) > 0
            per_pixel = np.asarray(s["flux"])[good] * np.sqrt(np.asarray(s["ivar"])[good])
            out.append(np.median(per_pixel / np.sqrt(np.gradient(np.asarray(s["wavelength"]))[good])))
        return np.array(out)

    lifted = list(simulate(40, seed=4, surveys=("muse", "phangs_hst"), bright_fraction=1.0, min_spectrum_snr=20.0))
    plain = list(simulate(40, seed=4, surveys=("muse", "phangs_hst"), bright_fraction=1.0))
    assert lifted[0]["photometry"]["band"] == ["hst_f275w", "hst_f336w", "hst_f438w", "hst_f555w", "hst_f814w"]
    snr = snr_per_angstrom(lifted)
    assert snr.min() > 17.0 and snr.max() < 60.0  # 20-50 drawn; the median of a noisy spectrum scatters a little
    assert np.median(snr_per_angstrom(plain)) < 10.0
    with pytest.raises(ValueError, match="min_spectrum_snr"):
        SimulationConfig(min_spectrum_snr=-1.0)


def test_sdss_ugriz_are_fibre_fluxes_like_the_spec_files_calibflux():
    """galfm's SDSS ugriz come from the spec files' CALIBFLUX, the light in the 3" fibre: simulated sdss bands are
    that share of the total (most of a z ~ 0.1 galaxy's light falls
    outside it), other surveys totals."""
    from galfm.datasets_scripts.simulator.instruments import PHOTOMETRIC_SURVEYS, SPECTROGRAPHS

    assert PHOTOMETRIC_SURVEYS["sdss"].fibre == "sdss" and PHOTOMETRIC_SURVEYS["legacysurvey"].fibre is None
    records = list(simulate(60, seed=6, surveys=("sdss", "legacysurvey"), bright_fraction=1.0))
    ratio, expected = [], []
    for r in records:
        phot = dict(zip(r["photometry"]["band"], r["photometry"]["flux"]))
        if "sdss_r" in phot and "decam_r" in phot and phot["decam_r"] > 20:  # bright: noise negligible
            ratio.append(phot["sdss_r"] / phot["decam_r"])
            expected.append(SPECTROGRAPHS["sdss"].aperture_fraction(np.array([r["properties"]["r_eff"]]))[0])
    ratio, expected = np.array(ratio), np.array(expected)
    assert len(ratio) > 20
    # SDSS r and DECam r differ by a colour term (up to ~25% for red, distant galaxies); the fibre share remains
    assert abs(np.median(ratio / expected) - 1) < 0.12
    assert np.mean(np.abs(ratio / expected - 1) < 0.25) > 0.9
    assert np.median(ratio) < 0.5  # the fibre sees under half the light: > 0.75 mag fainter than the total
