"""Quality benchmark: PSNR-Y / SSIM-Y / NIQE of interpolation, the shipped models and two
baselines trained at the shipped models' budget, on held-out photos under three degradations.

    python benchmarks/quality.py [PHOTO_DIR] [--scales 4 2] [--photos N] [--train-photos N]
                                 [--no-train] [--model LABEL=FILE ...] [--grids DIR]
                                 [--device cuda] [--workers N]
    python benchmarks/quality.py --from-json benchmarks/results/quality.json  # tables only

Recipe (every number below is a default of this script):

* Photos: PHOTO_DIR (default ``../shared/data/photos``). The held-out photos are the names in
  ``benchmarks/quality_holdout.txt``; nothing is ever trained on them (nor on any other file
  with the same SHA-256). Every other photo of PHOTO_DIR is a training photo of the baselines.
* HR test images: each held-out photo cleaned by a MATLAB-bicubic ×½ (RealSR's clean-up, as
  ``srkit degrade --clean-up 2``), centre-cropped to at most 512×512, trimmed to a multiple
  of 4, rounded to 8 bits.
* LR, per scale s (8-bit PNGs, cached in ``--work``):
  (a) ``bicubic``: MATLAB ``imresize(hr, 1/s)``;
  (b) ``random``: Real-ESRGAN's second-order pipeline, ``srkit.ops.synthetic.random_degradation``
      with the default ``SyntheticSettings``, one fixed seed per photo and scale;
  (c) ``camera``: a fixed camera no srkit pool contains: an anisotropic Gaussian kernel of
      σ = 0.8·s and 0.45·s HR px (1.6 / 0.9 px at ×2, 3.2 / 1.8 px at ×4: the same blur in
      LR pixels at every scale, i.e. the same optics in front of a coarser sensor), major axis
      at 30°, applied with ``blur_downsample`` (block-centre grid); then Gaussian noise of
      σ = 5/255 per channel (fixed seed per photo and scale) and JPEG quality 75.
* Methods: MATLAB bicubic and Lanczos-3 (``srkit.stages.upscale.interpolate_image``); the
  shipped ``srkit/weights/general_x{s}.safetensors``; every ``--model LABEL=FILE``; and, unless
  ``--no-train``, two baselines trained by this script with the shipped model's architecture,
  recipe, iterations, batch, patch, learning rate and seed (read from its safetensors
  metadata; a model fine-tuned with ``--init`` gives a chain of stages, repeated by the
  baselines stage by stage when the metadata knows them all (``init_stages``), each stage
  cached on its own;
  ``--arch``/``--budget-iters``/... override with one stage of all the iterations, and stand
  in when no model ships):
  ``bicubic-trained`` on bicubic pairs of the cleaned training photos, and ``pool-workflow``:
  ``estimate-kernels`` + ``collect-noise`` on the training photos → a pool, then ``train-sr
  --hr CLEANED --pool POOL`` (RealSR). Trained models are cached in ``--work`` by settings
  (with the data's paths relative to ``--work``); an interrupted training run resumes. At the
  shipped models' budget the baselines need a GPU (``--device cuda``): days on a small CPU.
  ``--baselines camera-trained`` (opt-in) trains a reference on pairs of the cleaned training
  photos degraded by camera (c) itself: what a model that knows the camera gains on (c).
* Metrics: PSNR-Y and SSIM-Y (BT.601 Y, border = s, ``srkit.metrics.psnr_ssim``) and NIQE
  (``srkit.metrics.no_reference``, border = s) of the 8-bit SR image; means over photos; seconds
  per image (the network or the resize only, after one untimed warm-up run per method).

``--grids DIR`` also writes ``DIR/quality_x{s}_{degradation}.png``: ``srkit evaluate --grid``
crops (LR, bicubic, every other method, the reference) where the methods differ most.

Results: ``benchmarks/results/quality.json`` (every per-image number, the settings, budgets,
training times, machine and load) and ``quality.md`` (one table per scale). Progress on stderr.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import shutil
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA_VERSION = 1  # bump when the test-set recipe changes: cached LR/HR are then remade
MAX_SIDE = 512
CLEAN_UP = 2
CAMERA = {"sigma_major_lr_px": 0.8, "sigma_minor_lr_px": 0.45, "angle_deg": 30.0,
          "noise_sigma_255": 5.0, "jpeg_quality": 75}
DEGRADATIONS = {"bicubic": "(a) bicubic", "random": "(b) random real-world",
                "camera": "(c) fixed camera"}
INTERPOLATIONS = ("bicubic", "lanczos")
BASELINES = ("bicubic-trained", "pool-workflow")
# opt-in (--baselines camera-trained): trained on the benchmark's own camera (c), a reference
# for how much any model of that budget can gain on (c), not a competitor
REFERENCES = ("camera-trained",)
STARTED = time.perf_counter()


def log(message: str) -> None:
    """One progress line on stderr with the elapsed time."""
    elapsed = time.perf_counter() - STARTED
    print(f"[quality {elapsed:7.0f}s] {message}", file=sys.stderr, flush=True)


def short_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:10]


# --------------------------------------------------------------------------- photos


def read_holdout(path: Path) -> list[str]:
    """Names listed in the hold-out file ('#' starts a comment line)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def split_photos(photo_dir: Path, holdout: list[str], test_count: int | None,
                 train_count: int | None) -> tuple[list[Path], list[Path]]:
    """(test photos, training photos). Training = every other photo, minus any file whose
    SHA-256 equals a held-out one's; ``train_count`` picks that many, evenly spaced in name
    order (so every group of photos is represented)."""
    from srkit.io.hashing import file_sha256
    from srkit.io.images import list_images

    missing = [name for name in holdout if not (photo_dir / name).is_file()]
    if missing:
        raise SystemExit(f"{photo_dir}: held-out photo(s) missing: {', '.join(missing)}")
    test = [photo_dir / name for name in holdout[:test_count]]
    held_sha = {file_sha256(photo_dir / name) for name in holdout}
    train = [p for p in list_images(photo_dir)
             if p.name not in set(holdout) and file_sha256(p) not in held_sha]
    if train_count is not None and train_count < len(train):
        picks = np.linspace(0, len(train) - 1, train_count).round().astype(int)
        train = [train[i] for i in sorted(set(picks.tolist()))]
    return test, train


