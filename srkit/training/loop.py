"""The iteration loop every training stage runs: batches in, steps, logs, saves, Ctrl-C, resume.

A stage (``train-sr``, ``train-dsn``, ...) builds a :class:`Trainer`, a batch source and the
hooks that are its own — writing its model file, samples, validation, the progress status —
and calls :func:`run_loop`. The loop does what every run shares:

* one ``trainer.step(batch)`` per iteration, on the batches ``batches(start)`` yields in
  order (batch ``i`` of a run is the ``i``-th, so the iteration is also the data position);
* the interval means of the step's loss terms (:class:`~srkit.training.log.LossMeter`), the
  learning rate, validation metrics, data-wait and step time, every ``log_every``
  iterations and at the end: into the history and the CSV log
  (:class:`~srkit.training.log.CsvLog`; a resumed run drops the rows after its state);
* every ``save_every`` iterations, at the end and on Ctrl-C: the resume state
  (:mod:`srkit.training.state`: iteration, trainer state, the random states of Python,
  NumPy and torch, and the stage's ``run_info``), then the stage's ``save`` hook;
  :func:`restore` puts a state back, so that a resumed run continues bit for bit;
* Ctrl-C: the first one stops the run at the end of the current step, saves and says how to
  continue (then raises :class:`KeyboardInterrupt`); a second one aborts at once.

Only the main process (rank 0 under ``torchrun``) writes files, validates and shows progress;
under several processes Ctrl-C is left to ``torchrun``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from srkit.training.log import COLUMNS

# Keys of a resume state that the loop writes itself (``run_info`` must not use them).
_STATE_KEYS = ("iteration", "trainer", "rng")


class Trainer(Protocol):
    """What the loop drives: one optimisation step and the state to resume it."""

    @property
    def learning_rate(self) -> float:
        """The generator's current rate (logged)."""
        ...

    def step(self, batch: Sequence[torch.Tensor]) -> Mapping[str, torch.Tensor | float]:
        """One iteration on ``batch`` as the batch source yields it; returns the loss terms
        (scalar tensors, read only when a log row needs them, or floats)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes during training (tensors and plain values)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class LoopPlan:
    """How long a run is, where its state and log go and how often things happen.

    Attributes:
        iters: the iteration to stop at.
        state_file, log_file: ``MODEL.resume.pt`` and ``MODEL.train.csv``.
        log_columns: the CSV's columns (a row's other keys stay in the history only).
        save_every, log_every: intervals in iterations (at least 1).
        val_every, sample_every: intervals of the ``validate`` and ``sample`` hooks
            (0 = never).
        metric_names: what ``validate`` returns; every row carries them (None when not
            measured in its interval).
        title: the progress bar's label.
        run_info: stored in every resume state beside the loop's own keys (the settings a
            resumed run is checked against, ...).
        device: where the steps run (on CUDA the queued work is waited for before a log row,
            so that ``step_s`` holds it).
        is_main: this process writes files, validates and shows progress.
        interruptible: Ctrl-C stops cleanly (off under several processes).
    """

    iters: int
    state_file: Path
    log_file: Path
    log_columns: Sequence[str] = COLUMNS
    save_every: int = 1000
    log_every: int = 10
    val_every: int = 0
    sample_every: int = 0
    metric_names: Sequence[str] = ()
    title: str = "training"
    run_info: Mapping[str, Any] = field(default_factory=dict)
    device: torch.device = torch.device("cpu")
    is_main: bool = True
    interruptible: bool = True


@dataclass(frozen=True)
class LoopHooks:
    """What the stage does at the loop's moments.

    Attributes:
        save: write the model file(s) as of an iteration (called after the resume state).
        validate: measure held-out quality; returns ``{metric_name: value}``.
        sample: write sample images as of an iteration.
        status: the progress bar's status text for a log row.
        after_step: called with the iteration after every step (on every process).
    """

    save: Callable[[int], None]
    validate: Callable[[], Mapping[str, float]] | None = None
    sample: Callable[[int], None] | None = None
    status: Callable[[Mapping[str, Any]], str] | None = None
    after_step: Callable[[int], None] | None = None


@dataclass(frozen=True)
class LoopResult:
    """Where a run ended and how fast it went: ``wait_seconds`` waiting for batches and
    ``step_seconds`` in steps (neither counts validation, samples or saves); ``seconds`` is
    the wall time of the loop; ``history`` holds the log rows of this run."""

    start: int
    iteration: int
    seconds: float
    wait_seconds: float
    step_seconds: float
    history: list[dict[str, Any]]


def restore(state: Mapping[str, Any], trainer: Trainer) -> int:
    """Put a resume state written by :func:`run_loop` back into ``trainer`` and the random
    generators; returns the iteration (the data position) to continue from. The caller
    checks the state's ``run_info`` first."""
    from srkit.training.state import restore_rng

    trainer.load_state_dict(state["trainer"])
    if "rng" in state:  # train-dsn's states before srkit saved its random states had none
        restore_rng(state["rng"])
    return int(state["iteration"])


