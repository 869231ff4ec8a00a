"""Real galaxies as the judge: every real spectrum at hand through a property head, against its catalogue.

Files: SDSS/BOSS ``spec-*.fits``, DESI ``coadd-*.fits`` (with their redrock files), ESO Phase 3 spectra
(LEGA-C), MaNGA ``LOGCUBE`` cubes (the 1.5"-radius aperture on the target, a drpall beside them for the
redshift), gzipped or not, from ``tests/data``, from the real spectra the ``ppxf`` package ships, or any folder
a user passes.
For each object: the catalogue redshift and class with its pipeline flag, and the head's redshift +- sigma
from the spectrum alone, from spectrum + photometry and from photometry alone. Secure objects (pipeline
redshift without a warning, class GALAXY) are the ones scored; QSOs are scored on whether they are flagged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from astropy.io import fits

from galfm.datasets_scripts.desi import read_coadd, redshift_file
from galfm.datasets_scripts.eso_phase3 import read_phase3_spectrum
from galfm.datasets_scripts.manga import MANGA_HDUS, read_manga_cube
from galfm.datasets_scripts.schema import redshift_is_flagged
from galfm.datasets_scripts.sdss import read_spec
from galfm.heads_galfm import REDSHIFT_SOURCES, GalFMForPropertyPrediction, load_head
from galfm.modalities import select_modalities
from galfm.processing_galfm import GalFMProcessor

# Catalogue redshifts of shipped files that carry none themselves: object -> (z, class, source).
CATALOGUE_REDSHIFTS: dict[str, tuple[float, str, str]] = {
    "eso-M19_56670": (0.6686, "GALAXY", "LEGA-C DR3 (van der Wel et al. 2021), as quoted by pPXF's LEGA-C example"),
}
INPUT_MODES: dict[str, tuple[str, ...]] = {
    "spectrum": ("spectrum",),
    "spectrum+photometry": ("spectrum", "photometry"),
    "photometry": ("photometry",),
}
R_BANDS = ("decam_r", "sdss_r", "jpas_rSDSS", "bass_r")
"""r-like bands, in the order a galaxy's r magnitude is taken from (the first it has): totals first; galfm's SDSS
ugriz are the spec files' fibre fluxes (CALIBFLUX), so an SDSS-only r is a fibre magnitude."""
FITS_PATTERNS = ("*.fits", "*.fits.gz", "*.fit")
"""The file names a folder of real spectra is searched for (survey files are often gzipped: MaNGA always)."""
TESTS_DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
"""The real files bundled with a source checkout (SDSS, DESI, Legacy Surveys, ...)."""


@dataclass
class RealGalaxy:
    """One real object: its record (labels removed before the model sees it) and what its catalogue says."""

    record: dict[str, Any]
    file: str
    catalogue_z: float | None
    catalogue_class: str
    secure: bool
    r_mag: float | None


def ppxf_spectra_dir() -> Path:
    """The folder of real spectra the ``ppxf`` package (a galfm dependency) ships: NGC 3073, NGC 3522, LEGA-C."""
    return Path(str(resources.files("ppxf") / "spectra"))


def _class_of(record: dict) -> str:
    for flag in record.get("flags") or ():
        key, _, value = str(flag).partition("=")
        if key in ("sdss_class", "desi_spectype", "manga_class"):
            return value.strip().upper()
    return "GALAXY" if record["object_id"] in CATALOGUE_REDSHIFTS else "UNKNOWN"


def r_magnitude(photometry: dict | None) -> float | None:
    """AB magnitude in the first of `R_BANDS` the photometry has (fluxes in nanomaggies, floored at 1e-3)."""
    bands = [str(b) for b in (photometry or {}).get("band") or []]
    band = next((b for b in R_BANDS if b in bands), None)
    if band is None:
        return None
    return float(22.5 - 2.5 * np.log10(max(float(photometry["flux"][bands.index(band)]), 1e-3)))


