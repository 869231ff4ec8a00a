"""The configurations of galfm: the encoder (`GalFMConfig`), with its pretraining objectives
(`GalFMPretrainingConfig`) and downstream-head settings (`GalFMHeadConfig`) as sub-configs in one ``config.json``.

Every number the model uses is a documented field here; nothing is hard-coded in the modules. Folders saved
before the sub-configs existed (flat ``masked_loss_weight``, ``target_properties``, ... at the top level) load
unchanged: such keys are routed into their sub-config.
"""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedConfig

# Named sizes. Parameter counts (GalFMModel, measured by tests/modeling/test_configuration_galfm.py):
# tiny 0.86M, base 25.7M, large 304M.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 512},
    "base": {"hidden_size": 512, "num_hidden_layers": 8, "num_attention_heads": 8, "intermediate_size": 2048},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
}
PRESET_PARAMETERS: dict[str, int] = {"tiny": 862_976, "base": 25_695_232, "large": 303_785_984}

BUILTIN_MODALITIES: tuple[str, ...] = ("spectrum", "photometry", "image", "properties")


class GalFMPretrainingConfig(PreTrainedConfig):
    r"""The self-supervised objectives of [`GalFMForPretraining`].

    Attributes:
        num_decoder_layers (`int`): layers of the light decoder that answers masked-token queries.
        masked_loss_weight (`float`), autoregressive_loss_weight (`float`), contrastive_loss_weight (`float`):
            weights of the three objectives; 0 switches one off.
        whole_modality_probability (`float`): chance that the masked objective hides one whole modality of a
            galaxy (when it has two or more) and asks for it from the rest.
        spectrum_half_probability (`float`): chance that it hides the red half of the spectrum (first half of
            this probability) or the blue half (second half) instead.
        mask_ratio_min (`float`), mask_ratio_max (`float`): otherwise a random subset of the tokens is hidden,
            its fraction drawn uniformly in this range.
        contrastive_temperature (`float`): initial InfoNCE temperature (learned afterwards).
        max_logit_scale (`float`): upper bound of the learned inverse temperature (CLIP's 100).
        token_variance_floor (`float`): variance added to every target value's data variance, so noiseless
            tokens (the spectrum normalisation, properties) keep a finite likelihood.
        token_log_var_min (`float`), token_log_var_max (`float`): clamp of the predicted log variances.
        objective_assignment (`str`): ``"one_per_galaxy"`` (each galaxy trains one objective per step, drawn in
            proportion to the weights: about one encoder pass per galaxy) or ``"every_galaxy"`` (every objective
            on every galaxy: four to five passes per step).
        encoder_passes (`str`): ``"per_objective"`` (each objective's rows encoded on their own, each padded only
            to its own length; the fastest on one process) or ``"one"`` (every objective's rows in one encoder
            pass, packed several to a sequence: the same sequence of layer calls on every rank, which sharding
            the model with FSDP needs; 0.81-0.94x the speed on a CPU).
    """

    model_type = "galfm_pretraining"
    base_config_key = "pretraining_config"

    num_decoder_layers: int = 2
    masked_loss_weight: float = 1.0
    autoregressive_loss_weight: float = 1.0
    contrastive_loss_weight: float = 1.0
    whole_modality_probability: float = 0.4
    spectrum_half_probability: float = 0.2
    mask_ratio_min: float = 0.15
    mask_ratio_max: float = 0.6
    contrastive_temperature: float = 0.07
    max_logit_scale: float = 100.0
    token_variance_floor: float = 1e-4
    token_log_var_min: float = -12.0
    token_log_var_max: float = 12.0
    objective_assignment: str = "one_per_galaxy"
    encoder_passes: str = "per_objective"

    def __post_init__(self, **kwargs):
        if self.objective_assignment not in ("one_per_galaxy", "every_galaxy"):
            raise ValueError(f"objective_assignment={self.objective_assignment!r}: use 'one_per_galaxy' or "
                             "'every_galaxy'")
        if self.encoder_passes not in ("per_objective", "one"):
            raise ValueError(f"encoder_passes={self.encoder_passes!r}: use 'per_objective' or 'one'")
        super().__post_init__(**kwargs)


