"""``srkit pool compare``: which synthetic LR set looks most like the camera's real LR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from srkit.cli.app import JsonOpt, QuietOpt, SeedOpt, pool_app, setup


@pool_app.command("compare")
def compare_cmd(
    real_lr_dir: Annotated[Path, typer.Argument(help="The camera's real LR photos.",
                                                show_default=False)],
    generated_lr_dirs: Annotated[list[Path], typer.Argument(
        help="One or more folders of synthetic LR images (pool, DSN, random pipeline, "
        "bicubic) to compare with the real ones.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option(  # noqa: UP045 (Typer needs Optional)
        "-o", "--output", help="Write a PNG report (spectra, noise vs brightness).",
        show_default=False)] = None,
    max_images: Annotated[int, typer.Option("--max-images", min=0, help="Measure at most N images "
                                            "per folder (random subset; 0 = all).")] = 200,
    seed: SeedOpt = 0,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing -o file (never one of the input images).")
    ] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Compare noise, sharpness / power spectrum and JPEG blockiness of LR image folders.

    Prints one distance per aspect for each generated folder (smaller = closer to the real
    photos). Noise σ is measured on the grey level, in 8-bit levels.
    """
    setup(quiet=quiet, seed=seed)
    from srkit.stages.pool_compare import compare_degradations

    result = compare_degradations(real_lr_dir, list(generated_lr_dirs), report=output,
                                  max_images=max_images, seed=seed, overwrite=overwrite)
    from srkit.console import stdout

    if json_out:
        import json

        stdout.print_json(json.dumps(result.to_dict()))
        return
    from rich.table import Table

    real = result.real
    table = Table(title=f"degradation fidelity vs {real.name} ({real.images} images: noise "
                  f"{real.noise_overall:.2f}, sharpness {real.sharpness_db:.1f} dB, "
                  f"blockiness {real.blockiness:.3f})", title_justify="left")
    for column in ("set", "images", "noise σ", "Δ noise", "sharpness dB", "Δ spectrum dB",
                   "blockiness", "Δ blockiness"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for stats, dist in zip(result.generated, result.distances, strict=True):
        table.add_row(stats.name, str(stats.images), f"{stats.noise_overall:.2f}",
                      f"{dist.noise:.2f}", f"{stats.sharpness_db:.1f}", f"{dist.spectrum:.2f}",
                      f"{stats.blockiness:.3f}", f"{dist.blockiness:.3f}")
    stdout.print(table)
    if result.report is not None and not quiet:
        from srkit.console import info

        info(f"report: {result.report}")
