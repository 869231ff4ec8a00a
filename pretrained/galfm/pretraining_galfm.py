"""GalFMForPretraining: the galfm encoder with its three self-supervised objectives.

* masked any-to-any: per galaxy a part of its tokens (a whole modality, the blue or red half of the spectrum,
  or a random subset) is hidden from the encoder; a light decoder, told only *where* each hidden token is
  (wavelength, position, property type), predicts its values with an uncertainty (Gaussian NLL whose variance
  adds the data's own);
* autoregressive: the tokens chained in the processor's order (spectrum by wavelength, bands, image patches,
  properties) under a causal mask, each predicting the next one's values (AstroPT-style);
* contrastive: the galaxy embeddings of two modalities of the same galaxy (spectrum, photometry, image) pulled
  together against the other galaxies of the batch (symmetric InfoNCE, cosine similarity, learnable
  temperature; AstroCLIP-style), so embeddings of one modality retrieve another.

The settings are ``config.pretraining_config`` (`GalFMPretrainingConfig`); the values every objective predicts
are the modalities' own model-space values (`galfm.modality_base.ModelTokens`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

from .configuration_galfm import GalFMConfig
from .modalities import GALAXY_TOKEN_TYPE, get_modalities, token_types
from .modeling_galfm import EmbeddedTokens, GalFMLayer, GalFMModel, GalFMPreTrainedModel, attention_bias
from .prediction_galfm import predict_modalities
from .processing_galfm import GalFMProcessor

OBJECTIVES = ("masked", "autoregressive", "contrastive")


@dataclass
class GalFMPretrainingOutput(ModelOutput):
    """Total and per-objective self-supervised losses (``None`` where an objective is off or had no pairs)."""

    loss: torch.Tensor | None = None
    masked_loss: torch.Tensor | None = None
    autoregressive_loss: torch.Tensor | None = None
    contrastive_loss: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None


def token_targets(config: GalFMConfig, tokens: EmbeddedTokens) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(values, variances, validity), each (B, T, D), of every token in the sequence's order.

    Values and data variances are the modalities' model-space ones (`ModelTokens`), zero-padded to the widest
    token; the variance floor of ``config.pretraining_config`` is added to every value. The galaxy token has
    no value.
    """
    width = max(d for m in get_modalities(config.modalities) for d in m.token_dims(config).values())
    batch_size = tokens.attention_mask.shape[0]
    zeros = torch.zeros(batch_size, 1, width, device=tokens.attention_mask.device)
    parts = [(zeros, zeros, zeros.bool())]
    for block in tokens.model_tokens:
        pad = (0, width - block.values.shape[-1])
        parts.append((F.pad(block.values.float(), pad), F.pad(block.variance.float(), pad), F.pad(block.valid, pad)))
    values, variances, valid = (torch.cat([p[i] for p in parts], dim=1) for i in range(3))
    return values, variances + config.pretraining_config.token_variance_floor, valid


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor, data_var: torch.Tensor,
                 valid: torch.Tensor, log_var_range: tuple[float, float] = (-12.0, 12.0)) -> torch.Tensor:
    """Per-token mean Gaussian NLL over its valid values (N,); the model's variance adds to the data's, so noisy
    pixels weigh less (heteroscedastic likelihood)."""
    total = log_var.clamp(*log_var_range).exp() + data_var
    nll = 0.5 * (total.log() + (target - mean) ** 2 / total) * valid
    return nll.sum(-1) / valid.sum(-1).clamp_min(1)


def pack_tokens(keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index, mask), each (B, L): the positions of each row's kept tokens, left-aligned in their order, and which
    of the L = most-kept slots are real. The encoder is a set model, so a packed sequence encodes as the masked
    one does, with no compute spent on what was left out (and padding only at the end, where a causal mask never
    reaches a real token)."""
    order = torch.argsort((~keep).to(torch.uint8), dim=1, stable=True)
    counts = keep.sum(1)
    length = max(int(counts.max()), 1)
    return order[:, :length], torch.arange(length, device=keep.device)[None] < counts[:, None]


def take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, l], ...]`` for (B, T, ...) ``x`` and (B, L) ``index``."""
    return torch.gather(x, 1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand(*index.shape, *x.shape[2:]))


