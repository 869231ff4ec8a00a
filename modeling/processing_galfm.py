"""GalFMProcessor: the multimodal galaxy tokenizer.

Turns galaxy records (the schema of ``galfm.datasets_scripts.schema``; every modality optional) into padded
token tensors for ``GalFMModel``. The model never sees a survey's shapes:

* spectrum: any wavelength grid (or several overlapping arms) is resampled, flux-conserving and
  ivar-weighted, onto one observed-frame log-lambda grid and cut into patches. Each patch token carries its
  normalised fluxes, their inverse errors (0 for masked pixels) and its wavelength span; one more token
  carries the normalisation, so absolute flux is not lost.
* photometry: one token per band, the flux as an asinh magnitude (Lupton et al. 1999; handles negative
  fluxes) with its error, placed by the band's effective wavelength and FWHM (not its name).
* image: one token per band and ``image_patch_size``² patch: asinh surface brightness and inverse errors,
  the band's wavelength, the patch position in arcsec, the PSF FWHM and pixel scale.
* properties: one token per known property (type id + standardised value).

Missing data become absent tokens (attention mask 0), never zeros. The whole configuration (grid, filter
table, scalings) is saved by ``save_pretrained``, so inference needs no filter library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from transformers import BatchFeature, FeatureExtractionMixin

from .filters_galfm import default_filter_table, summarize_response
from .properties_galfm import NUM_SFH_BINS, PROPERTIES

# Record units (see galfm.datasets_scripts.schema): spectra in 1e-17 erg/s/cm2/A on vacuum Angstrom,
# photometry and image pixels in nanomaggies (AB: m = 22.5 - 2.5 log10 f).
SPECTRUM_FLUX_UNIT = "1e-17 erg / (s cm2 Angstrom)"
NANOMAGGY_IN_JY = 3.631e-6
ASINH_MAG_SCALE = 2.5 / math.log(10.0)

MODALITIES = ("spectrum", "photometry", "image", "properties")


class GalaxyInputError(ValueError):
    """A galaxy record that cannot be tokenized; the message names the galaxy, the field and the fix."""


def _fail(galaxy: str, field: str, problem: str, fix: str) -> GalaxyInputError:
    return GalaxyInputError(f"galaxy {galaxy}: {field}: {problem}. Fix: {fix}")


def _is_quantity(x: Any) -> bool:
    return hasattr(x, "unit") and hasattr(x, "to_value")


def _units():
    try:
        import astropy.units as u
    except ImportError as err:  # pragma: no cover - only reached when a Quantity was passed
        raise ImportError("astropy is needed to convert astropy Quantities") from err
    return u


def _wavelength_angstrom(value: Any, galaxy: str, field: str) -> np.ndarray:
    if _is_quantity(value):
        u = _units()
        try:
            value = value.to_value(u.Angstrom, equivalencies=u.spectral())
        except u.UnitConversionError as err:
            raise _fail(galaxy, field, f"unit {value.unit} is not a wavelength",
                        "give vacuum wavelengths in Angstrom (or any length/frequency Quantity)") from err
    return np.asarray(value, dtype=np.float64)


def _spectral_flux(value: Any, wavelength: np.ndarray, galaxy: str, field: str) -> np.ndarray:
    """A flux density (or its error) in the record's 1e-17 erg/s/cm2/A, converting Quantities (f_nu too)."""
    if _is_quantity(value):
        u = _units()
        target = 1e-17 * u.erg / u.s / u.cm**2 / u.Angstrom
        try:
            value = value.to_value(target, equivalencies=u.spectral_density(wavelength * u.Angstrom))
        except (u.UnitConversionError, ValueError) as err:
            raise _fail(galaxy, field, f"unit {value.unit} is not a spectral flux density",
                        f"give flux in {SPECTRUM_FLUX_UNIT} (or an astropy Quantity in f_lambda or f_nu units)"
                        ) from err
    return np.asarray(value, dtype=np.float64)


