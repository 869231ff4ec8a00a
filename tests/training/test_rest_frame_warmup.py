"""The rest-frame warm-up fits the SFH head's branch and readout on cached summaries and leaves the encoder alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from galfm import GalFMConfig, GalFMForPretraining, GalFMProcessor
from galfm.datasets_scripts.simulator import SimulationConfig, write_survey
from galfm.heads_galfm import GalFMForStarFormationHistory
from galfm.training.rest_frame_warmup import cache_rest_frame_inputs, warm_up_rest_frame
from galfm.training.tasks import GalaxyTaskCollator, get_task, load_task_splits


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("survey")
    write_survey(SimulationConfig(n=160, seed=5, surveys=("desi",), bright_fraction=1.0, shard_size=80), out,
                 progress=False)
    return out


def _head(tmp_path: Path, rest_frame: bool = True) -> GalFMForStarFormationHistory:
    torch.manual_seed(0)
    GalFMForPretraining(GalFMConfig.from_preset("tiny")).save_pretrained(tmp_path)
    GalFMProcessor().save_pretrained(tmp_path)
    config = GalFMConfig.from_pretrained(tmp_path, head_config={"rest_frame_spectrum": rest_frame})
    return GalFMForStarFormationHistory.from_pretrained(tmp_path, config=config)


def _log_z_loss(head, cache) -> float:
    """Mean beta-NLL + cross-entropy of the head's readout on the cached galaxies (eval mode)."""
    head.eval()
    with torch.no_grad():
        features = torch.cat([cache["summary"], head.rest_frame.encode(cache["flux"], cache["present"].float())], -1)
        return float(head.predict(features, cache["labels"]).loss)


def test_warm_up_lowers_the_loss_and_keeps_the_encoder(survey, tmp_path):
    torch.set_num_threads(1)
    head = _head(tmp_path)
    task = get_task("sfh").with_options(["spectrum"], None, None)
    train = load_task_splits(survey, task)["train"]
    collator = GalaxyTaskCollator(GalFMProcessor.from_pretrained(tmp_path), task)
    cache = cache_rest_frame_inputs(head, DataLoader(train, batch_size=32, collate_fn=collator), progress=False)
    assert cache["summary"].shape == (len(train), 2 * head.config.hidden_size)
    assert cache["flux"].shape == cache["present"].shape == (len(train), head.config.head_config.rest_frame_bins)
    assert cache["present"].float().mean() > 0.3  # DESI covers most of 3600-8000 A rest at these redshifts
    before = _log_z_loss(head, cache)
    encoder = {k: v.clone() for k, v in head.galfm.state_dict().items()}
    branch = {k: v.clone() for k, v in head.rest_frame.state_dict().items()}

    done = warm_up_rest_frame(head, train, collator, epochs=30, learning_rate=1e-3, batch_size=16, progress=False)

    assert done["galaxies"] == len(train) and done["held_out"] == round(0.1 * len(train))
    # scored on the held-out tenth after every one of the 30 epochs; the best epoch's weights are kept
    assert 1 <= done["best_epoch"] <= done["epochs_run"] == len(done["held_out_losses"]) == 30
    assert done["held_out_loss"] == min(done["held_out_losses"])
    assert _log_z_loss(head, cache) < before - 0.5
    assert all(torch.equal(v, head.galfm.state_dict()[k]) for k, v in encoder.items())
    assert not all(torch.equal(v, head.rest_frame.state_dict()[k]) for k, v in branch.items())


def test_a_head_without_the_branch_is_refused(survey, tmp_path):
    head = _head(tmp_path, rest_frame=False)
    task = get_task("sfh").with_options(["spectrum"], None, None)
    collator = GalaxyTaskCollator(GalFMProcessor.from_pretrained(tmp_path), task)
    with pytest.raises(ValueError, match="rest_frame_warmup_epochs"):
        warm_up_rest_frame(head, load_task_splits(survey, task)["train"], collator, 1, 1e-3, progress=False)
