"""GalFMModel: a transformer encoder over a galaxy's multimodal token set.

The encoder is a set model: no token carries an index position. Spectral patches, photometric bands and
image patches are placed by physical coordinates (observed wavelength and width, sky offset), so the order
of bands or patches cannot change the embedding, and a filter set the model never saw is just new points on
the same wavelength axis. A learned galaxy token leads the sequence; ``pooler_output``, one embedding per
galaxy, is the mean state of all tokens (``config.pooling="mean"``) or the galaxy token's (``"galaxy_token"``).
Which modalities the model embeds, and how, is the table `galfm.modalities.MODALITIES` read through
``config.modalities``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from .configuration_galfm import BUILTIN_MODALITIES, GalFMConfig
from .modalities import GALAXY_TOKEN_TYPE, get_modalities, token_types
from .modality_base import GalFMWavelengthEmbedding, ModelTokens

# token types of the built-in modalities (``token_type_ids`` index this tuple); see `galfm.modalities.token_types`
TOKEN_TYPES = token_types(BUILTIN_MODALITIES)

# weight names of folders saved before the modality modules (36bfb7e) -> today's
LEGACY_KEY_MAPPING: dict[str, str] = {
    r"embeddings\.spectrum_norm_projection\.": "embeddings.modality_embeddings.spectrum.norm_projection.",
    r"embeddings\.spectrum_projection\.": "embeddings.modality_embeddings.spectrum.projection.",
    r"embeddings\.photometry_projection\.": "embeddings.modality_embeddings.photometry.projection.",
    r"embeddings\.image_projection\.": "embeddings.modality_embeddings.image.projection.",
    r"embeddings\.image_position_projection\.": "embeddings.modality_embeddings.image.position_projection.",
    r"embeddings\.image_seeing_projection\.": "embeddings.modality_embeddings.image.seeing_projection.",
    r"embeddings\.property_projection\.": "embeddings.modality_embeddings.properties.projection.",
    r"embeddings\.property_type_embeddings\.": "embeddings.modality_embeddings.properties.type_embeddings.",
    **{rf"_heads\.heads\.{i}\.": f"_heads.heads.{name}." for i, name in enumerate(TOKEN_TYPES) if i},
}


@dataclass
class GalFMModelOutput(ModelOutput):
    """Encoder output.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, tokens, hidden)`): every token's final state;
            token 0 is the galaxy token.
        pooler_output (`torch.FloatTensor` of shape `(batch, hidden)`): one embedding per galaxy.
        attention_mask (`torch.LongTensor` of shape `(batch, tokens)`): 1 for real tokens, 0 for padding.
        token_type_ids (`torch.LongTensor` of shape `(batch, tokens)`): which modality each token came from
            (indices into `galfm.modalities.token_types(config.modalities)`).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): input embeddings and each layer's output.
        attentions (`tuple(torch.FloatTensor)`, *optional*): each layer's attention weights.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    attention_mask: torch.LongTensor | None = None
    token_type_ids: torch.LongTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class EmbeddedTokens:
    """A batch as the encoder sees it.

    ``embeddings`` (B, T, d): value + where + token type of every token; ``queries`` (B, T, d): the where + token
    type parts alone (what a decoder is told about a token whose value it must predict); ``attention_mask`` and
    ``token_type_ids`` (B, T); ``model_tokens``: each token type's model-space values, in sequence order after
    the galaxy token (what the pretraining objectives predict).
    """

    embeddings: torch.Tensor
    queries: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    model_tokens: list[ModelTokens]


class GalFMEmbeddings(nn.Module):
    """Each modality's tokens projected to ``hidden_size`` by its own module, joined behind the galaxy token."""

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.config = config
        self.token_types = token_types(config.modalities)
        self.token_type_ids = {name: i for i, name in enumerate(self.token_types)}
        self.galaxy_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.token_type_embeddings = nn.Embedding(len(self.token_types), config.hidden_size)
        self.wavelength_embedding = GalFMWavelengthEmbedding(config)
        self.modality_embeddings = nn.ModuleDict(
            {m.name: m.build_embedding(config) for m in get_modalities(config.modalities)})
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> EmbeddedTokens:
        """Processor outputs -> `EmbeddedTokens`; every token is a *value* part (what was measured) plus a *where*
        part (wavelength, sky position, property type) plus its token type."""
        blocks, embedded = [], []
        for modality in get_modalities(self.config.modalities):
            if modality.present(inputs):
                tokens = modality.model_tokens(inputs, self.config)
                blocks += tokens
                embedded += self.modality_embeddings[modality.name](inputs, tokens, self.wavelength_embedding)
        if not blocks:
            raise ValueError("GalFMModel got no tokens: call it with the output of GalFMProcessor (some *_values).")
        batch_size, device = blocks[0].attention_mask.shape[0], self.galaxy_token.device
        type_weights = self.token_type_embeddings.weight
        galaxy = self.galaxy_token.expand(batch_size, 1, -1) + type_weights[self.token_type_ids[GALAXY_TOKEN_TYPE]]
        pieces, queries, types = [galaxy], [galaxy], [torch.zeros(batch_size, 1, dtype=torch.long, device=device)]
        masks = [torch.ones(batch_size, 1, dtype=torch.long, device=device)]
        for block, (value, where) in zip(blocks, embedded):
            where = torch.zeros_like(value) if where is None else where
            type_id = self.token_type_ids[block.token_type]
            pieces.append(value + where + type_weights[type_id])
            queries.append(where + type_weights[type_id])
            masks.append(block.attention_mask.long())
            types.append(torch.full_like(masks[-1], type_id))
        return EmbeddedTokens(embeddings=self.dropout(self.layernorm(torch.cat(pieces, dim=1))),
                              queries=torch.cat(queries, dim=1), attention_mask=torch.cat(masks, dim=1),
                              token_type_ids=torch.cat(types, dim=1), model_tokens=blocks)


def attention_bias(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A (B, T) key-padding or (B, T, T) per-query mask (1 = attend) as the additive bias SDPA takes: 0 where
    attended, the dtype's minimum elsewhere, shaped (B, 1, 1, T) or (B, 1, T, T). A float bias keeps PyTorch's
    fused attention kernels, which a boolean mask rules out; None (no padding) is faster still."""
    if attention_mask is None:
        return None
    keep = (attention_mask[:, None, None, :] if attention_mask.dim() == 2 else attention_mask[:, None]).bool()
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(~keep, torch.finfo(dtype).min)


class GalFMAttention(nn.Module):
    """Multi-head self-attention over the token set (PyTorch SDPA), with an additive mask (`attention_bias`) or a
    causal one."""

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = config.attention_probs_dropout_prob

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor | None, output_attentions: bool = False,
                is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, width = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if output_attentions:
            scores = (query @ key.transpose(-1, -2)) / math.sqrt(self.head_dim)
            if bias is not None:
                scores = scores + bias.to(scores.dtype)
            if is_causal:
                future = torch.ones(length, length, dtype=torch.bool, device=scores.device).triu(1)
                scores = scores.masked_fill(future, torch.finfo(scores.dtype).min)
            weights = scores.softmax(-1)
            context = F.dropout(weights, dropout, self.training) @ value
        else:
            mask = None if bias is None else bias.to(query.dtype)
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout,
                                                     is_causal=is_causal and mask is None)
        context = context.transpose(1, 2).reshape(batch, length, width)
        return self.out_proj(context), weights


class GalFMMLP(nn.Module):
    """The feed-forward block."""

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

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor | None, output_attentions: bool = False,
                is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(self.layernorm_before(hidden_states), bias, output_attentions, is_causal)
        hidden_states = hidden_states + self.dropout(attended)
        hidden_states = hidden_states + self.dropout(self.mlp(self.layernorm_after(hidden_states)))
        return hidden_states, weights


class GalFMEncoder(nn.Module):
    """The stack of transformer blocks."""

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.layer = nn.ModuleList([GalFMLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, output_attentions: bool = False,
                output_hidden_states: bool = False, is_causal: bool = False
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        """``attention_mask`` (B, T) / (B, T, T), 1 = attend, or None (every token real); ``is_causal`` adds a
        causal mask (with None: the fused causal kernel)."""
        bias = attention_bias(attention_mask, hidden_states.dtype)
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attn = () if output_attentions else None
        for layer in self.layer:
            hidden_states, weights = layer(hidden_states, bias, output_attentions, is_causal)
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
    # the pretraining objectives' own weights (`GalFMForPretraining`), which an encoder or a head loaded from a
    # pretrained checkpoint does not use: expected to be left behind, so not reported
    _keys_to_ignore_on_load_unexpected = [r"^(galfm\.)?(mask_token|query_projection|decoder|decoder_layernorm|"
                                          r"masked_heads|next_query_projection|autoregressive_heads|"
                                          r"contrastive_projection|logit_scale)\b"]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """As `PreTrainedModel.from_pretrained`; folders saved before the modality modules load too, their
        weight names mapped by `LEGACY_KEY_MAPPING` (the patterns match no current name)."""
        legacy = "key_mapping" not in kwargs
        if legacy:
            kwargs["key_mapping"] = LEGACY_KEY_MAPPING
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        if legacy and getattr(model, "_weight_conversions", None):  # saving writes today's names, not the old ones
            model._weight_conversions = [c for c in model._weight_conversions
                                         if not set(getattr(c, "source_patterns", ())) & set(LEGACY_KEY_MAPPING)]
        return model

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, GalFMEmbeddings):
            nn.init.trunc_normal_(module.galaxy_token, mean=0.0, std=self.config.initializer_range)


def masked_mean(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens (attention_mask 1) of (B, T, d) states -> (B, d)."""
    weights = attention_mask.to(hidden_states.dtype)[..., None]
    return (hidden_states * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def galaxy_summary(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, 2 * hidden): the galaxy token's final state next to the mean of all token states; what every head and
    every probe reads."""
    return torch.cat([last_hidden_state[:, 0], masked_mean(last_hidden_state, attention_mask)], dim=-1)


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

    def embed(self, inputs: Mapping[str, torch.Tensor]) -> EmbeddedTokens:
        """Token embeddings, padding mask, token types, query embeddings and model-space values of a batch."""
        return self.embeddings(inputs)

    def encode(self, embeddings: torch.Tensor, attention_mask: torch.Tensor | None, output_attentions: bool = False,
               output_hidden_states: bool = False, is_causal: bool = False
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        """Encoder + final LayerNorm over token embeddings; ``attention_mask`` (B, T), (B, T, T) or None."""
        hidden_states, all_hidden, all_attn = self.encoder(
            embeddings, attention_mask, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, is_causal=is_causal)
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
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **inputs: torch.Tensor,
    ) -> GalFMModelOutput | tuple:
        """``inputs``: the processor's outputs (``spectrum_values``, ``photometry_values``, ... with their
        ``*_attention_mask``; each modality's ``batch_keys``)."""
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        tokens = self.embed(inputs)
        hidden_states, all_hidden, all_attn = self.encode(tokens.embeddings, tokens.attention_mask, output_attentions,
                                                          output_hidden_states)
        pooled = self.pool(hidden_states, tokens.attention_mask)
        output = GalFMModelOutput(last_hidden_state=hidden_states, pooler_output=pooled,
                                  attention_mask=tokens.attention_mask, token_type_ids=tokens.token_type_ids,
                                  hidden_states=all_hidden, attentions=all_attn)
        return output if return_dict else output.to_tuple()


__all__ = ["EmbeddedTokens", "GalFMModel", "GalFMModelOutput", "GalFMPreTrainedModel", "LEGACY_KEY_MAPPING",
           "attention_bias",
           "TOKEN_TYPES", "galaxy_summary", "masked_mean"]
