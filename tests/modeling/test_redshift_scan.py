"""The template redshift scan: known redshifts recovered, QSOs flagged, ambiguity shown, real spectra right."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from galfm import GalFMConfig, GalFMProcessor
from galfm.datasets_scripts.sdss import read_spec
from galfm.heads_galfm import GalFMForPropertyPrediction, load_head
from galfm.redshift_scan_galfm import grid_summary, redshift_posterior, shift_redshifts
from galfm.training.redshift_templates import add_redshift_scan, rest_grid


@pytest.fixture(scope="module")
def scan_head(tmp_path_factory):
    """A property head (tiny random encoder) with the scan, saved and reloaded: the buffers travel."""
    torch.manual_seed(0)
    config = GalFMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         target_properties=["redshift", "log_mstar"])
    processor = GalFMProcessor()
    head = GalFMForPropertyPrediction(config)
    add_redshift_scan(head, processor)
    folder = tmp_path_factory.mktemp("scan_head")
    head.save_pretrained(folder)
    processor.save_pretrained(folder)
    return load_head(str(folder)).eval(), processor


def spectrum_at(head, processor, templates: torch.Tensor, weights, z: float, noise: float, seed: int = 0) -> dict:
    """sum_k weights[k] * template_k redshifted to z, on the processor grid, with Gaussian noise of sigma noise."""
    centres = np.sqrt(processor.spectrum_grid_edges[1:] * processor.spectrum_grid_edges[:-1])
    rest = rest_grid(head.config)
    model = np.asarray(weights, float) @ templates.numpy().astype(float)
    flux = np.interp(centres / (1 + z), rest, model)
    keep = (centres > 3700) & (centres < 9800)
    rng = np.random.default_rng(seed)
    flux = flux + noise * rng.standard_normal(flux.size)
    return {"spectrum": {"wavelength": centres[keep], "flux": flux[keep],
                         "ivar": np.full(keep.sum(), 1 / noise**2)}}


def predict(head, processor, records):
    with torch.no_grad():
        return head(**processor(records, return_tensors="pt"))


def test_the_scan_recovers_the_redshift_of_a_noisy_galaxy_spectrum(scan_head):
    head, processor = scan_head
    templates = head.redshift_scan.galaxy_templates
    weights = np.zeros(len(templates))
    weights[0], weights[1], weights[6] = 1.0, 0.3, 0.05  # continuum components + the Balmer lines
    truths = [0.0123, 0.2345, 0.7891]
    records = [spectrum_at(head, processor, templates, weights, z, noise=0.02, seed=i) for i, z in enumerate(truths)]
    out = predict(head, processor, records)
    z, sigma = out.mean[:, 0].numpy(), out.std[:, 0].numpy()
    assert np.all(np.abs(z - truths) < 3e-4 * (1 + np.array(truths))), z
    assert np.all(np.abs(z - truths) < 3 * sigma)  # honest: the truth sits inside the quoted error
    assert np.all(sigma < 1e-3)
    assert out.redshift_source.tolist() == [1, 1, 1] and not out.is_qso.any()


def test_a_broad_line_qso_is_flagged_and_gets_its_redshift(scan_head):
    head, processor = scan_head
    templates = head.redshift_scan.qso_templates
    weights = np.array([1.0, 0.0, 0.0, 0.8, 0.6, 0.5, 0.3, 0.2])  # power law + broad C IV, C III], Mg II, ...
    out = predict(head, processor, [spectrum_at(head, processor, templates, weights, 1.234, noise=0.02)])
    assert bool(out.is_qso[0]) and float(out.qso_score[0]) > head.config.head_config.scan_qso_delta_chi2
    assert abs(float(out.mean[0, 0]) - 1.234) < 0.01 * 2.234


def test_a_lone_emission_line_shows_several_redshift_peaks(scan_head):
    head, processor = scan_head
    centres = np.sqrt(processor.spectrum_grid_edges[1:] * processor.spectrum_grid_edges[:-1])
    keep = (centres > 3700) & (centres < 9800)
    flux = 0.05 + 0.3 * np.exp(-0.5 * ((centres - 7000.0) / 3.0) ** 2)  # one line at S/N ~ 15, no continuum
    flux += 0.05 * np.random.default_rng(1).standard_normal(flux.size)
    record = {"spectrum": {"wavelength": centres[keep], "flux": flux[keep], "ivar": np.full(keep.sum(), 400.0)}}
    out = predict(head, processor, [record])
    assert float(out.redshift_peak_probability[0]) < 0.9  # the posterior keeps the other identifications
    assert float(out.std[0, 0]) > 0.05  # and the quoted sigma says so: never a precise wrong redshift
    assert bool(out.redshift_warning[0]) and float(out.redshift_delta_chi2[0]) < 9  # and the warning, as redrock's
    pdf = out.redshift_pdf[0].numpy()
    peaks = np.flatnonzero((pdf[1:-1] > pdf[:-2]) & (pdf[1:-1] >= pdf[2:]) & (pdf[1:-1] > 0.02 * pdf.max()))
    assert peaks.size >= 2


def test_a_confident_wrong_prior_cannot_outvote_a_clear_spectrum(scan_head, data_dir):
    head, processor = scan_head
    record = read_spec(data_dir / "sdss" / "spec-0266-51602-0013.fits")  # a z = 0.1213 galaxy, ZWARNING = 0
    inputs = processor({"spectrum": record["spectrum"]}, return_tensors="pt")
    scan = head.redshift_scan(inputs)
    posterior = redshift_posterior(scan, torch.tensor([0.8]), torch.tensor([0.02]), head.config)
    assert abs(float(posterior.redshift[0]) - record["properties"]["redshift"]) < 0.003 * 1.12


@pytest.mark.parametrize("name,is_qso", [("spec-0266-51602-0013.fits", False), ("spec-0266-51602-0107.fits", False),
                                         ("spec-0332-52367-0639.fits", True), ("spec-7338-57859-0739.fits", True)])
def test_real_sdss_spectra_get_their_pipeline_redshift_and_class(scan_head, data_dir, name, is_qso):
    head, processor = scan_head
    record = read_spec(data_dir / "sdss" / name)
    out = predict(head, processor, [{"spectrum": record["spectrum"]}])
    z = record["properties"]["redshift"]
    assert abs(float(out.mean[0, 0]) - z) / (1 + z) < 0.003
    assert bool(out.is_qso[0]) is is_qso


def test_a_posterior_that_rises_past_the_grid_edge_gets_its_spread_not_a_flat_parabola():
    """A maximum on the first pixel (a nearby galaxy's photometry) is no peak: its sigma is the posterior's spread
    about z = 0 (here exp(-pixel / 20): rms 20 sqrt(2) pixels), not the 1e6 pixels of a straight line's
    curvature."""
    step = 1e-3
    grid = shift_redshifts(400, step, torch.device("cpu"))
    pixels = torch.arange(400, dtype=torch.float64)
    log_post = -pixels / 20.0
    redshift, sigma, _, _ = grid_summary(log_post[None], grid, step, floor_pixels=0.5)
    assert float(redshift[0]) == 0.0
    expected = math.log(10) * step * 20.0 * math.sqrt(2)  # the exponential's rms about its edge, in z
    # the mass beyond 3 sigma widens it once more, as for any peak (0.0725 against 0.0651 measured)
    assert expected <= float(sigma[0]) < 1.15 * expected


def test_emission_lines_are_never_fitted_negative(scan_head):
    """A dip where a line template falls is noise or absorption, not emission: the constrained fit drops the line
    (its chi2 equals the fit without it), the unconstrained one would use it with a negative amplitude."""
    head, processor = scan_head
    scan = head.redshift_scan
    templates = scan.galaxy_templates.double()
    lines = head.config.head_config.scan_galaxy_emission_templates
    assert lines == 8 and templates.shape[0] == 14
    continuum, balmer = templates[:1], templates[-lines:-lines + 1]  # one continuum component, the Balmer group
    n, shift = scan.num_observed, 500
    observed = (continuum - 0.5 * balmer)[:, scan.max_shift - shift:scan.max_shift - shift + n]
    flux, ivar = observed, torch.full((1, n), 100.0, dtype=torch.float64)
    both = torch.cat([continuum, balmer])
    free = scan.chi2(flux, ivar, both, shift + 1)[0, shift]
    constrained = scan.chi2(flux, ivar, both, shift + 1, num_nonnegative=1)[0, shift]
    without = scan.chi2(flux, ivar, continuum, shift + 1)[0, shift]
    assert float(free) < 1e-4 * float(without)  # the negative line fits the dip (to the fit's ridge)
    assert float(constrained) == pytest.approx(float(without), rel=1e-9)
    emission = (continuum + 0.5 * balmer)[:, scan.max_shift - shift:scan.max_shift - shift + n]  # a real line: kept
    assert float(scan.chi2(emission, ivar, both, shift + 1, num_nonnegative=1)[0, shift]) == pytest.approx(
        float(scan.chi2(emission, ivar, both, shift + 1)[0, shift]), abs=1e-6)
