"""``camera-gauss``: one camera's blur from all of its photos, shrunk back to each photo.

One LR photo cannot tell the scene's softness from the camera's blur: its edges measure the
sum (see :mod:`srkit.kernels_est.edge_gauss`). Many photos of one camera share the camera's
blur and differ in their scenes, so the set separates them (empirical Bayes):

1. per photo, the edge-gauss measurement: the LR blur ``S_i`` of its sharpest edges, turned
   into a ×2 kernel covariance ``m_i = (AREA S_i) / GAIN`` (HR px², no prior), written as a
   mean variance ``v_i = tr(m_i)/2`` and an anisotropy ``a_i = ((m_xx − m_yy)/2, m_xy)``;
2. the camera: a weighted low quantile of the ``v_i``, times ``gain`` and minus ``offset``
   (how the edges' blur maps to the kernel's width, and the scene blur the sharpest photos of
   a set still add), and the weighted median of the ``a_i`` (scene
   anisotropy points every way and cancels). Weights ``E_i / (E_i + reference_edges)`` from
   each photo's usable-edge count. With few photos the camera estimate is itself shrunk
   towards the isotropic prior, by how uncertain a centre of ``n`` photos is;
3. per photo, James–Stein: ``k_i = camera + B_i (m_i − median)``, with
   ``B_i = τ² / (τ² + σ_i²)``: ``σ_i²`` the scene spread of one photo's measurement
   (``scene_spread``, a robust s.d. measured on development cameras; larger with few edges)
   and ``τ²`` the spread of the set beyond it (method of moments on the median absolute
   deviation, so that one odd photo does not decide it). A set whose photos scatter no more than
   scenes do (one camera, one kernel) gets the camera kernel for every photo.

The per-photo statistics are cheap (the edge fits, about a second per photo) and are kept in
each pool entry's diagnostics, so a later run over a grown set re-uses them.
Constants: ``benchmarks/kernels_camera.py --calibrate`` on development photos only;
docs/kernel-estimation.md has the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from srkit.kernels_est.common import (
    FLAG_FLAT,
    FLAG_OK,
    FLAG_SMALL,
    KERNEL_SIZE,
    KernelEstimate,
    finish_kernel,
    kernels_for_scale,
)
from srkit.kernels_est.edge_gauss import _AREA, _GAIN, SMALL_SIDE, EdgeGaussSettings
from srkit.kernels_est.edge_gauss import measure_lr_blur as _measure_lr_blur
from srkit.ops.kernels import gaussian_from_covariance


@dataclass(frozen=True)
class CameraGaussSettings:
    """How photos are pooled (module docstring); per scale ``{2: ..., 4: ...}``."""

    # Calibration: benchmarks/kernels_camera.py --calibrate (development photos only).
    # the quantile of the photos' mean variances (weighted) that the camera starts from
    centre_quantile: dict = field(default_factory=lambda: {2: 0.5, 4: 0.25})
    offset: dict = field(default_factory=lambda: {2: -0.25, 4: 0.25})   # HR px², subtracted
    # the quantile is multiplied by this before the offset (×2-kernel variances, HR px²)
    gain: dict = field(default_factory=lambda: {2: 1.0, 4: 1.6})
    # robust s.d. of one photo's (mean variance, anisotropy part) around its camera's, HR px²
    scene_spread: dict = field(default_factory=lambda: {2: (0.469, 0.349),
                                                        4: (0.44, 0.37)})
    reference_edges: int = 200            # a photo with this many edges weighs ½
    prior_variance: float = 2.8           # isotropic prior of the camera (HR px², ×2 kernel)
    prior_spread: tuple[float, float] = (0.9, 0.7)   # s.d. of cameras around it (DIV2KRK)
    variance_range: tuple[float, float] = (0.2, 10.0)


def settings_dict(settings: CameraGaussSettings) -> dict:
    """JSON-friendly settings (for the pool), with the per-photo measurement's."""
    out = asdict(settings)
    for key, value in out.items():
        if isinstance(value, dict):
            out[key] = {str(k): list(v) if isinstance(v, tuple) else v for k, v in value.items()}
        elif isinstance(value, tuple):
            out[key] = list(value)
    edge = EdgeGaussSettings()
    out["measurement"] = {k: getattr(edge, k) for k in (
        "window_radius", "max_edges", "gradient_quantile", "min_coherence", "min_contrast",
        "max_misfit", "max_offset", "quantile", "min_edges")}
    return out


