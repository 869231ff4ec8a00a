"""The simulated survey: draw a population, shine it through the instruments, write galaxy records.

``simulate(n, seed, ...)`` yields schema-valid records; ``write_survey`` streams them into Hub-ready Parquet
shards (``data/{split}-00000-of-000NN.parquet``) plus a dataset card. Galaxies are made in chunks whose random
state depends only on (seed, chunk index), so the output is byte-identical for a seed whatever ``num_proc``.
The variants are the table ``VARIANTS`` below (what each one adds, also written into the dataset card).
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from astropy.cosmology import FLRW, Planck18
from tqdm.auto import tqdm

from galfm.properties_galfm import EMISSION_LINES, SFH_AGE_BIN_EDGES_GYR

from ..parquet_shards import ShardWriter
from ..schema import empty_properties
from .dataset_card import write_dataset_card
from .imaging import render_images
from .instruments import IMAGING_SURVEYS, KNOWN_SURVEYS, PHOTOMETRIC_SURVEYS, SPECTROGRAPHS
from .narrow_line_agn import add_narrow_line_regions, draw_narrow_line_regions
from .photometry import maggies, photometry_grid
from .priors import Population, draw_population, flux_limit_redshift
from .sed import GalaxySED, RestFrameSED, continuum_beside, observed_flux_density
from .selection import FluxLimit
from .stellar_populations import L_SUN_ERG_S, mass_weighted_log_z

VARIANTS: dict[str, str] = {
    "clean": "the instruments as documented in ``instruments.py``",
    "observed": "what a real survey adds (for domain adaptation): per-band zero-point offsets (0.03 mag rms, fixed "
                "per dataset), a flux-calibration tilt per spectrum ((lambda/6000 A)^alpha, alpha ~ N(0, 0.15)), "
                "sky-line residuals not reflected in the ivar, 0.3 mag shallower noise, a 20% broader PSF, 10% of "
                "bands missing at random; and flagged anomalies (``anomaly_fraction``, default 3%): QSO-like broad "
                "lines and power law, mergers (a second galaxy in the image), artefacts (satellite trail, spectral "
                "glitch). A QSO-like record keeps its host galaxy's labels.",
}
ANOMALY_KINDS = ("qso", "merger", "artefact")
SPLITS = ("train", "validation", "test")
OBSERVED_DEPTH_LOSS = 0.3  # mag shallower in the observed variant
MISSING_BAND_FRACTION = 0.1
SELECTION_BAND = "sdss_r"  # the flux limits are in SDSS r
MAX_CANDIDATE_BATCH = 8192  # candidates are cheap (`selection.FluxLimit`); only those kept get full SEDs


@dataclass
class SimulationConfig:
    """What to simulate. ``surveys`` picks the instruments (see ``instruments.KNOWN_SURVEYS``).

    The sample is two flux-limited selections: ``bright_fraction`` of the galaxies brighter than
    ``bright_r_limit`` (the SDSS main sample's r < 17.77, median z ~ 0.1, the galaxies of most archival spectra)
    and the rest brighter than ``r_limit`` (a deep survey, median z ~ 0.4).

    ``min_spectrum_snr`` (S/N per Angstrom, median over the spectrum) lowers the noise of fainter spectra to a
    S/N drawn log-uniformly between it and 2.5 times it: the setting of binned IFU data or deep spectra (the SFH
    network's MUSE spectra at S/N >= 20 per Angstrom); brighter spectra keep their own noise.
    """
    n: int = 20000
    seed: int = 0
    surveys: tuple[str, ...] = ("desi", "sdss", "jpas", "galex", "legacysurvey")
    variant: str = "clean"
    r_limit: float = 22.5
    bright_fraction: float = 0.3
    bright_r_limit: float = 17.77
    min_spectrum_snr: float | None = None
    anomaly_fraction: float | None = None  # default: 0 for clean, 0.03 for observed
    chunk_size: int = 128
    shard_size: int = 1000
    split_fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)
    cosmology: FLRW = field(default_factory=lambda: Planck18, repr=False)

    def __post_init__(self):
        self.surveys = tuple(s.strip().lower() for s in self.surveys if s.strip())
        unknown = sorted(set(self.surveys) - set(KNOWN_SURVEYS))
        if unknown:
            raise ValueError(f"surveys: unknown {unknown}; known: {', '.join(KNOWN_SURVEYS)}.")
        if not self.surveys:
            raise ValueError("surveys: name at least one survey, e.g. --surveys desi,jpas.")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant: {self.variant!r} is not one of {list(VARIANTS)}.")
        if not 0.0 <= self.bright_fraction <= 1.0:
            raise ValueError(f"bright_fraction: {self.bright_fraction} is not a fraction in [0, 1].")
        for name in ("r_limit", "bright_r_limit"):
            if not 10.0 < getattr(self, name) < 30.0:  # also refuses NaN
                raise ValueError(f"{name}: {getattr(self, name)} is not an AB magnitude limit in SDSS r (e.g. 17.77 "
                                 "for the SDSS main sample, 19.5 for DESI BGS Bright, 22.5 for a deep survey).")
        if self.min_spectrum_snr is not None and not self.min_spectrum_snr > 0:
            raise ValueError(f"min_spectrum_snr: {self.min_spectrum_snr} must be a positive S/N per Angstrom.")
        if self.n < 1:
            raise ValueError("n: simulate at least one galaxy.")
        if self.anomaly_fraction is None:
            self.anomaly_fraction = 0.03 if self.variant == "observed" else 0.0

    @property
    def split_sizes(self) -> dict[str, int]:
        n_val = int(round(self.n * self.split_fractions[1]))
        n_test = int(round(self.n * self.split_fractions[2]))
        return {"train": self.n - n_val - n_test, "validation": n_val, "test": n_test}

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n / self.chunk_size)



_SED_MODELS: dict[str, GalaxySED] = {}
_FLUX_LIMITS: dict[tuple[str, float], FluxLimit] = {}


def sed_model(cosmology: FLRW) -> GalaxySED:
    """One SED model per cosmology and process (the grids behind it take seconds to build)."""
    key = repr(cosmology)
    if key not in _SED_MODELS:
        _SED_MODELS[key] = GalaxySED(cosmology)
    return _SED_MODELS[key]


def _zero_points(config: SimulationConfig, bands: tuple[str, ...]) -> np.ndarray:
    """Per-band multiplicative calibration errors of the observed variant, fixed for a dataset."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2**31 - 1]))
    return 10 ** (-0.4 * rng.normal(0.0, 0.03, len(bands)))


def _add_qso(sed: RestFrameSED, rows: np.ndarray, rng: np.random.Generator, wavelength: np.ndarray) -> None:
    """A type-1 AGN: f_nu ~ nu^-0.5 power law as bright as 1-5x the host at 5100 A, broad (FWHM 4000 km/s)
    C IV, Mg II, H beta and H alpha lines with rest equivalent widths 60, 50, 100 and 400 A."""
    i5100 = np.searchsorted(wavelength, 5100.0)
    for g in rows:
        l5100 = sed.luminosity[g, i5100 - 20:i5100 + 20].mean() * rng.uniform(1.0, 5.0)
        agn = l5100 * (wavelength / 5100.0) ** -1.5
        for centre, ew in ((1549.0, 60.0), (2799.0, 50.0), (4862.7, 100.0), (6564.6, 400.0)):
            sigma = centre * 4000.0 / 299792.458 / 2.3548
            agn += ew * l5100 * (centre / 5100.0) ** -1.5 * np.exp(-0.5 * ((wavelength - centre) / sigma) ** 2) / (
                np.sqrt(2 * np.pi) * sigma)
        sed.luminosity[g] += agn.astype(np.float32)


def _line_equivalent_widths(sed: RestFrameSED, model: GalaxySED) -> dict[str, np.ndarray]:
    """Rest-frame EW (A, emission > 0) against the mean continuum 20-60 A either side of the line."""
    out = {}
    for name, centre in EMISSION_LINES.items():
        continuum = continuum_beside(sed, model.wavelength, centre)
        line = sed.line_luminosity[:, model.grid.line_index(name)].sum(axis=1)
        out[name] = line / np.maximum(continuum, 1e-30)
    return out


def _labels(pop, sed: RestFrameSED, model: GalaxySED, g: int, ews: dict, morphology: str) -> dict:
    p = pop.params
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    mass = p.mass_formed[g]
    t_univ = model.age_of_universe_yr(p.redshift[g]) / 1e9
    upper = np.minimum(edges[1:], t_univ)
    mid_age = 0.5 * (edges[:-1] + np.maximum(upper, edges[:-1]))
    log_mstar = float(np.log10(sed.stellar_mass[g]))
    sfr = float(mass[edges[1:] <= 0.1].sum() / 1e8)
    four_pi_d2 = 4 * np.pi * sed.luminosity_distance_cm[g] ** 2
    props = empty_properties()
    props.update({
        "redshift": float(p.redshift[g]), "log_mstar": log_mstar,
        "log_z": float(mass_weighted_log_z(mass, p.log_z[g])), "av": float(p.av[g]),
        "log_sfr": float(np.log10(max(sfr, 1e-10))), "log_ssfr": float(np.log10(max(sfr, 1e-10)) - log_mstar),
        "age_mw": float((mass * mid_age).sum() / mass.sum()), "vdisp": float(p.vdisp[g]),
        "bulge_to_total": float(pop.bulge_to_total[g]), "sersic_n": float(1.0 + 3.0 * pop.bulge_to_total[g]),
        "r_eff": float(pop.r_eff_arcsec[g]),
        "axis_ratio": float(pop.bulge_to_total[g] * pop.bulge_axis_ratio[g]
                            + (1 - pop.bulge_to_total[g]) * pop.disk_axis_ratio[g]),
        "inclination": float(pop.inclination_deg[g]),
        "sfh": (mass / mass.sum()).astype(np.float32).tolist(), "morphology": morphology,
    })
    for name in EMISSION_LINES:
        lum = sed.line_luminosity[g, model.grid.line_index(name)].sum() * L_SUN_ERG_S
        props[f"flux_{name}"] = float(lum / four_pi_d2 * 1e17)
        props[f"ew_{name}"] = float(ews[name][g])
    return props


def flux_limit(config: SimulationConfig, r_limit: float) -> FluxLimit:
    """One selection per (cosmology, limit) and process: its table takes a fraction of a second to build."""
    key = (repr(config.cosmology), r_limit)
    if key not in _FLUX_LIMITS:
        _FLUX_LIMITS[key] = FluxLimit(sed_model(config.cosmology), SELECTION_BAND, r_limit,
                                      flux_limit_redshift(config.cosmology, r_limit))
    return _FLUX_LIMITS[key]


def _flux_limited_sample(rng: np.random.Generator, m: int, config: SimulationConfig, model: GalaxySED,
                         r_limit: float):
    """Draw candidates until ``m`` are brighter than ``r_limit`` (SDSS r, noiseless): a flux-limited survey
    (`selection.FluxLimit`: only the galaxies kept get their full SEDs).

    Returns the population, its rest-frame SEDs and their observed f_lambda on ``photometry_grid()``."""
    pops, found, drawn = [], 0, 0
    limit = flux_limit(config, r_limit)
    while drawn < 200 * m:
        # candidates in batches sized by the acceptance so far (a few batches, not tens of small ones)
        acceptance = max(found, 1) / drawn if drawn else 0.05
        batch = int(min(max(1.3 * (m - found) / acceptance, 16), 200 * m - drawn, MAX_CANDIDATE_BATCH))
        pop = draw_population(rng, batch, config.cosmology, model.grid.bin_live_fraction[4], r_limit)
        drawn += batch
        keep = limit.passes(pop.params, at_most=m - found)
        if keep.size:
            pops.append(pop.subset(keep))
            found += keep.size
        if found == m:
            pop = Population.concatenate(pops)
            sed = model.rest_frame(pop.params)
            return pop, sed, observed_flux_density(sed.luminosity, sed.redshift, sed.luminosity_distance_cm,
                                                   photometry_grid(), model.grid.edges)
    raise RuntimeError(f"r_limit: fewer than {m} of {200 * m} candidates are brighter than r = {r_limit}; "
                       "raise --r-limit.")


def simulate_chunk(config: SimulationConfig, chunk: int) -> list[dict]:
    """The records of one chunk of galaxies (global indices chunk*chunk_size ...)."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, chunk]))
    first = chunk * config.chunk_size
    m = min(config.chunk_size, config.n - first)
    model = sed_model(config.cosmology)
    observed = config.variant == "observed"
    bright = int(rng.binomial(m, config.bright_fraction))
    samples = [_flux_limited_sample(rng, k, config, model, limit)
               for k, limit in ((bright, config.bright_r_limit), (m - bright, config.r_limit)) if k]
    pop = Population.concatenate([p for p, _, _ in samples])
    sed = RestFrameSED.concatenate([e for _, e, _ in samples])
    f_obs = np.concatenate([f for _, _, f in samples])
    # narrow-line AGN and LINERs from their own stream, so that the rest of the realisation does not depend on them
    nlr_kind, nlr_ew = draw_narrow_line_regions(np.random.default_rng(np.random.SeedSequence([config.seed, chunk, 1])),
                                                np.log10(sed.stellar_mass), pop.quenched)
    hosts = add_narrow_line_regions(sed, model, nlr_kind, nlr_ew, pop.params.av)
    if hosts.size:  # their light changed: observe it again
        f_obs[hosts] = observed_flux_density(sed.luminosity[hosts], sed.redshift[hosts],
                                             sed.luminosity_distance_cm[hosts], photometry_grid(), model.grid.edges)
    ews = _line_equivalent_widths(sed, model)

    anomaly = np.array([None] * m, dtype=object)
    is_anomalous = rng.random(m) < config.anomaly_fraction
    anomaly[is_anomalous] = rng.choice(ANOMALY_KINDS, is_anomalous.sum())
    qso = np.flatnonzero(anomaly == "qso")
    _add_qso(sed, qso, rng, model.wavelength)
    if qso.size:  # their light changed: observe it again
        f_obs[qso] = observed_flux_density(sed.luminosity[qso], sed.redshift[qso], sed.luminosity_distance_cm[qso],
                                           photometry_grid(), model.grid.edges)

    bands, band_flux, photometry = _observe_photometry(config, f_obs, rng, observed, pop.r_eff_arcsec)
    spectra = _observe_spectra(config, sed, model, pop, rng, observed, anomaly)

    imaging = next((IMAGING_SURVEYS[s] for s in config.surveys if s in IMAGING_SURVEYS), None)
    records = []
    for g in range(m):
        morphology = "elliptical" if pop.bulge_to_total[g] >= 0.6 else (
            "lenticular" if pop.quenched[g] else "spiral")
        if anomaly[g] == "merger":
            morphology = "merger"
        record = {"object_id": f"sim{config.seed}-{first + g:08d}", "survey": f"simulated-{config.variant}",
                  "ra": float(pop.ra[g]), "dec": float(pop.dec[g]), "spectrum": spectra.get(g), "photometry": None,
                  "image": None, "properties": _labels(pop, sed, model, g, ews, morphology),
                  "anomaly": None if anomaly[g] is None else str(anomaly[g]),
                  "flags": [f"narrow_line_agn={nlr_kind[g]}"] if nlr_kind[g] is not None else []}
        if bands:
            measured, sigma, present = photometry
            keep = present[g]
            record["photometry"] = {"band": [b for b, k in zip(bands, keep) if k],
                                    "flux": measured[g, keep].astype(np.float32),
                                    "flux_ivar": (1.0 / sigma[keep] ** 2).astype(np.float32)}
        if imaging is not None:
            record["image"] = _image_record(imaging, band_flux, bands, pop, g, anomaly[g], rng, observed)
        records.append(record)
    return records


def _observe_photometry(config: SimulationConfig, f_obs: np.ndarray, rng: np.random.Generator, observed: bool,
                        r_eff_arcsec: np.ndarray):
    """(bands, noiseless total nanomaggies (G, B), (measured, sigma, present)) over every requested photometric
    survey, from observed f_lambda on ``photometry_grid()``; a fibre survey measures its fibre's share."""
    surveys = [PHOTOMETRIC_SURVEYS[s] for s in config.surveys if s in PHOTOMETRIC_SURVEYS]
    bands = tuple(b for s in surveys for b in s.bands)
    if not bands:
        return bands, None, None
    band_flux = maggies(f_obs, bands) * 1e9
    sigma = np.concatenate([s.sigma_nanomaggies(OBSERVED_DEPTH_LOSS if observed else 0.0) for s in surveys])
    aperture = np.concatenate([np.repeat(s.aperture_fraction(r_eff_arcsec)[:, None], len(s.bands), axis=1)
                               for s in surveys], axis=1)
    measured = band_flux * aperture * (_zero_points(config, bands) if observed else 1.0)
    measured = measured + rng.standard_normal(measured.shape) * sigma
    present = rng.random(measured.shape) >= MISSING_BAND_FRACTION if observed else np.ones(measured.shape, bool)
    return bands, band_flux, (measured, sigma, present)


def _observe_spectra(config: SimulationConfig, sed: RestFrameSED, model: GalaxySED, pop, rng: np.random.Generator,
                     observed: bool, anomaly: np.ndarray) -> dict[int, dict]:
    """Each galaxy's spectrum from one of the requested spectrographs (chosen at random when several)."""
    spectrographs = [SPECTROGRAPHS[s] for s in config.surveys if s in SPECTROGRAPHS]
    spectra = {}
    if not spectrographs:
        return spectra
    choice = rng.integers(0, len(spectrographs), len(pop.params))
    for k, spec in enumerate(spectrographs):
        rows = np.flatnonzero(choice == k)
        if rows.size == 0:
            continue
        flux = spec.observe_noiseless(sed.subset(rows), pop.params.vdisp[rows], model.grid.edges)
        flux *= spec.aperture_fraction(pop.r_eff_arcsec[rows]).astype(np.float32)[:, None]
        if observed:  # flux-calibration tilt
            flux *= (spec.wavelength[None, :] / 6000.0) ** rng.normal(0.0, 0.15, rows.size)[:, None]
        noise_factor = np.full((rows.size, 1), 10 ** (0.4 * OBSERVED_DEPTH_LOSS) if observed else 1.0)
        if config.min_spectrum_snr is not None:
            noise_factor = noise_factor * _snr_floor_factor(spec, flux, noise_factor, config.min_spectrum_snr, rng)
        noisy, ivar, mask = spec.add_noise(flux, rng, noise_factor)
        sky = spec.noise_sigma()
        if observed:  # sky-line residuals the ivar does not know about
            sky_lines = sky > 2.0 * np.median(sky)
            noisy[:, sky_lines] += 0.5 * sky[sky_lines] * rng.standard_normal((rows.size, sky_lines.sum()))
        lsf = spec.lsf_sigma_angstrom().astype(np.float32)
        for j, g in enumerate(rows):
            if anomaly[g] == "artefact":  # a 40-pixel glitch
                start = rng.integers(0, spec.wavelength.size - 40)
                noisy[j, start:start + 40] += 20 * float(np.median(sky))
            spectra[g] = {"wavelength": spec.wavelength, "flux": noisy[j], "ivar": ivar[j], "mask": mask[j],
                          "lsf_sigma": lsf}
    return spectra


def _snr_floor_factor(spec, flux: np.ndarray, noise_factor: np.ndarray, floor: float,
                      rng: np.random.Generator) -> np.ndarray:
    """Per spectrum (G, 1): the noise scale (<= 1) that lifts its median S/N per Angstrom to a log-uniform draw in
    [floor, 2.5 floor] when it is below that."""
    sigma = spec.noise_sigma()[None, :] * noise_factor
    per_angstrom = np.median(flux / sigma / np.sqrt(np.gradient(spec.wavelength))[None, :], axis=1)
    target = floor * 10 ** rng.uniform(0.0, np.log10(2.5), flux.shape[0])
    return np.minimum(1.0, np.maximum(per_angstrom, 1e-6) / target)[:, None]


def _image_record(imaging, band_flux, bands, pop, g, anomaly, rng, observed) -> dict:
    if band_flux is None or any(b not in bands for b in imaging.bands):
        raise ValueError(f"surveys: images of {imaging.name} need its photometry; add {imaging.name} to --surveys.")
    flux = np.array([band_flux[g, bands.index(b)] for b in imaging.bands])
    companion = None
    if anomaly == "merger":
        companion = (rng.uniform(0.3, 1.0), rng.uniform(-3, 3) * pop.r_eff_arcsec[g] + 1.0,
                     rng.uniform(-3, 3) * pop.r_eff_arcsec[g])
    psf_scale = 1.2 if observed else 1.0
    image = render_images(imaging, flux, pop.r_eff_arcsec[g], pop.bulge_to_total[g], pop.disk_axis_ratio[g],
                          pop.bulge_axis_ratio[g], pop.position_angle_deg[g], companion, psf_scale)
    sigma = imaging.pixel_sigma(OBSERVED_DEPTH_LOSS if observed else 0.0, psf_scale).astype(np.float32)
    image += rng.standard_normal(image.shape, dtype=np.float32) * sigma[:, None, None]
    if anomaly == "artefact":  # a satellite trail across every band
        row = rng.integers(0, imaging.size)
        image[:, row, :] += 30 * sigma[:, None]
    ivar = np.broadcast_to((1.0 / sigma**2)[:, None, None], image.shape).astype(np.float32)
    return {"band": list(imaging.bands), "flux": image, "ivar": ivar, "pixel_scale": imaging.pixel_scale,
            "psf_fwhm": (np.asarray(imaging.psf_fwhm) * psf_scale).astype(np.float32)}


def _chunk_worker(args) -> list[dict]:
    config, chunk = args
    return simulate_chunk(config, chunk)


def iterate_chunks(config: SimulationConfig, num_proc: int = 1, chunks: range | None = None
                   ) -> Iterator[list[dict]]:
    """Chunks of records in global order (all, or those in ``chunks``); ``num_proc`` > 1 computes them in worker
    processes."""
    tasks = [(config, c) for c in (chunks if chunks is not None else range(config.n_chunks))]
    if num_proc <= 1:
        for task in tasks:
            yield _chunk_worker(task)
        return

    for r_limit in (config.bright_r_limit, config.r_limit):  # build the grids once; forked workers share them
        flux_limit(config, r_limit)
    context = multiprocessing.get_context("fork")
    with context.Pool(num_proc) as pool:
        yield from pool.imap(_chunk_worker, tasks)


def simulate(n: int, seed: int = 0, surveys=("desi", "sdss", "jpas", "galex", "legacysurvey"), variant: str = "clean",
             **kwargs) -> Iterator[dict]:
    """Yield ``n`` simulated galaxy records (dicts of numpy arrays, the schema of ``GALAXY_FEATURES``)."""
    config = SimulationConfig(n=n, seed=seed, surveys=tuple(surveys), variant=variant, **kwargs)
    for chunk in iterate_chunks(config):
        yield from chunk


@dataclass(frozen=True)
class OutputShard:
    """One Parquet file of a survey: its split, its index among that split's files and its galaxies' global
    index range [start, stop)."""

    split: str
    index: int
    count: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.count:05d}.parquet"


def output_shards(config: SimulationConfig) -> list[OutputShard]:
    """Every file a survey of ``config`` is written as, in global galaxy order (train, validation, test)."""
    shards, start = [], 0
    for split in SPLITS:
        size = config.split_sizes[split]
        count = math.ceil(size / config.shard_size)
        for index in range(count):
            length = min(config.shard_size, size - index * config.shard_size)
            shards.append(OutputShard(split, index, count, start, start + length))
            start += length
    return shards


def part_shards(config: SimulationConfig, part: int = 0, parts: int = 1) -> list[OutputShard]:
    """The files part ``part`` of ``parts`` writes: a contiguous run of `output_shards`, so that ``parts`` jobs
    (a Slurm array, any batch system) write together exactly the files, byte for byte, of one job."""
    if not 0 <= part < parts:
        raise ValueError(f"part {part} of {parts}: give 0 <= part < parts")
    shards = output_shards(config)
    bounds = np.linspace(0, len(shards), parts + 1).round().astype(int)
    return shards[bounds[part]:bounds[part + 1]]


def _records_in(config: SimulationConfig, start: int, stop: int, num_proc: int) -> Iterator[dict]:
    """Galaxies [start, stop) in global order, from the chunks that hold them (a chunk's random state depends
    only on (seed, chunk index))."""
    first, last = start // config.chunk_size, math.ceil(stop / config.chunk_size)
    index = first * config.chunk_size
    for records in iterate_chunks(config, num_proc, range(first, last)):
        for record in records:
            if start <= index < stop:
                yield record
            index += 1


def write_survey(config: SimulationConfig, out: str | Path, num_proc: int = 1, progress: bool = True,
                 part: int = 0, parts: int = 1) -> dict:
    """Write the survey as ``out/data/{split}-XXXXX-of-YYYYY.parquet`` + ``out/README.md``; return a summary.

    With ``parts`` > 1 only part ``part``'s files are written (and no card): run every part, on any machines,
    into one folder, then `finalize_survey` (``galfm simulate --finalize``) writes the card.
    """
    out = Path(out)
    shards = part_shards(config, part, parts)
    writer = ShardWriter(out, shard_size=config.shard_size, clear=parts == 1)
    total = sum(s.stop - s.start for s in shards)
    with tqdm(total=total, desc="simulating galaxies", unit="gal", disable=not progress) as bar:
        if shards:
            current = None
            for index, record in enumerate(_records_in(config, shards[0].start, shards[-1].stop, num_proc),
                                           start=shards[0].start):
                if current is None or index >= current.stop:
                    current = next(s for s in shards if s.start <= index < s.stop)
                    writer.start_file(current.name)
                writer.add_to_file(record)
                bar.update(1)
    writer.close()
    if parts == 1:
        return finalize_survey(config, out)
    return {"n": total, "files": [f"data/{s.name}" for s in shards], "part": part, "parts": parts}


def finalize_survey(config: SimulationConfig, out: str | Path) -> dict:
    """Check that every file of the survey is there, count its anomalies and write the dataset card."""
    out = Path(out)
    expected = [f"data/{s.name}" for s in output_shards(config)]
    missing = [name for name in expected if not (out / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{out}: {len(missing)} of {len(expected)} survey files missing ({missing[0]}, ...): "
                                "run every --part first")
    anomalies = dict.fromkeys(ANOMALY_KINDS, 0)
    for name in expected:
        for kind in pq.read_table(out / name, columns=["anomaly"]).column("anomaly").to_pylist():
            if kind:
                anomalies[kind] += 1
    summary = {"n": config.n, "splits": config.split_sizes, "anomalies": anomalies, "files": sorted(expected)}
    write_dataset_card(out, config, summary, SPLITS, VARIANTS)
    return summary