def file_format(path: Path) -> str | None:
    """``"sdss"``, ``"desi"``, ``"eso_phase3"`` or ``"manga"`` from the file's HDU names (whatever it is called),
    else None."""
    try:
        with fits.open(path, memmap=True) as hdus:
            names = {h.name for h in hdus}
    except (OSError, ValueError):
        return None
    if "COADD" in names and names & {"SPECOBJ", "SPALL"}:
        return "sdss"
    if "FIBERMAP" in names and "B_FLUX" in names:
        return "desi"
    if "PHASE3SPECTRA" in names:
        return "eso_phase3"
    if MANGA_HDUS <= names:
        return "manga"
    return None


def read_file(path: Path) -> list[dict]:
    """The records of one real file of a known format (none for other files, e.g. redrock catalogues)."""
    kind = file_format(path)
    if kind == "sdss":
        return [read_spec(path)]
    if kind == "desi":
        return read_coadd(path, redshift_file(path))
    if kind == "eso_phase3":
        return [read_phase3_spectrum(path)]
    if kind == "manga":
        return read_manga_cube(path)
    return []


def read_real_galaxies(paths: Sequence[str | Path]) -> list[RealGalaxy]:
    """Every object with a usable spectrum in the files (or folders, searched recursively) given."""
    files: list[Path] = []
    for path in map(Path, paths):
        found = {p for pattern in FITS_PATTERNS for p in path.rglob(pattern)} if path.is_dir() else {path}
        files.extend(sorted(found))
    galaxies = []
    for path in files:
        for record in read_file(path):
            spectrum = record.get("spectrum")
            if spectrum is None or not np.any(np.asarray(spectrum["ivar"]) > 0):
                continue  # e.g. a fibre with no valid pixel: nothing to measure
            properties = record.get("properties") or {}
            z = properties.get("redshift")
            if z is None and record["object_id"] in CATALOGUE_REDSHIFTS:
                z = CATALOGUE_REDSHIFTS[record["object_id"]][0]
            cls = _class_of(record)
            secure = z is not None and not redshift_is_flagged(record) and cls == "GALAXY"
            galaxies.append(RealGalaxy(record, str(path), z, cls, secure, r_magnitude(record.get("photometry"))))
    return galaxies


@torch.no_grad()
def measure(head: GalFMForPropertyPrediction, processor: GalFMProcessor, galaxies: Sequence[RealGalaxy],
            modes: Sequence[str] = tuple(INPUT_MODES)) -> list[dict[str, Any]]:
    """One row per object: catalogue values and, per input mode (of `INPUT_MODES`), the head's z, sigma, QSO flag
    and redshift warning."""
    head.eval()
    index = head.targets.index("redshift")
    rows = []
    for galaxy in galaxies:
        row = {"object_id": galaxy.record["object_id"], "file": Path(galaxy.file).name,
               "catalogue_z": galaxy.catalogue_z, "class": galaxy.catalogue_class, "secure": galaxy.secure,
               "flags": list(galaxy.record.get("flags") or []), "r_mag": galaxy.r_mag}
        for mode in modes:
            inputs = INPUT_MODES[mode]
            model_input = select_modalities(galaxy.record, inputs)
            if any(model_input.get(m) is None for m in inputs):
                continue
            out = head(**processor(model_input, return_tensors="pt"))
            z, sigma = float(out.mean[0, index]), float(out.std[0, index])
            entry = {"z": z, "sigma": sigma}
            if out.encoder_redshift is not None:  # a template fit (spectrum or photometry) took part
                entry.update(encoder_z=float(out.encoder_redshift[0, 0]),
                             encoder_sigma=float(out.encoder_redshift[0, 1]),
                             peak_probability=float(out.redshift_peak_probability[0]),
                             source=REDSHIFT_SOURCES[int(out.redshift_source[0])])
            if out.is_qso is not None:
                entry.update(is_qso=bool(out.is_qso[0]), qso_score=float(out.qso_score[0]))
            if out.redshift_warning is not None and bool(torch.isfinite(out.redshift_delta_chi2[0])):
                entry.update(delta_chi2=float(out.redshift_delta_chi2[0]), warning=bool(out.redshift_warning[0]))
            if galaxy.catalogue_z is not None:
                dz = z - galaxy.catalogue_z
                entry.update(dz=dz / (1 + galaxy.catalogue_z), within_2sigma=bool(abs(dz) < 2 * sigma))
                if "encoder_z" in entry:
                    entry["encoder_dz"] = (entry["encoder_z"] - galaxy.catalogue_z) / (1 + galaxy.catalogue_z)
            row[mode] = entry
        rows.append(row)
    return rows


