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

Reading lives here (:func:`read_pool` validates and says what is wrong in one line); writing
in :mod:`srkit.io.pool_writer`, merging in :mod:`srkit.io.pool_merge`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from srkit.errors import SrkitError

FORMAT = "srkit-pool"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
STR_DTYPE = h5py.string_dtype("utf-8")
KERNEL_META = ("source", "source_sha256", "method", "flag", "settings")
NOISE_META = ("source", "source_sha256", "settings")
PHOTO_META = ("source", "source_sha256", "jpeg_method")


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
            meta = {key: _strings(_dataset(group, key, path)) for key in KERNEL_META}
            if any(len(v) != len(kernels) for v in meta.values()):
                raise SrkitError(f"{path}: /kernels/{name} datasets differ in length")
            kernel_sets[scale] = KernelSet(
                scale, kernels, meta["source"], meta["source_sha256"], meta["method"],
                meta["flag"], _json_list(meta["settings"], f"/kernels/{name}/settings", path))
        noise_group = handle.get("noise")
        if noise_group is None:
            meta = {key: [] for key in NOISE_META}
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
            meta = {key: _strings(_dataset(noise_group, key, path)) for key in NOISE_META}
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
    meta = {key: _strings(_dataset(group, key, path)) for key in PHOTO_META}
    quality = np.asarray(_dataset(group, "jpeg_quality", path)[...]).astype(int)
    if any(len(v) != len(quality) for v in meta.values()):
        raise SrkitError(f"{path}: /photos datasets differ in length")
    latest = {}  # a re-collected photo's newest entry wins
    for source, sha, method, q in zip(meta["source"], meta["source_sha256"],
                                      meta["jpeg_method"], quality.tolist(), strict=True):
        latest[sha] = PhotoEntry(source, sha, None if q < 1 else int(q), method)
    return list(latest.values())


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
