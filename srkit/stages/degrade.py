"""``srkit degrade``: make (HR, LR) training pairs from clean photos.

Modes (docs/cli/degrade.md), one class each in
:mod:`srkit.degradations`:

* ``pool`` — RealSR: per HR image a random kernel of the pool at this scale, blur and
  subsample on the block-centre grid (:func:`srkit.ops.kernels.blur_downsample`), then a random
  noise patch of the pool cropped to size and added. ``use_kernels=False`` downscales with
  MATLAB bicubic instead, ``use_noise=False`` adds no noise (the paper's ablations).
* ``bicubic`` — MATLAB-compatible antialiased bicubic ``imresize(hr, 1/scale)``.
* ``random`` — Real-ESRGAN's second-order random pipeline (:mod:`srkit.ops.synthetic`).
* ``dsn`` — DASR: a trained down-sampling network makes the LR, and its discriminator the
  domain-distance map ``OUT/dist/NAME.npy`` (float32 ``(h, w)`` in [0, 1], LR size;
  :class:`srkit.degradations.dsn.DsnDegradation`). torch is imported in this mode only.

Output (the pair folder, :mod:`srkit.io.pairs`, ``docs/pair-format.md``): ``OUT/hr/NAME.png``,
``OUT/lr/NAME.png``, ``OUT/manifest.jsonl`` (one JSON line per finished pair, appended as pairs
finish; the last line of a name wins) and ``OUT/degrade.json`` (the run's settings). Each
image's random generator is seeded from ``(seed, NAME)`` through SHA-256, so the output does
not depend on ``workers``, sharding or the order of the inputs (the DSN itself is
deterministic; only ``crop`` draws from the generator in dsn mode).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from srkit.errors import SrkitError
from srkit.io import pairs
from srkit.io.images import list_images, read_image, to_uint
from srkit.ops.resize import imresize

if TYPE_CHECKING:
    from srkit.degradations import Degradation
    from srkit.ops.synthetic import SyntheticSettings


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
    degradation: Degradation
    clean_up: float | None
    crop: int | None
    settings_id: str
    max_pixels: int | None


@dataclass(frozen=True)
class _Task:
    path: str
    name: str
    done_sha256: str | None  # source hash of a complete pair made with the same settings


class _Worker:
    """Processes one image at a time with the plan's degradation (which keeps the pool's
    kernels or the loaded DSN between images)."""

    def __init__(self, plan: _Plan) -> None:
        from srkit.io.images import set_max_pixels

        self.plan = plan
        set_max_pixels(plan.max_pixels)

    def run(self, task: _Task) -> tuple[str, object]:
        """``("done", manifest_line)``, ``("exists", None)``, ``("unreadable", reason)`` or
        ``("small", reason)``."""
        from srkit.degradations import ImageTooSmall
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
        try:
            out = plan.degradation.degrade(hr, rng, bit_depth=image.bit_depth)
        except ImageTooSmall as error:
            return "small", f"{task.path}: {error}"
        except SrkitError as error:
            raise SrkitError(f"{task.name}: {error}") from None
        pairs.write_pair(plan.output_dir, task.name, hr, out.lr, bit_depth=image.bit_depth,
                         grey=image.grey, dist=out.dist)
        line = {
            "name": task.name, "hr": pairs.hr_relpath(task.name),
            "lr": pairs.lr_relpath(task.name), "source": task.path, "source_sha256": sha,
            "mode": plan.mode, "scale": plan.scale, "seed": plan.seed,
            "image_seed": per_image_seed, "hr_size": [height, width],
            "lr_size": [int(out.lr.shape[0]), int(out.lr.shape[1])],
            "clean_up": plan.clean_up, "crop": crop_box, **out.choices, **out.record,
            **({"dist": pairs.dist_relpath(task.name)} if out.dist is not None else {}),
            "settings_id": plan.settings_id,
        }
        return "done", line


_PROCESS_WORKER: _Worker | None = None


# How often a worker checks that the process that started it is still alive (seconds).
_PARENT_POLL_SECONDS = 0.1


def _exit_when_orphaned(parent_pid: int) -> None:
    """Poll ``os.getppid()``: once the parent has died (SIGKILL leaves the pool no chance to
    stop its workers) the worker is reparented and would go on writing pairs, so it exits.

    Polling rather than ``prctl(PR_SET_PDEATHSIG)``: that signal follows the parent *thread*
    that forked, and the pool may start workers from its manager thread."""
    while os.getppid() == parent_pid:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)


def _init_process(plan: _Plan, parent_pid: int | None = None) -> None:
    global _PROCESS_WORKER
    if parent_pid is not None:
        threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True,
                         name="srkit-orphan-watch").start()
    plan.degradation.start_worker()
    _PROCESS_WORKER = _Worker(plan)


def _run_in_process(task: _Task) -> tuple[str, object]:
    assert _PROCESS_WORKER is not None
    return _PROCESS_WORKER.run(task)


def _resolve_shard(shard: tuple[int, int] | None) -> tuple[int, int]:
    if shard is None:
        return 1, 1
    index, count = (int(v) for v in shard)
    if count < 1 or not 1 <= index <= count:
        raise SrkitError(f"shard {index}/{count}: need 1 <= K <= N")
    return index, count


def _refuse_own_output(paths: Sequence[Path], output_dir: Path) -> None:
    """An input inside the output's own hr/, lr/ or dist/ would be overwritten by its pair."""
    own = [(output_dir / sub).resolve() for sub in (pairs.HR_DIR, pairs.LR_DIR, pairs.DIST_DIR)]
    for path in paths:
        parent = path.resolve().parent
        if any(parent == folder or folder in parent.parents for folder in own):
            raise SrkitError(f"{path}: is inside the output folder {output_dir} (its pairs "
                             "would overwrite their own sources); choose another -o")


