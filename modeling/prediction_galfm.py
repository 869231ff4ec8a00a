"""Any-modality prediction with the pretraining decoder: give what you have of a galaxy, ask for what you lack.

`GalFMForPretraining.predict(records, targets=[...])` asks the masked any-to-any decoder the questions it was
trained on: the record's remaining data are encoded, and each requested token becomes a *query* (its wavelength,
band or property type, no value) that the decoder answers with a Gaussian mean and standard deviation. The
answers come back in the record's units:

* ``"spectrum"``: flux density (1e-17 erg/s/cm²/Å) on the processor's observed-frame grid, one value per pixel,
  optionally only inside ``wavelength_range``. With no input spectrum the normalisation is predicted too; when
  the record has a spectrum outside ``wavelength_range`` (e.g. the red half from the blue), the normalisation
  is that of the part given, so the answer is scaled by the visible part's median flux.
* a band name (``"jpas_J0660"``, ``"decam_r"``): flux in nanomaggies.
* a property name (``"ew_halpha"``, ``"redshift"``): its value in ``galfm.PROPERTIES`` units.

Whatever is asked for is removed from the input first, so the answer never echoes the record. The
uncertainty is the model's (its predicted variance), not the measurement noise of a survey.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .modeling_galfm import PHOTOMETRY_TOKEN, PROPERTY_TOKEN, SPECTRUM_NORM_TOKEN, SPECTRUM_TOKEN
from .processing_galfm import ASINH_MAG_SCALE, GalFMProcessor


def _split_targets(targets: Sequence[str], processor: GalFMProcessor) -> tuple[bool, list[str], list[str]]:
    spectrum, bands, properties = False, [], []
    for target in targets:
        if target == "spectrum":
            spectrum = True
        elif target in processor.filter_table:
            bands.append(target)
        elif target in processor.property_names:
            properties.append(target)
        else:
            raise ValueError(f"target {target!r}: not 'spectrum', a band the processor knows (e.g. jpas_J0660, "
                             f"decam_r) or a property ({', '.join(p for p in processor.property_names[:12])}, ...)")
    return spectrum, bands, properties


def _input_record(record: Mapping, spectrum: bool, wavelength_range, bands: list[str], properties: list[str]) -> dict:
    out = dict(record)
    if spectrum and record.get("spectrum") is not None:
        if wavelength_range is None:
            out["spectrum"] = None
        else:
            arms = record["spectrum"] if isinstance(record["spectrum"], (list, tuple)) else [record["spectrum"]]
            masked = []
            for arm in arms:
                wave = np.asarray(arm["wavelength"], float)
                hide = (wave >= wavelength_range[0]) & (wave <= wavelength_range[1])
                old = np.zeros(wave.size, bool) if arm.get("mask") is None else np.asarray(arm["mask"]).astype(bool)
                masked.append({**arm, "mask": old | hide})
            out["spectrum"] = masked
    if bands and record.get("photometry") is not None:
        phot = record["photometry"]
        keep = [i for i, b in enumerate(phot["band"]) if b not in bands]
        fields = [k for k in ("band", "flux", "flux_ivar", "flux_sigma") if phot.get(k) is not None]
        out["photometry"] = {k: [phot[k][i] for i in keep] for k in fields} if keep else None
    if properties and record.get("properties") is not None:
        out["properties"] = {k: v for k, v in record["properties"].items() if k not in properties}
    return out


def _query_record(processor: GalFMProcessor, spectrum: bool, wavelength_range, bands: list[str],
                  properties: list[str]) -> dict:
    """A record whose tokens sit where the answers go (values are placeholders the decoder never sees)."""
    record = {"object_id": "query", "spectrum": None, "photometry": None, "image": None, "properties": None}
    if spectrum:
        edges = processor.spectrum_grid_edges
        centers = np.sqrt(edges[:-1] * edges[1:])
        inside = np.ones(centers.size, bool) if wavelength_range is None else (
            (centers >= wavelength_range[0]) & (centers <= wavelength_range[1]))
        if not inside.any():
            raise ValueError(f"wavelength_range {wavelength_range} misses the processor grid "
                             f"({edges[0]:.0f}-{edges[-1]:.0f} A)")
        record["spectrum"] = {"wavelength": centers, "flux": np.ones(centers.size), "ivar": inside.astype(float)}
    if bands:
        record["photometry"] = {"band": bands, "flux": np.ones(len(bands)), "flux_ivar": np.ones(len(bands))}
    if properties:
        record["properties"] = {p: 0.0 for p in properties}
    return record


@torch.no_grad()
def predict_modalities(model, records: Mapping | Sequence[Mapping], targets: Sequence[str],
                       processor: GalFMProcessor | None = None,
                       wavelength_range: tuple[float, float] | None = None) -> list[dict]:
    """Per galaxy: {"spectrum": {wavelength, flux, flux_std}, "photometry": {band, flux, flux_std},
    "properties": {name: (value, std)}} for what was asked."""
    processor = processor or GalFMProcessor()
    records = [records] if isinstance(records, Mapping) else list(records)
    spectrum, bands, properties = _split_targets(targets, processor)
    model.eval()
    device = next(model.parameters()).device
    inputs = processor([_input_record(r, spectrum, wavelength_range, bands, properties) for r in records],
                       return_tensors="pt")
    query_one = _query_record(processor, spectrum, wavelength_range, bands, properties)
    queries = processor([query_one] * len(records), return_tensors="pt")
    inputs = {k: v.to(device) for k, v in inputs.items()}
    queries = {k: v.to(device) for k, v in queries.items()}

    emb, mask, _ = model.galfm.embed(**inputs)
    hidden, _, _ = model.galfm.encode(emb, mask)
    _, q_mask, q_types, q_where = model.galfm.embed(return_queries=True, **queries)
    # column 0 is the query batch's own galaxy token: the input's stands for the galaxy
    q_mask, q_types, q_where = q_mask[:, 1:], q_types[:, 1:], q_where[:, 1:]
    has_spectrum = inputs.get("spectrum_norm_mask")
    keep_norm = torch.ones_like(q_mask, dtype=torch.bool)
    if has_spectrum is not None:  # a spectrum was given: its own normalisation is used, not predicted
        keep_norm = ~((q_types == SPECTRUM_NORM_TOKEN) & has_spectrum.bool()[:, None])
    q_mask = q_mask.bool() & keep_norm
    state = torch.cat([hidden, (model.mask_token + model.query_projection(q_where)).to(hidden.dtype)], dim=1)
    attention = torch.cat([mask.bool(), q_mask], dim=1).long()
    for layer in model.decoder:
        state, _ = layer(state, attention)
    state = model.decoder_layernorm(state)[:, hidden.shape[1]:]
    rows, cols = torch.nonzero(q_mask, as_tuple=True)
    mean, log_var = model.masked_heads(state[rows, cols], q_types[rows, cols])
    mean, std = mean.float().cpu().numpy(), (0.5 * log_var.float().clamp(-12, 12)).exp().cpu().numpy()
    rows, cols, types = rows.cpu().numpy(), cols.cpu().numpy(), q_types[rows, cols].cpu().numpy()

    p = processor.spectrum_patch_size
    log_norm_given = None if has_spectrum is None else inputs["spectrum_norm"].cpu().numpy()
    out = []
    for g in range(len(records)):
        mine = rows == g
        answer: dict = {}
        if spectrum:
            token_rows = np.flatnonzero(mine & (types == SPECTRUM_TOKEN))
            norm_row = np.flatnonzero(mine & (types == SPECTRUM_NORM_TOKEN))
            if log_norm_given is not None and has_spectrum[g]:
                norm = 10.0 ** float(log_norm_given[g])
            else:
                norm = 10.0 ** float(mean[norm_row[0], 0])
            edges = processor.spectrum_grid_edges
            patches = np.flatnonzero(np.asarray(query_one["spectrum"]["ivar"]).reshape(-1, p).any(1))
            wave = np.concatenate([np.sqrt(edges[i * p:(i + 1) * p] * edges[i * p + 1:(i + 1) * p + 1])
                                   for i in patches])
            m, s = mean[token_rows, :p].ravel(), std[token_rows, :p].ravel()
            flux, flux_std = norm * np.sinh(m), norm * np.cosh(m) * s
            inside = np.ones(wave.size, bool) if wavelength_range is None else (
                (wave >= wavelength_range[0]) & (wave <= wavelength_range[1]))
            answer["spectrum"] = {"wavelength": wave[inside], "flux": flux[inside], "flux_std": flux_std[inside]}
        if bands:
            token_rows = np.flatnonzero(mine & (types == PHOTOMETRY_TOKEN))
            cfg, b = model.config, processor.photometry_softening_nmgy
            mag = cfg.photometry_mag_center + cfg.photometry_mag_scale * mean[token_rows, 0]
            mag_std = cfg.photometry_mag_scale * std[token_rows, 0]
            argument = (22.5 - mag) / ASINH_MAG_SCALE - math.log(b)
            answer["photometry"] = {"band": list(bands), "flux": 2 * b * np.sinh(argument),
                                    "flux_std": 2 * b * np.cosh(argument) * mag_std / ASINH_MAG_SCALE}
        if properties:
            token_rows = np.flatnonzero(mine & (types == PROPERTY_TOKEN))
            values = {}
            for name, row in zip(properties, token_rows):
                spec = processor.property_specs[name]
                z, dz = float(mean[row, 0]), float(std[row, 0])
                if spec["transform"] == "asinh":
                    values[name] = (spec["scale"] * math.sinh(z), spec["scale"] * math.cosh(z) * dz)
                else:
                    values[name] = (spec["center"] + spec["scale"] * z, spec["scale"] * dz)
            answer["properties"] = values
        out.append(answer)
    return out
