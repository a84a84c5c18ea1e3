"""``estimate-kernels``: each photo's blur kernel into the degradation pool (RealSR, KernelGAN).

One kernel per photo and scale; photos already in the pool for this scale and method (by
content hash) are skipped unless ``redo``. Per-photo methods write each kernel as soon as it is
estimated, so an interrupted run keeps every finished kernel. The camera-level default
(``camera-gauss``) needs the statistics of the whole set: it measures every input photo (about
a second each; photos it already wrote take theirs from the pool), pools them, and then writes
the kernels of the new photos, each recording the camera estimate it was shrunk towards.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError


@dataclass
class PhotoKernel:
    """What happened to one photo."""

    source: str
    flag: str
    seconds: float
    covariance_x2: list[list[float]]


@dataclass
class EstimateKernelsResult:
    """Summary of a run: estimated photos, skipped ones, and where the kernels went."""

    pool: Path
    scale: int
    method: str
    estimated: list[PhotoKernel] = field(default_factory=list)
    already_in_pool: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def flags(self) -> Counter:
        return Counter(p.flag for p in self.estimated)


def photo_seed(seed: int, sha256: str) -> np.random.Generator:
    """A generator per photo from the run seed and the photo's hash (order-independent)."""
    return np.random.default_rng([seed, int(sha256[:16], 16)])


def save_kernel_files(folder: Path, stem: str, kernels: dict[int, np.ndarray],
                      method: str) -> list[Path]:
    """``STEM_xS_METHOD.npy`` and a ``.png`` picture (peak white, 16× nearest) per kernel."""
    from srkit.io.atomic import atomic_path
    from srkit.io.images import write_image

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for scale, kernel in sorted(kernels.items()):
        base = folder / f"{stem}_x{scale}_{method}"
        with atomic_path(base.with_suffix(".npy")) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, kernel.astype(np.float32))
        picture = np.repeat(np.repeat(kernel / max(float(kernel.max()), 1e-12), 16, 0), 16, 1)
        write_image(base.with_suffix(".png"), np.repeat(picture[..., None], 3, axis=2))
        written += [base.with_suffix(".npy"), base.with_suffix(".png")]
    return written


def _refuse_to_replace_kernel_files(folder: Path, paths: Sequence[Path], known: set[str],
                                    method: str) -> None:
    """``--save-kernels`` must not replace a file already there for a photo this run is about
    to estimate (photos already in the pool are skipped, so their files are left alone)."""
    from srkit.io.hashing import file_sha256

    for path in paths:
        existing = sorted(folder.glob(f"{path.stem}_x*_{method}.*"))
        if not existing:
            continue
        try:
            if file_sha256(path) in known:
                continue
        except OSError:
            continue  # unreadable: the run reports it
        raise SrkitError(f"{existing[0]}: already exists and --save-kernels would replace it; "
                         "choose another folder, or pass --redo to re-estimate and replace")


def estimate_kernels(inputs: Sequence[str | Path] | str | Path, pool: str | Path,
                     scale: int = 2, *, method: str | None = None, iters: int | None = None,
                     device: str = "auto", seed: int = 0, save_kernels: str | Path | None = None,
                     redo: bool = False, strict: bool = False,
                     recursive: bool = False) -> EstimateKernelsResult:
    """Estimate the blur kernel of every photo in ``inputs`` and append it to ``pool``.

    Args:
        inputs: image files, folders or glob patterns (the LR photos of one camera).
        pool: HDF5 pool, created when missing.
        scale: 2 or 4; ×4 kernels (25×25) are derived from the ×2 one (13×13).
        method: a name in :data:`srkit.kernels_est.METHODS` (default: ``camera-gauss``, which
            treats ``inputs`` as the photos of one camera).
        iters: iterations for iterative methods (KernelGAN: 3000).
        device: ``auto``/``cpu``/``cuda[:N]``/``mps`` (used by KernelGAN).
        seed: run seed; each photo's randomness comes from it and the photo's hash.
        save_kernels: folder for a ``.npy`` and ``.png`` of each kernel.
        redo: estimate photos that already have a kernel for this scale and method (the new
            kernel is added beside the old one).
        strict: stop at the first unreadable or unusable photo instead of skipping it.
        recursive: look into sub-folders of folder inputs.
    """
    from srkit.console import progress, warn
    from srkit.io.hashing import file_sha256
    from srkit.io.images import SkipLog, list_images
    from srkit.io.pool_writer import append_kernels
    from srkit.io.pools import KernelEntry, known_kernel_sources
    from srkit.kernels_est import (
        DEFAULT_METHOD,
        METHODS,
        SET_METHODS,
        estimate_kernel,
        method_settings,
    )

    method = method or DEFAULT_METHOD
    if method not in METHODS:
        raise SrkitError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    if scale not in (2, 4):
        raise SrkitError(f"-x/--scale must be 2 or 4 for kernel estimation, got {scale}")
    if iters is not None and iters < 1:
        raise SrkitError(f"--iters must be at least 1, got {iters}")
    torch_device = _device_name(device, method)
    pool = Path(pool)
    paths = list_images(inputs, recursive=recursive)
    known = set() if redo else known_kernel_sources(pool, scale, method)
    settings = method_settings(method, iters)
    result = EstimateKernelsResult(pool, scale, method)
    skip_log = SkipLog(strict=strict)
    if save_kernels is not None and not redo:
        _refuse_to_replace_kernel_files(Path(save_kernels), paths, known, method)
    start = time.perf_counter()
    if method in SET_METHODS:
        _estimate_set(paths, pool, scale, method, settings, seed, known, redo, skip_log,
                      result, save_kernels)
        result.skipped = list(skip_log.skipped or [])
        result.seconds = time.perf_counter() - start
        return result
    with progress("img") as bar:
        photos = bar.add_task(f"kernels x{scale} ({method})", total=len(paths), status="")
        steps = bar.add_task("", total=1, status="", visible=False)

        def on_progress(done: int, total: int) -> None:
            bar.update(steps, completed=done, total=total)

        for path in paths:
            sha = file_sha256(path)
            if sha in known:
                result.already_in_pool.append(path.name)
                bar.advance(photos)
                continue
            image = skip_log.read(path)
            if image is None:
                bar.advance(photos)
                continue
            bar.reset(steps, total=1, description=f"  {path.name}", visible=True)
            t0 = time.perf_counter()
            try:
                estimate = estimate_kernel(image.rgb, scale, method, rng=photo_seed(seed, sha),
                                           iters=iters, device=torch_device,
                                           on_progress=on_progress)
            except SrkitError as error:
                if strict:
                    raise SrkitError(f"{path}: {error}") from None
                warn(f"skipped {path.name}: {error}")
                skip_log.skipped.append(f"{path}: {error}")
                bar.advance(photos)
                continue
            seconds = time.perf_counter() - t0
            entry_settings = {**settings, "seed": seed, "diagnostics": estimate.info}
            append_kernels(pool, [KernelEntry(estimate.kernels[scale], scale, path.name, sha,
                                              method, entry_settings, estimate.flag)])
            known.add(sha)
            if save_kernels is not None:
                save_kernel_files(Path(save_kernels), path.stem, estimate.kernels, method)
            cov = estimate.info.get("covariance_x2", [[0.0, 0.0], [0.0, 0.0]])
            result.estimated.append(PhotoKernel(path.name, estimate.flag, seconds, cov))
            if estimate.flag != "ok":
                bar.update(photos, status=f"{path.name}: {estimate.flag}")
            bar.advance(photos)
        bar.update(steps, visible=False)
    result.skipped = list(skip_log.skipped or [])
    result.seconds = time.perf_counter() - start
    return result