def run_loop(trainer: Trainer, batches: Callable[[int], Iterable[Sequence[torch.Tensor]]],
             plan: LoopPlan, hooks: LoopHooks, start: int = 0) -> LoopResult:
    """Train from iteration ``start`` to ``plan.iters``; see the module doc.

    ``batches(start)`` yields the batches of iterations ``start, start + 1, ...``. Raises
    :class:`KeyboardInterrupt` after saving when stopped by Ctrl-C.
    """
    from srkit.console import progress
    from srkit.training.log import CsvLog

    clash = sorted(set(plan.run_info) & set(_STATE_KEYS))
    if clash:
        raise ValueError(f"run_info keys {', '.join(clash)} are the loop's own")
    main = plan.is_main
    csv_log = (CsvLog(plan.log_file, resume_from=start or None, columns=plan.log_columns)
               if main else None)
    interval = _Interval(plan)
    iteration = start
    with (progress("it") if main else nullcontext(None)) as bar, \
            _stop_on_interrupt(plan.interruptible) as interrupt:
        task = (bar.add_task(plan.title, total=plan.iters, completed=start, status="")
                if bar is not None else None)
        source: Iterator[Sequence[torch.Tensor]] = iter(batches(start))
        while iteration < plan.iters:
            tick = time.perf_counter()
            batch = next(source)
            tock = time.perf_counter()
            interval.meter.add(trainer.step(batch))
            if plan.device.type == "cuda" and (iteration + 1) % plan.log_every == 0:
                torch.cuda.synchronize(plan.device)  # so step_s holds the queued GPU work
            interval.wait += tock - tick
            interval.step += time.perf_counter() - tock
            iteration += 1
            at_end = iteration == plan.iters
            if hooks.validate is not None and main and _due(iteration, plan.val_every, at_end):
                interval.metrics = dict(hooks.validate())
            if _due(iteration, plan.log_every, at_end):
                row = interval.close(iteration, trainer.learning_rate)
                if csv_log is not None:
                    csv_log.write(row)
                if bar is not None and hooks.status is not None:
                    bar.update(task, status=hooks.status(row))
            if hooks.sample is not None and main and _due(iteration, plan.sample_every,
                                                          at_end):
                hooks.sample(iteration)
            if hooks.after_step is not None:
                hooks.after_step(iteration)
            if main and (_due(iteration, plan.save_every, at_end) or interrupt["stop"]):
                _save(trainer, plan, hooks, iteration)
            if bar is not None:
                bar.update(task, completed=iteration)
            if interrupt["stop"]:
                _report_stop(plan, iteration)
    return LoopResult(start, iteration, time.perf_counter() - interval.began,
                      interval.wait_total, interval.step_total, interval.history)


class _Interval:
    """The loss meter, metrics and times of the current logging interval, and the totals."""

    def __init__(self, plan: LoopPlan) -> None:
        from srkit.training.log import LossMeter

        self.metric_names = tuple(plan.metric_names)
        self.meter = LossMeter()
        self.metrics: dict[str, float] = {}
        self.wait = self.step = self.wait_total = self.step_total = 0.0
        self.history: list[dict[str, Any]] = []
        self.began = time.perf_counter()

    def close(self, iteration: int, learning_rate: float) -> dict[str, Any]:
        """The log row of the interval ending at ``iteration``; starts the next one."""
        from srkit.training.log import loss_column

        row = {"iteration": iteration, "learning_rate": learning_rate,
               **dict.fromkeys(self.metric_names), **self.metrics,
               "data_wait_s": self.wait, "step_s": self.step,
               "elapsed_s": time.perf_counter() - self.began,
               **{loss_column(name): value for name, value in self.meter.means().items()}}
        self.history.append(row)
        self.wait_total += self.wait
        self.step_total += self.step
        self.wait = self.step = 0.0
        self.meter.reset()
        self.metrics = {}
        return row


def _due(iteration: int, every: int, at_end: bool) -> bool:
    """Whether something done every ``every`` iterations (0 = never) and at the end is due."""
    return every > 0 and (iteration % every == 0 or at_end)


def _save(trainer: Trainer, plan: LoopPlan, hooks: LoopHooks, iteration: int) -> None:
    from srkit.training.state import capture_rng, save_state

    save_state(plan.state_file, {**plan.run_info, "iteration": iteration,
                                 "trainer": trainer.state_dict(), "rng": capture_rng()})
    hooks.save(iteration)


def _report_stop(plan: LoopPlan, iteration: int) -> None:
    from srkit.console import warn

    warn(f"stopped at iteration {iteration}; the state is saved in {plan.state_file}, "
         "continue with --resume")
    raise KeyboardInterrupt(f"stopped at iteration {iteration}; continue with --resume")


@contextmanager
def _stop_on_interrupt(enabled: bool) -> Iterator[dict[str, bool]]:
    """Turn Ctrl-C into a flag checked between iterations (so the state saved is whole); a
    second Ctrl-C raises at once. Only in the main thread, where signals arrive."""
    flag = {"stop": False}
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):  # noqa: ARG001
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
