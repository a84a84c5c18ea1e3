"""``bicubic``: MATLAB-compatible antialiased bicubic ``imresize(hr, 1/scale)``, optional JPEG."""

from __future__ import annotations

import numpy as np

from srkit.degradations.base import Degradation, Degraded, check_hr, finish, with_context
from srkit.ops.resize import imresize

# LR pixels of context around a crop: the antialiased cubic of a ×s shrink spans ±2 LR pixels
_MARGIN = 3


def bicubic_crop(hr_img: np.ndarray, scale: int, row: int, col: int,
                 lr_shape: tuple[int, int]) -> np.ndarray:
    """LR pixels ``[row:row+h, col:col+w]`` of ``imresize(hr_img, 1 / scale)`` (unclipped),
    resizing only the crop and a margin around it (equal up to float rounding)."""
    return with_context(hr_img, scale, row, col, lr_shape, _MARGIN,
                        lambda region: imresize(region, 1 / scale))


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
