"""MATLAB-compatible ``imresize`` (bicubic with antialiasing), the convention of SR benchmarks.

Published SR tables make their LR images with MATLAB's ``imresize(hr, 1/s, 'bicubic')``:
a Keys cubic (a = -0.5) widened by 1/s when shrinking (antialiasing), pixel centres aligned
(output pixel u at input coordinate u/s + 0.5(1 - 1/s), 1-based), symmetric edge padding.
This is a float64 reimplementation of that definition; each axis is a dense weight matrix.
"""

from __future__ import annotations

import math

import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    absx = np.abs(x)
    absx2, absx3 = absx**2, absx**3
    return ((1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
            + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2)))


def _linear(x: np.ndarray) -> np.ndarray:
    return np.clip(1 - np.abs(x), 0, None)


def _lanczos3(x: np.ndarray) -> np.ndarray:
    return np.sinc(x) * np.sinc(x / 3) * (np.abs(x) < 3)


_KERNELS = {"bicubic": (cubic, 4.0), "bilinear": (_linear, 2.0), "lanczos3": (_lanczos3, 6.0)}


def resize_weights(in_length: int, out_length: int, scale: float, method: str = "bicubic",
                   antialias: bool = True, offset: float = 0.0) -> np.ndarray:
    """The ``(out_length, in_length)`` matrix that resizes one axis, MATLAB's way.

    ``offset`` (input pixels) shifts the output grid: output pixel ``u`` then samples where
    pixel ``u`` of a resize of the input starting ``offset`` pixels further on would (so the
    rows of a crop of a larger image can be computed from the crop with context around it).
    """
    kernel, width = _KERNELS[method]
    if scale < 1 and antialias:
        def h(x):
            return scale * kernel(scale * x)

        width = width / scale
    else:
        h = kernel
    u = np.arange(1, out_length + 1, dtype=np.float64)
    x = u / scale + 0.5 * (1 - 1 / scale) + offset
    left = np.floor(x - width / 2)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = h(x[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)
    # symmetric padding: ... 2 1 | 1 2 ... n | n n-1 ...
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    cols = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.repeat(np.arange(out_length), taps)
    np.add.at(matrix, (rows, cols.ravel()), weights.ravel())
    return matrix


def imresize(image: np.ndarray, scale: float | None = None,
             output_shape: tuple[int, int] | None = None, method: str = "bicubic",
             antialias: bool = True) -> np.ndarray:
    """Resize ``(H, W)`` or ``(H, W, C)`` float images like MATLAB's ``imresize``.

    Give ``scale`` (output size ``ceil(H * scale)``) or ``output_shape`` ``(H', W')``.
    ``method`` is ``bicubic`` (default), ``bilinear`` or ``lanczos3``. Values are not clipped:
    bicubic overshoots slightly outside the input range, as in MATLAB before its uint8 cast.
    Returns float32.
    """
    if method not in _KERNELS:
        raise ValueError(f"method must be one of {sorted(_KERNELS)}, got {method!r}")
    array = np.asarray(image, dtype=np.float64)
    if array.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {array.shape}")
    in_h, in_w = array.shape[:2]
    if output_shape is not None:
        out_h, out_w = output_shape
        scales = (out_h / in_h, out_w / in_w)
    elif scale is not None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
        scales = (scale, scale)
    else:
        raise ValueError("give scale or output_shape")
    # MATLAB resizes the axis with the smaller scale factor first
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    for axis in order:
        in_length = array.shape[axis]
        out_length = (out_h, out_w)[axis]
        matrix = resize_weights(in_length, out_length, scales[axis], method, antialias)
        array = np.moveaxis(np.tensordot(matrix, np.moveaxis(array, axis, 0), axes=(1, 0)),
                            0, axis)
    return array.astype(np.float32)