@dataclass
class PhotoStats:
    """One photo's edge measurement: LR blur ``S`` (LR px², None when too flat), edges used."""

    lr_blur: np.ndarray | None
    edges: int
    short_side: int

    def to_dict(self) -> dict:
        return {"lr_blur": None if self.lr_blur is None else self.lr_blur.round(6).tolist(),
                "edges": self.edges, "short_side": self.short_side}

    @classmethod
    def from_dict(cls, data: dict) -> PhotoStats:
        blur = data.get("lr_blur")
        return cls(None if blur is None else np.asarray(blur, dtype=np.float64),
                   int(data.get("edges", 0)), int(data.get("short_side", 0)))


def photo_stats(lr_img: np.ndarray) -> PhotoStats:
    """The per-photo statistics of ``lr_img`` ``(H, W, 3)`` in [0, 1] (about a second)."""
    lr_blur, edges = _measure_lr_blur(lr_img)
    return PhotoStats(lr_blur, edges, int(min(lr_img.shape[:2])))


def _to_parts(covariance: np.ndarray) -> np.ndarray:
    """(mean variance, (xx − yy)/2, xy) of a 2×2 covariance."""
    return np.array([(covariance[0, 0] + covariance[1, 1]) / 2,
                     (covariance[0, 0] - covariance[1, 1]) / 2, covariance[0, 1]])


def _from_parts(parts: np.ndarray, variance_range: tuple[float, float]) -> np.ndarray:
    covariance = np.array([[parts[0] + parts[1], parts[2]], [parts[2], parts[0] - parts[1]]])
    eigenvalues, vectors = np.linalg.eigh(covariance)
    return vectors @ np.diag(np.clip(eigenvalues, *variance_range)) @ vectors.T


def _per_scale(value: float | dict, scale: int) -> float:
    """A setting given per scale (``{2: ..., 4: ...}``) or for both (a number)."""
    return float(value[scale]) if isinstance(value, dict) else float(value)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, quantile: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) - 0.5 * weights[order]
    return float(np.interp(quantile * weights.sum(), cumulative, values[order]))


def measured_parts(stats: PhotoStats, scale: int) -> np.ndarray | None:
    """The photo's ×2 kernel covariance as measured (no prior), as (v, a_1, a_2)."""
    if stats.lr_blur is None:
        return None
    return _to_parts(_AREA[scale] * np.asarray(stats.lr_blur) / _GAIN[scale])


@dataclass
class CameraEstimate:
    """The camera's covariance and each photo's (×2 kernel, HR px²), with the pooling."""

    camera_covariance: np.ndarray
    covariances: list[np.ndarray]
    shrink: list[float | None]      # B_i per photo (None: unmeasured, got the camera's)
    info: dict


