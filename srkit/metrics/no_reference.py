"""NIQE, the "completely blind" Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik,
IEEE SPL 2013). Lower is more natural; no reference image is needed.

The image's Y plane (MATLAB BT.601, 0-255, rounded to integers as BasicSR does to match
MATLAB) is cut to whole 96×96 blocks. At two scales (the plane, then the plane shrunk ×0.5
with MATLAB's antialiased bicubic ``imresize``) each pixel is normalised to its mean-subtracted
contrast-normalised (MSCN) value ``(I - μ) / (σ + 1)``, μ and σ from a 7×7 Gaussian window
(σ = 7/6, edges replicated). Per block and scale 18 features are fitted: an asymmetric
generalised Gaussian (AGGD) to the MSCN values (shape α and mean spread (βl + βr) / 2) and to
the products of each value with its neighbour in four directions (α, mean, βl, βr), the
neighbour taken circularly within the block. A multivariate Gaussian fitted to the 36-feature
block vectors is compared with the pristine model ``(μp, Σp)`` of the original MATLAB release:

    NIQE = sqrt((μp - μ)ᵀ ((Σp + Σ) / 2)⁺ (μp - μ))

Blocks with undefined features (a flat block has no negative MSCN values) are left out of Σ
and their undefined features out of μ, as MATLAB's ``nanmean``/``nancov`` do. The pristine
parameters ship in ``srkit/assets/niqe_pris_params.npz`` (from BasicSR 1.4.2, Apache-2.0, who
converted them from the MATLAB release).
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib.resources import files

import numpy as np
from scipy.ndimage import convolve
from scipy.special import gamma

from srkit.ops.colour import rgb_to_y
from srkit.ops.resize import imresize

BLOCK = 96
MIN_BLOCKS = 2  # a covariance needs at least two block feature vectors
# Neighbour offsets (rows, cols) for the paired products: horizontal, vertical, two diagonals.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


@lru_cache(maxsize=1)
def pristine_params() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mu (36,), cov (36, 36), window (7, 7))`` of the standard NIQE model, float64."""
    with files("srkit").joinpath("assets", "niqe_pris_params.npz").open("rb") as handle:
        data = np.load(handle)
        return (data["mu_pris_param"].astype(np.float64).ravel(),
                data["cov_pris_param"].astype(np.float64),
                data["gaussian_window"].astype(np.float64))


@lru_cache(maxsize=1)
def _ggd_ratio_table() -> tuple[np.ndarray, np.ndarray]:
    """Shape grid 0.2:0.001:10 of the reference code and ``Γ(2/α)² / (Γ(1/α) Γ(3/α))`` on it."""
    shapes = np.arange(0.2, 10.001, 0.001)
    ratios = gamma(2 / shapes) ** 2 / (gamma(1 / shapes) * gamma(3 / shapes))
    assert np.all(np.diff(ratios) > 0), "the ratio must increase with the shape"
    return shapes, ratios


def _nearest_on_grid(values: np.ndarray) -> np.ndarray:
    """Index of the grid ratio closest to each value (first on ties; NaN → 0, like argmin)."""
    _, ratios = _ggd_ratio_table()
    upper = np.clip(np.searchsorted(ratios, values), 1, len(ratios) - 1)
    lower = upper - 1
    pick_upper = (ratios[upper] - values) ** 2 < (ratios[lower] - values) ** 2
    index = np.where(pick_upper, upper, lower)
    return np.where(np.isnan(values), 0, index)


