"""A photo's own noise level, as a function of brightness, and the windows it explains.

RealSR's flatness rule (:mod:`srkit.ops.noise_stats`) keeps a window when its grey-level
variance is below a fixed 20 levels²: a camera noisier than σ ≈ 4.5 levels has no such
window, and one whose noise grows with brightness keeps only its darkest corners. Here the
threshold comes from the photo itself:

1. Every ``window × window`` window gets its grey-level mean μ and its *detrended* variance
   v (the variance left after removing the best-fitting plane, so a smooth gradient — sky,
   vignetting, a lit wall — does not count as structure).
2. The camera's noise-level function is the lower edge of the cloud of (μ, v) over all its
   photos' windows: the flattest windows of each brightness hold noise alone, and a camera's
   noise variance is close to linear in the signal (Poisson–Gaussian: ``v = a + b·μ``, Foi
   et al. 2008). :func:`fit_noise_level` fits the line a low quantile of the windows lie
   below.
3. A window is kept when its variance is explained by that noise: ``v ≤ ratio · (a + b·μ)``
   and it has almost no clipped pixels (clipping at 0 or 255 flattens the noise).

The defaults (32-pixel windows 16 apart, the 5 % quantile, ratio 1.5) were chosen on 18
development photos (every 7th of the project's photo collection outside
benchmarks/quality_holdout.txt), downscaled ×4 through a synthetic camera (anisotropic blur,
noise σ 4 → 12 levels from black to white, JPEG 70–95): in the seven brightness bands below
223 the kept windows' noise was within 14 % of the true noise there (the brightest band held
4 windows, 30 % high), and 15 % of the windows were kept.

Grey levels are BT.601 luma on the 0–255 scale, as in RealSR's script.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Windows with more clipped pixels than this fraction are not used (their noise is cut off).
MAX_CLIPPED = 0.01
ADAPTIVE_METHOD = "noise-level-windows"  # the method name collect-noise records for this rule
NOISE_QUANTILE = 0.05  # the share of windows taken to hold noise alone, at the least
NOISE_RATIO = 1.5  # a kept window's variance is at most this × the noise variance


@dataclass(frozen=True)
class NoiseLevel:
    """Grey-level noise variance ``a + b·μ`` (levels², μ in 0–255) of one photo or camera."""

    a: float
    b: float
    windows: int  # windows the fit saw

    def variance(self, mean: np.ndarray | float) -> np.ndarray:
        return self.a + self.b * np.asarray(mean, dtype=np.float64)

    def sigma(self, mean: np.ndarray | float) -> np.ndarray:
        return np.sqrt(np.maximum(self.variance(mean), 0.0))

    def to_dict(self) -> dict:
        return {"a": round(self.a, 4), "b": round(self.b, 6), "windows": self.windows}


@dataclass(frozen=True)
class WindowStats:
    """Grey-level statistics of windows: ``(n,)`` arrays."""

    mean: np.ndarray  # 0–255
    variance: np.ndarray  # population variance, levels²
    detrended: np.ndarray  # variance after removing the best-fitting plane, levels²
    clipped: np.ndarray  # fraction of pixels at 0 or 255 (within half a level)


def window_stats(grey: np.ndarray, positions: np.ndarray, window: int) -> WindowStats:
    """Statistics of each ``window × window`` window of ``grey`` (0–255) at ``positions``."""
    grey = np.asarray(grey, dtype=np.float64)
    ramp = np.arange(window, dtype=np.float64) - (window - 1) / 2
    ramp_norm = float(window * (ramp ** 2).sum())  # Σ over the window of ramp²
    count = len(positions)
    mean, variance, detrended, clipped = (np.empty(count) for _ in range(4))
    for i, (row, col) in enumerate(np.asarray(positions).tolist()):
        block = grey[row:row + window, col:col + window]
        mean[i] = block.mean()
        variance[i] = block.var()
        centred = block - mean[i]
        slope_y = float(ramp @ centred.sum(axis=1)) / ramp_norm
        slope_x = float(centred.sum(axis=0) @ ramp) / ramp_norm
        # the plane's share of the variance: its two orthogonal ramps
        plane = (slope_x ** 2 + slope_y ** 2) * ramp_norm / block.size
        detrended[i] = max(variance[i] - plane, 0.0)
        clipped[i] = float(((block < 0.5) | (block > 254.5)).mean())
    return WindowStats(mean, variance, detrended, clipped)


def fit_noise_level(mean: np.ndarray, variance: np.ndarray, *,
                    quantile: float = NOISE_QUANTILE, min_windows: int = 20
                    ) -> NoiseLevel | None:
    """The line ``v = a + b·μ`` (a, b ≥ 0) below which ``quantile`` of the windows lie.

    Quantile regression (Koenker & Bassett 1978) solved as a linear programme: the flattest
    windows of every brightness pull the line down to the noise, while structured windows,
    however many, only sit above it. Windows of all the photos of one camera go in together,
    so that brightness bands a photo lacks are filled by the others. Returns None with fewer
    than ``min_windows`` windows.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    mean = np.asarray(mean, np.float64).reshape(-1)
    variance = np.asarray(variance, np.float64).reshape(-1)
    count = len(mean)
    if count < min_windows:
        return None
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    scale = max(float(np.median(variance)), 1e-6)  # a well-conditioned programme
    # minimise Σ q·u + (1 − q)·w subject to a + b·μ + u − w = v, all variables ≥ 0
    identity = sparse.identity(count, format="csr")
    constraints = sparse.hstack([sparse.csr_matrix(np.stack([np.ones(count), mean / 255], 1)),
                                 identity, -identity], format="csr")
    cost = np.concatenate([[0.0, 0.0], np.full(count, quantile), np.full(count, 1 - quantile)])
    result = linprog(cost, A_eq=constraints, b_eq=variance / scale, bounds=(0, None),
                     method="highs")
    if not result.success:
        return None
    a, b = result.x[:2] * scale
    return NoiseLevel(float(a), float(b / 255), count)


