"""Downstream heads on the galfm encoder, all `transformers.Trainer`-ready: processor outputs and ``labels`` in,
``loss`` out.

* `GalFMForPropertyPrediction`: any subset of the scalar properties (photo-z, log M*, log Z, Av, log sSFR,
  age, line EWs and fluxes), each with a predicted Gaussian uncertainty (heteroscedastic NLL).
* `GalFMForPosteriorEstimation`: conditional flow matching (Lipman et al. 2023) that samples p(theta | data) for
  physical parameters; simulation-based inference with an amortised posterior.
* `GalFMForStarFormationHistory`: the mass fraction formed in each of the 16 age bins (a softmax, so a simplex)
  plus the stellar metallicity with an uncertainty; optionally also from the spectrum in its rest frame.
* `GalFMForMorphologyClassification`: a class per galaxy (``config.id2label``), from images or any modality.

Every head reads the same galaxy summary: the galaxy token's final state next to the mean of the token states
(`galfm.modeling_galfm.galaxy_summary`). Labels are in the record's physical units; the heads standardise them
with the scaling saved in ``config.head_config.property_specs`` (the processor's own), so a loss of 1 means the
same thing for every property and a folder with custom scalings predicts in record units. NaN labels are
missing values and leave the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN
from transformers.utils import ModelOutput

from .configuration_galfm import GalFMConfig
from .modality_properties import default_property_specs, from_model_scale, to_model_scale
from .modeling_galfm import GalFMModel, GalFMPreTrainedModel, galaxy_summary
from .photometric_redshift_galfm import GalFMPhotometricRedshift, photometric_redshift_posterior
from .properties_galfm import NUM_SFH_BINS, SCALAR_PROPERTY_KEYS
from .redshift_scan_galfm import GalFMRedshiftScan, redshift_posterior
from .rest_frame_galfm import GalFMRestFrameSpectrum


def _check_targets(config: GalFMConfig) -> list[str]:
    targets = list(config.head_config.target_properties or [])
    if not targets:
        raise ValueError("config.head_config.target_properties is empty: name what the head predicts, e.g. "
                         "GalFMConfig(target_properties=['redshift', 'log_mstar'])")
    unknown = [t for t in targets if t not in SCALAR_PROPERTY_KEYS]
    if unknown:
        raise ValueError(f"config.head_config.target_properties: unknown {unknown}; choose from "
                         f"{', '.join(SCALAR_PROPERTY_KEYS)}")
    return targets


def beta_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean Gaussian NLL over the finite targets, each term weighted by its (detached) variance**beta.

    beta-NLL (Seitzer et al. 2022): plain NLL (beta = 0) divides the mean's gradient by the predicted variance,
    so poorly fit points learn slowest; beta = 0.5 restores it while keeping the optimum (mean, variance) of
    every point the same, so the uncertainties stay calibrated.
    """
    known = torch.isfinite(target)
    residual = torch.where(known, target, mean) - mean
    nll = 0.5 * (log_var + residual**2 / log_var.exp())
    if beta:
        nll = nll * (beta * log_var).exp().detach()
    return (nll * known).sum() / known.sum().clamp_min(1)


class GalFMHeadMLP(nn.Module):
    """LayerNorm -> Linear -> act -> dropout -> Linear."""

    def __init__(self, config: GalFMConfig, in_features: int, out_features: int):
        super().__init__()
        width = config.head_config.head_hidden_size
        self.norm = nn.LayerNorm(in_features, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(in_features, width)
        self.act = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.head_config.head_dropout)
        self.fc2 = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.act(self.fc1(self.norm(x)))))