def _pool_stats(pool: Path, scale: int, method: str) -> dict[str, dict]:
    """Per-photo statistics that earlier runs of ``method`` stored in the pool, by hash."""
    from srkit.io.pools import read_pool

    if not pool.exists():
        return {}
    kernel_sets = read_pool(pool).kernel_sets
    if scale not in kernel_sets:
        return {}
    found = {}
    entries = kernel_sets[scale]
    for sha, entry_method, entry_settings in zip(entries.source_sha256, entries.method,
                                                 entries.settings, strict=True):
        diagnostics = entry_settings.get("diagnostics", {})
        if entry_method == method and "edges" in diagnostics and "short_side" in diagnostics:
            found[sha] = diagnostics
    return found


def _estimate_set(paths: list[Path], pool: Path, scale: int, method: str, settings: dict,
                  seed: int, known: set[str], redo: bool, skip_log,
                  result: EstimateKernelsResult, save_kernels: str | Path | None) -> None:
    """camera-gauss: statistics of every photo, one pooled estimate, kernels for new photos."""
    from srkit.console import progress, warn
    from srkit.io.hashing import file_sha256
    from srkit.io.pool_writer import append_kernels
    from srkit.io.pools import KernelEntry
    from srkit.kernels_est.camera_gauss import PhotoStats, estimate_camera_gauss, photo_stats

    stored = _pool_stats(pool, scale, method)
    photos: list[tuple[Path, str, PhotoStats, float]] = []
    seen: set[str] = set()
    with progress("img") as bar:
        task = bar.add_task(f"photo statistics x{scale} ({method})", total=len(paths),
                            status="")
        for path in paths:
            bar.advance(task)
            sha = file_sha256(path)
            if sha in seen:   # the same photo twice counts once
                continue
            if sha in stored and not redo:
                photos.append((path, sha, PhotoStats.from_dict(stored[sha]), 0.0))
                seen.add(sha)
                continue
            image = skip_log.read(path)
            if image is None:
                continue
            t0 = time.perf_counter()
            try:
                stats = photo_stats(image.rgb)
            except SrkitError as error:
                if skip_log.strict:
                    raise SrkitError(f"{path}: {error}") from None
                warn(f"skipped {path.name}: {error}")
                skip_log.skipped.append(f"{path}: {error}")
                continue
            photos.append((path, sha, stats, time.perf_counter() - t0))
            seen.add(sha)
    estimates = estimate_camera_gauss([p[2] for p in photos], scale)
    entries = []
    for (path, sha, _, seconds), estimate in zip(photos, estimates, strict=True):
        if sha in known:
            result.already_in_pool.append(path.name)
            continue
        entry_settings = {**settings, "seed": seed, "diagnostics": estimate.info}
        entries.append(KernelEntry(estimate.kernels[scale], scale, path.name, sha, method,
                                   entry_settings, estimate.flag))
        if save_kernels is not None:
            save_kernel_files(Path(save_kernels), path.stem, estimate.kernels, method)
        result.estimated.append(PhotoKernel(path.name, estimate.flag, seconds,
                                            estimate.info["covariance_x2"]))
    if entries:
        append_kernels(pool, entries)


def _device_name(device: str, method: str) -> str:
    """Check ``--device`` once, before any photo is read; resolve it for torch methods."""
    import re

    from srkit.kernels_est import USES_TORCH

    if method not in USES_TORCH:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(device).strip().lower()):
            raise SrkitError(f"unknown device {device!r} (use auto, cpu, cuda, cuda:N or mps)")
        return "cpu"
    from srkit.device import resolve_device

    return str(resolve_device(device))
