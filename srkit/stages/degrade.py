"""``srkit degrade``: make (HR, LR) training pairs from clean photos.

Modes (DESIGN.md, "RealSR" and "Synthetic real-world degradations"):

* ``pool`` — RealSR: per HR image a random kernel of the pool at this scale, blur and
  subsample on the block-centre grid (:func:`srkit.ops.kernels.blur_downsample`), then a random
  noise patch of the pool cropped to size and added. ``use_kernels=False`` downscales with
  MATLAB bicubic instead, ``use_noise=False`` adds no noise (the paper's ablations).
* ``bicubic`` — MATLAB-compatible antialiased bicubic ``imresize(hr, 1/scale)``.
* ``random`` — Real-ESRGAN's second-order random pipeline (:mod:`srkit.ops.synthetic`).
* ``dsn`` — DASR: a trained down-sampling network makes the LR, and its discriminator the
  domain-distance map ``OUT/dist/NAME.npy`` (float32 ``(h, w)`` in [0, 1], LR size;
  :func:`srkit.stages.domain_distance.degrade_with_dsn`). torch is imported in this mode only.

Output: ``OUT/hr/NAME.png``, ``OUT/lr/NAME.png``, ``OUT/manifest.jsonl`` (one JSON line per
finished pair, appended as pairs finish; the last line of a name wins) and ``OUT/degrade.json``
(the run's settings). Each image's random generator is seeded from ``(seed, NAME)`` through
SHA-256, so the output does not depend on ``workers``, sharding or the order of the inputs
(the DSN itself is deterministic; only ``crop`` draws from the generator in dsn mode).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from srkit.errors import SrkitError
from srkit.io.images import list_images, read_image, to_uint, write_image
from srkit.ops.kernels import blur_downsample
from srkit.ops.resize import imresize

if TYPE_CHECKING:
    from srkit.io.dsn_checkpoints import LoadedDsn
    from srkit.ops.synthetic import SyntheticSettings

MODES = ("pool", "bicubic", "random", "dsn")
MANIFEST = "manifest.jsonl"
SETTINGS_FILE = "degrade.json"


@dataclass
class DegradeResult:
    """What a :func:`degrade` run did (for this shard)."""

    output_dir: Path
    manifest: Path
    total: int = 0              # images in this shard
    written: int = 0            # pairs made now
    already_done: int = 0       # pairs found complete and skipped
    skipped: list[str] = field(default_factory=list)  # why: unreadable or too small
    seconds: float = 0.0


# ----------------------------------------------------------------------------- per image


def degrade_image(hr: np.ndarray, scale: int, mode: str, *, kernel: np.ndarray | None = None,
                  noise_patch: np.ndarray | None = None, rng: np.random.Generator,
                  settings: SyntheticSettings | None = None,
                  jpeg_quality: int | None = None) -> tuple[np.ndarray, dict]:
    """Make the LR image of one HR image ``(H, W, 3)`` in [0, 1], ``H, W`` multiples of scale.

    ``pool`` mode uses ``kernel`` (``(k, k)``, centred; None → MATLAB bicubic) and
    ``noise_patch`` (``(p, p, 3)`` zero mean; None → no noise). ``random`` mode uses
    ``settings`` (:class:`~srkit.ops.synthetic.SyntheticSettings`, None → Real-ESRGAN's).
    ``jpeg_quality`` JPEG-compresses the LR at the end (pool and bicubic modes).
    Returns float32 LR ``(H/scale, W/scale, 3)`` in [0, 1] and a JSON-able record.
    """
    hr = np.asarray(hr, dtype=np.float32)
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise ValueError(f"HR size {hr.shape[:2]} is not a multiple of the scale {scale}")
    record: dict = {}
    if mode == "random":
        if jpeg_quality is not None:
            raise ValueError("random mode has its own JPEG steps; jpeg_quality must be None")
        from srkit.ops.synthetic import random_degradation

        lr, record["synthetic"] = random_degradation(hr, scale, rng, settings)
        return lr, record
    if mode == "pool":
        if kernel is not None:
            lr = blur_downsample(hr, kernel, scale)
            record["downscale"] = "kernel"
        else:
            lr = imresize(hr, 1 / scale)
            record["downscale"] = "bicubic"
        record["noise"] = None
        if noise_patch is not None:
            from srkit.ops.noise import noise_field

            noise, record["noise"] = noise_field(lr.shape[:2], noise_patch, rng)
            lr = lr + noise
    elif mode == "bicubic":
        lr = imresize(hr, 1 / scale)
    elif mode == "dsn":  # needs the networks and also returns a map: see _Worker._dsn_pair
        raise ValueError("dsn mode: use srkit.stages.domain_distance.degrade_with_dsn")
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    lr = np.clip(lr, 0.0, 1.0).astype(np.float32)
    if jpeg_quality is not None:
        from srkit.ops.jpeg import jpeg_compress

        lr = jpeg_compress(lr, jpeg_quality)
        record["jpeg"] = int(jpeg_quality)
    return lr, record


def image_seed(seed: int, name: str) -> int:
    """The 64-bit seed of one image: SHA-256 of ``(seed, name)`` (stable across processes)."""
    digest = hashlib.sha256(f"{int(seed)}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class _Plan:
    """Everything a worker process needs (picklable)."""

    output_dir: Path
    scale: int
    mode: str
    seed: int
    pool_path: str | None
    kernels: np.ndarray | None
    kernel_sources: tuple[str, ...]
    noise_count: int
    clean_up: float | None
    crop: int | None
    synthetic: SyntheticSettings | None
    jpeg_quality: int | None
    settings_id: str
    max_pixels: int | None
    dsn_path: str | None = None
    dsn_sha256: str | None = None
    device: str = "cpu"
    lr_tile: int = 0                   # DSN tile side in LR pixels (0 = whole image)
    torch_threads: int | None = None   # torch.set_num_threads in each worker (dsn mode)


@dataclass(frozen=True)
class _Task:
    path: str
    name: str
    done_sha256: str | None  # source hash of a complete pair made with the same settings


class _Worker:
    """Processes one image at a time; keeps the pool (kernels, noise index) or the DSN between
    images. ``dsn``: a :class:`~srkit.models.dsn.LoadedDsn` already loaded by the caller (the
    single-process run); worker processes load their own from ``plan.dsn_path``."""

    def __init__(self, plan: _Plan, dsn: LoadedDsn | None = None) -> None:
        from srkit.io.images import set_max_pixels

        self.plan = plan
        set_max_pixels(plan.max_pixels)
        self.pool = None
        if plan.pool_path is not None and plan.noise_count:
            from srkit.io.pools import read_pool

            self.pool = read_pool(plan.pool_path)
        self.dsn = dsn
        if plan.mode == "dsn" and plan.dsn_path is not None:
            import torch

            if plan.torch_threads is not None:
                torch.set_num_threads(plan.torch_threads)
            if self.dsn is None:
                from srkit.io.dsn_checkpoints import load_dsn

                self.dsn = load_dsn(plan.dsn_path, plan.device)

    def run(self, task: _Task) -> tuple[str, object]:
        """``("done", manifest_line)``, ``("exists", None)``, ``("unreadable", reason)`` or
        ``("small", reason)``."""
        from srkit.io.hashing import file_sha256

        plan = self.plan
        try:
            sha = file_sha256(task.path)
        except OSError as error:
            return "unreadable", f"{task.path}: cannot read file ({error.strerror or error})"
        if task.done_sha256 == sha:
            return "exists", None
        try:
            image = read_image(task.path)
        except SrkitError as error:
            return "unreadable", str(error)
        rgb = image.rgb
        if plan.clean_up is not None:
            rgb = np.clip(imresize(rgb, 1 / plan.clean_up), 0.0, 1.0)
        per_image_seed = image_seed(plan.seed, task.name)
        rng = np.random.default_rng(per_image_seed)
        crop_box = None
        if plan.crop is not None:
            height, width = rgb.shape[:2]
            if height < plan.crop or width < plan.crop:
                return "small", (f"{task.path}: {height}×{width} (after clean-up) is smaller "
                                   f"than the {plan.crop}-pixel crop")
            top = int(rng.integers(0, height - plan.crop + 1))
            left = int(rng.integers(0, width - plan.crop + 1))
            rgb = rgb[top:top + plan.crop, left:left + plan.crop]
            crop_box = [top, left, plan.crop, plan.crop]
        height, width = (rgb.shape[0] // plan.scale * plan.scale,
                         rgb.shape[1] // plan.scale * plan.scale)
        if height == 0 or width == 0:
            return "small", f"{task.path}: smaller than the scale {plan.scale}"
        # The LR is made from exactly the HR that is written (quantised to the file's depth).
        peak = 255.0 if image.bit_depth == 8 else 65535.0
        hr = (to_uint(rgb[:height, :width], image.bit_depth) / peak).astype(np.float32)
        kernel_index = noise_index = None
        kernel = patch = None
        dist_map = None
        if plan.mode == "dsn":
            try:
                lr, dist_map, record = self._dsn_pair(hr, image.bit_depth, task.name)
            except ValueError as error:  # too small for the discriminator
                return "small", f"{task.path}: {error}"
        elif plan.mode == "pool":
            if plan.kernels is not None:
                kernel_index = int(rng.integers(len(plan.kernels)))
                kernel = plan.kernels[kernel_index]
            if self.pool is not None:
                noise_index = int(rng.integers(plan.noise_count))
                patch = self.pool.noise_patch(noise_index)
        if plan.mode != "dsn":
            lr, record = degrade_image(hr, plan.scale, plan.mode, kernel=kernel,
                                       noise_patch=patch, rng=rng, settings=plan.synthetic,
                                       jpeg_quality=plan.jpeg_quality)
        lr_grey = image.grey and bool(np.all(lr == lr[..., :1]))
        write_image(plan.output_dir / "hr" / f"{task.name}.png", hr,
                    bit_depth=image.bit_depth, grey=image.grey)
        write_image(plan.output_dir / "lr" / f"{task.name}.png", lr,
                    bit_depth=image.bit_depth, grey=lr_grey)
        dist_path = plan.output_dir / "dist" / f"{task.name}.npy"
        if dist_map is not None:
            _write_npy(dist_path, dist_map)
        else:  # a map left by an earlier dsn run (--overwrite) would not match this LR
            dist_path.unlink(missing_ok=True)
        line = {
            "name": task.name, "hr": f"hr/{task.name}.png", "lr": f"lr/{task.name}.png",
            "source": task.path, "source_sha256": sha, "mode": plan.mode,
            "scale": plan.scale, "seed": plan.seed, "image_seed": per_image_seed,
            "hr_size": [height, width], "lr_size": [int(lr.shape[0]), int(lr.shape[1])],
            "clean_up": plan.clean_up, "crop": crop_box,
            "kernel_index": kernel_index,
            "kernel_source": (plan.kernel_sources[kernel_index]
                              if kernel_index is not None else None),
            "noise_index": noise_index, **record, "settings_id": plan.settings_id,
        }
        return "done", line

    def _dsn_pair(self, hr: np.ndarray, bit_depth: int, name: str
                  ) -> tuple[np.ndarray, np.ndarray, dict]:
        """DSN LR (rounded to ``bit_depth``), its domain-distance map and the manifest record."""
        import torch

        from srkit.stages.domain_distance import degrade_with_dsn

        plan, dsn = self.plan, self.dsn
        assert dsn is not None
        try:
            out = degrade_with_dsn(hr, dsn.generator, dsn.discriminator, dsn.freq,
                                   tile=plan.lr_tile, bit_depth=bit_depth)
        except torch.OutOfMemoryError:
            raise SrkitError(f"{name}: out of {plan.device} memory running the DSN; use a "
                             "smaller --tile or --device cpu") from None
        record = {"dsn": plan.dsn_path, "dsn_sha256": plan.dsn_sha256,
                  "freq": dsn.freq, "dist": f"dist/{name}.npy"}
        return out.lr, out.dist, record


def _write_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` through a temporary file and a rename (no half-written map on a crash)."""
    from srkit.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array, dtype=np.float32))


