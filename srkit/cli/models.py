"""``srkit models``: the shipped models and the user's models folder; ``models interpolate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from srkit.cli.app import JsonOpt, QuietOpt, app, setup

models_app = typer.Typer(no_args_is_help=False)
app.add_typer(models_app, name="models")

ModelArg = Annotated[str, typer.Argument(
    help="Model file or name (as for srkit upscale --model).", show_default=False)]
AlphaOpt = Annotated[float, typer.Option(
    "--alpha", min=0.0, max=1.0, show_default=False,
    help="Weight of B: 0 gives A, 1 gives B, 0.5 the mean of their weights.")]
OutOpt = Annotated[Path, typer.Option(
    "-o", "--output", show_default=False, help="The blended model (.safetensors).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]


@models_app.callback(invoke_without_command=True)
def models_cmd(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List the models --model NAME accepts: shipped ones and those in the models folder.

    The models folder is $SRKIT_MODELS, else ~/.local/share/srkit/models: copy a .safetensors
    or .pth file there and use its name (without the suffix) with srkit upscale --model.
    """
    if ctx.invoked_subcommand is not None:
        return
    from srkit.console import stdout, warn
    from srkit.modelzoo import list_models, user_models_dir

    models, problems = list_models()
    for problem in problems:
        warn(f"skipped {problem}")
    if json_out:
        import json

        stdout.print_json(json.dumps({"user_models_dir": str(user_models_dir()),
                                      "models": [m.to_dict() for m in models]}))
        return
    from rich.table import Table

    table = Table(title="srkit models", title_justify="left")
    for column in ("name", "scale", "arch", "params", "MB", "source", "description"):
        table.add_column(column, justify="right" if column in ("scale", "params", "MB")
                         else "left")
    for m in models:
        table.add_row(m.name, f"×{m.scale}" if m.scale else "?", m.arch or "?",
                      f"{m.params / 1e6:.2f} M" if m.params else "?",
                      f"{m.size_bytes / 1e6:.1f}", m.source, m.description)
    stdout.print(table)
    if not models:
        stdout.print("no models installed")
    stdout.print(f"user models folder: {user_models_dir()}")


@models_app.command("interpolate")
def interpolate_cmd(
    model_a: ModelArg,
    model_b: ModelArg,
    alpha: AlphaOpt,
    output: OutOpt,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Blend two models' weights, (1 - alpha)·A + alpha·B, into a new model file.

    A and B must have the same architecture, arguments and scale (e.g. a PSNR- and a
    GAN-trained model of one recipe, ESRGAN's network interpolation).

    The written path is printed on stdout.
    """
    setup(quiet=quiet)
    from srkit.modelzoo import interpolate_files

    path = interpolate_files(model_a, model_b, alpha, output, overwrite=overwrite)
    from srkit.console import info, stdout

    stdout.print(str(path), highlight=False, soft_wrap=True)
    info(f"{path}: {1 - alpha:g}·{model_a} + {alpha:g}·{model_b}")
