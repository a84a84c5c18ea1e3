"""Blur kernels and blur-then-subsample degradation.

Conventions (docs/conventions.md):

* A kernel is a float ``(k, k)`` array that sums to 1. It is **correlated** with the image
  (``out[y, x] = sum_ij k[i, j] * img[y + i - c, x + j - c]``, c = (k - 1) / 2), which is what
  PyTorch's ``conv2d`` and KernelGAN's generator do. A *centred* kernel has its centre of mass
  at the array's geometric centre ``((k - 1) / 2, (k - 1) / 2)``; pools store centred kernels.
* ``blur_downsample`` puts LR pixel ``i`` at HR coordinate ``s * i + (s - 1) / 2`` (0-based),
  the centre of its s×s block, exactly as MATLAB's bicubic ``imresize`` does. For even ``s``
  that is a half-pixel position, so the kernel is moved by ``(s - 1) / 2`` with a cubic shift
  before correlating at ``s * i`` (as KernelGAN's post-processing does).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, signal, special


def normalise(kernel: np.ndarray) -> np.ndarray:
    """Scale a kernel to sum 1 (float32). Raises ValueError when it sums to ~0."""
    kernel = np.asarray(kernel, dtype=np.float64)
    total = kernel.sum()
    if abs(total) < 1e-12:
        raise ValueError("kernel sums to zero")
    return (kernel / total).astype(np.float32)


def centre_of_mass(kernel: np.ndarray) -> tuple[float, float]:
    """``(row, col)`` centre of mass of a kernel (0-based)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    rows, cols = np.indices(kernel.shape)
    total = kernel.sum()
    return float((rows * kernel).sum() / total), float((cols * kernel).sum() / total)


