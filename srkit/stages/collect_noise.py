"""``srkit collect-noise``: RealSR's noise patches from a camera's photos, into a pool.

Each photo is cut into ``window × window`` windows ``stride`` apart. A window is kept when
it is flat — grey-level variance < ``max_variance`` and mean > ``min_mean`` on the 0–255
scale (RealSR, Sec. 3.3: 256, 256, 20; the minimum mean is 0 in RealSR's DF2K setting and
50 for the dark DPED phone photos) — and contains no transparent pixel. Its per-channel mean
is subtracted, leaving the camera's noise, stored as ``(p, p, 3)`` float32 on the [0, 1]
scale with the window's position and the settings. Photos already in the pool (by content
hash) are skipped, or replaced with ``redo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError
from srkit.io.hashing import file_sha256
from srkit.io.images import LoadedImage, SkipLog, list_images
from srkit.io.pools import NoiseEntry, pool_writer, read_pool
from srkit.ops.noise_stats import (
    flat_window_mask,
    grey_levels,
    window_grey_stats,
    window_positions,
    zero_mean_patch,
)

METHOD = "realsr-flat-windows"


@dataclass
class PhotoNoise:
    """What happened to one input photo.

    ``status`` is one of ``collected`` (scanned; ``kept`` may be 0), ``known`` (already in
    the pool), ``duplicate`` (same content as an earlier input), ``too-small`` and
    ``unreadable``; ``reason`` explains the last three.
    """

    path: Path
    status: str
    sha256: str = ""
    windows: int = 0
    kept: int = 0
    rejected_variance: int = 0
    rejected_mean: int = 0
    rejected_alpha: int = 0
    reason: str = ""


@dataclass
class CollectNoiseResult:
    """Summary of a :func:`collect_noise` run."""

    pool: Path
    settings: dict
    photos: list[PhotoNoise] = field(default_factory=list)
    added: int = 0  # patches written
    removed: int = 0  # old patches of re-done photos dropped (``redo``)
    pool_patches: int = 0  # patches in the pool afterwards

    def count(self, status: str) -> int:
        return sum(p.status == status for p in self.photos)

    @property
    def windows(self) -> int:
        return sum(p.windows for p in self.photos)

    @property
    def unreadable(self) -> int:
        return self.count("unreadable")


def _check_settings(window: int, stride: int, max_variance: float, min_mean: float) -> None:
    if window < 2:
        raise SrkitError(f"--window must be at least 2 pixels, got {window}")
    if stride < 1:
        raise SrkitError(f"--stride must be at least 1 pixel, got {stride}")
    if not max_variance > 0:
        raise SrkitError(f"--max-variance must be positive (grey levels², 0–255 scale), "
                         f"got {max_variance}")
    if not 0 <= min_mean < 255:
        raise SrkitError(f"--min-mean must be in [0, 255) (grey levels), got {min_mean}")


@dataclass
class FlatWindows:
    """The windows of one photo and which of them pass RealSR's flatness test."""

    windows: int  # windows scanned
    positions: np.ndarray  # (n, 2) int32 top-left (row, col) of the kept windows
    grey_mean: np.ndarray  # (n,) grey-level mean of each kept window, 0–255 scale
    grey_variance: np.ndarray  # (n,) grey-level variance, 0–255 scale
    rejected_variance: int  # variance >= max_variance
    rejected_mean: int  # flat enough but mean <= min_mean
    rejected_alpha: int  # flat but with transparent pixels


def find_flat_windows(image: LoadedImage, *, window: int, stride: int, max_variance: float,
                      min_mean: float) -> FlatWindows:
    """Apply RealSR's rule to every ``window × window`` window of ``image``, ``stride`` apart."""
    positions = window_positions(image.height, image.width, window, stride)
    means, variances = window_grey_stats(grey_levels(image.rgb), positions, window)
    flat = flat_window_mask(means, variances, max_variance, min_mean)
    opaque = np.ones(len(positions), dtype=bool)
    if image.alpha is not None:
        # Transparent pixels carry arbitrary colours, not the camera's noise.
        opaque = np.array([bool((image.alpha[r:r + window, c:c + window] >= 1.0).all())
                           for r, c in positions.tolist()], dtype=bool)
    keep = flat & opaque
    return FlatWindows(
        windows=len(positions), positions=positions[keep], grey_mean=means[keep],
        grey_variance=variances[keep],
        rejected_variance=int((variances >= max_variance).sum()),
        rejected_mean=int(((variances < max_variance) & (means <= min_mean)).sum()),
        rejected_alpha=int((flat & ~opaque).sum()))