class GalFMHeadConfig(PreTrainedConfig):
    r"""The downstream heads (property, posterior, star-formation history, morphology).

    Attributes:
        target_properties (`list[str]`, *optional*): what a property or posterior head predicts, keys of
            `galfm.PROPERTIES` (e.g. ``["redshift"]`` for photo-z); their units are the record's.
        property_specs (`dict`, *optional*): property -> {"center", "scale", "transform"}, the scaling between
            record units and the heads' standardised outputs. `galfm finetune` copies the processor's, so a
            folder's processor and heads always agree; None uses `galfm.PROPERTIES`.
        head_hidden_size (`int`): width of the heads' MLPs.
        head_dropout (`float`): dropout inside the heads.
        nll_beta (`float`): beta of the beta-NLL (Seitzer et al. 2022) of the Gaussian heads; 0 is plain NLL.
        log_var_min (`float`), log_var_max (`float`): clamp of the predicted (standardised) log variances.
        flow_matching_steps (`int`): ODE steps (Heun) when the posterior head draws samples.
        flow_matching_pairs_per_galaxy (`int`): (noise, time) draws per galaxy per training step of the
            posterior head; more lowers the variance of its loss.
        flow_matching_time_frequencies (`int`): Fourier frequencies encoding the flow time.
        posterior_eval_samples (`int`): posterior samples per galaxy drawn in evaluation mode (what
            ``Trainer.evaluate`` sees); 0 returns none.
        redshift_scan (`bool`): the property head also fits rest-frame templates to the spectrum at every
            redshift of a fine grid (`galfm.redshift_scan_galfm`) and reports the scan's posterior, with the
            encoder's own redshift as its prior; set up by `galfm.training.redshift_templates.add_redshift_scan`.
        scan_observed_log_min (`float`), scan_log_step (`float`), scan_observed_pixels (`int`): the processor's
            observed log-lambda grid (first pixel's lower edge, step in dex, pixels) the templates are made for.
        scan_galaxy_shifts (`int`), scan_qso_shifts (`int`): grid pixels scanned, z_s = 10^(s step) - 1 for
            s < shifts (4150 and 6990 at 1e-4 dex: z < 1.6 for galaxies, z < 4 for QSOs).
        scan_galaxy_templates (`int`), scan_qso_templates (`int`): number of rest-frame templates of each class.
        scan_galaxy_emission_templates (`int`): how many of the galaxy templates, the last ones, are emission
            lines, fitted with amplitudes >= 0 (a line fitted negative is dropped and the fit redone), so noise
            cannot be fitted as absorption "lines" at a wrong redshift; 0 leaves every amplitude free.
        scan_polynomial_degree (`int`): degree of the observed-frame Legendre polynomials added to every fit.
        scan_min_pixels (`int`): fewer good pixels than this and the scan is not used for that galaxy.
        scan_prior_outlier_fraction (`float`): flat share mixed into the encoder's redshift prior.
        scan_sigma_floor_pixels (`float`): grid pixels added in quadrature to the scan's curvature sigma (the
            grid step and the template mismatch a real spectrum has).
        scan_qso_sigma_floor_pixels (`float`): the same for QSO redshifts: 7 pixels (~ 500 km/s at 1e-4 dex), the
            scatter of broad-line velocity offsets from the systemic redshift (Shen et al. 2016).
        scan_min_delta_chi2 (`float`), scan_delta_chi2_window_kms (`float`): a redshift whose best fit beats every
            fit farther than the window (1000 km/s) by less than this chi2 (9, redrock's SMALL_DELTA_CHI2) gets
            ``redshift_warning``: the data do not single it out.
        scan_qso_delta_chi2 (`float`): how much better (in reduced chi2 units) the QSO fit must be to class
            the spectrum a QSO.
        rest_frame_spectrum (`bool`): the SFH head also reads the spectrum moved to its rest frame
            (`galfm.rest_frame_galfm`): at the ``redshift`` it is given (the record's in training), else at its own
            redshift scan's; the encoder's observed-frame patches alone keep too little absorption-line detail.
        rest_frame_log_min (`float`), rest_frame_bins (`int`), rest_frame_bin_pixels (`int`): the rest-frame grid,
            log10(lambda) from ``rest_frame_log_min`` in bins of that many observed-grid pixels (3600-8000 A in 868
            bins of 4 x 1e-4 dex by default: 276 km/s, the optical absorption lines of stellar-population fits).
        rest_frame_channels (`int`), rest_frame_features (`int`): the rest-frame branch's convolution channels and
            output width.
        rest_frame_redshift_dropout (`float`): in training, the share of given redshifts hidden (the head then
            reads no rest frame). 0 by default: hiding 15% cost the MUSE-setting head 0.064 -> 0.10 dex in log Z
            (two seeds, `benchmarks/RESULTS.md`).
        photometric_redshift (`bool`): a property head predicting redshift also fits template SEDs to the
            photometry at every redshift of a grid (`galfm.photometric_redshift_galfm`) and, for a galaxy without
            a usable spectrum, reports that posterior; set up by
            `galfm.training.photoz_templates.add_photometric_redshift`.
        photoz_log_step (`float`), photoz_shifts (`int`): the grid z_s = 10^(s step) - 1, s < shifts (0.001 dex,
            dz / (1 + z) = 0.0023, and 545 shifts: z <= 2.5).
        photoz_templates (`int`): number of template SEDs; photoz_bands (`list[str]`): the bands tabulated.
        photoz_softening_nmgy (`float`): the processor's asinh softening, to turn the tokens back into fluxes.
        photoz_template_error (`float`): fractional flux error added in quadrature for template mismatch.
        photoz_min_bands (`int`): fewer tabulated bands than this and the encoder's redshift stands.
        photoz_sigma_floor_pixels (`float`): grid pixels added in quadrature to the peak's curvature sigma.
        photoz_mass_prior (`bool`): weigh each template solution by dV_c/dz times the stellar-mass function at the
            mass its amplitude implies (False in heads made before it); photoz_mass_function_bins (`int`): the
            length of that function's table.
        photoz_library_size (`int`): rows of the library, one per training galaxy and broadband survey, each at
            its galaxy's redshift, the fit's population prior (0: none, as in heads made before it; the encoder's
            Gaussian is then the prior); photoz_library_bands (`list[str]`): the bands they were measured in.
        photoz_library_magnitude_sigma (`float`): how close (mag) a library galaxy's brightness must be to count
            (a flux-limited survey's redshifts depend on how bright its galaxies are); photoz_library_kernel_pixels
            (`float`): the grid pixels each library redshift is spread over.
    """

    model_type = "galfm_head"
    base_config_key = "head_config"

    target_properties: list[str] | None = None
    property_specs: dict[str, dict[str, Any]] | None = None
    head_hidden_size: int = 256
    head_dropout: float = 0.0
    nll_beta: float = 0.5
    log_var_min: float = -14.0
    log_var_max: float = 6.0
    flow_matching_steps: int = 32
    flow_matching_pairs_per_galaxy: int = 8
    flow_matching_time_frequencies: int = 8
    posterior_eval_samples: int = 100
    redshift_scan: bool = False
    scan_observed_log_min: float = 3.4771212547196626  # log10(3000), the processor's default
    scan_log_step: float = 1e-4
    scan_observed_pixels: int = 8256
    scan_galaxy_shifts: int = 4150
    scan_qso_shifts: int = 6990
    scan_galaxy_templates: int = 0
    scan_qso_templates: int = 0
    scan_galaxy_emission_templates: int = 0
    scan_polynomial_degree: int = 2
    scan_min_pixels: int = 200
    scan_prior_outlier_fraction: float = 0.05
    scan_sigma_floor_pixels: float = 0.5
    scan_qso_sigma_floor_pixels: float = 7.0
    scan_qso_delta_chi2: float = 25.0
    scan_min_delta_chi2: float = 9.0
    scan_delta_chi2_window_kms: float = 1000.0
    rest_frame_spectrum: bool = False
    rest_frame_log_min: float = 3.5563025007672873  # log10(3600)
    rest_frame_bins: int = 868
    rest_frame_bin_pixels: int = 4
    rest_frame_channels: int = 32
    rest_frame_features: int = 256
    rest_frame_redshift_dropout: float = 0.0
    photometric_redshift: bool = False
    photoz_log_step: float = 1e-3
    photoz_shifts: int = 545
    photoz_templates: int = 0
    photoz_bands: list[str] | None = None
    photoz_softening_nmgy: float = 0.1
    photoz_template_error: float = 0.05
    photoz_min_bands: int = 3
    photoz_sigma_floor_pixels: float = 0.5
    photoz_mass_prior: bool = False
    photoz_mass_function_bins: int = 0
    photoz_library_size: int = 0
    photoz_library_bands: list[str] | None = None
    photoz_library_magnitude_sigma: float = 0.5
    photoz_library_kernel_pixels: float = 4.3

    @property
    def scan_max_shift(self) -> int:
        """The largest shift either class scans (the rest templates extend this far beyond the observed grid)."""
        return max(self.scan_galaxy_shifts, self.scan_qso_shifts) - 1


