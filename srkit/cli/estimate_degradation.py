"""``srkit estimate-degradation``: a blind model's blur, noise and scale estimate per photo."""

from __future__ import annotations

from typing import Annotated

import typer

from srkit.cli.app import DeviceOpt, Inputs, JsonOpt, MaxPixelsOpt, QuietOpt, StrictOpt, app, setup


@app.command("estimate-degradation")
def estimate_degradation_cmd(
    inputs: Inputs,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="A unet-blind model (srkit train-sr --hr PHOTOS --blind), file "
        "or name.", show_default=False)],
    scale: Annotated[float, typer.Option(
        "-x", "--scale", min=1.0, help="Bicubic-upscale each photo this much first (1: the "
        "photos are already pre-upsampled, e.g. the lr/ of srkit degrade --mode blind).")
    ] = 1.0,
    crop: Annotated[int, typer.Option(
        "--crop", min=1, help="Crop side the model looks at (its training patch size); "
        "the crops' estimates are averaged.")] = 128,
    device: DeviceOpt = "auto",
    strict: StrictOpt = False,
    max_pixels: MaxPixelsOpt = 200_000_000,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Print each photo's predicted blur variance σ (px²), noise level w (grey levels of
    0–255) and downscale factor, from the degradation head of a unet-blind model.

    A table, or --json for scripts (one object per photo, with the spread over the crops).
    """
    setup(quiet=quiet, max_pixels=max_pixels)
    from srkit.stages.estimate_degradation import estimate_degradation

    result = estimate_degradation(inputs, model, scale, crop=crop, device=device,
                                  strict=strict)
    from srkit.console import info, stdout

    if json_out:
        import json

        stdout.print_json(json.dumps({
            "model": str(result.model), "scale": result.scale, "skipped": result.skipped,
            "estimates": [e.to_dict() for e in result.estimates]}))
    else:
        from rich.table import Table

        table = Table(title=f"degradation estimated by {result.model.name}",
                      title_justify="left")
        for column in ("photo", "blur σ (px²)", "blur std (px)", "noise w (0–255)", "factor",
                       "crops"):
            table.add_column(column, justify="left" if column == "photo" else "right")
        for e in result.estimates:
            table.add_row(e.name, f"{e.blur_variance:.1f}", f"{e.blur_std:.2f}",
                          f"{e.noise_level:.1f}", f"×{e.factor:.2f}", str(e.crops))
        stdout.print(table)
    info(f"{len(result.estimates)} photo(s) estimated"
         + (f"; skipped {len(result.skipped)} unreadable" if result.skipped else ""))
