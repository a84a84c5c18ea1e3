"""What every degradation has: a name, its settings, a whole-image and a training-crop path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from srkit.ops.pixels import to_float

if TYPE_CHECKING:
    from srkit.degradations import Options

# Keys of the settings dict (``degrade.json``) that belong to one kind or another; every kind
# writes all of them (None where unused) so that the settings ids of existing folders hold.
_SETTINGS_KEYS = ("pool_sha256", "use_kernels", "use_noise", "jpeg_quality", "synthetic")
# Manifest fields of pool mode's per-image choices, None in the other modes.
_CHOICE_KEYS = ("kernel_index", "kernel_source", "noise_index")


def no_choices() -> dict:
    return dict.fromkeys(_CHOICE_KEYS)


class ImageTooSmall(ValueError):
    """The image is too small for this degradation (the run skips it with a warning)."""


@dataclass(frozen=True)
class Degraded:
    """One degraded image: the LR, how it was made, and (DSN) its domain-distance map."""

    lr: np.ndarray                                   # float32 (h, w, 3) in [0, 1]
    record: dict                                     # JSON-able: the kind's manifest fields
    choices: dict = field(default_factory=no_choices)  # pool's kernel / noise choices
    dist: np.ndarray | None = None                   # float32 (h, w) in [0, 1], or None


class Degradation:
    """Base of the degradation kinds. Subclasses set :attr:`name` and implement
    :meth:`degrade` and :meth:`degrade_crop`.

    * ``degrade(hr, rng, bit_depth=8)``: a whole HR image ``(H, W, 3)`` float32 in [0, 1],
      ``H, W`` multiples of ``scale``, → :class:`Degraded`. ``bit_depth`` is the depth the LR
      will be stored at (the DSN's map is computed on the stored LR).
    * ``degrade_crop(hr_img, row, col, lr_shape, rng)``: the LR pixels at LR position
      ``(row, col)``, ``lr_shape`` ``(h, w)``, of the whole decoded ``hr_img`` (integer pixels
      or float), float32 ``(h, w, 3)``. Where the method is local (pool kernels, bicubic) these
      are the pixels :meth:`degrade` gives on that region; the random pipeline degrades the
      HR crop itself.
    * :meth:`settings`: the kind's part of ``degrade.json``'s settings (hashed into the
      settings id); :meth:`files`: the paths it reads, recorded beside them.
    """

    name: ClassVar[str]
    file_option: ClassVar[str | None] = None  # the option naming the file this kind reads
    device: str = "cpu"

    def __init__(self, scale: int) -> None:
        self.scale = int(scale)

    @classmethod
    def from_options(cls, scale: int, options: Options) -> Degradation:
        """The degradation of ``srkit degrade``'s options (files read and checked here)."""
        raise NotImplementedError

    def settings(self) -> dict:
        return dict.fromkeys(_SETTINGS_KEYS)

    def files(self) -> dict:
        return {"pool": None}

    def start_worker(self) -> None:
        """Set-up in a worker process (after unpickling); nothing by default."""

    def degrade(self, hr: np.ndarray, rng: np.random.Generator, *, bit_depth: int = 8
                ) -> Degraded:
        raise NotImplementedError

    def degrade_crop(self, hr_img: np.ndarray, row: int, col: int, lr_shape: tuple[int, int],
                     rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def hr_crop(self, hr_img: np.ndarray, row: int, col: int, lr_shape: tuple[int, int]
                ) -> np.ndarray:
        """The float32 HR pixels under LR ``[row:row+h, col:col+w]``."""
        s = self.scale
        return to_float(hr_img[row * s:(row + lr_shape[0]) * s, col * s:(col + lr_shape[1]) * s])


def with_context(hr_img: np.ndarray, scale: int, row: int, col: int, lr_shape: tuple[int, int],
                 margin: int, degrade_region: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """LR ``[row:row+h, col:col+w]`` of a local method: ``degrade_region`` (float32 HR →
    its LR) run on the crop with ``margin`` LR pixels of context around it. The context is
    clipped at the image's borders, where the method's own boundary rule then applies as it
    does on the whole image; so the pixels equal the whole image's up to float rounding."""
    top, left = max(row - margin, 0), max(col - margin, 0)
    bottom = min(row + lr_shape[0] + margin, hr_img.shape[0] // scale)
    right = min(col + lr_shape[1] + margin, hr_img.shape[1] // scale)
    region = to_float(hr_img[top * scale:bottom * scale, left * scale:right * scale])
    lr = degrade_region(region)
    return lr[row - top:row - top + lr_shape[0], col - left:col - left + lr_shape[1]]


def check_hr(hr: np.ndarray, scale: int) -> np.ndarray:
    """``hr`` as float32, checked to be a multiple of ``scale`` in size."""
    hr = np.asarray(hr, dtype=np.float32)
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise ValueError(f"HR size {hr.shape[:2]} is not a multiple of the scale {scale}")
    return hr


def finish(lr: np.ndarray, jpeg_quality: int | None, record: dict) -> np.ndarray:
    """Clip to [0, 1] as float32, then JPEG-compress at ``jpeg_quality`` (recorded as
    ``record["jpeg"]``) when it is given."""
    lr = np.clip(lr, 0.0, 1.0).astype(np.float32)
    if jpeg_quality is not None:
        from srkit.ops.jpeg import jpeg_compress

        lr = jpeg_compress(lr, jpeg_quality)
        record["jpeg"] = int(jpeg_quality)
    return lr
