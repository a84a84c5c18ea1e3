"""srkit's command line: ``srkit COMMAND ...``.

Every module in this package registers its commands on :data:`srkit.cli.app.app`; they are
imported here in workflow order. :func:`main` turns :class:`~srkit.errors.SrkitError` into
one line on stderr and exit status 1.
"""

from __future__ import annotations

import pkgutil
import sys
from importlib import import_module

from srkit.cli.app import app

_ORDER = ["estimate_kernels", "collect_noise", "degrade", "train_dsn", "rank_data", "train_ranker",
          "train_sr", "upscale",
          "estimate_degradation",
          "evaluate", "pool", "models", "export"]


def _load_commands() -> None:
    found = {m.name for m in pkgutil.iter_modules(__path__) if m.name != "app"}
    for name in [n for n in _ORDER if n in found] + sorted(found - set(_ORDER)):
        import_module(f"{__name__}.{name}")


_load_commands()


def iter_commands():
    """``(name, click command)`` of every command in help order, ``pool info`` style for
    sub-commands, and a group itself when it has options of its own (``srkit models
    --json``); used by docs/cli_reference.py and the README test."""
    import typer.main

    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if hasattr(command, "list_commands"):
            if any(param.name != "help" for param in command.params):
                yield name, command
            sub_ctx = typer.Context(command)
            for sub in command.list_commands(sub_ctx):
                yield f"{name} {sub}", command.get_command(sub_ctx, sub)
        else:
            yield name, command


def main() -> None:
    """Console-script entry point."""
    from srkit.errors import SrkitError

    try:
        app()
    except SrkitError as error:
        from srkit.console import stderr

        stderr.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


__all__ = ["app", "iter_commands", "main"]
