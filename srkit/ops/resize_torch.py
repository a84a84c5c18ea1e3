"""MATLAB-style antialiased bicubic resizing of torch batches (differentiable).

The torch twin of :func:`srkit.ops.resize.imresize` for training code that resizes inside
the graph (DASR's bicubic target): the same weight matrices, applied as two matrix products.
A module of its own so that :mod:`srkit.ops.resize` stays importable without torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_MATRIX_CACHE: dict[tuple[int, int, float], np.ndarray] = {}


def _resize_matrix(in_length: int, out_length: int, scale: float) -> np.ndarray:
    key = (in_length, out_length, scale)
    if key not in _MATRIX_CACHE:
        from srkit.ops.resize import resize_weights

        if len(_MATRIX_CACHE) > 64:
            _MATRIX_CACHE.clear()
        _MATRIX_CACHE[key] = resize_weights(in_length, out_length, scale, "bicubic", True)
    return _MATRIX_CACHE[key]


def bicubic_resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize(x, scale, 'bicubic')`` with antialiasing, for ``(B, C, H, W)``.

    The same weights as :func:`srkit.ops.resize.imresize` (symmetric edges, pixel centres
    aligned), applied as two matrix products; output ``(B, C, ⌈H·scale⌉, ⌈W·scale⌉)``,
    not clipped. Differentiable in ``x``.
    """
    if x.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    height, width = x.shape[-2:]
    out_h, out_w = math.ceil(height * scale), math.ceil(width * scale)
    rows = torch.from_numpy(_resize_matrix(height, out_h, scale)).to(x)
    cols = torch.from_numpy(_resize_matrix(width, out_w, scale)).to(x)
    return rows @ x @ cols.T
