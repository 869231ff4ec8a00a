"""The SFH head's rest-frame spectrum: a line lands on its rest wavelength at any redshift, the redshift is given or
scanned, and a head without a scan that is given none says what to pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from galfm import GalFMConfig, GalFMForStarFormationHistory, GalFMProcessor, load_head
from galfm.training.redshift_templates import add_redshift_scan, rest_grid
from galfm.training.tasks import GalaxyTaskCollator, get_task

LINE_REST = 5175.0  # Mg b


def _config() -> GalFMConfig:
    return GalFMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                       rest_frame_spectrum=True)


def _absorption_spectrum(z: float, depth: float = 0.5) -> dict:
    """A flat continuum of 10 (record units) from 3700 to 9500 A with one Gaussian absorption line at LINE_REST."""
    wavelength = np.geomspace(3700.0, 9500.0, 5000)
    flux = 10.0 * (1 - depth * np.exp(-0.5 * ((wavelength / (1 + z) - LINE_REST) / 4.0) ** 2))
    return {"object_id": f"z{z}", "spectrum": {"wavelength": wavelength, "flux": flux,
                                               "ivar": np.full_like(wavelength, 100.0)}}


def test_a_line_lands_on_its_rest_wavelength_at_every_redshift():
    torch.manual_seed(0)
    head = GalFMForStarFormationHistory(_config()).eval()
    processor = GalFMProcessor()
    redshifts = [0.02, 0.3, 0.65]
    batch = processor([_absorption_spectrum(z) for z in redshifts], return_tensors="pt")
    flux, present = head.rest_frame.rest_frame(batch, torch.tensor(redshifts, dtype=torch.float64))
    edges = head.rest_frame.rest_wavelength_edges.numpy()
    centres = np.sqrt(edges[1:] * edges[:-1])
    line_bin = int(np.searchsorted(edges, LINE_REST)) - 1
    for row in range(len(redshifts)):
        seen = present[row].bool().numpy()
        assert abs(int(np.argmin(np.where(seen, flux[row].numpy(), np.inf))) - line_bin) <= 1
        # the continuum is divided by its median: 1 away from the line
        far = seen & (np.abs(centres - LINE_REST) > 50)
        assert np.allclose(flux[row].numpy()[far], 1.0, atol=1e-3)
        # a bin is present exactly where the spectrum covers it in the rest frame
        covered = (edges[:-1] > 3700 / (1 + redshifts[row]) + 5) & (edges[1:] < 9500 / (1 + redshifts[row]) - 5)
        assert seen[covered].all() and not seen[(edges[1:] < 3690 / (1 + redshifts[row]))].any()
    # a NaN redshift reads as no spectrum at all
    empty, none = head.rest_frame.rest_frame(batch, torch.tensor([math.nan] * 3, dtype=torch.float64))
    assert not none.any() and not empty.any()


def test_the_head_reads_its_own_scan_where_no_redshift_is_given(tmp_path):
    torch.manual_seed(0)
    processor = GalFMProcessor()
    head = GalFMForStarFormationHistory(_config()).eval()
    z = 0.1234
    centres = np.sqrt(processor.spectrum_grid_edges[1:] * processor.spectrum_grid_edges[:-1])
    add_redshift_scan(head, processor)
    continuum = head.redshift_scan.galaxy_templates[0].numpy().astype(float)
    flux = np.interp(centres / (1 + z), rest_grid(head.config), continuum)
    keep = (centres > 3700) & (centres < 9200)
    record = {"object_id": "g", "spectrum": {"wavelength": centres[keep], "flux": flux[keep] / np.median(flux[keep]),
                                             "ivar": np.full(keep.sum(), 1e4)}}
    batch = processor([record], return_tensors="pt")
    with pytest.raises(ValueError, match="redshift"):
        GalFMForStarFormationHistory(_config()).eval()(**batch)  # no scan, no redshift: say what to pass
    with torch.no_grad():
        given = head(**batch, redshift=torch.tensor([z]))
        scanned = head(**batch)
        nan_given = head(**batch, redshift=torch.tensor([math.nan]))
    assert abs(float(scanned.redshift[0]) - z) < 3e-4
    torch.testing.assert_close(scanned.log_z, given.log_z, atol=1e-4, rtol=0)
    torch.testing.assert_close(nan_given.sfh, scanned.sfh)
    # noise alone: the scan does not single a redshift out, and the head says so
    rng = np.random.default_rng(0)
    noise = {"object_id": "noise", "spectrum": {"wavelength": centres[keep], "flux": rng.normal(1.0, 1.0, keep.sum()),
                                                "ivar": np.ones(keep.sum())}}
    with torch.no_grad():
        unknown = head(**processor([noise], return_tensors="pt"))
    assert bool(unknown.redshift_warning[0]) and not bool(scanned.redshift_warning[0])
    assert not bool(given.redshift_warning[0])
    # in training a share of the given redshifts is hidden, so the head learns to answer without them too
    head.config.head_config.rest_frame_redshift_dropout = 1.0
    assert torch.isnan(head.train()(**batch, redshift=torch.tensor([z])).redshift).all()
    head.config.head_config.rest_frame_redshift_dropout = 0.0
    assert float(head(**batch, redshift=torch.tensor([z])).redshift[0]) == pytest.approx(z)
    head.eval()
    # the scan and the rest-frame branch travel with the saved head
    head.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    again = load_head(str(tmp_path)).eval()
    assert again.config.head_config.rest_frame_spectrum and again.redshift_scan is not None
    with torch.no_grad():
        torch.testing.assert_close(again(**batch).sfh, scanned.sfh)


def test_the_sfh_task_hands_the_head_the_records_redshift(processor):
    records = [{**_absorption_spectrum(0.2), "properties": {"redshift": 0.2, "log_z": 0.1, "sfh": [1 / 16] * 16}},
               {**_absorption_spectrum(0.4), "properties": {"log_z": -0.2}}]
    batch = GalaxyTaskCollator(processor, get_task("sfh"))(records)
    assert batch["redshift"][0] == pytest.approx(0.2) and math.isnan(float(batch["redshift"][1]))
    assert batch["labels"].shape == (2, 17)
