"""An exclusive advisory lock beside a file that several srkit processes may write (pools).

``with file_lock(pool) as lock:`` holds ``flock`` on ``POOL.h5.lock`` for the whole
read-copy-append-rename, so two ``collect-noise`` or ``estimate-kernels`` runs into one pool
take turns instead of the second one's rename dropping the first one's photos. The lock file
says who holds it (pid, host, command) for the "waiting for ..." message, and keeps a short
journal of what each process added, so a writer can tell entries another process added while
it ran (duplicates of its own work) from entries that were there before it started.

``flock`` is released by the kernel when its holder exits, however it exits: a lock file left
behind by a killed process blocks nobody. The lock file itself stays (removing it would let
two processes lock two different files).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from srkit.errors import SrkitError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, writers are not serialised
    fcntl = None  # type: ignore[assignment]

STARTED = time.time()  # about when this process started (before it read any pool)
TIMEOUT_S = 600.0  # how long a writer waits for another one ($SRKIT_LOCK_TIMEOUT)
_JOURNAL_DAYS = 30
_JOURNAL_MAX = 20_000


def lock_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _me() -> dict:
    """Who takes the lock: pid, host and the command line (``srkit collect-noise ...``)."""
    program = Path(sys.argv[0] or "python").name
    words = ["srkit", *sys.argv[1:]] if program in ("srkit", "__main__.py") else sys.argv
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "command": " ".join(words)[:200], "since": time.time()}


def describe(holder: dict | None) -> str:
    """``pid 123 on host: srkit collect-noise ...`` (or "another process")."""
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')}: {holder.get('command')}"


@dataclass
class LockState:
    """What the lock file holds: the holder, and ``[time, host, pid, key]`` write records."""

    path: Path
    holder: dict | None = None
    journal: list[list] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # keys this holder adds, journalled at exit

    def added_by_others_since(self, started: float = STARTED) -> set[str]:
        """Keys another process recorded after ``started`` (this process's start)."""
        me = (socket.gethostname(), os.getpid())
        return {key for stamp, host, pid, key in self.journal
                if stamp >= started and (host, pid) != me}


def _read(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while chunk := os.read(fd, 1 << 20):
        data += chunk
    try:
        content = json.loads(data.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}  # being written, or not ours: the lock works the same
    return content if isinstance(content, dict) else {}


def _write(fd: int, content: dict) -> None:
    data = json.dumps(content).encode("utf-8")
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, data)


def _timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("SRKIT_LOCK_TIMEOUT", TIMEOUT_S)))
    except ValueError:
        return TIMEOUT_S


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float | None = None,
              poll: float = 0.1) -> Iterator[LockState]:
    """Hold the exclusive lock of ``path`` (waiting up to ``timeout`` seconds for another
    holder, saying who it is); yields the :class:`LockState` read from the lock file."""
    path = Path(path)
    state = LockState(path)
    if fcntl is None:  # pragma: no cover
        yield state
        return
    timeout = _timeout() if timeout is None else timeout
    sidecar = lock_path(path)
    try:
        sidecar.parent.mkdir(parents=True, exist_ok=True)  # as writing the pool would
        fd = os.open(sidecar, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise SrkitError(f"{sidecar}: cannot create the lock file "
                         f"({error.strerror or error})") from None
    try:
        _acquire(fd, path, timeout, poll)
        content = _read(fd)
        cutoff = time.time() - _JOURNAL_DAYS * 86400
        state.journal = [r for r in content.get("journal", [])
                         if isinstance(r, list) and len(r) == 4 and r[0] >= cutoff]
        state.holder = _me()
        _write(fd, {"holder": state.holder, "journal": state.journal})
        yield state
        if state.added:
            stamp, host, pid = time.time(), state.holder["host"], state.holder["pid"]
            state.journal += [[stamp, host, pid, key] for key in state.added]
            state.journal = state.journal[-_JOURNAL_MAX:]
        _write(fd, {"holder": None, "journal": state.journal})
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, path: Path, timeout: float, poll: float) -> None:
    from srkit.console import info

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    holder = describe(_read(fd).get("holder"))
    info(f"waiting for {path} (held by {holder})")
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(poll)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise SrkitError(f"{path}: still in use by {holder} after {timeout:.0f} s; "
                                 "run again when it is done (or raise $SRKIT_LOCK_TIMEOUT)"
                                 ) from None
