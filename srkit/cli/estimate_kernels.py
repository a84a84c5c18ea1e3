"""``srkit estimate-kernels``: each photo's blur kernel into a degradation pool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from srkit.cli.app import (
    DeviceOpt,
    Inputs,
    JsonOpt,
    MaxPixelsOpt,
    PoolOpt,
    QuietOpt,
    SeedOpt,
    StrictOpt,
    app,
    one_of,
    setup,
)
from srkit.errors import SrkitError

# srkit.kernels_est.METHODS, without importing it
METHOD_NAMES = ("camera-gauss", "edge-gauss", "kernelgan")


@app.command("estimate-kernels")
def estimate_kernels_cmd(
    inputs: Inputs,
    pool: PoolOpt,
    scale: Annotated[int, typer.Option("-x", "--scale", callback=one_of(2, 4),
                                       help="Upscaling factor.")] = 2,
    method: Annotated[str, typer.Option(
        "--method", help="camera-gauss (default: the SRC photos are one camera's; their shared "
        "blur, shrunk back to each photo), edge-gauss (each photo alone) or kernelgan "
        "(KernelGAN as published, minutes per photo).")] = "camera-gauss",
    iters: Annotated[Optional[int], typer.Option(  # noqa: UP045 (Typer needs Optional)
        "--iters", min=1, help="KernelGAN iterations (default 3000, the paper's).",
        show_default=False)] = None,
    device: DeviceOpt = "auto",
    save_kernels: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--save-kernels", help="Also write each kernel as .npy and .png into this folder.",
        show_default=False)] = None,
    redo: Annotated[bool, typer.Option(
        "--redo", help="Estimate photos the pool already has a kernel for (same scale and "
        "method).")] = False,
    recursive: Annotated[bool, typer.Option(
        "-r", "--recursive", help="Also look in sub-folders of folder inputs.")] = False,
    seed: SeedOpt = 0,
    strict: StrictOpt = False,
    max_pixels: MaxPixelsOpt = 200_000_000,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Estimate the blur kernel of each LR photo and add it to POOL.

    One kernel per photo: 13×13 for -x 2, 25×25 for -x 4 (derived from the ×2 one), with its
    source, method, settings and a quality flag. The default treats the inputs as one camera's
    photos and uses the whole set for every kernel. Photos already in the pool are skipped,
    so an interrupted run can simply be restarted.
    """
    setup(quiet=quiet, max_pixels=max_pixels, seed=seed)
    if scale not in (2, 4):
        raise SrkitError(f"-x/--scale must be 2 or 4 for kernel estimation, got {scale}")
    if method not in METHOD_NAMES:
        raise SrkitError(f"--method {method!r}: choose {', '.join(METHOD_NAMES)}")

    from srkit.console import info, stdout, warn
    from srkit.stages.estimate_kernels import estimate_kernels

    result = estimate_kernels(inputs, pool, scale, method=method, iters=iters, device=device,
                              seed=seed, save_kernels=save_kernels, redo=redo, strict=strict,
                              recursive=recursive)
    doubtful = {flag: n for flag, n in result.flags.items() if flag != "ok"}
    if doubtful:
        warn("doubtful estimates (flagged in the pool): "
             + ", ".join(f"{n} {flag}" for flag, n in sorted(doubtful.items())))
    info(f"x{scale} {method}: {len(result.estimated)} kernels added, "
         f"{len(result.already_in_pool)} already in the pool, {len(result.skipped)} skipped, "
         f"in {result.seconds:.1f} s → {result.pool}")
    if json_out:
        import json

        stdout.print_json(json.dumps({
            "pool": str(result.pool), "scale": scale, "method": method,
            "estimated": [{"source": p.source, "flag": p.flag, "seconds": round(p.seconds, 3),
                           "covariance_x2": p.covariance_x2} for p in result.estimated],
            "already_in_pool": result.already_in_pool, "skipped": result.skipped}))
    if result.skipped and not result.estimated and not result.already_in_pool:
        from srkit.io.images import nothing_readable

        raise nothing_readable(result.skipped)
