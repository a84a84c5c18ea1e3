"""``srkit pool info`` and ``srkit pool show``: what a degradation pool holds, in numbers and
as a contact sheet. (``srkit pool merge`` is :func:`srkit.io.pool_merge.merge_pools`.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError
from srkit.io.pools import Pool, read_pool
from srkit.ops.noise_stats import patch_std

PERCENTILES = (0, 5, 25, 50, 75, 95, 100)


def kernel_sigma(kernel: np.ndarray) -> float:
    """Second-moment width of a blur kernel in pixels: ``sqrt((var_rows + var_cols) / 2)``.

    The kernel is treated as a distribution (negative values clipped to 0, then normalised),
    so a Gaussian kernel of standard deviation σ that fits in its array gives σ.
    """
    weights = np.clip(np.asarray(kernel, dtype=np.float64), 0.0, None)
    total = weights.sum()
    if total <= 0:
        return float("nan")
    weights /= total
    rows, cols = np.indices(weights.shape)
    mean_r, mean_c = (weights * rows).sum(), (weights * cols).sum()
    var = (weights * ((rows - mean_r) ** 2 + (cols - mean_c) ** 2)).sum() / 2.0
    return float(np.sqrt(var))


@dataclass
class KernelScaleInfo:
    """The kernels of one scale."""

    scale: int
    count: int
    size: int  # k of the (k, k) kernels
    sigma: dict[str, float]  # second-moment width in HR pixels: min, median, max
    flags: dict[str, int]
    methods: dict[str, int]
    sources: int  # distinct source photos


@dataclass
class NoiseInfo:
    """The noise patches."""

    count: int
    patch_size: int
    std: dict[str, float]  # per-patch std in grey levels (0–255): percentiles p0 … p100
    sources: int
    methods: dict[str, int]
    settings: list[dict]  # distinct collection settings
    # per brightness band of 32 grey levels ("0-31", …): patches and their median std
    by_brightness: dict[str, dict[str, float]] = field(default_factory=dict)
    # the camera's grey-level noise variance a + b·μ that degrade injects (adaptive rule)
    noise_level: dict[str, float] | None = None


@dataclass
class CompressionInfo:
    """The photos' JPEG compression (``/photos``, schema 2)."""

    photos: int  # photos recorded
    jpeg: int  # of them JPEG-compressed
    quality: dict[str, float]  # min / median / max quality of those
    methods: dict[str, int]  # how the qualities were found


@dataclass
class SourceInfo:
    """One source photo and what the pool holds from it."""

    name: str
    sha256: str
    kernels: dict[int, int] = field(default_factory=dict)  # scale -> count
    noise: int = 0
    jpeg_quality: int | None = None


