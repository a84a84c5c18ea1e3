"""``srkit collect-noise``: a camera's noise patches from its photos, into a pool (RealSR).

Each photo is cut into ``window × window`` windows ``stride`` apart, and the windows that
hold noise alone are kept, with no transparent pixel and a grey-level mean above
``min_mean``. Two rules tell them:

* ``adaptive`` (the default): flatness is judged against the camera's own noise. The
  noise-level function ``v = a + b·μ`` (grey-level variance against brightness) is fitted to
  the windows of *all* the input photos (:mod:`srkit.ops.noise_level`), and a window is kept
  when its detrended variance is at most ``ratio`` × the noise variance at its brightness.
  32-pixel windows 16 apart suit the few-hundred-pixel LR photos of a ×4 user, and patches
  of every brightness are kept, so the pool holds the camera's signal-dependent noise.
  The kept window minus each channel's best-fitting plane is the noise patch.
* ``realsr``: RealSR's fixed rule (Ji et al. 2020, Sec. 3.3): 256-pixel windows 256 apart,
  grey-level variance < ``max_variance`` = 20 (0–255 scale); the minimum mean is 0 in
  RealSR's DF2K setting and 50 for the dark DPED phone photos. It keeps only windows
  quieter than σ ≈ 4.5 levels. The window minus its per-channel mean is the noise patch.

Patches are stored as ``(p, p, 3)`` float32 on the [0, 1] scale with the window's position,
its grey mean and variance, and the settings. Each photo's JPEG quality is estimated too
(:mod:`srkit.ops.jpeg_quality`: from its quantisation tables, or from its pixels when it was
decoded and saved again) and kept in the pool's ``/photos``, so that ``degrade --pool``
compresses like the camera. Each photo's patches reach the pool as soon as
it is done (an interrupted run keeps them, and a re-run goes on). Photos already in the pool
(by content hash) are skipped, or replaced with ``redo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError
from srkit.io.hashing import file_sha256
from srkit.io.images import LoadedImage, SkipLog, list_images, read_image
from srkit.io.pool_writer import pool_writer
from srkit.io.pools import NoiseEntry, PhotoEntry, read_pool
from srkit.ops.jpeg_quality import estimate_jpeg_quality
from srkit.ops.noise_level import (
    ADAPTIVE_METHOD,
    NOISE_QUANTILE,
    NOISE_RATIO,
    NoiseLevel,
    detrended_patch,
    explained_by_noise,
    fit_noise_level,
    window_stats,
)
from srkit.ops.noise_stats import (
    flat_window_mask,
    grey_levels,
    window_grey_stats,
    window_positions,
    zero_mean_patch,
)

METHOD = "realsr-flat-windows"
RULES = ("adaptive", "realsr")
# window and stride of each rule when not given
RULE_WINDOWS = {"adaptive": (32, 16), "realsr": (256, 256)}
# Fewer patches than this, or patches of fewer brightness bands (of 8), cannot model a camera.
MIN_PATCHES = 16
MIN_BANDS = 3


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
    jpeg_quality: int | None = None  # estimated (srkit.ops.jpeg_quality); None: not a JPEG
    jpeg_method: str = ""  # how: "tables", "ghost" or "none" ("" when not looked at)


@dataclass
class CollectNoiseResult:
    """Summary of a :func:`collect_noise` run."""

    pool: Path
    settings: dict
    photos: list[PhotoNoise] = field(default_factory=list)
    added: int = 0  # patches written
    removed: int = 0  # old patches of re-done photos dropped (``redo``)
    pool_patches: int = 0  # patches in the pool afterwards
    noise_level: NoiseLevel | None = None  # the camera's, fitted by the adaptive rule
    advice: str = ""  # why the pool may not model the camera, and what to do

    def count(self, status: str) -> int:
        return sum(p.status == status for p in self.photos)

    @property
    def windows(self) -> int:
        return sum(p.windows for p in self.photos)

    @property
    def unreadable(self) -> int:
        return self.count("unreadable")


def _check_settings(rule: str, window: int, stride: int, max_variance: float,
                    min_mean: float, ratio: float) -> None:
    if rule not in RULES:
        raise SrkitError(f"--rule must be one of {', '.join(RULES)}, got {rule!r}")
    if window < 2:
        raise SrkitError(f"--window must be at least 2 pixels, got {window}")
    if stride < 1:
        raise SrkitError(f"--stride must be at least 1 pixel, got {stride}")
    if not max_variance > 0:
        raise SrkitError(f"--max-variance must be positive (grey levels², 0–255 scale), "
                         f"got {max_variance}")
    if not 0 <= min_mean < 255:
        raise SrkitError(f"--min-mean must be in [0, 255) (grey levels), got {min_mean}")
    if not ratio >= 1:
        raise SrkitError(f"--ratio must be at least 1 (a window's variance over the noise "
                         f"variance), got {ratio}")


@dataclass
class FlatWindows:
    """The windows of one photo and which of them pass RealSR's flatness test."""

    windows: int  # windows scanned
    positions: np.ndarray  # (n, 2) int32 top-left (row, col) of the kept windows
    grey_mean: np.ndarray  # (n,) grey-level mean of each kept window, 0–255 scale
    grey_variance: np.ndarray  # (n,) grey-level variance, 0–255 scale
    rejected_variance: int  # not explained by the noise (adaptive) or >= max_variance
    rejected_mean: int  # flat enough but mean <= min_mean
    rejected_alpha: int  # flat but with transparent pixels