def _photometric_flux(value: Any, galaxy: str, field: str) -> np.ndarray:
    """Band fluxes (or their errors) in nanomaggies, converting Quantities in Jy, maggies or AB mag."""
    if _is_quantity(value):
        u = _units()
        try:
            if value.unit.is_equivalent(u.nanomaggy):
                value = value.to_value(u.nanomaggy)
            else:
                value = value.to(u.Jy).value / NANOMAGGY_IN_JY
        except (u.UnitConversionError, ValueError, TypeError) as err:
            raise _fail(galaxy, field, f"unit {value.unit} is not a flux density",
                        "give fluxes in nanomaggies (or an astropy Quantity in Jy, maggies or AB mag)") from err
    return np.asarray(value, dtype=np.float64)


def _inverse_variance(record: Mapping, flux_key: str, ivar_key: str, sigma_key: str, convert, galaxy: str,
                      prefix: str) -> np.ndarray:
    if record.get(ivar_key) is not None:
        ivar = record[ivar_key]
        if _is_quantity(ivar):  # 1/flux^2: convert the implied error and invert back
            with np.errstate(divide="ignore"):
                return _ivar_from_sigma(convert(ivar ** -0.5, galaxy, f"{prefix}.{ivar_key}"))
        ivar = np.asarray(ivar, dtype=np.float64)
        if np.any(ivar < 0):
            raise _fail(galaxy, f"{prefix}.{ivar_key}", f"{int(np.sum(ivar < 0))} negative inverse variances",
                        "inverse variance is 1/sigma^2 >= 0; set bad pixels to 0 or mark them in 'mask'")
        return ivar
    if record.get(sigma_key) is not None:
        sigma = convert(record[sigma_key], galaxy, f"{prefix}.{sigma_key}")
        if np.any(sigma < 0):
            raise _fail(galaxy, f"{prefix}.{sigma_key}", "negative uncertainties", "uncertainties must be >= 0")
        return _ivar_from_sigma(sigma)
    raise _fail(galaxy, f"{prefix}.{ivar_key}", f"no uncertainty given for '{flux_key}'",
                f"add '{ivar_key}' (1/sigma^2) or '{sigma_key}' (1-sigma errors)")


def _ivar_from_sigma(sigma: np.ndarray) -> np.ndarray:
    """1/sigma^2, with 0 (no information) where sigma is 0, infinite or NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(sigma) & (sigma > 0), 1.0 / sigma**2, 0.0)


@lru_cache(maxsize=8)
def _log_grid_edges(log_min: float, log_step: float, num_pixels: int) -> np.ndarray:
    edges = 10 ** (log_min + log_step * np.arange(num_pixels + 1))
    edges.flags.writeable = False  # shared between calls
    return edges


def pixel_edges(centers: np.ndarray) -> np.ndarray:
    """Edges of contiguous pixels from their centres (midpoints; end pixels mirrored)."""
    mid = 0.5 * (centers[1:] + centers[:-1])
    return np.concatenate([[centers[0] - (mid[0] - centers[0])], mid, [centers[-1] + (centers[-1] - mid[-1])]])


def accumulate_onto_grid(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, grid_edges: np.ndarray,
                         sums: np.ndarray) -> None:
    """Add one spectrum's ivar-weighted overlaps to ``sums`` (3 x n_out: sum o*ivar, sum o*ivar*f, sum o^2*ivar).

    ``o`` is the length (Angstrom) by which an input pixel overlaps an output bin. With uniform ivar the
    resampled flux sum(o f)/sum(o) conserves the integral of f over any range of whole bins; with several
    overlapping arms the sums of all arms give the ivar-weighted combination. Pixels with ivar 0 add nothing.
    """
    good = ivar > 0
    lo_edges = pixel_edges(wavelength)
    lo, hi = lo_edges[:-1][good], lo_edges[1:][good]
    f, w = flux[good], ivar[good]
    n_out = grid_edges.size - 1
    k0 = np.searchsorted(grid_edges, lo, side="right") - 1
    k1 = np.searchsorted(grid_edges, hi, side="left") - 1
    k0 = np.clip(k0, -1, n_out)
    k1 = np.clip(k1, -1, n_out)
    span = np.maximum(k1 - k0 + 1, 0)
    j = np.repeat(np.arange(lo.size), span)
    k = np.repeat(k0, span) + (np.arange(j.size) - np.repeat(np.cumsum(span) - span, span))
    inside = (k >= 0) & (k < n_out)
    j, k = j[inside], k[inside]
    overlap = np.minimum(hi[j], grid_edges[k + 1]) - np.maximum(lo[j], grid_edges[k])
    keep = overlap > 0
    j, k, overlap = j[keep], k[keep], overlap[keep]
    sums[0] += np.bincount(k, overlap * w[j], minlength=n_out)
    sums[1] += np.bincount(k, overlap * w[j] * f[j], minlength=n_out)
    sums[2] += np.bincount(k, overlap**2 * w[j], minlength=n_out)


def resample_spectrum(arms: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], grid_edges: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Flux-conserving, ivar-weighted resampling of one or more (wavelength, flux, ivar) arms onto bins.

    Returns (flux, ivar) on the bins; bins no good pixel touches have ivar 0 (and flux 0).
    """
    sums = np.zeros((3, grid_edges.size - 1))
    for wavelength, flux, ivar in arms:
        accumulate_onto_grid(wavelength, flux, ivar, grid_edges, sums)
    weight, weighted_flux, weight_sq = sums
    good = weight > 0
    flux = np.zeros_like(weight)
    ivar = np.zeros_like(weight)
    flux[good] = weighted_flux[good] / weight[good]
    ivar[good] = weight[good] ** 2 / weight_sq[good]
    return flux, ivar


