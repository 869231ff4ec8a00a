"""Maps of a galaxy's star-formation history from an IFU cube: ``galfm sfh-map CUBE``.

The use the SFH network was built for. Spaxels are grouped to a target S/N with Cappellari & Copin's (2003)
Voronoi binning (``vorbin``), because single spaxels of a real cube are far too faint for an SFH; each bin's
summed spectrum goes through an SFH head (16 mass fractions and log Z with its σ; a head that reads the spectrum
in its rest frame does so at the galaxy's redshift when given, else at each bin's own template-scan redshift,
which also follows the rotation, written as the REDSHIFT map with REDSHIFT_WARNING where the scan is not secure);
the maps are written on the cube's own sky grid (FITS with its celestial WCS, and a PNG). The binning decides
what is measurable: the S/N of every bin and the spaxels left out (no positive signal) are in the FITS file.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from astropy.io import fits

from galfm.datasets_scripts.ifu_cubes import load_ifu_cube
from galfm.datasets_scripts.muse import Cube, region_record
from galfm.heads_galfm import GalFMForStarFormationHistory, load_head
from galfm.processing_galfm import GalFMProcessor
from galfm.properties_galfm import SFH_AGE_BIN_EDGES_GYR, mass_weighted_log_age

DEFAULT_HEAD = "org/galfm-sfh"
INSTRUMENT_HEADS = {"muse": "org/galfm-sfh-muse"}
"""The shipped head trained for a cube's instrument (MUSE: at the SFH network's setting, MUSE spectra + PHANGS-HST
bands); any other cube (MaNGA: SDSS-like spectra) gets ``DEFAULT_HEAD``, trained on the release survey."""
# mass-fraction maps: formed in the last 100 Myr, 0.1-1 Gyr ago, more than 1 Gyr ago
AGE_GROUPS_GYR = {"FRAC_YOUNG": (0.0, 0.1), "FRAC_INTERMEDIATE": (0.1, 1.0), "FRAC_OLD": (1.0, np.inf)}
MAPS = ("LOG_AGE_MW", "LOG_Z", "LOG_Z_ERR", *AGE_GROUPS_GYR, "BIN_SNR", "REDSHIFT", "REDSHIFT_WARNING")


def spaxel_snr(cube: Cube) -> tuple[np.ndarray, np.ndarray]:
    """(signal, noise) per spaxel: the median flux and the median 1-σ over its good wavelengths (a continuum S/N
    per pixel, the quantity Voronoi binning adds in quadrature)."""
    good = cube.good & (cube.var > 0)
    flux = np.where(good, cube.flux, np.nan)
    sigma = np.where(good, np.sqrt(np.where(good, cube.var, 1.0)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # spaxels with no good wavelength at all
        return np.nanmedian(flux, axis=0), np.nanmedian(sigma, axis=0)


def voronoi_bins(signal: np.ndarray, noise: np.ndarray, target_snr: float) -> np.ndarray:
    """Bin number per spaxel (-1: left out, no positive signal) from Voronoi binning to ``target_snr``.

    Where every usable spaxel already reaches the target, each is its own bin (vorbin refuses that case); where
    the whole cube cannot reach it, the error says so and what S/N it has.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # vorbin's notice that PowerBin supersedes it
        from vorbin.voronoi_2d_binning import voronoi_2d_binning

    usable = np.isfinite(signal) & np.isfinite(noise) & (noise > 0) & (signal > 0)
    bins = np.full(signal.shape, -1, dtype=int)
    if not usable.any():
        raise ValueError("no spaxel has a positive median flux with a finite variance: nothing to bin")
    y, x = np.nonzero(usable)
    s, n = signal[usable], noise[usable]
    total = s.sum() / np.sqrt((n**2).sum())
    if total < target_snr:
        raise ValueError(f"--target-snr {target_snr:g}: the whole cube reaches S/N {total:.1f} per pixel; "
                         f"lower the target (at most {total:.1f})")
    if np.all(s / n >= target_snr):
        bins[usable] = np.arange(usable.sum())
        return bins
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        number = voronoi_2d_binning(x.astype(float), y.astype(float), s, n, target_snr, plot=False, quiet=True)[0]
    bins[usable] = number
    return bins


@dataclass
class SFHMaps:
    """``bins`` the Voronoi bin per spaxel (-1: left out); per bin its ``spaxels``, its ``sfh`` (bins, 16) and
    ``per_bin`` values of every map in `MAPS`; ``maps`` the same on the sky grid."""

    bins: np.ndarray
    spaxels: np.ndarray
    sfh: np.ndarray
    per_bin: dict[str, np.ndarray]

    @property
    def snr(self) -> np.ndarray:
        return self.per_bin["BIN_SNR"]

    @property
    def log_z(self) -> np.ndarray:
        return self.per_bin["LOG_Z"]

    @property
    def log_z_std(self) -> np.ndarray:
        return self.per_bin["LOG_Z_ERR"]

    @cached_property
    def maps(self) -> dict[str, np.ndarray]:
        return {key: np.where(self.bins >= 0, value[np.maximum(self.bins, 0)], np.nan)
                for key, value in self.per_bin.items()}


