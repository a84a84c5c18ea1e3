"""What every kernel estimator shares: the result type, post-processing, the ×4 derivation.

Sizes: a ×2 kernel is 13×13 (KernelGAN's), a ×4 kernel 25×25 (its analytic ×4 kernel), so
that every method's kernels fit in one pool dataset per scale. Kernels leave this package
*centred* (centre of mass at the array centre, sum 1), the pool convention of
:mod:`srkit.ops.kernels`: ``blur_downsample(hr, kernel, scale)`` then reproduces the LR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from srkit.ops.kernels import centre_kernel, centre_of_mass, normalise, pad_kernel
from srkit.ops.resize import cubic

KERNEL_SIZE = {2: 13, 4: 25}
SCALES = tuple(KERNEL_SIZE)

# Quality flags written to the pool beside each kernel.
FLAG_OK = "ok"
FLAG_NEAR_BICUBIC = "near-bicubic"   # the estimate is no sharper than bicubic downscaling
FLAG_FLAT = "flat-image"             # too little structure to see the blur in
FLAG_SMALL = "small-image"           # too few pixels for a trustworthy estimate


@dataclass
class KernelEstimate:
    """The result of one estimator on one LR photo.

    Attributes:
        kernels: ``{scale: (k, k) float32}`` centred kernels summing to 1; always holds the
            ×2 kernel (what the estimators learn) and the requested scale.
        flag: ``"ok"`` or why the estimate is doubtful (see the ``FLAG_*`` constants).
        info: diagnostics (iterations run, losses, fitted covariance ...), JSON-friendly.
    """

    kernels: dict[int, np.ndarray]
    flag: str = FLAG_OK
    info: dict = field(default_factory=dict)


def bicubic_kernel_x2() -> np.ndarray:
    """MATLAB's antialiased bicubic ×2 downscaling as an 8×8 kernel (KernelGAN's prior).

    Taps at ±0.5, ±1.5, ±2.5, ±3.5 px of the Keys cubic widened ×2: the outer product of
    ``cubic(x / 2) / 2`` (sums to 1). Its centre falls between pixels 3 and 4.
    """
    taps = cubic((np.arange(8) - 3.5) / 2) / 2
    return np.outer(taps, taps).astype(np.float32)


def zeroize_negligible(kernel: np.ndarray, n: int = 40) -> np.ndarray:
    """KernelGAN's clean-up: subtract 0.75 × the ``n+1``-th largest value, clip at 0, sum 1."""
    kernel = np.asarray(kernel, dtype=np.float64)
    floor = 0.75 * np.sort(kernel.ravel())[-n - 1]
    return normalise(np.clip(kernel - floor, 0.0, None))


def finish_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Clip negatives, centre (cubic sub-pixel shift), crop or pad to ``size``, sum 1.

    The kernel is centred *before* cropping so that mass sitting off-centre is kept. A cubic
    shift rings a little on sharp kernels and clipping the ringing moves the centre of mass
    again, so centring is repeated until it is within 10⁻⁴ px.
    """
    kernel = np.clip(np.asarray(kernel, dtype=np.float64), 0.0, None)
    if (kernel.shape[0] - size) % 2:
        raise ValueError(f"cannot centre a {kernel.shape[0]}-pixel kernel in {size} pixels")
    kernel = pad_kernel(np.clip(centre_kernel(np.pad(kernel, 2)), 0.0, None), size)
    centre = (size - 1) / 2
    for _ in range(10):
        kernel = np.clip(centre_kernel(kernel), 0.0, None)
        if np.abs(np.array(centre_of_mass(kernel)) - centre).max() < 1e-4:
            break
    return normalise(kernel)


def compose_x2(kernel_x2: np.ndarray) -> np.ndarray:
    """The kernel of two ×2 steps with ``kernel_x2``: ``K[m] = Σ_r k[r] k[m - 2r]``.

    Correlating with ``k`` and keeping every 2nd pixel, twice, equals correlating with ``K``
    and keeping every 4th (KernelGAN appendix). A ``k×k`` kernel gives ``(3k-2)×(3k-2)``;
    with block-centre sampling the centred ×2 kernel yields the centred ×4 one.
    """
    kernel_x2 = np.asarray(kernel_x2, dtype=np.float64)
    k = kernel_x2.shape[0]
    big = np.zeros((3 * k - 2, 3 * k - 2))
    for r in range(k):
        for c in range(k):
            big[2 * r:2 * r + k, 2 * c:2 * c + k] += kernel_x2[r, c] * kernel_x2
    return big


def analytic_x4(kernel_x2: np.ndarray, size: int = KERNEL_SIZE[4]) -> np.ndarray:
    """The ×4 kernel implied by a ×2 kernel, cropped to ``size`` (25), centred, sum 1."""
    return finish_kernel(compose_x2(kernel_x2), size)


def kernels_for_scale(kernel_x2: np.ndarray, scale: int) -> dict[int, np.ndarray]:
    """``{2: k2}`` or ``{2: k2, 4: analytic ×4}``, each finished to its pool size."""
    if scale not in KERNEL_SIZE:
        raise ValueError(f"scale must be one of {SCALES}, got {scale}")
    k2 = finish_kernel(kernel_x2, KERNEL_SIZE[2])
    out = {2: k2}
    if scale == 4:
        out[4] = analytic_x4(k2)
    return out


def kernel_covariance(kernel: np.ndarray) -> np.ndarray:
    """Second central moments ``[[var_x, cov], [cov, var_y]]`` (x = column) in px²."""
    kernel = np.asarray(kernel, dtype=np.float64)
    kernel = kernel / kernel.sum()
    cy, cx = centre_of_mass(kernel)
    rows, cols = np.indices(kernel.shape)
    dx, dy = cols - cx, rows - cy
    return np.array([[(kernel * dx * dx).sum(), (kernel * dx * dy).sum()],
                     [(kernel * dx * dy).sum(), (kernel * dy * dy).sum()]])
