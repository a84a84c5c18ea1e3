"""Image quality metrics with the conventions of SR papers (see docs/metrics.md).

Every metric takes float images in [0, 1], ``(H, W, 3)`` RGB, and computes on the 0-255 scale:

- :func:`psnr`, :func:`ssim` — full-reference, Y of BT.601 (MATLAB ``rgb2ycbcr``) or RGB,
  ``border`` pixels cropped per side; equal to BasicSR's ``calculate_psnr/ssim``.
- :func:`niqe` (:mod:`srkit.metrics.no_reference`) — no-reference NIQE, standard model.
- LPIPS (:mod:`srkit.metrics.lpips`, needs torch and weight files): ``load_lpips`` then
  ``lpips_distance``.
"""

from __future__ import annotations

from srkit.metrics.no_reference import niqe, niqe_y
from srkit.metrics.psnr_ssim import psnr, ssim

__all__ = ["niqe", "niqe_y", "psnr", "ssim"]
