"""``srkit train-dsn``: learn a camera's HR → LR degradation from unpaired photos (DASR).

Each iteration takes ``batch_size`` random HR crops (``patch_size``) from ``hr_dir`` and as
many random crops of ``patch_size / scale`` from the real LR photos in ``real_lr_dir`` (no
pairing), and makes one :class:`~srkit.training.dasr.DsnTrainer` step, in the shared loop
(:mod:`srkit.training.loop`: logs, saves, Ctrl-C, resume). The crops of iteration ``i`` come
from ``numpy.random.default_rng([seed, i])`` alone, so a resumed run sees the same batches
as an uninterrupted one.

Files (beside ``output``, ``dsn.safetensors`` here):

* ``dsn.safetensors`` — generator + discriminator with metadata
  (:mod:`srkit.io.dsn_checkpoints`), written every ``save_every`` iterations, at the end and
  when stopped by Ctrl-C;
* ``dsn.resume.pt`` — networks, optimisers, schedules, random states and iteration for
  ``resume``;
* ``dsn.train.csv`` — losses per ``log_every`` iterations;
* ``dsn.curves.png`` — those losses drawn, at every save;
* ``dsn.samples/iter_NNNNNNN.png`` — every ``sample_every`` iterations: DSN output,
  bicubic downscaling (both of the same HR crops) and real LR crops, side by side.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from srkit.errors import SrkitError
from srkit.ops.wavelets import FREQ_KINDS, high_channels
from srkit.training.dasr import DsnTrainer, DsnWeights
from srkit.training.loop import LoopHooks, LoopPlan, restore, run_loop

LOG_COLUMNS = ("iteration", "loss_total", "loss_content", "loss_adversarial",
               "loss_perceptual", "loss_discriminator", "d_real", "d_fake", "learning_rate",
               "elapsed_s")


@dataclass(frozen=True)
class TrainDsnResult:
    """What a run wrote and where it ended."""

    output: Path
    iterations: int
    seconds: float
    losses: dict[str, float]           # means over the last logging interval
    log: Path
    samples: Path | None
    history: list[dict[str, float]] = field(default_factory=list)


def _samples_dir(output: Path) -> Path:
    return output.with_name(f"{output.stem}.samples")


def _load_folder(folder: str | Path, min_size: int, label: str) -> list[np.ndarray]:
    """Decode every image of ``folder`` at least ``min_size`` on both sides, as uint8."""
    from srkit.console import track, warn
    from srkit.io.images import SkipLog, list_images, to_uint

    path = Path(folder)
    if not path.is_dir():
        raise SrkitError(f"{path}: not a folder of {label} images")
    skip = SkipLog()
    images, small = [], 0
    for file in track(list_images([path]), f"reading {label}"):
        image = skip.read(file)
        if image is None:
            continue
        if min(image.height, image.width) < min_size:
            small += 1
            continue
        images.append(to_uint(image.rgb, 8))
    if small:
        warn(f"{label}: skipped {small} image(s) smaller than {min_size}×{min_size}")
    if not images:
        raise SrkitError(f"{path}: no {label} image of at least {min_size}×{min_size} pixels")
    return images


def _crops(images: list[np.ndarray], size: int, count: int, rng: np.random.Generator
           ) -> torch.Tensor:
    """``count`` random ``size``² crops → float tensor ``(count, 3, size, size)`` in [0, 1]."""
    batch = np.empty((count, size, size, 3), dtype=np.uint8)
    for n in range(count):
        image = images[rng.integers(len(images))]
        top = rng.integers(image.shape[0] - size + 1)
        left = rng.integers(image.shape[1] - size + 1)
        batch[n] = image[top:top + size, left:left + size]
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0


def _write_samples(path: Path, trainer: DsnTrainer, hr: torch.Tensor, real_lr: torch.Tensor
                   ) -> None:
    """DSN output, bicubic downscaling (both of ``hr``) and ``real_lr``, side by side."""
    from srkit.io.images import write_image

    generator = trainer.generator
    generator.eval()
    with torch.no_grad():
        fake = generator(hr).clamp(0, 1)
        bicubic = trainer.bicubic_target(hr)
    generator.train()
    rows = [torch.cat([f, b, r], dim=-1) for f, b, r in zip(fake, bicubic, real_lr, strict=True)]
    grid = torch.cat(rows, dim=-2).permute(1, 2, 0).cpu().numpy()
    write_image(path, grid)


def train_dsn(hr_dir: str | Path, real_lr_dir: str | Path, output: str | Path = "dsn.safetensors",
              scale: int = 4, *, iters: int = 40_000, batch_size: int = 8, patch_size: int = 256,
              learning_rate: float = 1e-4, freq: str = "wavelet", discriminator: str = "fsd",
              weights: DsnWeights = DsnWeights(), vgg_weights: str | Path | None = None,
              num_feat: int = 64, num_block: int = 8, discriminator_feat: int = 64,
              seed: int = 0, device: str = "auto",
              resume: bool = False, overwrite: bool = False, sample_every: int = 1000,
              save_every: int = 1000, log_every: int = 10, quiet: bool = False
              ) -> TrainDsnResult:
    """Train a DASR down-sampling network; see the module doc and ``docs/cli/train-dsn.md``.

    Args:
        hr_dir: clean HR photos (crops of ``patch_size``).
        real_lr_dir: the camera's real LR photos (crops of ``patch_size // scale``).
        output: the DSN file (``*.safetensors``).
        scale: 2 or 4.
        iters, batch_size, patch_size, learning_rate: the run (reference: ≈40k iterations of
            batch 8, HR crops 256, Adam 1e-4).
        freq: wavelet (WFS), gaussian (GBFS) or rgb: what the discriminator sees.
        discriminator: ``fsd`` (reference default) or ``patch``.
        weights: content / adversarial / perceptual weights.
        vgg_weights: torchvision VGG19 weights; switches the perceptual term on.
        num_feat, num_block: DSN width and depth (64 and 8 in DASR).
        discriminator_feat: width of the discriminator's first layer (64).
        seed: network initialisation and crop positions.
        device: auto, cpu, cuda, cuda:N or mps.
        resume: continue from ``output``'s ``.resume.pt``; overwrite: replace existing files.
        sample_every, save_every, log_every: intervals in iterations (0 = never, for samples).
        quiet: no progress bar.
    """
    from srkit import console
    from srkit.device import resolve_device
    from srkit.training.log import log_path
    from srkit.training.state import resume_path

    output = Path(output)
    if output.suffix != ".safetensors":
        raise SrkitError(f"{output}: the DSN is written as safetensors; name it *.safetensors")
    if scale not in (2, 4):
        raise SrkitError(f"scale must be 2 or 4, got {scale}")
    if freq not in FREQ_KINDS:
        raise SrkitError(f"--freq must be one of {', '.join(FREQ_KINDS)}, got {freq!r}")
    if patch_size % (2 * scale) or patch_size < 8 * scale:
        raise SrkitError(f"--patch-size must be a multiple of {2 * scale} and at least "
                         f"{8 * scale}, got {patch_size}")
    for name, value in (("iters", iters), ("batch_size", batch_size), ("save_every", save_every),
                        ("log_every", log_every), ("num_feat", num_feat),
                        ("discriminator_feat", discriminator_feat)):
        if value < 1:
            raise SrkitError(f"{name} must be at least 1, got {value}")
    if resume and overwrite:
        raise SrkitError("--resume and --overwrite contradict each other; pick one")
    state_file, log_file = resume_path(output), log_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if not resume and not overwrite and (output.exists() or state_file.exists()):
        raise SrkitError(f"{output}: already exists (continue it with --resume, or replace "
                         "it with --overwrite)")
    if vgg_weights is not None and not Path(vgg_weights).is_file():
        raise SrkitError(f"{vgg_weights}: no such VGG19 weights file")

    was_quiet = console.is_quiet()
    console.set_quiet(quiet or was_quiet)
    try:
        torch_device = resolve_device(device)
        hr_images = _load_folder(hr_dir, patch_size, "HR")
        lr_images = _load_folder(real_lr_dir, patch_size // scale, "real LR")
        arch_args = {"scale": scale, "num_feat": num_feat, "num_block": num_block}
        d_args = {"in_channels": high_channels(freq), "num_feat": discriminator_feat}
        trainer = _build_trainer(arch_args, discriminator, d_args, freq, iters, weights,
                                 vgg_weights, learning_rate, seed, torch_device)
        settings = {"scale": scale, "freq": freq, "discriminator": discriminator,
                    "arch_args": arch_args, "patch_size": patch_size, "batch_size": batch_size,
                    "seed": seed}
        start = _restore(state_file, trainer, settings) if resume else 0
        metadata_extra = {"srkit_recipe": "dasr-dsn", "srkit_seed": str(seed),
                          "srkit_weights": json.dumps(asdict(weights), sort_keys=True)}

        def save(iteration: int) -> None:
            from srkit.io.dsn_checkpoints import dsn_metadata, save_dsn
            from srkit.stages.curves import update_curves

            meta = dsn_metadata(trainer.generator, arch_args, discriminator, d_args, freq,
                                {**metadata_extra, "srkit_iterations": str(iteration)})
            save_dsn(output, trainer.generator, trainer.discriminator, meta)
            update_curves(log_file)  # dsn.curves.png; warns instead of failing

        def batches(first: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for iteration in range(first, iters):
                rng = np.random.default_rng([seed, iteration])
                hr = _crops(hr_images, patch_size, batch_size, rng).to(torch_device)
                real = _crops(lr_images, patch_size // scale, batch_size, rng).to(torch_device)
                yield hr, real

        sample_rng = np.random.default_rng([seed, 2**31])
        sample_hr = _crops(hr_images, patch_size, 4, sample_rng).to(torch_device)
        sample_lr = _crops(lr_images, patch_size // scale, 4, sample_rng).to(torch_device)
        samples = _samples_dir(output) if sample_every > 0 else None

        def sample(iteration: int) -> None:
            assert samples is not None
            _write_samples(samples / f"iter_{iteration:07d}.png", trainer, sample_hr,
                           sample_lr)

        plan = LoopPlan(iters, state_file, log_file, LOG_COLUMNS, save_every=save_every,
                        log_every=log_every, sample_every=sample_every,
                        title=f"training DSN ×{scale}", run_info={"settings": settings},
                        device=torch_device)
        done = run_loop(trainer, batches, plan, LoopHooks(save, sample=sample, status=_status),
                        start)
    finally:
        console.set_quiet(was_quiet)
    history = [{k: v for k, v in row.items() if k in LOG_COLUMNS} for row in done.history]
    last = {k: float(v) for k, v in (history[-1] if history else {}).items()}
    return TrainDsnResult(output, iters, done.seconds, last, log_file, samples, history)


def _build_trainer(arch_args: dict, discriminator: str, d_args: dict, freq: str, iters: int,
                   weights: DsnWeights, vgg_weights: str | Path | None, learning_rate: float,
                   seed: int, device: torch.device) -> DsnTrainer:
    """The DSN and its discriminator, initialised from ``seed`` alone, and their trainer."""
    from srkit.models.dsn import DownSamplingNetwork, build_discriminator

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = DownSamplingNetwork(**arch_args).to(device)
        disc = build_discriminator(discriminator, **d_args).to(device)
    perceptual = None
    if vgg_weights is not None and weights.perceptual > 0:
        from srkit.losses import PerceptualLoss

        perceptual = PerceptualLoss(vgg_weights).to(device)
    return DsnTrainer(generator, disc, freq=freq, iters=iters, weights=weights,
                      perceptual=perceptual, learning_rate=learning_rate)


def _restore(state_file: Path, trainer: DsnTrainer, settings: dict) -> int:
    """Load the resume state into ``trainer``; returns the iteration to continue from."""
    from srkit.training.state import load_state

    state = load_state(state_file)
    if state.get("settings") != settings:
        raise SrkitError(f"{state_file}: was started with different settings "
                         f"({state.get('settings')}); use --overwrite to start anew")
    return restore(state, trainer)


def _status(row: Mapping[str, float]) -> str:
    return (f"content {row['loss_content']:.4f} D(real) {row['d_real']:.2f} "
            f"D(fake) {row['d_fake']:.2f}")