# --------------------------------------------------------------------------- test set


def quantise(img: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to the 8-bit grid (what a PNG holds), float32."""
    return (np.round(np.clip(img, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def make_hr(path: Path, max_side: int = MAX_SIDE) -> np.ndarray:
    """Photo → MATLAB bicubic ×½ → centre crop ≤ max_side² → multiple of 4 → 8 bits."""
    from srkit.io.images import read_image
    from srkit.ops.resize import imresize

    hr = imresize(read_image(path).rgb, 1 / CLEAN_UP)
    rows, cols = (min(n, max_side) // 4 * 4 for n in hr.shape[:2])
    top, left = (hr.shape[0] - rows) // 2, (hr.shape[1] - cols) // 2
    return quantise(hr[top:top + rows, left:left + cols])


def photo_rng(seed: int, name: str, scale: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode()), scale, stream])


def camera_kernel(scale: int) -> np.ndarray:
    """The fixed camera's anisotropic Gaussian at ``scale``: σ = (0.8 s, 0.45 s) HR px, 30°."""
    from srkit.ops.kernels import gaussian_kernel

    sigma_major = CAMERA["sigma_major_lr_px"] * scale
    size = 2 * int(np.ceil(3.75 * sigma_major)) + 1  # 13 at ×2, 25 at ×4, as srkit's kernels
    return gaussian_kernel(size, sigma_major, CAMERA["sigma_minor_lr_px"] * scale,
                           np.deg2rad(CAMERA["angle_deg"]))


def degrade_test_image(hr: np.ndarray, scale: int, degradation: str, name: str,
                       seed: int) -> np.ndarray:
    """The 8-bit LR ``(H/s, W/s, 3)`` of one HR test image under one degradation."""
    from srkit.ops.resize import imresize

    if degradation == "bicubic":
        return quantise(imresize(hr, 1 / scale))
    if degradation == "random":
        from srkit.ops.synthetic import SyntheticSettings, random_degradation

        lr, _ = random_degradation(hr, scale, photo_rng(seed, name, scale, 1),
                                   SyntheticSettings())
        return quantise(lr)
    if degradation == "camera":
        return camera_lr(hr, scale, name, seed)
    raise ValueError(f"unknown degradation {degradation!r}")


CAMERA_PARTS = ("blur", "noise", "jpeg")


def camera_lr(hr: np.ndarray, scale: int, name: str, seed: int,
              parts: tuple[str, ...] = CAMERA_PARTS) -> np.ndarray:
    """Camera (c)'s 8-bit LR of ``hr``, or with only some of its parts, in its order (without
    ``blur`` a MATLAB-bicubic downscale; benchmarks/camera_parts.py)."""
    from srkit.ops.jpeg import jpeg_compress
    from srkit.ops.kernels import blur_downsample
    from srkit.ops.noise import gaussian_noise
    from srkit.ops.resize import imresize

    lr = (blur_downsample(hr, camera_kernel(scale), scale) if "blur" in parts
          else imresize(hr, 1 / scale))
    if "noise" in parts:
        lr = gaussian_noise(lr, CAMERA["noise_sigma_255"], photo_rng(seed, name, scale, 2))
    if "jpeg" in parts:
        lr = jpeg_compress(lr, CAMERA["jpeg_quality"])
    return quantise(lr)


def data_settings(seed: int) -> dict:
    from srkit.ops.synthetic import SyntheticSettings

    return {"version": DATA_VERSION, "max_side": MAX_SIDE, "clean_up": CLEAN_UP, "seed": seed,
            "camera": CAMERA, "synthetic": repr(SyntheticSettings())}


def prepare_test_set(test: list[Path], scales: list[int], work: Path, seed: int) -> Path:
    """Write (or reuse) ``DATA/hr/NAME.png`` and ``DATA/x{s}/{degradation}/NAME.png``."""
    from srkit.io.images import read_image, write_image

    settings = data_settings(seed)
    data_dir = work / f"data-{short_hash(settings)}"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "settings.json").write_text(json.dumps(settings, indent=1))
    for index, path in enumerate(test):
        stem = path.stem
        hr_path = data_dir / "hr" / f"{stem}.png"
        todo = [(s, d) for s in scales for d in DEGRADATIONS
                if not (data_dir / f"x{s}" / d / f"{stem}.png").exists()]
        if hr_path.exists() and not todo:
            continue
        log(f"test set {index + 1}/{len(test)}: {path.name}")
        hr = read_image(hr_path).rgb if hr_path.exists() else make_hr(path)
        write_image(hr_path, hr)
        for scale, degradation in todo:
            lr = degrade_test_image(hr, scale, degradation, path.name, seed)
            write_image(data_dir / f"x{scale}" / degradation / f"{stem}.png", lr)
    return data_dir


