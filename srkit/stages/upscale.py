"""``srkit upscale``: enlarge photos with an SR model, or with bicubic / Lanczos baselines.

Library use::

    from srkit import upscale
    result = upscale(["photo.jpg"], scale=4, model="model.safetensors")

Images go through the network tile by tile (:mod:`srkit.ops.tiling`) with enough context
that the result equals an untiled run; alpha is enlarged separately, by default with MATLAB
bicubic (a model trained on photos has little to add to a smooth mask, and a second network
pass doubles the time), or with ``alpha_mode="model"`` through the network as a grey image
(sharper edges for cut-outs and line art); 16-bit inputs give 16-bit outputs where the format
can hold them. ``denoise_model`` with ``denoise_strength`` blends two models' weights in
memory, as Real-ESRGAN's ``--denoise_strength`` does.

For numpy arrays and PIL images in memory see :func:`srkit.api.upscale_image`.

A *pre-upsampling* model (``pre_upsampling = True``: ``unet-blind``) is a ×1 network trained
on bicubic-upscaled inputs: with ``-x S`` the photo is first enlarged ×S with MATLAB bicubic
(as its training pairs were), then the model restores it at that size.

An *arbitrary-scale* model (Meta-SR trained over a range of factors, ``train-sr --arch metasr
-x 1.1-4``; its file's ``scale_range`` metadata says so) runs natively at any ``-x``, integer
or not, and is tiled in output coordinates so that tiles still equal an untiled run
(:func:`srkit.ops.tiling.upscale_tiled_any_scale`). Any other model runs at its own factor
only; ``--outscale`` resizes its output. Bicubic and Lanczos take any factor.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError
from srkit.io.images import (
    IMAGE_EXTENSIONS,
    LoadedImage,
    SkipLog,
    list_images,
    nothing_readable,
    save_like,
)

METHODS = ("model", "bicubic", "lanczos")
ALPHA_MODES = ("bicubic", "model")
FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "tif": ".tif",
           "tiff": ".tif", "bmp": ".bmp"}
DEFAULT_TILE = 512
MAX_SCALE = 16  # the largest factor (×16 of a 12 MP photo is already 3 GP)
_SEPARATORS = "_-."  # a --suffix starting with one of these is used as given


@dataclass(frozen=True)
class UpscaleResult:
    """What :func:`upscale` did.

    Attributes:
        outputs: files written, in input order.
        skipped: one message per unreadable input that was skipped.
        method: ``model``, ``bicubic`` or ``lanczos``.
        scale: the final enlargement factor (``outscale`` when given).
        model: the model file used, if any; ``arch`` its architecture.
        tile, tile_overlap: tiling used (0 = none); the overlap is in input pixels.
        seconds: wall time of the whole run.
        output_megapixels: total output pixels written / 1e6.
    """

    outputs: list[Path]
    skipped: list[str] = field(default_factory=list)
    method: str = "model"
    scale: float = 4.0
    model: Path | None = None
    arch: str | None = None
    tile: int = 0
    tile_overlap: int = 0
    seconds: float = 0.0
    output_megapixels: float = 0.0


def interpolate_image(rgb: np.ndarray, out_shape: tuple[int, int], method: str) -> np.ndarray:
    """MATLAB-style bicubic or Lanczos-3 resize of ``(H, W[, C])`` float to ``out_shape``."""
    from srkit.ops.resize import imresize

    kernel = {"bicubic": "bicubic", "lanczos": "lanczos3"}[method]
    return imresize(rgb, output_shape=out_shape, method=kernel)


def run_model(model, rgb: np.ndarray, *, tile: int = DEFAULT_TILE,
              tile_overlap: int | None = None, device=None, half: bool = False,
              on_tile: Callable[[int, int], None] | None = None,
              scale: float | None = None, bf16: bool = False) -> np.ndarray:
    """Apply an SR network to float RGB ``(H, W, 3)`` in [0, 1] → ``(sH, sW, 3)`` in [0, 1].

    ``model`` is an ``nn.Module`` with ``scale``, ``size_multiple`` and ``receptive_radius``
    (every srkit generator); ``tile_overlap=None`` uses the receptive radius, which makes the
    tiled output equal to the untiled one. Runs on ``device`` (default: the model's).
    ``scale``: for a network with ``arbitrary_scale`` (Meta-SR), the factor to run it at
    (output ``round(H·scale) × round(W·scale)``, tiled in output coordinates); None: its own.
    ``bf16``: run under bf16 autocast (``srkit upscale --precision bf16``).
    Anything but a float ``(H, W, 3)`` array in [0, 1] raises :class:`SrkitError` (a uint8
    array would otherwise come out almost white).
    """
    import torch

    from srkit.ops.tiling import upscale_tiled
    from srkit.stages.upscale_tiles import network_runner

    check_float_rgb(rgb, "run_model")

    overlap = int(model.receptive_radius) if tile_overlap is None else int(tile_overlap)
    image = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32).transpose(2, 0, 1))[None]
    network = network_runner(model, device, half, bf16)

    def run(piece: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(network(piece[0].permute(1, 2, 0).numpy())).permute(2, 0, 1)[None]

    if scale is not None and not getattr(model, "arbitrary_scale", False):
        if float(scale) != float(model.scale):
            raise SrkitError(f"a ×{model.scale} network runs at ×{model.scale} only, not "
                             f"×{scale:g}")
        scale = None
    from srkit.memory import keep_freed_memory

    with torch.inference_mode(), keep_freed_memory():
        if scale is not None:
            from srkit.ops.tiling import upscale_tiled_any_scale

            parameter = next(model.parameters())
            run_device = torch.device(device) if device is not None else parameter.device
            dtype = torch.float16 if half else torch.float32

            def run_region(piece: torch.Tensor, region) -> torch.Tensor:
                with torch.autocast(run_device.type, dtype=torch.bfloat16, enabled=bf16):
                    out = model.upscale_region(piece.to(run_device, dtype), float(scale),
                                               region)
                return out.float().clamp_(0.0, 1.0).cpu()

            out = upscale_tiled_any_scale(run_region, image, float(scale), tile, overlap,
                                          on_tile)
        else:
            out = upscale_tiled(run, image, int(model.scale), tile, overlap,
                                int(model.size_multiple), on_tile)
    return out[0].permute(1, 2, 0).cpu().numpy()


def model_scale_range(loaded) -> tuple[float, float] | None:
    """The factors an arbitrary-scale model was trained over (``(low, high)``, from its
    file's ``scale_range`` metadata); None for a fixed-scale model."""
    text = loaded.metadata.get("scale_range") if loaded.metadata else None
    if text is None or not getattr(loaded.model, "arbitrary_scale", False):
        return None
    low, high = json.loads(text)
    return float(low), float(high)


def model_run_scale(loaded, scale: float | None, name: str, option: str = "-x"
                    ) -> float | None:
    """The factor to run ``loaded`` at when ``scale`` is asked: None (its own) without a
    scale, for a pre-upsampling model and for a fixed-scale model asked for its own factor;
    ``scale`` for an arbitrary-scale model (a warning outside its trained range). A
    fixed-scale model asked for another factor raises :class:`SrkitError` naming ``name``."""
    if scale is None or _pre_upsampling(loaded.model):
        return None
    trained = model_scale_range(loaded)
    if trained is None:
        if float(scale) == float(loaded.scale):
            return None
        how = ("--outscale " if option == "-x" else "outscale=") + f"{scale:g}"
        extra = ("" if float(scale).is_integer() else
                 "; a non-integer factor needs an arbitrary-scale model: srkit train-sr "
                 "--arch metasr -x 1.1-4")
        asked = f"-x {scale:g}" if option == "-x" else f"scale={scale:g}"
        raise SrkitError(f"{name}: a ×{loaded.scale} model, but {asked} was asked "
                         f"(use {how} to resize its output{extra})")
    low, high = trained
    if not low - 1e-9 <= scale <= high + 1e-9:
        from srkit.console import warn

        warn(f"{name} was trained for ×{low:g} to ×{high:g}; ×{scale:g} is outside that "
             "range (it runs, untested)")
    return float(scale)


def check_float_rgb(rgb: object, caller: str) -> None:
    """SrkitError unless ``rgb`` is a float ``(H, W, 3)`` numpy array with values in [0, 1]."""
    if not isinstance(rgb, np.ndarray):
        raise SrkitError(f"{caller} takes a numpy array, not {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise SrkitError(f"{caller} takes RGB of shape (H, W, 3), got {rgb.shape}")
    if not np.issubdtype(rgb.dtype, np.floating):
        raise SrkitError(f"{caller} takes float RGB in [0, 1], got {rgb.dtype} (divide by 255 "
                         "or 65535 first, or use srkit.upscale_image, which takes either)")
    if rgb.size and not (float(rgb.min()) >= 0.0 and float(rgb.max()) <= 1.0):
        raise SrkitError(f"{caller} takes float RGB in [0, 1], got values from "
                         f"{float(rgb.min()):g} to {float(rgb.max()):g}")


def upscale(inputs: Sequence[str | Path] | str | Path, output: str | Path | None = None,
            scale: float | None = None, *, model: str | Path | None = None,
            method: str = "model", tile: int = DEFAULT_TILE, tile_overlap: int | None = None,
            outscale: float | None = None, fmt: str | None = None, suffix: str | None = None,
            half: bool = False, device: str = "auto", strict: bool = False,
            overwrite: bool = False, alpha_mode: str = "bicubic",
            denoise_model: str | Path | None = None,
            denoise_strength: float | None = None, jpeg_quality: int = 95,
            backend: str = "torch", ref: str | Path | None = None,
            precision: str = "fp32") -> UpscaleResult:
    """Upscale image files, folders or globs and write the results.

    Args:
        inputs: files, folders or glob patterns.
        output: a file (single input) or a folder. None writes beside a single input file
            (several inputs need an output folder).
        scale: the factor; for ``model`` it defaults to the model's, and must equal it unless
            the model is arbitrary-scale (any factor from 1 to 16, run natively; see the
            module doc). Bicubic and Lanczos take any factor.
        model: srkit ``.safetensors`` or a BasicSR-style ``.pth``, or a model name known to
            :mod:`srkit.modelzoo`; None → the default ``general_xS`` for ``scale`` (×4 when
            no scale is given).
        method: ``model``, ``bicubic`` (MATLAB imresize) or ``lanczos`` (Lanczos-3).
        tile: tile core side in input pixels; 0 processes each image at once.
        tile_overlap: context per side in input pixels; None = the model's receptive radius
            (exact). Smaller is faster but may leave faint seams.
        outscale: final factor (may be non-integer): the ``scale`` output is resized to
            ``round(H·outscale) × round(W·outscale)`` with MATLAB bicubic.
        fmt: ``png``, ``jpg``, ``webp``, ``tif`` (default: the input's format).
        suffix: appended to each output stem, after ``_`` unless it starts with ``_``, ``-``
            or ``.``; default ``_x{factor}`` beside the input and nothing inside an
            output folder (so names match the inputs for ``evaluate``).
        half: float16 inference (GPU only).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        strict: fail on an unreadable input instead of skipping it (when every input is
            unreadable, :class:`SrkitError` is raised either way).
        overwrite: replace existing outputs (inputs are never overwritten).
        alpha_mode: how transparency is enlarged: ``bicubic``, or ``model`` (the alpha plane
            goes through the network as grey RGB; the mean of the output channels is kept).
        denoise_model: the no-denoise counterpart of ``model`` (Real-ESRGAN's
            ``realesr-general-wdn-x4v3`` for ``realesr-general-x4v3``); the two are blended.
        denoise_strength: weight of ``model`` in the blend, in [0, 1] (Real-ESRGAN's
            convention: 1 = ``model`` alone, full denoising; 0 = ``denoise_model`` alone);
            default 0.5 when ``denoise_model`` is given.
        jpeg_quality: 1-100, the quality of JPEG (and WebP) outputs. Outputs keep the
            input's ICC profile and EXIF (:func:`srkit.io.images.write_image`).
        backend: ``torch``, or ``onnxruntime`` (CPU, float32; the network is exported to
            ONNX once and cached: :mod:`srkit.stages.onnx_backend`).
        ref: a reference image for every input, or a folder of references matched by file
            stem, for a reference-based model (SRNTT; :mod:`srkit.stages.upscale_ref`: each
            image then runs untiled). A reference-based model without ``ref`` runs its
            single-image mode, with a warning.
        precision: ``fp32``, or ``bf16`` (autocast: about 1.7× faster on a CPU with native
            bf16; 55–59 dB from fp32, a few pixels in 1000 more than one 8-bit level off;
            docs/cli/upscale.md).
    """
    from srkit import console

    started = time.perf_counter()
    if method not in METHODS:
        raise SrkitError(f"unknown method {method!r} (use {', '.join(METHODS)})")
    _check_alpha_and_denoise(method, alpha_mode, denoise_model, denoise_strength)
    if outscale is not None and not (outscale > 0 and math.isfinite(outscale)):
        raise SrkitError(f"--outscale must be a positive number, got {outscale}")
    if scale is not None and not (1 <= scale <= MAX_SCALE and math.isfinite(scale)):
        raise SrkitError(f"scale must be a number from 1 to {MAX_SCALE}, got {scale}")
    if not 1 <= jpeg_quality <= 100:
        raise SrkitError(f"JPEG quality must be in 1..100, got {jpeg_quality}")
    if tile < 0 or (tile_overlap is not None and tile_overlap < 0):
        raise SrkitError("--tile and --tile-overlap must be ≥ 0")
    extension = _format_extension(fmt)
    paths = list_images(inputs)
    if output is None and not _single_file(paths, inputs):
        raise SrkitError("several images (or a folder/glob) need -o OUTPUT_FOLDER")

    from srkit.stages.onnx_backend import attach, check_backend
    from srkit.stages.upscale_tiles import check_precision

    check_precision(precision, half=half, backend=backend)
    if precision != "fp32" and (method != "model" or ref is not None):
        raise SrkitError(f"--precision {precision} applies to --method model without --ref "
                         "(interpolation and reference-based models run float32)")
    if backend != "torch" and method != "model":
        raise SrkitError(f"--backend only applies to --method model, not {method}")
    if ref is not None and (method != "model" or backend != "torch"):
        raise SrkitError("--ref needs --method model and --backend torch (a reference-based "
                         "model, train-sr --recipe srntt)")
    check_backend(backend, half=half, device=device, arbitrary_scale=False)
    loaded = None
    model_path: Path | None = None
    if method == "model":
        if backend == "onnxruntime" and denoise_model is None:
            loaded, model_path = _cached_onnx(model, scale)  # (None, None) if not cached yet
        if loaded is None:
            loaded, model_path = _load(model, scale, device, half, denoise_model,
                                       denoise_strength)
            if backend == "onnxruntime":
                check_backend(backend, half=half, device=device,
                              arbitrary_scale=model_scale_range(loaded) is not None)
                attach(loaded, model_path if denoise_model is None else None)
        from srkit.stages.upscale_tiles import warn_if_emulated

        warn_if_emulated(precision, loaded.model)
        if not _pre_upsampling(loaded.model) and (scale is None
                                                  or model_scale_range(loaded) is None):
            scale = loaded.scale  # (_load refused a fixed-scale model at another factor)
        elif scale is None and outscale is None:
            raise SrkitError(f"{model_path}: a pre-upsampling ×1 model ({loaded.arch}); give "
                             "-x/--scale (the photo is bicubic-upscaled, then restored)")
    else:
        if model is not None:
            raise SrkitError(f"--model only applies to --method model, not {method}")
        if half:
            raise SrkitError("--half only applies to --method model")
        if scale is None and outscale is None:
            raise SrkitError(f"--method {method} needs -x/--scale or --outscale")
    from srkit.stages.upscale_ref import plan_references, upscale_with_reference

    references = plan_references(ref, paths, loaded, model_path)
    factor: float = float(outscale if outscale is not None else scale)
    targets = _plan_outputs(paths, inputs, output, factor, extension, suffix, overwrite)

    skip_log = SkipLog(strict=strict)
    written: list[Path] = []
    megapixels = 0.0
    overlap = 0
    if loaded is not None:
        overlap = loaded.receptive_radius if tile_overlap is None else tile_overlap
    with console.progress("img") as bar:
        images_task = bar.add_task("upscale", total=len(paths), status="")
        tiles_task = bar.add_task("  tiles", total=None, status="", unit="tiles",
                                  visible=loaded is not None)
        for number, (path, target) in enumerate(zip(paths, targets, strict=True)):
            bar.update(images_task, status=path.name)

            def on_tile(done: int, total: int) -> None:
                bar.update(tiles_task, completed=done, total=total)

            bar.reset(tiles_task)
            streamed = loaded is not None and not _pre_upsampling(loaded.model) and (
                outscale is None or outscale == loaded.scale) and not getattr(
                loaded.model, "arbitrary_scale", False)  # Meta-SR: output-coordinate tiles
            if references is not None:
                pixels = upscale_with_reference(path, target, references[number],
                                                skip_log, loaded, outscale=outscale,
                                                half=half, quality=jpeg_quality)
            elif streamed:
                pixels = _upscale_streamed(path, target, skip_log, loaded, tile=tile,
                                           tile_overlap=overlap, half=half,
                                           alpha_mode=alpha_mode, on_tile=on_tile,
                                           quality=jpeg_quality, precision=precision)
            else:
                pixels = _upscale_whole(path, target, skip_log, method=method, model=loaded,
                                        scale=scale, outscale=outscale, tile=tile,
                                        tile_overlap=overlap, half=half,
                                        alpha_mode=alpha_mode, on_tile=on_tile,
                                        quality=jpeg_quality, precision=precision)
            if pixels is not None:
                written.append(target)
                megapixels += pixels / 1e6
            bar.advance(images_task)
    if not written and skip_log.skipped:
        raise nothing_readable(skip_log.skipped)
    if references is not None:
        tile = overlap = 0  # the texture swap is global: every image ran whole
    return UpscaleResult(written, list(skip_log.skipped or []), method, factor, model_path,
                         loaded.arch if loaded else None, tile if loaded else 0, overlap,
                         time.perf_counter() - started, megapixels)


def _upscale_whole(path: Path, target: Path, skip_log: SkipLog, *, method: str, model,
                   scale: int | None, outscale: float | None, tile: int, tile_overlap: int,
                   half: bool, alpha_mode: str, on_tile: Callable[[int, int], None],
                   quality: int, precision: str = "fp32") -> int | None:
    """Read, enlarge (:func:`enlarge_image`) and write one image; its output pixel count,
    or None when it was skipped."""
    image = skip_log.read(path)
    if image is None:
        return None
    bf16 = model is not None and precision == "bf16"
    rgb, alpha = enlarge_image(image, method=method, model=model, scale=scale,
                               outscale=outscale, tile=tile, tile_overlap=tile_overlap,
                               half=half, alpha_mode=alpha_mode, on_tile=on_tile, bf16=bf16)
    save_like(target, image, rgb, alpha, overwrite=True, quality=quality)
    return rgb.shape[0] * rgb.shape[1]


def _upscale_streamed(path: Path, target: Path, skip_log: SkipLog, model, *, tile: int,
                      tile_overlap: int, half: bool, alpha_mode: str,
                      on_tile: Callable[[int, int], None], quality: int,
                      precision: str = "fp32") -> int | None:
    """:func:`_upscale_whole` in bounded memory: tiles go straight into the output's
    samples (:mod:`srkit.stages.upscale_tiles`), which the writer stores as they are."""
    from srkit.io.images import output_layout, write_samples
    from srkit.stages.upscale_tiles import TileSource, enlarge_to_samples, network_runner

    image = skip_log.read(path)
    if image is None:
        return None
    channels, bit_depth, _ = output_layout(target, image.bit_depth, image.grey,
                                           image.alpha is not None)
    icc_profile, exif = image.icc_profile, image.exif
    source = TileSource.from_image(image)
    del image  # the float planes: only the compact samples are kept
    samples = enlarge_to_samples(model.model, source, scale=model.scale, tile=tile,
                                 overlap=tile_overlap, channels=channels, bit_depth=bit_depth,
                                 alpha_mode=alpha_mode,
                                 run=network_runner(model.model, half=half,
                                                    bf16=precision == "bf16"),
                                 on_tile=on_tile)
    del source
    write_samples(target, samples, quality=quality, overwrite=True, icc_profile=icc_profile,
                  exif=exif)
    return samples.shape[0] * samples.shape[1]


def _check_alpha_and_denoise(method: str, alpha_mode: str, denoise_model: str | Path | None,
                             denoise_strength: float | None) -> None:
    if alpha_mode not in ALPHA_MODES:
        raise SrkitError(f"unknown alpha mode {alpha_mode!r} (use {', '.join(ALPHA_MODES)})")
    if alpha_mode == "model" and method != "model":
        raise SrkitError(f"--alpha-mode model needs --method model, not {method}")
    if denoise_model is not None and method != "model":
        raise SrkitError(f"--denoise-model only applies to --method model, not {method}")
    if denoise_strength is not None:
        if denoise_model is None:
            raise SrkitError("--denoise-strength needs --denoise-model (the model without "
                             "denoising to blend with)")
        if not 0.0 <= denoise_strength <= 1.0:
            raise SrkitError(f"--denoise-strength must be in [0, 1], got {denoise_strength}")


def enlarge_image(image: LoadedImage, *, method: str = "model", model=None,
                  scale: float | None = None, outscale: float | None = None,
                  tile: int = DEFAULT_TILE, tile_overlap: int | None = None,
                  half: bool = False, alpha_mode: str = "bicubic",
                  on_tile: Callable[[int, int], None] | None = None, bf16: bool = False
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """One image's enlarged RGB ``(H', W', 3)`` and alpha ``(H', W')`` (or None), in [0, 1].

    ``model`` is a :class:`~srkit.io.checkpoints.LoadedModel` for ``method="model"``, None
    for ``bicubic``/``lanczos``; ``H' = round(H·f)`` (halves up) with ``f`` = ``outscale`` or
    ``scale``.
    An arbitrary-scale model runs at ``scale`` (:func:`model_run_scale`, checked by the
    caller), any other at its own factor. ``bf16``: the network runs under bf16 autocast.
    """
    height, width = image.height, image.width
    pre = model is not None and _pre_upsampling(model.model)
    run_scale = (scale if model is not None and not pre and scale is not None
                 and model_scale_range(model) is not None else None)
    factor = outscale if outscale is not None else (
        scale if model is None or pre or run_scale is not None else model.scale)
    if factor is None:
        raise SrkitError(f"--method {method} needs -x/--scale or --outscale")
    # halves round up, as Meta-SR's output size does (Python's round() would send 22.5 to 22)
    out_shape = (max(1, math.floor(height * factor + 0.5)),
                 max(1, math.floor(width * factor + 0.5)))

    def enlarge(rgb: np.ndarray) -> np.ndarray:
        if model is None:
            return interpolate_image(rgb, out_shape, method)
        if pre:  # a ×1 model restores the bicubic-upscaled photo (its training pairs' input)
            rgb = np.clip(interpolate_image(rgb, out_shape, "bicubic"), 0.0, 1.0)
        out = run_model(model.model, rgb, tile=tile, tile_overlap=tile_overlap, half=half,
                        on_tile=on_tile, scale=run_scale, bf16=bf16)
        return out if out.shape[:2] == out_shape else interpolate_image(out, out_shape,
                                                                        "bicubic")

    rgb = enlarge(image.rgb)
    alpha = None
    if image.alpha is not None and alpha_mode == "model" and model is not None:
        grey = np.repeat(np.asarray(image.alpha, dtype=np.float32)[..., None], 3, axis=2)
        alpha = np.clip(enlarge(grey).mean(axis=2), 0.0, 1.0)
    elif image.alpha is not None:
        alpha = np.clip(interpolate_image(image.alpha, out_shape, "bicubic"), 0.0, 1.0)
    return np.clip(rgb, 0.0, 1.0), alpha


def _load(model: str | Path | None, scale: float | None, device: str, half: bool,
          denoise_model: str | Path | None = None, denoise_strength: float | None = None):
    from srkit.device import resolve_device
    from srkit.io.checkpoints import load_model

    torch_device = resolve_device(device)
    if half and torch_device.type == "cpu":
        raise SrkitError("--half needs a GPU (float16 convolutions are slow or missing "
                         "on the CPU); drop --half or use --device cuda")
    from srkit.modelzoo import resolve_model

    if model is None and scale is not None and not float(scale).is_integer():
        raise SrkitError(f"no shipped model runs at ×{scale:g}: pass --model FILE of an "
                         "arbitrary-scale model (srkit train-sr --arch metasr -x 1.1-4), use "
                         "--outscale, or --method bicubic|lanczos")
    path = resolve_model(model, None if scale is None else int(scale))
    loaded = load_model(path, torch_device)
    if denoise_model is not None:
        from srkit.io.checkpoints import interpolate_models

        other = resolve_model(denoise_model, None if scale is None else int(scale))
        strength = 0.5 if denoise_strength is None else denoise_strength
        # Real-ESRGAN's dni weights [strength, 1 - strength] for [model, wdn model].
        loaded = interpolate_models(loaded, load_model(other, torch_device), 1.0 - strength,
                                    names=(str(path), str(other)))
    model_run_scale(loaded, scale, str(path))  # a fixed-scale model at another factor raises
    if half:
        loaded.model.half()
    from srkit.stages.upscale_tiles import prepare

    prepare(loaded.model)
    return loaded, path


def _cached_onnx(model: str | Path | None, scale: float | None):
    """(the cached onnxruntime export of ``model``'s file, its path), without importing
    PyTorch (:func:`srkit.stages.onnx_backend.cached_model`); (None, None) when the file has
    no cached export yet or ``scale`` is not its own (the normal load then says why)."""
    from srkit.modelzoo import resolve_model
    from srkit.stages.onnx_backend import cached_model

    if scale is not None and not float(scale).is_integer():
        return None, None
    path = resolve_model(model, None if scale is None else int(scale))
    cached = cached_model(path)
    if cached is None or (scale is not None and int(scale) != cached.scale
                          and not cached.model.pre_upsampling):
        return None, None
    return cached, path


def _pre_upsampling(model) -> bool:
    """Whether ``model`` restores bicubic-upscaled input at scale 1 (see module doc)."""
    return bool(getattr(model, "pre_upsampling", False))


def _format_extension(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    key = fmt.lower().lstrip(".")
    if key not in FORMATS:
        raise SrkitError(f"unknown format {fmt!r} (use png, jpg, webp or tif)")
    return FORMATS[key]


def _single_file(paths: list[Path], inputs: Sequence[str | Path] | str | Path) -> bool:
    """True when the user named exactly one image file (not a folder or a glob)."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    return len(paths) == 1 and len(inputs) == 1 and Path(inputs[0]).is_file()


def _plan_outputs(paths: list[Path], inputs: Sequence[str | Path] | str | Path,
                  output: str | Path | None, factor: float, extension: str | None,
                  suffix: str | None, overwrite: bool) -> list[Path]:
    """Output path for each input; refuses to overwrite inputs, clashes and existing files."""
    single_file = _single_file(paths, inputs)
    tag = f"_x{factor:g}"
    output_path = Path(output) if output is not None else None
    if output_path is None and not single_file:
        raise SrkitError("several images (or a folder/glob) need -o OUTPUT_FOLDER")
    if suffix and suffix[0] not in _SEPARATORS:
        suffix = "_" + suffix  # --suffix sr: photo_sr.png, not photosr.png
    targets = []
    for path in paths:
        ext = extension or (path.suffix.lower() if path.suffix.lower() in IMAGE_EXTENSIONS
                            else ".png")
        if output_path is None:
            stem_suffix = tag if suffix is None else suffix
            target = path.with_name(f"{path.stem}{stem_suffix}{ext}")
        elif single_file and output_path.suffix.lower() in IMAGE_EXTENSIONS \
                and not output_path.is_dir():
            target = output_path
        else:
            if output_path.exists() and not output_path.is_dir():
                raise SrkitError(f"{output_path}: exists and is not a folder")
            target = output_path / f"{path.stem}{suffix or ''}{ext}"
        targets.append(target)
    resolved_inputs = {p.resolve() for p in paths}
    seen: dict[Path, Path] = {}
    for path, target in zip(paths, targets, strict=True):
        resolved = target.resolve()
        if resolved in resolved_inputs:
            raise SrkitError(f"{target}: would overwrite an input image (choose another "
                             "-o, --suffix or --format)")
        if resolved in seen:
            raise SrkitError(f"{seen[resolved]} and {path} would both be written to {target}")
        seen[resolved] = path
        if target.exists() and not overwrite:
            raise SrkitError(f"{target}: already exists (use --overwrite to replace it)")
    return targets
