"""``blind``: random blur, non-integer downscale, noise and bicubic re-upscale (CSRGAN-style).

Per image (docs/blind.md): an isotropic Gaussian blur whose
*variance* σ is drawn from ``blur_variance`` (px², [0, 50]: the paper's σ is a kernel
variance, so the standard deviation is √σ ≤ 7.1 px), a MATLAB-bicubic downscale by a
non-integer factor drawn from ``factor`` ([1, 3]), additive colour Gaussian noise of level
``w`` drawn from ``noise_level`` (std in grey levels of 0–255, [0, 25], added at the low
resolution and clipped), then MATLAB-bicubic re-upscaling to the input size. The result is
*pre-upsampled*: LR and HR have the same size, and a scale-1 network (``unet-blind``) learns
to restore it. The three parameters are recorded per image and, normalised to [0, 1] by their
ranges (:meth:`BlindSettings.normalise`), are the targets of the network's parameter head.

Training crops (:meth:`BlindDegradation.degrade_crop`): the crop's region is degraded
together with up to :func:`context_margin` pixels of context on each side (clipped at the
image border) and then cut out. So a crop has no blur or resize boundary inside the photo,
just as the same region of a whole degraded image — but it is not *that* image's pixels:
every sample draws its own parameters and noise, and the non-integer downscale lays its
sampling grid from the context region's corner, not from the photo's (a shift of under one
LR pixel, which a whole image also shows from one place to another). The downscaled size is
rounded (``round(n / factor)``), so the factor really applied to a side of ``n`` pixels
differs from the recorded one by under ``factor² / (2 n)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from srkit.degradations.base import Degradation, Degraded, ImageTooSmall
from srkit.errors import SrkitError
from srkit.ops.pixels import to_float

# Order of the parameters in the normalised vector and of the network head's outputs.
PARAMETERS = ("blur_variance", "noise_level", "factor")
_UNITS = {"blur_variance": "px²", "noise_level": "grey levels (0–255)", "factor": "×"}


@dataclass(frozen=True)
class BlindSettings:
    """The ranges the three parameters are drawn from, uniformly, per image.

    ``blur_variance``: Gaussian kernel variance in px² (0 = no blur); ``noise_level``: noise
    std on the 0–255 scale; ``factor``: downscale factor ≥ 1 (1 = no resize).
    """

    blur_variance: tuple[float, float] = (0.0, 50.0)
    noise_level: tuple[float, float] = (0.0, 25.0)
    factor: tuple[float, float] = (1.0, 3.0)

    def __post_init__(self) -> None:
        for name, lowest in (("blur_variance", 0.0), ("noise_level", 0.0), ("factor", 1.0)):
            value = getattr(self, name)
            if (not isinstance(value, (tuple, list)) or len(value) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               and math.isfinite(v) for v in value)):
                raise SrkitError(f"blind setting {name} must be two numbers [low, high], "
                                 f"got {value!r}")
            low, high = float(value[0]), float(value[1])
            if low < lowest or high < low:
                raise SrkitError(f"blind setting {name} = [{low:g}, {high:g}]: need "
                                 f"{lowest:g} <= low <= high")
            object.__setattr__(self, name, (low, high))

    def to_dict(self) -> dict[str, list[float]]:
        return {name: list(value) for name, value in asdict(self).items()}

    def changes(self) -> dict[str, list[float]]:
        """The ranges that differ from the defaults."""
        default = BlindSettings()
        return {f.name: list(getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}

    def with_overrides(self, values: dict[str, object]) -> BlindSettings:
        """These settings with ``{name: [low, high]}`` replaced (unknown names raise)."""
        unknown = sorted(set(values) - set(PARAMETERS))
        if unknown:
            raise SrkitError(f"unknown blind setting(s) {', '.join(unknown)} "
                             f"(known: {', '.join(PARAMETERS)})")
        return replace(self, **{k: tuple(v) if isinstance(v, list) else v  # type: ignore
                                for k, v in values.items()})

    def ranges(self) -> list[tuple[float, float]]:
        return [getattr(self, name) for name in PARAMETERS]

    def normalise(self, params: BlindParams) -> np.ndarray:
        """``params`` as float32 ``(3,)`` in [0, 1] (0 where a range is a single value)."""
        out = [(value - low) / (high - low) if high > low else 0.0
               for value, (low, high) in zip(params.as_tuple(), self.ranges(), strict=True)]
        return np.clip(np.asarray(out, np.float32), 0.0, 1.0)

    def draw(self, rng: np.random.Generator) -> BlindParams:
        """One image's parameters (three uniform draws, in :data:`PARAMETERS` order)."""
        return BlindParams(*(float(rng.uniform(low, high)) for low, high in self.ranges()))