# --------------------------------------------------------------------------- methods


@dataclass
class Method:
    """One row of the tables: an interpolation or a model file (``scale`` = its factor)."""

    label: str
    kind: str  # "interpolation", "shipped", "extra", "baseline", "reference"
    scale: int | None = None
    path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


def shipped_path(weights: Path, scale: int) -> Path:
    return weights / f"general_x{scale}.safetensors"


def parse_model_option(text: str) -> Method:
    from srkit.io.checkpoints import load_model

    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise SystemExit(f"--model {text!r}: expected LABEL=FILE")
    loaded = load_model(path, "cpu")
    return Method(label, "extra", loaded.scale, Path(path), {"arch": loaded.arch})


# --------------------------------------------------------------------------- baselines


@dataclass
class Budget:
    """What the baselines share with the shipped model: network, recipe, iterations, seed."""

    arch: str
    arch_args: dict[str, Any]
    recipe: str
    overrides: dict[str, Any]  # Recipe fields (iters, batch_size, patch_size, ...)
    seed: int
    source: str
    # a shipped model fine-tuned with --init: the stage before as a Budget dict (itself with
    # its own stage before, for longer chains); the baselines train the same stages
    previous: dict[str, Any] | None = None

    def stages(self) -> list[Budget]:
        """The chain, earliest stage first (this one last)."""
        before = Budget(**self.previous).stages() if self.previous is not None else []
        return [*before, self]

    def describe(self) -> str:
        o = self.overrides
        text = (f"{self.arch} {json.dumps(self.arch_args, sort_keys=True)}, recipe "
                f"{self.recipe}, {o['iters']} iterations, batch {o['batch_size']}, patch "
                f"{o['patch_size']}, learning rate {o['learning_rate']:g}, seed {self.seed}")
        steps = [f"{b.overrides['iters']} iterations (learning rate "
                 f"{b.overrides['learning_rate']:g}, seed {b.seed})"
                 for b in self.stages()[:-1]]
        if steps:
            steps[0] = steps[0].replace(" iterations", " iterations from scratch", 1)
            text = ", then ".join([*steps, text])
        return f"{text} ({self.source})"

    def cache_key(self) -> dict[str, Any]:
        """What decides the trained weights: every stage's settings (not the descriptive
        source; a one-stage budget keeps the key it always had)."""
        key = {k: v for k, v in self.__dict__.items() if k != "previous"} | {"source": None}
        if self.previous is not None:
            key["previous"] = Budget(**self.previous).cache_key()
        return key


def budget_for_scale(scale: int, weights: Path, args: argparse.Namespace) -> Budget:
    """The shipped model's training settings from its metadata, flags on top."""
    from srkit.io.checkpoints import read_safetensors
    from srkit.models import arch_args_for_scale
    from srkit.training.recipes import RECIPES, recipe_keys
    from srkit.training.start import training_stages

    path = shipped_path(weights, scale)
    flags = {"iters": args.budget_iters, "batch_size": args.batch_size,
             "patch_size": args.patch_size, "learning_rate": args.learning_rate}
    net_flags = {"num_feat": args.num_feat, "num_conv": args.num_conv,
                 "num_block": args.num_block}
    # flags describe one stage from scratch, of every iteration
    overridden = args.arch is not None or any(
        v is not None for v in (*flags.values(), *net_flags.values()))
    arch, arch_args, recipe, seed, earlier = "compact", {}, "psnr", 0, None
    overrides: dict[str, Any] = {"iters": 2000}
    source = f"no {path.name}: flags and defaults"
    if path.is_file():
        _, meta = read_safetensors(path)
        arch = meta["srkit_arch"]
        arch_args = json.loads(meta.get("srkit_arch_args", "{}"))
        recipe = meta.get("recipe", "psnr")
        settings = json.loads(meta.get("recipe_settings", "{}"))
        overrides.update({k: v for k, v in settings.items() if k in recipe_keys()})
        # iterations actually done (a run may stop early); a fine-tuned model's earlier
        # stages are repeated when its metadata knows them all, else counted in
        source = f"{path.name} metadata"
        total = meta.get("total_iterations", meta.get("iterations"))
        if total is not None:
            overrides["iters"] = int(total)
        stages = training_stages(meta)
        earlier = stages[:-1] if stages is not None and len(stages) > 1 else None
        if earlier is not None and not overridden:
            overrides["iters"] = int(meta["iterations"])
            source += (f" and its first stage's, {meta['init']}" if len(earlier) == 1 else
                       f" and its {len(earlier)} earlier stages', from {meta['init']}")
        elif "init" in meta and not overridden:
            source += f" (fine-tuned from {meta['init']}: the total iterations)"
        seed = int(meta.get("seed", 0))
    given = {k: v for k, v in flags.items() if v is not None}
    if args.arch is not None and args.arch != arch:
        arch, arch_args = args.arch, {}
    for key, value in net_flags.items():
        if value is not None:
            arch_args[key] = value
            given[key] = value
    if overridden:
        source += "; overridden by " + ", ".join(
            f"{k}={v}" for k, v in {**given, **({"arch": args.arch} if args.arch else {})}.items())
    defaults = RECIPES[recipe]
    overrides = {**{k: getattr(defaults, k) for k in ("iters", "batch_size", "patch_size",
                                                      "learning_rate")},
                 **overrides, **{k: v for k, v in given.items() if k in flags}}
    overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}
    arch_args = arch_args_for_scale(arch, scale, **arch_args)
    previous = None
    for stage in (earlier or []) if not overridden else []:
        # its settings come from JSON: lists already, like overrides'
        settings = {k: v for k, v in stage["recipe_settings"].items() if k in recipe_keys()}
        previous = Budget(arch, arch_args, recipe,
                          {**overrides, **settings, "iters": int(stage["iterations"])},
                          int(stage["seed"]), source, previous).__dict__
    return Budget(arch, arch_args, recipe, overrides, seed, source, previous)


