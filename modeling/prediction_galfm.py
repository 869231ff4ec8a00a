"""Any-modality prediction with the pretraining decoder: give what you have of a galaxy, ask for what you lack.

`GalFMForPretraining.predict(records, targets=[...])` asks the masked any-to-any decoder the questions it was
trained on: the record's remaining data are encoded, and each requested token becomes a *query* (its wavelength,
band or property type, no value) that the decoder answers with a Gaussian mean and standard deviation. Each
modality turns its answers back into the record's units (its ``answer``):

* ``"spectrum"``: flux density (1e-17 erg/s/cm²/Å) on the processor's observed-frame grid, one value per pixel,
  optionally only inside ``wavelength_range``. With no input spectrum the normalisation is predicted too; when
  the record has a spectrum outside ``wavelength_range`` (e.g. the red half from the blue), the normalisation
  is that of the part given, so the answer is scaled by the visible part's median flux.
* a band name (``"jpas_J0660"``, ``"decam_r"``): flux in nanomaggies.
* a property name (``"ew_halpha"``, ``"redshift"``): its value in the processor's ``property_specs`` units.

Whatever is asked for is removed from the input first, so the answer never echoes the record. The
uncertainty is the model's (its predicted variance), not the measurement noise of a survey.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .modalities import get_modalities
from .processing_galfm import GalFMProcessor


def claimed_targets(targets: Sequence[str], processor: GalFMProcessor) -> dict[str, list[str]]:
    """{modality: the targets it answers}, in the processor's modality order; unknown targets raise."""
    modalities = get_modalities(processor.modalities)
    out: dict[str, list[str]] = {}
    for target in targets:
        owner = next((m for m in modalities if m.claims(target, processor)), None)
        if owner is None:
            raise ValueError(f"target {target!r}: not 'spectrum', a band the processor knows (e.g. jpas_J0660, "
                             f"decam_r) or a property ({', '.join(processor.property_names[:12])}, ...)")
        out.setdefault(owner.name, []).append(target)
    return {m.name: out[m.name] for m in modalities if m.name in out}


@torch.no_grad()
def predict_modalities(model, records: Mapping | Sequence[Mapping], targets: Sequence[str],
                       processor: GalFMProcessor | None = None,
                       wavelength_range: tuple[float, float] | None = None) -> list[dict]:
    """Per galaxy: {"spectrum": {wavelength, flux, flux_std}, "photometry": {band, flux, flux_std},
    "properties": {name: (value, std)}} for what was asked (``model``: a `GalFMForPretraining`)."""
    processor = processor or GalFMProcessor()
    records = [records] if isinstance(records, Mapping) else list(records)
    asked = claimed_targets(targets, processor)
    modalities = {m.name: m for m in get_modalities(list(asked))}
    model.eval()
    device = next(model.parameters()).device

    given_records, query = [], {"object_id": "query"}
    for record in records:
        given_records.append({**record, **{name: modalities[name].hide(record.get(name), asked[name],
                                                                        wavelength_range) for name in asked}})
    for name, names in asked.items():
        query[name] = modalities[name].query(names, processor, wavelength_range)
    inputs = {k: v.to(device) for k, v in processor(given_records, return_tensors="pt").items()}
    queries = {k: v.to(device) for k, v in processor([query] * len(records), return_tensors="pt").items()}

    given = model.galfm.embed(inputs)
    hidden, _, _ = model.galfm.encode(given.embeddings, given.attention_mask)
    asked_tokens = model.galfm.embed(queries)
    # column 0 is the query batch's own galaxy token: the input's stands for the galaxy
    query_mask = asked_tokens.attention_mask[:, 1:].bool()
    query_types = asked_tokens.token_type_ids[:, 1:]
    for modality in modalities.values():
        for token_type, known in modality.known_from_input(inputs).items():
            query_mask &= ~((query_types == model.token_types.index(token_type)) & known[:, None])
    states = torch.cat([hidden, model.query_states(asked_tokens.queries[:, 1:]).to(hidden.dtype)], dim=1)
    states = model.decode(states, torch.cat([given.attention_mask.bool(), query_mask], dim=1).long())
    states = states[:, hidden.shape[1]:]
    rows, cols = torch.nonzero(query_mask, as_tuple=True)
    mean, log_var = model.masked_heads(states[rows, cols], query_types[rows, cols])
    settings = model.config.pretraining_config
    std = (0.5 * log_var.float().clamp(settings.token_log_var_min, settings.token_log_var_max)).exp()
    mean, std = mean.float().cpu().numpy(), std.cpu().numpy()
    rows, types = rows.cpu().numpy(), query_types[rows, cols].cpu().numpy()
    known_inputs = {k: v.cpu().numpy() for k, v in inputs.items()}

    out = []
    for galaxy in range(len(records)):
        galaxy_inputs = {k: v[galaxy] for k, v in known_inputs.items()}
        galaxy_inputs["wavelength_range"] = wavelength_range
        answer = {}
        for name, modality in modalities.items():
            predicted = {}
            for token_type in modality.token_types:
                pick = np.flatnonzero((rows == galaxy) & (types == model.token_types.index(token_type)))
                predicted[token_type] = (mean[pick], std[pick])
            answer[name] = modality.answer(predicted, asked[name], processor, model.config, galaxy_inputs)
        out.append(answer)
    return out


__all__ = ["claimed_targets", "predict_modalities"]
