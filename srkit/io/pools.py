"""Degradation pools: blur kernels and noise patches estimated from a camera's photos (HDF5).

Schema version 2 (documented in docs/pool-format.md)::

    /                       attrs: format="srkit-pool", schema_version=2, creator="srkit X.Y"
    /kernels/x{S}/kernel    (N, k, k) float32   each sums to 1, centre of mass at the centre
    /kernels/x{S}/source    (N,) str            source photo file name
    /kernels/x{S}/source_sha256  (N,) str       content hash (re-runs skip known photos)
    /kernels/x{S}/method    (N,) str            e.g. "kernelgan", "fast"
    /kernels/x{S}/flag      (N,) str            "ok" or why the estimate is doubtful
    /kernels/x{S}/settings  (N,) str            JSON of the settings that made it
    /noise/patch            (N, p, p, 3) float32  zero mean per channel, on the [0, 1] scale
    /noise/source, /noise/source_sha256, /noise/settings  (N,) str
    /noise/position         (N, 2) int32        (row, col) of the window in the source photo
    /photos/source, /photos/source_sha256, /photos/jpeg_method  (P,) str   one per photo seen
    /photos/jpeg_quality    (P,) int16          estimated JPEG quality, -1 = not a JPEG

Version 1 (no ``/photos``) is still read: its pools simply have no compression data. The
first write to a version-1 pool makes it version 2.

Every write (:func:`pool_writer`, and :func:`append_kernels`, :func:`append_noise`,
:func:`remove_noise` and :func:`srkit.io.pool_merge.merge_pools` built on it) goes to a
temporary copy that replaces the pool only when complete, so a crash never leaves a broken
pool. Readers validate and say what is wrong in one line.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from srkit.errors import SrkitError
from srkit.io.atomic import atomic_path
from srkit.io.locks import file_lock

FORMAT = "srkit-pool"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
_STR = h5py.string_dtype("utf-8")
_KERNEL_META = ("source", "source_sha256", "method", "flag", "settings")
_NOISE_META = ("source", "source_sha256", "settings")
_PHOTO_META = ("source", "source_sha256", "jpeg_method")


@dataclass
class KernelEntry:
    """One estimated kernel, ready to append to a pool."""

    kernel: np.ndarray
    scale: int
    source: str
    source_sha256: str
    method: str
    settings: dict = field(default_factory=dict)
    flag: str = "ok"


@dataclass
class NoiseEntry:
    """One noise patch ``(p, p, 3)``, zero mean per channel."""

    patch: np.ndarray
    source: str
    source_sha256: str
    position: tuple[int, int]
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PhotoEntry:
    """What a pool knows about one source photo as a whole: its JPEG compression."""

    source: str
    source_sha256: str
    jpeg_quality: int | None  # None: no sign of JPEG compression
    jpeg_method: str  # "tables", "ghost" or "none" (srkit.ops.jpeg_quality)


@dataclass
class KernelSet:
    """The kernels of one scale, fully in memory (they are small)."""

    scale: int
    kernels: np.ndarray  # (N, k, k)
    source: list[str]
    source_sha256: list[str]
    method: list[str]
    flag: list[str]
    settings: list[dict]

    def __len__(self) -> int:
        return int(self.kernels.shape[0])


@dataclass
class Pool:
    """A validated pool. Kernels are loaded; noise patches are read on demand."""

    path: Path
    schema_version: int
    creator: str
    kernel_sets: dict[int, KernelSet]
    noise_count: int
    noise_patch_size: int
    noise_source: list[str]
    noise_source_sha256: list[str]
    noise_settings: list[dict]
    noise_position: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int32))
    photos: list[PhotoEntry] = field(default_factory=list)  # the last entry per photo

    def jpeg_qualities(self) -> list[int]:
        """The JPEG quality of every photo that was JPEG-compressed (one per photo)."""
        return [p.jpeg_quality for p in self.photos if p.jpeg_quality is not None]

    def noise_grey_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Grey mean and variance (0–255 scale) of the window of every noise patch, from
        its settings (NaN where collect-noise did not record them)."""
        def value(settings: dict, key: str) -> float:
            number = settings.get(key)
            return float(number) if isinstance(number, (int, float)) else np.nan

        return (np.array([value(s, "grey_mean") for s in self.noise_settings]),
                np.array([value(s, "grey_variance") for s in self.noise_settings]))

    def kernels(self, scale: int) -> KernelSet:
        """The kernels for ``scale``; a clear error when the pool has none at that scale."""
        if scale not in self.kernel_sets:
            have = ", ".join(f"x{s}" for s in sorted(self.kernel_sets)) or "none"
            raise SrkitError(f"{self.path}: no x{scale} kernels in this pool (it has: {have}); "
                             f"run srkit estimate-kernels -x {scale}")
        return self.kernel_sets[scale]

    def noise_patch(self, index: int) -> np.ndarray:
        """Read one noise patch ``(p, p, 3)`` float32."""
        if not 0 <= index < self.noise_count:
            raise IndexError(f"noise patch {index} out of range (pool has {self.noise_count})")
        with h5py.File(self.path, "r") as handle:
            return np.asarray(handle["noise/patch"][index], dtype=np.float32)

    def noise_patches(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Read several noise patches ``(n, p, p, 3)`` (all when ``indices`` is None)."""
        with h5py.File(self.path, "r") as handle:
            data = handle["noise/patch"]
            if indices is None:
                return np.asarray(data[...], dtype=np.float32)
            order = np.argsort(indices)
            sorted_idx = np.asarray(indices)[order]
            unique, inverse = np.unique(sorted_idx, return_inverse=True)
            values = np.asarray(data[unique.tolist()], dtype=np.float32)[inverse]
            out = np.empty_like(values)
            out[order] = values
            return out

    def iter_noise(self, block: int = 64) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, patches)`` blocks of at most ``block`` patches, in pool order.

        Memory stays bounded by one block (a 256×256 patch is 0.8 MB) whatever the pool size.
        """
        if self.noise_count == 0:
            return
        with h5py.File(self.path, "r") as handle:
            data = handle["noise/patch"]
            for start in range(0, self.noise_count, block):
                yield start, np.asarray(data[start:start + block], dtype=np.float32)


def _strings(dataset: h5py.Dataset) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in dataset[...]]