def photo_ids(paths: list[Path]) -> list[tuple[str, str]]:
    """(name, SHA-256) of each photo: the cache keys of what is made from them."""
    from srkit.io.hashing import file_sha256

    return [(p.name, file_sha256(p)) for p in paths]


def prepare_clean_hr(train: list[Path], work: Path) -> Path:
    """The training photos cleaned by a MATLAB-bicubic ×½, as 8-bit PNGs (cached)."""
    from srkit.io.images import read_image, write_image
    from srkit.ops.resize import imresize

    folder = work / "train" / f"clean-{short_hash([CLEAN_UP, photo_ids(train)])}"
    todo = [p for p in train if not (folder / f"{p.stem}.png").exists()]
    for index, path in enumerate(todo):
        if index % 10 == 0:
            log(f"cleaning training photos: {index}/{len(todo)}")
        write_image(folder / f"{path.stem}.png",
                    quantise(imresize(read_image(path).rgb, 1 / CLEAN_UP)))
    return folder


def prepare_camera_pairs(clean: Path, work: Path, scale: int, seed: int) -> Path:
    """Pairs of the cleaned training photos degraded by camera (c), as the test LR are (the
    noise draws differ: the photos' names seed them); cached."""
    from srkit.io.images import read_image, write_image

    key = [DATA_VERSION, CAMERA, seed, clean.name]
    folder = work / "train" / f"{clean.name}-camera-x{scale}-{short_hash(key)}"
    todo = [p for p in sorted(clean.glob("*.png")) if not (folder / "lr" / p.name).exists()]
    for index, path in enumerate(todo):
        if index % 20 == 0:
            log(f"camera pairs ×{scale}: {index}/{len(todo)}")
        hr = read_image(path).rgb
        hr = hr[:hr.shape[0] // scale * scale, :hr.shape[1] // scale * scale]
        write_image(folder / "hr" / path.name, quantise(hr))
        write_image(folder / "lr" / path.name,
                    degrade_test_image(hr, scale, "camera", path.name, seed))
    return folder


def prepare_pool(train: list[Path], work: Path, scales: list[int], kernel_method: str | None,
                 seed: int) -> tuple[Path, dict]:
    """RealSR's pool from the (uncleaned) training photos: one kernel per photo and scale,
    noise patches from flat windows (the stages skip photos already in the pool). Returns the
    pool and what it holds."""
    from srkit.io.pools import read_pool
    from srkit.stages.collect_noise import collect_noise
    from srkit.stages.estimate_kernels import estimate_kernels

    key = {"photos": photo_ids(train), "kernel_method": kernel_method, "seed": seed}
    pool = work / "train" / f"pool-{short_hash(key)}.h5"
    pool.parent.mkdir(parents=True, exist_ok=True)
    for scale in scales:
        log(f"pool: estimating ×{scale} kernels of {len(train)} training photos")
        result = estimate_kernels(train, pool, scale, method=kernel_method, seed=seed)
        if result.skipped:
            log(f"pool: {len(result.skipped)} photo(s) skipped by estimate-kernels")
    log("pool: collecting noise patches")
    noise = collect_noise(train, pool, rule="realsr")  # the rule the recorded results used
    contents = read_pool(pool)
    summary = {"file": str(pool), "noise_patches": contents.noise_count,
               "kernels": {str(s): len(contents.kernels(s).kernels) for s in scales}}
    log(f"pool: {summary['kernels']} kernels per scale, {noise.pool_patches} noise patches")
    return pool, summary


def logged_seconds(csv_path: Path) -> float | None:
    """Training time over every session of a run, from its CSV log (whose ``elapsed_s``
    starts again at each resume); None without a log."""
    try:
        with open(csv_path, newline="") as handle:
            elapsed = [float(row["elapsed_s"]) for row in csv.DictReader(handle)
                       if row.get("elapsed_s")]
    except OSError:
        return None
    if not elapsed:
        return None
    # the last row of each session
    ends = [a for a, b in zip(elapsed[:-1], elapsed[1:], strict=True) if b < a]
    return sum(ends) + elapsed[-1]


def _device_name(device: str) -> str:
    """``cpu (AMD EPYC)`` or ``cuda (NVIDIA H100 80GB HBM3)``."""
    import torch

    from srkit.device import cpu_name, resolve_device

    resolved = resolve_device(device)
    name = torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else cpu_name()
    return f"{resolved.type} ({name})"


def _in_work(path: Path, work: Path) -> str:
    """``path`` relative to the cache folder when inside it, so that cache keys do not depend
    on where the cache is or how --work was spelt."""
    try:
        return str(Path(path).resolve().relative_to(work.resolve()))
    except ValueError:
        return str(path)


def train_baseline(kind: str, scale: int, budget: Budget, data: dict[str, Any],
                   work: Path, device: str, workers: int | None) -> tuple[Path, dict]:
    """Train (or reuse, or resume) one baseline; returns its file and a record."""
    from srkit.io.checkpoints import read_safetensors
    from srkit.stages.train_sr import train_sr
    from srkit.training.state import resume_path

    init = previous_record = None
    if budget.previous is not None:  # the stages before (each cached on its own)
        init, previous_record = train_baseline(kind, scale, Budget(**budget.previous), data,
                                               work, device, workers)
    key = {"kind": kind, "scale": scale, "budget": budget.cache_key(),
           "data": {k: _in_work(v, work) for k, v in data.items()}}
    output = work / "models" / f"{kind}_x{scale}_{short_hash(key)}.safetensors"
    output.parent.mkdir(parents=True, exist_ok=True)
    iters = int(budget.overrides["iters"])
    record_path = output.with_suffix(".json")
    if output.exists():
        _, meta = read_safetensors(output)
        if int(meta.get("iterations", -1)) == iters and record_path.exists():
            log(f"{kind} ×{scale}: reusing {output.name}")
            return output, json.loads(record_path.read_text())
    resume = resume_path(output).exists()
    log(f"{kind} ×{scale}: {'resuming' if resume else 'training'} {budget.describe()}")
    every = max(1, iters // 20)
    began, first = time.perf_counter(), []

    def report(iteration: int) -> None:
        if not first:  # the first iteration of this session (a resumed run starts late)
            first.append(iteration)
        if iteration % every == 0 or iteration == iters:
            rate = (iteration - first[0] + 1) / max(time.perf_counter() - began, 1e-9)
            log(f"{kind} ×{scale}: {iteration}/{iters} it, {rate:.2f} it/s this session, "
                f"about {(iters - iteration) / max(rate, 1e-9) / 60:.0f} min left")

    result = train_sr(output=output, scale=scale, arch=budget.arch, arch_args=budget.arch_args,
                      recipe=budget.recipe, overrides=budget.overrides, seed=budget.seed,
                      device=device, workers=workers, resume=resume, overwrite=not resume,
                      init=init if init is not None else "none",  # none: from scratch
                      save_every=max(100, iters // 10), callback=report, **data)
    seconds = logged_seconds(result.log) or result.seconds
    record = {"file": str(output), "seconds": seconds,  # every session's, if resumed
              "iterations_per_second": (iters / seconds if result.start_iteration
                                        else result.iterations_per_second),
              "data_wait_fraction": result.data_wait_fraction, "data": result.data,
              "resumed_from": result.start_iteration, "budget": budget.__dict__,
              "trained_on": _device_name(device)}
    if previous_record is not None:
        record["previous"] = previous_record
    record_path.write_text(json.dumps(record, indent=1))
    return output, record


def make_baselines(scales: list[int], train: list[Path], work: Path, weights: Path,
                   args: argparse.Namespace) -> tuple[list[Method], dict]:
    """Both baselines at every scale; returns the methods and the budgets / training records."""
    from srkit.console import set_quiet
    from srkit.errors import SrkitError
    from srkit.stages.degrade import degrade

    set_quiet(not args.verbose)
    clean = prepare_clean_hr(train, work)
    pool, pool_summary = prepare_pool(train, work, scales, args.kernel_method, args.seed)
    methods, info = [], {}
    for scale in scales:
        budget = budget_for_scale(scale, weights, args)
        pairs = work / "train" / f"{clean.name}-bicubic-x{scale}"
        log(f"bicubic pairs ×{scale} of {len(train)} cleaned training photos")
        degrade(clean, pairs, scale, mode="bicubic", seed=args.seed)
        sources = {"bicubic-trained": {"pairs": pairs},
                   "pool-workflow": {"hr": clean, "pool": pool}}
        if "camera-trained" in args.baselines:
            sources["camera-trained"] = {
                "pairs": prepare_camera_pairs(clean, work, scale, args.seed)}
        info[scale] = {"budget": budget.__dict__, "budget_text": budget.describe(),
                       "train_photos": [p.name for p in train], "pool": pool_summary,
                       "runs": {}}
        for kind in args.baselines:
            try:
                path, record = train_baseline(kind, scale, budget, sources[kind], work,
                                              args.device, args.workers)
            except SrkitError as error:  # e.g. no kernel could be estimated at this scale
                log(f"{kind} ×{scale}: not trained: {error}")
                info[scale]["runs"][kind] = {"error": str(error)}
                continue
            info[scale]["runs"][kind] = record
            methods.append(Method(kind, "reference" if kind in REFERENCES else "baseline",
                                  scale, path, {"arch": budget.arch}))
    set_quiet(False)
    return methods, info


# --------------------------------------------------------------------------- evaluation


def upscaler(method: Method, scale: int, device: str):
    """A function LR ``(h, w, 3)`` → SR ``(s·h, s·w, 3)`` in [0, 1] for ``method``."""
    from srkit.stages.upscale import interpolate_image, run_model

    if method.kind == "interpolation":
        return lambda lr: interpolate_image(lr, (lr.shape[0] * scale, lr.shape[1] * scale),
                                            method.label)
    from srkit.io.checkpoints import load_model

    loaded = load_model(method.path, device)
    return lambda lr: run_model(loaded.model, lr, tile=0)


def score(sr: np.ndarray, hr: np.ndarray | None, scale: int) -> dict[str, float | None]:
    from srkit.metrics.no_reference import niqe
    from srkit.metrics.psnr_ssim import psnr, ssim

    out: dict[str, float | None] = {"psnr_y": None, "ssim_y": None}
    if hr is not None:
        out = {"psnr_y": psnr(sr, hr, border=scale), "ssim_y": ssim(sr, hr, border=scale)}
    try:
        out["niqe"] = niqe(sr, border=scale)
    except ValueError:  # too small or flat
        out["niqe"] = None
    return out


def evaluate(data_dir: Path, test: list[Path], scales: list[int], methods: list[Method],
             args: argparse.Namespace) -> list[dict]:
    """Every method on every LR: one record per (photo, scale, degradation, method)."""
    from srkit.io.images import read_image, write_image

    records = []
    if args.grids is not None:  # SR images for the grids: only this run's
        shutil.rmtree(args.work / "sr" / data_dir.name, ignore_errors=True)
    for scale in scales:
        hrs = {p.stem: read_image(data_dir / "hr" / f"{p.stem}.png").rgb for p in test}
        for name, hr in hrs.items():
            records.append({"photo": name, "scale": scale, "degradation": None,
                            "method": "HR (reference)", "hr_shape": list(hr.shape[:2]),
                            **score(hr, None, scale)})
        for method in [m for m in methods if m.scale in (None, scale)]:
            run = upscaler(method, scale, args.device)
            warmed = False
            for degradation in DEGRADATIONS:
                for name, hr in hrs.items():
                    lr = read_image(data_dir / f"x{scale}" / degradation / f"{name}.png").rgb
                    if not warmed:
                        run(lr)
                        warmed = True
                    began = time.perf_counter()
                    sr = quantise(run(lr))
                    seconds = time.perf_counter() - began
                    if args.grids is not None:
                        write_image(args.work / "sr" / data_dir.name / f"x{scale}" / degradation
                                    / method.label / f"{name}.png", sr)
                    records.append({"photo": name, "scale": scale, "degradation": degradation,
                                    "method": method.label, "seconds": seconds,
                                    "lr_shape": list(lr.shape[:2]), **score(sr, hr, scale)})
                log(f"×{scale} {degradation:7s} {method.label}: PSNR-Y "
                    f"{np.mean([r['psnr_y'] for r in records[-len(hrs):]]):.2f} dB")
    return records


def make_grids(data_dir: Path, scales: list[int], methods: list[Method],
               args: argparse.Namespace) -> list[str]:
    """One comparison PNG per scale and degradation through ``srkit evaluate --grid``."""
    import subprocess

    helptext = subprocess.run([sys.executable, "-m", "srkit", "evaluate", "--help"],
                              capture_output=True, text=True, env={**os.environ,
                                                                   "COLUMNS": "200"}).stdout
    if "--grid" not in helptext:
        return ["--grids: `srkit evaluate` has no --grid option in this srkit; no grids made"]
    notes = []
    for scale in scales:
        for degradation in DEGRADATIONS:
            folder = args.work / "sr" / data_dir.name / f"x{scale}" / degradation
            # --lr adds the LR (nearest neighbour) and bicubic columns itself
            dirs = [str(folder / m.label) for m in methods
                    if m.scale in (None, scale) and m.label != "bicubic"]
            out = args.grids / f"quality_x{scale}_{degradation}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            done = subprocess.run([sys.executable, "-m", "srkit", "evaluate", *dirs, "--ref",
                                   str(data_dir / "hr"), "--lr",
                                   str(data_dir / f"x{scale}" / degradation), "-x", str(scale),
                                   "--grid", str(out), "-q"], capture_output=True, text=True)
            notes.append(f"grid {out}" if done.returncode == 0 else
                         f"grid {out} failed: {done.stderr.strip().splitlines()[-1:]}")
            log(notes[-1])
    return notes


# --------------------------------------------------------------------------- report


def _shown(path: str) -> str:
    """A path relative to the repository when it lies inside it or beside it."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(REPO):
        return str(resolved.relative_to(REPO))
    if resolved.is_relative_to(REPO.parent):
        return str(Path("..") / resolved.relative_to(REPO.parent))
    return path


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def method_means(records: list[dict], scale: int, method: str, degradation: str | None
                 ) -> dict[str, float | None]:
    rows = [r for r in records if r["scale"] == scale and r["method"] == method
            and (degradation is None or r["degradation"] in (degradation, None))]
    return {k: _mean([r.get(k) for r in rows]) for k in ("psnr_y", "ssim_y", "niqe", "seconds")}


def mean_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of paired per-photo differences."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    half = (stats.t.ppf(0.5 + confidence / 2, len(values) - 1)
            * values.std(ddof=1) / np.sqrt(len(values)))
    return float(values.mean() - half), float(values.mean() + half)


def margin_line(records: list[dict], scale: int, shipped: str) -> str:
    """The shipped model's PSNR-Y margin over the better interpolation on (b) and (c)."""
    parts = []
    for degradation in ("random", "camera"):
        best = max(INTERPOLATIONS,
                   key=lambda m: method_means(records, scale, m, degradation)["psnr_y"] or -1e9)
        per_photo = {r["photo"]: r["psnr_y"] for r in records if r["scale"] == scale
                     and r["degradation"] == degradation and r["method"] == best}
        diffs = [r["psnr_y"] - per_photo[r["photo"]] for r in records if r["scale"] == scale
                 and r["degradation"] == degradation and r["method"] == shipped]
        interval = ("95 % CI {:+.2f} to {:+.2f} dB, ".format(*mean_interval(diffs))
                    if len(diffs) > 1 else "")
        parts.append(f"{np.mean(diffs):+.2f} dB over {best} on {DEGRADATIONS[degradation]} "
                     f"({interval}better on {sum(d > 0 for d in diffs)} of {len(diffs)} "
                     f"photos, smallest margin {min(diffs):+.2f} dB)")
    return f"**{shipped}** PSNR-Y margin: " + "; ".join(parts) + "."


def _training_time(run: dict) -> str:
    """``27.1 min (3.07 it/s) on cpu``, or per stage for a baseline of several stages (the
    device after each stage where they differ)."""
    runs, stage = [], run
    while stage is not None:
        runs.insert(0, stage)
        stage = stage.get("previous", stage.get("stage1"))  # stage1: results before chains
    devices = {r.get("trained_on") for r in runs}
    parts = []
    for r in runs:
        text = f"{r['seconds'] / 60:.1f} min ({r['iterations_per_second']:.2f} it/s)"
        if len(devices) > 1 and r.get("trained_on"):
            text += f" on {r['trained_on']}"
        parts.append(text)
    text = " + ".join(parts)
    if len(devices) == 1 and run.get("trained_on"):
        text += f" on {run['trained_on']}"
    return text


def summarise(results: dict) -> str:
    """benchmarks/results/quality.md: how it was made, one table per scale, the margins."""
    records, settings = results["records"], results["settings"]
    machine = results["machine"]
    photos = sorted({r["photo"] for r in records})
    lines = [
        "# Quality benchmark: held-out photos, three degradations", "",
        "Made by `python benchmarks/quality.py` (its docstring has the whole recipe). "
        f"{len(photos)} held-out photo(s) (`{_shown(settings['holdout'])}`) from "
        f"`{_shown(settings['photo_dir'])}`, cleaned by a bicubic ×½ and centre-cropped to ≤ "
        f"{MAX_SIDE}²; LR: (a) MATLAB bicubic, (b) Real-ESRGAN's random pipeline (default "
        "settings, fixed seed per photo), (c) a fixed camera not in any srkit pool "
        f"(anisotropic Gaussian σ = {CAMERA['sigma_major_lr_px']}·s / "
        f"{CAMERA['sigma_minor_lr_px']}·s HR px at {CAMERA['angle_deg']:g}°, Gaussian noise "
        f"σ = {CAMERA['noise_sigma_255']:g}/255, JPEG {CAMERA['jpeg_quality']}). PSNR-Y / "
        "SSIM-Y (BT.601 Y, data range 255) and NIQE (lower is better) with a border of s "
        "pixels, means over photos; s / image: the network or resize alone on "
        f"{machine['device']}, after a warm-up run.", "",
        f"- Machine: {machine['cpu']}, {machine['cpus']} logical CPUs, torch "
        f"{machine['torch']}, {machine['threads']} torch thread(s); 1-minute load average "
        f"{machine['load_before']:.1f} before, {machine['load_after']:.1f} after "
        "(the CPU is shared: times are pessimistic).",
    ]
    for scale, info in sorted(results.get("baselines", {}).items(), key=lambda kv: -int(kv[0])):
        runs = "; ".join(f"{kind} not trained ({run['error']})" if "error" in run else
                         f"{kind} {_training_time(run)}" for kind, run in info["runs"].items())
        pool = info["pool"]
        pool_text = (f"pool-workflow pool: {pool['kernels'].get(str(scale), 0)} ×{scale} "
                     f"kernels, {pool['noise_patches']} noise patches; "
                     if "pool-workflow" in info["runs"] else "")
        lines.append(f"- Baselines ×{scale}: {info['budget_text']}; trained on "
                     f"{len(info['train_photos'])} training photos; {pool_text}"
                     f"training time: {runs}.")
    lines += [f"- {note}" for note in results.get("notes", [])]
    for scale in settings["scales"]:
        present = [r for r in records if r["scale"] == scale]
        if not present:
            continue
        order = list(dict.fromkeys(r["method"] for r in present if r["degradation"]))
        lines += ["", f"## ×{scale}", "",
                  "| method | " + " | ".join(f"{DEGRADATIONS[d][:3]} {m}" for d in DEGRADATIONS
                                             for m in ("PSNR-Y", "SSIM-Y", "NIQE"))
                  + " | s / image |", "|---" * (3 * len(DEGRADATIONS) + 2) + "|"]
        for method in [*order, "HR (reference)"]:
            cells = []
            for degradation in DEGRADATIONS:
                means = method_means(records, scale, method, degradation)
                cells += [_fmt(means["psnr_y"], 2), _fmt(means["ssim_y"], 4),
                          _fmt(means["niqe"], 2)]
            seconds = method_means(records, scale, method, None)["seconds"]
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {_fmt(seconds, 3)} |")
        shipped = f"general_x{scale}"
        if any(r["method"] == shipped for r in present):
            lines += ["", margin_line(records, scale, shipped)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo_dir", nargs="?", type=Path,
                        default=REPO.parent / "shared" / "data" / "photos")
    parser.add_argument("--scales", type=int, nargs="+", default=[4, 2])
    parser.add_argument("--holdout", type=Path, default=HERE / "quality_holdout.txt")
    parser.add_argument("--photos", type=int, default=None,
                        help="use only the first N held-out photos (development)")
    parser.add_argument("--train-photos", type=int, default=None,
                        help="train the baselines on N training photos (default: all)")
    parser.add_argument("--no-train", action="store_true", help="skip the trained baselines")
    parser.add_argument("--baselines", nargs="+", choices=BASELINES + REFERENCES,
                        default=list(BASELINES),
                        help="which baselines to train; camera-trained (opt-in) learns camera "
                        "(c) itself, a reference for (c) (two runs can train one each in "
                        "parallel with --train-only, then a last run evaluates)")
    parser.add_argument("--train-only", action="store_true",
                        help="stop after training the baselines (they stay cached)")
    parser.add_argument("--baseline-scales", type=int, nargs="+", default=None,
                        help="train the baselines at these scales only (default: --scales)")
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=FILE",
                        help="one more model to score (repeatable)")
    parser.add_argument("--weights", type=Path, default=REPO / "srkit" / "weights",
                        help="folder of the shipped general_x{s}.safetensors")
    parser.add_argument("--budget-iters", type=int, default=None,
                        help="baseline iterations (default: the shipped model's, else 2000)")
    parser.add_argument("--arch", default=None)
    parser.add_argument("--num-feat", type=int, default=None)
    parser.add_argument("--num-conv", type=int, default=None)
    parser.add_argument("--num-block", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--patch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--kernel-method", default=None,
                        help="estimate-kernels method of the pool workflow (default: srkit's)")
    parser.add_argument("--device", default="auto", help="training and inference device")
    parser.add_argument("--workers", type=int, default=None, help="train-sr data workers")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--seed", type=int, default=0, help="test-set and pool seed")
    parser.add_argument("--work", type=Path, default=HERE / ".quality-cache",
                        help="cache of test images, pools and trained baselines")
    parser.add_argument("--grids", type=Path, default=None,
                        help="write one comparison PNG per scale and degradation here")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "quality",
                        help="writes OUT.json and OUT.md")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="rewrite the tables from an earlier run's JSON")
    parser.add_argument("--verbose", action="store_true", help="show the stages' progress bars")
    return parser.parse_args(argv)


