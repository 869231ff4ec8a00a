"""Run configs: a YAML file, flags over it, defaults from the dataclass alone."""

from __future__ import annotations

import pytest

from galfm.training.finetune import FinetuneConfig
from galfm.training.pretrain import DEFAULT_CONFIG, PretrainConfig, add_run_arguments
from galfm.training.run_config import parse_run_config


def test_flags_override_the_yaml_which_overrides_the_dataclass(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("batch_size: 7\nmax_steps: 11\nobjectives: {masked: 1.0, autoregressive: 0.0, contrastive: 1.0}\n")
    config, run = parse_run_config(PretrainConfig, ["--config", str(path), "--max-steps", "3", "--data", "d",
                                                    "--output-dir", "o", "--model", '{"num_hidden_layers": 2}'],
                                   "galfm pretrain: test", DEFAULT_CONFIG, add_run_arguments)
    assert (config.batch_size, config.max_steps) == (7, 3)
    assert config.objectives["autoregressive"] == 0.0 and config.model == {"num_hidden_layers": 2}
    assert config.adam_beta2 == PretrainConfig().adam_beta2  # untouched: the dataclass default
    assert (run.data, run.output_dir, run.resume) == ("d", "o", False)
    assert config.model_config().pretraining_config.autoregressive_loss_weight == 0.0
    assert config.model_config().num_hidden_layers == 2


def test_the_shipped_yaml_holds_the_dataclass_defaults():
    assert PretrainConfig.from_yaml(DEFAULT_CONFIG) == PretrainConfig()


def test_unknown_yaml_keys_and_bad_values_are_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("batch_sise: 8\n")
    with pytest.raises(ValueError, match="unknown keys \\['batch_sise'\\]"):
        parse_run_config(PretrainConfig, ["--config", str(path), "--data", "d", "--output-dir", "o"], "x: y",
                         extra=add_run_arguments)
    with pytest.raises(ValueError, match="objectives: unknown"):
        PretrainConfig(objectives={"masked": 1.0, "jigsaw": 1.0})
    with pytest.raises(ValueError, match="label_fraction"):
        FinetuneConfig(label_fraction=0.0)


def test_finetune_lists_take_commas_and_all():
    config, _ = parse_run_config(FinetuneConfig, ["--task", "photoz", "--inputs", "spectrum,photometry",
                                                  "--bands", "all"], "galfm finetune: test")
    assert config.inputs == ["spectrum", "photometry"] and config.band_prefixes == []
    with pytest.raises(ValueError, match="--data, --output-dir"):
        config.check()