_PROCESS_WORKER: _Worker | None = None


def _init_process(plan: _Plan) -> None:
    global _PROCESS_WORKER
    _PROCESS_WORKER = _Worker(plan)


def _run_in_process(task: _Task) -> tuple[str, object]:
    assert _PROCESS_WORKER is not None
    return _PROCESS_WORKER.run(task)


def pair_names(paths: Sequence[Path]) -> list[str]:
    """Output names: the file stem, with ``-2``, ``-3``… for repeated stems (in input order)."""
    used: set[str] = set()
    names = []
    for path in paths:
        name, count = path.stem, 1
        while name in used:
            count += 1
            name = f"{path.stem}-{count}"
        used.add(name)
        names.append(name)
    return names


def _read_manifest(path: Path) -> dict[str, dict]:
    lines: dict[str, dict] = {}
    if not path.exists():
        return lines
    with open(path, encoding="utf-8") as handle:
        for text in handle:
            try:
                entry = json.loads(text)
                lines[entry["name"]] = entry
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a torn last line from a killed run
    return lines


def _append_line(path: Path, entry: dict) -> None:
    # One os.write on an O_APPEND descriptor: lines from concurrent shards do not interleave.
    data = (json.dumps(entry, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _check_previous(output_dir: Path, settings: dict, settings_id: str,
                    overwrite: bool) -> None:
    """Refuse to mix pairs made with different settings in one folder."""
    settings_path = output_dir / SETTINGS_FILE
    if settings_path.exists():
        try:
            previous = json.loads(settings_path.read_text())
            old_settings, old_id = previous["settings"], previous["settings_id"]
        except (json.JSONDecodeError, KeyError, TypeError):
            old_settings, old_id = {}, None
        if old_id != settings_id and not overwrite:
            changed = sorted(k for k in set(settings) | set(old_settings)
                             if settings.get(k) != old_settings.get(k)) or ["unreadable"]
            raise SrkitError(f"{output_dir}: holds pairs made with other settings "
                             f"(changed: {', '.join(changed)}); pass --overwrite to replace "
                             "them or choose another output folder")
    elif not overwrite:
        for sub in ("hr", "lr", "dist"):
            folder = output_dir / sub
            if folder.is_dir() and any(folder.iterdir()):
                raise SrkitError(f"{output_dir}: {sub}/ already holds files not made by srkit "
                                 "degrade; pass --overwrite or choose another output folder")


def _resolve_shard(shard: tuple[int, int] | None) -> tuple[int, int]:
    if shard is None:
        return 1, 1
    index, count = (int(v) for v in shard)
    if count < 1 or not 1 <= index <= count:
        raise SrkitError(f"shard {index}/{count}: need 1 <= K <= N")
    return index, count


def degrade(hr_inputs: Sequence[str | Path] | str | Path, output_dir: str | Path, scale: int,
            *, mode: str = "pool", pool: str | Path | None = None, use_kernels: bool = True,
            use_noise: bool = True, clean_up: float | None = None, crop: int | None = None,
            seed: int = 0, workers: int = 1, shard: tuple[int, int] | None = None,
            strict: bool = False, jpeg_quality: int | None = None, overwrite: bool = False,
            recursive: bool = False, synthetic: SyntheticSettings | None = None,
            dsn: str | Path | None = None, tile: int = 512, device: str = "auto"
            ) -> DegradeResult:
    """Make ``OUT/hr``, ``OUT/lr`` pairs from the images in ``hr_inputs`` (see module doc).

    ``clean_up`` F: RealSR's clean-up, HR = source downscaled ×F with MATLAB bicubic.
    ``crop`` N: one random N×N HR crop per image (N a multiple of ``scale``; smaller images
    are skipped with a warning, also with ``strict``). ``shard=(K, N)`` processes the K-th
    (1-based) of N interleaved slices of the sorted inputs (``recursive``: folders include
    sub-folders). ``synthetic``: :class:`~srkit.ops.synthetic.SyntheticSettings` for
    ``random`` mode. Unreadable files are skipped with a warning (``strict`` raises).
    ``dsn``: the DSN file of ``dsn`` mode (``srkit train-dsn``; its scale must be ``scale``),
    run on ``device`` in tiles of ``tile`` HR pixels (0 = whole image; tiles overlap by the
    network's receptive radius, so the result equals the untiled one up to float rounding).
    On a GPU, or with one image, a single process is used whatever ``workers``.
    """
    from PIL import Image

    from srkit import __version__
    from srkit.console import progress, warn

    start = time.perf_counter()
    output_dir = Path(output_dir)
    if mode not in MODES:
        raise SrkitError(f"unknown mode {mode!r} (use one of: {', '.join(MODES)})")
    if int(scale) != scale or scale < 1:
        raise SrkitError(f"scale must be a positive integer, got {scale}")
    scale = int(scale)
    if clean_up is not None and clean_up <= 1:
        raise SrkitError(f"clean-up factor must be > 1, got {clean_up}")
    if crop is not None and (crop < scale or crop % scale):
        raise SrkitError(f"crop {crop} must be a positive multiple of the scale {scale}")
    if jpeg_quality is not None and not 1 <= jpeg_quality <= 100:
        raise SrkitError(f"JPEG quality must be in 1..100, got {jpeg_quality}")
    if jpeg_quality is not None and mode == "random":
        raise SrkitError("random mode has its own JPEG steps; drop the JPEG quality option")
    if jpeg_quality is not None and mode == "dsn":
        raise SrkitError("dsn mode: the DSN reproduces the camera's compression itself; drop "
                         "the JPEG quality option")
    if tile < 0:
        raise SrkitError(f"tile must be >= 0 (0 = whole image), got {tile}")
    if workers < 1:
        raise SrkitError(f"workers must be >= 1, got {workers}")
    shard_index, shard_count = _resolve_shard(shard)

    kernels, kernel_sources, noise_count, pool_sha = None, (), 0, None
    if mode == "pool":
        if pool is None:
            raise SrkitError("pool mode needs a pool (--pool POOL.h5); or use --mode bicubic "
                             "or --mode random")
        from srkit.io.hashing import file_sha256
        from srkit.io.pools import read_pool

        pool_obj = read_pool(pool)
        if use_kernels:
            kernel_set = pool_obj.kernels(scale)
            if len(kernel_set) == 0:
                raise SrkitError(f"{pool}: no x{scale} kernels in this pool")
            kernels, kernel_sources = kernel_set.kernels, tuple(kernel_set.source)
        if use_noise:
            if pool_obj.noise_count == 0:
                raise SrkitError(f"{pool}: no noise patches in this pool; run srkit "
                                 "collect-noise, or pass --no-noise")
            noise_count = pool_obj.noise_count
        pool_sha = file_sha256(pool)
    elif pool is not None:
        raise SrkitError(f"a pool is only used in pool mode, not in {mode} mode")
    loaded_dsn, dsn_sha, target = None, None, "cpu"
    if mode == "dsn":
        if dsn is None:
            raise SrkitError("dsn mode needs a DSN file (--dsn DSN.safetensors, made by srkit "
                             "train-dsn)")
        from srkit.device import resolve_device
        from srkit.io.dsn_checkpoints import load_dsn
        from srkit.io.hashing import file_sha256

        target = str(resolve_device(device))
        loaded_dsn = load_dsn(dsn, target)
        if loaded_dsn.scale != scale:
            raise SrkitError(f"{dsn}: this DSN downscales x{loaded_dsn.scale}, not x{scale}; "
                             f"use -x {loaded_dsn.scale} or a x{scale} DSN")
        if workers > 1 and target != "cpu":
            warn(f"dsn mode on {target}: one process (--workers {workers} ignored)")
            workers = 1
        dsn_sha = file_sha256(dsn)
    elif dsn is not None:
        raise SrkitError(f"a DSN is only used in dsn mode, not in {mode} mode")
    if mode == "random" and synthetic is None:
        from srkit.ops.synthetic import SyntheticSettings

        synthetic = SyntheticSettings()

    settings = {
        "mode": mode, "scale": scale, "seed": int(seed), "pool_sha256": pool_sha,
        "use_kernels": use_kernels if mode == "pool" else None,
        "use_noise": use_noise if mode == "pool" else None,
        "clean_up": clean_up, "crop": crop, "jpeg_quality": jpeg_quality,
        "synthetic": synthetic.to_dict() if mode == "random" else None,
    }
    if mode == "dsn":  # only here, so folders made by the other modes keep their settings id
        settings["dsn_sha256"] = dsn_sha
    settings_id = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    paths = list_images(hr_inputs, recursive=recursive)
    names = pair_names(paths)
    _check_previous(output_dir, settings, settings_id, overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = output_dir / MANIFEST
    if overwrite and shard is None and manifest.exists():
        manifest.unlink()
    from srkit.io.atomic import atomic_path

    with atomic_path(output_dir / SETTINGS_FILE) as tmp:
        tmp.write_text(json.dumps({"srkit_version": __version__, "settings_id": settings_id,
                                   "settings": settings,
                                   "pool": str(pool) if pool is not None else None,
                                   **({"dsn": str(dsn), "device": target}
                                      if mode == "dsn" else {})},
                                  indent=2, sort_keys=True) + "\n")

    done = {} if overwrite else _read_manifest(manifest)
    tasks = []
    for path, name in list(zip(paths, names, strict=True))[shard_index - 1::shard_count]:
        entry = done.get(name)
        complete = (entry is not None and entry.get("settings_id") == settings_id
                    and (output_dir / "hr" / f"{name}.png").exists()
                    and (output_dir / "lr" / f"{name}.png").exists()
                    and (mode != "dsn" or (output_dir / "dist" / f"{name}.npy").exists()))
        tasks.append(_Task(str(path), name, entry["source_sha256"] if complete else None))

    parallel = workers > 1 and len(tasks) > 1
    plan = _Plan(output_dir, scale, mode, int(seed), str(pool) if pool is not None else None,
                 kernels, kernel_sources, noise_count, clean_up, crop, synthetic, jpeg_quality,
                 settings_id, Image.MAX_IMAGE_PIXELS, dsn_path=str(dsn) if dsn else None,
                 dsn_sha256=dsn_sha, device=target, lr_tile=max(tile // scale, 1) if tile else 0,
                 torch_threads=1 if parallel and mode == "dsn" else None)
    result = DegradeResult(output_dir, manifest, total=len(tasks))

    def handle(outcome: tuple[str, object]) -> None:
        status, payload = outcome
        if status == "done":
            _append_line(manifest, payload)  # type: ignore[arg-type]
            result.written += 1
        elif status == "exists":
            result.already_done += 1
        else:  # unreadable (an error with --strict) or too small for the crop/scale
            if strict and status == "unreadable":
                raise SrkitError(str(payload))
            warn(f"skipped {payload}")
            result.skipped.append(str(payload))

    with progress("img") as bar:
        bar_task = bar.add_task(f"degrade {mode} x{scale}", total=len(tasks), status="")
        if not parallel:
            worker = _Worker(plan, dsn=loaded_dsn)
            for task in tasks:
                handle(worker.run(task))
                bar.advance(bar_task)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            executor = ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                                           mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_init_process, initargs=(plan,))
            try:
                for outcome in executor.map(_run_in_process, tasks):
                    handle(outcome)
                    bar.advance(bar_task)
            finally:
                executor.shutdown(wait=True, cancel_futures=True)
    result.seconds = time.perf_counter() - start
    return result
