"""GalFMModel: a transformer encoder over a galaxy's multimodal token set.

The encoder is a set model: no token carries an index position. Spectral patches, photometric bands and
image patches are placed by physical coordinates (observed wavelength and width, sky offset), so the order
of bands or patches cannot change the embedding, and a filter set the model never saw is just new points on
the same wavelength axis. A learned galaxy token (first in the sequence) becomes ``pooler_output``: one
embedding per galaxy.
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
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.config
        dtype = self.galaxy_token.dtype
        device = self.galaxy_token.device
        pieces = [self._typed(self.galaxy_token.expand(batch_size, 1, -1), GALAXY_TOKEN)]
        masks = [torch.ones(batch_size, 1, dtype=torch.long, device=device)]
        types = [GALAXY_TOKEN]
        lengths = [1]

        def add(tokens: torch.Tensor, mask: torch.Tensor | None, token_type: int) -> None:
            if mask is None:
                mask = torch.ones(tokens.shape[:2], dtype=torch.long, device=device)
            pieces.append(self._typed(tokens, token_type))
            masks.append(mask.long())
            types.append(token_type)
            lengths.append(tokens.shape[1])

        if spectrum_norm is not None:
            norm = spectrum_norm.to(dtype).reshape(batch_size, 1, 1)
            add(self.spectrum_norm_projection(norm), None if spectrum_norm_mask is None
                else spectrum_norm_mask.reshape(batch_size, 1), SPECTRUM_NORM_TOKEN)
        if spectrum_values is not None:
            weights = spectrum_weights.to(dtype)
            values = torch.asinh(spectrum_values.to(dtype)) * (weights > 0)
            features = torch.cat([values, torch.asinh(weights)], dim=-1)
            tokens = self.spectrum_projection(features) + self.wavelength_embedding(spectrum_wavelength)
            add(tokens, spectrum_attention_mask, SPECTRUM_TOKEN)
        if photometry_values is not None:
            values = photometry_values.to(dtype)
            mag = (values[..., 0] - cfg.photometry_mag_center) / cfg.photometry_mag_scale
            log_err = torch.log10(values[..., 1].clamp_min(1e-4))
            tokens = self.photometry_projection(torch.stack([mag, log_err], dim=-1))
            tokens = tokens + self.wavelength_embedding(photometry_wavelength)
            add(tokens, photometry_attention_mask, PHOTOMETRY_TOKEN)
        if image_values is not None:
            weights = image_weights.to(dtype)
            features = torch.cat([image_values.to(dtype) * (weights > 0), torch.asinh(weights)], dim=-1)
            position = image_position.float() / cfg.position_scale
            position = torch.cat([self.image_position_features(position[..., 0]),
                                  self.image_position_features(position[..., 1])], dim=-1).to(dtype)
            tokens = (
                self.image_projection(features)
                + self.wavelength_embedding(image_wavelength)
                + self.image_position_projection(position)
                + self.image_seeing_projection(image_seeing.to(dtype))
            )
            add(tokens, image_attention_mask, IMAGE_TOKEN)
        if property_values is not None:
            if property_ids.numel() and int(property_ids.max()) >= cfg.num_property_types:
                raise ValueError(f"property id {int(property_ids.max())} >= config.num_property_types "
                                 f"({cfg.num_property_types}): the processor lists more properties than the model "
                                 "knows")
            tokens = self.property_projection(property_values.to(dtype).unsqueeze(-1))
            tokens = tokens + self.property_type_embeddings(property_ids)
            add(tokens, property_attention_mask, PROPERTY_TOKEN)

        if len(pieces) == 1:
            raise ValueError("GalFMModel got no tokens: pass the output of GalFMProcessor (some *_values).")
        embeddings = self.dropout(self.layernorm(torch.cat(pieces, dim=1)))
        attention_mask = torch.cat(masks, dim=1)
        token_type_ids = torch.repeat_interleave(
            torch.tensor(types, device=device), torch.tensor(lengths, device=device)
        ).expand(batch_size, -1)
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
        keep = attention_mask[:, None, None, :].bool()  # (batch, 1, 1, keys): True = attend
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
        present = [t for t in (spectrum_values, spectrum_norm, photometry_values, image_values, property_values)
                   if t is not None]
        if not present:
            raise ValueError("GalFMModel got no inputs: call it with the output of GalFMProcessor.")
        embeddings, attention_mask, token_type_ids = self.embeddings(
            present[0].shape[0],
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
        hidden_states, all_hidden, all_attn = self.encoder(
            embeddings, attention_mask, output_attentions=output_attentions, output_hidden_states=output_hidden_states
        )
        hidden_states = self.layernorm(hidden_states)
        pooled = hidden_states[:, 0]
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


__all__ = ["GalFMPreTrainedModel", "GalFMModel", "GalFMModelOutput", "TOKEN_TYPES"]