# flat keys of folders saved before the sub-configs, and the sub-config each belongs to
_SUBCONFIG_OF_KEY: dict[str, str] = {
    **{k: "pretraining_config" for k in GalFMPretrainingConfig.__dataclass_fields__
       if k not in PreTrainedConfig.__dataclass_fields__},
    **{k: "head_config" for k in GalFMHeadConfig.__dataclass_fields__
       if k not in PreTrainedConfig.__dataclass_fields__},
}


class GalFMConfig(PreTrainedConfig):
    r"""Configuration of [`GalFMModel`], with ``pretraining_config`` and ``head_config`` inside.

    The token geometry (``spectrum_patch_size``, ``image_patch_size``, ``num_property_types``) must match the
    [`GalFMProcessor`] the model is used with; the defaults match the default processor.

    Attributes:
        hidden_size (`int`): width of every token embedding.
        num_hidden_layers (`int`): transformer encoder layers.
        num_attention_heads (`int`): attention heads per layer.
        intermediate_size (`int`): width of the feed-forward layers.
        hidden_act (`str`): feed-forward activation.
        hidden_dropout_prob (`float`): dropout on residual branches.
        attention_probs_dropout_prob (`float`): dropout on attention weights.
        layer_norm_eps (`float`): LayerNorm epsilon.
        initializer_range (`float`): std of the normal weight initialisation.
        modalities (`list[str]`): the modalities the model embeds, names in `galfm.modalities.MODALITIES`; their
            order fixes the token types (the galaxy token first, then each modality's own).
        spectrum_patch_size (`int`): spectrum pixels per token.
        image_patch_size (`int`): image patch side in pixels.
        num_property_types (`int`): size of the property-type vocabulary.
        num_wavelength_frequencies (`int`): Fourier frequencies encoding log wavelength (a quarter as many, at
            least one, encode the log fractional width).
        wavelength_frequency_range (`list[float]`): cycles per dex of log10(lambda), lowest and highest: ~1 dex
            (UV to mid-IR) down to 1e-3 dex (a fraction of a spectral patch).
        width_frequency_range (`list[float]`): cycles per dex of log10(width / lambda): tells a 145 A narrow
            band from a broad band or a spectral patch.
        num_position_frequencies (`int`): Fourier frequencies encoding image patch positions.
        position_frequency_range (`list[float]`): cycles per ``position_scale`` of the image patch offsets.
        wavelength_reference (`float`): Angstrom; wavelengths enter as log10(lambda / reference).
        photometry_mag_center (`float`), photometry_mag_scale (`float`): standardisation of asinh magnitudes.
        photometry_min_mag_error (`float`): magnitude errors are floored here before their log enters the model.
        position_scale (`float`): arcsec; image offsets enter as offset / position_scale.
        pooling (`str`): how ``pooler_output`` (the galaxy embedding) is made: ``"mean"`` (mean state of all
            tokens, the galaxy token included) or ``"galaxy_token"`` (the galaxy token's state alone).
        pretraining_config (`GalFMPretrainingConfig` or `dict`): the self-supervised objectives.
        head_config (`GalFMHeadConfig` or `dict`): the downstream heads.
    """

    model_type = "galfm"
    sub_configs_defaults = {"pretraining_config": GalFMPretrainingConfig, "head_config": GalFMHeadConfig}

    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    modalities: list[str] | None = None
    spectrum_patch_size: int = 64
    image_patch_size: int = 8
    num_property_types: int = 64
    num_wavelength_frequencies: int = 16
    wavelength_frequency_range: list[float] | None = None
    width_frequency_range: list[float] | None = None
    num_position_frequencies: int = 8
    position_frequency_range: list[float] | None = None
    wavelength_reference: float = 5000.0
    photometry_mag_center: float = 22.0
    photometry_mag_scale: float = 2.5
    photometry_min_mag_error: float = 1e-4
    position_scale: float = 10.0
    pooling: str = "mean"
    pretraining_config: dict | GalFMPretrainingConfig | None = None
    head_config: dict | GalFMHeadConfig | None = None

    def __post_init__(self, **kwargs):
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.pooling not in ("mean", "galaxy_token"):
            raise ValueError(f"pooling={self.pooling!r}: use 'mean' or 'galaxy_token'")
        self.modalities = list(self.modalities or BUILTIN_MODALITIES)
        self.wavelength_frequency_range = list(self.wavelength_frequency_range or (0.25, 500.0))
        self.width_frequency_range = list(self.width_frequency_range or (0.1, 2.0))
        self.position_frequency_range = list(self.position_frequency_range or (0.05, 5.0))
        for key in [k for k in kwargs if k in _SUBCONFIG_OF_KEY]:  # a flat (pre-sub-config) key
            name = _SUBCONFIG_OF_KEY[key]
            sub = getattr(self, name)
            sub = sub.to_dict() if isinstance(sub, PreTrainedConfig) else dict(sub or {})
            sub[key] = kwargs.pop(key)
            setattr(self, name, sub)
        super().__post_init__(**kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs) -> GalFMConfig:
        """As `PreTrainedConfig.from_dict`; a flat sub-config key (``target_properties=[...]``) is applied to its
        sub-config rather than ignored."""
        flat = {k: kwargs.pop(k) for k in list(kwargs) if k in _SUBCONFIG_OF_KEY}
        return super().from_dict({**config_dict, **flat}, **kwargs)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> GalFMConfig:
        """A config of a named size (``tiny``, ``base``, ``large``); keyword arguments override fields."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


__all__ = ["BUILTIN_MODALITIES", "GalFMConfig", "GalFMHeadConfig", "GalFMPretrainingConfig", "PRESETS",
           "PRESET_PARAMETERS"]
