"""Simulator speed against bagpipes, image rate, and peak memory of a survey streamed to shards.

    python benchmarks/bench_simulator.py [--n 2000] [--bagpipes 10] [--record]
    python benchmarks/bench_simulator.py --memory 100000 [--record]   # peak RSS writing N galaxies

Galaxies/s counts a DESI spectrum (velocity dispersion, resolution, noise) plus every photometric band the
simulator knows (J-PAS, GALEX, Legacy Survey, SDSS, Euclid) per galaxy; bagpipes' model_galaxy makes the same
outputs for the same galaxies (SFH as a 16-bin continuity history, same dust, nebular and redshift), timed in
the same run both as a fresh model per galaxy and through ``update()`` of one model (its fast path).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from astropy.cosmology import FlatLambdaCDM

from galfm.datasets_scripts.simulator.imaging import render_images
from galfm.datasets_scripts.simulator.instruments import IMAGING_SURVEYS, PHOTOMETRIC_SURVEYS, SPECTROGRAPHS
from galfm.datasets_scripts.simulator.photometry import maggies, photometry_grid
from galfm.datasets_scripts.simulator.priors import draw_population
from galfm.datasets_scripts.simulator.sed import GalaxySED, observed_flux_density
from galfm.filters_galfm import load_filter
from galfm.properties_galfm import SFH_AGE_BIN_EDGES_GYR
from galfm.training.benchmarking import record

RESULTS = Path(__file__).with_name("RESULTS.md")

COSMOLOGY = FlatLambdaCDM(H0=70, Om0=0.3)
BANDS = tuple(b for s in PHOTOMETRIC_SURVEYS.values() for b in s.bands)


def ours(model: GalaxySED, pop, batch: int = 128) -> float:
    desi = SPECTROGRAPHS["desi"]
    rng = np.random.default_rng(0)
    grid = photometry_grid()
    start = time.perf_counter()
    for lo in range(0, len(pop.params), batch):
        params = pop.params.subset(slice(lo, lo + batch))
        rest = model.rest_frame(params)
        flux = desi.observe_noiseless(rest, params.vdisp, model.grid.edges)
        desi.add_noise(flux, rng)
        maggies(observed_flux_density(rest.luminosity, rest.redshift, rest.luminosity_distance_cm, grid,
                                      model.grid.edges), BANDS)
    return time.perf_counter() - start


def bagpipes_components(params, g: int) -> dict:
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    t_univ = COSMOLOGY.age(params.redshift[g]).value
    n_bins = int(np.sum(edges[:-1] < t_univ))
    upper = np.minimum(edges[1:n_bins + 1], t_univ)
    sfr = np.maximum(params.mass_formed[g, :n_bins], 1e-3) / (upper - edges[:n_bins])
    continuity = {"bin_edges": [*(edges[:n_bins] * 1e3), t_univ * 1e3 * 0.999],
                  "massformed": np.log10(params.mass_formed[g].sum()),
                  "metallicity": float(10 ** params.log_z[g, 0])}
    for i in range(1, n_bins):
        continuity[f"dsfr{i}"] = float(np.log10(sfr[n_bins - 1 - i] / sfr[n_bins - i]))
    return {"redshift": float(params.redshift[g]), "continuity": continuity, "t_bc": 0.01,
            "veldisp": float(params.vdisp[g]),
            "dust": {"type": "Calzetti", "Av": float(params.av[g]), "eta": float(params.eta[g])},
            "nebular": {"logU": float(params.log_u[g])}}


def bagpipes_timings(pop, n: int) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import bagpipes
    folder = Path(tempfile.mkdtemp())
    filt_list = []
    for band in BANDS:
        curve = load_filter(band)
        np.savetxt(folder / f"{band}.dat", np.c_[curve.wavelength, curve.response])
        filt_list.append(str(folder / f"{band}.dat"))
    wavs = SPECTROGRAPHS["desi"].wavelength
    start = time.perf_counter()
    for g in range(n):
        model = bagpipes.model_galaxy(bagpipes_components(pop.params, g), filt_list=filt_list, spec_wavs=wavs)
    fresh = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for g in range(n):
        model.update(bagpipes_components(pop.params, g))
    return fresh, (time.perf_counter() - start) / n


def images_per_second(pop, n: int) -> float:
    survey = IMAGING_SURVEYS["legacysurvey"]
    start = time.perf_counter()
    for g in range(n):
        render_images(survey, np.ones(3), pop.r_eff_arcsec[g], pop.bulge_to_total[g], pop.disk_axis_ratio[g],
                      pop.bulge_axis_ratio[g], pop.position_angle_deg[g])
    return n / (time.perf_counter() - start)


def end_to_end_seconds(n: int, num_proc: int) -> float:
    """Wall time of `galfm simulate --n n --surveys desi,jpas` as a user runs it: start-up, flux-limited selection,
    noise and Parquet shards."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("galfm")), "simulate", "--n", str(n), "--surveys",
                        "desi,jpas", "--num-proc", str(num_proc), "--out", out], capture_output=True, check=True)
        return time.perf_counter() - start