def shift_kernel(kernel: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """Move a kernel by ``(dy, dx)`` pixels (cubic interpolation), keeping its sum."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if abs(shift[0]) < 1e-9 and abs(shift[1]) < 1e-9:
        return kernel.astype(np.float32)
    moved = ndimage.shift(kernel, shift, order=3, mode="constant", cval=0.0)
    return normalise(moved)


def centre_kernel(kernel: np.ndarray) -> np.ndarray:
    """Shift a kernel so that its centre of mass is at the array centre; sum 1."""
    kernel = normalise(kernel)
    centre = (kernel.shape[0] - 1) / 2, (kernel.shape[1] - 1) / 2
    com = centre_of_mass(kernel)
    return shift_kernel(kernel, (centre[0] - com[0], centre[1] - com[1]))


def pad_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad (or centre-crop) a square kernel to ``size × size``, keeping it centred."""
    kernel = np.asarray(kernel, dtype=np.float32)
    k = kernel.shape[0]
    if (size - k) % 2:
        raise ValueError(f"cannot centre a {k}×{k} kernel in {size}×{size} (parity differs)")
    if size >= k:
        pad = (size - k) // 2
        return np.pad(kernel, pad)
    crop = (k - size) // 2
    return normalise(kernel[crop:crop + size, crop:crop + size])


def gaussian_kernel(kernel_size: int, sigma_major: float, sigma_minor: float | None = None,
                    theta: float = 0.0) -> np.ndarray:
    """A centred (an)isotropic Gaussian, ``sigma_*`` in pixels, ``theta`` in radians.

    The covariance is ``R diag(sigma_major², sigma_minor²) Rᵀ`` with ``R`` the rotation by
    ``theta`` (counter-clockwise from the column axis).
    """
    sigma_minor = sigma_major if sigma_minor is None else sigma_minor
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cov = rotation @ np.diag([sigma_major**2, sigma_minor**2]) @ rotation.T
    return gaussian_from_covariance(kernel_size, cov)


def gaussian_from_covariance(kernel_size: int, cov: np.ndarray,
                             mean: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A Gaussian with 2×2 covariance ``cov`` in (x=col, y=row) order, sum 1."""
    half = (kernel_size - 1) / 2
    ax = np.arange(kernel_size, dtype=np.float64) - half
    xx, yy = np.meshgrid(ax - mean[1], ax - mean[0])
    points = np.stack([xx, yy], axis=-1)
    inv = np.linalg.inv(cov)
    expo = np.einsum("...i,ij,...j->...", points, inv, points)
    return normalise(np.exp(-0.5 * expo))


def correlate(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect") -> np.ndarray:
    """Correlate each channel of ``(H, W)`` or ``(H, W, C)`` with a 2-D kernel (same size)."""
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if image.ndim == 2:
        return ndimage.correlate(image, kernel, mode=mode)
    return np.stack([ndimage.correlate(image[..., c], kernel, mode=mode)
                     for c in range(image.shape[2])], axis=-1)


def grid_kernel(kernel: np.ndarray, scale: int) -> np.ndarray:
    """The kernel that :func:`blur_downsample` correlates with at HR positions ``s * i``.

    A centred kernel moved by ``(s - 1) / 2`` (zero-padded first so nothing falls off), so
    that LR pixel ``i`` samples the centre of its s×s block; unchanged when ``s`` is 1.
    """
    offset = (scale - 1) / 2
    kernel = np.asarray(kernel, dtype=np.float32)
    if offset:
        # Correlating at s*i with a kernel moved by +offset samples the image at s*i+offset.
        size = kernel.shape[0] + 2 * (int(np.ceil(offset)) + 5)  # room for spline ringing
        kernel = shift_kernel(pad_kernel(kernel, size), (offset, offset))
    return kernel


# blur_downsample's FFT path: kernels of at least this many taps (a 15×15 grid kernel) on
# padded images of at most this many values (the FFT's complex buffers stay under ~100 MB)
_FFT_MIN_TAPS = 225
_FFT_MAX_VALUES = 2_000_000
# scipy.ndimage boundary modes → numpy.pad modes that extend the image the same way
_PAD_MODES = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap",
              "constant": "constant"}


def blur_downsample(image: np.ndarray, kernel: np.ndarray, scale: int,
                    mode: str = "reflect") -> np.ndarray:
    """Blur with a centred kernel and keep every ``scale``-th pixel, block-centre aligned.

    ``image`` is ``(H, W[, C])`` float; the output is ``(H // scale, W // scale[, C])``.
    See the module docstring for the grid convention. Equal to correlating the whole image
    with :func:`grid_kernel` (``mode`` as in scipy.ndimage) and keeping ``[::s, ::s]``, but
    only the kept positions are computed (s² times less work).
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if mode not in _PAD_MODES:
        raise ValueError(f"mode must be one of {sorted(_PAD_MODES)}, got {mode!r}")
    kernel = grid_kernel(kernel, scale)
    height, width = image.shape[0] // scale * scale, image.shape[1] // scale * scale
    image = np.asarray(image, dtype=np.float32)[:height, :width]
    if scale == 1:
        return correlate(image, kernel, mode=mode)
    planes = image[..., None] if image.ndim == 2 else image
    k_h, k_w = kernel.shape
    top, left = k_h // 2, k_w // 2  # scipy.ndimage's origin for odd and even sizes
    padded = np.pad(planes, ((top, k_h - 1 - top), (left, k_w - 1 - left), (0, 0)),
                    mode=_PAD_MODES[mode])
    out_h, out_w = height // scale, width // scale
    if k_h * k_w >= _FFT_MIN_TAPS and padded.size <= _FFT_MAX_VALUES:
        # many taps: one FFT correlation of the whole grid is faster than a pass per tap
        full = signal.fftconvolve(padded.astype(np.float64), kernel[::-1, ::-1, None],
                                  mode="valid", axes=(0, 1))
        out = full[:height:scale, :width:scale].astype(np.float32)
        return out[..., 0] if image.ndim == 2 else out
    out = np.zeros((out_h, out_w, planes.shape[2]), dtype=np.float64)
    for i in range(k_h):
        for j in range(k_w):
            weight = float(kernel[i, j])
            if weight != 0.0:
                out += weight * padded[i:i + height:scale, j:j + width:scale]
    out = out.astype(np.float32)
    return out[..., 0] if image.ndim == 2 else out


# --- the shaped kernels of Real-ESRGAN's random pipeline (srkit.ops.synthetic) -----------


def _quadratic_form(kernel_size: int, sigma_x: float, sigma_y: float, theta: float
                    ) -> np.ndarray:
    """``pᵀ Σ⁻¹ p`` on the centred grid, Σ = R(θ) diag(σx², σy²) R(θ)ᵀ in (x=col, y=row)."""
    half = (kernel_size - 1) / 2
    ax = np.arange(kernel_size, dtype=np.float64) - half
    xx, yy = np.meshgrid(ax, ax)
    rotation = np.array([[math.cos(theta), -math.sin(theta)],
                         [math.sin(theta), math.cos(theta)]])
    inverse = np.linalg.inv(rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T)
    return inverse[0, 0] * xx**2 + (inverse[0, 1] + inverse[1, 0]) * xx * yy \
        + inverse[1, 1] * yy**2


def shaped_kernel(kernel_size: int, sigma_x: float, sigma_y: float, theta: float,
                  shape: str = "gaussian", beta: float = 1.0) -> np.ndarray:
    """A centred ``(k, k)`` kernel summing to 1 from the quadratic form ``q = pᵀ Σ⁻¹ p``.

    ``gaussian``: ``exp(-q / 2)``; ``generalized``: ``exp(-q^β / 2)`` (Pascal et al. 2013);
    ``plateau``: ``1 / (1 + q^β)``. ``theta`` in radians.
    """
    q = _quadratic_form(kernel_size, sigma_x, sigma_y, theta)
    if shape == "gaussian":
        kernel = np.exp(-0.5 * q)
    elif shape == "generalized":
        kernel = np.exp(-0.5 * np.power(q, beta))
    elif shape == "plateau":
        kernel = 1.0 / (np.power(q, beta) + 1.0)
    else:
        raise ValueError(f"unknown kernel shape {shape!r}")
    return normalise(kernel)


def sinc_kernel(kernel_size: int, cutoff: float) -> np.ndarray:
    """Circular low-pass (2-D sinc) ``(k, k)`` kernel with cut-off ``cutoff`` rad/pixel, sum 1.

    ``h(r) = ω J1(ω r) / (2π r)``, the ideal disc low-pass truncated to ``k × k``; its centre
    value is the limit ``ω² / (4π)``. Produces ringing and overshoot artefacts.
    """
    half = (kernel_size - 1) / 2
    ax = np.arange(kernel_size, dtype=np.float64) - half
    radius = np.hypot(*np.meshgrid(ax, ax))
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * special.j1(cutoff * radius) / (2 * np.pi * radius)
    kernel[radius == 0] = cutoff**2 / (4 * np.pi)
    return normalise(kernel)
