"""GalFMModel: a transformer encoder over a galaxy's multimodal token set.

The encoder is a set model: no token carries an index position. Spectral patches, photometric bands and
image patches are placed by physical coordinates (observed wavelength and width, sky offset), so the order
of bands or patches cannot change the embedding, and a filter set the model never saw is just new points on
the same wavelength axis. A learned galaxy token leads the sequence; ``pooler_output``, one embedding per
galaxy, is the mean state of all tokens (``config.pooling="mean"``) or the galaxy token's (``"galaxy_token"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from .configuration_galfm import GalFMConfig

# token_type_ids of the sequence the encoder sees
GALAXY_TOKEN, SPECTRUM_NORM_TOKEN, SPECTRUM_TOKEN, PHOTOMETRY_TOKEN, IMAGE_TOKEN, PROPERTY_TOKEN = range(6)
TOKEN_TYPES = ("galaxy", "spectrum_norm", "spectrum", "photometry", "image", "property")


@dataclass
class GalFMModelOutput(ModelOutput):
    """Encoder output.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, tokens, hidden)`): every token's final state;
            token 0 is the galaxy token.
        pooler_output (`torch.FloatTensor` of shape `(batch, hidden)`): one embedding per galaxy.
        attention_mask (`torch.LongTensor` of shape `(batch, tokens)`): 1 for real tokens, 0 for padding.
        token_type_ids (`torch.LongTensor` of shape `(batch, tokens)`): which modality each token came from
            (indices into `TOKEN_TYPES`).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): input embeddings and each layer's output.
        attentions (`tuple(torch.FloatTensor)`, *optional*): each layer's attention weights.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    attention_mask: torch.LongTensor | None = None
    token_type_ids: torch.LongTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class GalFMFourierFeatures(nn.Module):
    """sin/cos of a scalar coordinate at geometrically spaced frequencies (fixed, not learned).

    The frequencies are computed in ``forward`` rather than kept as a buffer: they are a pure function of the
    config, and ``from_pretrained`` builds modules on the meta device, where a non-persistent buffer is lost.
    """

    def __init__(self, num_frequencies: int, min_frequency: float, max_frequency: float):
        super().__init__()
        self.num_frequencies = num_frequencies
        self.log_min, self.log_max = math.log10(min_frequency), math.log10(max_frequency)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # float32 even under bf16 autocast: 1e-3 dex wavelength offsets times 2*pi*500 need the mantissa
        freqs = torch.logspace(self.log_min, self.log_max, self.num_frequencies, device=x.device)
        angles = x.float().unsqueeze(-1) * (2 * math.pi * freqs)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class GalFMWavelengthEmbedding(nn.Module):
    """Embeds an observed-frame (wavelength, width) pair in Angstrom: a band, a spectral patch, an image band.

    log10(lambda/ref) is resolved from ~1 dex (UV to mid-IR) down to 1e-3 dex (a fraction of a spectral
    patch); the fractional width log10(width/lambda) tells a 145 A narrow band from a broad band or a patch.
    """

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.reference = config.wavelength_reference
        n = config.num_wavelength_frequencies
        self.center_features = GalFMFourierFeatures(n, 0.25, 500.0)
        self.width_features = GalFMFourierFeatures(max(n // 4, 1), 0.1, 2.0)
        self.proj_in = nn.Linear(2 * n + 2 * max(n // 4, 1), config.hidden_size)
        self.act = ACT2FN[config.hidden_act]
        self.proj_out = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, wavelength: torch.Tensor) -> torch.Tensor:
        wavelength = wavelength.float()  # never bf16: 5000 A would be +-20 A
        center, width = wavelength[..., 0].clamp_min(1.0), wavelength[..., 1].clamp_min(1e-3)
        log_center = torch.log10(center / self.reference)
        log_width = torch.log10(width / center)
        features = torch.cat([self.center_features(log_center), self.width_features(log_width)], dim=-1)
        return self.proj_out(self.act(self.proj_in(features.to(self.proj_in.weight.dtype))))


class GalFMEmbeddings(nn.Module):
    """Projects each modality's tokens to ``hidden_size`` and joins them, behind the galaxy token."""

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.galaxy_token = nn.Parameter(torch.zeros(1, 1, d))
        self.token_type_embeddings = nn.Embedding(len(TOKEN_TYPES), d)
        self.wavelength_embedding = GalFMWavelengthEmbedding(config)
        self.spectrum_projection = nn.Linear(2 * config.spectrum_patch_size, d)
        self.spectrum_norm_projection = nn.Linear(1, d)
        self.photometry_projection = nn.Linear(2, d)
        self.image_projection = nn.Linear(2 * config.image_patch_size**2, d)
        self.image_position_features = GalFMFourierFeatures(config.num_position_frequencies, 0.05, 5.0)
        self.image_position_projection = nn.Linear(4 * config.num_position_frequencies, d)
        self.image_seeing_projection = nn.Linear(2, d)
        self.property_projection = nn.Linear(1, d)
        self.property_type_embeddings = nn.Embedding(config.num_property_types, d)
        self.layernorm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def _typed(self, x: torch.Tensor, token_type: int) -> torch.Tensor:
        return x + self.token_type_embeddings.weight[token_type]

    def forward(
        self,
        batch_size: int,
        spectrum_values=None, spectrum_weights=None, spectrum_wavelength=None, spectrum_attention_mask=None,
        spectrum_norm=None, spectrum_norm_mask=None,
        photometry_values=None, photometry_wavelength=None, photometry_attention_mask=None,
        image_values=None, image_weights=None, image_wavelength=None, image_position=None, image_seeing=None,
        image_attention_mask=None,
        property_values=None, property_ids=None, property_attention_mask=None,
        return_queries: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """(embeddings, attention_mask, token_type_ids[, queries]).

        Every token is a *value* part (what was measured) plus a *query* part (where: wavelength, sky position,
        property type, token type). ``queries`` (same layout as ``embeddings``) holds the query parts alone:
        what a decoder is told about a token whose value it must predict.
        """
        cfg = self.config
        dtype = self.galaxy_token.dtype
        device = self.galaxy_token.device
        galaxy = self._typed(self.galaxy_token.expand(batch_size, 1, -1), GALAXY_TOKEN)
        pieces, queries = [galaxy], [galaxy]
        masks = [torch.ones(batch_size, 1, dtype=torch.long, device=device)]
        types = [GALAXY_TOKEN]
        lengths = [1]

        def add(values: torch.Tensor, where: torch.Tensor | None, mask: torch.Tensor | None, token_type: int) -> None:
            if mask is None:
                mask = torch.ones(values.shape[:2], dtype=torch.long, device=device)
            where = torch.zeros_like(values) if where is None else where
            pieces.append(self._typed(values + where, token_type))
            queries.append(self._typed(where, token_type))
            masks.append(mask.long())
            types.append(token_type)
            lengths.append(values.shape[1])

        if spectrum_norm is not None:
            norm = spectrum_norm.to(dtype).reshape(batch_size, 1, 1)
            add(self.spectrum_norm_projection(norm), None, None if spectrum_norm_mask is None
                else spectrum_norm_mask.reshape(batch_size, 1), SPECTRUM_NORM_TOKEN)
        if spectrum_values is not None:
            weights = spectrum_weights.to(dtype)
            values = torch.asinh(spectrum_values.to(dtype)) * (weights > 0)
            features = torch.cat([values, torch.asinh(weights)], dim=-1)
            add(self.spectrum_projection(features), self.wavelength_embedding(spectrum_wavelength),
                spectrum_attention_mask, SPECTRUM_TOKEN)
        if photometry_values is not None:
            values = photometry_values.to(dtype)
            mag = (values[..., 0] - cfg.photometry_mag_center) / cfg.photometry_mag_scale
            log_err = torch.log10(values[..., 1].clamp_min(1e-4))
            add(self.photometry_projection(torch.stack([mag, log_err], dim=-1)),
                self.wavelength_embedding(photometry_wavelength), photometry_attention_mask, PHOTOMETRY_TOKEN)
        if image_values is not None:
            weights = image_weights.to(dtype)
            features = torch.cat([image_values.to(dtype) * (weights > 0), torch.asinh(weights)], dim=-1)
            position = image_position.float() / cfg.position_scale
            position = torch.cat([self.image_position_features(position[..., 0]),
                                  self.image_position_features(position[..., 1])], dim=-1).to(dtype)
            where = (self.wavelength_embedding(image_wavelength) + self.image_position_projection(position)
                     + self.image_seeing_projection(image_seeing.to(dtype)))
            add(self.image_projection(features), where, image_attention_mask, IMAGE_TOKEN)
        if property_values is not None:
            if property_ids.numel() and int(property_ids.max()) >= cfg.num_property_types:
                raise ValueError(f"property id {int(property_ids.max())} >= config.num_property_types "
                                 f"({cfg.num_property_types}): the processor lists more properties than the model "
                                 "knows")
            add(self.property_projection(property_values.to(dtype).unsqueeze(-1)),
                self.property_type_embeddings(property_ids), property_attention_mask, PROPERTY_TOKEN)

        if len(pieces) == 1:
            raise ValueError("GalFMModel got no tokens: pass the output of GalFMProcessor (some *_values).")
        embeddings = self.dropout(self.layernorm(torch.cat(pieces, dim=1)))
        attention_mask = torch.cat(masks, dim=1)
        token_type_ids = torch.repeat_interleave(
            torch.tensor(types, device=device), torch.tensor(lengths, device=device)
        ).expand(batch_size, -1)
        if return_queries:
            return embeddings, attention_mask, token_type_ids, torch.cat(queries, dim=1)
        return embeddings, attention_mask, token_type_ids


class GalFMAttention(nn.Module):
    """Multi-head self-attention over the token set, with a key-padding mask (PyTorch SDPA)."""

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = config.attention_probs_dropout_prob

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, output_attentions: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, width = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)
        # (batch, keys) key padding, or (batch, queries, keys) for causal / per-query masks; True = attend
        keep = (attention_mask[:, None, None, :] if attention_mask.dim() == 2 else attention_mask[:, None]).bool()
        dropout = self.dropout if self.training else 0.0
        weights = None
        if output_attentions:
            scores = (query @ key.transpose(-1, -2)) / math.sqrt(self.head_dim)
            weights = scores.masked_fill(~keep, torch.finfo(scores.dtype).min).softmax(-1)
            context = F.dropout(weights, dropout, self.training) @ value
        else:
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=keep, dropout_p=dropout)
        context = context.transpose(1, 2).reshape(batch, length, width)
        return self.out_proj(context), weights


class GalFMMLP(nn.Module):
    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(hidden_states)))


class GalFMLayer(GradientCheckpointingLayer):
    """Pre-LayerNorm transformer block."""

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = GalFMAttention(config)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = GalFMMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, output_attentions: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(self.layernorm_before(hidden_states), attention_mask, output_attentions)
        hidden_states = hidden_states + self.dropout(attended)
        hidden_states = hidden_states + self.dropout(self.mlp(self.layernorm_after(hidden_states)))
        return hidden_states, weights


class GalFMEncoder(nn.Module):
    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.layer = nn.ModuleList([GalFMLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, attention_mask, output_attentions=False, output_hidden_states=False):
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attn = () if output_attentions else None
        for layer in self.layer:
            hidden_states, weights = layer(hidden_states, attention_mask, output_attentions)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attn += (weights,)
        return hidden_states, all_hidden, all_attn


class GalFMPreTrainedModel(PreTrainedModel):
    config_class = GalFMConfig
    config: GalFMConfig
    base_model_prefix = "galfm"
    main_input_name = "photometry_values"
    supports_gradient_checkpointing = True
    _no_split_modules = ["GalFMEmbeddings", "GalFMLayer"]
    # Trainer must not divide the loss by the token count it computes itself (it would double under DDP).
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, GalFMEmbeddings):
            nn.init.trunc_normal_(module.galaxy_token, mean=0.0, std=self.config.initializer_range)


def masked_mean(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens (attention_mask 1) of (B, T, d) states -> (B, d)."""
    weights = attention_mask.to(hidden_states.dtype)[..., None]
    return (hidden_states * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def _batch_size(inputs: dict) -> int:
    present = [inputs.get(k) for k in ("spectrum_values", "spectrum_norm", "photometry_values", "image_values",
                                       "property_values") if inputs.get(k) is not None]
    if not present:
        raise ValueError("GalFMModel got no inputs: call it with the output of GalFMProcessor.")
    return present[0].shape[0]


class GalFMModel(GalFMPreTrainedModel):
    """The galfm encoder: `GalFMProcessor` output in, token states and one embedding per galaxy out.

    Example:

    ```python
    >>> import galfm
    >>> from transformers import AutoModel, AutoProcessor
    >>> processor = AutoProcessor.from_pretrained("org/galfm")
    >>> model = AutoModel.from_pretrained("org/galfm")
    >>> batch = processor(records, return_tensors="pt")
    >>> embeddings = model(**batch).pooler_output  # (galaxies, hidden_size)
    ```
    """

    def __init__(self, config: GalFMConfig):
        super().__init__(config)
        self.embeddings = GalFMEmbeddings(config)
        self.encoder = GalFMEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def embed(self, return_queries: bool = False, **inputs) -> tuple[torch.Tensor, ...]:
        """Token embeddings, padding mask and token types (and query embeddings) of processor outputs."""
        return self.embeddings(_batch_size(inputs), return_queries=return_queries, **inputs)

    def encode(self, embeddings: torch.Tensor, attention_mask: torch.Tensor, output_attentions: bool = False,
               output_hidden_states: bool = False):
        """Encoder + final LayerNorm over token embeddings; ``attention_mask`` (B, T) or (B, T, T)."""
        hidden_states, all_hidden, all_attn = self.encoder(
            embeddings, attention_mask, output_attentions=output_attentions, output_hidden_states=output_hidden_states
        )
        return self.layernorm(hidden_states), all_hidden, all_attn

    def pool(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One embedding per galaxy (``config.pooling``): the galaxy token's state, or the mean state of every
        real token (galaxy token included). At initialisation the galaxy token barely depends on the data
        (attention is near-uniform and its residual updates are small), while the token mean carries it from
        the first step, so contrastive training and probes start from informative embeddings."""
        if self.config.pooling == "galaxy_token":
            return hidden_states[:, 0]
        return masked_mean(hidden_states, attention_mask)

    def forward(
        self,
        spectrum_values: torch.Tensor | None = None,
        spectrum_weights: torch.Tensor | None = None,
        spectrum_wavelength: torch.Tensor | None = None,
        spectrum_attention_mask: torch.Tensor | None = None,
        spectrum_norm: torch.Tensor | None = None,
        spectrum_norm_mask: torch.Tensor | None = None,
        photometry_values: torch.Tensor | None = None,
        photometry_wavelength: torch.Tensor | None = None,
        photometry_attention_mask: torch.Tensor | None = None,
        image_values: torch.Tensor | None = None,
        image_weights: torch.Tensor | None = None,
        image_wavelength: torch.Tensor | None = None,
        image_position: torch.Tensor | None = None,
        image_seeing: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        property_values: torch.Tensor | None = None,
        property_ids: torch.Tensor | None = None,
        property_attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> GalFMModelOutput | tuple:
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        embeddings, attention_mask, token_type_ids = self.embed(
            spectrum_values=spectrum_values, spectrum_weights=spectrum_weights,
            spectrum_wavelength=spectrum_wavelength, spectrum_attention_mask=spectrum_attention_mask,
            spectrum_norm=spectrum_norm, spectrum_norm_mask=spectrum_norm_mask,
            photometry_values=photometry_values, photometry_wavelength=photometry_wavelength,
            photometry_attention_mask=photometry_attention_mask,
            image_values=image_values, image_weights=image_weights, image_wavelength=image_wavelength,
            image_position=image_position, image_seeing=image_seeing, image_attention_mask=image_attention_mask,
            property_values=property_values, property_ids=property_ids,
            property_attention_mask=property_attention_mask,
        )
        hidden_states, all_hidden, all_attn = self.encode(embeddings, attention_mask, output_attentions,
                                                          output_hidden_states)
        pooled = self.pool(hidden_states, attention_mask)
        if not return_dict:
            return tuple(v for v in (hidden_states, pooled, attention_mask, token_type_ids, all_hidden, all_attn)
                         if v is not None)
        return GalFMModelOutput(
            last_hidden_state=hidden_states,
            pooler_output=pooled,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            hidden_states=all_hidden,
            attentions=all_attn,
        )


@dataclass
class GalFMPretrainingOutput(ModelOutput):
    """Total and per-objective self-supervised losses (``None`` where an objective is off or had no pairs)."""

    loss: torch.Tensor | None = None
    masked_loss: torch.Tensor | None = None
    autoregressive_loss: torch.Tensor | None = None
    contrastive_loss: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None


# Groups of token types the masked and contrastive objectives treat as one modality.
MODALITY_GROUPS: dict[str, tuple[int, ...]] = {
    "spectrum": (SPECTRUM_NORM_TOKEN, SPECTRUM_TOKEN),
    "photometry": (PHOTOMETRY_TOKEN,),
    "image": (IMAGE_TOKEN,),
    "properties": (PROPERTY_TOKEN,),
}
CONTRASTIVE_GROUPS = ("spectrum", "photometry", "image")
_VARIANCE_FLOOR = 1e-4


def token_targets(config: GalFMConfig, inputs: dict, batch_size: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                              torch.Tensor]:
    """(values, data variances, validity), each (B, T, D), of every token in the embeddings' order.

    Values are what the embeddings read: asinh of the normalised spectrum, standardised asinh magnitudes,
    asinh image surface brightness, scaled property values, log10 of the spectrum's normalisation. Variances
    propagate the data's inverse variance through those transforms; D is the longest token (a spectrum patch).
    """
    dim = max(config.spectrum_patch_size, config.image_patch_size**2)
    device = next(v.device for v in inputs.values() if isinstance(v, torch.Tensor))
    zeros = torch.zeros(batch_size, 1, dim, device=device)
    parts = [(zeros, zeros, zeros.bool())]  # the galaxy token has no value

    def pad(x: torch.Tensor) -> torch.Tensor:
        return F.pad(x.float(), (0, dim - x.shape[-1]))

    if inputs.get("spectrum_norm") is not None:
        norm = inputs["spectrum_norm"].float().reshape(batch_size, 1, 1)
        mask = inputs.get("spectrum_norm_mask")
        valid = torch.ones_like(norm, dtype=torch.bool) if mask is None else mask.reshape(batch_size, 1, 1).bool()
        parts.append((pad(norm), pad(torch.full_like(norm, _VARIANCE_FLOOR)), pad(valid).bool()))
    if inputs.get("spectrum_values") is not None:
        v, w = inputs["spectrum_values"].float(), inputs["spectrum_weights"].float()
        valid = (w > 0) & inputs["spectrum_attention_mask"].bool()[..., None]
        var = torch.where(w > 0, 1.0 / (w.clamp_min(1e-12) * (1 + v**2)), torch.ones_like(w))
        parts.append((pad(torch.asinh(v)), pad(var), pad(valid).bool()))
    if inputs.get("photometry_values") is not None:
        values = inputs["photometry_values"].float()
        mag = ((values[..., 0] - config.photometry_mag_center) / config.photometry_mag_scale)[..., None]
        var = ((values[..., 1] / config.photometry_mag_scale) ** 2)[..., None]
        valid = inputs["photometry_attention_mask"].bool()[..., None]
        parts.append((pad(mag), pad(var), pad(valid).bool()))
    if inputs.get("image_values") is not None:
        v, w = inputs["image_values"].float(), inputs["image_weights"].float()
        valid = (w > 0) & inputs["image_attention_mask"].bool()[..., None]
        var = torch.where(w > 0, 1.0 / w.clamp_min(1e-12), torch.ones_like(w))
        parts.append((pad(v), pad(var), pad(valid).bool()))
    if inputs.get("property_values") is not None:
        v = inputs["property_values"].float()[..., None]
        valid = inputs["property_attention_mask"].bool()[..., None]
        parts.append((pad(v), pad(torch.full_like(v, _VARIANCE_FLOOR)), pad(valid).bool()))
    values, variances, valid = (torch.cat([p[i] for p in parts], dim=1) for i in range(3))
    return values, variances + _VARIANCE_FLOOR, valid


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor, data_var: torch.Tensor,
                 valid: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of each token's mean Gaussian NLL over its valid values; the model's variance adds to the
    data's, so noisy pixels weigh less (heteroscedastic likelihood). Returns per-token losses (N,)."""
    total = log_var.clamp(-12, 12).exp() + data_var
    nll = 0.5 * (total.log() + (target - mean) ** 2 / total) * valid
    return nll.sum(-1) / valid.sum(-1).clamp_min(1)


class GalFMTokenHeads(nn.Module):
    """For each token type, a Gaussian (mean, log variance) over each value of the token."""

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.dims = {SPECTRUM_NORM_TOKEN: 1, SPECTRUM_TOKEN: config.spectrum_patch_size, PHOTOMETRY_TOKEN: 1,
                     IMAGE_TOKEN: config.image_patch_size**2, PROPERTY_TOKEN: 1}
        self.width = max(self.dims.values())
        self.heads = nn.ModuleDict({str(t): nn.Linear(config.hidden_size, 2 * d) for t, d in self.dims.items()})

    def forward(self, hidden: torch.Tensor, token_types: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``hidden`` (N, d), ``token_types`` (N,) -> mean and log variance (N, width), zero-padded."""
        mean = hidden.new_zeros(hidden.shape[0], self.width)
        log_var = hidden.new_zeros(hidden.shape[0], self.width)
        for token_type, dim in self.dims.items():
            rows = token_types == token_type
            if rows.any():
                out = self.heads[str(token_type)](hidden[rows])
                mean[rows, :dim] = out[:, :dim].to(mean.dtype)
                log_var[rows, :dim] = out[:, dim:].to(log_var.dtype)
        return mean, log_var


class GalFMForPretraining(GalFMPreTrainedModel):
    """galfm with its three self-supervised objectives (weights in the config; 0 switches one off).

    * masked any-to-any: per galaxy a random part of its tokens (a whole modality, the blue or red half of the
      spectrum, or a random subset) is hidden from the encoder; a light decoder, told only *where* each hidden
      token is (wavelength, position, property type), predicts its values with an uncertainty (Gaussian NLL
      whose variance adds the data's own);
    * autoregressive: the tokens chained in the processor's order (spectrum by wavelength, bands, image
      patches, properties) under a causal mask, each predicting the next one's values (AstroPT-style);
    * contrastive: the galaxy embeddings of two modalities of the same galaxy (spectrum, photometry, image)
      pulled together against the other galaxies of the batch (symmetric InfoNCE, cosine similarity,
      learnable temperature; AstroCLIP-style), so embeddings of one modality retrieve another.

    ``galfm`` holds the `GalFMModel`, which is what `AutoModel` loads from a saved checkpoint.
    """

    def __init__(self, config: GalFMConfig):
        super().__init__(config)
        d = config.hidden_size
        self.galfm = GalFMModel(config)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.query_projection = nn.Linear(d, d)
        self.decoder = nn.ModuleList([GalFMLayer(config) for _ in range(config.num_decoder_layers)])
        self.decoder_layernorm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.masked_heads = GalFMTokenHeads(config)
        self.next_query_projection = nn.Linear(d, d)
        self.autoregressive_heads = GalFMTokenHeads(config)
        self.contrastive_projection = nn.Linear(d, d)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.contrastive_temperature)))
        self.post_init()

    # -- the three objectives ---------------------------------------------------------------------------------
    def sample_targets(self, token_type_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) True where a token is hidden from the encoder and must be predicted."""
        cfg = self.config
        valid = attention_mask.bool() & (token_type_ids != GALAXY_TOKEN)
        groups = {g: valid & torch.isin(token_type_ids, torch.tensor(t, device=valid.device))
                  for g, t in MODALITY_GROUPS.items()}
        targets = torch.zeros_like(valid)
        for b in range(valid.shape[0]):
            present = [g for g in groups if groups[g][b].any()]
            draw = float(torch.rand(()))
            if len(present) >= 2 and draw < 0.4:  # one whole modality from the others
                hidden_group = present[int(torch.randint(len(present), ()))]
                targets[b] = groups[hidden_group][b]
            elif groups["spectrum"][b].any() and draw < 0.6:  # blue half from red or red from blue
                index = torch.nonzero(valid[b] & (token_type_ids[b] == SPECTRUM_TOKEN)).flatten()
                if index.numel() >= 2:
                    cut = int(torch.randint(1, index.numel(), ()))
                    targets[b, index[cut:] if draw < 0.5 else index[:cut]] = True
            if not targets[b].any():  # a random subset
                index = torch.nonzero(valid[b]).flatten()
                ratio = cfg.mask_ratio_min + (cfg.mask_ratio_max - cfg.mask_ratio_min) * float(torch.rand(()))
                count = min(max(1, round(ratio * index.numel())), index.numel() - 1)
                if count > 0:
                    targets[b, index[torch.randperm(index.numel(), device=index.device)[:count]]] = True
        return targets

    def _masked_loss(self, embeddings, queries, attention_mask, token_type_ids, values, variances, valid):
        targets = self.sample_targets(token_type_ids, attention_mask)
        if not targets.any():
            return None
        visible = attention_mask.bool() & ~targets
        hidden, _, _ = self.galfm.encode(embeddings, visible.long())
        query = self.mask_token + self.query_projection(queries)
        hidden = torch.where(targets[..., None], query.to(hidden.dtype), hidden)
        for layer in self.decoder:
            hidden, _ = layer(hidden, attention_mask)
        hidden = self.decoder_layernorm(hidden)
        mean, log_var = self.masked_heads(hidden[targets], token_type_ids[targets])
        per_token = gaussian_nll(mean, log_var, values[targets], variances[targets], valid[targets])
        keep = valid[targets].any(-1)
        return per_token[keep].mean() if keep.any() else None

    def _autoregressive_loss(self, embeddings, queries, attention_mask, token_type_ids, values, variances, valid):
        length = attention_mask.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=attention_mask.device).tril()
        mask = causal[None] & attention_mask.bool()[:, None, :]
        hidden, _, _ = self.galfm.encode(embeddings, mask.long())
        predict_from = hidden[:, :-1] + self.next_query_projection(queries[:, 1:]).to(hidden.dtype)
        pairs = attention_mask[:, 1:].bool() & valid[:, 1:].any(-1)
        if not pairs.any():
            return None
        mean, log_var = self.autoregressive_heads(predict_from[pairs], token_type_ids[:, 1:][pairs])
        nxt = (values[:, 1:][pairs], variances[:, 1:][pairs], valid[:, 1:][pairs])
        return gaussian_nll(mean, log_var, *nxt).mean()

    def modality_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor,
                            token_type_ids: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{modality: (unit-norm galaxy embedding from that modality's tokens alone (B, d), present (B,))}: the
        modality is encoded without the others and pooled as ``pooler_output`` is."""
        out = {}
        for group in CONTRASTIVE_GROUPS:
            types = torch.tensor(MODALITY_GROUPS[group], device=attention_mask.device)
            member = attention_mask.bool() & torch.isin(token_type_ids, types)
            present = member.any(-1)
            if not present.any():
                continue
            keys = member | (token_type_ids == GALAXY_TOKEN)
            hidden, _, _ = self.galfm.encode(embeddings, keys.long())
            pooled = self.galfm.pool(hidden, keys.long())
            out[group] = (F.normalize(self.contrastive_projection(pooled).float(), dim=-1), present)
        return out

    def _contrastive_loss(self, embeddings, attention_mask, token_type_ids):
        views = self.modality_embeddings(embeddings, attention_mask, token_type_ids)
        losses = []
        names = list(views)
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                both = views[a][1] & views[b][1]
                if both.sum() < 2:
                    continue
                logits = scale * views[a][0][both] @ views[b][0][both].T
                labels = torch.arange(logits.shape[0], device=logits.device)
                losses.append(0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)))
        return torch.stack(losses).mean() if losses else None

    def predict(self, records, targets: list[str], processor=None, wavelength_range: tuple[float, float] | None = None
                ) -> list[dict]:
        """Predict requested modalities of galaxy records from the rest, with uncertainties.

        ``targets``: ``"spectrum"``, band names (``"jpas_J0660"``) and property names (``"ew_halpha"``); see
        `galfm.prediction_galfm` for units and details. Example: ``model.predict(records, ["spectrum"])`` gives
        each galaxy's spectrum predicted from its photometry (and image).
        """
        from .prediction_galfm import predict_modalities

        return predict_modalities(self, records, targets, processor, wavelength_range)

    def forward(self, return_dict: bool | None = None, labels=None, **inputs) -> GalFMPretrainingOutput | tuple:
        """Processor outputs in; the weighted sum of the objectives as ``loss``."""
        cfg = self.config
        return_dict = return_dict if return_dict is not None else cfg.return_dict
        embeddings, attention_mask, token_type_ids, queries = self.galfm.embed(return_queries=True, **inputs)
        values, variances, valid = token_targets(cfg, inputs, embeddings.shape[0])
        losses = {"masked_loss": None, "autoregressive_loss": None, "contrastive_loss": None}
        if cfg.masked_loss_weight > 0:
            losses["masked_loss"] = self._masked_loss(embeddings, queries, attention_mask, token_type_ids, values,
                                                      variances, valid)
        if cfg.autoregressive_loss_weight > 0:
            losses["autoregressive_loss"] = self._autoregressive_loss(embeddings, queries, attention_mask,
                                                                      token_type_ids, values, variances, valid)
        if cfg.contrastive_loss_weight > 0:
            losses["contrastive_loss"] = self._contrastive_loss(embeddings, attention_mask, token_type_ids)
        weights = {"masked_loss": cfg.masked_loss_weight, "autoregressive_loss": cfg.autoregressive_loss_weight,
                   "contrastive_loss": cfg.contrastive_loss_weight}
        terms = [weights[k] * v for k, v in losses.items() if v is not None]
        # every parameter takes part in the graph even when an objective had nothing to do (DDP needs that)
        loss = torch.stack(terms).sum() if terms else None
        if loss is not None:
            loss = loss + 0.0 * sum(p.sum() for p in self.parameters() if p.requires_grad)
        output = GalFMPretrainingOutput(loss=loss, **losses)
        return output if return_dict else output.to_tuple()


__all__ = ["GalFMPreTrainedModel", "GalFMModel", "GalFMModelOutput", "GalFMForPretraining",
           "GalFMPretrainingOutput", "TOKEN_TYPES"]