def memory_run(n: int, num_proc: int) -> str:
    """Peak RSS (parent and workers) of `galfm simulate` writing n galaxies to a temporary folder."""
    with tempfile.TemporaryDirectory() as out:
        code = ("import resource, sys; from galfm.cli import main; "
                f"main(['simulate', '--n', '{n}', '--surveys', 'desi,jpas,galex', '--num-proc', '{num_proc}', "
                f"'--out', '{out}']); "
                "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
                "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(out).rglob("*.parquet")) / 1e9
    self_kb, child_kb = (int(v) for v in result.stdout.split("PEAK")[1].split())
    return (f"| peak memory, {n} galaxies (desi,jpas,galex) streamed to shards, {num_proc} proc | "
            f"{max(self_kb, child_kb) / 1e6:.2f} GB per process ({seconds:.0f} s, {size:.2f} GB of Parquet) |\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="galaxies timed for galfm")
    parser.add_argument("--bagpipes", type=int, default=10, help="galaxies timed for bagpipes")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--memory", type=int, default=0, help="also measure peak memory writing this many galaxies")
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--end-to-end", type=int, default=3000, help="galaxies of the timed `galfm simulate` runs")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()

    start = time.perf_counter()
    model = GalaxySED(COSMOLOGY)
    model.rest_frame(draw_population(np.random.default_rng(1), 4, COSMOLOGY, model.grid.bin_live_fraction[4]).params)
    setup = time.perf_counter() - start
    pop = draw_population(np.random.default_rng(0), args.n, COSMOLOGY, model.grid.bin_live_fraction[4])
    ours_per_gal = ours(model, pop) / args.n
    fresh, update = bagpipes_timings(pop, args.bagpipes)
    rate = images_per_second(pop, args.images)
    whole = {p: end_to_end_seconds(args.end_to_end, p) for p in (1, args.num_proc)}
    table = (f"Command: `python benchmarks/bench_simulator.py --n {args.n} --bagpipes {args.bagpipes}"
             f"{' --memory ' + str(args.memory) if args.memory else ''}` (1 process unless said; {len(BANDS)} bands + "
             "a DESI spectrum per galaxy)\n\n| measure | value |\n|---|---|\n"
             f"| galfm simulator | {1 / ours_per_gal:,.0f} galaxies/s ({ours_per_gal * 1e3:.2f} ms/galaxy) |\n"
             f"| bagpipes model_galaxy, update() per galaxy | {1 / update:,.1f} galaxies/s ({update * 1e3:.0f} ms) |\n"
             f"| bagpipes model_galaxy, new model per galaxy | {1 / fresh:,.2f} galaxies/s ({fresh * 1e3:.0f} ms) |\n"
             f"| speed-up vs update() / vs new model | {update / ours_per_gal:,.0f}x / {fresh / ours_per_gal:,.0f}x |\n"
             f"| one-time grid + IGM table build | {setup:.1f} s |\n"
             + "".join(f"| `galfm simulate --n {args.end_to_end} --surveys desi,jpas --num-proc {p}`, start-up "
                       f"included | {args.end_to_end / t:,.0f} galaxies/s ({t:.1f} s; "
                       f"{update * args.end_to_end / t:,.1f}x bagpipes update()) |\n" for p, t in whole.items())
             + f"| GalSim images (Legacy Survey g,r,z 64x64) | {rate:.1f} galaxies/s |\n")
    if args.memory:
        table += memory_run(args.memory, args.num_proc)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    table += f"| peak memory of this benchmark process | {peak_gb:.2f} GB |\n"
    print(table)
    if args.record:
        record(RESULTS, "bench_simulator", "Simulator (`python benchmarks/bench_simulator.py --record`)", table)


if __name__ == "__main__":
    main()
