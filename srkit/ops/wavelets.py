"""Frequency separations for DASR (Wei et al., CVPR 2021, Sec. 3.1).

DASR trains its down-sampler and SR network with adversarial losses on the *high*
frequencies only and pixel losses on the *low* ones. Three separations are offered:

``wavelet`` (WFS)
    one-level Haar DWT; low = LL, high = LH, HL, HH stacked (3C channels, half size).
``gaussian`` (GBFS)
    low = Gaussian blur (5×5, σ = 5/6, as in the reference code), high = image − low;
    ``low + high == image`` exactly.
``rgb``
    no separation: low = high = the image.

The Haar transform follows PyWavelets' ``pywt.dwt2(x, 'haar')`` exactly (mode
``symmetric``): for the 2×2 block ``[[a, b], [c, d]]`` (rows top to bottom)::

    LL = (a + b + c + d) / 2      cA
    LH = (a + b - c - d) / 2      cH  (low-pass along width, high-pass along height)
    HL = (a - b + c - d) / 2      cV
    HH = (a - b - c + d) / 2      cD

Odd heights/widths are extended by repeating the last row/column (``symmetric`` mode
for a two-tap filter). :func:`low_frequency` reports LL / 2, the 2×2 block mean, which keeps
the image's [0, 1] range (the reference code's ``LL * 0.5`` normalisation).

All functions take ``(B, C, H, W)`` float tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FREQ_KINDS = ("wavelet", "gaussian", "rgb")

GAUSSIAN_KERNEL_SIZE = 5  # reference DSN code: FilterLow(kernel_size=5), sigma = size / 6


def _check(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")


def _check_kind(kind: str) -> None:
    if kind not in FREQ_KINDS:
        raise ValueError(f"frequency separation must be one of {FREQ_KINDS}, got {kind!r}")


def haar_dwt2(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One-level 2-D Haar DWT: ``(B, C, H, W)`` → LL, LH, HL, HH, each ``(B, C, ⌈H/2⌉, ⌈W/2⌉)``.

    Equal to ``pywt.dwt2(x, 'haar')`` → ``(cA, (cH, cV, cD))`` on the last two axes.
    """
    _check(x)
    height, width = x.shape[-2:]
    if height % 2 or width % 2:
        x = torch.cat([x, x[..., -1:, :]], dim=-2) if height % 2 else x
        x = torch.cat([x, x[..., :, -1:]], dim=-1) if width % 2 else x
    a = x[..., 0::2, 0::2]
    b = x[..., 0::2, 1::2]
    c = x[..., 1::2, 0::2]
    d = x[..., 1::2, 1::2]
    return ((a + b + c + d) * 0.5, (a + b - c - d) * 0.5, (a - b + c - d) * 0.5,
            (a - b - c + d) * 0.5)


def haar_idwt2(ll: torch.Tensor, lh: torch.Tensor, hl: torch.Tensor,
               hh: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_dwt2` (``pywt.idwt2``): four ``(B, C, h, w)`` → ``(B, C, 2h, 2w)``.

    For odd original sizes crop the result (the extension row/column comes back last).
    """
    for band in (ll, lh, hl, hh):
        _check(band)
    a = (ll + lh + hl + hh) * 0.5
    b = (ll + lh - hl - hh) * 0.5
    c = (ll - lh + hl - hh) * 0.5
    d = (ll - lh - hl + hh) * 0.5
    top = torch.stack([a, b], dim=-1).flatten(-2)      # (B, C, h, 2w): a b a b ...
    bottom = torch.stack([c, d], dim=-1).flatten(-2)
    return torch.stack([top, bottom], dim=-2).flatten(-3, -2)


def gaussian_kernel2d(kernel_size: int = GAUSSIAN_KERNEL_SIZE,
                      sigma: float | None = None) -> torch.Tensor:
    """Normalised ``(k, k)`` Gaussian; σ defaults to ``k / 6`` (the reference's choice)."""
    sigma = kernel_size / 6.0 if sigma is None else sigma
    coords = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = torch.outer(g, g)
    return (kernel / kernel.sum()).to(torch.float32)


def gaussian_blur(x: torch.Tensor, kernel_size: int = GAUSSIAN_KERNEL_SIZE,
                  sigma: float | None = None) -> torch.Tensor:
    """Per-channel Gaussian blur with reflect padding; same size as ``x``."""
    _check(x)
    channels = x.shape[1]
    kernel = gaussian_kernel2d(kernel_size, sigma).to(x)
    weight = kernel.expand(channels, 1, kernel_size, kernel_size)
    pad = kernel_size // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode=mode), weight, groups=channels)


def low_frequency(x: torch.Tensor, kind: str = "wavelet") -> torch.Tensor:
    """The low-frequency part of ``x`` ``(B, C, H, W)`` in the image's range.

    wavelet: LL / 2 = 2×2 block means, ``(B, C, ⌈H/2⌉, ⌈W/2⌉)``; gaussian: the blur;
    rgb: ``x`` itself.
    """
    _check(x)
    _check_kind(kind)
    if kind == "wavelet":
        return haar_dwt2(x)[0] * 0.5
    if kind == "gaussian":
        return gaussian_blur(x)
    return x


def high_frequency(x: torch.Tensor, kind: str = "wavelet", *,
                   shifted: bool = False) -> torch.Tensor:
    """The high-frequency part of ``x`` ``(B, C, H, W)``, zero-centred.

    wavelet: LH, HL, HH concatenated on channels (``(B, 3C, ⌈H/2⌉, ⌈W/2⌉)``: for RGB the
    order is LH_r, LH_g, LH_b, HL_r, ...); gaussian: ``x - blur(x)``; rgb: ``x`` itself.
    ``shifted`` maps the zero-centred bands to ``0.5 + 0.5 * band``, the reference code's
    normalisation of discriminator inputs (no effect for ``rgb``).
    """
    _check(x)
    _check_kind(kind)
    if kind == "rgb":
        return x
    if kind == "wavelet":
        _, lh, hl, hh = haar_dwt2(x)
        high = torch.cat([lh, hl, hh], dim=1)
    else:
        high = x - gaussian_blur(x)
    return 0.5 + 0.5 * high if shifted else high


def high_channels(kind: str, channels: int = 3) -> int:
    """Channels of :func:`high_frequency` for an input with ``channels`` channels."""
    _check_kind(kind)
    return 3 * channels if kind == "wavelet" else channels


def separation_geometry(kind: str, kernel_size: int = GAUSSIAN_KERNEL_SIZE
                        ) -> list[tuple[int, int, int, int]]:
    """The separation as conv layers ``(kernel, stride, padding, dilation)`` for
    receptive-field bookkeeping: a 2×2 stride-2 window for the wavelet, the blur's window
    for the Gaussian residual, nothing for rgb."""
    _check_kind(kind)
    if kind == "wavelet":
        return [(2, 2, 0, 1)]
    if kind == "gaussian":
        return [(kernel_size, 1, kernel_size // 2, 1)]
    return []
