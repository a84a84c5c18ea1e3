"""``edge-gauss``: the blur of straight edges at every orientation, fitted by a Gaussian.

A blurred step edge, point-sampled, has the profile ``a + b Φ(t / w)`` across it (Φ the
normal CDF) when the blur is Gaussian, with ``w² = nᵀ S n`` for the edge normal ``n`` and the
blur covariance ``S`` (LR pixels²). Sampling a slanted edge at many sub-pixel phases pins
``w`` down even below a pixel (the ISO 12233 slanted-edge idea; Cho et al., CVPR 2011, use
edge profiles the same way for kernel estimation). So:

1. pick straight-edge pixels: gradient maxima across the edge, strong and locally coherent;
2. fit the 5-parameter edge model (level, step, offset, width, angle) to the 9×9 pixels
   around each, all at once by Levenberg–Marquardt;
3. keep the good fits and fit ``S`` to their ``(n, w²)`` by quantile regression (a low
   quantile: the sharpest edges of the scene carry the least blur of their own);
4. turn ``S`` into the ×2 kernel's covariance: ``S = (Σ_hr + Σ)/4`` at ×2 and
   ``(Σ_hr + 5Σ)/16`` at ×4 (two ×2 steps, DIV2KRK's ×4 model), where ``Σ_hr`` is the blur
   the clean HR photos themselves have;
5. combine with a prior (shrink the mean variance and the anisotropy towards an isotropic
   Gaussian), because a photo's own softness cannot be told from the kernel's from one LR
   image — the edges only see the sum.

The constants of steps 4–5 were fitted on development photos disjoint from the benchmark's
(``benchmarks/kernels_div2krk.py --calibrate``); docs/kernel-estimation.md has the numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage, optimize, special

from srkit.kernels_est.common import (
    FLAG_FLAT,
    FLAG_OK,
    FLAG_SMALL,
    KERNEL_SIZE,
    KernelEstimate,
    kernels_for_scale,
)
from srkit.ops.kernels import gaussian_from_covariance

ProgressCallback = Callable[[int, int], None]

# How the measured LR blur relates to the ×2 kernel: S = (Σ_hr + GAIN Σ) / AREA (LR px²).
_AREA = {2: 4.0, 4: 16.0}
_GAIN = {2: 1.0, 4: 5.0}


@dataclass(frozen=True)
class EdgeGaussSettings:
    """Edge selection, fitting and calibration (see the module docstring)."""

    window_radius: int = 4            # fit windows are (2r+1)² pixels
    max_edges: int = 3000             # strongest candidates kept
    gradient_quantile: float = 0.85   # candidates are above this quantile of |∇|
    min_coherence: float = 0.8        # structure-tensor coherence: straight edges only
    lm_iterations: int = 20
    min_contrast: float = 0.03        # |b| of a kept edge, on the [0, 1] scale
    max_misfit: float = 0.2           # RMS residual / |b|
    max_offset: float = 1.5           # the edge passes within this many px of the centre
    quantile: float = 0.15            # of w² given the direction (quantile regression)
    min_edges: int = 40               # fewer good edges: flat image, prior kernel
    # Calibration, per scale {2: ..., 4: ...} (benchmarks/kernels_div2krk.py --calibrate).
    prior_variance: float = 2.8       # isotropic prior, HR px² of the ×2 kernel
    hr_variance: dict = field(default_factory=lambda: {2: -0.64, 4: -3.68})   # Σ_hr = v·I
    trust_variance: dict = field(default_factory=lambda: {2: 1.03, 4: 0.57})
    trust_anisotropy: dict = field(default_factory=lambda: {2: 1.07, 4: 0.18})
    variance_range: tuple[float, float] = (0.2, 10.0)   # eigenvalues of the ×2 covariance


def settings_dict(settings: EdgeGaussSettings) -> dict:
    """JSON-friendly settings (for the pool)."""
    out = asdict(settings)
    for key, value in out.items():
        if isinstance(value, dict):
            out[key] = {str(k): v for k, v in value.items()}
        elif isinstance(value, tuple):
            out[key] = list(value)
    return out


# --------------------------------------------------------------------------- edge fitting


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + special.erf(z / np.sqrt(2.0)))


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


def edge_candidates(grey: np.ndarray, settings: EdgeGaussSettings
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and gradient angles of straight-edge pixels in ``grey`` ``(H, W)``.

    A candidate is a maximum of the gradient magnitude across the edge (non-maximum
    suppression along the gradient), above ``gradient_quantile`` of all magnitudes, with a
    coherent structure tensor (one dominant direction around it), away from the border.
    """
    grad_y = ndimage.sobel(grey, axis=0) / 8.0
    grad_x = ndimage.sobel(grey, axis=1) / 8.0
    magnitude = np.hypot(grad_x, grad_y)
    angle = np.arctan2(grad_y, grad_x)
    height, width = grey.shape
    rows, cols = np.mgrid[0:height, 0:width]
    step_y = np.rint(np.sin(angle)).astype(int)
    step_x = np.rint(np.cos(angle)).astype(int)
    ahead = magnitude[np.clip(rows + step_y, 0, height - 1), np.clip(cols + step_x, 0, width - 1)]
    behind = magnitude[np.clip(rows - step_y, 0, height - 1), np.clip(cols - step_x, 0, width - 1)]
    tensor_xx = ndimage.gaussian_filter(grad_x * grad_x, 1.5)
    tensor_yy = ndimage.gaussian_filter(grad_y * grad_y, 1.5)
    tensor_xy = ndimage.gaussian_filter(grad_x * grad_y, 1.5)
    coherence = (np.hypot(tensor_xx - tensor_yy, 2 * tensor_xy)
                 / (tensor_xx + tensor_yy + 1e-12))
    keep = ((magnitude >= ahead) & (magnitude > behind)
            & (magnitude > np.quantile(magnitude, settings.gradient_quantile))
            & (coherence > settings.min_coherence))
    r = settings.window_radius + 1
    keep[:r] = keep[-r:] = False
    keep[:, :r] = keep[:, -r:] = False
    index = np.flatnonzero(keep)
    if len(index) > settings.max_edges:
        index = index[np.argsort(magnitude.ravel()[index])[::-1][:settings.max_edges]]
    edge_rows, edge_cols = np.divmod(index, width)
    return edge_rows, edge_cols, angle.ravel()[index]


