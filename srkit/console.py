"""Terminal output: one stderr console, warnings, and rich progress bars that can be silenced.

Library code reports progress through :func:`progress`; the CLI's ``-q/--quiet`` flips
:func:`set_quiet` so pipelines see nothing but results on stdout.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

T = TypeVar("T")

stderr = Console(stderr=True)
stdout = Console()
_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = quiet


def is_quiet() -> bool:
    return _state["quiet"]


def info(message: str) -> None:
    if not _state["quiet"]:
        stderr.print(message)


def warn(message: str) -> None:
    """Warnings are shown even when quiet: they concern the user's data."""
    stderr.print(f"[yellow]warning:[/yellow] {message}", highlight=False)


class _Rate(TextColumn):
    """Items (or iterations) per second, for the bar's right-hand side."""

    def __init__(self, unit: str = "it") -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task):  # type: ignore[override]
        from rich.text import Text

        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"? {self.unit}/s", style="progress.data.speed")
        if speed < 1:
            return Text(f"{1 / speed:.1f} s/{self.unit}", style="progress.data.speed")
        return Text(f"{speed:.1f} {self.unit}/s", style="progress.data.speed")


def make_progress(unit: str = "it") -> Progress:
    """A rich Progress with count, rate and ETA; disabled when quiet."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        _Rate(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}", table_column=Column(no_wrap=True, overflow="ellipsis",
                                                               max_width=40)),
        console=stderr,
        disable=_state["quiet"],
        transient=False,
    )


@contextmanager
def progress(unit: str = "it") -> Iterator[Progress]:
    """Context manager around :func:`make_progress`; add tasks with ``status=""``."""
    bar = make_progress(unit)
    with bar:
        yield bar


def track(items: Iterable[T], description: str, total: int | None = None,
          unit: str = "img") -> Iterator[T]:
    """Iterate with a progress bar (nothing shown when quiet)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress(unit) as bar:
        task = bar.add_task(description, total=total, status="")
        for item in items:
            yield item
            bar.advance(task)
