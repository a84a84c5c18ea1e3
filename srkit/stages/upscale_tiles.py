"""Enlarge an image with a network tile by tile, straight into the output's samples.

:func:`enlarge_to_samples` gives the uint8 / uint16 ``(sH, sW, C)`` array that
:func:`srkit.io.images.write_samples` stores, without ever holding a float copy of the
whole output: each tile's network output is clipped, quantised and copied into the
preallocated array, and its alpha is enlarged with it (bicubic on the tile's alpha with
enough context to equal a whole-image resize, or through the network). The input is kept as
its 8- or 16-bit samples when they give back its float values exactly (any image read from
a file), and each tile is converted to float on its own. Memory beyond the output array is
then the input's samples and one tile's network activations, for any image size.

The bytes are those of :func:`srkit.stages.upscale.enlarge_image` followed by
:func:`srkit.io.images.write_image`: the same tiles, the same per-pixel maths in the same
order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from srkit.errors import SrkitError
from srkit.io.images import LoadedImage, to_uint

_BICUBIC_CONTEXT = 3  # input pixels each side a ×s bicubic output pixel can reach (2), plus 1
_BAND_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class TileSource:
    """An image's planes as compactly as they can be held exactly.

    ``rgb`` ``(H, W, 3)`` and ``alpha`` ``(H, W)`` (or None) are uint8 / uint16 samples
    with ``peak`` 255 / 65535, or float32 with ``peak`` None; :meth:`floats` gives the float32
    values of a block of either.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    rgb_peak: float | None
    alpha_peak: float | None

    @classmethod
    def from_image(cls, image: LoadedImage) -> TileSource:
        order = (16, 8) if image.bit_depth == 16 else (8, 16)
        rgb, rgb_peak = compact(image.rgb, order)
        alpha, alpha_peak = (None, None) if image.alpha is None else compact(image.alpha, order)
        return cls(rgb, alpha, rgb_peak, alpha_peak)

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    def floats(self, plane: str, rows: np.ndarray | slice, cols: np.ndarray | slice
               ) -> np.ndarray:
        values = self.rgb if plane == "rgb" else self.alpha
        peak = self.rgb_peak if plane == "rgb" else self.alpha_peak
        assert values is not None
        block = values[rows][:, cols]
        return np.ascontiguousarray(block, dtype=np.float32) if peak is None else \
            block.astype(np.float32) / np.float32(peak)


