"""How ``--help`` names what an option or argument takes, in click's familiar words.

Typer ≥ 0.25 renders help with its own labels: ``<bool>`` after every flag (a flag takes no
value), ``<list[str]>`` for a list argument and ``{inputs}...`` in the usage line. srkit shows
what the user types instead: nothing after a flag, ``TEXT`` / ``INTEGER`` / ``FLOAT`` /
``PATH`` (``INTEGER RANGE`` with its bounds) after an option, and arguments as ``INPUTS...``
(``[OUTPUT]`` when optional) in the usage line.

:func:`install` adjusts Typer's parameter classes once, at import of :mod:`srkit.cli.app`; it
touches only methods that exist, so an older Typer (which already speaks click's words) is
left as it is.
"""

from __future__ import annotations

import re
from typing import Any

_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH", "bool": "BOOLEAN",
          "file": "FILE", "dir": "DIRECTORY", "directory": "DIRECTORY", "datetime": "DATETIME"}


def click_words(label: str | None) -> str | None:
    """Typer's ``<int range>`` / ``<list[str]>`` / ``<path>`` as click's ``INTEGER RANGE`` /
    ``TEXT`` / ``PATH``; choices as ``[a|b]``."""
    if label is None:
        return None
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    inner = re.sub(r"^list\[(.*)\]$", r"\1", inner)
    if "|" in inner:  # choices: keep them, as click does
        return f"[{inner}]"
    words = inner.split()
    if words and words[0] in _WORDS:
        words[0] = _WORDS[words[0]]
        return " ".join(w.upper() for w in words)
    return inner.upper()


def install() -> None:
    """Make Typer's help speak click's words (idempotent)."""
    try:
        from typer import core
    except ImportError:  # pragma: no cover
        return
    option, argument = getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)
    if option is None or argument is None or getattr(option, "_srkit_help", False):
        return
    option_display = getattr(option, "display_type_rich", None)
    argument_display = getattr(argument, "display_type_rich", None)
    usage_name = getattr(argument, "_usage_display_name", None)
    if option_display is None or argument_display is None or usage_name is None:
        return  # a Typer whose help is built differently: leave it alone

    def option_type(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None  # a flag takes no value
        if self.metavar is not None:
            return self.metavar
        label = click_words(self.display_type(ctx))
        return f"{label}..." if label and self.nargs != 1 else label

    def argument_type(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        return click_words(self.display_type(ctx))

    def argument_usage(self: Any) -> str:
        name = (self.metavar or self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name

    option.display_type_rich = option_type
    argument.display_type_rich = argument_type
    argument._usage_display_name = argument_usage
    option._srkit_help = True