@dataclass
class ObjectiveBatch:
    """Some galaxies of a batch, their real tokens packed (`pack_tokens`), with each token's target values."""

    embeddings: torch.Tensor
    queries: torch.Tensor
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor
    values: torch.Tensor
    variances: torch.Tensor
    valid: torch.Tensor

    @classmethod
    def of(cls, tokens: EmbeddedTokens, targets: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
           rows: torch.Tensor) -> ObjectiveBatch:
        index, mask = pack_tokens(tokens.attention_mask[rows].bool())
        values, variances, valid = (take(t[rows], index) for t in targets)
        return cls(take(tokens.embeddings[rows], index), take(tokens.queries[rows], index),
                   take(tokens.token_type_ids[rows], index), mask, values, variances, valid & mask[..., None])


def first_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into bins of at most ``capacity`` in all, longest first, each into the first
    bin with room: few bins, little padding (the packing of rows into one encoder pass)."""
    bins: list[list[int]] = []
    room: list[int] = []
    for item in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        slot = next((b for b, free in enumerate(room) if free >= lengths[item]), None)
        if slot is None:
            bins.append([])
            room.append(capacity)
            slot = len(bins) - 1
        bins[slot].append(item)
        room[slot] -= lengths[item]
    return bins


@dataclass
class EncoderRequest:
    """Rows an objective needs encoded: packed embeddings (B, L, d), which are real (B, L), causal or not."""

    embeddings: torch.Tensor
    attention_mask: torch.Tensor
    causal: bool = False


@dataclass
class ObjectivePlan:
    """An objective's encoder requests and what turns their encoded states into its loss (or None)."""

    requests: list[EncoderRequest]
    finish: Callable[[list[torch.Tensor]], torch.Tensor | None]


