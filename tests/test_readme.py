"""The README documents every command and every option (regenerate with docs/cli_reference.py)."""

from __future__ import annotations

from pathlib import Path

from srkit.cli import iter_commands

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_command_and_option_is_in_the_readme() -> None:
    text = README.read_text()
    missing = []
    for name, command in iter_commands():
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