def explained_by_noise(stats: WindowStats, level: NoiseLevel, ratio: float = NOISE_RATIO
                       ) -> np.ndarray:
    """Windows whose detrended variance is at most ``ratio`` × the noise variance at their
    brightness, and which are not clipped: a ``(n,)`` bool mask."""
    return ((stats.detrended <= ratio * np.maximum(level.variance(stats.mean), 1e-6))
            & (stats.clipped <= MAX_CLIPPED))


def detrended_patch(rgb_window: np.ndarray) -> np.ndarray:
    """``(p, p, 3)`` window minus each channel's best-fitting plane: the noise it holds,
    float32 on the [0, 1] scale (zero mean per channel, as RealSR's patches)."""
    window = np.asarray(rgb_window, dtype=np.float64)
    rows, cols = window.shape[:2]
    ramp_y = np.arange(rows) - (rows - 1) / 2
    ramp_x = np.arange(cols) - (cols - 1) / 2
    centred = window - window.mean(axis=(0, 1), keepdims=True)
    slope_y = np.einsum("i,ijc->c", ramp_y, centred) / (cols * (ramp_y ** 2).sum())
    slope_x = np.einsum("j,ijc->c", ramp_x, centred) / (rows * (ramp_x ** 2).sum())
    plane = ramp_y[:, None, None] * slope_y + ramp_x[None, :, None] * slope_x
    return (centred - plane).astype(np.float32)


def fit_patch_noise_level(mean: np.ndarray, variance: np.ndarray, *, bands: int = 8,
                          min_patches: int = 3) -> NoiseLevel | None:
    """The noise level ``a + b·μ`` (a, b ≥ 0) of patches known to hold noise alone.

    Unlike :func:`fit_noise_level` (the lower edge of all windows, to find the noise), this is
    the typical level of the kept patches: the median variance of each brightness band with
    ``min_patches`` or more, fitted by least squares weighted by the patches per band. None
    when fewer than three bands have enough patches (too narrow to tell how the noise grows).
    """
    mean, variance = np.asarray(mean, np.float64), np.asarray(variance, np.float64)
    usable = np.isfinite(mean) & np.isfinite(variance)
    mean, variance = mean[usable], variance[usable]
    edges = np.linspace(0, 255, bands + 1)
    points = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (mean >= low) & (mean < high if high < 255 else mean <= high)
        if inside.sum() >= min_patches:
            points.append((float(np.median(mean[inside])), float(np.median(variance[inside])),
                           float(np.sqrt(inside.sum()))))
    if len(points) < 3:
        return None
    mu, v, weight = np.array(points).T
    from scipy.optimize import nnls

    (a, b), _ = nnls(np.stack([np.ones_like(mu), mu / 255], 1) * weight[:, None], v * weight)
    return NoiseLevel(float(a), float(b / 255), int(usable.sum()))
