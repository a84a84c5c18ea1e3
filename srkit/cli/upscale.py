"""``srkit upscale``: enlarge photos with an SR model or a bicubic / Lanczos baseline."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from srkit.cli.app import (
    MAX_SCALE,
    DeviceOpt,
    Inputs,
    JsonOpt,
    MaxPixelsOpt,
    QuietOpt,
    StrictOpt,
    app,
    must,
    setup,
)


class Method(str, Enum):
    model = "model"
    bicubic = "bicubic"
    lanczos = "lanczos"


class AlphaMode(str, Enum):
    bicubic = "bicubic"
    model = "model"


class Backend(str, Enum):
    torch = "torch"
    onnxruntime = "onnxruntime"


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


class Format(str, Enum):
    png = "png"
    jpg = "jpg"
    webp = "webp"
    tif = "tif"


ScaleOpt = Annotated[float | None, typer.Option(
    "-x", "--scale", min=1, max=MAX_SCALE, show_default=False,
    help="Upscaling factor (default: the model's; needed for bicubic/lanczos). A fixed-scale "
    "model takes only its own; an arbitrary-scale model (train-sr --arch metasr -x 1.1-4) "
    "and bicubic/lanczos take any, e.g. 2.7.")]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", "-m", show_default=False,
    help="Model file (srkit .safetensors or a BasicSR/Real-ESRGAN .pth) or the name of one "
    "listed by srkit models (default: the shipped general_xS for -x S, else general_x4).")]
MethodOpt = Annotated[Method, typer.Option(
    "--method", help="model, or an interpolation baseline: bicubic (MATLAB imresize) or "
    "lanczos (Lanczos-3).")]
OutOpt = Annotated[Path | None, typer.Option(
    "-o", "--output", show_default=False,
    help="Output folder, or a file name for a single input. Without it a single file is "
    "written beside its input as NAME_xS.EXT; several inputs need -o.")]
TileOpt = Annotated[int, typer.Option(
    "--tile", min=0, help="Tile side in input pixels (0 = whole image at once).")]
OverlapOpt = Annotated[int | None, typer.Option(
    "--tile-overlap", min=0, show_default=False,
    help="Context around each tile in input pixels (default: the model's receptive radius, "
    "so tiled = untiled exactly; smaller is faster but may leave faint seams).")]
OutscaleOpt = Annotated[float | None, typer.Option(
    "--outscale", show_default=False,
    callback=must(lambda f: 0 < f <= MAX_SCALE, f"must lie in (0, {MAX_SCALE}]"),
    help="Final enlargement, may be non-integer: the result is resized to it (bicubic).")]
FormatOpt = Annotated[Format | None, typer.Option(
    "--format", show_default=False, help="Output format (default: the input's).")]
SuffixOpt = Annotated[str | None, typer.Option(
    "--suffix", show_default=False,
    help="Appended to output names, after _ unless it starts with _ - or . (default: _xS "
    "beside the input, none in an -o folder).")]
HalfOpt = Annotated[bool, typer.Option("--half", help="float16 inference (GPU only).")]
BackendOpt = Annotated[Backend, typer.Option(
    "--backend", help="torch, or onnxruntime (CPU, when installed: pip install "
    "'srkit[export]'; the network is exported to ONNX once and cached in ~/.cache/srkit/onnx; "
    "a cached model file starts without importing PyTorch; outputs within one 8-bit level).")]
PrecisionOpt = Annotated[Precision, typer.Option(
    "--precision", help="Network arithmetic: fp32, or bf16 (autocast: about 1.7× faster on "
    "a CPU with native bf16, AVX512-BF16 or AMX, emulated and slower without; 55-59 dB from "
    "fp32, up to 15 levels off at a few pixels in 1000: docs/cli/upscale.md).")]
AlphaModeOpt = Annotated[AlphaMode, typer.Option(
    "--alpha-mode", help="How transparency is enlarged: bicubic, or model (the alpha plane "
    "goes through the network as a grey image; twice the time).")]
DenoiseModelOpt = Annotated[str | None, typer.Option(
    "--denoise-model", show_default=False,
    help="The no-denoise counterpart of --model (e.g. realesr-general-wdn-x4v3.pth for "
    "realesr-general-x4v3.pth): the two models' weights are blended.")]
DenoiseStrengthOpt = Annotated[float | None, typer.Option(
    "--denoise-strength", min=0.0, max=1.0, show_default=False,
    help="Weight of --model in the blend with --denoise-model: 1 = --model alone (full "
    "denoising), 0 = --denoise-model alone (Real-ESRGAN's -dn; default 0.5).")]
JpegQualityOpt = Annotated[int, typer.Option(
    "--jpeg-quality", min=1, max=100, help="Quality of JPEG (and WebP) outputs.")]
RefOpt = Annotated[Path | None, typer.Option(
    "--ref", show_default=False,
    help="Reference image for a reference-based model (srntt or crossnet: train-sr --recipe "
    "srntt / crossnet), or a folder of references matched by file stem (photo.jpg takes "
    "DIR/photo.*). Each image then runs untiled (the texture swap and the flow are "
    "global). Without it such a model runs its single-image mode, with a warning.")]
OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", help="Replace existing output files (inputs are never overwritten).")]


@app.command("upscale")
def upscale_cmd(
    inputs: Inputs,
    scale: ScaleOpt = None,
    model: ModelOpt = None,
    ref: RefOpt = None,
    method: MethodOpt = Method.model,
    output: OutOpt = None,
    tile: TileOpt = 512,
    tile_overlap: OverlapOpt = None,
    outscale: OutscaleOpt = None,
    fmt: FormatOpt = None,
    suffix: SuffixOpt = None,
    alpha_mode: AlphaModeOpt = AlphaMode.bicubic,
    denoise_model: DenoiseModelOpt = None,
    denoise_strength: DenoiseStrengthOpt = None,
    jpeg_quality: JpegQualityOpt = 95,
    half: HalfOpt = False,
    precision: PrecisionOpt = Precision.fp32,
    backend: BackendOpt = Backend.torch,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    strict: StrictOpt = False,
    max_pixels: MaxPixelsOpt = 200_000_000,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Upscale photos with an SR model, or with bicubic / Lanczos for comparison.

    Inputs are files, folders or globs.

    Alpha is enlarged with bicubic (or --alpha-mode model); 16-bit PNG/TIFF stay 16-bit.
    Outputs keep the input's ICC profile and EXIF (orientation reset to 1).

    The written paths are printed on stdout, one per line.
    """
    setup(quiet=quiet, max_pixels=max_pixels)
    from srkit.stages.upscale import upscale

    result = upscale(inputs, output, scale, model=model, method=method.value, tile=tile,
                     tile_overlap=tile_overlap, outscale=outscale,
                     fmt=fmt.value if fmt is not None else None, suffix=suffix, half=half,
                     device=device, strict=strict, overwrite=overwrite,
                     alpha_mode=alpha_mode.value, denoise_model=denoise_model,
                     denoise_strength=denoise_strength, jpeg_quality=jpeg_quality,
                     backend=backend.value, ref=ref, precision=precision.value)
    from srkit.console import info, plural, stdout

    if json_out:
        import json

        stdout.print_json(json.dumps({
            "outputs": [str(p) for p in result.outputs], "skipped": result.skipped,
            "method": result.method, "scale": result.scale,
            "model": str(result.model) if result.model else None, "arch": result.arch,
            "tile": result.tile, "tile_overlap": result.tile_overlap,
            "seconds": round(result.seconds, 3),
            "output_megapixels": round(result.output_megapixels, 4)}))
    else:
        for path in result.outputs:
            stdout.print(str(path), highlight=False, soft_wrap=True)
    how = result.method if result.arch is None else f"{result.arch} ({result.model})"
    rate = result.output_megapixels / result.seconds if result.seconds > 0 else 0.0
    info(f"{plural(len(result.outputs), 'image')} ×{result.scale:g} with {how} in "
         f"{result.seconds:.1f} s ({rate:.2f} output MP/s)"
         + (f"; skipped {len(result.skipped)} unreadable" if result.skipped else ""))