def find_flat_windows(image: LoadedImage, *, window: int, stride: int, max_variance: float,
                      min_mean: float, noise_level: NoiseLevel | None = None,
                      ratio: float = NOISE_RATIO) -> FlatWindows:
    """The windows of ``image`` (``window × window``, ``stride`` apart) that hold noise alone:
    explained by ``noise_level`` (the adaptive rule; variances are detrended) or, when it is
    None, below ``max_variance`` (RealSR's rule)."""
    positions = window_positions(image.height, image.width, window, stride)
    if noise_level is None:
        means, variances = window_grey_stats(grey_levels(image.rgb), positions, window)
        flat = flat_window_mask(means, variances, max_variance, min_mean)
        varied = variances >= max_variance
    else:
        stats = window_stats(grey_levels(image.rgb), positions, window)
        means, variances = stats.mean, stats.detrended
        varied = ~explained_by_noise(stats, noise_level, ratio)
        flat = ~varied & (means > min_mean)
    opaque = np.ones(len(positions), dtype=bool)
    if image.alpha is not None:
        # Transparent pixels carry arbitrary colours, not the camera's noise.
        opaque = np.array([bool((image.alpha[r:r + window, c:c + window] >= 1.0).all())
                           for r, c in positions.tolist()], dtype=bool)
    keep = flat & opaque
    return FlatWindows(
        windows=len(positions), positions=positions[keep], grey_mean=means[keep],
        grey_variance=variances[keep],
        rejected_variance=int(varied.sum()),
        rejected_mean=int((~varied & (means <= min_mean)).sum()),
        rejected_alpha=int((flat & ~opaque).sum()))


def collect_noise(
    inputs: Sequence[str | Path] | str | Path,
    pool: str | Path,
    *,
    rule: str = "adaptive",
    window: int | None = None,
    stride: int | None = None,
    max_variance: float = 20.0,
    ratio: float = NOISE_RATIO,
    min_mean: float = 0.0,
    redo: bool = False,
    strict: bool = False,
    recursive: bool = False,
) -> CollectNoiseResult:
    """Collect a camera's noise patches from its photos into the pool at ``pool``.

    Args:
        inputs: image files, folders or glob patterns (photos of one camera).
        pool: HDF5 pool, created when missing; each photo's patches are written atomically
            when that photo is done.
        rule: ``adaptive`` (flatness against the camera's fitted noise level) or ``realsr``
            (a fixed grey-level variance below ``max_variance``); see the module doc.
        window: patch side in pixels (adaptive: 32, realsr: 256). One pool holds one size.
        stride: step between windows in pixels (adaptive: 16, realsr: 256).
        max_variance: realsr: keep windows whose grey-level variance (0–255) is below this.
        ratio: adaptive: keep windows whose variance is at most this × the noise variance.
        min_mean: ... and whose grey-level mean is above this (50 suits dark phone photos).
        redo: re-collect photos already in the pool, replacing their old patches.
        strict: fail on an unreadable image instead of skipping it with a warning.
        recursive: look for images in sub-folders too.

    Raises:
        SrkitError: a missing input, no images, ``pool`` not a pool, or bad settings.
    """
    from srkit.console import progress, warn

    default_window, default_stride = RULE_WINDOWS.get(rule, (256, 256))
    window = default_window if window is None else int(window)
    stride = default_stride if stride is None else int(stride)
    _check_settings(rule, window, stride, max_variance, min_mean, ratio)
    pool = Path(pool)
    paths = list_images(inputs, recursive=recursive)
    existing = read_pool(pool) if pool.exists() else None
    # photos seen before: with patches, or recorded without any (none was flat)
    known = (set(existing.noise_source_sha256) | {p.source_sha256 for p in existing.photos}
             if existing else set())
    if rule == "realsr":
        settings = {"method": METHOD, "window": window, "stride": stride,
                    "max_variance": float(max_variance), "min_mean": float(min_mean)}
    else:
        settings = {"method": ADAPTIVE_METHOD, "window": window, "stride": stride,
                    "ratio": float(ratio), "quantile": NOISE_QUANTILE,
                    "min_mean": float(min_mean)}
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
    if rule == "adaptive":
        # every photo of the camera, the known ones too, so that a re-run fits the same level
        result.noise_level, windows = _camera_noise_level(
            [p.path for p in result.photos + todo if p.status in ("known", "collected")],
            window, stride)
        if result.noise_level is None and windows:
            raise SrkitError(f"too few {window}×{window} windows in these photos to measure the "
                             "camera's noise (need 20); give more photos, or a smaller "
                             "--window and --stride")
        if result.noise_level is not None:  # else no photo can be read: each is reported
            settings["noise_level"] = result.noise_level.to_dict()
    with progress("img") as bar:
        task = bar.add_task("collecting noise", total=len(todo), status="")
        for item in todo:
            bar.update(task, status=item.path.name)
            _collect_photo(item, pool, skip_log, result, window=window, stride=stride,
                           max_variance=max_variance, ratio=ratio, min_mean=min_mean,
                           drop=item.sha256 in drop)
            bar.advance(task)
    result.photos.extend(todo)
    order = {path: i for i, path in enumerate(paths)}
    result.photos.sort(key=lambda p: order[p.path])
    result.pool_patches = read_pool(pool).noise_count if pool.exists() else 0
    result.advice = _advice(read_pool(pool) if pool.exists() else None, rule)
    return result


