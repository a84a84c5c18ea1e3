"""Where to look: square crops of SR images where methods differ most (for visual reports).

Every candidate image (one per method) is reduced to its BT.601 luma in [0, 1], and a
per-window *score* is computed for every ``crop_size``² window:

* with a reference and two or more candidates: the standard deviation across candidates of
  each one's mean absolute error to the reference in the window — where the methods'
  errors differ most;
* with a reference and one candidate: that candidate's mean absolute error in the window;
* without a reference, two or more candidates: the window's mean of the per-pixel mean
  absolute deviation of the candidates from their average — for two images that is half
  their mean absolute difference;
* one candidate and no reference, or when the score is zero everywhere (all methods agree):
  the mean gradient magnitude (the most detailed region).

Windows are scored on a grid of ``block`` pixels (the largest divisor of ``crop_size`` not
above ``crop_size / 16``, so a 96-pixel crop moves in 6-pixel steps) from block means of the
per-pixel maps, which is exact for window means on that grid. The best window is taken, the
windows overlapping it are dropped, and so on: crops never overlap and ties go to the first
window in raster order, so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Crop:
    """A square region ``[top, top + size) × [left, left + size)`` in SR pixels."""

    top: int
    left: int
    size: int

    def overlaps(self, other: Crop) -> bool:
        return (abs(self.top - other.top) < max(self.size, other.size)
                and abs(self.left - other.left) < max(self.size, other.size))

    def take(self, image: np.ndarray) -> np.ndarray:
        """The crop of ``(H, W, ...)`` ``image``."""
        return image[self.top:self.top + self.size, self.left:self.left + self.size]


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, dtype=np.float32)[..., :3] @ _LUMA


def _gradient(grey: np.ndarray) -> np.ndarray:
    magnitude = np.zeros_like(grey)
    magnitude[:, :-1] += np.abs(np.diff(grey, axis=1))
    magnitude[:-1, :] += np.abs(np.diff(grey, axis=0))
    return magnitude


def block_size(crop_size: int) -> int:
    """Grid step for scoring windows: the largest divisor of ``crop_size`` ≤ crop_size/16."""
    limit = max(1, crop_size // 16)
    return max(d for d in range(1, limit + 1) if crop_size % d == 0)


def _block_means(values: np.ndarray, block: int) -> np.ndarray:
    rows, cols = values.shape[0] // block, values.shape[1] // block
    trimmed = values[:rows * block, :cols * block].astype(np.float64)
    return trimmed.reshape(rows, block, cols, block).mean(axis=(1, 3))


def _window_means(blocks: np.ndarray, k: int) -> np.ndarray:
    """Means of every ``k × k`` window of ``blocks``: ``(rows - k + 1, cols - k + 1)``."""
    total = np.zeros((blocks.shape[0] + 1, blocks.shape[1] + 1))
    total[1:, 1:] = blocks.cumsum(axis=0).cumsum(axis=1)
    sums = total[k:, k:] - total[:-k, k:] - total[k:, :-k] + total[:-k, :-k]
    return sums / (k * k)


def window_scores(candidates: Sequence[np.ndarray], reference: np.ndarray | None,
                  crop_size: int) -> tuple[np.ndarray, int]:
    """Score of every window on the block grid (see the module doc) and the block size.

    Args:
        candidates: one or more ``(H, W, 3)`` float images in [0, 1], all the same size.
        reference: ``(H, W, 3)`` or None.
        crop_size: window side in pixels, at most ``min(H, W)``.
    Returns:
        ``(scores, block)``: window ``(i, j)`` starts at pixel ``(i * block, j * block)``.
    """
    if not candidates:
        raise ValueError("need at least one candidate image")
    shape = candidates[0].shape[:2]
    if any(c.shape[:2] != shape for c in candidates) or (
            reference is not None and reference.shape[:2] != shape):
        raise ValueError("candidates and reference must have the same size")
    if not 1 <= crop_size <= min(shape):
        raise ValueError(f"crop_size {crop_size} does not fit a {shape[1]}×{shape[0]} image")
    block = block_size(crop_size)
    k = crop_size // block
    greys = [_luma(c) for c in candidates]
    if reference is not None:
        target = _luma(reference)
        local = np.stack([_window_means(_block_means(np.abs(g - target), block), k)
                          for g in greys])
        scores = local.std(axis=0) if len(greys) > 1 else local[0]
    elif len(greys) > 1:
        stack = np.stack(greys)
        deviation = np.abs(stack - stack.mean(axis=0)).mean(axis=0)
        scores = _window_means(_block_means(deviation, block), k)
    else:
        scores = np.zeros((1, 1))
    if not scores.max() > 1e-12:  # nothing differs: show the most detailed region instead
        scores = _window_means(_block_means(_gradient(greys[0]), block), k)
    return scores, block


def select_crops(candidates: Sequence[np.ndarray], reference: np.ndarray | None = None,
                 crop_size: int = 96, count: int = 2) -> list[Crop]:
    """Up to ``count`` non-overlapping ``crop_size`` crops where the candidates differ most,
    best first (see the module doc). ``crop_size`` is reduced to the image's shorter side."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    height, width = candidates[0].shape[:2]
    crop_size = min(crop_size, height, width)
    scores, block = window_scores(candidates, reference, crop_size)
    scores = scores.copy()
    k = crop_size // block
    chosen: list[Crop] = []
    while len(chosen) < count and np.isfinite(scores).any():
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        chosen.append(Crop(int(i) * block, int(j) * block, crop_size))
        scores[max(0, i - k + 1):i + k, max(0, j - k + 1):j + k] = -np.inf
    return chosen