def camera_covariances(stats: Sequence[PhotoStats], scale: int,
                       settings: CameraGaussSettings = CameraGaussSettings()
                       ) -> CameraEstimate:
    """Pool the per-photo statistics of one camera's photos (module docstring, steps 2–3)."""
    if scale not in KERNEL_SIZE:
        raise ValueError(f"scale must be 2 or 4, got {scale}")
    parts = [measured_parts(s, scale) for s in stats]
    used = [i for i, p in enumerate(parts) if p is not None]
    prior = np.array([settings.prior_variance, 0.0, 0.0])
    spread_v, spread_a = settings.scene_spread[scale]
    scene_var = np.array([spread_v, spread_a, spread_a]) ** 2
    prior_var = np.array([settings.prior_spread[0], *[settings.prior_spread[1]] * 2]) ** 2
    if not used:   # no photo had enough edges: the prior for all
        covariance = _from_parts(prior, settings.variance_range)
        return CameraEstimate(covariance, [covariance] * len(stats), [None] * len(stats),
                              {"photos": len(stats), "measured": 0,
                               "camera_covariance_x2": covariance.round(4).tolist()})
    values = np.array([parts[i] for i in used])
    edges = np.array([stats[i].edges for i in used], dtype=np.float64)
    weights = edges / (edges + settings.reference_edges)
    # each photo's noise: the scene spread, inflated when its edges are few
    noise = scene_var[None, :] * (1 + settings.reference_edges / edges)[:, None]
    raw = np.array([
        settings.gain.get(scale, 1.0)
        * _weighted_quantile(values[:, 0], weights, _per_scale(settings.centre_quantile,
                                                               scale))
        - settings.offset[scale],
        _weighted_quantile(values[:, 1], weights, 0.5),
        _weighted_quantile(values[:, 2], weights, 0.5)])
    # the centre of n photos is uncertain by ~ noise / n: shrink it towards the prior
    centre_var = 1 / (1 / noise).sum(axis=0)
    trust = prior_var / (prior_var + centre_var)
    camera = prior + trust * (raw - prior)
    # James–Stein / method of moments, robustly: the set's spread beyond the scenes' spread
    middle = np.array([_weighted_quantile(values[:, j], weights, 0.5) for j in range(3)])
    if len(used) > 2:
        spread = (1.4826 * np.median(np.abs(values - middle), axis=0)) ** 2
        tau2 = np.clip(spread - np.median(noise, axis=0), 0.0, None)
    else:
        tau2 = np.zeros(3)
    covariances, shrink = [], []
    row = {i: k for k, i in enumerate(used)}
    for i in range(len(stats)):
        if i not in row:
            covariances.append(_from_parts(camera, settings.variance_range))
            shrink.append(None)
            continue
        factor = tau2 / (tau2 + noise[row[i]])
        covariances.append(_from_parts(camera + factor * (values[row[i]] - middle),
                                       settings.variance_range))
        shrink.append(round(float(factor[0]), 4))
    info = {"photos": len(stats), "measured": len(used),
            "camera_covariance_x2": _from_parts(camera, settings.variance_range).round(4).tolist(),
            "camera_trust": trust.round(4).tolist(), "between_photo_variance": tau2.round(4)
            .tolist()}
    return CameraEstimate(_from_parts(camera, settings.variance_range), covariances, shrink,
                          info)


def gaussian_kernels(covariance_x2: np.ndarray, scale: int) -> dict[int, np.ndarray]:
    """``{2: k2}`` or ``{2: k2, 4: k4}``: the Gaussians of the ×2 covariance and, at ×4, of
    ``GAIN[4]`` (5) times it, the width the edge measurement reads at ×4. A lens blurs as one
    Gaussian; composing the ×2 Gaussian with itself (KernelGAN's ×4 kernel,
    :func:`~srkit.kernels_est.common.analytic_x4`) has the same variance but, for sharp
    kernels, side lobes two HR pixels out that no lens makes."""
    covariance_x2 = np.asarray(covariance_x2, dtype=np.float64)
    out = kernels_for_scale(gaussian_from_covariance(KERNEL_SIZE[2], covariance_x2), 2)
    if scale == 4:
        out[4] = finish_kernel(gaussian_from_covariance(KERNEL_SIZE[4],
                                                        _GAIN[4] * covariance_x2), KERNEL_SIZE[4])
    return out


def estimate_camera_gauss(stats: Sequence[PhotoStats], scale: int,
                          settings: CameraGaussSettings = CameraGaussSettings()
                          ) -> list[KernelEstimate]:
    """One :class:`KernelEstimate` per photo of one camera, from all photos' statistics."""
    pooled = camera_covariances(stats, scale, settings)
    out = []
    for photo, covariance, factor in zip(stats, pooled.covariances, pooled.shrink, strict=True):
        kernels = gaussian_kernels(covariance, scale)
        if photo.lr_blur is None:
            flag = FLAG_FLAT
        elif photo.short_side < SMALL_SIDE:
            flag = FLAG_SMALL
        else:
            flag = FLAG_OK
        info = {"edges": photo.edges, "covariance_x2": covariance.round(4).tolist(),
                "lr_blur": None if photo.lr_blur is None else photo.lr_blur.round(6).tolist(),
                "short_side": photo.short_side, "shrink": factor,
                "camera": pooled.info}
        out.append(KernelEstimate(kernels, flag, info))
    return out
