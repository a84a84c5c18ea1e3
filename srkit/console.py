"""Terminal output: one stderr console, warnings, and progress that can be silenced.

Library code reports progress through :func:`progress`; the CLI's ``-q/--quiet`` flips
:func:`set_quiet` so pipelines see nothing but results on stdout.

On a terminal, progress is a rich bar. In a log or a pipe (stderr not a terminal) a bar would
only be drawn when the work ends, so :class:`LogProgress` prints plain lines instead, at a
steady interval (``$SRKIT_PROGRESS_INTERVAL`` seconds, default 30) and at the end::

    degrade pool x4: 12/40 images, 0:01:10 elapsed, eta 0:03:20

Off a terminal the consoles are also wide (tables keep whole cells, lines are not broken
inside paths) unless ``$COLUMNS`` says otherwise.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rich.console import Console, ConsoleDimensions
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

LOG_WIDTH = 1000  # columns when writing to a file or a pipe: nothing is cut or wrapped


class _Console(Console):
    """A rich Console that is :data:`LOG_WIDTH` wide when it does not write to a terminal
    (rich would assume 80 columns and cut table cells to "bicu…")."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and "COLUMNS" not in os.environ and not self.is_terminal:
            return ConsoleDimensions(LOG_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


stderr = _Console(stderr=True)
stdout = _Console()
_state = {"quiet": False}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "pair")`` → ``"1 pair"``, ``plural(3, "patch", "patches")`` → ``"3 patches"``."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = quiet


def is_quiet() -> bool:
    return _state["quiet"]


def info(message: str) -> None:
    """A summary line on stderr (not when quiet), never broken inside a path."""
    if not _state["quiet"]:
        stderr.print(message, soft_wrap=True)


def warn(message: str) -> None:
    """Warnings are shown even when quiet: they concern the user's data."""
    stderr.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)


class _Rate(TextColumn):
    """Items (or iterations) per second, for the bar's right-hand side."""

    def __init__(self, unit: str = "it") -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task):  # type: ignore[override]
        from rich.text import Text

        unit = task.fields.get("unit") or self.unit
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"? {unit}/s", style="progress.data.speed")
        if speed < 1:
            return Text(f"{1 / speed:.1f} s/{unit}", style="progress.data.speed")
        return Text(f"{speed:.1f} {unit}/s", style="progress.data.speed")


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


# what a unit counts, in the plain lines: "12/40 images"
_UNIT_NAMES = {"img": ("image", "images"), "it": ("iteration", "iterations"),
               "tiles": ("tile", "tiles")}


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass
class _LogTask:
    description: str
    total: float | None
    completed: float
    visible: bool
    status: str
    unit: str
    started: float
    first: float  # ``completed`` when the task (re)started: a resumed run's rate is its own
    shown: tuple = field(default=())  # the state last printed, so nothing is said twice


class LogProgress:
    """Plain progress lines for logs, with the add_task/update/advance/reset of rich's
    ``Progress`` (what library code calls).

    A line per visible task when the first task starts, every ``interval`` seconds (checked at
    each update, and by a background thread while work runs without updates) and at the end.
    ``clock`` and ``thread=False`` are there for tests.
    """

    def __init__(self, unit: str = "it", *, interval: float = 30.0,
                 write: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, thread: bool = True) -> None:
        self.unit, self.interval, self.clock = unit, interval, clock
        self.write = write or (lambda line: stderr.print(line, highlight=False,
                                                         soft_wrap=True, markup=False))
        self.tasks: dict[int, _LogTask] = {}
        self._last = clock()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True) if thread else None

    def __enter__(self) -> LogProgress:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.emit(changed_only=True)  # the end: where each task got to (also on Ctrl-C)

    def _run(self) -> None:
        while not self._stop.wait(max(0.05, self.interval / 4)):
            self.tick()

    def add_task(self, description: str, total: float | None = None, completed: float = 0,
                 visible: bool = True, status: str = "", unit: str | None = None,
                 **_fields: Any) -> int:
        with self._lock:
            task_id = len(self.tasks)
            now = self.clock()
            self.tasks[task_id] = _LogTask(description, total, completed, visible, status,
                                           unit or self.unit, now, completed)
            if len(self.tasks) == 1 and visible:
                self.emit()  # a log shows at once that the work has begun
            return task_id

    def update(self, task_id: int, *, total: float | None = None,
               completed: float | None = None, advance: float | None = None,
               description: str | None = None, visible: bool | None = None,
               status: str | None = None, **_fields: Any) -> None:
        with self._lock:
            task = self.tasks[task_id]
            if total is not None:
                task.total = total
            if completed is not None:
                task.completed = completed
            if advance is not None:
                task.completed += advance
            if description is not None:
                task.description = description
            if visible is not None:
                task.visible = visible
            if status is not None:
                task.status = status
        self.tick()

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def reset(self, task_id: int, *, total: float | None = None, completed: float = 0,
              description: str | None = None, visible: bool | None = None,
              **_fields: Any) -> None:
        with self._lock:
            task = self.tasks[task_id]
            task.started, task.first, task.completed = self.clock(), completed, completed
            task.shown = ()
            if total is not None:
                task.total = total
            if description is not None:
                task.description = description
            if visible is not None:
                task.visible = visible

    def tick(self) -> None:
        """Print the lines when ``interval`` seconds have passed since the last ones."""
        with self._lock:
            if self.clock() - self._last >= self.interval:
                self.emit()

    def emit(self, changed_only: bool = False) -> None:
        """A line per visible task (``changed_only``: those that moved since their last)."""
        with self._lock:
            self._last = now = self.clock()
            for task in self.tasks.values():
                if not (task.visible and task.description.strip()):
                    continue
                state = (task.completed, task.total, task.status, task.description)
                if changed_only and state == task.shown:
                    continue
                task.shown = state
                self.write(self.line(task, now))

    def line(self, task: _LogTask, now: float) -> str:
        one, many = _UNIT_NAMES.get(task.unit, (task.unit, task.unit))
        done = int(task.completed)
        if task.total is None:
            count = f"{done} {one if done == 1 else many}"
        else:
            total = int(task.total)
            count = f"{done}/{total} {one if total == 1 else many}"
        elapsed = now - task.started
        text = f"{task.description.strip()}: {count}, {_clock_text(elapsed)} elapsed"
        rate = (task.completed - task.first) / elapsed if elapsed > 0 else 0.0
        if task.total is not None and task.completed < task.total and rate > 0:
            text += f", eta {_clock_text((task.total - task.completed) / rate)}"
        return text + (f"; {task.status}" if task.status else "")


def _interval() -> float:
    try:
        return max(0.01, float(os.environ.get("SRKIT_PROGRESS_INTERVAL", "30")))
    except ValueError:
        return 30.0


@contextmanager
def progress(unit: str = "it") -> Iterator[Any]:
    """Progress for a piece of work: add tasks with ``status=""`` (and ``unit=`` when a task
    counts something else than ``unit``). A rich bar on a terminal, :class:`LogProgress`
    lines in a log, nothing when quiet."""
    if not _state["quiet"] and not stderr.is_terminal:
        with LogProgress(unit, interval=_interval()) as lines:
            yield lines
        return
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
