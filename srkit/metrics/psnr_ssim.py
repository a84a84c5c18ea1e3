"""PSNR and SSIM with the conventions of SR papers (BasicSR's ``calculate_psnr/ssim``).

Images come in as float RGB in [0, 1]; the numbers are computed on the 0-255 scale (data
range 255) in float64 after removing ``border`` pixels on each side. With ``y_channel`` both
use the Y plane of MATLAB's BT.601 ``rgb2ycbcr`` (Y in [16, 235]); otherwise PSNR takes the
mean squared error over all three channels and SSIM the mean of the per-channel SSIMs.

SSIM is Wang et al. 2004 with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03 and
population (1/N) statistics, averaged over the *valid* region only: the window never leaves
the (cropped) image, so an H×W image yields an (H-10)×(W-10) SSIM map. This is what BasicSR
(``cv2.filter2D`` then ``[5:-5, 5:-5]``) and the authors' MATLAB ``ssim_index`` compute.
"""

from __future__ import annotations

import math

import numpy as np

from srkit.ops.colour import rgb_to_y

DATA_RANGE = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _as_channels(img: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(img)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ValueError(f"{name} must be (H, W), (H, W, 1) or (H, W, 3), got {array.shape}")
    return array


def prepare(img: np.ndarray, ref: np.ndarray, *, border: int = 0, y_channel: bool = True
            ) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, crop ``border`` pixels per side, convert to Y if asked, scale to 0-255.

    Args:
        img, ref: float images in [0, 1], ``(H, W, 3)`` RGB or ``(H, W)`` / ``(H, W, 1)`` grey
            (a grey plane is used as it is, like BasicSR does).
    Returns:
        Two float64 arrays ``(H - 2 border, W - 2 border, C)`` on [0, 255], C = 1 for Y.
    """
    a, b = _as_channels(img, "img"), _as_channels(ref, "ref")
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    h, w = a.shape[:2]
    if 2 * border >= min(h, w):
        raise ValueError(f"border {border} leaves nothing of a {h}×{w} image")
    if border:
        a = a[border:-border, border:-border]
        b = b[border:-border, border:-border]
    if y_channel and a.shape[2] == 3:
        a, b = rgb_to_y(a)[..., None], rgb_to_y(b)[..., None]
    return a.astype(np.float64) * DATA_RANGE, b.astype(np.float64) * DATA_RANGE


def psnr(img: np.ndarray, ref: np.ndarray, *, border: int = 0, y_channel: bool = True) -> float:
    """Peak signal-to-noise ratio in dB, peak 255: ``10 log10(255² / MSE)``.

    ``inf`` when the images are identical. See the module docstring for the conventions.
    """
    a, b = prepare(img, ref, border=border, y_channel=y_channel)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """1-D Gaussian taps ``(size,)`` summing to 1 (the separable factor of SSIM's window)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    taps = np.exp(-(x**2) / (2 * sigma**2))
    return taps / taps.sum()


def filter_valid(plane: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Correlate ``(H, W)`` with the separable window ``taps ⊗ taps``, 'valid' region only.

    Returns ``(H - k + 1, W - k + 1)`` for ``k = len(taps)``; no padding is ever used.
    """
    k = len(taps)
    h, w = plane.shape
    rows = sum(taps[i] * plane[i:h - k + 1 + i] for i in range(k))
    return sum(taps[j] * rows[:, j:w - k + 1 + j] for j in range(k))


def ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two ``(H, W)`` float64 planes on the 0-255 scale (valid region)."""
    if min(a.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels after the "
                         f"border crop, got {a.shape[0]}×{a.shape[1]}")
    taps = gaussian_window()
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    mu_a, mu_b = filter_valid(a, taps), filter_valid(b, taps)
    var_a = filter_valid(a * a, taps) - mu_a**2
    var_b = filter_valid(b * b, taps) - mu_b**2
    cov_ab = filter_valid(a * b, taps) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov_ab + c2)
                / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(ssim_map.mean())


def ssim(img: np.ndarray, ref: np.ndarray, *, border: int = 0, y_channel: bool = True) -> float:
    """Structural similarity in [-1, 1] (1 = identical). See the module docstring."""
    a, b = prepare(img, ref, border=border, y_channel=y_channel)
    return float(np.mean([ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[2])]))