def _attr_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _dataset(group: h5py.Group, name: str, path: Path) -> h5py.Dataset:
    item = group.get(name)
    if not isinstance(item, h5py.Dataset):
        raise SrkitError(f"{path}: pool is missing the dataset {group.name.rstrip('/')}/{name}")
    return item


def _json_list(values: list[str], where: str, path: Path) -> list[dict]:
    try:
        return [json.loads(v) for v in values]
    except json.JSONDecodeError:
        raise SrkitError(f"{path}: {where} holds text that is not JSON") from None


def read_pool(path: str | Path) -> Pool:
    """Open and validate a pool; :class:`SrkitError` explains what is wrong in one line."""
    path = Path(path)
    if not path.exists():
        raise SrkitError(f"{path}: no such pool file")
    if path.is_dir():
        raise SrkitError(f"{path}: is a folder, not a pool file")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise SrkitError(f"{path}: not an HDF5 file, so not an srkit pool") from None
    with handle:
        if _attr_str(handle.attrs.get("format", "")) != FORMAT:
            raise SrkitError(f"{path}: an HDF5 file but not an srkit pool "
                             "(no format='srkit-pool' attribute)")
        try:
            version = int(handle.attrs.get("schema_version", -1))
        except (TypeError, ValueError):
            version = -1
        if version not in READABLE_VERSIONS:
            raise SrkitError(f"{path}: pool schema version {version}, but this srkit reads "
                             f"versions {', '.join(map(str, READABLE_VERSIONS))}")
        kernel_sets = {}
        kernels_group = handle.get("kernels")
        if kernels_group is not None and not isinstance(kernels_group, h5py.Group):
            raise SrkitError(f"{path}: /kernels should be a group of x{{S}} groups")
        for name, group in (kernels_group or {}).items():
            if not name.startswith("x") or not name[1:].isdigit() \
                    or not isinstance(group, h5py.Group):
                raise SrkitError(f"{path}: unexpected kernel group /kernels/{name}")
            scale = int(name[1:])
            kernels = np.asarray(_dataset(group, "kernel", path)[...], dtype=np.float32)
            if kernels.ndim != 3 or kernels.shape[1] != kernels.shape[2]:
                raise SrkitError(f"{path}: /kernels/{name}/kernel has shape "
                                 f"{kernels.shape}, expected (N, k, k)")
            meta = {key: _strings(_dataset(group, key, path)) for key in _KERNEL_META}
            if any(len(v) != len(kernels) for v in meta.values()):
                raise SrkitError(f"{path}: /kernels/{name} datasets differ in length")
            kernel_sets[scale] = KernelSet(
                scale, kernels, meta["source"], meta["source_sha256"], meta["method"],
                meta["flag"], _json_list(meta["settings"], f"/kernels/{name}/settings", path))
        noise_group = handle.get("noise")
        if noise_group is None:
            meta = {key: [] for key in _NOISE_META}
            noise_count, patch_size = 0, 0
            position = np.zeros((0, 2), np.int32)
        else:
            if not isinstance(noise_group, h5py.Group):
                raise SrkitError(f"{path}: /noise should be a group")
            shape = _dataset(noise_group, "patch", path).shape
            if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
                raise SrkitError(f"{path}: /noise/patch has shape {shape}, "
                                 "expected (N, p, p, 3)")
            noise_count, patch_size = int(shape[0]), int(shape[1])
            meta = {key: _strings(_dataset(noise_group, key, path)) for key in _NOISE_META}
            position = np.asarray(_dataset(noise_group, "position", path)[...], dtype=np.int32)
            if position.shape != (noise_count, 2):
                raise SrkitError(f"{path}: /noise/position has shape {position.shape}, "
                                 f"expected ({noise_count}, 2)")
            if any(len(v) != noise_count for v in meta.values()):
                raise SrkitError(f"{path}: /noise datasets differ in length")
        return Pool(path, version, _attr_str(handle.attrs.get("creator", "")), kernel_sets,
                    noise_count, patch_size, meta["source"], meta["source_sha256"],
                    _json_list(meta["settings"], "/noise/settings", path), position,
                    _read_photos(handle, path))