def fit_edges(grey: np.ndarray, rows: np.ndarray, cols: np.ndarray, angles: np.ndarray,
              settings: EdgeGaussSettings,
              on_progress: ProgressCallback | None = None) -> dict[str, np.ndarray]:
    """Fit ``a + b Φ((n·q - d) / w)`` to the window around each candidate (batched LM).

    ``q`` is the pixel offset from the window centre, ``n = (cos φ, sin φ)`` in (x, y).
    Returns arrays ``a, b, d, w, phi`` and ``misfit`` (RMS residual / |b|).
    """
    radius = settings.window_radius
    offsets = np.arange(-radius, radius + 1)
    patch = grey[rows[:, None, None] + offsets[None, :, None],
                 cols[:, None, None] + offsets[None, None, :]].reshape(len(rows), -1)
    q_y, q_x = (g.ravel().astype(np.float64) for g in np.meshgrid(offsets, offsets,
                                                                  indexing="ij"))
    low, high = np.quantile(patch, 0.1, axis=1), np.quantile(patch, 0.9, axis=1)
    params = np.stack([low, high - low, np.zeros(len(rows)), np.ones(len(rows)), angles], 1)
    damping = np.full(len(rows), 1e-2)

    def residuals(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        across = np.cos(p[:, 4:5]) * q_x + np.sin(p[:, 4:5]) * q_y
        z = (across - p[:, 2:3]) / p[:, 3:4]
        return p[:, 0:1] + p[:, 1:2] * _normal_cdf(z) - patch, z

    res, z = residuals(params)
    cost = (res**2).sum(axis=1)
    for iteration in range(settings.lm_iterations):
        b, w, phi = params[:, 1:2], params[:, 3:4], params[:, 4:5]
        pdf = _normal_pdf(z)
        along = -np.sin(phi) * q_x + np.cos(phi) * q_y
        jac = np.stack([np.ones_like(z), _normal_cdf(z), -b * pdf / w, -b * pdf * z / w,
                        b * pdf * along / w], axis=2)
        normal = np.einsum("npi,npj->nij", jac, jac)
        gradient = np.einsum("npi,np->ni", jac, res)
        diagonal = np.einsum("nii->ni", normal) + 1e-9
        system = normal + damping[:, None, None] * (np.eye(5) * diagonal[:, :, None])
        step = np.linalg.solve(system, -gradient[..., None])[..., 0]
        trial = params + step
        trial[:, 3] = np.clip(trial[:, 3], 0.05, 10.0)
        trial_res, trial_z = residuals(trial)
        trial_cost = (trial_res**2).sum(axis=1)
        better = np.isfinite(trial_cost) & (trial_cost < cost)
        params[better], res[better], z[better] = trial[better], trial_res[better], trial_z[better]
        cost[better] = trial_cost[better]
        damping = np.clip(np.where(better, damping * 0.3, damping * 10.0), 1e-7, 1e7)
        if on_progress is not None:
            on_progress(iteration + 1, settings.lm_iterations + 1)
    a, b, d, w, phi = params.T
    misfit = np.sqrt(cost / patch.shape[1]) / np.maximum(np.abs(b), 1e-12)
    return {"a": a, "b": b, "d": d, "w": w, "phi": phi, "misfit": misfit}


def good_edges(fits: dict[str, np.ndarray], settings: EdgeGaussSettings) -> np.ndarray:
    """Boolean mask of fits that look like clean, centred straight edges."""
    return ((np.abs(fits["b"]) > settings.min_contrast)
            & (fits["misfit"] < settings.max_misfit)
            & (np.abs(fits["d"]) < settings.max_offset)
            & (fits["w"] > 0.05) & (fits["w"] < 4.0))


def quantile_covariance(phi: np.ndarray, width_sq: np.ndarray, quantile: float) -> np.ndarray:
    """``S`` (2×2, x = column) minimising the pinball loss of ``w² - nᵀ S n`` (an LP)."""
    n_x, n_y = np.cos(phi), np.sin(phi)
    design = np.stack([n_x**2, 2 * n_x * n_y, n_y**2], axis=1)
    count = len(width_sq)
    cost = np.concatenate([np.zeros(3), np.full(count, quantile), np.full(count, 1 - quantile)])
    equality = np.hstack([design, np.eye(count), -np.eye(count)])
    bounds = [(None, None)] * 3 + [(0, None)] * (2 * count)
    solution = optimize.linprog(cost, A_eq=equality, b_eq=width_sq, bounds=bounds,
                                method="highs")
    s_xx, s_xy, s_yy = solution.x[:3]
    return np.array([[s_xx, s_xy], [s_xy, s_yy]])


# --------------------------------------------------------------------------- the estimate


def measure_lr_blur(lr_img: np.ndarray, settings: EdgeGaussSettings = EdgeGaussSettings(),
                    on_progress: ProgressCallback | None = None
                    ) -> tuple[np.ndarray | None, int]:
    """``(S, edges)``: the LR blur covariance (LR px², x = column) and the edges used.

    ``S`` is None when fewer than ``min_edges`` good edges were found.
    """
    grey = np.asarray(lr_img, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    rows, cols, angles = edge_candidates(grey, settings)
    if len(rows) < settings.min_edges:
        return None, int(len(rows))
    fits = fit_edges(grey, rows, cols, angles, settings, on_progress)
    good = good_edges(fits, settings)
    if good.sum() < settings.min_edges:
        return None, int(good.sum())
    phi, width_sq = fits["phi"][good], fits["w"][good] ** 2
    if len(phi) > 1500:  # keep the LP small: every k-th edge by width, an unbiased thinning
        order = np.argsort(width_sq)[::int(np.ceil(len(phi) / 1500))]
        phi, width_sq = phi[order], width_sq[order]
    return quantile_covariance(phi, width_sq, settings.quantile), int(good.sum())


def kernel_covariance_from_lr(lr_blur: np.ndarray | None, scale: int,
                              settings: EdgeGaussSettings = EdgeGaussSettings()) -> np.ndarray:
    """The ×2 kernel's covariance (HR px²) from the LR blur ``S``, with the prior applied."""
    prior = settings.prior_variance
    if lr_blur is None:
        return prior * np.eye(2)
    measured = (_AREA[scale] * lr_blur - settings.hr_variance[scale] * np.eye(2)) / _GAIN[scale]
    mean_variance = np.trace(measured) / 2
    anisotropic = measured - mean_variance * np.eye(2)
    mean_variance = prior + settings.trust_variance[scale] * (mean_variance - prior)
    covariance = mean_variance * np.eye(2) + settings.trust_anisotropy[scale] * anisotropic
    eigenvalues, vectors = np.linalg.eigh(covariance)
    eigenvalues = np.clip(eigenvalues, *settings.variance_range)
    return vectors @ np.diag(eigenvalues) @ vectors.T


# Below this LR side the estimate is flagged: few edges, mostly near the border.
SMALL_SIDE = 128


def estimate_edge_gauss(lr_img: np.ndarray, scale: int,
                        settings: EdgeGaussSettings = EdgeGaussSettings(),
                        on_progress: ProgressCallback | None = None) -> KernelEstimate:
    """Estimate the kernel of ``lr_img`` ``(H, W, 3)`` in [0, 1] at ``scale`` (2 or 4)."""
    if scale not in KERNEL_SIZE:
        raise ValueError(f"scale must be 2 or 4, got {scale}")
    lr_blur, edges = measure_lr_blur(lr_img, settings, on_progress)
    covariance = kernel_covariance_from_lr(lr_blur, scale, settings)
    kernels = kernels_for_scale(gaussian_from_covariance(KERNEL_SIZE[2], covariance), scale)
    if lr_blur is None:
        flag = FLAG_FLAT
    elif min(lr_img.shape[:2]) < SMALL_SIDE:
        flag = FLAG_SMALL
    else:
        flag = FLAG_OK
    info = {"edges": edges, "covariance_x2": covariance.round(4).tolist(),
            "lr_blur": None if lr_blur is None else lr_blur.round(4).tolist()}
    if on_progress is not None:
        on_progress(1, 1)
    return KernelEstimate(kernels, flag, info)
