"""Joining one object's records from several surveys into one multimodal record, by sky position.

``crossmatch(primary, *others, radius_arcsec=1.0)``: each record of ``primary`` is joined with the nearest
record of each other catalogue within the radius (astropy ``SkyCoord``). Nothing is dropped silently: records
that match nothing, records without a position, and ambiguous cases (two or more candidates within the radius,
or one candidate claimed by two primaries) are returned in the result's ``unmatched`` and ``ambiguous`` lists,
and ambiguous candidates are not merged.

Merging: the primary's identity and position; ids and surveys joined with '+'; the first spectrum and image
found; photometry bands concatenated (a band measured twice keeps the more precise value, and the other is
noted in ``conflicts``); properties merged with the primary's values winning; flags united.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord


@dataclass
class CrossmatchResult:
    records: list[dict[str, Any]]
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    ambiguous: list[tuple[str, list[str]]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.records)} records, {len(self.unmatched)} unmatched, {len(self.ambiguous)} ambiguous, "
                f"{len(self.conflicts)} conflicts")


def _coords(records: Sequence[dict]) -> tuple[SkyCoord | None, np.ndarray]:
    index = np.array([i for i, r in enumerate(records) if r.get("ra") is not None and r.get("dec") is not None])
    if index.size == 0:
        return None, index
    return SkyCoord([records[i]["ra"] for i in index] * u.deg, [records[i]["dec"] for i in index] * u.deg), index


def _merge(base: dict[str, Any], other: dict[str, Any], conflicts: list[str]) -> dict[str, Any]:
    merged = dict(base)
    merged["object_id"] = f"{base['object_id']}+{other['object_id']}"
    merged["survey"] = f"{base['survey']}+{other['survey']}"
    for key in ("spectrum", "image"):
        if merged.get(key) is None:
            merged[key] = other.get(key)
        elif other.get(key) is not None:
            conflicts.append(f"{merged['object_id']}: two {key}s; kept {base['survey']}'s")
    phot_a, phot_b = base.get("photometry"), other.get("photometry")
    if phot_a is None or phot_b is None:
        merged["photometry"] = phot_a or phot_b
    else:
        bands = {b: (f, v) for b, f, v in zip(phot_a["band"], phot_a["flux"], phot_a["flux_ivar"])}
        for b, f, v in zip(phot_b["band"], phot_b["flux"], phot_b["flux_ivar"]):
            if b in bands:
                same = np.isclose(f, bands[b][0], rtol=1e-4) and np.isclose(v, bands[b][1], rtol=1e-3)
                if not same:
                    conflicts.append(f"{merged['object_id']}: {b} measured twice, differently; kept the higher ivar")
                if v <= bands[b][1]:
                    continue
            bands[b] = (f, v)
        merged["photometry"] = {"band": list(bands), "flux": np.array([v[0] for v in bands.values()], np.float32),
                                "flux_ivar": np.array([v[1] for v in bands.values()], np.float32)}
    props = {k: v for k, v in (other.get("properties") or {}).items() if v is not None}
    props.update({k: v for k, v in (base.get("properties") or {}).items() if v is not None})
    merged["properties"] = props or None
    merged["flags"] = sorted(set(base.get("flags") or []) | set(other.get("flags") or [])) or None
    return merged


def crossmatch(primary: Sequence[dict], *others: Sequence[dict], radius_arcsec: float = 1.0) -> CrossmatchResult:
    """Join each primary record with its unique counterpart (within ``radius_arcsec``) in each other catalogue."""
    radius = radius_arcsec * u.arcsec
    result = CrossmatchResult(records=[dict(r) for r in primary])
    base_coords, base_index = _coords(primary)
    positioned = set(base_index.tolist())
    result.unmatched.extend(r for i, r in enumerate(primary) if i not in positioned)
    for catalogue in others:
        coords, index = _coords(catalogue)
        positioned = set(index.tolist())
        used = np.zeros(len(catalogue), dtype=bool)
        result.unmatched.extend(r for i, r in enumerate(catalogue) if i not in positioned)
        if coords is not None and base_coords is not None:
            # pairs within the radius: indices into this catalogue's and the primaries' coordinates
            idx_other, idx_base, _, _ = base_coords.search_around_sky(coords, radius)
            candidates: dict[int, list[int]] = {}
            for o, b in zip(idx_other, idx_base):
                candidates.setdefault(int(b), []).append(int(o))
            claimed: dict[int, list[int]] = {}
            for b, cands in candidates.items():
                if len(cands) == 1:
                    claimed.setdefault(cands[0], []).append(b)
            for b, cands in candidates.items():
                primary_record = result.records[base_index[b]]
                if len(cands) > 1 or len(claimed.get(cands[0], [])) > 1:
                    result.ambiguous.append((primary_record["object_id"],
                                             [catalogue[index[o]]["object_id"] for o in cands]))
                    continue
                result.records[base_index[b]] = _merge(primary_record, catalogue[index[cands[0]]], result.conflicts)
                used[index[cands[0]]] = True
        ambiguous_ids = {i for _, ids in result.ambiguous for i in ids}
        result.unmatched.extend(r for i, r in enumerate(catalogue)
                                if i in positioned and not used[i] and r["object_id"] not in ambiguous_ids)
        result.unmatched.extend(r for r in catalogue if r["object_id"] in ambiguous_ids and r not in result.unmatched)
    return result
