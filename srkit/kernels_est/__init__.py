"""Blind estimation of a photo's blur kernel (the kernel half of a RealSR degradation pool).

Three methods, looked up by name in :data:`METHODS`:

* ``camera-gauss`` (default, :mod:`srkit.kernels_est.camera_gauss`): the edge measurement of
  every photo of one camera, pooled into the camera's blur and shrunk back to each photo
  (empirical Bayes); needs the whole photo set (:func:`estimate_set_kernels`).
* ``edge-gauss`` (:mod:`srkit.kernels_est.edge_gauss`): fits the blur of straight
  edges at every orientation (edge-spread functions), turns them into an anisotropic Gaussian
  and combines it with a prior, one photo at a time; about a second per photo on a CPU.
* ``kernelgan`` (:mod:`srkit.kernels_est.kernelgan`): KernelGAN as published, 3000 iterations.

All return a :class:`~srkit.kernels_est.common.KernelEstimate` holding centred kernels
(13×13 at ×2, 25×25 at ×4) and a quality flag. docs/kernel-estimation.md compares them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from srkit.kernels_est.common import KernelEstimate

ProgressCallback = Callable[[int, int], None]

DEFAULT_METHOD = "camera-gauss"
METHODS = ("camera-gauss", "edge-gauss", "kernelgan")
USES_TORCH = ("kernelgan",)
SET_METHODS = ("camera-gauss",)   # estimate from the statistics of the whole photo set


def method_settings(method: str, iters: int | None = None) -> dict:
    """The settings ``method`` runs with (recorded in the pool beside each kernel)."""
    if method == "kernelgan":
        from srkit.kernels_est.kernelgan import KernelGANSettings, settings_dict

        settings = KernelGANSettings() if iters is None else KernelGANSettings(iters=iters)
        return settings_dict(settings)
    if method == "edge-gauss":
        from srkit.kernels_est.edge_gauss import EdgeGaussSettings, settings_dict

        return settings_dict(EdgeGaussSettings())
    if method == "camera-gauss":
        from srkit.kernels_est.camera_gauss import CameraGaussSettings, settings_dict

        return settings_dict(CameraGaussSettings())
    raise ValueError(f"unknown method {method!r}")


def estimate_kernel(lr_img: np.ndarray, scale: int, method: str = DEFAULT_METHOD, *,
                    rng: np.random.Generator, iters: int | None = None, device: str = "cpu",
                    on_progress: ProgressCallback | None = None) -> KernelEstimate:
    """Estimate the blur kernel of one photo (``camera-gauss``: a camera of one photo).

    Args:
        lr_img: ``(H, W, 3)`` float in [0, 1].
        scale: 2 or 4.
        method: ``camera-gauss``, ``edge-gauss`` or ``kernelgan``.
        rng: the photo's random generator (KernelGAN's crops, noise and initialisation).
        iters: KernelGAN iterations (default 3000); ignored by ``edge-gauss``.
        device: torch device for KernelGAN.
        on_progress: called as ``on_progress(done, total)`` as the estimate advances.
    """
    if method == "kernelgan":
        from srkit.kernels_est.kernelgan import KernelGANSettings, estimate_kernelgan

        settings = KernelGANSettings() if iters is None else KernelGANSettings(iters=iters)
        return estimate_kernelgan(lr_img, scale, rng=rng, settings=settings, device=device,
                                  on_iteration=on_progress)
    if method == "edge-gauss":
        from srkit.kernels_est.edge_gauss import estimate_edge_gauss

        return estimate_edge_gauss(lr_img, scale, on_progress=on_progress)
    if method == "camera-gauss":
        from srkit.kernels_est.camera_gauss import estimate_camera_gauss, photo_stats

        return estimate_camera_gauss([photo_stats(lr_img)], scale)[0]
    raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")


def estimate_set_kernels(lr_imgs: list[np.ndarray], scale: int,
                         method: str = DEFAULT_METHOD) -> list[KernelEstimate]:
    """One estimate per photo of one camera's set, each using the whole set (camera-gauss)."""
    if method != "camera-gauss":
        raise ValueError(f"{method!r} estimates one photo at a time: use estimate_kernel")
    from srkit.kernels_est.camera_gauss import estimate_camera_gauss, photo_stats

    return estimate_camera_gauss([photo_stats(img) for img in lr_imgs], scale)


__all__ = ["DEFAULT_METHOD", "METHODS", "SET_METHODS", "KernelEstimate", "estimate_kernel",
           "estimate_set_kernels", "method_settings"]
