"""Writing degradation pools (the layout: :mod:`srkit.io.pools`, docs/pool-format.md).

Every write (:func:`pool_writer`, and :func:`append_kernels`, :func:`append_noise`,
:func:`remove_noise` and :func:`srkit.io.pool_merge.merge_pools` built on it) goes to a
temporary copy that replaces the pool only when complete, so a crash never leaves a broken
pool, and holds the pool's lock (:mod:`srkit.io.locks`), so that writers take turns.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np

from srkit.errors import SrkitError
from srkit.io.atomic import atomic_path
from srkit.io.locks import file_lock
from srkit.io.pools import (
    FORMAT,
    KERNEL_META,
    NOISE_META,
    PHOTO_META,
    SCHEMA_VERSION,
    STR_DTYPE,
    KernelEntry,
    NoiseEntry,
    PhotoEntry,
    Pool,
    read_pool,
)


def stamp_new_pool(handle: h5py.File) -> None:
    from srkit import __version__

    handle.attrs["format"] = FORMAT
    handle.attrs["schema_version"] = SCHEMA_VERSION
    handle.attrs["creator"] = f"srkit {__version__}"


def _append(group: h5py.Group, name: str, values: np.ndarray) -> None:
    if name not in group:
        maxshape = (None, *values.shape[1:])
        chunks = (1, *values.shape[1:]) if values.ndim > 1 else True
        # kernels and noise patches losslessly compressed: patches of 8-bit photos take few
        # distinct values (a real pool: 42 → 2.2 MB); every HDF5 reader has the gzip filter
        packed = {"compression": "gzip", "compression_opts": 4, "shuffle": True} \
            if values.ndim > 2 else {}  # not the (N, 2) positions: chunks of 16 bytes
        group.create_dataset(name, data=values, maxshape=maxshape, chunks=chunks,
                             dtype=values.dtype if values.dtype != object else STR_DTYPE, **packed)
        return
    data = group[name]
    if data.shape[1:] != values.shape[1:]:
        raise SrkitError(f"cannot append {name} of shape {values.shape[1:]} to a pool holding "
                         f"shape {data.shape[1:]}")
    start = data.shape[0]
    data.resize(start + len(values), axis=0)
    data[start:] = values


def _str_array(values: Sequence[str]) -> np.ndarray:
    return np.array(list(values), dtype=object)


class _Unchanged(Exception):
    """Raised inside :func:`pool_writer` to discard a temporary copy nobody wrote to."""


class PoolWriter:
    """Appends to the temporary copy of a pool opened by :func:`pool_writer`.

    Nothing reaches the real pool file until the ``with`` block ends without an exception.
    """

    def __init__(self, handle: h5py.File, path: Path, removed: int = 0) -> None:
        self.handle = handle
        self.path = path
        self.removed = removed  # noise patches dropped when the writer was opened
        self.added_kernels = 0
        self.added_noise = 0
        self.added_photos = 0
        # set by pool_writer: what another process already wrote (see _skip_keys)
        self.skip_noise_sha256: set[str] = set()
        self.skip_kernel_keys: set[str] = set()
        self.added_keys: set[str] = set()  # what was added, for the lock's journal

    @property
    def noise_patch_size(self) -> int:
        """Side of the noise patches already in the pool (0 when it has none)."""
        data = self.handle.get("noise/patch")
        return int(data.shape[1]) if data is not None and data.shape[0] else 0

    def append_kernels(self, entries: Sequence[KernelEntry]) -> int:
        """Append kernels (grouped by scale), leaving out those another process has added
        since this one started. Returns how many were added."""
        entries = [e for e in entries if _kernel_key(e.scale, e.method, e.source_sha256)
                   not in self.skip_kernel_keys]
        by_scale: dict[int, list[KernelEntry]] = {}
        for entry in entries:
            kernel = np.asarray(entry.kernel, dtype=np.float32)
            if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] \
                    or not np.isfinite(kernel).all():
                raise ValueError(f"kernel from {entry.source} must be a finite square 2-D array")
            by_scale.setdefault(int(entry.scale), []).append(entry)
        for scale, group_entries in by_scale.items():
            self.append_kernel_arrays(
                scale, np.stack([np.asarray(e.kernel, np.float32) for e in group_entries]),
                {"source": [e.source for e in group_entries],
                 "source_sha256": [e.source_sha256 for e in group_entries],
                 "method": [e.method for e in group_entries],
                 "flag": [e.flag for e in group_entries],
                 "settings": [json.dumps(e.settings, sort_keys=True) for e in group_entries]})
        self.added_keys.update(_kernel_key(e.scale, e.method, e.source_sha256) for e in entries)
        return len(entries)

    def append_noise(self, entries: Sequence[NoiseEntry]) -> int:
        """Append noise patches ``(p, p, 3)``, leaving out photos whose patches another
        process has added since this one started. Returns how many were added."""
        entries = [e for e in entries if e.source_sha256 not in self.skip_noise_sha256]
        if not entries:
            return 0
        patches = np.stack([np.asarray(e.patch, dtype=np.float32) for e in entries])
        if patches.ndim != 4 or patches.shape[1] != patches.shape[2] or patches.shape[3] != 3:
            raise ValueError(f"noise patches must be (p, p, 3), got {patches.shape[1:]}")
        if not np.isfinite(patches).all():
            raise ValueError("noise patches must be finite")
        self.append_noise_arrays(
            patches, np.array([e.position for e in entries], dtype=np.int32),
            {"source": [e.source for e in entries],
             "source_sha256": [e.source_sha256 for e in entries],
             "settings": [json.dumps(e.settings, sort_keys=True) for e in entries]})
        self.added_keys.update(_noise_key(e.source_sha256) for e in entries)
        return len(entries)

    def append_photos(self, entries: Sequence[PhotoEntry]) -> int:
        """Record photos' compression (a later entry of the same photo replaces it)."""
        if not entries:
            return 0
        group = self.handle.require_group("photos")
        for key in PHOTO_META:
            _append(group, key, _str_array([getattr(e, key) for e in entries]))
        _append(group, "jpeg_quality", np.array([-1 if e.jpeg_quality is None
                                                 else int(e.jpeg_quality) for e in entries],
                                                dtype=np.int16))
        self.handle.attrs["schema_version"] = SCHEMA_VERSION  # a version-1 pool upgrades
        self.added_photos += len(entries)
        return len(entries)

    def append_kernel_arrays(self, scale: int, kernels: np.ndarray,
                              meta: dict[str, list[str]]) -> None:
        group = self.handle.require_group(f"kernels/x{scale}")
        if "kernel" in group and group["kernel"].shape[1:] != kernels.shape[1:]:
            have = group["kernel"].shape[1]
            raise SrkitError(f"{self.path}: pool holds {have}×{have} x{scale} kernels; cannot "
                             f"add {kernels.shape[1]}×{kernels.shape[2]} ones")
        _append(group, "kernel", kernels.astype(np.float32))
        for key in KERNEL_META:
            _append(group, key, _str_array(meta[key]))
        self.added_kernels += len(kernels)

    def append_noise_arrays(self, patches: np.ndarray, positions: np.ndarray,
                             meta: dict[str, list[str]]) -> None:
        have = self.noise_patch_size
        if have and patches.shape[1] != have:
            size = patches.shape[1]
            raise SrkitError(f"{self.path}: pool holds {have}×{have} noise patches; cannot add "
                             f"{size}×{size} ones (a pool holds one patch size: use another "
                             f"pool, or the same window size)")
        group = self.handle.require_group("noise")
        _append(group, "patch", patches.astype(np.float32))
        for key in NOISE_META:
            _append(group, key, _str_array(meta[key]))
        _append(group, "position", positions.astype(np.int32).reshape(-1, 2))
        self.added_noise += len(patches)


