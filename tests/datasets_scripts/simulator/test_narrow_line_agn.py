"""Seyferts and LINERs: their line ratios where Kewley et al. (2001, 2006) and Kauffmann et al. (2003) put them."""

from __future__ import annotations

import numpy as np
import pytest

from galfm.datasets_scripts.simulator import simulate
from galfm.datasets_scripts.simulator.narrow_line_agn import NARROW_LINE_RATIOS


def above_kewley_2001(n2: np.ndarray, o3: np.ndarray) -> np.ndarray:
    """Above the maximum-starburst line of Kewley et al. (2001) in log [N II]/H alpha, log [O III]/H beta."""
    return (n2 >= 0.47) | (o3 > 0.61 / (n2 - 0.47) + 1.19)


def above_kauffmann_2003(n2: np.ndarray, o3: np.ndarray) -> np.ndarray:
    """Above the empirical star-forming boundary of Kauffmann et al. (2003)."""
    return (n2 >= 0.05) | (o3 > 0.61 / (n2 - 0.05) + 1.3)


@pytest.mark.parametrize("kind", ["seyfert", "liner"])
def test_the_class_ratios_sit_in_their_bpt_regions(kind):
    lines = NARROW_LINE_RATIOS[kind]
    n2 = np.log10(lines["N  2  6583.45A"] / lines["H  1  6562.80A"])
    o3 = np.log10(lines["O  3  5006.84A"] / lines["H  1  4861.32A"])
    s2 = np.log10((lines["S  2  6716.44A"] + lines["S  2  6730.82A"]) / lines["H  1  6562.80A"])
    assert above_kewley_2001(np.array([n2]), np.array([o3]))[0]
    seyfert_side = o3 > 1.89 * s2 + 0.76  # Kewley et al. (2006): Seyferts above, LINERs below
    assert seyfert_side == (kind == "seyfert")


@pytest.fixture(scope="module")
def survey():
    return list(simulate(400, seed=2, surveys=("desi",)))


def _bpt(records):
    p = [r["properties"] for r in records]
    return (np.log10([q["flux_nii_6584"] / q["flux_halpha"] for q in p]),
            np.log10([q["flux_oiii_5007"] / q["flux_hbeta"] for q in p]))


def test_hosts_leave_the_star_forming_branch_and_the_rest_stay_on_it(survey):
    """What a real SDSS sample shows: star-forming galaxies below Kauffmann et al.'s line, AGN hosts mostly above
    (composites where the host's own lines are as bright)."""
    measurable = [r for r in survey if r["properties"]["ew_halpha"] > 1 and r["properties"]["flux_hbeta"] > 0]
    hosts = [r for r in measurable if any(f.startswith("narrow_line_agn=") for f in r["flags"])]
    plain = [r for r in measurable if not r["flags"]]
    assert len(hosts) > 20 and len(plain) > 100
    assert np.mean(above_kauffmann_2003(*_bpt(plain))) < 0.1
    assert np.mean(above_kauffmann_2003(*_bpt(hosts))) > 0.6
    masses = np.array([r["properties"]["log_mstar"] for r in survey])
    flagged = np.array([bool(r["flags"]) for r in survey])
    assert not flagged[masses < 10].any() and 0.1 < flagged[masses > 10.8].mean() < 0.5