def _read_photos(handle: h5py.File, path: Path) -> list[PhotoEntry]:
    group = handle.get("photos")
    if group is None:
        return []
    if not isinstance(group, h5py.Group):
        raise SrkitError(f"{path}: /photos should be a group")
    meta = {key: _strings(_dataset(group, key, path)) for key in _PHOTO_META}
    quality = np.asarray(_dataset(group, "jpeg_quality", path)[...]).astype(int)
    if any(len(v) != len(quality) for v in meta.values()):
        raise SrkitError(f"{path}: /photos datasets differ in length")
    latest = {}  # a re-collected photo's newest entry wins
    for source, sha, method, q in zip(meta["source"], meta["source_sha256"],
                                      meta["jpeg_method"], quality.tolist(), strict=True):
        latest[sha] = PhotoEntry(source, sha, None if q < 1 else int(q), method)
    return list(latest.values())


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
                             dtype=values.dtype if values.dtype != object else _STR, **packed)
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
        for key in _PHOTO_META:
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
        for key in _KERNEL_META:
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
        for key in _NOISE_META:
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


def known_kernel_sources(path: str | Path, scale: int, method: str | None = None) -> set[str]:
    """Content hashes of photos that already have an x``scale`` kernel (of ``method``)."""
    path = Path(path)
    if not path.exists():
        return set()
    pool = read_pool(path)
    if scale not in pool.kernel_sets:
        return set()
    kernel_set = pool.kernel_sets[scale]
    return {sha for sha, m in zip(kernel_set.source_sha256, kernel_set.method, strict=True)
            if method is None or m == method}


def known_noise_sources(path: str | Path) -> set[str]:
    """Content hashes of photos whose noise has already been collected."""
    path = Path(path)
    return set(read_pool(path).noise_source_sha256) if path.exists() else set()