def fit_aggd(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moment-matching AGGD fit of each row of ``samples`` ``(N, M)``.

    Returns ``(alpha, beta_left, beta_right)``, each ``(N,)``; NaN betas for rows without
    negative or positive values.
    """
    shapes, _ = _ggd_ratio_table()
    negative, positive = samples < 0, samples > 0
    square = samples**2
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt((square * negative).sum(1) / negative.sum(1))
        right_std = np.sqrt((square * positive).sum(1) / positive.sum(1))
        gamma_hat = left_std / right_std
        r_hat = np.mean(np.abs(samples), axis=1) ** 2 / np.mean(square, axis=1)
        r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    alpha = shapes[_nearest_on_grid(r_hat_norm)]
    spread = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left_std * spread, right_std * spread


def _mscn(plane: np.ndarray, window: np.ndarray) -> np.ndarray:
    mu = convolve(plane, window, mode="nearest")
    sigma = np.sqrt(np.abs(convolve(plane * plane, window, mode="nearest") - mu * mu))
    return (plane - mu) / (sigma + 1)


def block_features(mscn: np.ndarray, block: int) -> np.ndarray:
    """The 18 NIQE features of each ``block``×``block`` tile of an MSCN plane → ``(N, 18)``."""
    rows, cols = mscn.shape[0] // block, mscn.shape[1] // block
    tiles = (mscn[:rows * block, :cols * block]
             .reshape(rows, block, cols, block).transpose(0, 2, 1, 3)
             .reshape(rows * cols, block, block))
    alpha, beta_l, beta_r = fit_aggd(tiles.reshape(len(tiles), -1))
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in _SHIFTS:
        pairs = tiles * np.roll(tiles, shift, axis=(1, 2))
        alpha, beta_l, beta_r = fit_aggd(pairs.reshape(len(tiles), -1))
        mean = (beta_r - beta_l) * gamma(2 / alpha) / gamma(1 / alpha)
        features += [alpha, mean, beta_l, beta_r]
    return np.stack(features, axis=1)


def niqe_features(y_plane: np.ndarray) -> np.ndarray:
    """Per-block 36-feature vectors ``(N, 36)`` of a luma plane ``(H, W)`` on 0-255."""
    _, _, window = pristine_params()
    rows, cols = y_plane.shape[0] // BLOCK, y_plane.shape[1] // BLOCK
    plane = np.asarray(y_plane, dtype=np.float64)[:rows * BLOCK, :cols * BLOCK]
    fine = block_features(_mscn(plane, window), BLOCK)
    half = imresize(plane / 255.0, 0.5).astype(np.float64) * 255.0
    coarse = block_features(_mscn(half, window), BLOCK // 2)
    return np.concatenate([fine, coarse], axis=1)


def niqe_y(y_plane: np.ndarray) -> float:
    """NIQE of a luma plane ``(H, W)`` on 0-255 (used as given: round it first to match MATLAB).

    Needs at least two whole 96×96 blocks (e.g. 192×96); raises ValueError otherwise.
    """
    y_plane = np.asarray(y_plane)
    if y_plane.ndim != 2:
        raise ValueError(f"expected a (H, W) luma plane, got shape {y_plane.shape}")
    blocks = (y_plane.shape[0] // BLOCK) * (y_plane.shape[1] // BLOCK)
    if blocks < MIN_BLOCKS:
        raise ValueError(f"NIQE needs at least {MIN_BLOCKS} whole {BLOCK}×{BLOCK} blocks "
                         f"(e.g. {2 * BLOCK}×{BLOCK}), got {y_plane.shape[0]}×{y_plane.shape[1]}")
    mu_pris, cov_pris, _ = pristine_params()
    features = niqe_features(y_plane)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise ValueError("NIQE is undefined: fewer than two blocks have texture (flat image)")
    mu = np.nanmean(features, axis=0)
    cov = np.cov(complete, rowvar=False)
    diff = mu_pris - mu
    distance = diff @ np.linalg.pinv((cov_pris + cov) / 2) @ diff
    return float(math.sqrt(max(float(distance), 0.0)))


def niqe(img: np.ndarray, *, border: int = 0) -> float:
    """NIQE of an image (lower = more natural), BasicSR's ``calculate_niqe(convert_to='y')``.

    Args:
        img: float RGB ``(H, W, 3)`` in [0, 1], or a grey plane ``(H, W)`` in [0, 1] used as
            the luma as it is.
        border: pixels removed on each side first.
    Returns:
        The NIQE score (typically 2-10 for photos). Raises ValueError when, after the crop,
        the image holds fewer than two whole 96×96 blocks.
    """
    array = np.asarray(img)
    if array.ndim == 3 and array.shape[2] == 3:
        y_plane = rgb_to_y(array) * 255.0
    elif array.ndim == 2:
        y_plane = array.astype(np.float64) * 255.0
    else:
        raise ValueError(f"img must be (H, W, 3) or (H, W), got shape {array.shape}")
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if border:
        y_plane = y_plane[border:-border, border:-border]
    # rounding to the 8-bit grid is what makes BasicSR agree with MATLAB's uint8 path
    return niqe_y(np.round(y_plane))