def _copy_pool(src_path: Path, dst_path: Path, noise_keep: np.ndarray) -> None:
    """Write a compact copy of a pool holding only the noise rows where ``noise_keep``."""
    rows = np.flatnonzero(noise_keep)
    with h5py.File(src_path, "r") as src, h5py.File(dst_path, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            if name != "noise":
                src.copy(src[name], dst, name=name)
        if not len(rows):
            return  # no patch left: drop the group so a new patch size can start afresh
        group = dst.create_group("noise")
        for name, data in src["noise"].items():
            out = group.create_dataset(name, shape=(len(rows), *data.shape[1:]),
                                       maxshape=(None, *data.shape[1:]),
                                       chunks=data.chunks or True, dtype=data.dtype,
                                       compression=data.compression,
                                       compression_opts=data.compression_opts,
                                       shuffle=data.shuffle)
            for start in range(0, len(rows), 64):
                block = rows[start:start + 64]
                out[start:start + len(block)] = data[block]


@contextlib.contextmanager
def pool_writer(path: str | Path, *, drop_noise_sha256: Iterable[str] = ()
                ) -> Iterator[PoolWriter]:
    """Open a pool for appending, atomically: ``with pool_writer(p) as w: w.append_noise(...)``.

    Works on a temporary copy beside the pool that replaces it only when the block ends
    without an exception, so a crash or Ctrl-C leaves the old pool (or none) intact. The pool
    is created when missing. Noise patches whose source hash is in ``drop_noise_sha256`` are
    left out of the copy (``--redo`` replaces a photo's patches this way). A block that
    neither adds nor drops anything leaves the file untouched.

    Writers take turns: the whole read-copy-append-rename holds the pool's lock
    (:mod:`srkit.io.locks`), and the pool is read afresh under it, so what another process
    wrote meanwhile is kept. What another process added since this one started is not
    added twice: noise patches of the same photo (unless dropped here), kernels of the same
    photo, scale and method. Entries that were there before, or that this process wrote,
    are no reason to skip (``--redo`` adds a new kernel beside the old one).
    """
    path = Path(path)
    with file_lock(path) as lock:
        old = read_pool(path) if path.exists() else None  # refuse to touch a non-pool
        drop = set(drop_noise_sha256)
        keep = None
        if old is not None and drop:
            keep = np.array([sha not in drop for sha in old.noise_source_sha256], dtype=bool)
            if keep.all():
                keep = None
        try:
            with atomic_path(path) as tmp:
                if old is None:
                    mode = "w"
                elif keep is None:
                    shutil.copyfile(path, tmp)
                    mode = "a"
                else:
                    _copy_pool(path, tmp, keep)
                    mode = "a"
                with h5py.File(tmp, mode) as handle:
                    if mode == "w":
                        stamp_new_pool(handle)
                    writer = PoolWriter(handle, path, 0 if keep is None else int((~keep).sum()))
                    writer.skip_noise_sha256, writer.skip_kernel_keys = _skip_keys(old, drop,
                                                                                   lock)
                    yield writer
                    if not (writer.added_kernels or writer.added_noise or writer.added_photos
                            or writer.removed):
                        raise _Unchanged
            lock.added = sorted(writer.added_keys)
        except _Unchanged:
            pass


def _kernel_key(scale: int, method: str, sha256: str) -> str:
    return f"kernel x{int(scale)} {method} {sha256}"


def _noise_key(sha256: str) -> str:
    return f"noise {sha256}"


def _skip_keys(old: Pool | None, drop: set[str], lock) -> tuple[set[str], set[str]]:
    """What another process added since this one started and the pool still holds: noise
    source hashes (less those dropped here), and kernel keys."""
    if old is None:
        return set(), set()
    theirs = lock.added_by_others_since()
    noise = {sha for sha in set(old.noise_source_sha256) - drop if _noise_key(sha) in theirs}
    present = {_kernel_key(scale, m, sha) for scale, kernel_set in old.kernel_sets.items()
               for m, sha in zip(kernel_set.method, kernel_set.source_sha256, strict=True)}
    return noise, present & theirs


def append_kernels(path: str | Path, entries: Sequence[KernelEntry]) -> int:
    """Append kernels to the pool at ``path`` (created if missing). Returns how many."""
    if not entries:
        return 0
    with pool_writer(path) as writer:
        return writer.append_kernels(entries)


def append_noise(path: str | Path, entries: Sequence[NoiseEntry]) -> int:
    """Append noise patches to the pool at ``path`` (created if missing). Returns how many."""
    if not entries:
        return 0
    with pool_writer(path) as writer:
        return writer.append_noise(entries)


def remove_noise(path: str | Path, sha256s: Iterable[str]) -> int:
    """Drop the noise patches of the photos with these content hashes. Returns how many."""
    read_pool(path)  # a clear error when it is missing or not a pool
    with pool_writer(path, drop_noise_sha256=sha256s) as writer:
        return writer.removed