def degrade(hr_inputs: Sequence[str | Path] | str | Path, output_dir: str | Path, scale: int,
            *, mode: str = "pool", pool: str | Path | None = None, use_kernels: bool = True,
            use_noise: bool = True, clean_up: float | None = None, crop: int | None = None,
            seed: int = 0, workers: int = 1, shard: tuple[int, int] | None = None,
            strict: bool = False, jpeg_quality: int | None = None, camera: bool = True,
            overwrite: bool = False,
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

    from srkit import degradations
    from srkit.console import progress, warn

    start = time.perf_counter()
    output_dir = Path(output_dir)
    degradations.kind_of(mode)  # an unknown mode is the first error
    if int(scale) != scale or scale < 1:
        raise SrkitError(f"scale must be a positive integer, got {scale}")
    scale = int(scale)
    if clean_up is not None and clean_up <= 1:
        raise SrkitError(f"clean-up factor must be > 1, got {clean_up}")
    if crop is not None and (crop < scale or crop % scale):
        raise SrkitError(f"crop {crop} must be a positive multiple of the scale {scale}")
    if jpeg_quality is not None and not 1 <= jpeg_quality <= 100:
        raise SrkitError(f"JPEG quality must be in 1..100, got {jpeg_quality}")
    if tile < 0:
        raise SrkitError(f"tile must be >= 0 (0 = whole image), got {tile}")
    if workers < 1:
        raise SrkitError(f"workers must be >= 1, got {workers}")
    shard_index, shard_count = _resolve_shard(shard)
    degradation = degradations.build(mode, scale, degradations.Options(
        pool=pool, use_kernels=use_kernels, use_noise=use_noise, jpeg_quality=jpeg_quality,
        camera=camera,
        synthetic=synthetic, dsn=dsn, device=device, tile=tile))
    if workers > 1 and degradation.device != "cpu":
        warn(f"{mode} mode on {degradation.device}: one process (--workers {workers} ignored)")
        workers = 1

    settings = {"mode": mode, "scale": scale, "seed": int(seed), "clean_up": clean_up,
                "crop": crop, **degradation.settings()}
    settings_id = pairs.settings_id(settings)
    paths = list_images(hr_inputs, recursive=recursive)
    _refuse_own_output(paths, output_dir)
    names = pairs.pair_names(paths)
    pairs.check_settings(output_dir, settings, overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = output_dir / pairs.MANIFEST
    if overwrite and shard is None and manifest.exists():
        manifest.unlink()
    pairs.write_settings(output_dir, settings, degradation.files())

    done = {} if overwrite else pairs.read_manifest(manifest)
    tasks = []
    for path, name in list(zip(paths, names, strict=True))[shard_index - 1::shard_count]:
        entry = done.get(name)
        complete = (entry is not None and entry.get("settings_id") == settings_id
                    and pairs.pair_complete(output_dir, name,
                                            with_dist=entry.get("dist") is not None))
        tasks.append(_Task(str(path), name, entry["source_sha256"] if complete else None))

    plan = _Plan(output_dir, scale, mode, int(seed), degradation, clean_up, crop, settings_id,
                 Image.MAX_IMAGE_PIXELS)
    result = DegradeResult(output_dir, manifest, total=len(tasks))

    def handle(outcome: tuple[str, object]) -> None:
        status, payload = outcome
        if status == "done":
            pairs.append_manifest(manifest, payload)  # type: ignore[arg-type]
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
        if workers == 1 or len(tasks) <= 1:
            worker = _Worker(plan)
            for task in tasks:
                handle(worker.run(task))
                bar.advance(bar_task)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            executor = ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                                           mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_init_process,
                                           initargs=(plan, os.getpid()))
            try:
                for outcome in executor.map(_run_in_process, tasks):
                    handle(outcome)
                    bar.advance(bar_task)
            finally:
                executor.shutdown(wait=True, cancel_futures=True)
    result.seconds = time.perf_counter() - start
    return result
