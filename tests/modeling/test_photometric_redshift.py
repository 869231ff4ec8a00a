"""The photometric template fit: known redshifts recovered from simulated photometry, unknown bands left out,
the spectrum scan first, the table saved with the head; its prior's bookkeeping (an amplitude is a stellar mass)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from astropy.cosmology import Planck18

from galfm import GalFMConfig, GalFMProcessor
from galfm.datasets_scripts.simulator.photometry import maggies, photometry_grid
from galfm.datasets_scripts.simulator.sed import observed_flux_density
from galfm.heads_galfm import GalFMForPropertyPrediction, load_head
from galfm.redshift_scan_galfm import shift_redshifts
from galfm.training.photoz_templates import add_photometric_redshift, representative_seds, template_maggies

JPAS_AND_SDSS = ("jpas_", "sdss_")


@pytest.fixture(scope="module")
def photoz_head(tmp_path_factory):
    """A property head (tiny random encoder) with the photometric fit (and its mass prior) for the J-PAS and SDSS
    bands, saved and reloaded: the tables travel with the folder."""
    torch.manual_seed(0)
    config = GalFMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         target_properties=["redshift", "log_mstar"])
    full = GalFMProcessor()
    processor = GalFMProcessor(filter_table={b: v for b, v in full.filter_table.items() if b.startswith(JPAS_AND_SDSS)})
    head = GalFMForPropertyPrediction(config)
    add_photometric_redshift(head, processor, num_templates=12, seed=1, mass_prior=True)
    folder = tmp_path_factory.mktemp("photoz_head")
    head.save_pretrained(folder)
    processor.save_pretrained(folder)
    return load_head(str(folder)).eval(), processor


def photometry_of(seds: np.ndarray, rest_edges: np.ndarray, z: float, bands: list[str], snr: float, seed: int
                  ) -> list[dict]:
    """Records with the photometry of each SED (its own mass) at redshift z and its luminosity distance, Gaussian
    noise at S/N snr."""
    flux = nanomaggies_at(seds, rest_edges, z, bands)
    rng = np.random.default_rng(seed)
    sigma = flux / snr
    noisy = flux + sigma * rng.standard_normal(flux.shape)
    return [{"object_id": f"g{i}", "photometry": {"band": bands, "flux": noisy[i], "flux_sigma": sigma[i]}}
            for i in range(len(seds))]


def nanomaggies_at(seds: np.ndarray, rest_edges: np.ndarray, z: float, bands: list[str]) -> np.ndarray:
    distance = np.full(len(seds), Planck18.luminosity_distance(z).to_value("cm"))
    return maggies(observed_flux_density(seds, np.full(len(seds), z), distance, photometry_grid(), rest_edges),
                   tuple(bands)) * 1e9


def predict(head, processor, records):
    with torch.no_grad():
        return head(**processor(records, return_tensors="pt"))


def test_the_fit_recovers_the_redshift_of_simulated_galaxies_from_jpas_photometry(photoz_head):
    head, processor = photoz_head
    # galaxies the templates were not made from (another seed), IGM left out as the templates are before placing
    rest_edges, seds, _ = representative_seds(num_templates=6, num_galaxies=600, seed=7)
    bands = [b for b in processor.filter_table if b.startswith("jpas_J0")] + ["sdss_r"]
    for z in (0.15, 0.45, 0.9):
        out = predict(head, processor, photometry_of(seds, rest_edges, z, bands, snr=20, seed=int(z * 100)))
        estimate, sigma = out.mean[:, 0].numpy(), out.std[:, 0].numpy()
        assert out.redshift_source.tolist() == [2] * len(seds)
        assert np.all(np.abs(estimate - z) < 0.01 * (1 + z)), (z, estimate)
        assert np.all(np.abs(estimate - z) < 3 * sigma), (z, estimate, sigma)
        assert out.photometric_redshift_pdf.shape == (len(seds), head.config.head_config.photoz_shifts)
        assert torch.allclose(out.photometric_redshift_pdf.sum(-1), torch.ones(len(seds)), atol=1e-4)


def test_five_broad_bands_give_a_wider_posterior_than_the_narrow_bands(photoz_head):
    head, processor = photoz_head
    rest_edges, seds, _ = representative_seds(num_templates=6, num_galaxies=600, seed=7)
    ugriz = [f"sdss_{b}" for b in "ugriz"]
    narrow = [b for b in processor.filter_table if b.startswith("jpas_J0")] + ["sdss_r"]
    wide = predict(head, processor, photometry_of(seds, rest_edges, 0.3, ugriz, snr=30, seed=1)).std[:, 0]
    sharp = predict(head, processor, photometry_of(seds, rest_edges, 0.3, narrow, snr=30, seed=1)).std[:, 0]
    assert torch.median(wide) > 3 * torch.median(sharp)
    assert torch.all(wide > 0.005)  # five broad bands never quote a spectroscopic precision


def test_bands_without_a_tabulated_curve_are_left_out_and_too_few_leave_the_encoder(photoz_head):
    head, processor = photoz_head
    processor = GalFMProcessor.from_dict(processor.to_dict())
    processor.add_filter("my_narrow_band", np.array([6000.0, 6010.0, 6090.0, 6100.0]), np.array([0, 1, 1, 0.0]))
    rest_edges, seds, _ = representative_seds(num_templates=6, num_galaxies=600, seed=7)
    bands = [b for b in processor.filter_table if b.startswith("jpas_J0")] + ["sdss_r"]
    records = photometry_of(seds[:2], rest_edges, 0.45, bands, snr=20, seed=3)
    with_unknown = [{**r, "photometry": {k: list(v) + [1e6 if k == "flux" else 1.0]
                                         for k, v in r["photometry"].items()}} for r in records]
    with_unknown[0]["photometry"]["band"][-1] = with_unknown[1]["photometry"]["band"][-1] = "my_narrow_band"
    plain, extra = predict(head, processor, records), predict(head, processor, with_unknown)
    assert torch.allclose(plain.mean[:, 0], extra.mean[:, 0], atol=1e-6)  # the absurd unknown band changed nothing
    two_bands = [{"object_id": "two", "photometry": {"band": ["sdss_r", "my_narrow_band", "jpas_J0500"],
                                                    "flux": [100.0, 90.0, 95.0], "flux_sigma": [1.0, 1.0, 1.0]}}]
    out = predict(head, processor, two_bands)
    assert out.redshift_source.tolist() == [0]
    assert torch.allclose(out.mean[:, 0], out.encoder_redshift[:, 0])


def test_a_template_amplitude_is_its_stellar_mass():
    """The prior's bookkeeping: a template galaxy at its luminosity distance, fitted by its own row, has the
    amplitude that gives back its own stellar mass, whatever the redshift."""
    rest_edges, seds, log_mass = representative_seds(num_templates=6, num_galaxies=600, seed=7)
    bands = [f"sdss_{b}" for b in "ugriz"]
    redshifts = np.array([0.05, 0.3, 1.2])
    table, template_log_mass = template_maggies(rest_edges, seds, bands, redshifts, log_mass)
    for s, z in enumerate(redshifts):
        flux = nanomaggies_at(seds, rest_edges, z, bands)
        amplitude = (flux * table[:, s]).sum(-1) / (table[:, s] ** 2).sum(-1)  # least squares, its own row
        np.testing.assert_allclose(template_log_mass[:, s] + np.log10(amplitude), log_mass, atol=1e-6)
    assert np.all(np.diff(template_log_mass, axis=1) > 0)  # the same flux further away is more mass


def test_the_mass_prior_rules_out_impossible_masses_and_empty_volumes(photoz_head):
    head, _ = photoz_head
    fit = head.photometric_redshift
    settings = head.config.head_config
    assert settings.photoz_mass_prior
    redshifts = shift_redshifts(settings.photoz_shifts, settings.photoz_log_step)

    def prior(log_mass: float) -> torch.Tensor:  # (K, S) at the amplitudes giving this log M*, each at S/N 100
        amplitude = 10 ** (log_mass - fit.template_log_mass.double()[None])
        mm = (100 / amplitude) ** 2  # amplitude error 1 / sqrt(mm) = amplitude / 100
        return fit.log_mass_prior(amplitude * mm, mm)[0]

    at = [int(torch.searchsorted(redshifts, z)) for z in (0.01, 0.1, 0.5)]
    typical, huge = prior(10.5), prior(13.0)
    assert torch.all(typical[:, at[1]] - huge[:, at[1]] > 100)  # 10^13 Msun is beyond the mass function's cut-off
    assert torch.all(typical[:, at[2]] - typical[:, at[0]] > 5)  # far more volume at z = 0.5 than at 0.01
    assert torch.all(prior(8.0)[:, at[1]] > typical[:, at[1]])  # dwarfs outnumber L* galaxies
