"""In-memory API: upscale numpy arrays and PIL images, for notebooks and other programs.

::

    import numpy as np
    import srkit

    model = srkit.load_model("general_x4")         # a shipped name, a models-folder name or a path
    lr_img = np.zeros((32, 48, 3), dtype=np.uint8)   # or a PIL image, uint16, float in [0, 1]
    sr_img = srkit.upscale_image(lr_img, model)     # (128, 192, 3) uint8

:func:`upscale_image` returns what it was given: a PIL image for a PIL image, and for an array
the same layout (``(H, W)`` grey, ``(H, W, 1)``, ``(H, W, 2)`` grey + alpha, ``(H, W, 3)`` RGB,
``(H, W, 4)`` RGBA) and dtype (uint8 → uint8, uint16 → uint16, any float → float32 in [0, 1]).
The pixels go through the same code as ``srkit upscale`` (:func:`srkit.stages.upscale.
enlarge_image`), so a file and an array give the same result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from srkit.errors import SrkitError
from srkit.stages.upscale import ALPHA_MODES, DEFAULT_TILE, METHODS, enlarge_image

if TYPE_CHECKING:
    from srkit.io.checkpoints import LoadedModel

_PIL_GREY = {"1": "L", "L": "L", "LA": "LA", "I;16": "I;16", "I;16L": "I;16",
             "I;16B": "I;16", "I;16N": "I;16"}
_PIL_COLOUR = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB",
               "HSV": "RGB", "RGBX": "RGB"}
_PEAK = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def load_model(name_or_path: str | Path, device: str = "auto") -> LoadedModel:
    """The model ``srkit upscale --model NAME_OR_PATH`` would use, ready to run.

    ``name_or_path`` is a shipped model name (``general_x4``, ``general_x2``), the name of a
    file in the models folder (see :mod:`srkit.modelzoo`) or a path to an srkit
    ``.safetensors`` or a BasicSR / Real-ESRGAN ``.pth``. ``device``: ``auto``, ``cpu``,
    ``cuda``, ``cuda:N`` or ``mps``. Returns a :class:`~srkit.io.checkpoints.LoadedModel`
    (``.model``, ``.arch``, ``.scale``, ...).
    """
    from srkit.io.checkpoints import load_model as load_file
    from srkit.modelzoo import resolve_model
    from srkit.stages.upscale_tiles import prepare

    if not isinstance(name_or_path, (str, Path)):
        raise SrkitError(f"load_model takes a model name or a path, not "
                         f"{type(name_or_path).__name__}")
    loaded = load_file(resolve_model(name_or_path), device)
    prepare(loaded.model)  # channels-last on the CPU, as srkit upscale runs it
    return loaded


def upscale_image(image: Any, model: LoadedModel | str | Path | None = None,
                  scale: float | None = None, *, method: str = "model",
                  tile: int = DEFAULT_TILE, tile_overlap: int | None = None,
                  outscale: float | None = None, alpha_mode: str = "bicubic",
                  half: bool = False, device: str = "auto", backend: str = "torch",
                  precision: str = "fp32") -> Any:
    """Upscale one image held in memory; returns the same kind of image (module docstring).

    Args:
        image: a numpy array (uint8, uint16, or float in [0, 1]; ``(H, W)``, ``(H, W, C)``
            with C = 1, 2, 3 or 4) or a PIL image (modes L, LA, I;16, RGB, RGBA; P, 1 and
            CMYK are converted to RGB(A) / L first).
        model: a :func:`load_model` result, an srkit network (``nn.Module`` with ``scale``),
            or a name or path to load; None with ``method="model"`` uses the shipped
            ``general_xS`` for ``scale`` (×4 when ``scale`` is None too).
        scale: the factor; with a fixed-scale model it must equal the model's (use
            ``outscale``), an arbitrary-scale model (Meta-SR trained over a range) runs at
            any factor from 1 to 16, integer or not; bicubic and Lanczos take any factor.
        method: ``model``, ``bicubic`` (MATLAB imresize) or ``lanczos`` (Lanczos-3).
        tile, tile_overlap: as in :func:`srkit.upscale` (the default overlap is exact).
        outscale: final factor, may be non-integer (the result is resized with bicubic).
        alpha_mode: ``bicubic``, or ``model`` (alpha through the network as a grey image).
        half: float16 inference (GPU only).
        device: where a model given by name is loaded (a loaded model stays where it is).
        backend: ``torch``, or ``onnxruntime`` (as ``srkit upscale --backend``: the network is
            exported once per set of weights and cached; each call opens a session, so for
            many small images the torch backend may be quicker).
        precision: ``fp32``, or ``bf16`` (autocast, as ``srkit upscale --precision``).
    """
    if method not in METHODS:
        raise SrkitError(f"unknown method {method!r} (use {', '.join(METHODS)})")
    if alpha_mode not in ALPHA_MODES:
        raise SrkitError(f"unknown alpha_mode {alpha_mode!r} (use {', '.join(ALPHA_MODES)})")
    if tile < 0 or (tile_overlap is not None and tile_overlap < 0):
        raise SrkitError("tile and tile_overlap must be ≥ 0")
    if outscale is not None and not (outscale > 0 and np.isfinite(outscale)):
        raise SrkitError(f"outscale must be a positive number, got {outscale}")
    loaded = _model_for(model, scale, method, half, device)
    if loaded is None and scale is None and outscale is None:
        raise SrkitError(f"method={method!r} needs scale or outscale")
    if alpha_mode == "model" and loaded is None:
        raise SrkitError(f"alpha_mode='model' needs method='model', not {method!r}")
    from srkit.stages.onnx_backend import attach, check_backend
    from srkit.stages.upscale import model_scale_range

    if backend != "torch" and loaded is None:
        raise SrkitError(f"backend={backend!r} only applies to method='model'")
    check_backend(backend, half=half, device=device,
                  arbitrary_scale=loaded is not None and model_scale_range(loaded) is not None)
    from srkit.stages.upscale_tiles import check_precision, warn_if_emulated

    check_precision(precision, half=half, backend=backend)
    if precision != "fp32" and loaded is None:
        raise SrkitError(f"precision={precision!r} only applies to method='model'")
    if loaded is not None:
        warn_if_emulated(precision, loaded.model)
    array, pil_mode = _as_array(image)
    pixels, kind = _to_loaded(array)
    if backend == "onnxruntime":
        attach(loaded)  # for this call only: the caller's model is left as it was
    try:
        rgb, alpha = enlarge_image(pixels, method=method, model=loaded, scale=scale,
                                   outscale=outscale, tile=tile, tile_overlap=tile_overlap,
                                   half=half, alpha_mode=alpha_mode,
                                   bf16=loaded is not None and precision == "bf16")
    finally:
        if backend == "onnxruntime":
            del loaded.model.onnx_runner
    out = kind.assemble(rgb, alpha)
    if pil_mode is None:
        return out
    from PIL import Image

    return Image.fromarray(out)  # uint8 HW, HW2, HW3, HW4 → L, LA, RGB, RGBA; uint16 → I;16


def _model_for(model: Any, scale: float | None, method: str, half: bool, device: str
               ) -> LoadedModel | None:
    """The network to run (None for interpolation methods), scale and half checked."""
    import torch
    from torch import nn

    from srkit.io.checkpoints import LoadedModel

    if method != "model":
        if model is not None:
            raise SrkitError(f"a model only applies to method='model', not {method!r}")
        if half:
            raise SrkitError("half only applies to method='model'")
        return None
    from srkit.stages.upscale import MAX_SCALE, model_run_scale

    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))
                              or not 1 <= scale <= MAX_SCALE):
        raise SrkitError(f"scale must be a number from 1 to {MAX_SCALE}, got {scale!r}")
    if model is None or isinstance(model, (str, Path)):
        from srkit.io.checkpoints import load_model as load_file
        from srkit.modelzoo import resolve_model
        from srkit.stages.upscale_tiles import prepare

        if model is None and scale is not None and not float(scale).is_integer():
            raise SrkitError(f"no shipped model runs at ×{scale:g}: pass an arbitrary-scale "
                             "model (a Meta-SR trained over a range of factors), or outscale")
        loaded = load_file(resolve_model(model, None if scale is None else int(scale)), device)
        prepare(loaded.model)  # channels-last on the CPU, as srkit upscale runs it
    elif isinstance(model, LoadedModel):
        loaded = model
    elif isinstance(model, nn.Module) and isinstance(getattr(model, "scale", None), int):
        # a network passed directly: an arbitrary-scale one (Meta-SR) takes any factor
        metadata = ({"scale_range": json.dumps([1.0, float(MAX_SCALE)])}
                    if getattr(model, "arbitrary_scale", False) else {})
        loaded = LoadedModel(model, type(model).__name__, {}, int(model.scale), metadata)
    else:
        raise SrkitError(f"model must be a name, a path, srkit.load_model(...) or an srkit "
                         f"network, not {type(model).__name__}")
    model_run_scale(loaded, scale, f"a ×{loaded.scale} {loaded.arch}", option="scale=")
    if half:
        parameter = next(loaded.model.parameters())
        if parameter.device.type == "cpu":
            raise SrkitError("half=True needs a GPU (load the model with device='cuda')")
        if model is None or isinstance(model, (str, Path)):
            loaded.model.half()  # loaded here, so converting it changes nothing of the caller's
        elif parameter.dtype != torch.float16:
            raise SrkitError("half=True needs a float16 model: call model.model.half() first "
                             "(upscale_image does not convert the caller's model)")
    return loaded


def _as_array(image: Any) -> tuple[np.ndarray, str | None]:
    """A numpy view of ``image`` and the PIL mode to return (None for arrays)."""
    if isinstance(image, np.ndarray):
        return image, None
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        mode = _PIL_GREY.get(image.mode) or _PIL_COLOUR.get(image.mode)
        if image.mode in ("P", "PA"):
            has_alpha = image.mode == "PA" or "transparency" in image.info
            mode = "RGBA" if has_alpha else "RGB"
        if mode is None:
            raise SrkitError(f"PIL images of mode {image.mode} are not supported (convert to "
                             "L, LA, I;16, RGB or RGBA)")
        converted = image if image.mode == mode else image.convert(mode)
        return np.asarray(converted), mode
    raise SrkitError(f"upscale_image takes a numpy array or a PIL image, not "
                     f"{type(image).__module__}.{type(image).__name__}")


@dataclass(frozen=True)
class _Layout:
    """How an input array was laid out, to give the result the same shape and dtype."""

    dtype: np.dtype
    ndim: int
    channels: int

    def assemble(self, rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
        from srkit.io.images import to_uint

        planes = [rgb.mean(axis=2, keepdims=True)] if self.channels <= 2 else [rgb]
        if self.channels in (2, 4):
            planes.append(alpha[..., None])
        out = np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0]
        if self.ndim == 2:
            out = out[..., 0]
        if self.dtype in _PEAK:
            return to_uint(out, 8 if self.dtype == np.uint8 else 16)
        return np.ascontiguousarray(out, dtype=np.float32)


def _to_loaded(array: np.ndarray):
    """``array`` as a float :class:`~srkit.io.images.LoadedImage` and its :class:`_Layout`."""
    from srkit.io.images import LoadedImage

    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] > 4:
        raise SrkitError(f"upscale_image takes channels last, (H, W, C); got {array.shape} "
                         "(use array.transpose(1, 2, 0))")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise SrkitError(f"upscale_image takes (H, W) or (H, W, C) with C = 1, 2, 3 or 4; "
                         f"got shape {array.shape}")
    if min(array.shape[:2]) < 1:
        raise SrkitError(f"upscale_image got an empty image of shape {array.shape}")
    dtype = array.dtype.newbyteorder("=")  # big-endian uint16 (TIFF, I;16B) counts too
    if dtype in _PEAK:
        bit_depth = 8 if dtype == np.uint8 else 16
        values = array.astype(np.float32) / np.float32(_PEAK[dtype])
    elif np.issubdtype(dtype, np.floating):
        bit_depth = 8
        values = array.astype(np.float32)
        low, high = float(values.min()), float(values.max())
        if not (low >= 0.0 and high <= 1.0):
            raise SrkitError(f"float images must hold values in [0, 1], got {low:g} to "
                             f"{high:g} (clip them, or divide 0-255 values by 255)")
    else:
        raise SrkitError(f"upscale_image takes uint8, uint16 or float arrays, not "
                         f"{array.dtype}")
    planes = values if values.ndim == 3 else values[..., None]
    channels = planes.shape[2]
    colour = planes[..., :3] if channels >= 3 else np.repeat(planes[..., :1], 3, axis=2)
    alpha = planes[..., -1] if channels in (2, 4) else None
    layout = _Layout(dtype, array.ndim, channels)
    return LoadedImage(np.ascontiguousarray(colour), alpha, bit_depth, channels <= 2), layout