def compact(values: np.ndarray, order: tuple[int, ...] = (8, 16)
            ) -> tuple[np.ndarray, float | None]:
    """``values`` (float in [0, 1]) as uint8 or uint16 samples and their peak, when
    ``samples / peak`` in float32 gives ``values`` back bit for bit; else ``(values, None)``.
    Checked in bands, so no second float copy of the image is made."""
    values = np.asarray(values)
    if values.dtype != np.float32:
        return np.asarray(values, dtype=np.float32), None
    flat = values.reshape(values.shape[0], -1)
    band = max(1, _BAND_ELEMENTS // max(1, flat.shape[1]))
    for bits in order:
        dtype, peak = (np.uint8, 255) if bits == 8 else (np.uint16, 65535)
        samples = np.empty(values.shape, dtype=dtype)
        out = samples.reshape(flat.shape)
        for start in range(0, flat.shape[0], band):
            block = flat[start:start + band]
            quantised = np.round(np.clip(block, 0.0, 1.0) * np.float32(peak)).astype(dtype)
            if not np.array_equal(quantised.astype(np.float32) / np.float32(peak), block):
                break
            out[start:start + band] = quantised
        else:
            return samples, float(peak)
    return values, None


def uses_channels_last(model) -> bool:
    """Whether ``model``'s convolution weights are channels-last (see :func:`prepare`)."""
    import torch

    for parameter in model.parameters():
        if parameter.dim() == 4:
            return parameter.is_contiguous(memory_format=torch.channels_last) and \
                not parameter.is_contiguous()
    return False


def prepare(model) -> None:
    """Make a CPU network channels-last in place: oneDNN's convolutions on NHWC data skip a
    reorder of every activation (measured 1.5× on the shipped ×4 network, outputs within one
    8-bit level of NCHW). Networks on other devices are left as they are."""
    import torch

    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.device.type == "cpu":
        model.to(memory_format=torch.channels_last)


PRECISIONS = ("fp32", "bf16")


@functools.cache
def native_bf16() -> bool:
    """Whether the CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16, from /proc/cpuinfo);
    without it oneDNN emulates bf16 convolutions, several times slower than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            flags = info.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_precision(precision: str, *, half: bool, backend: str) -> None:
    """Refuse an unknown ``precision`` and the combinations it cannot run, in one line."""
    if precision not in PRECISIONS:
        raise SrkitError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    if precision == "bf16" and half:
        raise SrkitError("--precision bf16 and --half are two precisions: choose one")
    if precision == "bf16" and backend != "torch":
        raise SrkitError(f"--backend {backend} runs float32: drop --precision bf16 "
                         "(or use --backend torch)")


def warn_if_emulated(precision: str, model) -> None:
    """Warn when ``precision`` is ``bf16`` for a CPU network on a CPU without native bf16
    (it runs, emulated, several times slower than fp32)."""
    parameter = next(model.parameters(), None) if hasattr(model, "parameters") else None
    if precision == "bf16" and parameter is not None and parameter.device.type == "cpu" \
            and not native_bf16():
        from srkit.console import warn

        warn("this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 runs emulated, several "
             "times slower than fp32")


def network_runner(model, device=None, half: bool = False, bf16: bool = False
                   ) -> Callable[[np.ndarray], np.ndarray]:
    """``run(piece)``: float32 ``(h, w, 3)`` → clipped float32 ``(sh, sw, 3)`` numpy through
    ``model``, in channels-last layout when the model is (:func:`prepare`), under bf16
    autocast with ``bf16``; through its ``onnx_runner`` when
    :func:`srkit.stages.onnx_backend.attach` gave it one."""
    if getattr(model, "onnx_runner", None) is not None:
        return model.onnx_runner
    import contextlib

    import torch

    parameter = next(model.parameters())
    device = torch.device(device) if device is not None else parameter.device
    dtype = torch.float16 if half else torch.float32
    layout = torch.channels_last if uses_channels_last(model) else torch.contiguous_format

    def precision():
        return (torch.autocast(device.type, dtype=torch.bfloat16) if bf16
                else contextlib.nullcontext())

    def run(piece: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(piece).transpose(2, 0, 1))[None]
        x = x.to(device, dtype).contiguous(memory_format=layout)
        with precision():
            out = model(x)
        out = out.float().clamp_(0.0, 1.0)
        return out[0].permute(1, 2, 0).cpu().numpy()

    return run


def padded_indices(length: int, padded: int, reflect: bool, start: int, stop: int
                   ) -> np.ndarray:
    """Source rows of ``[start, stop)`` in an axis padded at its end from ``length`` to
    ``padded`` (:func:`srkit.ops.tiling.pad_to_multiple`: reflect, or replicate)."""
    index = np.arange(start, min(stop, padded))
    beyond = index >= length
    index[beyond] = (2 * (length - 1) - index[beyond]) if reflect else length - 1
    return index


def enlarge_to_samples(model, source: TileSource, *, scale: int, tile: int, overlap: int,
                       channels: int, bit_depth: int, alpha_mode: str = "bicubic",
                       run: Callable[[np.ndarray], np.ndarray] | None = None,
                       on_tile: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``(scale·H, scale·W, channels)`` uint8 / uint16 output samples of ``source``.

    ``channels``: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (grey = mean of R, G, B, as
    :func:`~srkit.io.images.write_image` stores it); alpha from ``source.alpha``, enlarged
    with ``alpha_mode`` ``bicubic`` or ``model``. ``run`` maps a float ``(h, w, 3)`` tile to
    its clipped ``(sh, sw, 3)`` output (default: :func:`network_runner` of ``model``).
    """
    from srkit.memory import keep_freed_memory
    from srkit.ops.resize import imresize
    from srkit.ops.tiling import tile_spans

    run = run or network_runner(model)
    height, width = source.height, source.width
    multiple = int(getattr(model, "size_multiple", 1))
    padded_h, padded_w = -(-height // multiple) * multiple, -(-width // multiple) * multiple
    reflect = padded_h - height < height and padded_w - width < width
    with_alpha = channels in (2, 4)
    if with_alpha and source.alpha is None:
        raise ValueError("channels with alpha need source.alpha")
    canvas = np.empty((scale * height, scale * width, channels),
                      dtype=np.uint8 if bit_depth == 8 else np.uint16)
    rows = tile_spans(padded_h, tile, overlap, multiple)
    cols = tile_spans(padded_w, tile, overlap, multiple)
    total, done = len(rows) * len(cols), 0

    with _no_autograd(model), keep_freed_memory():
        for row in rows:
            row_index = padded_indices(height, padded_h, reflect, row.in_start, row.in_stop)
            core_rows = min(row.core_stop, height) - row.core_start
            for col in cols:
                col_index = padded_indices(width, padded_w, reflect, col.in_start, col.in_stop)
                core_cols = min(col.core_stop, width) - col.core_start
                top, left = scale * (row.core_start - row.in_start), \
                    scale * (col.core_start - col.in_start)
                keep = (slice(top, top + scale * core_rows), slice(left, left + scale * core_cols))
                rgb = run(source.floats("rgb", row_index, col_index))[keep]
                planes = [rgb.mean(axis=2, keepdims=True)] if channels <= 2 else [rgb]
                if with_alpha and alpha_mode == "model":
                    grey = np.repeat(source.floats("alpha", row_index, col_index)[..., None],
                                     3, axis=2)
                    alpha = np.clip(run(grey)[keep].mean(axis=2), 0.0, 1.0)
                    planes.append(alpha[..., None])
                elif with_alpha:
                    planes.append(_bicubic_alpha(source, imresize, scale, row.core_start,
                                                 core_rows, col.core_start, core_cols)[..., None])
                canvas[scale * row.core_start:scale * (row.core_start + core_rows),
                       scale * col.core_start:scale * (col.core_start + core_cols)] = \
                    to_uint(np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0],
                            bit_depth)
                done += 1
                if on_tile is not None:
                    on_tile(done, total)
    return canvas


def _no_autograd(model):
    """``torch.inference_mode()``, or nothing for a network run by onnxruntime (so that a
    cached ONNX model upscales without importing PyTorch)."""
    import contextlib

    if getattr(model, "onnx_runner", None) is not None:
        return contextlib.nullcontext()
    import torch

    return torch.inference_mode()


def _bicubic_alpha(source: TileSource, imresize, scale: int, row0: int, n_rows: int,
                   col0: int, n_cols: int) -> np.ndarray:
    """The alpha of output block ``[s·row0, s·(row0 + n_rows)) × …`` as a whole-image MATLAB
    bicubic resize gives it: the same output-to-input mapping, shifted by whole input pixels,
    with the image's own border padding where the block meets the border."""
    top, bottom = max(0, row0 - _BICUBIC_CONTEXT), min(source.height,
                                                         row0 + n_rows + _BICUBIC_CONTEXT)
    left, right = max(0, col0 - _BICUBIC_CONTEXT), min(source.width,
                                                         col0 + n_cols + _BICUBIC_CONTEXT)
    block = source.floats("alpha", slice(top, bottom), slice(left, right))
    big = imresize(block, output_shape=(scale * (bottom - top), scale * (right - left)),
                   method="bicubic")
    y, x = scale * (row0 - top), scale * (col0 - left)
    return np.clip(big[y:y + scale * n_rows, x:x + scale * n_cols], 0.0, 1.0)
