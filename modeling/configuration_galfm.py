"""GalFMConfig: the configuration of the galfm multimodal galaxy transformer."""

from __future__ import annotations

from transformers import PreTrainedConfig

# Named sizes. Parameter counts (GalFMModel, measured by tests/modeling/test_configuration_galfm.py):
# tiny 0.86M, base 25.7M, large 304M.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 512},
    "base": {"hidden_size": 512, "num_hidden_layers": 8, "num_attention_heads": 8, "intermediate_size": 2048},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
}
PRESET_PARAMETERS: dict[str, int] = {"tiny": 862_976, "base": 25_695_232, "large": 303_785_984}


class GalFMConfig(PreTrainedConfig):
    r"""Configuration of [`GalFMModel`].

    The token geometry (``spectrum_patch_size``, ``image_patch_size``, ``num_property_types``) must match the
    [`GalFMProcessor`] the model is used with; the defaults match the default processor.

    Args:
        hidden_size (`int`): width of every token embedding.
        num_hidden_layers (`int`): transformer encoder layers.
        num_attention_heads (`int`): attention heads per layer.
        intermediate_size (`int`): width of the feed-forward layers.
        hidden_act (`str`): feed-forward activation.
        hidden_dropout_prob (`float`): dropout on residual branches.
        attention_probs_dropout_prob (`float`): dropout on attention weights.
        layer_norm_eps (`float`): LayerNorm epsilon.
        initializer_range (`float`): std of the normal weight initialisation.
        spectrum_patch_size (`int`): spectrum pixels per token.
        image_patch_size (`int`): image patch side in pixels.
        num_property_types (`int`): size of the property-type vocabulary.
        num_wavelength_frequencies (`int`): Fourier frequencies encoding log wavelength (and log width).
        num_position_frequencies (`int`): Fourier frequencies encoding image patch positions.
        wavelength_reference (`float`): Angstrom; wavelengths enter as log10(lambda / reference).
        photometry_mag_center (`float`), photometry_mag_scale (`float`): standardisation of asinh magnitudes.
        position_scale (`float`): arcsec; image offsets enter as offset / position_scale.
        num_decoder_layers (`int`): layers of the light decoder that answers masked-token queries (pretraining).
        masked_loss_weight (`float`), autoregressive_loss_weight (`float`), contrastive_loss_weight (`float`):
            weights of the three self-supervised objectives of `GalFMForPretraining`; 0 switches one off.
        mask_ratio_min (`float`), mask_ratio_max (`float`): range of the fraction of tokens hidden when the
            masked objective draws a random subset.
        contrastive_temperature (`float`): initial InfoNCE temperature (learned afterwards).
        pooling (`str`): how ``pooler_output`` (the galaxy embedding) is made: ``"mean"`` (mean state of all
            tokens, the galaxy token included) or ``"galaxy_token"`` (the galaxy token's state alone).
        target_properties (`list[str]`, *optional*): what a property or posterior head predicts, keys of
            `galfm.PROPERTIES` (e.g. ``["redshift"]`` for photo-z); their units are the record's.
        head_hidden_size (`int`): width of the MLP of the downstream heads.
        head_dropout (`float`): dropout inside the downstream heads.
        nll_beta (`float`): beta of the beta-NLL (Seitzer et al. 2022) of the Gaussian heads; 0 is plain NLL.
        flow_matching_steps (`int`): ODE steps (Heun) when the posterior head draws samples.
        posterior_eval_samples (`int`): posterior samples per galaxy drawn in evaluation mode (what
            ``Trainer.evaluate`` sees); 0 returns none.
    """

    model_type = "galfm"

    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    spectrum_patch_size: int = 64
    image_patch_size: int = 8
    num_property_types: int = 64
    num_wavelength_frequencies: int = 16
    num_position_frequencies: int = 8
    wavelength_reference: float = 5000.0
    photometry_mag_center: float = 22.0
    photometry_mag_scale: float = 2.5
    position_scale: float = 10.0
    num_decoder_layers: int = 2
    masked_loss_weight: float = 1.0
    autoregressive_loss_weight: float = 1.0
    contrastive_loss_weight: float = 1.0
    mask_ratio_min: float = 0.15
    mask_ratio_max: float = 0.6
    contrastive_temperature: float = 0.07
    pooling: str = "mean"
    target_properties: list[str] | None = None
    head_hidden_size: int = 256
    head_dropout: float = 0.0
    nll_beta: float = 0.5
    flow_matching_steps: int = 32
    posterior_eval_samples: int = 100

    def __post_init__(self, **kwargs):
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.pooling not in ("mean", "galaxy_token"):
            raise ValueError(f"pooling={self.pooling!r}: use 'mean' or 'galaxy_token'")
        super().__post_init__(**kwargs)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> GalFMConfig:
        """A config of a named size (``tiny``, ``base``, ``large``); keyword arguments override fields."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


__all__ = ["GalFMConfig", "PRESETS", "PRESET_PARAMETERS"]
