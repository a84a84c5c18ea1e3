"""``srkit degrade``: training pairs from clean HR photos (pool, bicubic, random or DSN)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from srkit.cli.app import (
    MAX_SCALE,
    DeviceOpt,
    Inputs,
    MaxPixelsOpt,
    QuietOpt,
    SeedOpt,
    StrictOpt,
    SyntheticSetOpt,
    WorkersOpt,
    app,
    must,
    one_of,
    output_option,
    setup,
    synthetic_settings,
)
from srkit.errors import SrkitError


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` → ``(K, N)`` (1-based K); None stays None."""
    if text is None:
        return None
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise SrkitError(f"--shard {text!r}: expected K/N, e.g. 3/8")
    index, count = int(parts[0]), int(parts[1])
    if count < 1 or not 1 <= index <= count:
        raise SrkitError(f"--shard {text}: need 1 <= K <= N")
    return index, count


@app.command("degrade")
def degrade_cmd(
    inputs: Inputs,
    output: output_option("Output folder: pairs go to OUTPUT/hr and OUTPUT/lr."),
    scale: Annotated[int, typer.Option("-x", "--scale", callback=one_of(2, 3, 4),
                                       help="Upscaling factor.")],
    mode: Annotated[Optional[str], typer.Option(  # noqa: UP045 (Typer needs Optional)
        "--mode", help="pool (RealSR: pool kernels + noise), bicubic (MATLAB imresize), "
        "random (Real-ESRGAN pipeline), dsn (DASR down-sampling network) or blind (random "
        "blur, downscale and noise, re-upscaled; docs/blind.md). Default: pool with --pool, "
        "dsn with --dsn.",
        show_default=False)] = None,
    pool: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--pool", help="Degradation pool (HDF5) for pool mode.", show_default=False)] = None,
    dsn: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--dsn", help="Down-sampling network from srkit train-dsn (dsn mode): writes LR and "
        "domain-distance maps (PAIRS_DIR/dist/NAME.npy).", show_default=False)] = None,
    tile: Annotated[int, typer.Option(
        "--tile", min=0, help="dsn mode: run the DSN in tiles of this many HR pixels "
        "(0 = whole image; tiled = untiled up to float rounding).")] = 512,
    device: DeviceOpt = "auto",
    noise: Annotated[bool, typer.Option("--noise/--no-noise",
                                        help="Add pool noise patches (pool mode).")] = True,
    kernels: Annotated[bool, typer.Option(
        "--kernels/--no-kernels",
        help="Blur with pool kernels; --no-kernels downscales with bicubic (pool mode).")] = True,
    camera: Annotated[bool, typer.Option(
        "--camera/--no-camera",
        help="Pool mode: the camera's noise matched to brightness and its JPEG, where the pool "
        "has them (collect-noise's adaptive rule); --no-camera: RealSR's plain patches, no "
        "JPEG.")] = True,
    clean_up: Annotated[Optional[float], typer.Option(  # noqa: UP045
        "--clean-up", callback=must(lambda f: 1 < f <= MAX_SCALE, "must lie in (1, 16]"),
        help="RealSR clean-up: downscale sources ×F (bicubic) to make clean HR.",
        show_default=False)] = None,
    crop: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--crop", min=1, help="One random N×N HR crop per image (N a multiple of the scale).",
        show_default=False)] = None,
    jpeg_quality: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--jpeg-quality", min=1, max=100,
        help="JPEG-compress the LR at this quality (pool/bicubic modes).",
        show_default=False)] = None,
    synthetic_set: SyntheticSetOpt = None,
    seed: SeedOpt = 0,
    workers: WorkersOpt = 1,
    shard: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--shard", help="Do only slice K of N (K/N, 1-based), e.g. for a cluster job array.",
        show_default=False)] = None,
    recursive: Annotated[bool, typer.Option(
        "-r", "--recursive", help="Also look in sub-folders of folder inputs.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace pairs made with other settings.")] = False,
    strict: StrictOpt = False,
    max_pixels: MaxPixelsOpt = 200_000_000,
    quiet: QuietOpt = False,
) -> None:
    """Make HR/LR training pairs: PAIRS_DIR/hr, PAIRS_DIR/lr (and dist/ with --dsn), manifest.

    Reproducible byte for byte with --seed, whatever --workers and --shard; re-running skips
    finished pairs.
    """
    setup(quiet=quiet, max_pixels=max_pixels, seed=seed)
    from srkit.degradations import choose_mode

    mode = choose_mode(mode, pool_given=pool is not None, dsn_given=dsn is not None,
                       synthetic_given=bool(synthetic_set))
    random_settings = synthetic_settings(synthetic_set)
    shard_pair = parse_shard(shard)

    from srkit.console import info, plural
    from srkit.stages.degrade import degrade

    result = degrade(inputs, output, scale, mode=mode, pool=pool, use_kernels=kernels,
                     use_noise=noise, clean_up=clean_up, crop=crop, seed=seed, workers=workers,
                     shard=shard_pair, strict=strict, jpeg_quality=jpeg_quality, camera=camera,
                     overwrite=overwrite, recursive=recursive, dsn=dsn, tile=tile,
                     device=device, synthetic=random_settings)
    shard_note = f" (shard {shard_pair[0]}/{shard_pair[1]})" if shard_pair else ""
    info(f"{mode} x{scale}{shard_note}: wrote {plural(result.written, 'pair')}, "
         f"{result.already_done} already done, {len(result.skipped)} skipped, "
         f"in {result.seconds:.1f} s → {result.output_dir}")
    if result.skipped and len(result.skipped) == result.total:
        from srkit.io.images import nothing_readable

        raise nothing_readable(result.skipped)
