"""``bicubic``: MATLAB-compatible antialiased bicubic ``imresize(hr, 1/scale)``, optional JPEG."""

from __future__ import annotations

import math

import numpy as np

from srkit.degradations.base import Degradation, Degraded, check_hr, finish, with_context
from srkit.ops.pixels import to_float
from srkit.ops.resize import imresize

# LR pixels of context around a crop: the antialiased cubic of a ×s shrink spans ±2 LR pixels
_MARGIN = 3


def bicubic_crop(hr_img: np.ndarray, scale: int, row: int, col: int,
                 lr_shape: tuple[int, int]) -> np.ndarray:
    """LR pixels ``[row:row+h, col:col+w]`` of ``imresize(hr_img, 1 / scale)`` (unclipped),
    resizing only the crop and a margin around it (equal up to float rounding)."""
    return with_context(hr_img, scale, row, col, lr_shape, _MARGIN,
                        lambda region: imresize(region, 1 / scale))


def bicubic_crop_any_scale(hr_img: np.ndarray, scale: float, hr_row: int, hr_col: int,
                           lr_shape: tuple[int, int]) -> np.ndarray:
    """The ``lr_shape`` LR of the HR region starting at HR pixel ``(hr_row, hr_col)``, made as
    MATLAB's ``imresize(region, 1/scale)`` makes it for any real ``scale`` ≥ 1: LR pixel
    ``(i, j)`` covers HR ``[hr_row + i·scale, hr_row + (i+1)·scale)`` × the same in columns
    (the geometry Meta-SR's projection assumes). Computed from the region with enough context
    (``2·scale`` + 4 HR pixels) that it equals a resize of the whole image anchored at that
    pixel, the image's own borders mirrored as ``imresize`` mirrors them. Unclipped float32."""
    from srkit.ops.resize import resize_weights

    context = math.ceil(2 * scale) + 4
    out = to_float(hr_img)
    for axis, (start, length) in enumerate(((hr_row, lr_shape[0]), (hr_col, lr_shape[1]))):
        size = out.shape[axis]
        top = max(0, start - context)
        bottom = min(size, start + math.ceil(length * scale) + context)
        region = np.take(out, np.arange(top, bottom), axis=axis)
        matrix = resize_weights(bottom - top, length, 1 / scale, "bicubic", True,
                                offset=start - top).astype(np.float32)
        out = np.moveaxis(np.tensordot(matrix, np.moveaxis(region, axis, 0), axes=(1, 0)),
                          0, axis)
    return np.asarray(out, np.float32)


class BicubicDegradation(Degradation):
    """MATLAB bicubic downscaling, then JPEG at ``jpeg_quality`` (None: none)."""

    name = "bicubic"

    def __init__(self, scale: int, jpeg_quality: int | None = None) -> None:
        super().__init__(scale)
        self.jpeg_quality = jpeg_quality

    @classmethod
    def from_options(cls, scale, options):
        return cls(scale, options.jpeg_quality)

    def settings(self) -> dict:
        return {**super().settings(), "jpeg_quality": self.jpeg_quality}

    def degrade(self, hr, rng, *, bit_depth=8):
        record: dict = {}
        lr = finish(imresize(check_hr(hr, self.scale), 1 / self.scale), self.jpeg_quality,
                    record)
        return Degraded(lr, record)

    def degrade_crop(self, hr_img, row, col, lr_shape, rng):
        lr = bicubic_crop(hr_img, self.scale, row, col, lr_shape)
        return finish(lr, self.jpeg_quality, {})
