"""Flat-window noise statistics: RealSR's rule for finding pure-noise patches in photos.

RealSR (Ji et al. 2020, Sec. 3.3) slides a window over a photo and keeps it as a noise
sample when it is flat: its grey-level variance is below a threshold (20 on the 0–255 scale)
and its grey-level mean above a minimum (to avoid crushed shadows). The grey level is the
ITU-R BT.601 luma that Pillow's ``convert("L")`` computes, as in the reference code, and
the variance is the population variance (``np.var``) over the whole window. The kept window,
minus its per-channel mean, is the noise sample.
"""

from __future__ import annotations

import numpy as np

# Pillow's "L" conversion (ITU-R 601-2 luma), used by RealSR's collect_noise script.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of ``(H, W, 3)`` RGB in [0, 1], as float64 ``(H, W)`` on the 0–255 scale.

    Not rounded to integers (Pillow rounds 8-bit luma; the rounding adds at most 1/12 grey
    level² of variance, and 16-bit photos keep their precision this way).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    weights = np.asarray(LUMA_WEIGHTS, dtype=np.float64) * 255.0
    return rgb.astype(np.float64, copy=False) @ weights


def window_positions(height: int, width: int, window: int, stride: int) -> np.ndarray:
    """Top-left ``(row, col)`` of every full ``window × window`` window, ``(n, 2)`` int32.

    Rows then columns, ``stride`` apart, starting at 0 and including the last window that
    fits. (RealSR's script loops over ``range(0, size - window, stride)`` and so misses the
    last window when it ends exactly on the border; we keep it.)
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be positive, got {window}, {stride}")
    rows = np.arange(0, height - window + 1, stride)
    cols = np.arange(0, width - window + 1, stride)
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1).reshape(-1, 2)
    return grid.astype(np.int32)


def window_grey_stats(grey: np.ndarray, positions: np.ndarray, window: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population variance of ``grey`` over each window, two ``(n,)`` float64."""
    means = np.empty(len(positions))
    variances = np.empty(len(positions))
    for i, (row, col) in enumerate(np.asarray(positions).tolist()):
        block = grey[row:row + window, col:col + window]
        means[i] = block.mean()
        variances[i] = block.var()
    return means, variances


def flat_window_mask(means: np.ndarray, variances: np.ndarray, max_variance: float,
                     min_mean: float) -> np.ndarray:
    """RealSR's test, ``variance < max_variance and mean > min_mean`` (both strict)."""
    return (np.asarray(variances) < max_variance) & (np.asarray(means) > min_mean)


def zero_mean_patch(rgb_window: np.ndarray) -> np.ndarray:
    """``(p, p, 3)`` window minus its per-channel mean, float32 on the [0, 1] scale."""
    window = np.asarray(rgb_window, dtype=np.float64)
    return (window - window.mean(axis=(0, 1), keepdims=True)).astype(np.float32)


def patch_std(patches: np.ndarray) -> np.ndarray:
    """Standard deviation of each patch over all its pixels and channels, ``(n,)`` float64.

    ``patches`` is ``(n, p, p, 3)`` (zero mean per channel, so this is the RMS noise level),
    in the units of the input (multiply by 255 for grey levels).
    """
    patches = np.asarray(patches, dtype=np.float64)
    return patches.reshape(len(patches), -1).std(axis=1)