@dataclass
class PoolInfo:
    """Everything ``srkit pool info`` reports."""

    path: str
    schema_version: int
    creator: str
    size_bytes: int
    kernels: list[KernelScaleInfo]
    noise: NoiseInfo
    sources: list[SourceInfo]
    compression: CompressionInfo | None = None  # None: a schema-1 pool, no data
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (scales as string keys)."""
        data = asdict(self)
        for source in data["sources"]:
            source["kernels"] = {f"x{s}": n for s, n in source["kernels"].items()}
        return data


def _noise_std(pool: Pool) -> np.ndarray:
    """Per-patch std in grey levels, reading the pool in blocks."""
    stds = [patch_std(block) * 255.0 for _, block in pool.iter_noise(64)]
    return np.concatenate(stds) if stds else np.zeros(0)


def pool_info(path: str | Path) -> PoolInfo:
    """Counts, kernel sizes and widths, flags, methods, noise levels and sources of a pool."""
    pool = read_pool(path)
    sources: dict[str, SourceInfo] = {}
    kernels = []
    for scale, kernel_set in sorted(pool.kernel_sets.items()):
        sigmas = np.array([kernel_sigma(k) for k in kernel_set.kernels])
        kernels.append(KernelScaleInfo(
            scale=scale, count=len(kernel_set), size=int(kernel_set.kernels.shape[1]),
            sigma={"min": float(np.nanmin(sigmas)), "median": float(np.nanmedian(sigmas)),
                   "max": float(np.nanmax(sigmas))} if len(sigmas) else {},
            flags=dict(Counter(kernel_set.flag)), methods=dict(Counter(kernel_set.method)),
            sources=len(set(kernel_set.source_sha256))))
        for name, sha in zip(kernel_set.source, kernel_set.source_sha256, strict=True):
            info = sources.setdefault(sha, SourceInfo(name, sha))
            info.kernels[scale] = info.kernels.get(scale, 0) + 1
    for name, sha in zip(pool.noise_source, pool.noise_source_sha256, strict=True):
        sources.setdefault(sha, SourceInfo(name, sha)).noise += 1

    stds = _noise_std(pool)
    settings: list[dict] = []
    for entry in pool.noise_settings:
        plain = {k: v for k, v in entry.items() if k not in ("grey_mean", "grey_variance")}
        if plain not in settings:
            settings.append(plain)
    means, _ = pool.noise_grey_stats()
    by_brightness = {}
    for band in range(8):
        inside = (means >= 32 * band) & (means < 32 * (band + 1))
        if inside.any():
            by_brightness[f"{32 * band}-{32 * band + 31}"] = {
                "count": int(inside.sum()), "median_std": float(np.median(stds[inside]))}
    from srkit.degradations.pool import camera_noise_level

    level, _ = camera_noise_level(pool)
    noise = NoiseInfo(
        count=pool.noise_count, patch_size=pool.noise_patch_size,
        std={f"p{q}": float(np.percentile(stds, q)) for q in PERCENTILES} if len(stds) else {},
        sources=len(set(pool.noise_source_sha256)),
        methods=dict(Counter(str(s.get("method", "?")) for s in pool.noise_settings)),
        settings=settings, by_brightness=by_brightness,
        noise_level=None if level is None else level.to_dict())
    compression, notes = None, []
    if pool.schema_version >= 2:
        qualities = pool.jpeg_qualities()
        compression = CompressionInfo(
            photos=len(pool.photos), jpeg=len(qualities),
            quality=({"min": float(min(qualities)), "median": float(np.median(qualities)),
                      "max": float(max(qualities))} if qualities else {}),
            methods=dict(Counter(p.jpeg_method for p in pool.photos)))
        for photo in pool.photos:
            sources.setdefault(photo.source_sha256, SourceInfo(
                photo.source, photo.source_sha256)).jpeg_quality = photo.jpeg_quality
    else:
        notes.append("schema 1 (an older srkit): no compression data; srkit collect-noise "
                     "PHOTOS --pool POOL --redo records it")
    return PoolInfo(str(pool.path), pool.schema_version, pool.creator,
                    Path(path).stat().st_size, kernels, noise,
                    sorted(sources.values(), key=lambda s: s.name), compression, notes)


# --- contact sheet -----------------------------------------------------------------------

_BACKGROUND = 0.12
_LABEL_HEIGHT = 16
_GAP = 4


def evenly_spaced(count: int, limit: int) -> np.ndarray:
    """Up to ``limit`` indices spread evenly over ``range(count)``."""
    if count <= 0 or limit <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, count - 1, min(count, limit)).round().astype(int))


def kernel_tile(kernel: np.ndarray, cell: int) -> np.ndarray:
    """``(cell, cell, 3)`` tile: the kernel divided by its max, upscaled with nearest."""
    kernel = np.clip(np.asarray(kernel, dtype=np.float64), 0.0, None)
    peak = kernel.max()
    kernel = kernel / peak if peak > 0 else kernel
    factor = max(1, cell // kernel.shape[0])
    big = np.kron(kernel, np.ones((factor, factor)))
    if big.shape[0] > cell:  # a kernel larger than the cell: its centre
        start = (big.shape[0] - cell) // 2
        big = big[start:start + cell, start:start + cell]
    tile = np.zeros((cell, cell))
    offset = (cell - big.shape[0]) // 2
    tile[offset:offset + big.shape[0], offset:offset + big.shape[1]] = big
    return np.repeat(tile[..., None], 3, axis=2)


def noise_tile(patch: np.ndarray, cell: int, gain: float) -> np.ndarray:
    """``(cell, cell, 3)`` tile: the centre crop of a noise patch at 1:1 pixels (no resampling,
    so the grain stays visible), shown as ``0.5 + gain * noise`` clipped to [0, 1]."""
    patch = np.asarray(patch, dtype=np.float64)
    size = patch.shape[0]
    if size < cell:
        factor = -(-cell // size)
        patch = np.kron(patch, np.ones((factor, factor, 1)))
        size = patch.shape[0]
    start = (size - cell) // 2
    crop = patch[start:start + cell, start:start + cell]
    return np.clip(0.5 + gain * crop, 0.0, 1.0)


def _grid(tiles: list[np.ndarray], cell: int, columns: int, width: int) -> np.ndarray:
    rows = -(-len(tiles) // columns)
    grid = np.full((rows * (cell + _GAP) + _GAP, width, 3), _BACKGROUND)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = _GAP + r * (cell + _GAP), _GAP + c * (cell + _GAP)
        grid[y:y + cell, x:x + cell] = tile
    return grid


def _label(text: str, width: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    strip = Image.new("RGB", (width, _LABEL_HEIGHT), tuple([round(_BACKGROUND * 255)] * 3))
    ImageDraw.Draw(strip).text((_GAP, 2), text, fill=(230, 230, 230),
                               font=ImageFont.load_default())
    return np.asarray(strip, dtype=np.float64) / 255.0


@dataclass
class SheetResult:
    """What :func:`pool_sheet` drew."""

    output: Path
    kernels: dict[int, int]  # scale -> kernels drawn
    noise: int  # noise patches drawn
    width: int
    height: int


def render_sheet(pool: Pool, *, max_items: int = 32, cell: int = 96, columns: int = 8,
                 noise_gain: float = 4.0) -> tuple[np.ndarray, dict[int, int], int]:
    """Draw up to ``max_items`` kernels per scale and noise patches, evenly chosen.

    Returns the sheet ``(H, W, 3)`` float in [0, 1], kernels drawn per scale, patches drawn.
    """
    width = columns * (cell + _GAP) + _GAP
    parts: list[np.ndarray] = []
    drawn: dict[int, int] = {}
    for scale, kernel_set in sorted(pool.kernel_sets.items()):
        chosen = evenly_spaced(len(kernel_set), max_items)
        if not len(chosen):
            continue
        drawn[scale] = len(chosen)
        k = kernel_set.kernels.shape[1]
        parts.append(_label(f"x{scale} kernels {k}x{k}: {len(chosen)} of {len(kernel_set)} "
                            "(each scaled to its max)", width))
        parts.append(_grid([kernel_tile(kernel_set.kernels[i], cell) for i in chosen],
                           cell, columns, width))
    chosen = evenly_spaced(pool.noise_count, max_items)
    if len(chosen):
        p = pool.noise_patch_size
        crop = f"centre {cell}x{cell} of {p}x{p}" if p > cell else f"{p}x{p}"
        parts.append(_label(f"noise: {len(chosen)} of {pool.noise_count} ({crop}, shown as "
                            f"0.5 + {noise_gain:g} x noise)", width))
        patches = pool.noise_patches(chosen.tolist())
        parts.append(_grid([noise_tile(patch, cell, noise_gain) for patch in patches],
                           cell, columns, width))
    if parts and pool.photos:
        qualities = pool.jpeg_qualities()
        text = (f"JPEG: {len(qualities)} of {len(pool.photos)} photos, quality "
                f"{min(qualities)}-{max(qualities)} (median {np.median(qualities):g})"
                if qualities else f"JPEG: none of {len(pool.photos)} photos")
        parts.append(_label(text, width))
    if not parts:
        raise SrkitError(f"{pool.path}: the pool is empty, nothing to draw")
    return np.concatenate(parts, axis=0).astype(np.float32), drawn, len(chosen)


def pool_sheet(path: str | Path, output: str | Path, *, max_items: int = 32, cell: int = 96,
               columns: int = 8, noise_gain: float = 4.0, overwrite: bool = False
               ) -> SheetResult:
    """Write a contact sheet of a pool's kernels and noise patches to ``output`` (an image, or
    a folder: ``POOL_sheet.png`` in it, made when ``output`` has no file extension); an
    existing image is replaced only with ``overwrite`` (the pool never)."""
    from srkit.io.images import check_output, write_image

    if max_items < 1:
        raise SrkitError(f"--max must be at least 1, got {max_items}")
    if cell < 8:
        raise SrkitError(f"--cell must be at least 8 pixels, got {cell}")
    if columns < 1:
        raise SrkitError(f"--columns must be at least 1, got {columns}")
    output = Path(output)
    if output.is_dir() or not output.suffix:
        output = output / f"{Path(path).stem}_sheet.png"
    check_output(output, overwrite=overwrite, inputs=[path])
    pool = read_pool(path)
    sheet, kernels, noise = render_sheet(pool, max_items=max_items, cell=cell, columns=columns,
                                         noise_gain=noise_gain)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_image(output, sheet)
    return SheetResult(output, kernels, noise, int(sheet.shape[1]), int(sheet.shape[0]))