def asinh_magnitude(flux_nmgy: np.ndarray, softening_nmgy: float) -> np.ndarray:
    """Lupton et al. (1999) asinh magnitude; equals 22.5 - 2.5 log10(f) for f >> softening, finite for f <= 0."""
    b = softening_nmgy
    return 22.5 - ASINH_MAG_SCALE * (np.arcsinh(flux_nmgy / (2 * b)) + math.log(b))


class GalFMProcessor(FeatureExtractionMixin):
    r"""Tokenizes galaxy records for `GalFMModel`.

    Args:
        spectrum_log_wavelength_min (`float`): log10 of the first pixel's lower edge (observed vacuum Angstrom).
        spectrum_log_wavelength_step (`float`): pixel width in dex (1e-4 dex = 69 km/s, SDSS/BOSS sampling).
        spectrum_num_patches (`int`): patches on the grid; ``spectrum_num_patches * spectrum_patch_size`` pixels.
        spectrum_patch_size (`int`): pixels per spectrum token.
        photometry_softening_nmgy (`float`): asinh-magnitude softening b (nanomaggies; 0.1 nmgy = 25 AB).
        image_patch_size (`int`): pixels along each side of an image patch token.
        image_softening (`float`): surface-brightness softening of image pixels (nanomaggies / arcsec²).
        filter_table (`dict`): band name -> [effective wavelength, FWHM] (Angstrom). Default: every speclite
            band galfm knows plus the synthetic J-PAS set.
        property_names (`list`): the tokenizable properties in the order that defines their type ids (a list,
            because JSON configs do not keep dict order).
        property_specs (`dict`): property -> {"center", "scale", "transform"}, the token scaling.
    """

    model_input_names = [
        "spectrum_values", "spectrum_weights", "spectrum_wavelength", "spectrum_attention_mask",
        "spectrum_norm", "spectrum_norm_mask",
        "photometry_values", "photometry_wavelength", "photometry_attention_mask",
        "image_values", "image_weights", "image_wavelength", "image_position", "image_seeing",
        "image_attention_mask",
        "property_values", "property_ids", "property_attention_mask",
    ]

    def __init__(
        self,
        spectrum_log_wavelength_min: float = math.log10(3000.0),
        spectrum_log_wavelength_step: float = 1e-4,
        spectrum_num_patches: int = 129,
        spectrum_patch_size: int = 64,
        photometry_softening_nmgy: float = 0.1,
        image_patch_size: int = 8,
        image_softening: float = 0.05,
        filter_table: dict[str, list[float]] | None = None,
        property_names: list[str] | None = None,
        property_specs: dict[str, dict[str, Any]] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.spectrum_log_wavelength_min = float(spectrum_log_wavelength_min)
        self.spectrum_log_wavelength_step = float(spectrum_log_wavelength_step)
        self.spectrum_num_patches = int(spectrum_num_patches)
        self.spectrum_patch_size = int(spectrum_patch_size)
        self.photometry_softening_nmgy = float(photometry_softening_nmgy)
        self.image_patch_size = int(image_patch_size)
        self.image_softening = float(image_softening)
        self.filter_table = {k: [float(x) for x in v] for k, v in (filter_table or default_filter_table()).items()}
        if property_specs is None:
            property_specs = {k: {"center": s.center, "scale": s.scale, "transform": s.transform}
                              for k, s in PROPERTIES.items()}
        self.property_specs = property_specs
        self.property_names = list(property_names) if property_names is not None else list(property_specs)
        missing = [k for k in self.property_names if k not in property_specs]
        if missing:
            raise ValueError(f"property_specs lacks the scaling of {missing}")

    # ------------------------------------------------------------------ configuration helpers
    @property
    def spectrum_grid_edges(self) -> np.ndarray:
        """Edges (Angstrom) of the common observed-frame log-lambda grid."""
        return _log_grid_edges(self.spectrum_log_wavelength_min, self.spectrum_log_wavelength_step,
                               self.spectrum_num_patches * self.spectrum_patch_size)

    def add_filter(self, name: str, wavelength, response) -> None:
        """Teach the tokenizer a new band from its transmission curve (Angstrom or a length Quantity).

        Only the effective wavelength and FWHM are kept: the model places any band by those two numbers.
        """
        self.filter_table[name] = [float(x) for x in summarize_response(wavelength, response)]

    # ------------------------------------------------------------------ per-modality tokenizers
    def _spectrum_tokens(self, spectrum: Any, galaxy: str) -> dict[str, np.ndarray] | None:
        arms = spectrum if isinstance(spectrum, (list, tuple)) else [spectrum]
        prepared = []
        for i, arm in enumerate(arms):
            field = "spectrum" if len(arms) == 1 else f"spectrum[{i}]"
            if not isinstance(arm, Mapping):
                raise _fail(galaxy, field, f"expected a mapping, got {type(arm).__name__}",
                            "give {'wavelength', 'flux', 'ivar'[, 'mask']} (or a list of them, one per arm)")
            if arm.get("wavelength") is None:
                raise _fail(galaxy, f"{field}.wavelength", "missing",
                            "give the observed vacuum wavelength of every pixel (Angstrom or a length Quantity)")
            if arm.get("flux") is None:
                raise _fail(galaxy, f"{field}.flux", "missing", f"give the flux density in {SPECTRUM_FLUX_UNIT}")
            wavelength = _wavelength_angstrom(arm["wavelength"], galaxy, f"{field}.wavelength")
            flux = _spectral_flux(arm["flux"], wavelength, galaxy, f"{field}.flux")

            def convert(v, g, f, _w=wavelength):
                return _spectral_flux(v, _w, g, f)

            ivar = _inverse_variance(arm, "flux", "ivar", "sigma", convert, galaxy, field)
            lengths = {"wavelength": wavelength.shape, "flux": flux.shape, "ivar": ivar.shape}
            mask = arm.get("mask")
            if mask is not None:
                mask = np.asarray(mask)
                lengths["mask"] = mask.shape
            if wavelength.ndim != 1 or len(set(lengths.values())) != 1:
                raise _fail(galaxy, field, f"array shapes differ or are not 1-D: {lengths}",
                            "give one value per pixel in every array")
            if wavelength.size < 2:
                raise _fail(galaxy, f"{field}.wavelength", "fewer than 2 pixels", "give a spectrum of >= 2 pixels")
            if not np.all(np.isfinite(wavelength)) or np.any(np.diff(wavelength) <= 0):
                raise _fail(galaxy, f"{field}.wavelength", "not finite and strictly increasing",
                            "sort the pixels by wavelength and remove duplicates")
            good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
            if mask is not None:
                good &= ~mask.astype(bool)  # mask: True (or any nonzero bit) = bad pixel
            prepared.append((wavelength, flux, np.where(good, ivar, 0.0)))  # ivar 0 pixels add nothing

        flux, ivar = resample_spectrum(prepared, self.spectrum_grid_edges)
        p = self.spectrum_patch_size
        flux = flux.reshape(-1, p)
        ivar = ivar.reshape(-1, p)
        present = (ivar > 0).any(axis=1)
        if not present.any():
            return None
        valid = ivar > 0
        norm = float(np.median(np.abs(flux[valid])))
        if not norm > 0:
            norm = float(np.mean(np.abs(flux[valid]))) or 1.0
        edges = self.spectrum_grid_edges
        lo, hi = edges[:-1:p], edges[p::p]
        return {
            "values": (flux[present] / norm).astype(np.float32),
            "weights": (np.sqrt(ivar[present]) * norm).astype(np.float32),
            "wavelength": np.stack([np.sqrt(lo * hi), hi - lo], axis=-1)[present].astype(np.float32),
            "norm": np.float32(math.log10(norm)),
        }

    def _band_wavelengths(self, bands: Sequence[str], galaxy: str, field: str) -> np.ndarray:
        out = []
        for band in bands:
            if band not in self.filter_table:
                raise _fail(galaxy, field, f"unknown band {band!r}",
                            "use a canonical name (galfm.filters_galfm.available_bands()) or teach the processor "
                            "the curve with processor.add_filter(name, wavelength, response)")
            out.append(self.filter_table[band])
        return np.asarray(out, dtype=np.float32).reshape(-1, 2)

    def _photometry_tokens(self, photometry: Mapping, galaxy: str) -> dict[str, np.ndarray] | None:
        if photometry.get("band") is None or photometry.get("flux") is None:
            raise _fail(galaxy, "photometry", "needs 'band' and 'flux'",
                        "give band names, fluxes in nanomaggies and 'flux_ivar' (or 'flux_sigma')")
        bands = [str(b) for b in photometry["band"]]
        flux = _photometric_flux(photometry["flux"], galaxy, "photometry.flux")
        ivar = _inverse_variance(photometry, "flux", "flux_ivar", "flux_sigma",
                                 _photometric_flux, galaxy, "photometry")
        if flux.ndim != 1 or flux.shape != ivar.shape or flux.size != len(bands):
            raise _fail(galaxy, "photometry", f"{len(bands)} bands but flux shape {flux.shape} and ivar shape "
                        f"{ivar.shape}", "give one flux and one flux_ivar per band")
        wavelength = self._band_wavelengths(bands, galaxy, "photometry.band")
        good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
        if not good.any():
            return None
        flux, sigma = flux[good], ivar[good] ** -0.5
        b = self.photometry_softening_nmgy
        mag = asinh_magnitude(flux, b)
        mag_err = ASINH_MAG_SCALE * sigma / np.sqrt(flux**2 + 4 * b**2)
        return {
            "values": np.stack([mag, mag_err], axis=-1).astype(np.float32),
            "wavelength": wavelength[good],
        }

    def _image_tokens(self, image: Mapping, galaxy: str) -> dict[str, np.ndarray] | None:
        for key in ("band", "flux", "ivar", "pixel_scale"):
            if image.get(key) is None:
                raise _fail(galaxy, f"image.{key}", "missing",
                            "give band names, flux and ivar (bands x H x W, nanomaggies/pixel), pixel_scale "
                            "(arcsec) and psf_fwhm (arcsec)")
        bands = [str(b) for b in image["band"]]
        flux = _photometric_flux(image["flux"], galaxy, "image.flux")
        ivar = np.asarray(image["ivar"], dtype=np.float64)
        if flux.ndim != 3 or flux.shape != ivar.shape or flux.shape[0] != len(bands):
            raise _fail(galaxy, "image", f"{len(bands)} bands but flux {flux.shape}, ivar {ivar.shape}",
                        "give flux and ivar as (bands, H, W) arrays with one plane per band")
        if np.any(ivar < 0):
            raise _fail(galaxy, "image.ivar", "negative inverse variances", "set empty pixels' ivar to 0")
        pixel_scale = float(image["pixel_scale"])
        if not pixel_scale > 0:
            raise _fail(galaxy, "image.pixel_scale", f"{pixel_scale} is not positive", "give arcsec per pixel")
        psf = image.get("psf_fwhm")
        psf = np.full(len(bands), np.nan) if psf is None else np.broadcast_to(
            np.asarray(psf, dtype=np.float64), (len(bands),))
        wavelength = self._band_wavelengths(bands, galaxy, "image.band")

        p = self.image_patch_size
        n_bands, height, width = flux.shape
        ph, pw = -(-height // p), -(-width // p)
        pad = ((0, 0), (0, ph * p - height), (0, pw * p - width))
        good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
        ivar = np.pad(np.where(good, ivar, 0.0), pad)
        flux = np.pad(np.where(good, flux, 0.0), pad)
        area = pixel_scale**2
        s0 = self.image_softening
        sb = flux / area
        values = np.arcsinh(sb / s0)
        with np.errstate(divide="ignore"):
            sigma_sb = np.where(ivar > 0, ivar ** -0.5 / area, np.inf)
        weights = np.sqrt(sb**2 + s0**2) / sigma_sb  # inverse error of the asinh value

        def patches(a: np.ndarray) -> np.ndarray:  # (bands, H, W) -> (bands, ph*pw, p*p)
            return a.reshape(n_bands, ph, p, pw, p).transpose(0, 1, 3, 2, 4).reshape(n_bands, ph * pw, p * p)

        values, weights, present = patches(values), patches(weights), patches(ivar > 0).any(-1)
        if not present.any():
            return None
        yy, xx = np.meshgrid(np.arange(ph), np.arange(pw), indexing="ij")
        # patch centre relative to the image centre, arcsec (x right, y up the array)
        pos = np.stack([(xx.ravel() + 0.5) * p - width / 2, (yy.ravel() + 0.5) * p - height / 2], -1) * pixel_scale
        seeing = np.stack([psf, np.full(n_bands, pixel_scale)], -1)
        band_idx = np.repeat(np.arange(n_bands), ph * pw).reshape(n_bands, -1)[present]
        return {
            "values": values[present].astype(np.float32),
            "weights": weights[present].astype(np.float32),
            "wavelength": wavelength[band_idx],
            "position": np.broadcast_to(pos, (n_bands, ph * pw, 2))[present].astype(np.float32),
            "seeing": np.nan_to_num(seeing[band_idx], nan=0.0).astype(np.float32),
        }

    def _property_tokens(self, properties: Mapping, galaxy: str) -> dict[str, np.ndarray] | None:
        values, ids = [], []
        keys = self.property_names
        type_id = {name: i for i, name in enumerate(keys)}
        for key, raw in properties.items():
            if raw is None or key == "morphology":
                continue
            if key == "sfh":
                sfh = np.asarray(raw, dtype=np.float64)
                if sfh.shape != (NUM_SFH_BINS,):
                    raise _fail(galaxy, "properties.sfh", f"shape {sfh.shape}",
                                f"give the mass fraction formed in each of the {NUM_SFH_BINS} age bins")
                items = [(f"sfh_{i:02d}", v) for i, v in enumerate(sfh)]
            elif key in keys or key in PROPERTIES:  # known; tokenized if this processor lists it
                if _is_quantity(raw):
                    raise _fail(galaxy, f"properties.{key}", "got an astropy Quantity",
                                "give a plain number in the unit of galfm.properties_galfm.PROPERTIES")
                items = [(key, raw)]
            else:
                raise _fail(galaxy, f"properties.{key}", "unknown property",
                            f"use one of: {', '.join(k for k in keys if not k.startswith('sfh_'))}, sfh, morphology")
            for name, value in items:
                if name not in type_id:
                    continue
                value = float(value)
                if not math.isfinite(value):
                    continue
                spec = self.property_specs[name]
                if spec["transform"] == "asinh":
                    token = math.asinh(value / spec["scale"])
                else:
                    token = (value - spec["center"]) / spec["scale"]
                values.append(token)
                ids.append(type_id[name])
        if not values:
            return None
        return {"values": np.asarray(values, np.float32), "ids": np.asarray(ids, np.int64)}

    # ------------------------------------------------------------------ batching
    def tokenize(self, record: Mapping, index: int = 0) -> dict[str, dict[str, np.ndarray]]:
        """Tokens of one record, per modality; raises `GalaxyInputError` if nothing usable is left."""
        if not isinstance(record, Mapping):
            raise GalaxyInputError(f"galaxy #{index}: expected a mapping (a galaxy record), got {type(record)}")
        galaxy = repr(record["object_id"]) if record.get("object_id") is not None else f"#{index}"
        tokens = {}
        given = [m for m in MODALITIES if record.get(m) is not None]
        if record.get("spectrum") is not None:
            tokens["spectrum"] = self._spectrum_tokens(record["spectrum"], galaxy)
        if record.get("photometry") is not None:
            tokens["photometry"] = self._photometry_tokens(record["photometry"], galaxy)
        if record.get("image") is not None:
            tokens["image"] = self._image_tokens(record["image"], galaxy)
        if record.get("properties") is not None:
            tokens["properties"] = self._property_tokens(record["properties"], galaxy)
        tokens = {k: v for k, v in tokens.items() if v is not None}
        if not tokens:
            what = f"its {', '.join(given)} held no valid data" if given else "it has no modality"
            raise _fail(galaxy, "record", f"no usable modality ({what}; spectra must overlap "
                        f"{self.spectrum_grid_edges[0]:.0f}-{self.spectrum_grid_edges[-1]:.0f} A)",
                        "give at least one of spectrum, photometry, image, properties with finite values and "
                        "ivar > 0")
        return tokens

    def __call__(self, records: Mapping | Sequence[Mapping], return_tensors: str | None = None, **kwargs
                 ) -> BatchFeature:
        """Tokenize one record or a list of records into a padded batch.

        Keys are present only for modalities that some galaxy in the batch has; each modality has its own
        ``*_attention_mask`` (1 = real token, 0 = padding).
        """
        if kwargs:
            raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
        if isinstance(records, Mapping):
            records = [records]
        tokens = [self.tokenize(r, i) for i, r in enumerate(records)]
        data: dict[str, np.ndarray] = {}
        batch = len(tokens)

        def pad(name: str, field: str, key: str, dtype=np.float32) -> None:
            arrays = [t[name][field] if name in t else None for t in tokens]
            length = max(len(a) for a in arrays if a is not None)
            shape = next(a.shape[1:] for a in arrays if a is not None)
            out = np.zeros((batch, length, *shape), dtype=dtype)
            for i, a in enumerate(arrays):
                if a is not None:
                    out[i, : len(a)] = a
            data[key] = out

        def mask(name: str, field: str, key: str) -> None:
            lengths = [len(t[name][field]) if name in t else 0 for t in tokens]
            data[key] = (np.arange(max(lengths))[None, :] < np.asarray(lengths)[:, None]).astype(np.int64)

        if any("spectrum" in t for t in tokens):
            for field in ("values", "weights", "wavelength"):
                pad("spectrum", field, f"spectrum_{field}")
            mask("spectrum", "values", "spectrum_attention_mask")
            data["spectrum_norm"] = np.asarray([t["spectrum"]["norm"] if "spectrum" in t else 0.0 for t in tokens],
                                               dtype=np.float32)
            data["spectrum_norm_mask"] = np.asarray([int("spectrum" in t) for t in tokens], dtype=np.int64)
        if any("photometry" in t for t in tokens):
            pad("photometry", "values", "photometry_values")
            pad("photometry", "wavelength", "photometry_wavelength")
            mask("photometry", "values", "photometry_attention_mask")
        if any("image" in t for t in tokens):
            for field in ("values", "weights", "wavelength", "position", "seeing"):
                pad("image", field, f"image_{field}")
            mask("image", "values", "image_attention_mask")
        if any("properties" in t for t in tokens):
            pad("properties", "values", "property_values")
            pad("properties", "ids", "property_ids", dtype=np.int64)
            mask("properties", "values", "property_attention_mask")
        return BatchFeature(data=data, tensor_type=return_tensors)


__all__ = ["GalFMProcessor", "GalaxyInputError", "resample_spectrum", "asinh_magnitude"]
