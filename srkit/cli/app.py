"""The Typer application and the options every command shares (docs/design.md, "Conventions").

Command modules beside this one register on :data:`app` (or :data:`pool_app`); they import
the library stage inside the command body, so ``srkit --help`` never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

# What Ctrl-C leaves behind, and how to go on, per command (printed with exit status 130).
INTERRUPTED = {
    "estimate-kernels": "kernels estimated so far are in the pool; run the same command again "
                        "to go on",
    "collect-noise": "noise patches of finished photos are in the pool; run the same command "
                     "again to go on",
    "degrade": "pairs made so far are kept; run the same command again to go on",
    "train-dsn": "the last saved state is kept; add --resume to the same command to go on",
    "train-sr": "the last saved state is kept; add --resume to the same command to go on",
    "upscale": "finished images are kept; run the same command with --overwrite to redo "
               "them all, or on the images not done yet",
    "evaluate": "nothing was written",
}
_INTERRUPTED_DEFAULT = "nothing was changed"


class _Group(TyperGroup):
    """Says on Ctrl-C which command stopped, what it kept and how to go on (exit status 130).

    Typer turns a KeyboardInterrupt into a silent exit 130 before :func:`srkit.cli.main`
    could see it, so the sub-command's invocation is wrapped here.
    """

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            names, level = [ctx.invoked_subcommand or ""], ctx
            while level.parent is not None:  # "pool compare": the groups below srkit itself
                names.insert(0, level.info_name or "")
                level = level.parent
            command = " ".join(n for n in names if n)
            note = INTERRUPTED.get(command, _INTERRUPTED_DEFAULT)
            typer.echo(f"interrupted: srkit {command}: {note}", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    name="srkit",
    cls=_Group,
    help="Real-world image super-resolution: learn your camera's degradation from its photos, "
    "make matching training pairs, train SR models and upscale photos.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from srkit import __version__

        typer.echo(f"srkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print srkit's version and exit.")] = False,
) -> None:
    pass  # the options of ``srkit`` itself; each command has its own


pool_app = typer.Typer(help="Inspect, merge and draw degradation pools (HDF5).",
                       no_args_is_help=True, cls=_Group)
app.add_typer(pool_app, name="pool")

Inputs = Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.",
                                             show_default=False)]
ScaleOpt = Annotated[int, typer.Option("-x", "--scale", help="Upscaling factor.")]
PoolOpt = Annotated[Path, typer.Option("--pool", help="Degradation pool (HDF5).")]
OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Output file or folder.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same output).")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet",
                                        help="No progress bars or summaries on stderr.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1,
                                         help="Parallel worker processes.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
StrictOpt = Annotated[bool, typer.Option("--strict",
                                         help="Fail on the first unreadable image instead of "
                                         "skipping it.")]
MaxPixelsOpt = Annotated[int, typer.Option("--max-pixels",
                                           help="Refuse images with more pixels than this "
                                           "(decompression-bomb guard; 0 = no limit).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print results as JSON on stdout.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print results as CSV on stdout.")]
SyntheticSetOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045 (Typer)
    "--synthetic-set", help="Change a setting of the random pipeline, KEY=VALUE "
    "(repeatable; e.g. second_order_prob=0.5, classical_prob=0.5, first.noise_sigma=[1,10]; "
    "the keys of srkit.ops.synthetic.SyntheticSettings).", show_default=False)]


def parse_assignments(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` → ``{KEY: value}`` (values parsed as TOML, else strings)."""
    from srkit.errors import SrkitError
    from srkit.training.recipes import parse_assignment

    values = {}
    for item in items or []:
        key, value = parse_assignment(item)
        if not key:
            raise SrkitError(f"{option} {item!r}: expected KEY=VALUE")
        values[key] = value
    return values


def synthetic_settings(items: list[str] | None) -> Any | None:
    """``--synthetic-set`` values → a ``SyntheticSettings`` (None without any)."""
    if not items:
        return None
    from srkit.errors import SrkitError
    from srkit.ops.synthetic import SyntheticSettings

    try:
        return SyntheticSettings().with_overrides(parse_assignments(items, "--synthetic-set"))
    except (TypeError, ValueError) as error:
        raise SrkitError(f"--synthetic-set: {error}") from None


def setup(quiet: bool = False, max_pixels: int | None = None, seed: int | None = None) -> None:
    """Per-command set-up: quietness, the decompression-bomb limit, global seeding."""
    from srkit import console
    from srkit.io import images

    console.set_quiet(quiet)
    if max_pixels is not None:
        images.set_max_pixels(max_pixels or None)
    if seed is not None:
        import random

        import numpy as np

        random.seed(seed)
        np.random.seed(seed % 2**32)
