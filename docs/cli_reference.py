"""Print the README's per-command option tables from the Typer app (keeps the README true).

    python docs/cli_reference.py > /tmp/commands.md
"""

from __future__ import annotations

from srkit.cli import iter_commands

_SKIP = {"help"}


def _is_argument(param) -> bool:
    return type(param).__name__.endswith("Argument")


def _rows(command) -> list[str]:
    rows = []
    for param in command.params:
        if param.name in _SKIP:
            continue
        if _is_argument(param):
            continue
        names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        default = getattr(param.default, "value", param.default)  # an Enum: its value
        if getattr(param, "is_flag", False):
            default = "off" if not default else "on"
        elif default is None or default == () or default == []:
            default = ""
        help_text = " ".join((getattr(param, "help", "") or "").split()).replace("|", "\\|")
        rows.append(f"| {names} | {default} | {help_text} |")
    return rows


def _section(name: str, command) -> str:
    summary = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
    args = " ".join(p.name.upper() + ("..." if p.nargs == -1 else "")
                    for p in command.params if _is_argument(p))
    page = name.split()[1] if name.startswith("pool") else name
    lines = [f"### `srkit {name}`", "", summary, "", "```", f"srkit {name} {args} [OPTIONS]",
             "```", "", "| option | default | meaning |", "|---|---|---|", *_rows(command),
             "", f"Full page: [docs/cli/{page.split()[0]}.md](docs/cli/{page.split()[0]}.md)"
             if not name.startswith("pool") else "Full page: [docs/cli/pool.md](docs/cli/pool.md)",
             ""]
    return "\n".join(lines)


def main() -> None:
    for name, command in iter_commands():
        print(_section(name, command))


if __name__ == "__main__":
    main()