def fainter(record: dict, snr: float, rng: np.random.Generator) -> dict | None:
    """The record's spectrum as if the galaxy were fainter, through the same instrument: the signal scaled by k
    so that the median S/N per pixel is ``snr``, plus Gaussian noise of variance (1 - k^2) / ivar, so the total
    noise stays the file's own (a faint galaxy's noise is the sky's, which does not dim). None where the
    spectrum is already at or below ``snr``."""
    spectrum = record["spectrum"]
    flux, ivar = np.asarray(spectrum["flux"], dtype=float), np.asarray(spectrum["ivar"], dtype=float)
    good = ivar > 0
    k = snr / float(np.median(np.abs(flux[good]) * np.sqrt(ivar[good])))
    if k >= 1:
        return None
    noise = rng.standard_normal(flux.size) * np.sqrt((1 - k**2) / np.where(good, ivar, np.inf))
    return {**record, "spectrum": {**spectrum, "flux": k * flux + noise}}


def faint_copies(head: GalFMForPropertyPrediction, processor: GalFMProcessor, galaxies: Sequence[RealGalaxy],
                 levels: Sequence[float], copies: int = 10, seed: int = 0) -> list[dict[str, Any]]:
    """Per S/N level: the secure galaxies made fainter (`fainter`, ``copies`` noise draws each) through the head,
    spectrum alone (`measure`): the fractions within 0.003 and 0.01 and within 2 sigma, the share the head warns
    about (``redshift_warning``) and how often an unwarned redshift is right: how the real-sky result holds for
    galaxies fainter than the files at hand."""
    rng = np.random.default_rng(seed)
    out = []
    for snr in levels:
        faint = [RealGalaxy(record, g.file, g.catalogue_z, g.catalogue_class, g.secure, g.r_mag)
                 for g in galaxies if g.secure for record in (fainter(g.record, snr, rng) for _ in range(copies))
                 if record is not None]
        if not faint:
            continue
        entries = [row["spectrum"] for row in measure(head, processor, faint, modes=("spectrum",))]
        dz = np.abs([e["dz"] for e in entries])
        warned = np.asarray([e.get("warning", False) for e in entries])
        right = dz < 0.003
        out.append({"snr": snr, "galaxies": len({g.record["object_id"] for g in faint}), "spectra": len(faint),
                    "within_0.003": float(right.mean()), "within_0.01": float(np.mean(dz < 0.01)),
                    "within_2sigma": float(np.mean([e["within_2sigma"] for e in entries])),
                    "warned": float(warned.mean()),
                    "unwarned_within_0.003": float(right[~warned].mean()) if (~warned).any() else None})
    return out


def faint_markdown(levels: Sequence[dict]) -> str:
    lines = ["| median S/N per pixel | galaxies | spectra | within 0.003 | within 0.01 | abs dz < 2 sigma | warned "
             "(Δχ² < 9) | unwarned: within 0.003 |", "|---|---|---|---|---|---|---|---|"]
    for level in levels:
        unwarned = level["unwarned_within_0.003"]
        lines.append(f"| {level['snr']:g} | {level['galaxies']} | {level['spectra']} | {level['within_0.003']:.2f} | "
                     f"{level['within_0.01']:.2f} | {level['within_2sigma']:.2f} | {level['warned']:.2f} | "
                     f"{'—' if unwarned is None else f'{unwarned:.2f}'} |")
    return "\n".join(lines) + "\n"