def bin_average(image: np.ndarray, bins: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Per Voronoi bin, the (weighted) mean of a map on the same sky grid, e.g. a simulated cube's true age
    weighted by its stellar mass, to set beside ``SFHMaps.per_bin``."""
    weights = np.ones_like(image, dtype=float) if weights is None else np.asarray(weights, dtype=float)
    inside, count = bins >= 0, int(bins.max()) + 1
    total = np.bincount(bins[inside], weights[inside] * image[inside], minlength=count)
    return total / np.bincount(bins[inside], weights[inside], minlength=count)


def _mass_fraction(sfh: np.ndarray, low: float, high: float) -> np.ndarray:
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    inside = (edges[:-1] >= low) & (edges[1:] <= high)
    return sfh[:, inside].sum(axis=1)


@torch.no_grad()
def sfh_maps(cube: Cube, head: GalFMForStarFormationHistory, processor: GalFMProcessor, target_snr: float = 20.0,
             name: str = "cube", batch_size: int = 32, redshift: float | None = None) -> SFHMaps:
    """Voronoi-bin ``cube`` to ``target_snr`` and run ``head`` on every bin's summed spectrum (at ``redshift`` for
    every bin when given; else each bin's own scan, for heads that read the rest frame)."""
    signal, noise = spaxel_snr(cube)
    bins = voronoi_bins(signal, noise, target_snr)
    inside, count = bins >= 0, int(bins.max()) + 1
    spaxels = np.bincount(bins[inside], minlength=count)
    snr = (np.bincount(bins[inside], signal[inside], minlength=count)
           / np.sqrt(np.bincount(bins[inside], noise[inside] ** 2, minlength=count)))
    records = [region_record(cube, bins == b, f"{name}-bin{b}", [f"voronoi_bin={b}"]) for b in range(count)]
    head.eval()
    sfh, log_z, log_z_std, used_redshift, warned = [], [], [], [], []
    for start in range(0, count, batch_size):
        chunk = records[start:start + batch_size]
        given = {} if redshift is None else {"redshift": torch.full((len(chunk),), float(redshift))}
        out = head(**processor(chunk, return_tensors="pt"), **given)
        sfh.append(out.sfh.float().numpy())
        log_z.append(out.log_z.float().numpy())
        log_z_std.append(out.log_z_std.float().numpy())
        used_redshift.append(np.full(len(chunk), np.nan) if out.redshift is None else out.redshift.float().numpy())
        warned.append(np.zeros(len(chunk), bool) if out.redshift_warning is None else out.redshift_warning.numpy())
    sfh = np.concatenate(sfh)
    per_bin = {"LOG_AGE_MW": mass_weighted_log_age(sfh), "LOG_Z": np.concatenate(log_z),
               "LOG_Z_ERR": np.concatenate(log_z_std),
               **{key: _mass_fraction(sfh, *span) for key, span in AGE_GROUPS_GYR.items()}, "BIN_SNR": snr,
               "REDSHIFT": np.concatenate(used_redshift), "REDSHIFT_WARNING": np.concatenate(warned).astype(float)}
    return SFHMaps(bins=bins, spaxels=spaxels, sfh=sfh, per_bin=per_bin)


def write_maps(result: SFHMaps, cube: Cube, out_dir: Path, name: str) -> tuple[Path, Path]:
    """``NAME_sfh_maps.fits`` (one image HDU per map, the cube's celestial WCS; BIN_ID; a table of the bins'
    SFHs) and ``NAME_sfh_maps.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    header = cube.wcs.to_header()
    units = {"LOG_AGE_MW": "log10(Gyr)", "LOG_Z": "log10(Z/Zsun)", "LOG_Z_ERR": "dex"}
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["SFHBINS"] = (len(result.snr), "Voronoi bins")
    hdus[0].header["COMMENT"] = "galfm sfh-map: mass-weighted age, stellar metallicity, mass fractions per bin"
    for key, image in result.maps.items():
        hdu = fits.ImageHDU(image.astype(np.float32), header, name=key)
        if key in units:
            hdu.header["BUNIT"] = units[key]
        hdus.append(hdu)
    hdus.append(fits.ImageHDU(result.bins.astype(np.int32), header, name="BIN_ID"))
    edges = np.asarray(SFH_AGE_BIN_EDGES_GYR)
    table = fits.BinTableHDU.from_columns([
        fits.Column("BIN", "J", array=np.arange(len(result.snr))),
        fits.Column("NSPAXELS", "J", array=result.spaxels), fits.Column("SNR", "E", array=result.snr),
        fits.Column("SFH", f"{result.sfh.shape[1]}E", array=result.sfh),
        fits.Column("LOG_Z", "E", array=result.log_z), fits.Column("LOG_Z_ERR", "E", array=result.log_z_std),
        fits.Column("REDSHIFT", "D", array=result.per_bin["REDSHIFT"]),
        fits.Column("REDSHIFT_WARNING", "L", array=result.per_bin["REDSHIFT_WARNING"] > 0)],
        name="BINS")
    table.header["AGEEDGES"] = " ".join(f"{e:g}" for e in edges)
    hdus.append(table)
    fits_path = out_dir / f"{name}_sfh_maps.fits"
    fits.HDUList(hdus).writeto(fits_path, overwrite=True)

    panels = [("LOG_AGE_MW", "log mass-weighted age [Gyr]", "magma"), ("LOG_Z", "log Z/Z☉", "viridis"),
              ("FRAC_YOUNG", "mass fraction < 100 Myr", "Blues"), ("BIN_SNR", "bin S/N per pixel", "gray")]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), subplot_kw={"projection": cube.wcs})
    for ax, (key, label, cmap) in zip(axes, panels):
        image = ax.imshow(result.maps[key], origin="lower", cmap=cmap)
        fig.colorbar(image, ax=ax, fraction=0.046, label=label)
        ax.set_title(label, fontsize=9)
        ax.coords[0].set_axislabel("RA")
        ax.coords[1].set_axislabel("Dec" if ax is axes[0] else " ")
    fig.suptitle(f"{name}: {len(result.snr)} Voronoi bins", fontsize=10)
    fig.tight_layout()
    png_path = out_dir / f"{name}_sfh_maps.png"
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return fits_path, png_path


def head_for(cube: Cube) -> str:
    """The shipped SFH head for ``cube``'s instrument (`INSTRUMENT_HEADS`, else `DEFAULT_HEAD`)."""
    return INSTRUMENT_HEADS.get(cube.survey, DEFAULT_HEAD)


def run_sfh_map(cube_path: str | Path, out_dir: str | Path, head: str | None = None, target_snr: float = 20.0,
                redshift: float | None = None) -> tuple[SFHMaps, Path, Path]:
    """Read a MUSE or MaNGA cube, bin it, predict, write the maps: (result, FITS path, PNG path). ``head`` None:
    the shipped head for the cube's instrument (`INSTRUMENT_HEADS`)."""
    cube = load_ifu_cube(cube_path)
    head = head or head_for(cube)
    model = load_head(head)
    if not isinstance(model, GalFMForStarFormationHistory):
        raise ValueError(f"--head {head}: a {type(model).__name__}; sfh-map needs an SFH head (e.g. {DEFAULT_HEAD})")
    name = Path(cube_path).name.split(".fits")[0]
    result = sfh_maps(cube, model, GalFMProcessor.from_pretrained(head), target_snr, name, redshift=redshift)
    fits_path, png_path = write_maps(result, cube, Path(out_dir), name)
    return result, fits_path, png_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cube", help="a MUSE / PHANGS-MUSE cube (DATA and STAT extensions) or a MaNGA LOGCUBE")
    parser.add_argument("--head", default=None, help="an SFH head: folder or Hub repo (default: "
                        f"{INSTRUMENT_HEADS['muse']} for a MUSE cube, {DEFAULT_HEAD} for any other)")
    parser.add_argument("--target-snr", type=float, default=20.0, help="Voronoi target S/N per pixel per bin")
    parser.add_argument("--out", default="sfh_maps", help="output folder")
    parser.add_argument("--redshift", type=float, default=None,
                        help="the galaxy's redshift for every bin (default: each bin's own template scan)")


def main(args: argparse.Namespace) -> int:
    try:
        result, fits_path, png_path = run_sfh_map(args.cube, args.out, args.head, args.target_snr, args.redshift)
    except (ValueError, FileNotFoundError, OSError) as err:
        print(f"galfm sfh-map: {err}", file=sys.stderr)
        return 2
    used = int((result.bins >= 0).sum())
    print(f"{len(result.snr)} Voronoi bins from {used} of {result.bins.size} spaxels (target S/N {args.target_snr:g}; "
          f"bin S/N {np.min(result.snr):.1f}-{np.max(result.snr):.1f})")
    age = result.per_bin["LOG_AGE_MW"]
    print(f"log mass-weighted age {age.min():.2f} to {age.max():.2f} (log Gyr); log Z {np.min(result.log_z):.2f} to "
          f"{np.max(result.log_z):.2f} (median σ {np.median(result.log_z_std):.2f} dex)")
    redshift = result.per_bin["REDSHIFT"]
    if np.isfinite(redshift).any():
        warned = int(result.per_bin["REDSHIFT_WARNING"].sum())
        print(f"rest frame read at z {np.nanmin(redshift):.4f} to {np.nanmax(redshift):.4f} "
              f"({'given' if args.redshift is not None else 'each bin scanned'}; {warned} of {len(redshift)} bins' "
              "scans not secure: REDSHIFT_WARNING)")
    print(f"wrote {fits_path} and {png_path}")
    return 0