@dataclass(frozen=True)
class BlindParams:
    """What one image went through: blur variance (px²), noise level (0–255), factor."""

    blur_variance: float
    noise_level: float
    factor: float

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.blur_variance, self.noise_level, self.factor)

    def to_record(self) -> dict[str, float]:
        return {name: round(value, 6) for name, value in asdict(self).items()}


def context_margin(settings: BlindSettings) -> int:
    """HR pixels of context around a training crop: the blur's 3-std reach plus the support
    of the antialiased cubic shrink (±2 LR pixels) and of the cubic re-upscale, with one to
    spare."""
    blur = math.ceil(3 * math.sqrt(settings.blur_variance[1]))
    return blur + math.ceil(3 * settings.factor[1]) + 3


def degrade_blind(hr: np.ndarray, params: BlindParams, rng: np.random.Generator) -> np.ndarray:
    """Blur, downscale, add noise and re-upscale ``hr`` ``(H, W, 3)`` float in [0, 1] with
    ``params``; returns float32 ``(H, W, 3)`` in [0, 1]. Noise draws come from ``rng``; with
    ``blur_variance = 0``, ``factor = 1`` and ``noise_level = 0`` the input comes back."""
    from scipy import ndimage

    from srkit.ops.noise import gaussian_noise
    from srkit.ops.resize import imresize

    image = np.asarray(hr, dtype=np.float32)
    height, width = image.shape[:2]
    if params.blur_variance > 0:
        std = math.sqrt(params.blur_variance)
        # Separable isotropic Gaussian, symmetric edges (srkit's "reflect"), ±3 std.
        image = ndimage.gaussian_filter(image, (std, std, 0), mode="reflect", truncate=3.0)
    small_shape = (max(1, round(height / params.factor)), max(1, round(width / params.factor)))
    resized = small_shape != (height, width)
    if resized:
        image = imresize(image, output_shape=small_shape)
    if params.noise_level > 0 or resized:  # also clips the resize's overshoot, like a file
        image = gaussian_noise(image, params.noise_level, rng)
    if resized:
        image = imresize(image, output_shape=(height, width))
    return np.clip(image, 0.0, 1.0).astype(np.float32)


class BlindDegradation(Degradation):
    """Random blur variance, noise level and downscale factor per image, LR = HR size.

    The degradation's ``scale`` is 1 (pairs are pre-upsampled). Made by ``srkit degrade
    --mode blind -x S``, where ``S`` sets the factor range to [1, S]; the other ranges are the
    defaults of :class:`BlindSettings` there, settable in ``train-sr --blind-set`` and here.
    """

    name = "blind"

    def __init__(self, settings: BlindSettings | None = None) -> None:
        super().__init__(1)
        self.blind = settings if settings is not None else BlindSettings()

    @classmethod
    def from_options(cls, scale, options):
        if options.jpeg_quality is not None:
            raise SrkitError("blind mode has no JPEG step; drop the JPEG quality option")
        if options.blind is not None:
            return cls(options.blind)
        return cls(BlindSettings(factor=(1.0, float(scale))))

    def settings(self) -> dict:
        return {**super().settings(), "blind": self.blind.to_dict()}

    def degrade_params(self, hr: np.ndarray, rng: np.random.Generator
                       ) -> tuple[np.ndarray, BlindParams]:
        """Draw the parameters, then degrade the whole ``hr``: ``(LR, params)``."""
        params = self.blind.draw(rng)
        if min(hr.shape[:2]) < 2:
            raise ImageTooSmall("needs at least 2×2 pixels")
        return degrade_blind(hr, params, rng), params

    def degrade(self, hr, rng, *, bit_depth=8):
        lr, params = self.degrade_params(np.asarray(hr, np.float32), rng)
        return Degraded(lr, {"blind": params.to_record()})

    def degrade_crop_params(self, hr_img: np.ndarray, row: int, col: int,
                            lr_shape: tuple[int, int], rng: np.random.Generator
                            ) -> tuple[np.ndarray, BlindParams]:
        """The degraded crop ``[row:row+h, col:col+w]`` of ``hr_img`` (integer or float
        pixels) and its parameters; the region is degraded with context (module doc)."""
        margin = context_margin(self.blind)
        top, left = max(row - margin, 0), max(col - margin, 0)
        bottom = min(row + lr_shape[0] + margin, hr_img.shape[0])
        right = min(col + lr_shape[1] + margin, hr_img.shape[1])
        region = to_float(hr_img[top:bottom, left:right])
        lr, params = self.degrade_params(region, rng)
        return lr[row - top:row - top + lr_shape[0], col - left:col - left + lr_shape[1]], params

    def degrade_crop(self, hr_img, row, col, lr_shape, rng):
        return self.degrade_crop_params(hr_img, row, col, lr_shape, rng)[0]


def describe_parameter(name: str) -> str:
    """``name (unit)`` for tables and docs."""
    return f"{name} ({_UNITS[name]})"