def summarize(rows: Sequence[dict]) -> dict[str, Any]:
    """The bar's numbers: secure galaxies from the spectrum (fractions within 0.003 and 0.01, |dz| < 2 sigma),
    photometry alone for r < 20 (within 0.05), and QSOs flagged."""
    summary: dict[str, Any] = {"objects": len(rows)}
    secure = [r for r in rows if r["secure"]]
    for mode in INPUT_MODES:
        scored = [r[mode] for r in secure if mode in r]
        if not scored:
            continue
        dz = np.abs([s["dz"] for s in scored])
        summary[mode] = {"galaxies": len(scored), "within_0.003": float(np.mean(dz < 0.003)),
                         "within_0.01": float(np.mean(dz < 0.01)), "within_0.05": float(np.mean(dz < 0.05)),
                         "within_2sigma": float(np.mean([s["within_2sigma"] for s in scored])),
                         "median_abs_dz": float(np.median(dz)),
                         "warned": float(np.mean([s["warning"] for s in scored])) if all("warning" in s for s in scored)
                         else None}
        encoder = np.abs([s["encoder_dz"] for s in scored if "encoder_dz" in s])
        if encoder.size:  # the same head without its template scan: the encoder's redshift alone
            summary[mode]["encoder_alone_median_abs_dz"] = float(np.median(encoder))
            summary[mode]["encoder_alone_within_0.05"] = float(np.mean(encoder < 0.05))
    bright = [r["photometry"] for r in secure if "photometry" in r and r["r_mag"] is not None and r["r_mag"] < 20]
    if bright:
        summary["photometry_r_lt_20"] = {"galaxies": len(bright),
                                         "within_0.05": float(np.mean(np.abs([b["dz"] for b in bright]) < 0.05))}
    qsos = [r["spectrum"] for r in rows if r["class"] == "QSO" and "spectrum" in r and "is_qso" in r["spectrum"]]
    if qsos:
        summary["qso"] = {"objects": len(qsos), "flagged": float(np.mean([q["is_qso"] for q in qsos])),
                          "within_0.01": float(np.mean([abs(q.get("dz", np.inf)) < 0.01 for q in qsos]))}
    return summary


def summary_markdown(summary: dict) -> str:
    """The summary against the bar as Markdown: a table per input mode, then the r < 20 and QSO lines."""
    lines = ["| input | galaxies | within 0.003 | within 0.01 | within 0.05 | abs dz < 2 sigma | median abs dz | "
             "warned |", "|---|---|---|---|---|---|---|---|"]
    for mode in INPUT_MODES:
        if mode in summary:
            s = summary[mode]
            lines.append(f"| {mode} | {s['galaxies']} | {s['within_0.003']:.2f} | {s['within_0.01']:.2f} | "
                         f"{s['within_0.05']:.2f} | {s['within_2sigma']:.2f} | {s['median_abs_dz']:.5f} | "
                         f"{'—' if s.get('warned') is None else format(s['warned'], '.2f')} |")
    extra = []
    if "spectrum" in summary and "encoder_alone_median_abs_dz" in summary["spectrum"]:
        s = summary["spectrum"]
        extra.append(f"the encoder alone (no template scan), from the spectrum: median abs dz "
                     f"{s['encoder_alone_median_abs_dz']:.3f}, {s['encoder_alone_within_0.05']:.2f} within 0.05")
    if "photometry_r_lt_20" in summary:
        b = summary["photometry_r_lt_20"]
        extra.append(f"photometry alone, r < 20: {b['within_0.05']:.2f} of {b['galaxies']} within 0.05 (1+z)")
    if "qso" in summary:
        q = summary["qso"]
        extra.append(f"QSOs: {q['flagged']:.2f} of {q['objects']} flagged as QSO (not a normal galaxy); "
                     f"{q['within_0.01']:.2f} with the QSO redshift within 0.01")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {e}" for e in extra) + "\n"


