"""Degradation pools: blur kernels and noise patches estimated from a camera's photos (HDF5).

Schema version 1 (documented in docs/pool-format.md)::

    /                       attrs: format="srkit-pool", schema_version=1, creator="srkit X.Y"
    /kernels/x{S}/kernel    (N, k, k) float32   each sums to 1, centre of mass at the centre
    /kernels/x{S}/source    (N,) str            source photo file name
    /kernels/x{S}/source_sha256  (N,) str       content hash (re-runs skip known photos)
    /kernels/x{S}/method    (N,) str            e.g. "kernelgan", "fast"
    /kernels/x{S}/flag      (N,) str            "ok" or why the estimate is doubtful
    /kernels/x{S}/settings  (N,) str            JSON of the settings that made it
    /noise/patch            (N, p, p, 3) float32  zero mean per channel, on the [0, 1] scale
    /noise/source, /noise/source_sha256, /noise/settings  (N,) str
    /noise/position         (N, 2) int32        (row, col) of the window in the source photo

Every write goes to a temporary copy that replaces the pool only when complete, so a crash
never leaves a broken pool. Readers validate and say what is wrong in one line.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from srkit.errors import SrkitError
from srkit.io.atomic import atomic_path

FORMAT = "srkit-pool"
SCHEMA_VERSION = 1
_STR = h5py.string_dtype("utf-8")
_KERNEL_META = ("source", "source_sha256", "method", "flag", "settings")
_NOISE_META = ("source", "source_sha256", "settings")


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


def file_sha256(path: str | Path) -> str:
    """Content hash of a file, so that a photo is recognised under any name."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _strings(dataset: h5py.Dataset) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in dataset[...]]


def read_pool(path: str | Path) -> Pool:
    """Open and validate a pool; :class:`SrkitError` explains what is wrong in one line."""
    path = Path(path)
    if not path.exists():
        raise SrkitError(f"{path}: no such pool file")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise SrkitError(f"{path}: not an HDF5 file, so not an srkit pool") from None
    with handle:
        if handle.attrs.get("format") != FORMAT:
            raise SrkitError(f"{path}: an HDF5 file but not an srkit pool "
                             "(no format='srkit-pool' attribute)")
        version = int(handle.attrs.get("schema_version", -1))
        if version != SCHEMA_VERSION:
            raise SrkitError(f"{path}: pool schema version {version}, but this srkit reads "
                             f"version {SCHEMA_VERSION}")
        try:
            kernel_sets = {}
            for name, group in handle.get("kernels", {}).items():
                if not name.startswith("x") or not name[1:].isdigit():
                    raise SrkitError(f"{path}: unexpected kernel group /kernels/{name}")
                scale = int(name[1:])
                kernels = np.asarray(group["kernel"][...], dtype=np.float32)
                if kernels.ndim != 3 or kernels.shape[1] != kernels.shape[2]:
                    raise SrkitError(f"{path}: /kernels/{name}/kernel has shape "
                                     f"{kernels.shape}, expected (N, k, k)")
                meta = {key: _strings(group[key]) for key in _KERNEL_META}
                if any(len(v) != len(kernels) for v in meta.values()):
                    raise SrkitError(f"{path}: /kernels/{name} datasets differ in length")
                kernel_sets[scale] = KernelSet(
                    scale, kernels, meta["source"], meta["source_sha256"], meta["method"],
                    meta["flag"], [json.loads(s) for s in meta["settings"]])
            if "noise" in handle:
                group = handle["noise"]
                shape = group["patch"].shape
                if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
                    raise SrkitError(f"{path}: /noise/patch has shape {shape}, "
                                     "expected (N, p, p, 3)")
                meta = {key: _strings(group[key]) for key in _NOISE_META}
                noise_count, patch_size = int(shape[0]), int(shape[1])
            else:
                meta = {key: [] for key in _NOISE_META}
                noise_count, patch_size = 0, 0
        except KeyError as error:
            raise SrkitError(f"{path}: pool is missing a dataset ({error})") from None
        return Pool(path, version, str(handle.attrs.get("creator", "")), kernel_sets,
                    noise_count, patch_size, meta["source"], meta["source_sha256"],
                    [json.loads(s) for s in meta["settings"]])


def _new_pool(handle: h5py.File) -> None:
    from srkit import __version__

    handle.attrs["format"] = FORMAT
    handle.attrs["schema_version"] = SCHEMA_VERSION
    handle.attrs["creator"] = f"srkit {__version__}"


def _append(group: h5py.Group, name: str, values: np.ndarray) -> None:
    if name not in group:
        maxshape = (None, *values.shape[1:])
        chunks = (1, *values.shape[1:]) if values.ndim > 1 else True
        group.create_dataset(name, data=values, maxshape=maxshape, chunks=chunks,
                             dtype=values.dtype if values.dtype != object else _STR)
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


def _open_for_append(path: Path):
    """Context manager: a writable temporary copy of ``path`` that replaces it on success."""
    import contextlib

    @contextlib.contextmanager
    def manager():
        if path.exists():
            read_pool(path)  # refuse to touch something that is not a pool
        with atomic_path(path) as tmp:
            if path.exists():
                shutil.copyfile(path, tmp)
                mode = "a"
            else:
                mode = "w"
            with h5py.File(tmp, mode) as handle:
                if mode == "w":
                    _new_pool(handle)
                yield handle

    return manager()


def append_kernels(path: str | Path, entries: Sequence[KernelEntry]) -> int:
    """Append kernels to the pool at ``path`` (created if missing). Returns how many."""
    if not entries:
        return 0
    path = Path(path)
    by_scale: dict[int, list[KernelEntry]] = {}
    for entry in entries:
        kernel = np.asarray(entry.kernel, dtype=np.float32)
        if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or not np.isfinite(kernel).all():
            raise ValueError(f"kernel from {entry.source} must be a finite square 2-D array")
        by_scale.setdefault(entry.scale, []).append(entry)
    with _open_for_append(path) as handle:
        for scale, group_entries in by_scale.items():
            group = handle.require_group(f"kernels/x{scale}")
            _append(group, "kernel", np.stack([np.asarray(e.kernel, np.float32)
                                               for e in group_entries]))
            _append(group, "source", _str_array(e.source for e in group_entries))
            _append(group, "source_sha256", _str_array(e.source_sha256 for e in group_entries))
            _append(group, "method", _str_array(e.method for e in group_entries))
            _append(group, "flag", _str_array(e.flag for e in group_entries))
            _append(group, "settings", _str_array(json.dumps(e.settings, sort_keys=True)
                                                  for e in group_entries))
    return len(entries)


def append_noise(path: str | Path, entries: Sequence[NoiseEntry]) -> int:
    """Append noise patches to the pool at ``path`` (created if missing). Returns how many."""
    if not entries:
        return 0
    path = Path(path)
    patches = np.stack([np.asarray(e.patch, dtype=np.float32) for e in entries])
    if patches.ndim != 4 or patches.shape[1] != patches.shape[2] or patches.shape[3] != 3:
        raise ValueError(f"noise patches must be (p, p, 3), got {patches.shape[1:]}")
    with _open_for_append(path) as handle:
        group = handle.require_group("noise")
        _append(group, "patch", patches)
        _append(group, "source", _str_array(e.source for e in entries))
        _append(group, "source_sha256", _str_array(e.source_sha256 for e in entries))
        _append(group, "settings", _str_array(json.dumps(e.settings, sort_keys=True)
                                              for e in entries))
        _append(group, "position", np.array([e.position for e in entries], dtype=np.int32))
    return len(entries)


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