def _camera_noise_level(paths: Sequence[Path], window: int, stride: int
                        ) -> tuple[NoiseLevel | None, int]:
    """The noise level fitted to the unclipped windows of all ``paths`` and how many windows
    there were (unreadable photos are left to the collecting pass to report)."""
    means, variances = [], []
    for path in paths:
        try:
            image = read_image(path)
        except SrkitError:
            continue
        if image.height < window or image.width < window:
            continue
        positions = window_positions(image.height, image.width, window, stride)
        stats = window_stats(grey_levels(image.rgb), positions, window)
        usable = stats.clipped <= 0.01
        if image.alpha is not None:
            usable &= np.array([bool((image.alpha[r:r + window, c:c + window] >= 1.0).all())
                                for r, c in positions.tolist()], dtype=bool)
        means.append(stats.mean[usable])
        variances.append(stats.detrended[usable])
    if not means:
        return None, 0
    means, variances = np.concatenate(means), np.concatenate(variances)
    return fit_noise_level(means, variances), len(means)


def _collect_photo(item: PhotoNoise, pool: Path, skip_log: SkipLog,
                   result: CollectNoiseResult, *, window: int, stride: int,
                   max_variance: float, ratio: float, min_mean: float, drop: bool) -> None:
    """Find one photo's noise windows and write them to the pool in one atomic step."""
    image = skip_log.read(item.path)
    if image is None:
        message = skip_log.skipped[-1]
        item.status, item.reason = "unreadable", message.removeprefix(f"{item.path}: ")
        return
    jpeg = estimate_jpeg_quality(item.path, image.rgb)
    item.jpeg_quality, item.jpeg_method = jpeg.quality, jpeg.method
    photo = PhotoEntry(item.path.name, item.sha256, jpeg.quality, jpeg.method)
    if image.height < window or image.width < window:
        item.status = "too-small"
        item.reason = (f"{image.width}×{image.height} is smaller than the "
                       f"{window}×{window} window")
        with pool_writer(pool) as writer:
            writer.append_photos([photo])
        return
    level = result.noise_level
    found = find_flat_windows(image, window=window, stride=stride, max_variance=max_variance,
                              min_mean=min_mean, noise_level=level, ratio=ratio)
    item.windows, item.kept = found.windows, len(found.positions)
    item.rejected_variance = found.rejected_variance
    item.rejected_mean = found.rejected_mean
    item.rejected_alpha = found.rejected_alpha
    patch = zero_mean_patch if level is None else detrended_patch
    rows = list(zip(found.positions.tolist(), found.grey_mean, found.grey_variance,
                    strict=True))
    with pool_writer(pool, drop_noise_sha256={item.sha256} if drop else ()) as writer:
        writer.append_photos([photo])
        for start in range(0, len(rows), 64):  # bounded memory: 64 patches at a time
            writer.append_noise([
                NoiseEntry(patch(image.rgb[r:r + window, c:c + window]),
                           item.path.name, item.sha256, (r, c),
                           {**result.settings, "grey_mean": round(float(mean), 3),
                            "grey_variance": round(float(variance), 4)})
                for (r, c), mean, variance in rows[start:start + 64]])
        result.removed += writer.removed
        result.added += writer.added_noise


def _advice(pool, rule: str) -> str:
    """Why the pool's patches may not model the camera (empty when they can)."""
    if pool is None or pool.noise_count < MIN_PATCHES:
        count = 0 if pool is None else pool.noise_count
        hint = ("give more photos of the camera, or a smaller --window" if rule == "adaptive"
                else "try --rule adaptive, a smaller --window or a larger --max-variance")
        return (f"only {count} noise patches: too few to model the camera (want "
                f"{MIN_PATCHES} or more); {hint}")
    means = [s.get("grey_mean") for s in pool.noise_settings]
    bands = {int(m // 32) for m in means if isinstance(m, (int, float))}
    if len(bands) < MIN_BANDS:
        return (f"the noise patches cover {len(bands)} of 8 brightness bands: the pool cannot "
                "tell how the noise grows with brightness; add photos with flat areas of "
                "other brightness (sky, walls, shadows)")
    return ""
