"""The galaxy tokenizer: resampling physics, unit handling, real spectra, padding, and every bad input."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest

from conftest import synthetic_galaxy
from galfm import GalaxyInputError, GalFMProcessor
from galfm.datasets_scripts.desi import read_coadd
from galfm.datasets_scripts.sdss import read_spec
from galfm.modality_photometry import asinh_magnitude
from galfm.modality_spectrum import pixel_edges, resample_spectrum


# ---------------------------------------------------------------------------------------------- resampling
def test_resampling_conserves_flux_of_an_emission_line():
    """A Gaussian line on a fine linear grid keeps its integrated flux on the coarse log grid."""
    wave = np.arange(4000.0, 6000.0, 0.8)
    line_flux = 250.0  # 1e-17 erg/s/cm2
    flux = 1.0 + line_flux * np.exp(-0.5 * ((wave - 5000.0) / 2.0) ** 2) / (np.sqrt(2 * np.pi) * 2.0)
    edges = 10 ** np.arange(np.log10(4100.0), np.log10(5900.0), 1e-4)
    out_flux, out_ivar = resample_spectrum([(wave, flux, np.ones_like(wave))], edges)
    width = np.diff(edges)
    near = (edges[:-1] > 4950) & (edges[1:] < 5050)
    line_out = np.sum((out_flux[near] - 1.0) * width[near])
    assert line_out == pytest.approx(line_flux, rel=1e-6)
    # the continuum integral over the whole output range is conserved too
    in_edges = pixel_edges(wave)
    cumulative = np.concatenate([[0.0], np.cumsum(flux * np.diff(in_edges))])
    expected = np.interp(edges[-1], in_edges, cumulative) - np.interp(edges[0], in_edges, cumulative)
    assert np.sum(out_flux * width) == pytest.approx(expected, rel=1e-9)
    assert np.all(out_ivar > 0)


def test_resampling_propagates_ivar():
    """Resampled white noise has the variance the propagated ivar claims (chi^2 per pixel ~ 1)."""
    rng = np.random.default_rng(1)
    wave = np.arange(4000.0, 5000.0, 0.5)
    sigma = np.where(wave < 4500, 0.5, 2.0)
    edges = 10 ** np.arange(np.log10(4010.0), np.log10(4990.0), 2e-4)
    chi2 = []
    for _ in range(40):
        flux = rng.normal(0.0, sigma)
        out_flux, out_ivar = resample_spectrum([(wave, flux, sigma**-2)], edges)
        chi2.append(out_flux**2 * out_ivar)
    assert np.mean(chi2) == pytest.approx(1.0, abs=0.05)


def test_overlapping_arms_are_ivar_weighted():
    """Where two arms overlap the tokenizer averages them by inverse variance, as a DESI coadd of arms does."""
    wave = np.arange(5000.0, 6000.0, 1.0)
    blue = (wave, np.full(wave.size, 1.0), np.full(wave.size, 1.0))
    red = (wave, np.full(wave.size, 3.0), np.full(wave.size, 3.0))
    edges = 10 ** np.arange(np.log10(5100.0), np.log10(5900.0), 1e-4)
    flux, ivar = resample_spectrum([blue, red], edges)
    assert np.allclose(flux, (1 * 1 + 3 * 3) / 4)
    alone, alone_ivar = resample_spectrum([blue], edges)
    assert np.allclose(ivar, 4 * alone_ivar)


def test_masked_and_nan_pixels_are_ignored(processor):
    base = synthetic_galaxy(photometry=False, image=False, properties=False)
    spoiled = synthetic_galaxy(photometry=False, image=False, properties=False)
    flux = spoiled["spectrum"]["flux"].copy()
    flux[1000:1010] = 1e6
    flux[2000:2005] = np.nan
    flux[3000] = np.inf
    mask = np.zeros(flux.size, bool)
    mask[1000:1010] = True
    spoiled["spectrum"].update(flux=flux, mask=mask)
    a, b = processor(base), processor(spoiled)
    assert np.all(np.isfinite(b["spectrum_values"])) and np.all(np.isfinite(b["spectrum_weights"]))
    # the spoiled patches differ only by losing their bad pixels (weight 0), never by carrying them
    assert b["spectrum_values"].max() < 100
    assert (b["spectrum_weights"] == 0).sum() > (a["spectrum_weights"] == 0).sum()


def test_asinh_magnitudes_match_ab_for_bright_sources_and_stay_finite():
    flux = np.array([1000.0, 10.0, 1.0, 0.0, -0.5])
    mag = asinh_magnitude(flux, 0.1)
    assert mag[0] == pytest.approx(22.5 - 2.5 * np.log10(1000.0), abs=1e-6)
    assert mag[1] == pytest.approx(22.5 - 2.5 * np.log10(10.0), abs=2e-4)
    assert np.all(np.isfinite(mag)) and np.all(np.diff(mag) > 0)  # monotonic through zero and negative flux


# ---------------------------------------------------------------------------------------------- real spectra
def test_real_sdss_spectrum_tokenizes(processor, data_dir):
    record = read_spec(data_dir / "sdss" / "spec-0266-51602-0013.fits")
    batch = processor(record, return_tensors="np")
    n = int(batch["spectrum_attention_mask"].sum())
    # 3804-9202 A on the 1e-4 dex grid spans 3838 pixels: 60-61 patches of 64
    assert 59 <= n <= 62
    centers = batch["spectrum_wavelength"][0, :n, 0]
    assert 3780 < centers.min() < 3900 and 9100 < centers.max() < 9300
    # the normalisation token is the median flux of the valid pixels (1e-17 erg/s/cm2/A)
    spec = record["spectrum"]
    good = (spec["ivar"] > 0) & ~spec["mask"]
    assert 10 ** batch["spectrum_norm"][0] == pytest.approx(np.median(np.abs(spec["flux"][good])), rel=0.05)
    assert batch["photometry_values"].shape == (1, 5, 2)


def test_real_desi_three_arm_spectrum_tokenizes(processor, data_dir):
    (record,) = read_coadd(data_dir / "desi" / "coadd-4-80613-thru20210324.fits",
                           data_dir / "desi" / "redrock-4-80613-thru20210324.fits", merge=False)
    assert len(record["spectrum"]) == 3  # B, R, Z arms, overlapping
    merged = processor(record, return_tensors="np")
    n = int(merged["spectrum_attention_mask"].sum())
    centers = merged["spectrum_wavelength"][0, :n, 0]
    assert centers.min() < 3650 and centers.max() > 9750  # 3600-9824 A covered
    assert n == 69
    # the overlap (5760-5800 A) is the inverse-variance combination of the B and R arms
    edges = processor.spectrum_grid_edges
    b_only = processor({**record, "spectrum": record["spectrum"][:1], "photometry": None})
    r_only = processor({**record, "spectrum": record["spectrum"][1:2], "photometry": None})
    arms = [(a["wavelength"], a["flux"], a["ivar"] * ~a["mask"]) for a in record["spectrum"]]
    flux_m, _ = resample_spectrum(arms, edges)
    flux_b, ivar_b = resample_spectrum(arms[:1], edges)
    flux_r, ivar_r = resample_spectrum(arms[1:2], edges)
    overlap = (edges[:-1] > 5770) & (edges[1:] < 5790) & (ivar_b > 0) & (ivar_r > 0)
    assert overlap.sum() > 5
    expected = (flux_b * ivar_b + flux_r * ivar_r)[overlap] / (ivar_b + ivar_r)[overlap]
    assert np.allclose(flux_m[overlap], expected, rtol=1e-3, atol=1e-4)
    assert int(b_only["spectrum_attention_mask"].sum()) < n and int(r_only["spectrum_attention_mask"].sum()) < n


# ---------------------------------------------------------------------------------------------- units
def test_quantities_are_converted_at_the_boundary(processor):
    plain = synthetic_galaxy(image=False, properties=False)
    spec = plain["spectrum"]
    with_units = synthetic_galaxy(image=False, properties=False)
    unit = 1e-17 * u.erg / u.s / u.cm**2 / u.Angstrom
    with_units["spectrum"] = {
        "wavelength": (spec["wavelength"] * u.Angstrom).to(u.nm),
        "flux": (spec["flux"] * unit).to(u.W / u.m**2 / u.nm),
        "sigma": (spec["ivar"] ** -0.5 * unit).to(u.mJy, u.spectral_density(spec["wavelength"] * u.Angstrom)),
        "mask": spec["mask"],
    }
    phot = plain["photometry"]
    with_units["photometry"] = {"band": phot["band"], "flux": (phot["flux"] * 3.631 * u.uJy).to(u.Jy),
                                "flux_ivar": phot["flux_ivar"]}
    a, b = processor(plain), processor(with_units)
    for key in ("spectrum_values", "spectrum_weights", "spectrum_norm", "photometry_values"):
        assert np.allclose(a[key], b[key], rtol=1e-4, atol=1e-5), key


def test_ab_magnitude_quantity_is_accepted(processor):
    record = {"object_id": "m", "photometry": {"band": ["sdss_r"], "flux": [20.0] * u.ABmag, "flux_ivar": [1.0]}}
    value = processor(record)["photometry_values"][0, 0, 0]
    assert value == pytest.approx(20.0, abs=1e-3)


# ---------------------------------------------------------------------------------------------- batching
def test_padding_and_attention_masks_across_a_batch(processor):
    full = synthetic_galaxy(seed=0, object_id="full")
    phot_only = synthetic_galaxy(seed=1, object_id="phot", spectrum=False, image=False, properties=False)
    batch = processor([full, phot_only], return_tensors="pt")
    assert batch["spectrum_attention_mask"][1].sum() == 0 and batch["spectrum_norm_mask"].tolist() == [1, 0]
    assert batch["image_attention_mask"][1].sum() == 0
    assert batch["photometry_attention_mask"].sum(1).tolist() == [8, 8]
    n_img = 3 * (32 // 8) ** 2
    assert batch["image_values"].shape == (2, n_img, 64) and int(batch["image_attention_mask"][0].sum()) == n_img
    # a batch without images has no image keys at all: missing data is absent, never zeros
    assert "image_values" not in processor([phot_only])
    # properties: 3 scalars + 16 SFH bins
    assert int(batch["property_attention_mask"][0].sum()) == 19


def test_image_tokens_drop_empty_patches(processor, galaxy):
    galaxy["image"]["ivar"][:, :16, :] = 0.0  # top half of every band empty (e.g. off the brick)
    batch = processor(galaxy)
    assert int(batch["image_attention_mask"].sum()) == 3 * 8
    assert np.all(batch["image_position"][0, :, 1] > 0)  # only the lower half of the array survives


def test_add_filter_teaches_a_new_band(processor):
    proc = GalFMProcessor(filter_table=dict(processor.filter_table))
    wave = np.linspace(6400.0, 6800.0, 201)
    response = np.exp(-0.5 * ((wave - 6600.0) / 40.0) ** 2)
    response[[0, -1]] = 0.0
    proc.add_filter("my_halpha_nb", wave, response)
    lam, fwhm = proc.filter_table["my_halpha_nb"]
    assert lam == pytest.approx(6600.0, abs=2.0) and fwhm == pytest.approx(2.3548 * 40.0, rel=0.01)
    batch = proc({"object_id": "x", "photometry": {"band": ["my_halpha_nb"], "flux": [3.0], "flux_ivar": [9.0]}})
    assert batch["photometry_wavelength"][0, 0, 0] == pytest.approx(lam, rel=1e-6)


def test_processor_save_load_round_trip(tmp_path, processor, galaxy):
    processor.save_pretrained(tmp_path)
    loaded = GalFMProcessor.from_pretrained(tmp_path)
    a, b = processor(galaxy), loaded(galaxy)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


# ---------------------------------------------------------------------------------------------- bad input
def _spectrum_record(**spectrum):
    return {"object_id": "NGC 1234", "spectrum": spectrum}


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (_spectrum_record(flux=np.ones(10), ivar=np.ones(10)), ["NGC 1234", "spectrum.wavelength", "missing"]),
        (_spectrum_record(wavelength=np.arange(5000.0, 5010.0), flux=np.ones(9), ivar=np.ones(10)),
         ["NGC 1234", "spectrum", "shapes"]),
        (_spectrum_record(wavelength=np.arange(5000.0, 5010.0), flux=np.ones(10), ivar=-np.ones(10)),
         ["NGC 1234", "spectrum.ivar", "negative"]),
        (_spectrum_record(wavelength=np.arange(5000.0, 5010.0)[::-1], flux=np.ones(10), ivar=np.ones(10)),
         ["NGC 1234", "spectrum.wavelength", "increasing"]),
        (_spectrum_record(wavelength=np.arange(5000.0, 5010.0), flux=np.ones(10)),
         ["NGC 1234", "spectrum.ivar", "sigma"]),
        (_spectrum_record(wavelength=np.arange(5000.0, 5010.0), flux=np.ones(10) * u.m, ivar=np.ones(10)),
         ["NGC 1234", "spectrum.flux", "not a spectral flux density"]),
        (_spectrum_record(wavelength=np.arange(5000.0, 5010.0) * u.kg, flux=np.ones(10), ivar=np.ones(10)),
         ["NGC 1234", "spectrum.wavelength", "not a wavelength"]),
        ({"object_id": "NGC 1234", "photometry": {"band": ["sdss_r", "hubble_f999w"], "flux": [1.0, 2.0],
                                                  "flux_ivar": [1.0, 1.0]}},
         ["NGC 1234", "photometry.band", "hubble_f999w", "add_filter"]),
        ({"object_id": "NGC 1234", "photometry": {"band": ["sdss_r"], "flux": [1.0], "flux_ivar": [-1.0]}},
         ["NGC 1234", "photometry.flux_ivar", "negative"]),
        ({"object_id": "NGC 1234", "photometry": {"band": ["sdss_r", "sdss_g"], "flux": [1.0], "flux_ivar": [1.0]}},
         ["NGC 1234", "photometry", "one flux"]),
        ({"object_id": "NGC 1234",
          "photometry": {"band": ["sdss_r"], "flux": [1.0] * u.erg / u.s / u.cm**2 / u.AA, "flux_ivar": [1.0]}},
         ["NGC 1234", "photometry.flux", "not a flux density"]),
        ({"object_id": "NGC 1234", "properties": {"stellar_mass": 1e10}},
         ["NGC 1234", "properties.stellar_mass", "unknown"]),
        ({"object_id": "NGC 1234"}, ["NGC 1234", "no usable modality"]),
        ({"object_id": "NGC 1234", "photometry": {"band": ["sdss_r"], "flux": [np.nan], "flux_ivar": [1.0]}},
         ["NGC 1234", "no usable modality", "photometry"]),
        (_spectrum_record(wavelength=np.arange(30000.0, 30100.0), flux=np.ones(100), ivar=np.ones(100)),
         ["NGC 1234", "no usable modality", "3000-20078 A"]),
    ],
)
def test_bad_input_names_galaxy_field_and_fix(processor, record, words):
    with pytest.raises(ValueError) as info:
        processor(record)
    assert isinstance(info.value, GalaxyInputError)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert "Fix:" in message


def test_galaxy_without_id_is_named_by_position(processor, galaxy):
    bad = {"photometry": {"band": ["nope"], "flux": [1.0], "flux_ivar": [1.0]}}
    with pytest.raises(GalaxyInputError, match="galaxy #1"):
        processor([galaxy, bad])


def test_ivar_quantity_is_converted(processor):
    plain = synthetic_galaxy(spectrum=False, image=False, properties=False)
    phot = plain["photometry"]
    with_units = {"object_id": "q", "photometry": {
        "band": phot["band"], "flux": phot["flux"] * u.nanomaggy,
        "flux_ivar": np.asarray(phot["flux_ivar"]) / (3.631e-6 * u.Jy) ** 2}}
    np.testing.assert_allclose(processor(plain)["photometry_values"], processor(with_units)["photometry_values"],
                               rtol=1e-5)
