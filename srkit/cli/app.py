"""The Typer application and the options every command shares (docs/design.md, "Conventions").

Command modules beside this one register on :data:`app` (or :data:`pool_app`); they import
the library stage inside the command body, so ``srkit --help`` never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from srkit.cli import help_format

try:
    from typer._click.exceptions import UsageError  # Typer ≥ 0.25 vendors click
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError

help_format.install()

# What Ctrl-C leaves behind, and how to go on, per command (printed with exit status 130).
INTERRUPTED = {
    "estimate-kernels": "kernels estimated so far are in the pool; run the same command again "
                        "to go on",
    "collect-noise": "noise patches of finished photos are in the pool; run the same command "
                     "again to go on",
    "degrade": "pairs made so far are kept; run the same command again to go on",
    "rank-data": "photos finished so far are kept; run the same command again to go on",
    "train-ranker": "the last saved state is kept; add --resume to the same command to go on",
    "train-dsn": "the last saved state is kept; add --resume to the same command to go on",
    "train-sr": "the last saved state is kept; add --resume to the same command to go on",
    "upscale": "finished images are kept; run the same command with --overwrite to redo "
               "them all, or on the images not done yet",
    "evaluate": "nothing was written",
}
_INTERRUPTED_DEFAULT = "nothing was changed"


class _Group(TyperGroup):
    """Runs a sub-command; says in one line on stderr what went wrong or what Ctrl-C kept.

    A bad option value (a click ``UsageError``, e.g. a ``min=``/``max=`` range on an Option or
    a ``typer.BadParameter``) is one ``error:`` line naming the option, exit status 2, instead
    of Typer's usage box. Typer also turns a KeyboardInterrupt into a silent exit 130 before
    :func:`srkit.cli.main` could see it, so the interrupt is caught here too: one line saying
    what was kept and how to go on, exit status 130.
    """

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            if type(error).__name__ == "NoArgsIsHelpError":
                raise  # ``srkit pool`` alone: Typer prints the help
            command = _command_name(ctx)
            message = " ".join(error.format_message().split())
            typer.echo(f"error: {message} (see srkit {command} -h)", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            command = _command_name(ctx)
            note = INTERRUPTED.get(command, _INTERRUPTED_DEFAULT)
            typer.echo(f"interrupted: srkit {command}: {note}", err=True)
            raise typer.Exit(130) from None


def _command_name(ctx: typer.Context) -> str:
    """``upscale`` or ``pool compare``: the groups below ``srkit`` and the sub-command."""
    names, level = [ctx.invoked_subcommand or ""], ctx
    while level.parent is not None:
        names.insert(0, level.info_name or "")
        level = level.parent
    return " ".join(n for n in names if n)


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


def must(test: Callable[[Any], bool], rule: str) -> Callable[..., Any]:
    """An Option ``callback`` that refuses values failing ``test`` (exit 2, naming the option).

    For the bounds ``min=``/``max=`` cannot say: open intervals, finite floats, a set of values.
    """

    def callback(param: typer.CallbackParam, value: Any) -> Any:
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if item is not None and not test(item):
                raise typer.BadParameter(f"{rule}, got {item}", param=param)
        return value

    return callback


def one_of(*allowed: int) -> Callable[..., Any]:
    """``callback=one_of(2, 4)``: the option takes one of these values."""
    shown = ", ".join(str(v) for v in allowed[:-1]) + f" or {allowed[-1]}"
    return must(lambda v: v in allowed, f"must be {shown}")


positive = must(lambda v: v > 0 and math.isfinite(v), "must be a number greater than 0")
non_negative = must(lambda v: v >= 0 and math.isfinite(v), "must be a number ≥ 0")
fraction = must(lambda v: 0 <= v <= 1, "must lie between 0 and 1")

# the largest upscaling factor an option takes: ×16 of a 12 MP photo is already 3 GP
MAX_SCALE = 16


pool_app = typer.Typer(help="Inspect, merge and draw degradation pools (HDF5).",
                       no_args_is_help=True, cls=_Group)
app.add_typer(pool_app, name="pool")

Inputs = Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.",
                                             show_default=False)]
ScaleOpt = Annotated[int, typer.Option("-x", "--scale", min=1, max=MAX_SCALE,
                                        help="Upscaling factor.")]
PoolOpt = Annotated[Path, typer.Option("--pool", help="Degradation pool (HDF5).")]
def output_option(help: str) -> Any:
    """``-o/--output`` with what it names in this command (a folder, a model file, a pool)."""
    return Annotated[Path, typer.Option("-o", "--output", help=help)]

SeedOpt = Annotated[int, typer.Option("--seed", min=0, max=2**63 - 1,
                                       help="Random seed (same seed, same output).")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet",
                                        help="No progress bars or summaries on stderr.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=1024,
                                         help="Parallel worker processes.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
StrictOpt = Annotated[bool, typer.Option("--strict",
                                         help="Fail on the first unreadable image instead of "
                                         "skipping it.")]
MaxPixelsOpt = Annotated[int, typer.Option("--max-pixels", min=0,
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
