"""Synthetic real-world degradations: Real-ESRGAN's second-order random pipeline (BSRGAN family).

Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data" (ICCVW 2021), Sec. 3 and the defaults of its ``train_realesrgan_x4plus.yml``. The first
order is blur → random resize → Gaussian or Poisson noise (colour or grey) → JPEG, the second
the same without JPEG; the final step resizes to HR/scale with an optional 2-D sinc filter
(ringing and overshoot), before or after a last JPEG. Reimplemented with numpy/scipy/Pillow
so that it runs anywhere (DataLoader workers included): no global state, every draw from the
``numpy.random.Generator`` passed in.

Conventions match the reference code: kernels are correlated with reflect padding (PyTorch
``filter2D``), resizes follow ``torch.nn.functional.interpolate`` (``area``, ``bilinear``,
``bicubic`` with ``align_corners=False`` and no antialiasing), noise sigmas are on the 0–255
scale. The ground truth is not USM-sharpened here (Real-ESRGAN sharpens its training targets;
that belongs to training, not to making pairs).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np
from scipy import fft

from srkit.ops.jpeg import jpeg_compress
from srkit.ops.kernels import shaped_kernel, sinc_kernel
from srkit.ops.noise import gaussian_noise, poisson_noise

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso",
                "plateau_aniso")
RESIZE_MODES = ("area", "bilinear", "bicubic")


@dataclass(frozen=True)
class BlurSettings:
    """How one order draws its blur kernel (Real-ESRGAN dataset options)."""

    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)
    kernel_types: tuple[str, ...] = KERNEL_TYPES
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sigma: tuple[float, float] = (0.2, 3.0)      # Gaussian widths in pixels
    betag: tuple[float, float] = (0.5, 4.0)      # generalised Gaussian shape
    betap: tuple[float, float] = (1.0, 2.0)      # plateau shape
    sinc_prob: float = 0.1


@dataclass(frozen=True)
class OrderSettings:
    """One degradation order: blur, resize, noise, JPEG.

    The second order's ``jpeg_quality`` is the range of the final JPEG (Real-ESRGAN's
    ``jpeg_range2``): that order has no JPEG of its own.
    """

    blur: BlurSettings = field(default_factory=BlurSettings)
    blur_prob: float = 1.0
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5                  # else Poisson
    noise_sigma: tuple[float, float] = (1.0, 30.0)    # on 0–255
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    grey_noise_prob: float = 0.4
    jpeg_quality: tuple[float, float] = (30.0, 95.0)


def _second_order() -> OrderSettings:
    return OrderSettings(
        blur=BlurSettings(sigma=(0.2, 1.5)), blur_prob=0.8, resize_probs=(0.3, 0.4, 0.3),
        resize_range=(0.3, 1.2), noise_sigma=(1.0, 25.0), poisson_scale=(0.05, 2.5))


@dataclass(frozen=True)
class SyntheticSettings:
    """Every range and probability of the random pipeline; defaults are Real-ESRGAN x4plus.

    ``second_order_prob`` is 1.0 in Real-ESRGAN (always two orders); lower it for the
    "once or twice" mix. ``shuffle_prob`` > 0 runs an order's blur/resize/noise in a random
    order (BSRGAN's shuffled degradations; 0 in Real-ESRGAN). ``final_sinc_prob`` is the chance
    of the last sinc filter (cut-off in [π/3, π]). ``classical_prob`` is the chance of a
    classical sample instead (module doc): the first order's kernel family with widths of
    ``classical_sigma`` LR pixels (× scale in HR pixels), direct ×scale subsampling, the first
    order's noise and one JPEG of its quality range; 0 in Real-ESRGAN.
    """

    first: OrderSettings = field(default_factory=OrderSettings)
    second: OrderSettings = field(default_factory=_second_order)
    second_order_prob: float = 1.0
    shuffle_prob: float = 0.0
    final_sinc_prob: float = 0.8
    final_sinc_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)
    resize_modes: tuple[str, ...] = RESIZE_MODES
    classical_prob: float = 0.0
    classical_sigma: tuple[float, float] = (0.25, 1.2)  # blur widths in LR pixels

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SyntheticSettings:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        def build(kind, values):
            names = {f.name: f for f in fields(kind)}
            unknown = set(values) - set(names)
            if unknown:
                raise ValueError(f"unknown {kind.__name__} keys: {', '.join(sorted(unknown))}")
            kwargs = {}
            for name, value in values.items():
                if name == "blur":
                    kwargs[name] = build(BlurSettings, value)
                elif name in ("first", "second"):
                    kwargs[name] = build(OrderSettings, value)
                elif isinstance(value, list):
                    kwargs[name] = tuple(value)
                else:
                    kwargs[name] = value
            return kind(**kwargs)

        return build(cls, data)

    def with_overrides(self, overrides: dict[str, object]) -> SyntheticSettings:
        """A copy with some values replaced; dotted keys reach into the orders, e.g.
        ``{"second_order_prob": 0.5, "first.noise_sigma": [1, 10], "first.blur.sigma":
        [0.2, 2]}``. Unknown keys raise ``ValueError``."""
        data = self.to_dict()
        for key, value in overrides.items():
            *path, last = key.split(".")
            node = data
            for part in path:
                if not isinstance(node.get(part), dict):
                    raise ValueError(f"unknown synthetic setting {key!r}")
                node = node[part]
            if last not in node or isinstance(node[last], dict):
                raise ValueError(f"unknown synthetic setting {key!r}")
            node[last] = value
        return SyntheticSettings.from_dict(data)

    def changes(self) -> dict[str, object]:
        """The dotted keys whose values differ from Real-ESRGAN's defaults, and those values."""
        def flat(data: dict, prefix: str = "") -> dict[str, object]:
            out: dict[str, object] = {}
            for key, value in data.items():
                if isinstance(value, dict):
                    out.update(flat(value, f"{prefix}{key}."))
                else:
                    out[prefix + key] = value
            return out

        mine, default = flat(self.to_dict()), flat(SyntheticSettings().to_dict())
        return {key: value for key, value in mine.items() if value != default[key]}


# ----------------------------------------------------------------------------- kernels


def _draw_beta(rng: np.random.Generator, beta_range: tuple[float, float]) -> float:
    # Real-ESRGAN: half the time below 1, half above (for betap = [1, 2] the first half is 1).
    if rng.random() < 0.5:
        return float(rng.uniform(beta_range[0], 1.0))
    return float(rng.uniform(1.0, beta_range[1]))


def random_blur_kernel(rng: np.random.Generator, blur: BlurSettings | None = None
                       ) -> tuple[np.ndarray, dict]:
    """Draw one blur kernel as Real-ESRGAN does; returns ``(kernel (k, k), record)``."""
    blur = blur or BlurSettings()
    size = int(rng.choice(blur.kernel_sizes))
    if rng.random() < blur.sinc_prob:
        # the cut-off range depends on the size so that small kernels are not too sharp
        low = np.pi / 3 if size < 13 else np.pi / 5
        cutoff = float(rng.uniform(low, np.pi))
        return sinc_kernel(size, cutoff), {"type": "sinc", "size": size, "cutoff": cutoff}
    probs = np.asarray(blur.kernel_probs, dtype=np.float64)
    kind = str(blur.kernel_types[int(rng.choice(len(probs), p=probs / probs.sum()))])
    sigma_x = float(rng.uniform(*blur.sigma))
    if kind.endswith("aniso"):
        sigma_y = float(rng.uniform(*blur.sigma))
        theta = float(rng.uniform(-np.pi, np.pi))
    else:
        sigma_y, theta = sigma_x, 0.0
    record = {"type": kind, "size": size, "sigma_x": sigma_x, "sigma_y": sigma_y,
              "theta": theta}
    if kind.startswith("generalized"):
        record["beta"] = _draw_beta(rng, blur.betag)
        kernel = shaped_kernel(size, sigma_x, sigma_y, theta, "generalized", record["beta"])
    elif kind.startswith("plateau"):
        record["beta"] = _draw_beta(rng, blur.betap)
        kernel = shaped_kernel(size, sigma_x, sigma_y, theta, "plateau", record["beta"])
    else:
        kernel = shaped_kernel(size, sigma_x, sigma_y, theta, "gaussian")
    return kernel, record


def filter2d(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate each channel of ``(H, W, C)`` with an odd ``(k, k)`` kernel, reflect padding.

    Same as Real-ESRGAN's ``filter2D`` (PyTorch ``reflect`` = edge sample not repeated);
    computed by FFT. Returns float32 ``(H, W, C)``.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    k = kernel.shape[0]
    if kernel.ndim != 2 or k != kernel.shape[1] or k % 2 == 0:
        raise ValueError(f"kernel must be odd and square, got {kernel.shape}")
    pad = k // 2
    padded = np.pad(np.asarray(img, dtype=np.float64), ((pad, pad), (pad, pad), (0, 0)),
                    mode="reflect")
    height, width = img.shape[0], img.shape[1]
    # Circular correlation on a grid at least as large as the padded image equals the valid
    # linear correlation at the first (height, width) positions: no wrap-around reaches them.
    shape = (fft.next_fast_len(padded.shape[0], real=True),
             fft.next_fast_len(padded.shape[1], real=True))
    image_f = fft.rfft2(padded, s=shape, axes=(0, 1))
    kernel_f = fft.rfft2(kernel, s=shape)
    out = fft.irfft2(image_f * np.conj(kernel_f)[..., None], s=shape, axes=(0, 1))
    out = out[:height, :width]
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- resize


def _torch_axis_weights(in_len: int, out_len: int, mode: str,
                        scale_factor: float | None) -> np.ndarray:
    """``(out_len, in_len)`` weights of ``F.interpolate`` along one axis."""
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.arange(out_len)
    if mode == "area":  # adaptive average pooling
        starts = np.floor(rows * in_len / out_len).astype(int)
        ends = np.ceil((rows + 1) * in_len / out_len).astype(int)
        for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
            matrix[i, start:end] = 1.0 / (end - start)
        return matrix
    ratio = 1.0 / scale_factor if scale_factor else in_len / out_len
    src = (rows + 0.5) * ratio - 0.5
    if mode == "bilinear":
        src = np.maximum(src, 0.0)
        left = np.floor(src).astype(int)
        frac = src - left
        right = np.minimum(left + 1, in_len - 1)
        np.add.at(matrix, (rows, left), 1.0 - frac)
        np.add.at(matrix, (rows, right), frac)
        return matrix
    if mode == "bicubic":  # Keys cubic with A = -0.75, indices clamped at the borders
        a = -0.75
        left = np.floor(src).astype(int)
        t = src - left

        def near(x):
            return ((a + 2) * x - (a + 3)) * x * x + 1

        def far(x):
            return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

        taps = (far(t + 1), near(t), near(1 - t), far(2 - t))
        for offset, weight in zip((-1, 0, 1, 2), taps, strict=True):
            np.add.at(matrix, (rows, np.clip(left + offset, 0, in_len - 1)), weight)
        return matrix
    raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")


def resize_like_torch(img: np.ndarray, size: tuple[int, int], mode: str,
                      scale_factor: float | None = None) -> np.ndarray:
    """Resize ``(H, W, C)`` to ``size`` like ``F.interpolate(..., align_corners=False)``.

    ``scale_factor`` reproduces a call made with ``scale_factor=`` (PyTorch then maps
    coordinates with it rather than with the size ratio). Returns float32.
    """
    array = np.asarray(img, dtype=np.float64)
    out_h, out_w = max(int(size[0]), 1), max(int(size[1]), 1)
    rows = _torch_axis_weights(array.shape[0], out_h, mode, scale_factor)
    cols = _torch_axis_weights(array.shape[1], out_w, mode, scale_factor)
    height, width, channels = array.shape
    # two plain matrix products (BLAS): rows on (H, W*C), then columns on (W, out_h*C)
    out = (rows @ array.reshape(height, width * channels)).reshape(out_h, width, channels)
    out = out.transpose(1, 0, 2).reshape(width, out_h * channels)
    out = (cols @ out).reshape(out_w, out_h, channels).transpose(1, 0, 2)
    return np.ascontiguousarray(out, dtype=np.float32)


# ----------------------------------------------------------------------------- pipeline


def _random_resize(img: np.ndarray, order: OrderSettings, modes: tuple[str, ...],
                   rng: np.random.Generator, base: tuple[int, int] | None) -> tuple:
    probs = np.asarray(order.resize_probs, dtype=np.float64)
    direction = ("up", "down", "keep")[int(rng.choice(3, p=probs / probs.sum()))]
    if direction == "up":
        factor = float(rng.uniform(1.0, order.resize_range[1]))
    elif direction == "down":
        factor = float(rng.uniform(order.resize_range[0], 1.0))
    else:
        factor = 1.0
    mode = str(modes[int(rng.integers(len(modes)))])
    if base is None:  # first order: relative to the current size (scale_factor call)
        size = (int(img.shape[0] * factor), int(img.shape[1] * factor))
        out = resize_like_torch(img, size, mode, scale_factor=factor)
    else:  # second order: relative to the target LR size
        size = (int(base[0] * factor), int(base[1] * factor))
        out = resize_like_torch(img, size, mode)
    record = {"direction": direction, "factor": factor, "mode": mode,
              "size": [int(out.shape[0]), int(out.shape[1])]}
    return out, record


def _random_noise(img: np.ndarray, order: OrderSettings, rng: np.random.Generator) -> tuple:
    grey = bool(rng.random() < order.grey_noise_prob)
    if rng.random() < order.gaussian_noise_prob:
        sigma = float(rng.uniform(*order.noise_sigma))
        return gaussian_noise(img, sigma, rng, grey), {"type": "gaussian", "sigma": sigma,
                                                        "grey": grey}
    scale = float(rng.uniform(*order.poisson_scale))
    return poisson_noise(img, scale, rng, grey), {"type": "poisson", "scale": scale,
                                                  "grey": grey}


def _draw_quality(rng: np.random.Generator, quality_range: tuple[float, float]) -> int:
    return int(round(rng.uniform(*quality_range)))


def _one_order(img: np.ndarray, order: OrderSettings, modes: tuple[str, ...],
               rng: np.random.Generator, base: tuple[int, int] | None,
               compress: bool, shuffle_prob: float) -> tuple:
    """Blur, resize, noise and (``compress``) JPEG. Real-ESRGAN's second order has no JPEG of
    its own: its JPEG range serves the final step. With probability ``shuffle_prob`` the
    blur/resize/noise steps run in a random order (BSRGAN)."""
    record: dict = {"blur": None}
    steps = ["blur", "resize", "noise"]
    if shuffle_prob and rng.random() < shuffle_prob:
        steps = [steps[i] for i in rng.permutation(3)]
        record["steps"] = steps
    for step in steps:
        if step == "blur" and rng.random() < order.blur_prob:
            kernel, record["blur"] = random_blur_kernel(rng, order.blur)
            img = filter2d(img, kernel)
        elif step == "resize":
            img, record["resize"] = _random_resize(img, order, modes, rng, base)
        elif step == "noise":
            img, record["noise"] = _random_noise(img, order, rng)
    if compress:
        record["jpeg"] = _draw_quality(rng, order.jpeg_quality)
        img = jpeg_compress(img, record["jpeg"])
    return img, record


def _checked_hr(hr: np.ndarray, scale: int) -> np.ndarray:
    """``hr`` as float32 ``(H, W, 3)`` of at least one LR pixel at ``scale``, else ValueError."""
    hr = np.asarray(hr, dtype=np.float32)
    if hr.ndim != 3 or hr.shape[2] != 3:
        raise ValueError(f"hr must be (H, W, 3), got {hr.shape}")
    if min(hr.shape[0], hr.shape[1]) < scale:
        raise ValueError(f"image {hr.shape[:2]} is smaller than the scale {scale}")
    return hr


def random_degradation(hr: np.ndarray, scale: int, rng: np.random.Generator,
                       settings: SyntheticSettings | None = None) -> tuple[np.ndarray, dict]:
    """Degrade ``hr`` ``(H, W, 3)`` in [0, 1] into an LR ``(H // scale, W // scale, 3)``.

    Returns float32 LR quantised to 8 bits (as Real-ESRGAN rounds its LQ) and a JSON-able
    record of every draw: ``{"first": {...}, "second": {...} | None, "final": {...}}``.
    """
    settings = settings or SyntheticSettings()
    hr = _checked_hr(hr, scale)
    target = (hr.shape[0] // scale, hr.shape[1] // scale)
    if settings.classical_prob and rng.random() < settings.classical_prob:
        return classical_degradation(hr, scale, rng, settings)
    modes = tuple(settings.resize_modes)
    out, first = _one_order(hr, settings.first, modes, rng, None, True, settings.shuffle_prob)
    second = None
    if rng.random() < settings.second_order_prob:
        out, second = _one_order(out, settings.second, modes, rng, target, False,
                                 settings.shuffle_prob)
    final: dict = {"sinc": None}
    if rng.random() < settings.final_sinc_prob:
        size = int(rng.choice(settings.final_sinc_sizes))
        cutoff = float(rng.uniform(np.pi / 3, np.pi))
        final["sinc"] = {"size": size, "cutoff": cutoff}
        sinc = sinc_kernel(size, cutoff)
    else:
        sinc = None
    final["mode"] = str(modes[int(rng.integers(len(modes)))])
    final["jpeg"] = _draw_quality(rng, settings.second.jpeg_quality)
    # Real-ESRGAN: [resize back + sinc] then JPEG, or JPEG then [resize back + sinc]; other
    # orders "introduce twisted lines".
    final["order"] = "resize_sinc_jpeg" if rng.random() < 0.5 else "jpeg_resize_sinc"

    def resize_sinc(img: np.ndarray) -> np.ndarray:
        img = resize_like_torch(img, target, final["mode"])
        return filter2d(img, sinc) if sinc is not None else img

    if final["order"] == "resize_sinc_jpeg":
        out = jpeg_compress(resize_sinc(out), final["jpeg"])
    else:
        out = resize_sinc(jpeg_compress(out, final["jpeg"]))
    lr = (np.clip(np.round(out * 255.0), 0, 255) / 255.0).astype(np.float32)
    return lr, {"first": first, "second": second, "final": final}


def classical_degradation(hr: np.ndarray, scale: int, rng: np.random.Generator,
                          settings: SyntheticSettings | None = None) -> tuple[np.ndarray, dict]:
    """One sample of the classical model ``JPEG((hr ⊗ k)↓scale + n)`` (module doc).

    ``k`` is drawn like the first order's kernels, with widths from ``classical_sigma`` LR
    pixels times ``scale`` and a size that holds ±3 of the widest; the blur and subsampling are
    :func:`srkit.ops.kernels.blur_downsample` (block-centre grid, as the pools'); noise and
    the JPEG quality are drawn from the first order's ranges. Same return as
    :func:`random_degradation`, with ``record["classical"] = True`` and no second order.
    """
    from srkit.ops.kernels import blur_downsample

    settings = settings or SyntheticSettings()
    hr = _checked_hr(hr, scale)
    low, high = (float(v) * scale for v in settings.classical_sigma)
    size = 2 * math.ceil(3 * high) + 1
    blur = BlurSettings(**{**asdict(settings.first.blur), "sigma": (low, high),
                           "kernel_sizes": (size,)})
    kernel, blur_record = random_blur_kernel(rng, blur)
    out = blur_downsample(hr, kernel, scale)
    out, noise_record = _random_noise(out, settings.first, rng)
    quality = _draw_quality(rng, settings.first.jpeg_quality)
    out = jpeg_compress(out, quality)
    lr = (np.clip(np.round(out * 255.0), 0, 255) / 255.0).astype(np.float32)
    first = {"blur": blur_record, "noise": noise_record, "jpeg": quality}
    return lr, {"classical": True, "first": first, "second": None, "final": None}