def markdown_table(rows: Sequence[dict]) -> str:
    """Per object: catalogue z and class, then z +- sigma and |dz|/(1+z) per input mode."""

    def cell(entry: dict | None) -> str:
        if entry is None:
            return "—"
        text = f"{entry['z']:.4f} ± {entry['sigma']:.4f}"
        if "dz" in entry:
            text += f" ({abs(entry['dz']):.4f}{'' if entry['within_2sigma'] else ', >2σ'})"
        if entry.get("is_qso"):
            text += " **QSO**"
        if entry.get("warning"):
            text += f" (warning: Δχ² {entry['delta_chi2']:.1f})"
        if "encoder_z" in entry:
            text += f"; encoder alone {entry['encoder_z']:.3f} ± {entry['encoder_sigma']:.3f}"
        return text

    lines = ["| object | file | catalogue z | class | secure | r | spectrum | spectrum + photometry | photometry |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        z = "—" if r["catalogue_z"] is None else f"{r['catalogue_z']:.5f}"
        mag = "—" if r["r_mag"] is None else f"{r['r_mag']:.1f}"
        lines.append(f"| {r['object_id']} | {r['file']} | {z} | {r['class']} | {'yes' if r['secure'] else 'no'} | "
                     f"{mag} | {cell(r.get('spectrum'))} | {cell(r.get('spectrum+photometry'))} | "
                     f"{cell(r.get('photometry'))} |")
    return "\n".join(lines)


def plot_real_sky(rows: Sequence[dict], path: str | Path) -> Path:
    """Predicted against catalogue redshift, per input mode, with 1-sigma bars; QSOs as crosses."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(INPUT_MODES), figsize=(4.2 * len(INPUT_MODES), 4.0), sharey=True)
    known = [r for r in rows if r["catalogue_z"] is not None]
    top = max([r["catalogue_z"] for r in known] + [0.1]) * 1.15 + 0.02
    for ax, mode in zip(axes, INPUT_MODES):
        for r in known:
            if mode not in r:
                continue
            marker = "x" if r["class"] == "QSO" else ("o" if r["secure"] else "s")
            color = "tab:red" if r[mode].get("is_qso") else ("tab:blue" if r["secure"] else "tab:gray")
            ax.errorbar(r["catalogue_z"], r[mode]["z"], yerr=r[mode]["sigma"], fmt=marker, color=color, ms=5)
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_title(f"from {mode}")
        ax.set_xlabel("catalogue (pipeline) redshift")
    axes[0].set_ylabel("galfm redshift")
    fig.suptitle("real galaxies: blue secure galaxy, grey flagged/other, cross QSO (red: galfm flags it QSO)",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def load_property_head(head_dir: str | Path) -> tuple[GalFMForPropertyPrediction, GalFMProcessor]:
    """The property head (predicting redshift) the real-sky measurements need, and its processor."""
    head = load_head(str(head_dir))
    if not isinstance(head, GalFMForPropertyPrediction) or "redshift" not in head.targets:
        raise ValueError(f"{head_dir}: the real-sky benchmark needs a property head predicting redshift")
    return head, GalFMProcessor.from_pretrained(str(head_dir))


def write_real_sky(rows: Sequence[dict], summary: dict, out_dir: str | Path) -> None:
    """``real_sky.json``, ``real_sky.md`` and ``real_sky.png`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "real_sky.json").write_text(json.dumps({"summary": summary, "objects": rows}, indent=1))
    (out / "real_sky.md").write_text(markdown_table(rows) + "\n")
    plot_real_sky(rows, out / "real_sky.png")


def run_real_sky(head_dir: str | Path, paths: Sequence[str | Path], out_dir: str | Path | None = None
                 ) -> tuple[list[dict], dict]:
    """Measure every real object in ``paths`` with the property head in ``head_dir``; with ``out_dir`` write
    ``real_sky.json``, ``real_sky.md`` and ``real_sky.png`` there."""
    head, processor = load_property_head(head_dir)
    rows = measure(head, processor, read_real_galaxies(paths))
    summary = summarize(rows)
    if out_dir is not None:
        write_real_sky(rows, summary, out_dir)
    return rows, summary


def default_real_paths(tests_data: Path | None = None) -> list[Path]:
    """tests/data (SDSS, DESI) and the ppxf package's spectra, where present."""
    folders = [tests_data / "sdss", tests_data / "desi"] if tests_data else []
    return [p for p in [*folders, ppxf_spectra_dir()] if p.is_dir()]


__all__ = ["CATALOGUE_REDSHIFTS", "INPUT_MODES", "R_BANDS", "RealGalaxy", "default_real_paths", "faint_copies",
           "faint_markdown", "fainter", "load_property_head", "markdown_table",
           "measure", "plot_real_sky", "ppxf_spectra_dir", "r_magnitude", "read_real_galaxies", "run_real_sky",
           "summarize", "summary_markdown", "write_real_sky"]
