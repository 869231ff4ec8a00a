"""Narrow-line AGN (Seyfert 2) and LINER emission added to the galaxies' own lines.

Cloudy's HII-region lines place every simulated galaxy on the star-forming branch of the BPT diagram, while in
SDSS about half of the massive emission-line galaxies lie above it: Seyferts and LINERs, whose lines are excited
by an AGN or by old stars (Kauffmann et al. 2003; Kewley et al. 2006). A spectrum model trained without them has
never seen [N II] / H alpha ~ 1. Here a galaxy with log M* >= 10 hosts such a narrow-line region with a
probability rising to ``NLR_FRACTION_MAX`` at log M* = 11 (Kauffmann et al. 2003's AGN fractions by mass):
quenched hosts get LINER ratios, star-forming hosts Seyfert ratios in ``SEYFERT_SHARE`` of cases and LINER ratios
otherwise. Its H alpha equivalent width (against the host's continuum) is drawn log-uniformly in the class's range;
the other lines follow the class's typical ratios (the centres of the Seyfert and LINER branches of Kewley et al.
2006: log [O III]/H beta 0.9 and 0.2, log [N II]/H alpha 0.0 and 0.1, log [S II]/H alpha -0.25 and -0.1,
log [O I]/H alpha -1.0 and -0.6; H alpha / H beta 2.86, case B; [O II] 3727 / H beta 3 and 5), dimmed by the
galaxy's diffuse dust. The record carries the flag ``narrow_line_agn=seyfert`` or ``=liner``.
"""

from __future__ import annotations

import numpy as np

from galfm.properties_galfm import EMISSION_LINES

from .sed import AV_TO_TAU, GalaxySED, RestFrameSED, continuum_beside

NLR_FRACTION_MAX = 0.4
SEYFERT_SHARE = 0.3
HALPHA_EW_RANGE = {"seyfert": (3.0, 60.0), "liner": (0.5, 5.0)}  # Angstrom, log-uniform

BALMER = 1.0 / 2.86  # H beta / H alpha, case B
NARROW_LINE_RATIOS: dict[str, dict[str, float]] = {
    # Cloudy line label -> intrinsic flux relative to H alpha; doublets split by their low-density ratios
    # ([O II] 3729/3726 = 1.3, [S II] 6717/6731 = 1.4) and the fixed 3:1 of [O III] 5007/4959 and [N II] 6584/6548.
    "seyfert": {"H  1  6562.80A": 1.0, "H  1  4861.32A": BALMER,
                "O  3  5006.84A": 10**0.9 * BALMER, "O  3  4958.91A": 10**0.9 * BALMER / 2.98,
                "N  2  6583.45A": 1.0, "N  2  6548.05A": 1.0 / 3.05,
                "S  2  6716.44A": 10**-0.25 * 1.4 / 2.4, "S  2  6730.82A": 10**-0.25 / 2.4,
                "O  1  6300.30A": 10**-1.0,
                "O  2  3726.03A": 3.0 * BALMER / 2.3, "O  2  3728.81A": 3.0 * BALMER * 1.3 / 2.3},
    "liner": {"H  1  6562.80A": 1.0, "H  1  4861.32A": BALMER,
              "O  3  5006.84A": 10**0.2 * BALMER, "O  3  4958.91A": 10**0.2 * BALMER / 2.98,
              "N  2  6583.45A": 10**0.1, "N  2  6548.05A": 10**0.1 / 3.05,
              "S  2  6716.44A": 10**-0.1 * 1.4 / 2.4, "S  2  6730.82A": 10**-0.1 / 2.4,
              "O  1  6300.30A": 10**-0.6,
              "O  2  3726.03A": 5.0 * BALMER / 2.3, "O  2  3728.81A": 5.0 * BALMER * 1.3 / 2.3},
}


def draw_narrow_line_regions(rng: np.random.Generator, log_mstar: np.ndarray, quenched: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray]:
    """(class per galaxy: "seyfert", "liner" or None; H alpha EW in Angstrom, 0 without one)."""
    n = log_mstar.size
    hosts = rng.random(n) < NLR_FRACTION_MAX * np.clip(log_mstar - 10.0, 0.0, 1.0)
    seyfert = ~quenched & (rng.random(n) < SEYFERT_SHARE)
    kind = np.where(hosts, np.where(seyfert, "seyfert", "liner"), None).astype(object)
    ew = np.zeros(n)
    for name, (low, high) in HALPHA_EW_RANGE.items():
        rows = kind == name
        ew[rows] = np.exp(rng.uniform(np.log(low), np.log(high), rows.sum()))
    return kind, ew


def add_narrow_line_regions(sed: RestFrameSED, model: GalaxySED, kind: np.ndarray, halpha_ew: np.ndarray,
                            av: np.ndarray) -> np.ndarray:
    """Add each host's narrow lines to ``sed`` (lines and spectrum, in place); returns the rows changed."""
    rows = np.flatnonzero([k is not None for k in kind])
    if rows.size == 0:
        return rows
    labels = model.grid.line_labels
    halpha = labels.index("H  1  6562.80A")
    continuum = continuum_beside(sed, model.wavelength, EMISSION_LINES["halpha"])[rows]  # after dust
    ratios = {name: np.zeros(len(labels)) for name in NARROW_LINE_RATIOS}
    for name, lines in NARROW_LINE_RATIOS.items():
        ratios[name][[labels.index(label) for label in lines]] = list(lines.values())
    # intrinsic H alpha set so that its observed EW is as drawn
    added = np.stack([ratios[name] for name in kind[rows]]) * (halpha_ew[rows] * continuum)[:, None]
    dimming = np.exp(-AV_TO_TAU * np.asarray(av, dtype=float)[rows, None]
                     * (model.line_dust_curve[None, :] - model.line_dust_curve[None, [halpha]]))
    added *= dimming  # each line dimmed by the diffuse dust relative to H alpha (whose EW was drawn as observed)
    sed.line_luminosity[rows] += added
    sed.luminosity[rows] += np.asarray((model.line_to_pixels.T @ added.T).T, dtype=np.float32)
    return rows
