"""A spectrum moved to its rest frame: the absorption-line detail a stellar-population fit reads.

The encoder sees a spectrum as observed-frame patches of 64 pixels, so the same absorption line falls on a
different patch and position at every redshift, and its summary keeps little of the line strengths that set
age and metallicity (on MUSE-like spectra at S/N 20-50 a ridge regression on the rest-frame spectrum reaches
0.074 dex in log Z where the encoder-only SFH head had 0.13: `benchmarks/RESULTS.md`). Given the redshift (the
record's in training, the head's own template scan otherwise), a redshift on the processor's log-lambda grid
is a whole number of pixels, so the rest-frame spectrum is the observed one read from an offset: no
interpolation. It is binned (ivar-weighted), divided by its median and read by a small 1-D convolution stack
whose last layer keeps each bin's place, because which line sits where is the information.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .configuration_galfm import GalFMConfig
from .modality_spectrum import unpack_patches


class GalFMRestFrameSpectrum(nn.Module):
    """(B, ``rest_frame_features``) features of each galaxy's rest-frame spectrum at given redshifts.

    The rest grid starts at ``rest_frame_log_min`` rounded onto the observed grid (so that every redshift is a
    whole-pixel shift) and has ``rest_frame_bins`` bins of ``rest_frame_bin_pixels`` pixels. A galaxy without a
    spectrum, or with a NaN redshift, gets the features of an empty spectrum.
    """

    def __init__(self, config: GalFMConfig):
        super().__init__()
        settings = config.head_config
        self.log_min, self.log_step = settings.scan_observed_log_min, settings.scan_log_step
        self.num_observed = settings.scan_observed_pixels
        self.offset = round((settings.rest_frame_log_min - self.log_min) / self.log_step)
        self.bins, self.bin_pixels = settings.rest_frame_bins, settings.rest_frame_bin_pixels
        channels = settings.rest_frame_channels
        self.convolutions = nn.Sequential(
            nn.Conv1d(2, channels, 7, stride=2, padding=3), nn.GELU(),
            nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(channels, channels // 2, 5, stride=2, padding=2), nn.GELU(),
        )
        length = self.bins
        for _ in range(3):
            length = (length - 1) // 2 + 1
        self.projection = nn.Sequential(nn.Linear(channels // 2 * length, settings.rest_frame_features), nn.GELU())

    @property
    def rest_wavelength_edges(self) -> torch.Tensor:
        """(bins + 1,) Angstrom: the rest-frame bins' edges."""
        start = self.log_min + self.offset * self.log_step
        return torch.pow(10.0, start + self.log_step * self.bin_pixels * torch.arange(self.bins + 1,
                                                                                     dtype=torch.float64))

    def shift_pixels(self, redshift: torch.Tensor) -> torch.Tensor:
        """The whole-pixel shift of each redshift on the observed grid (``log10(1 + z) / step``, rounded)."""
        return torch.round(torch.log10(1.0 + redshift.double().clamp_min(0.0)) / self.log_step).long()

    def rest_frame(self, inputs: Mapping[str, torch.Tensor], redshift: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(flux, present), each (B, bins): the ivar-weighted binned rest-frame spectrum over its median (0 where
        no pixel was measured), and 1 where a bin holds a measurement; all 0 for a batch without spectra."""
        if inputs.get("spectrum_values") is None:
            empty = torch.zeros(redshift.shape[0], self.bins, dtype=torch.float64, device=redshift.device)
            return empty, empty
        flux, ivar = unpack_patches(inputs, self.log_min, self.log_step, self.num_observed)
        known = torch.isfinite(redshift)
        shift = self.shift_pixels(torch.where(known, redshift.double(), 0.0))
        pixels = self.bins * self.bin_pixels
        index = self.offset + shift[:, None] + torch.arange(pixels, device=flux.device)[None]
        inside = (index >= 0) & (index < flux.shape[1]) & known[:, None]
        index = index.clamp(0, flux.shape[1] - 1)
        weight = torch.gather(ivar, 1, index) * inside
        value = torch.gather(flux, 1, index) * weight
        weight_sum = weight.reshape(-1, self.bins, self.bin_pixels).sum(-1)
        binned = value.reshape(-1, self.bins, self.bin_pixels).sum(-1) / weight_sum.clamp_min(1e-30)
        present = weight_sum > 0
        median = torch.nanmedian(torch.where(present, binned, torch.nan), dim=1).values
        scale = torch.where(torch.isfinite(median) & (median.abs() > 0), median.abs(), 1.0)
        return (torch.where(present, binned / scale[:, None], 0.0), present.to(binned.dtype))

    def encode(self, flux: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """(B, ``rest_frame_features``) from `rest_frame`'s (flux, present): the learned part, on its own so that
        a fit can cache the rest-frame spectra (`galfm.training.rest_frame_warmup`)."""
        dtype = self.projection[0].weight.dtype
        # asinh keeps a noisy or line-dominated bin from swamping the rest, as the encoder's patches do
        features = torch.stack([torch.asinh(flux), present], dim=1).to(dtype)
        return self.projection(self.convolutions(features).flatten(1))

    def forward(self, inputs: Mapping[str, torch.Tensor], redshift: torch.Tensor) -> torch.Tensor:
        return self.encode(*self.rest_frame(inputs, redshift))


__all__ = ["GalFMRestFrameSpectrum"]
