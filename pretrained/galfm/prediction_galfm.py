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
from typing import Any, Protocol

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


class QueryAnswering(Protocol):
    """What `predict_modalities` needs of a model (`GalFMForPretraining` is one)."""

    config: Any

    def parameters(self): ...

    def eval(self): ...

    def answer_queries(self, inputs: Mapping[str, torch.Tensor], queries: Mapping[str, torch.Tensor],
                       known: Mapping[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(mean, std, galaxy index, token type name) of each answered query token."""


def given_and_query_records(records: Sequence[Mapping], asked: Mapping[str, list[str]], processor: GalFMProcessor,
                            wavelength_range: tuple[float, float] | None) -> tuple[list[dict], dict]:
    """The records with what is asked removed, and one record whose tokens sit where the answers go."""
    modalities = {m.name: m for m in get_modalities(list(asked))}
    given = [{**record, **{name: modalities[name].hide(record.get(name), asked[name], wavelength_range)
                           for name in asked}} for record in records]
    query = {"object_id": "query", **{name: modalities[name].query(names, processor, wavelength_range)
                                      for name, names in asked.items()}}
    return given, query


@torch.no_grad()
def predict_modalities(model: QueryAnswering, records: Mapping | Sequence[Mapping], targets: Sequence[str],
                       processor: GalFMProcessor | None = None,
                       wavelength_range: tuple[float, float] | None = None) -> list[dict]:
    """Per galaxy: {"spectrum": {wavelength, flux, flux_std}, "photometry": {band, flux, flux_std},
    "properties": {name: (value, std)}} for what was asked."""
    processor = processor or GalFMProcessor()
    records = [records] if isinstance(records, Mapping) else list(records)
    asked = claimed_targets(targets, processor)
    modalities = get_modalities(list(asked))
    model.eval()
    device = next(model.parameters()).device
    given, query = given_and_query_records(records, asked, processor, wavelength_range)
    inputs = {k: v.to(device) for k, v in processor(given, return_tensors="pt").items()}
    queries = {k: v.to(device) for k, v in processor([query] * len(records), return_tensors="pt").items()}
    known = {t: mask for m in modalities for t, mask in m.known_from_input(inputs).items()}
    mean, std, galaxies, types = model.answer_queries(inputs, queries, known)

    known_inputs = {k: v.cpu().numpy() for k, v in inputs.items()}
    out = []
    for galaxy in range(len(records)):
        galaxy_inputs = {**{k: v[galaxy] for k, v in known_inputs.items()}, "wavelength_range": wavelength_range}
        answer = {}
        for modality in modalities:
            predicted = {}
            for token_type in modality.token_types:
                pick = np.flatnonzero((galaxies == galaxy) & (types == token_type))
                predicted[token_type] = (mean[pick], std[pick])
            answer[modality.name] = modality.answer(predicted, asked[modality.name], processor, model.config,
                                                    galaxy_inputs)
        out.append(answer)
    return out


__all__ = ["QueryAnswering", "claimed_targets", "given_and_query_records", "predict_modalities"]
