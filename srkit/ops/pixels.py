"""Decoded pixels ↔ float: the one conversion between stored integers and [0, 1] floats."""

from __future__ import annotations

import numpy as np


def to_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 / uint16 pixels (or float already in [0, 1]) → float32 in [0, 1]."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / np.float32(255.0)
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) / np.float32(65535.0)
    return np.asarray(pixels, dtype=np.float32)