class GalFMHeadModel(GalFMPreTrainedModel):
    """The encoder (``self.galfm``, loaded from a pretrained galfm folder), the galaxy summary every head reads,
    and the property scaling of ``config.head_config.property_specs`` (the processor's, saved with the head)."""

    def __init__(self, config: GalFMConfig):
        super().__init__(config)
        self.galfm = GalFMModel(config)

    @property
    def property_specs(self) -> dict:
        return self.config.head_config.property_specs or default_property_specs()

    def standardize(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """A property in record units -> the heads' standardised scale."""
        return to_model_scale(value, self.property_specs[name])

    def destandardize(self, name: str, mean: torch.Tensor, std: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Standardised mean (and std) -> record units."""
        return from_model_scale(mean, std, self.property_specs[name])

    def log_var_range(self) -> tuple[float, float]:
        return self.config.head_config.log_var_min, self.config.head_config.log_var_max

    def summary(self, **inputs: torch.Tensor) -> torch.Tensor:
        """(B, 2 * hidden) galaxy summary of processor outputs (`galfm.modeling_galfm.galaxy_summary`)."""
        output = self.galfm(**inputs, return_dict=True)
        return galaxy_summary(output.last_hidden_state, output.attention_mask)

    def freeze_encoder(self) -> None:
        """Train the head alone on frozen embeddings (linear-probe style fine-tuning)."""
        for parameter in self.galfm.parameters():
            parameter.requires_grad_(False)


REDSHIFT_SOURCES = ("encoder", "spectrum scan", "photometric fit")
"""What `GalFMPropertyOutput.redshift_source` 0, 1 and 2 mean."""


@dataclass
class GalFMPropertyOutput(ModelOutput):
    """Args:
        loss: mean Gaussian (beta-)NLL over the labelled (non-NaN) values, on the standardised scale.
        mean (`(batch, properties)`): predicted values in record units, in
            ``config.head_config.target_properties`` order.
        std (`(batch, properties)`): predicted 1-sigma uncertainties, record units.
        redshift_source (`(batch,)`, with a redshift scan): where ``mean``/``std`` of the redshift come from: 1
            the spectrum's template scan, 2 the photometric template fit (each a posterior with the encoder's
            redshift as prior), 0 the encoder alone.
        redshift_grid (`(grid,)`), redshift_pdf (`(batch, grid)`): the spectrum scan's posterior per grid pixel
            (zeros where the scan was not used); two peaks mean two solutions.
        photometric_redshift_grid (`(grid,)`), photometric_redshift_pdf (`(batch, grid)`): the same for the
            photometric fit (zeros where it was not used).
        redshift_peak_probability (`(batch,)`): the posterior's share in the reported peak.
        redshift_delta_chi2 (`(batch,)`), redshift_warning (`(batch,)`): for a redshift from the spectrum scan, how
            much worse the best fit more than ``scan_delta_chi2_window_kms`` away is (the pipelines' DELTACHI2),
            and True where that is below ``scan_min_delta_chi2`` (9): the spectrum does not single the redshift
            out, so treat it as one guess among several (redrock's ZWARN SMALL_DELTA_CHI2). NaN and False where
            the scan did not answer (a photometric redshift is judged by its pdf and peak probability).
        encoder_redshift (`(batch, 2)`): the encoder's own redshift mean and std, the scans' prior.
        is_qso (`(batch,)`), qso_score (`(batch,)`): the broad-line QSO class and its score (galaxy-fit minus
            QSO-fit chi2 over the reduced chi2; large means not a normal galaxy).
    """

    loss: torch.Tensor | None = None
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None
    redshift_source: torch.Tensor | None = None
    redshift_grid: torch.Tensor | None = None
    redshift_pdf: torch.Tensor | None = None
    photometric_redshift_grid: torch.Tensor | None = None
    photometric_redshift_pdf: torch.Tensor | None = None
    redshift_peak_probability: torch.Tensor | None = None
    redshift_delta_chi2: torch.Tensor | None = None
    redshift_warning: torch.Tensor | None = None
    encoder_redshift: torch.Tensor | None = None
    is_qso: torch.Tensor | None = None
    qso_score: torch.Tensor | None = None


class GalFMForPropertyPrediction(GalFMHeadModel):
    """Scalar properties with uncertainties: a Gaussian (mean, variance) per target, trained by its NLL.

    ``labels`` (batch, properties) in record units, NaN where unknown. With ``config.head_config.redshift_scan``
    the redshift of a galaxy with a spectrum is, outside training, the template scan's posterior
    (`galfm.redshift_scan_galfm`) with this head's own Gaussian as the prior; with
    ``config.head_config.photometric_redshift`` a galaxy without a usable spectrum gets the photometric template
    fit's posterior (`galfm.photometric_redshift_galfm`) the same way. The loss always trains the encoder's
    Gaussian, the answer where neither applies.
    """

    def __init__(self, config: GalFMConfig):
        super().__init__(config)
        self.targets = _check_targets(config)
        self.head = GalFMHeadMLP(config, 2 * config.hidden_size, 2 * len(self.targets))
        use_scan = config.head_config.redshift_scan and "redshift" in self.targets
        self.redshift_scan = GalFMRedshiftScan(config) if use_scan else None
        use_photoz = config.head_config.photometric_redshift and "redshift" in self.targets
        self.photometric_redshift = GalFMPhotometricRedshift(config) if use_photoz else None
        self.post_init()

    def forward(self, labels: torch.Tensor | None = None, return_dict: bool | None = None, **inputs
                ) -> GalFMPropertyOutput | tuple:
        out = self.head(self.summary(**inputs)).float()
        n = len(self.targets)
        mean_z, log_var = out[:, :n], out[:, n:].clamp(*self.log_var_range())
        std_z = (0.5 * log_var).exp()
        loss = None
        if labels is not None:
            target = torch.stack([self.standardize(t, labels[:, i].float()) for i, t in enumerate(self.targets)], -1)
            loss = beta_nll(mean_z, log_var, target, self.config.head_config.nll_beta)
        mean, std = zip(*(self.destandardize(t, mean_z[:, i], std_z[:, i]) for i, t in enumerate(self.targets)))
        output = GalFMPropertyOutput(loss=loss, mean=torch.stack(mean, -1), std=torch.stack(std, -1))
        if self.redshift_scan is not None and not self.training and inputs.get("spectrum_values") is not None:
            self._scan_redshift(output, inputs)
        if self.photometric_redshift is not None and not self.training and inputs.get("photometry_values") is not None:
            self._photometric_redshift(output, inputs)
        return output if (return_dict if return_dict is not None else self.config.return_dict) else output.to_tuple()

    @torch.no_grad()
    def _scan_redshift(self, output: GalFMPropertyOutput, inputs) -> None:
        """Replace the redshift of galaxies with a usable spectrum by the scan's posterior (in place)."""
        i = self.targets.index("redshift")
        scan = self.redshift_scan(inputs)
        posterior = redshift_posterior(scan, output.mean[:, i], output.std[:, i], self.config)
        use = scan.valid & inputs["spectrum_attention_mask"].bool().any(-1)
        dtype = output.mean.dtype
        output.encoder_redshift = torch.stack([output.mean[:, i], output.std[:, i]], -1).detach().clone()
        output.mean[:, i] = torch.where(use, posterior.redshift.to(dtype), output.mean[:, i])
        output.std[:, i] = torch.where(use, posterior.sigma.to(dtype), output.std[:, i])
        output.redshift_source = use.long() * REDSHIFT_SOURCES.index("spectrum scan")
        output.redshift_grid = posterior.grid.to(dtype)
        output.redshift_pdf = (posterior.pdf * use[:, None]).to(dtype)
        output.redshift_peak_probability = torch.where(use, posterior.peak_probability, 0.0).to(dtype)
        output.redshift_delta_chi2 = torch.where(use, posterior.delta_chi2, torch.nan).to(dtype)
        output.redshift_warning = use & (posterior.delta_chi2 < self.config.head_config.scan_min_delta_chi2)
        output.is_qso = posterior.is_qso & use
        output.qso_score = torch.where(use, posterior.qso_score, 0.0).to(dtype)

    @torch.no_grad()
    def _photometric_redshift(self, output: GalFMPropertyOutput, inputs) -> None:
        """Replace the redshift of galaxies the spectrum scan did not answer, and with enough tabulated bands, by
        the photometric fit's posterior (in place)."""
        i = self.targets.index("redshift")
        dtype = output.mean.dtype
        if output.encoder_redshift is None:
            output.encoder_redshift = torch.stack([output.mean[:, i], output.std[:, i]], -1).detach().clone()
        batch = output.mean.shape[0]
        source = output.redshift_source if output.redshift_source is not None else output.mean.new_zeros(
            batch, dtype=torch.long)
        peak = output.redshift_peak_probability
        peak = peak if peak is not None else output.mean.new_zeros(batch)
        scan = self.photometric_redshift(inputs)
        prior = output.encoder_redshift.double()
        posterior = photometric_redshift_posterior(scan, prior[:, 0], prior[:, 1], self.config)
        use = scan.valid & (source == 0)
        output.mean[:, i] = torch.where(use, posterior.redshift.to(dtype), output.mean[:, i])
        output.std[:, i] = torch.where(use, posterior.sigma.to(dtype), output.std[:, i])
        output.redshift_source = torch.where(use, REDSHIFT_SOURCES.index("photometric fit"), source)
        output.redshift_peak_probability = torch.where(use, posterior.peak_probability.to(dtype), peak)
        output.photometric_redshift_grid = posterior.grid.to(dtype)
        output.photometric_redshift_pdf = (posterior.pdf * use[:, None]).to(dtype)


@dataclass
class GalFMPosteriorOutput(ModelOutput):
    """Args:
        loss: conditional flow-matching loss (squared error of the velocity field).
        samples (`(batch, num_samples, properties)`): posterior draws in record units; drawn in evaluation mode
            (``config.head_config.posterior_eval_samples``) or by `GalFMForPosteriorEstimation.sample`.
    """

    loss: torch.Tensor | None = None
    samples: torch.Tensor | None = None


class GalFMForPosteriorEstimation(GalFMHeadModel):
    """p(theta | data) by conditional flow matching on the galaxy summary.

    A velocity field v(theta_t, t | data) carries a standard normal (t = 0) to the posterior (t = 1) along
    straight paths theta_t = (1 - t) noise + t theta; training regresses v on theta - noise (Lipman et al. 2023,
    "optimal transport" paths). Sampling integrates the ODE with Heun's method. Labels are standardised with the
    tokenizer's scaling; rows with any NaN label leave the loss (the joint posterior needs every parameter).
    """

    def __init__(self, config: GalFMConfig):
        super().__init__(config)
        self.targets = _check_targets(config)
        n = len(self.targets)
        settings = config.head_config
        width = settings.head_hidden_size
        self.context = GalFMHeadMLP(config, 2 * config.hidden_size, width)
        self.velocity = nn.Sequential(
            nn.Linear(n + 2 * settings.flow_matching_time_frequencies + width, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, n),
        )
        self.post_init()

    def _velocity(self, theta: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        frequencies = self.config.head_config.flow_matching_time_frequencies
        freqs = 2.0 ** torch.arange(frequencies, device=t.device, dtype=theta.dtype) * math.pi
        time = torch.cat([(t[:, None] * freqs).sin(), (t[:, None] * freqs).cos()], dim=-1)
        return self.velocity(torch.cat([theta, time, context], dim=-1))

    @torch.no_grad()
    def sample_from_context(self, context: torch.Tensor, num_samples: int, generator: torch.Generator | None = None
                            ) -> torch.Tensor:
        """(batch, num_samples, properties) draws in record units."""
        batch, n = context.shape[0], len(self.targets)
        context = context.repeat_interleave(num_samples, dim=0)
        theta = torch.randn(batch * num_samples, n, device=context.device, generator=generator)
        steps = self.config.head_config.flow_matching_steps
        dt = 1.0 / steps
        for k in range(steps):  # Heun (explicit trapezoid) on the straight-path ODE
            t0 = torch.full((theta.shape[0],), k * dt, device=theta.device)
            v0 = self._velocity(theta, t0, context)
            v1 = self._velocity(theta + dt * v0, t0 + dt, context)
            theta = theta + 0.5 * dt * (v0 + v1)
        theta = theta.view(batch, num_samples, n)
        return torch.stack([self.destandardize(t, theta[..., i])[0] for i, t in enumerate(self.targets)], -1)

    def sample(self, num_samples: int = 1000, generator: torch.Generator | None = None, **inputs) -> torch.Tensor:
        """Posterior draws (batch, num_samples, properties) in record units for processor outputs."""
        return self.sample_from_context(self.context(self.summary(**inputs)).float(), num_samples, generator)

    def forward(self, labels: torch.Tensor | None = None, return_dict: bool | None = None, **inputs
                ) -> GalFMPosteriorOutput | tuple:
        context = self.context(self.summary(**inputs)).float()
        loss = None
        if labels is not None:
            theta = torch.stack([self.standardize(t, labels[:, i].float()) for i, t in enumerate(self.targets)], -1)
            complete = torch.isfinite(theta).all(-1)
            if complete.any():
                pairs = self.config.head_config.flow_matching_pairs_per_galaxy
                theta = theta[complete].repeat_interleave(pairs, dim=0)
                cond = context[complete].repeat_interleave(pairs, dim=0)
                noise = torch.randn_like(theta)
                t = torch.rand(theta.shape[0], device=theta.device)
                theta_t = (1 - t[:, None]) * noise + t[:, None] * theta
                loss = F.mse_loss(self._velocity(theta_t, t, cond), theta - noise)
            else:
                loss = context.sum() * 0.0
        samples = None
        if not self.training and self.config.head_config.posterior_eval_samples > 0:
            samples = self.sample_from_context(context, self.config.head_config.posterior_eval_samples)
        output = GalFMPosteriorOutput(loss=loss, samples=samples)
        return output if (return_dict if return_dict is not None else self.config.return_dict) else output.to_tuple()


@dataclass
class GalFMStarFormationHistoryOutput(ModelOutput):
    """Args:
        loss: cross-entropy of the true SFH fractions under the predicted ones (KL up to a constant) plus the
            Gaussian NLL of the metallicity.
        sfh (`(batch, 16)`): mass fraction formed in each age bin (``galfm.SFH_AGE_BIN_EDGES_GYR``); sums to one.
        log_z (`(batch,)`), log_z_std (`(batch,)`): stellar metallicity log10 Z/Zsun and its 1-sigma uncertainty.
        redshift (`(batch,)`): the redshift the rest-frame spectrum was read at (given or scanned; NaN where
            neither), for heads with ``rest_frame_spectrum``.
        redshift_warning (`(batch,)` bool): the scanned redshift is not secure (the scan's DELTACHI2 below
            ``scan_min_delta_chi2``, as the property head's ``redshift_warning``): the rest frame, and so the SFH,
            may be read at a wrong redshift; False where the redshift was given.
    """

    loss: torch.Tensor | None = None
    sfh: torch.Tensor | None = None
    log_z: torch.Tensor | None = None
    log_z_std: torch.Tensor | None = None
    redshift: torch.Tensor | None = None
    redshift_warning: torch.Tensor | None = None


class GalFMForStarFormationHistory(GalFMHeadModel):
    """Star formation history in the 16 age bins plus metallicity.

    ``labels`` (batch, 17): the 16 mass fractions (``properties.sfh``) then ``log_z``; NaN where unknown. With
    ``config.head_config.rest_frame_spectrum`` the head also reads the spectrum moved to its rest frame
    (`galfm.rest_frame_galfm`), as a stellar-population fit does, at ``redshift`` (batch,) where given (NaN where
    unknown) and elsewhere at its own template scan's (``config.head_config.redshift_scan``) redshift, with
    ``redshift_warning`` where the scan does not single that redshift out.
    """

    def __init__(self, config: GalFMConfig):
        super().__init__(config)
        settings = config.head_config
        self.rest_frame = GalFMRestFrameSpectrum(config) if settings.rest_frame_spectrum else None
        use_scan = settings.rest_frame_spectrum and settings.redshift_scan
        self.redshift_scan = GalFMRedshiftScan(config) if use_scan else None
        width = 2 * config.hidden_size + (settings.rest_frame_features if self.rest_frame is not None else 0)
        self.head = GalFMHeadMLP(config, width, NUM_SFH_BINS + 2)
        self.post_init()

    def forward(self, labels: torch.Tensor | None = None, redshift: torch.Tensor | None = None,
                return_dict: bool | None = None, **inputs) -> GalFMStarFormationHistoryOutput | tuple:
        summary = self.summary(**inputs)
        used_redshift = warning = None
        if self.rest_frame is not None:
            used_redshift, warning = self.rest_frame_redshift(redshift, inputs, summary.shape[0], summary.device)
            summary = torch.cat([summary, self.rest_frame(inputs, used_redshift).to(summary.dtype)], -1)
        output = self.predict(summary, labels, used_redshift, warning)
        return output if (return_dict if return_dict is not None else self.config.return_dict) else output.to_tuple()

    def predict(self, features: torch.Tensor, labels: torch.Tensor | None = None,
                redshift: torch.Tensor | None = None, redshift_warning: torch.Tensor | None = None
                ) -> GalFMStarFormationHistoryOutput:
        """Outputs (and the loss, given ``labels``) from the head's input features: the encoder summary, then the
        rest-frame branch's features where the head has it (what a fit on cached summaries feeds it);
        ``redshift`` and ``redshift_warning`` are passed through to the output."""
        out = self.head(features).float()
        log_fractions = F.log_softmax(out[:, :NUM_SFH_BINS], dim=-1)
        mean_z, log_var = out[:, NUM_SFH_BINS], out[:, NUM_SFH_BINS + 1].clamp(*self.log_var_range())
        loss = None
        if labels is not None:
            labels = labels.float()
            sfh, log_z = labels[:, :NUM_SFH_BINS], self.standardize("log_z", labels[:, NUM_SFH_BINS])
            has_sfh = torch.isfinite(sfh).all(-1)
            cross_entropy = -(torch.nan_to_num(sfh) * log_fractions).sum(-1)
            loss = (cross_entropy * has_sfh).sum() / has_sfh.sum().clamp_min(1)
            loss = loss + beta_nll(mean_z, log_var, log_z, self.config.head_config.nll_beta)
        log_z_value, log_z_std = self.destandardize("log_z", mean_z, (0.5 * log_var).exp())
        return GalFMStarFormationHistoryOutput(
            loss=loss, sfh=log_fractions.exp(), log_z=log_z_value, log_z_std=log_z_std,
            redshift=None if redshift is None else redshift.to(log_z_value.dtype), redshift_warning=redshift_warning)

    @torch.no_grad()
    def rest_frame_redshift(self, redshift: torch.Tensor | None, inputs, batch: int, device
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """((batch,) float64 redshifts, (batch,) warnings): the given redshifts where finite, elsewhere the scan's
        (flat prior), warned where its DELTACHI2 is below ``scan_min_delta_chi2``; NaN where neither (no spectrum,
        a scan without enough pixels, a redshift hidden in training), which reads as an empty rest-frame spectrum."""
        given = torch.full((batch,), math.nan, dtype=torch.float64, device=device) if redshift is None \
            else torch.as_tensor(redshift, device=device).double().reshape(batch)
        no_warning = torch.zeros(batch, dtype=torch.bool, device=device)
        if self.training:
            dropout = self.config.head_config.rest_frame_redshift_dropout
            if dropout > 0:  # (no draw at 0, so the random stream of a run without it stays as it was)
                given = torch.where(torch.rand(batch, device=device) < dropout, math.nan, given)
            return given, no_warning
        missing = ~torch.isfinite(given)
        if not missing.any() or inputs.get("spectrum_values") is None:
            return given, no_warning
        if self.redshift_scan is None:
            raise ValueError("redshift: this SFH head reads the spectrum in its rest frame and has no redshift scan "
                             "of its own; pass redshift=(batch,) spectroscopic redshifts (NaN where unknown is only "
                             "allowed for a head saved with its scan, as `galfm finetune --task sfh` makes)")
        scan = self.redshift_scan(inputs)
        flat = torch.zeros(batch, dtype=torch.float64, device=device)
        posterior = redshift_posterior(scan, flat, flat + 1e3, self.config)
        use = missing & scan.valid
        warning = use & (posterior.delta_chi2 < self.config.head_config.scan_min_delta_chi2)
        return torch.where(use, posterior.redshift.double(), given), warning


@dataclass
class GalFMClassificationOutput(ModelOutput):
    """Args:
        loss: cross-entropy (labels of -100 are ignored).
        logits (`(batch, num_labels)`): class scores; ``config.id2label`` names them.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class GalFMForMorphologyClassification(GalFMHeadModel):
    """Morphological class per galaxy (``config.id2label``, e.g. spiral / lenticular / elliptical / merger).

    ``labels`` (batch,) class ids, -100 where unknown.
    """

    def __init__(self, config: GalFMConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.head = GalFMHeadMLP(config, 2 * config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, labels: torch.Tensor | None = None, return_dict: bool | None = None, **inputs
                ) -> GalFMClassificationOutput | tuple:
        logits = self.head(self.summary(**inputs)).float()
        loss = None
        if labels is not None:
            labels = labels.long()
            loss = F.cross_entropy(logits, labels, ignore_index=-100) if (labels != -100).any() \
                else logits.sum() * 0.0
        output = GalFMClassificationOutput(loss=loss, logits=logits)
        return output if (return_dict if return_dict is not None else self.config.return_dict) else output.to_tuple()


HEAD_CLASSES = {cls.__name__: cls for cls in (GalFMForPropertyPrediction, GalFMForPosteriorEstimation,
                                              GalFMForStarFormationHistory, GalFMForMorphologyClassification)}

__all__ = ["GalFMForMorphologyClassification", "GalFMForPosteriorEstimation", "GalFMForPropertyPrediction",
           "GalFMForStarFormationHistory", "GalFMClassificationOutput", "GalFMPosteriorOutput",
           "GalFMPropertyOutput", "GalFMStarFormationHistoryOutput", "HEAD_CLASSES", "load_head"]


def load_head(pretrained_model_name_or_path: str, **kwargs) -> GalFMHeadModel:
    """Load any saved galfm head (a folder or Hub repo), picking its class from ``config.architectures``."""
    config = GalFMConfig.from_pretrained(pretrained_model_name_or_path, **kwargs)
    name = (config.architectures or [None])[0]
    if name not in HEAD_CLASSES:
        raise ValueError(f"{pretrained_model_name_or_path}: architectures={config.architectures} is not a galfm head; "
                         f"heads are {', '.join(HEAD_CLASSES)} (load encoders with AutoModel)")
    return HEAD_CLASSES[name].from_pretrained(pretrained_model_name_or_path, config=config, **kwargs)