class GalFMTokenHeads(nn.Module):
    """For each token type, a Gaussian (mean, log variance) over each value of the token."""

    def __init__(self, config: GalFMConfig):
        super().__init__()
        self.token_types = token_types(config.modalities)
        self.dims = {t: d for m in get_modalities(config.modalities) for t, d in m.token_dims(config).items()}
        self.width = max(self.dims.values())
        self.heads = nn.ModuleDict({t: nn.Linear(config.hidden_size, 2 * d) for t, d in self.dims.items()})

    def forward(self, hidden: torch.Tensor, token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``hidden`` (N, d), ``token_type_ids`` (N,) -> mean and log variance (N, width), zero-padded."""
        mean = hidden.new_zeros(hidden.shape[0], self.width)
        log_var = hidden.new_zeros(hidden.shape[0], self.width)
        for token_type, dim in self.dims.items():
            rows = token_type_ids == self.token_types.index(token_type)
            if rows.any():
                out = self.heads[token_type](hidden[rows])
                mean[rows, :dim] = out[:, :dim].to(mean.dtype)
                log_var[rows, :dim] = out[:, dim:].to(log_var.dtype)
        return mean, log_var


class GalFMForPretraining(GalFMPreTrainedModel):
    """galfm with its three self-supervised objectives (weights in ``config.pretraining_config``; 0 switches
    one off). ``galfm`` holds the `GalFMModel`, which is what `AutoModel` loads from a saved checkpoint."""

    def __init__(self, config: GalFMConfig):
        super().__init__(config)
        d = config.hidden_size
        settings = config.pretraining_config
        self.token_types = token_types(config.modalities)
        self.galfm = GalFMModel(config)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.query_projection = nn.Linear(d, d)
        self.decoder = nn.ModuleList([GalFMLayer(config) for _ in range(settings.num_decoder_layers)])
        self.decoder_layernorm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.masked_heads = GalFMTokenHeads(config)
        self.next_query_projection = nn.Linear(d, d)
        self.autoregressive_heads = GalFMTokenHeads(config)
        self.contrastive_projection = nn.Linear(d, d)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / settings.contrastive_temperature)))
        self.post_init()

    # -- the decoder: answers queries placed where hidden tokens are -----------------------------------------
    def query_states(self, queries: torch.Tensor) -> torch.Tensor:
        """What the decoder starts from at a token it must predict: the mask token plus the token's *where*."""
        return self.mask_token + self.query_projection(queries)

    def decode(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The decoder layers and final LayerNorm over encoder states with query states in place."""
        bias = attention_bias(attention_mask, states.dtype)
        for layer in self.decoder:
            states, _ = layer(states, bias)
        return self.decoder_layernorm(states)

    # -- which galaxies train which objective this step ---------------------------------------------------------
    def assign_objectives(self, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
        """{objective: rows of the batch}. ``one_per_galaxy``: each galaxy draws one objective, in proportion to the
        loss weights, so a step costs about one encoder pass per galaxy; ``every_galaxy``: every objective on every
        galaxy (four to five encoder passes)."""
        settings = self.config.pretraining_config
        weights = torch.tensor([getattr(settings, f"{name}_loss_weight") for name in OBJECTIVES], device=device)
        if settings.objective_assignment == "every_galaxy":
            rows = torch.arange(batch_size, device=device)
            return {name: rows for name, w in zip(OBJECTIVES, weights.tolist()) if w > 0}
        drawn = torch.multinomial(weights / weights.sum(), batch_size, replacement=True)
        return {name: torch.nonzero(drawn == i).flatten() for i, name in enumerate(OBJECTIVES)
                if weights[i] > 0 and (drawn == i).any()}

    # -- masked any-to-any -----------------------------------------------------------------------------------
    def sample_targets(self, batch: ObjectiveBatch) -> torch.Tensor:
        """(B, L) True where a token is hidden from the encoder and must be predicted: per galaxy one whole
        modality, one half of an ordered modality (the spectrum), or a random subset."""
        settings = self.config.pretraining_config
        types = batch.token_type_ids
        valid = batch.attention_mask & (types != self.token_types.index(GALAXY_TOKEN_TYPE))
        groups = self.modality_members(types, batch.attention_mask)
        ordered = next(((m.name, self.token_types.index(m.ordered_token_type))
                        for m in get_modalities(self.config.modalities) if m.ordered_token_type), None)
        whole = settings.whole_modality_probability
        half = whole + settings.spectrum_half_probability
        targets = torch.zeros_like(valid)
        for b in range(valid.shape[0]):
            present = [g for g in groups if groups[g][b].any()]
            draw = float(torch.rand(()))
            if len(present) >= 2 and draw < whole:
                targets[b] = groups[present[int(torch.randint(len(present), ()))]][b]
            elif ordered is not None and groups[ordered[0]][b].any() and draw < half:
                index = torch.nonzero(valid[b] & (types[b] == ordered[1])).flatten()
                if index.numel() >= 2:
                    cut = int(torch.randint(1, index.numel(), ()))
                    red_hidden = draw < whole + 0.5 * settings.spectrum_half_probability
                    targets[b, index[cut:] if red_hidden else index[:cut]] = True
            if not targets[b].any():
                index = torch.nonzero(valid[b]).flatten()
                ratio = settings.mask_ratio_min + (settings.mask_ratio_max - settings.mask_ratio_min) * float(
                    torch.rand(()))
                count = min(max(1, round(ratio * index.numel())), index.numel() - 1)
                if count > 0:
                    targets[b, index[torch.randperm(index.numel(), device=index.device)[:count]]] = True
        return targets

    def _token_nll(self, heads: GalFMTokenHeads, hidden: torch.Tensor, token_type_ids: torch.Tensor,
                   values: torch.Tensor, variances: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        settings = self.config.pretraining_config
        mean, log_var = heads(hidden, token_type_ids)
        return gaussian_nll(mean, log_var, values, variances, valid,
                            (settings.token_log_var_min, settings.token_log_var_max))

    def masked_plan(self, batch: ObjectiveBatch) -> ObjectivePlan | None:
        """The encoder sees only the visible tokens (packed, as in a masked autoencoder); the decoder sees them
        encoded plus a query at every hidden token, and predicts the hidden values."""
        targets = self.sample_targets(batch)
        if not targets.any():
            return None
        visible = batch.attention_mask & ~targets
        index, mask = pack_tokens(visible)

        def finish(hidden: list[torch.Tensor]) -> torch.Tensor | None:
            encoded = hidden[0]
            placed = torch.zeros_like(batch.embeddings, dtype=encoded.dtype).scatter(
                1, index[..., None].expand(-1, -1, encoded.shape[-1]), encoded)
            states = torch.where(visible[..., None], placed, self.query_states(batch.queries).to(encoded.dtype))
            states = self.decode(states, batch.attention_mask.long())
            per_token = self._token_nll(self.masked_heads, states[targets], batch.token_type_ids[targets],
                                        batch.values[targets], batch.variances[targets], batch.valid[targets])
            keep = batch.valid[targets].any(-1)
            return per_token[keep].mean() if keep.any() else None

        return ObjectivePlan([EncoderRequest(take(batch.embeddings, index), mask)], finish)

    # -- autoregressive --------------------------------------------------------------------------------------
    def autoregressive_plan(self, batch: ObjectiveBatch) -> ObjectivePlan | None:
        """Each real token predicts the next one under a causal mask (padding sits after the real tokens, so the
        fused causal kernel needs no mask)."""
        pairs = batch.attention_mask[:, 1:] & batch.valid[:, 1:].any(-1)
        if not pairs.any():
            return None

        def finish(hidden: list[torch.Tensor]) -> torch.Tensor:
            states = hidden[0]
            predict_from = states[:, :-1] + self.next_query_projection(batch.queries[:, 1:]).to(states.dtype)
            following = (batch.values[:, 1:][pairs], batch.variances[:, 1:][pairs], batch.valid[:, 1:][pairs])
            return self._token_nll(self.autoregressive_heads, predict_from[pairs],
                                   batch.token_type_ids[:, 1:][pairs], *following).mean()

        return ObjectivePlan([EncoderRequest(batch.embeddings, batch.attention_mask, causal=True)], finish)

    # -- contrastive -----------------------------------------------------------------------------------------
    def modality_members(self, token_type_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """{modality: (B, T) True at its real tokens}."""
        real = attention_mask.bool()
        out = {}
        for modality in get_modalities(self.config.modalities):
            ids = torch.tensor([self.token_types.index(t) for t in modality.token_types], device=real.device)
            out[modality.name] = real & torch.isin(token_type_ids, ids)
        return out

    def modality_views_plan(self, tokens: EmbeddedTokens | ObjectiveBatch, names: Sequence[str] | None = None
                            ) -> tuple[list[str], list[torch.Tensor], list[EncoderRequest]]:
        """(modality names, present (B,) of each, the encoder request of each): every contrastive modality (or
        those in ``names``) that some galaxy has, as its tokens and the galaxy token alone, packed."""
        members = self.modality_members(tokens.token_type_ids, tokens.attention_mask)
        galaxy = tokens.token_type_ids == self.token_types.index(GALAXY_TOKEN_TYPE)
        views, present, requests = [], [], []
        for modality in get_modalities(self.config.modalities):
            if not modality.contrastive or (names is not None and modality.name not in names):
                continue
            has = members[modality.name].any(-1)
            if not has.any():
                continue
            index, mask = pack_tokens(members[modality.name] | (galaxy & tokens.attention_mask.bool()))
            views.append(modality.name)
            present.append(has)
            requests.append(EncoderRequest(take(tokens.embeddings, index), mask))
        return views, present, requests

    def pooled_view(self, hidden: torch.Tensor, request: EncoderRequest) -> torch.Tensor:
        """A modality view's unit-norm galaxy embedding, pooled as ``pooler_output`` is."""
        pooled = self.galfm.pool(hidden, request.attention_mask.long())
        return F.normalize(self.contrastive_projection(pooled).float(), dim=-1)

    def modality_embeddings(self, tokens: EmbeddedTokens | ObjectiveBatch, names: Sequence[str] | None = None
                            ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{modality: (unit-norm galaxy embedding from that modality's tokens alone (B, d), present (B,))}: each
        contrastive modality (or those in ``names``) is encoded without the others (its tokens and the galaxy
        token, packed) and pooled as ``pooler_output`` is."""
        views, present, requests = self.modality_views_plan(tokens, names)
        hidden = self.encode_requests(requests, together=False)
        return {name: (self.pooled_view(h, r), has) for name, has, h, r in zip(views, present, hidden, requests)}

    def contrastive_plan(self, batch: ObjectiveBatch) -> ObjectivePlan | None:
        views, present, requests = self.modality_views_plan(batch)
        if not requests:
            return None

        def finish(hidden: list[torch.Tensor]) -> torch.Tensor | None:
            embedded = [self.pooled_view(h, r) for h, r in zip(hidden, requests)]
            scale = self.logit_scale.clamp(max=math.log(self.config.pretraining_config.max_logit_scale)).exp()
            losses = []
            for i in range(len(views)):
                for k in range(i + 1, len(views)):
                    both = present[i] & present[k]
                    if both.sum() < 2:
                        continue
                    logits = scale * embedded[i][both] @ embedded[k][both].T
                    labels = torch.arange(logits.shape[0], device=logits.device)
                    losses.append(0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)))
            return torch.stack(losses).mean() if losses else None

        return ObjectivePlan(requests, finish)

    # -- the encoder passes ------------------------------------------------------------------------------------
    def encode_requests(self, requests: Sequence[EncoderRequest], together: bool) -> list[torch.Tensor]:
        """Encoded states (B_i, L_i, d) of each request: one encoder pass per request, or (``together``) one pass
        over all of them, their rows packed several to a sequence, each attending only to its own real tokens
        (causally for causal requests; the encoder is a set model, so where a row sits does not matter). The two
        agree to rounding. Padding positions of the outputs are zeros (``together``) or states of nothing."""
        if not together:
            return [self.galfm.encode(r.embeddings, None, is_causal=True)[0] if r.causal
                    else self.galfm.encode(r.embeddings, r.attention_mask.long())[0] for r in requests]
        # every request row's real tokens (left-aligned), packed first-fit-decreasing into rows as long as the
        # longest: a packed row attends within each of its segments only (causally for causal requests)
        width = max(r.embeddings.shape[1] for r in requests)
        device = requests[0].embeddings.device
        flat = torch.cat([F.pad(r.embeddings, (0, 0, 0, width - r.embeddings.shape[1])) for r in requests])
        flat = flat.reshape(-1, flat.shape[-1])
        lengths = torch.cat([r.attention_mask.sum(1) for r in requests]).tolist()
        causal_rows = [r.causal for r in requests for _ in range(r.embeddings.shape[0])]
        bins = first_fit_decreasing(lengths, width)
        source = torch.zeros(len(bins), width, dtype=torch.long)  # packed position -> index into flat
        back = torch.full((len(lengths), width), len(bins) * width, dtype=torch.long)  # and back (else: a zero)
        segment = torch.full((len(bins), width), -1, dtype=torch.long)
        causal = torch.zeros(len(bins), width, dtype=torch.bool)
        for b, rows in enumerate(bins):
            start = 0
            for row in rows:
                n = lengths[row]
                source[b, start:start + n] = row * width + torch.arange(n)
                back[row, :n] = b * width + start + torch.arange(n)
                segment[b, start:start + n] = row
                causal[b, start:start + n] = causal_rows[row]
                start += n
        source, back, segment, causal = (t.to(device) for t in (source, back, segment, causal))
        position = torch.arange(width, device=device)
        attend = (segment[:, :, None] == segment[:, None, :]) & (segment[:, None, :] >= 0)
        attend &= ~causal[:, :, None] | (position[None, None, :] <= position[None, :, None])
        attend |= torch.eye(width, dtype=torch.bool, device=device)[None]  # padding queries attend to themselves
        hidden, _, _ = self.galfm.encode(flat[source], attend)
        hidden = torch.cat([hidden.reshape(-1, hidden.shape[-1]), hidden.new_zeros(1, hidden.shape[-1])])
        out = hidden[back]
        sizes = [r.embeddings.shape[0] for r in requests]
        return [h[:, :r.embeddings.shape[1]] for h, r in zip(out.split(sizes), requests)]

    # -- use -------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def answer_queries(self, inputs: Mapping[str, torch.Tensor], queries: Mapping[str, torch.Tensor],
                       known: Mapping[str, torch.Tensor] | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The decoder's answers to query tokens (a processor batch whose tokens sit where answers go) about the
        galaxies of ``inputs``: (mean, std, galaxy index, token type) of each query token, in model space.
        ``known``: {token type: (B,) bool} query tokens left out for galaxies whose input already has them."""
        given = self.galfm.embed(inputs)
        hidden, _, _ = self.galfm.encode(given.embeddings, given.attention_mask)
        asked = self.galfm.embed(queries)
        # column 0 is the query batch's own galaxy token: the input's stands for the galaxy
        query_mask = asked.attention_mask[:, 1:].bool()
        query_types = asked.token_type_ids[:, 1:]
        for token_type, has in (known or {}).items():
            query_mask &= ~((query_types == self.token_types.index(token_type)) & has.bool()[:, None])
        states = torch.cat([hidden, self.query_states(asked.queries[:, 1:]).to(hidden.dtype)], dim=1)
        states = self.decode(states, torch.cat([given.attention_mask.bool(), query_mask], dim=1).long())
        states = states[:, hidden.shape[1]:]
        rows, cols = torch.nonzero(query_mask, as_tuple=True)
        mean, log_var = self.masked_heads(states[rows, cols], query_types[rows, cols])
        settings = self.config.pretraining_config
        std = (0.5 * log_var.float().clamp(settings.token_log_var_min, settings.token_log_var_max)).exp()
        names = np.asarray(self.token_types)[query_types[rows, cols].cpu().numpy()]
        return mean.float().cpu().numpy(), std.cpu().numpy(), rows.cpu().numpy(), names

    def predict(self, records: Mapping | Sequence[Mapping], targets: Sequence[str],
                processor: GalFMProcessor | None = None, wavelength_range: tuple[float, float] | None = None
                ) -> list[dict]:
        """Predict requested modalities of galaxy records from the rest, with uncertainties.

        ``targets``: ``"spectrum"``, band names (``"jpas_J0660"``) and property names (``"ew_halpha"``); see
        `galfm.prediction_galfm` for units and details. Example: ``model.predict(records, ["spectrum"])`` gives
        each galaxy's spectrum predicted from its photometry (and image).
        """
        return predict_modalities(self, records, targets, processor, wavelength_range)

    def forward(self, return_dict: bool | None = None, labels=None, **inputs: torch.Tensor
                ) -> GalFMPretrainingOutput | tuple:
        """Processor outputs in; the weighted sum of the objectives as ``loss``, each objective on the galaxies
        `assign_objectives` gives it."""
        settings = self.config.pretraining_config
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        tokens = self.galfm.embed(inputs)
        targets = token_targets(self.config, tokens)
        losses = {f"{name}_loss": None for name in OBJECTIVES}
        planners = {"masked": self.masked_plan, "autoregressive": self.autoregressive_plan,
                    "contrastive": self.contrastive_plan}
        plans = {}
        for name, rows in self.assign_objectives(tokens.attention_mask.shape[0], tokens.attention_mask.device).items():
            plan = planners[name](ObjectiveBatch.of(tokens, targets, rows))
            if plan is not None:
                plans[name] = plan
        requests = [r for plan in plans.values() for r in plan.requests]
        hidden = self.encode_requests(requests, together=settings.encoder_passes == "one") if requests else []
        for name, plan in plans.items():
            losses[f"{name}_loss"] = plan.finish(hidden[:len(plan.requests)])
            hidden = hidden[len(plan.requests):]
        terms = [getattr(settings, f"{name}_loss_weight") * losses[f"{name}_loss"] for name in OBJECTIVES
                 if losses[f"{name}_loss"] is not None]
        loss = torch.stack(terms).sum() if terms else None
        if loss is not None:  # every parameter takes part in the graph even when an objective had nothing to do
            # (DDP and FSDP need that); a parameter still sharded here (a DTensor of an FSDP encoder layer) is one
            # the encoder pass used anyway
            loss = loss + 0.0 * sum(p.sum() for p in self.parameters() if p.requires_grad
                                    and not hasattr(p, "placements"))
        output = GalFMPretrainingOutput(loss=loss, **losses)
        return output if return_dict else output.to_tuple()


__all__ = ["OBJECTIVES", "EncoderRequest", "GalFMForPretraining", "GalFMPretrainingOutput", "GalFMTokenHeads",
           "ObjectiveBatch", "ObjectivePlan", "first_fit_decreasing", "gaussian_nll", "pack_tokens", "take",
           "token_targets"]