def run_benchmark(args: argparse.Namespace) -> dict:
    import torch

    from srkit.device import cpu_name, resolve_device

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if not args.photo_dir.is_dir():
        raise SystemExit(f"{args.photo_dir}: no such folder")
    load_before = os.getloadavg()[0]
    test, train = split_photos(args.photo_dir, read_holdout(args.holdout), args.photos,
                               args.train_photos)
    log(f"{len(test)} held-out photos, {len(train)} training photos, scales {args.scales}")
    data_dir = prepare_test_set(test, args.scales, args.work, args.seed)
    methods = [Method(name, "interpolation") for name in INTERPOLATIONS]
    notes = []
    for scale in args.scales:
        path = shipped_path(args.weights, scale)
        if path.is_file():
            methods.append(Method(f"general_x{scale}", "shipped", scale, path))
        else:
            notes.append(f"no shipped ×{scale} model ({path} missing): row left out")
    methods += [parse_model_option(text) for text in args.model]
    baselines = {}
    if args.no_train:
        notes.append("--no-train: the trained baselines were not run")
    else:
        baseline_scales = [s for s in args.scales
                           if args.baseline_scales is None or s in args.baseline_scales]
        if baseline_scales != args.scales:
            notes.append("trained baselines at ×" + ", ×".join(map(str, baseline_scales))
                         + " only (--baseline-scales)")
        trained, baselines = make_baselines(baseline_scales, train, args.work, args.weights,
                                            args)
        methods += trained
    for method in methods:
        if method.path is not None:
            method.info["sha256"] = hashlib.sha256(method.path.read_bytes()).hexdigest()
    if args.train_only:
        raise SystemExit("--train-only: baselines trained and cached in " + str(args.work))
    records = evaluate(data_dir, test, args.scales, methods, args)
    if args.grids is not None:
        notes += make_grids(data_dir, args.scales, methods, args)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    return {
        "settings": settings | {"test_photos": [p.name for p in test],
                                "data": data_settings(args.seed), "data_dir": str(data_dir)},
        "machine": {"cpu": cpu_name(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "device": str(resolve_device(args.device)), "load_before": load_before,
                    "load_after": os.getloadavg()[0],
                    "seconds": time.perf_counter() - STARTED},
        "methods": [{"label": m.label, "kind": m.kind, "scale": m.scale,
                     "path": None if m.path is None else str(m.path), **m.info}
                    for m in methods],
        "baselines": {str(k): v for k, v in baselines.items()},
        "notes": notes,
        "records": records,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
    else:
        results = run_benchmark(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=float))
    table = summarise(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
