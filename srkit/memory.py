"""Keep freed memory mapped while a network runs tile after tile (glibc only).

A convolution network's activations are tens of megabytes each. glibc's ``malloc`` serves
blocks that large with ``mmap`` and gives them back with ``munmap`` when they are freed, so
every layer of every tile maps fresh pages and the kernel zero-fills them, one page fault
per 4 KiB: on a compact ×4 network that was about half of the forward pass's time.
:func:`keep_freed_memory` tells ``malloc`` (``mallopt``) to serve every block from its heap
and never to trim it, so the pages of one tile's activations are reused by the next; on
leaving it restores glibc's defaults and returns the free heap to the system
(``malloc_trim``). Peak memory does not grow: the same blocks are reused, not added to.

Nothing is changed where the C library is not glibc, or where the user set any
``MALLOC_*`` variable (then their settings rule).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterator

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536


def _glibc():
    if not sys.platform.startswith("linux") or any(k.startswith("MALLOC_") for k in os.environ):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError on musl and others
        return libc
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def keep_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Within the block, freed blocks stay mapped for reuse (see the module docstring).

    Yields whether the setting took effect (False off glibc, with ``MALLOC_*`` set, or
    when ``enabled`` is False).
    """
    libc = _glibc() if enabled else None
    active = bool(libc and libc.mallopt(_M_MMAP_MAX, 0) and
                  libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    try:
        yield active
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
            libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
            libc.malloc_trim(0)