def collect_noise(
    inputs: Sequence[str | Path] | str | Path,
    pool: str | Path,
    *,
    window: int = 256,
    stride: int = 256,
    max_variance: float = 20.0,
    min_mean: float = 0.0,
    redo: bool = False,
    strict: bool = False,
    recursive: bool = False,
) -> CollectNoiseResult:
    """Collect RealSR noise patches from photos into the pool at ``pool``.

    Args:
        inputs: image files, folders or glob patterns.
        pool: HDF5 pool, created when missing; written atomically once at the end.
        window: patch side in pixels (RealSR: 256). One pool holds one patch size.
        stride: step between windows in pixels (RealSR: 256, i.e. no overlap).
        max_variance: keep windows whose grey-level variance (0–255 scale) is below this.
        min_mean: ... and whose grey-level mean is above this (50 suits dark phone photos).
        redo: re-collect photos already in the pool, replacing their old patches.
        strict: fail on an unreadable image instead of skipping it with a warning.
        recursive: look for images in sub-folders too.

    Raises:
        SrkitError: a missing input, no images, ``pool`` not a pool, or bad settings.
    """
    from srkit.console import progress, warn

    _check_settings(window, stride, max_variance, min_mean)
    pool = Path(pool)
    paths = list_images(inputs, recursive=recursive)
    existing = read_pool(pool) if pool.exists() else None
    known = set(existing.noise_source_sha256) if existing else set()
    settings = {"method": METHOD, "window": window, "stride": stride,
                "max_variance": float(max_variance), "min_mean": float(min_mean)}
    result = CollectNoiseResult(pool=pool, settings=settings)
    skip_log = SkipLog(strict=strict)

    todo: list[PhotoNoise] = []
    seen: set[str] = set()
    for path in paths:
        try:
            sha = file_sha256(path)
        except OSError as error:
            message = f"{path}: cannot read file ({error.strerror or error})"
            if strict:
                raise SrkitError(message) from None
            warn(f"skipped {message}")
            result.photos.append(PhotoNoise(path, "unreadable",
                                            reason=message.removeprefix(f"{path}: ")))
            continue
        if sha in seen:
            result.photos.append(PhotoNoise(path, "duplicate", sha, reason="same content as an "
                                            "earlier input"))
        elif sha in known and not redo:
            result.photos.append(PhotoNoise(path, "known", sha, reason="already in the pool"))
        else:
            todo.append(PhotoNoise(path, "collected", sha))
        seen.add(sha)

    drop = {p.sha256 for p in todo} & known
    if existing is not None and existing.noise_count and existing.noise_patch_size != window:
        remaining = sum(sha not in drop for sha in existing.noise_source_sha256)
        if remaining:
            size = existing.noise_patch_size
            raise SrkitError(f"{pool}: pool holds {size}×{size} noise patches; --window {window} "
                             f"would mix sizes (use --window {size} or another pool)")

    if not todo:
        result.pool_patches = existing.noise_count if existing else 0
        return result
    with pool_writer(pool, drop_noise_sha256=drop) as writer, progress("img") as bar:
        task = bar.add_task("collecting noise", total=len(todo), status="")
        for item in todo:
            bar.update(task, status=item.path.name)
            image = skip_log.read(item.path)
            if image is None:
                message = skip_log.skipped[-1]
                item.status, item.reason = "unreadable", message.removeprefix(f"{item.path}: ")
            elif image.height < window or image.width < window:
                item.status = "too-small"
                item.reason = (f"{image.width}×{image.height} is smaller than the "
                               f"{window}×{window} window")
            else:
                found = find_flat_windows(image, window=window, stride=stride,
                                          max_variance=max_variance, min_mean=min_mean)
                item.windows, item.kept = found.windows, len(found.positions)
                item.rejected_variance = found.rejected_variance
                item.rejected_mean = found.rejected_mean
                item.rejected_alpha = found.rejected_alpha
                rows = list(zip(found.positions.tolist(), found.grey_mean,
                                found.grey_variance, strict=True))
                for start in range(0, len(rows), 64):  # bounded memory: 64 patches at a time
                    writer.append_noise([
                        NoiseEntry(zero_mean_patch(image.rgb[r:r + window, c:c + window]),
                                   item.path.name, item.sha256, (r, c),
                                   {**settings, "grey_mean": round(float(mean), 3),
                                    "grey_variance": round(float(variance), 4)})
                        for (r, c), mean, variance in rows[start:start + 64]])
            bar.advance(task)
        result.removed = writer.removed
        result.added = writer.added_noise
    result.photos.extend(todo)
    order = {path: i for i, path in enumerate(paths)}
    result.photos.sort(key=lambda p: order[p.path])
    result.pool_patches = read_pool(pool).noise_count if pool.exists() else 0
    return result
