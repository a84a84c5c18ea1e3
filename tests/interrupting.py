"""A training run that dies at a chosen iteration, for the resume tests."""

from __future__ import annotations

from collections.abc import Callable


class Killed(Exception):
    """What :func:`kill_at`'s callback raises: the process dying mid-run."""


def kill_at(iteration: int) -> Callable[[int], None]:
    """A training ``callback`` that raises :class:`Killed` when ``iteration`` is reached."""
    def callback(reached: int) -> None:
        if reached == iteration:
            raise Killed
    return callback
