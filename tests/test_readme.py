"""The README documents every command and every option (regenerate with docs/cli_reference.py)."""

from __future__ import annotations

from pathlib import Path

import typer.main

from srkit.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands():
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if hasattr(command, "list_commands"):
            sub_ctx = typer.Context(command)
            for sub in command.list_commands(sub_ctx):
                yield f"{name} {sub}", command.get_command(sub_ctx, sub)
        else:
            yield name, command


def test_every_command_and_option_is_in_the_readme() -> None:
    text = README.read_text()
    missing = []
    for name, command in _commands():
        heading = f"### `srkit {name}`"
        if heading not in text:
            missing.append(heading)
            continue
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        for param in command.params:
            for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                documented = f"`{opt}`" in section
                if opt.startswith("-") and opt not in ("--help", "-h") and not documented:
                    missing.append(f"srkit {name} {opt}")
    assert not missing, ("README is out of date (python docs/cli_reference.py): "
                         + ", ".join(missing))
