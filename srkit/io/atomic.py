"""Atomic file writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``dest``'s folder; on success it is renamed to ``dest``.

    A crash or exception leaves ``dest`` untouched (either the old file or none) and removes
    the temporary file. The temporary name keeps ``dest``'s suffix so format sniffing by
    suffix (Pillow, h5py) still works.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".tmp{dest.suffix}",
                                    dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _match_mode(tmp, dest)
        os.replace(tmp, dest)
    finally:
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
