"""The photometric template fit: known redshifts recovered from simulated photometry, unknown bands left out,
the spectrum scan first, the table saved with the head; its prior's bookkeeping (an amplitude is a stellar mass);
the library of galaxies at their own redshifts as the population prior."""

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
from galfm.training.photoz_templates import (
    add_photometric_redshift,
    library_table,
    representative_seds,
    template_maggies,
)

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


UGRIZ = [f"sdss_{b}" for b in "ugriz"]


def library_records(seds: np.ndarray, rest_edges: np.ndarray, redshifts: tuple[float, ...], seed: int) -> list[dict]:
    """Every SED at every redshift (its own mass and luminosity distance), SDSS ugriz at S/N 30, labelled."""
    return [{**r, "object_id": f"lib{z}-{r['object_id']}", "properties": {"redshift": z}}
            for z in redshifts for r in photometry_of(seds, rest_edges, z, UGRIZ, snr=30, seed=seed)]


@pytest.fixture(scope="module")
def library_head(tmp_path_factory):
    """A property head whose fit has a library: six SEDs at z = 0.1 and at z = 0.4 in SDSS ugriz, plus one
    record with a flagged redshift that must not enter; saved and reloaded."""
    torch.manual_seed(0)
    config = GalFMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         target_properties=["redshift"])
    full = GalFMProcessor()
    processor = GalFMProcessor(filter_table={b: v for b, v in full.filter_table.items() if b.startswith(JPAS_AND_SDSS)})
    rest_edges, seds, _ = representative_seds(num_templates=6, num_galaxies=600, seed=7)
    records = library_records(seds, rest_edges, (0.1, 0.4), seed=11)
    flagged = {**records[0], "object_id": "flagged", "properties": {"redshift": 2.0}, "flags": ["sdss_zwarning=4"]}
    head = GalFMForPropertyPrediction(config)
    add_photometric_redshift(head, processor, num_templates=12, seed=1, library=records + [flagged])
    folder = tmp_path_factory.mktemp("library_head")
    head.save_pretrained(folder)
    processor.save_pretrained(folder)
    return load_head(str(folder)).eval(), processor, rest_edges, seds


def test_the_library_keeps_labelled_photometry_one_row_per_survey_with_unmeasured_bands_marked():
    processor = GalFMProcessor()
    jpas = [b for b in processor.filter_table if b.startswith("jpas_")]
    records = [{"object_id": "a", "photometry": {"band": ["sdss_g", "sdss_r", "sdss_i"], "flux": [10.0, 20.0, 15.0],
                                                 "flux_sigma": [1.0, 2.0, 1.5]}, "properties": {"redshift": 0.1}},
               {"object_id": "b", "photometry": {"band": ["sdss_r", "sdss_i", "sdss_z", "sdss_u"],
                                                 "flux": [5.0, 6.0, 7.0, np.nan], "flux_sigma": [0.5, 0.6, 0.7, 1.0]},
                "properties": {"redshift": 0.3}},
               {"object_id": "two surveys", "photometry": {
                   "band": ["decam_g", "decam_r", "decam_z", "sdss_u", "sdss_g", "sdss_r"],
                   "flux": [1.0, 2.0, 3.0, 0.5, 1.1, 2.1], "flux_sigma": [0.1] * 6}, "properties": {"redshift": 0.2}},
               {"object_id": "narrow bands", "photometry": {"band": jpas, "flux": [1.0] * len(jpas),
                                                            "flux_sigma": [0.1] * len(jpas)},
                "properties": {"redshift": 0.5}},
               {"object_id": "no z", "photometry": {"band": ["sdss_r"] * 3, "flux": [5.0] * 3, "flux_sigma": [0.5] * 3},
                "properties": {}},
               {"object_id": "no photometry", "photometry": None, "properties": {"redshift": 0.2}}]
    bands, flux, sigma, log_scale, redshift = library_table(records, processor)
    # the NaN u flux is not a measurement; J-PAS (60 bands) stays out; the two-survey galaxy gives two rows
    assert bands == ["sdss_g", "sdss_r", "sdss_i", "sdss_z", "decam_g", "decam_r", "decam_z", "sdss_u"]
    np.testing.assert_allclose(redshift, [0.1, 0.3, 0.2, 0.2])
    inf = np.inf
    np.testing.assert_allclose(10 ** log_scale[:2, None] * flux[:2, :4], [[10, 20, 15, 0], [0, 5, 6, 7]],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(10 ** log_scale[:2, None] * sigma[:2, :4], [[1, 2, 1.5, inf], [inf, 0.5, 0.6, 0.7]],
                               rtol=1e-4)
    assert np.isfinite(sigma[2]).tolist() == [False] * 4 + [True] * 3 + [False]  # the Legacy row
    assert np.isfinite(sigma[3]).tolist() == [True, True, False, False, False, False, False, True]  # the SDSS row
    with pytest.raises(ValueError, match="trusted properties.redshift"):
        library_table(records[4:], processor)


def test_the_library_decides_between_redshifts_five_broad_bands_leave_open(library_head):
    """The same six galaxies at z = 0.1 and 0.4 through ugriz: the library's p(z) puts each at its own redshift
    (colours and brightness), the flagged z = 2 record never entered, and the posterior's answer is right."""
    head, processor, rest_edges, seds = library_head
    settings = head.config.head_config
    assert settings.photoz_library_size == 12 and settings.photoz_library_bands == UGRIZ
    grid = shift_redshifts(settings.photoz_shifts, settings.photoz_log_step)
    for z in (0.1, 0.4):
        records = photometry_of(seds, rest_edges, z, UGRIZ, snr=30, seed=int(100 * z) + 1)
        batch = processor(records, return_tensors="pt")
        scan = head.photometric_redshift(batch)
        assert scan.library_valid.all()
        library_peak = grid[scan.library_log_prior.argmax(-1)]
        assert torch.all((library_peak - z).abs() < 0.02 * (1 + z)), (z, library_peak)
        assert scan.library_log_prior[:, grid > 1.0].exp().sum(-1).max() < 1e-6  # nothing from the flagged z = 2
        out = predict(head, processor, records)
        assert out.redshift_source.tolist() == [2] * len(seds)
        assert torch.all((out.mean[:, 0] - z).abs() < 0.02 * (1 + z)), (z, out.mean[:, 0])


def test_bands_the_library_never_measured_leave_the_encoder_prior(library_head):
    head, processor, rest_edges, seds = library_head
    narrow = [b for b in processor.filter_table if b.startswith("jpas_J0")]
    batch = processor(photometry_of(seds[:2], rest_edges, 0.3, narrow, snr=20, seed=5), return_tensors="pt")
    scan = head.photometric_redshift(batch)
    assert not scan.library_valid.any()
    assert scan.valid.all()  # the template fit still answers, with the encoder's Gaussian as its prior
