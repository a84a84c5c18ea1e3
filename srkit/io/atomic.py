"""Atomic file writes: write to a temporary file beside the target, then rename over it.

The temporary of ``DIR/STEM.SUFFIX`` is ``DIR/.STEM.PID@HOST.XXXXXXXX.tmp.SUFFIX``: hidden,
with the writer's process id and a hash of its host name. A writer killed outright (SIGKILL,
power loss) cannot remove it; the next write of the same target removes such leftovers
(:func:`remove_stale_temporaries`), and nothing else: only names of this exact pattern for
that target are touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# A temporary of a writer we cannot check (another host, or no pid in the name) is stale
# once it has not been modified for this long (seconds).
STALE_SECONDS = 3600.0


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temp_pattern(dest: Path) -> re.Pattern[str]:
    """srkit's temporaries of ``dest``: this pattern and the one before pids were recorded
    (``.STEM.XXXXXXXX.tmp.SUFFIX``, mkstemp's 8 random characters)."""
    return re.compile(rf"\.{re.escape(dest.stem)}\.(?:(\d+)@([0-9a-f]{{8}})\.)?"
                      rf"[a-z0-9_]{{8}}\.tmp{re.escape(dest.suffix)}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _is_stale(path: Path, pid: str | None, host: str | None, now: float) -> bool:
    if pid is not None and host == _host_tag():
        if int(pid) == os.getpid():  # ours, or a dead writer's whose pid we were given
            return path.name not in _OPEN
        return not _pid_alive(int(pid))
    try:
        return now - path.stat().st_mtime > STALE_SECONDS
    except OSError:
        return False


# Any srkit temporary, whatever its target: what a folder's one scan keeps (below).
_ANY_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(?:\.[^.]*)?")
# Per folder, the temporaries found there by this process's first write into it: one
# scan per folder, not one per write (a pair folder holds hundreds of thousands of files).
_FOUND: dict[str, list[str]] = {}
# The temporaries this process is writing now.
_OPEN: set[str] = set()


def _temporaries_in(folder: Path) -> list[str]:
    key = os.path.abspath(folder)
    if key not in _FOUND:
        try:
            with os.scandir(folder) as entries:
                _FOUND[key] = [e.name for e in entries
                               if _ANY_TEMP.fullmatch(e.name) and e.is_file(follow_symlinks=False)]
        except OSError:
            return []
    return _FOUND[key]


def remove_stale_temporaries(dest: str | Path) -> list[Path]:
    """Remove the leftover temporaries of ``dest`` (see the module doc); returns them.

    One is stale when its writer, on this host, is no longer running, or, when that cannot
    be checked, when it is older than :data:`STALE_SECONDS`; a live writer's is kept. The
    folder is scanned at this process's first write into it (a temporary left there later,
    by a writer killed meanwhile, waits for the next run)."""
    dest = Path(dest)
    found = _temporaries_in(dest.parent)
    if not found:
        return []
    pattern = _temp_pattern(dest)
    now = time.time()
    removed = []
    for name in list(found):
        match = pattern.fullmatch(name)
        if match is None:
            continue
        path = dest.parent / name
        if _is_stale(path, match.group(1), match.group(2), now):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
            found.remove(name)
    return removed


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``dest``'s folder; on success it is renamed to ``dest``.

    A crash or exception leaves ``dest`` untouched (either the old file or none) and removes
    the temporary file. The temporary name keeps ``dest``'s suffix so format sniffing by
    suffix (Pillow, h5py) still works. Temporaries of ``dest`` that killed writers left
    behind are removed first.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}.{os.getpid()}@{_host_tag()}.",
                                    suffix=f".tmp{dest.suffix}", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    _OPEN.add(tmp.name)
    try:
        yield tmp
        _match_mode(tmp, dest)
        os.replace(tmp, dest)
    finally:
        _OPEN.discard(tmp.name)
        if tmp.exists():
            tmp.unlink()


def _match_mode(tmp: Path, dest: Path) -> None:
    """mkstemp makes 0600 files: give ``tmp`` the mode ``dest`` has, or a plain open()'s."""
    if dest.exists():
        shutil.copymode(dest, tmp)
        return
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
