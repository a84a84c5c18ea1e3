"""``srkit train-ranker``: train RankSRGAN's ranker on a rank-data folder (``srkit rank-data``).

The photos (``source``) of the rank data are split: ``val_fraction`` of them (at least one)
are held out, drawn from ``seed``; the rest train. Iteration ``i`` draws its batch from
``numpy.random.default_rng([seed, i])`` alone — per sample a training crop, one of its image
pairs whose NIQE differ by more than ``min_gap``, in random order, the same random flip /
transpose on both images and (``patch_size``) the same sub-crop of both — so a resumed run
sees the same batches as an uninterrupted one. The loop is the shared one
(:mod:`srkit.training.loop`: logs, saves, Ctrl-C, bit-exact resume).

Files beside ``output`` (``ranker.safetensors``): the ranker (:mod:`srkit.io.ranker_files`),
``ranker.resume.pt`` and ``ranker.train.csv`` (loss, learning rate, held-out accuracy).
The held-out pair accuracy (:func:`srkit.training.ranker.pair_accuracy`: every pair of a
held-out crop's images more than ``min_gap`` apart in NIQE, whole crops, eval mode) is
measured every ``val_every`` iterations and at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from srkit.errors import SrkitError
from srkit.training.ranker import RANKER_DEFAULTS, RankerSettings, RankerTrainer, pair_accuracy

LOG_COLUMNS = ("iteration", "loss_total", "learning_rate", "val_accuracy", "data_wait_s",
               "step_s", "elapsed_s")


@dataclass
class TrainRankerResult:
    output: Path
    iterations: int
    seconds: float
    val_accuracy: float | None
    val_pairs: int
    val_crops: int
    val_photos: list[str]
    train_crops: int
    log: Path
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class _Crop:
    images: np.ndarray        # (M, H, W, 3) uint8, every method's image of one crop
    niqe: np.ndarray          # (M,)
    pairs: tuple[tuple[int, int], ...]  # index pairs more than min_gap apart


def _load_crops(crops, min_gap: float) -> list[_Crop]:
    from srkit.io.images import read_image, to_uint

    out = []
    for crop in crops:
        images = [to_uint(read_image(entry.path).rgb, 8) for entry in crop.entries]
        shapes = {image.shape for image in images}
        if len(shapes) != 1:
            raise SrkitError(f"crop {crop.crop}: its images differ in size ({sorted(shapes)})")
        niqe = np.array([entry.niqe for entry in crop.entries])
        pairs = tuple((i, j) for i in range(len(niqe)) for j in range(i + 1, len(niqe))
                      if abs(niqe[i] - niqe[j]) > min_gap)
        out.append(_Crop(np.stack(images), niqe, pairs))
    return out


def split_sources(sources: list[str], val_fraction: float, seed: int) -> set[str]:
    """The held-out photos: ``val_fraction`` of them (at least one), drawn from ``seed``."""
    if val_fraction <= 0:
        return set()
    unique = sorted(set(sources))
    if len(unique) < 2:
        raise SrkitError("the rank data holds crops of one photo only: held-out pairs come "
                         "from other photos (add photos, or --val-fraction 0)")
    count = min(len(unique) - 1, max(1, round(val_fraction * len(unique))))
    order = np.random.default_rng([seed, 1]).permutation(len(unique))
    return {unique[i] for i in order[:count]}


def _batch(crops: list[_Crop], batch_size: int, patch_size: int | None,
           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    firsts, seconds, labels = [], [], []
    for _ in range(batch_size):
        crop = crops[rng.integers(len(crops))]
        i, j = crop.pairs[rng.integers(len(crop.pairs))]
        if rng.random() < 0.5:
            i, j = j, i
        a, b = crop.images[i], crop.images[j]
        if patch_size is not None:
            top = rng.integers(a.shape[0] - patch_size + 1)
            left = rng.integers(a.shape[1] - patch_size + 1)
            a = a[top:top + patch_size, left:left + patch_size]
            b = b[top:top + patch_size, left:left + patch_size]
        flip, transpose = rng.random() < 0.5, rng.random() < 0.5
        for image, store in ((a, firsts), (b, seconds)):
            image = image[:, ::-1] if flip else image
            store.append(np.ascontiguousarray(image.transpose(1, 0, 2) if transpose else image))
        labels.append(1.0 if crop.niqe[i] >= crop.niqe[j] else -1.0)

    def tensor(images):
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0

    return tensor(firsts), tensor(seconds), torch.tensor(labels)


@torch.no_grad()
def held_out_accuracy(ranker: torch.nn.Module, crops: list[_Crop], device: torch.device,
                      min_gap: float) -> tuple[float, int]:
    """:func:`pair_accuracy` of ``ranker`` (eval mode) on whole held-out crops."""
    was_training = ranker.training
    ranker.eval()
    scores = []
    for crop in crops:
        images = torch.from_numpy(crop.images).permute(0, 3, 1, 2).float().div(255).to(device)
        scores.append(ranker(images).flatten().cpu().tolist())
    ranker.train(was_training)
    return pair_accuracy(scores, [crop.niqe.tolist() for crop in crops], min_gap)


def train_ranker(rank_data: str | Path, output: str | Path = "ranker.safetensors", *,
                 settings: RankerSettings = RANKER_DEFAULTS, num_feat: int = 64,
                 patch_size: int | None = None, val_fraction: float = 0.1, seed: int = 0,
                 device: str = "auto", resume: bool = False, overwrite: bool = False,
                 val_every: int = 1000, save_every: int = 1000, log_every: int = 10,
                 callback: Callable[[int], None] | None = None) -> TrainRankerResult:
    """Train a ranker; see the module doc and ``docs/cli/train-ranker.md``.
    ``callback(iteration)`` is called after every iteration."""
    from srkit.device import resolve_device
    from srkit.io.hashing import file_sha256
    from srkit.io.rank_data import SCORES_FILE, read_rank_data
    from srkit.io.ranker_files import save_ranker
    from srkit.models.ranker import MIN_INPUT, Ranker
    from srkit.training.log import log_path
    from srkit.training.loop import LoopHooks, LoopPlan, run_loop
    from srkit.training.state import resume_path

    output = Path(output)
    if output.suffix != ".safetensors":
        raise SrkitError(f"{output}: the ranker is written as safetensors; name it "
                         "*.safetensors")
    if resume and overwrite:
        raise SrkitError("--resume and --overwrite contradict each other; pick one")
    state_file, log_file = resume_path(output), log_path(output)
    if not resume and not overwrite and any(p.exists() for p in (output, state_file, log_file)):
        raise SrkitError(f"{output}: already exists (continue it with --resume, or replace it "
                         "with --overwrite)")
    if not 0 <= val_fraction < 1:
        raise SrkitError(f"--val-fraction must lie in [0, 1), got {val_fraction}")
    if patch_size is not None and patch_size < MIN_INPUT:
        raise SrkitError(f"--patch-size must be at least {MIN_INPUT}, got {patch_size}")
    crops_on_disk = read_rank_data(rank_data)
    held = split_sources([crop.source for crop in crops_on_disk], val_fraction, seed)
    crops = _load_crops(crops_on_disk, settings.min_gap)
    train = [c for c, d in zip(crops, crops_on_disk, strict=True)
             if d.source not in held and c.pairs]
    val = [c for c, d in zip(crops, crops_on_disk, strict=True) if d.source in held]
    if not train:
        raise SrkitError(f"{rank_data}: no training crop has two images more than "
                         f"{settings.min_gap} apart in NIQE (lower --min-gap?)")
    side = min(min(c.images.shape[1:3]) for c in train)
    if patch_size is not None and patch_size > side:
        raise SrkitError(f"--patch-size {patch_size} is larger than the crops ({side})")
    torch_device = resolve_device(device)
    arch_args = {"in_channels": 3, "num_feat": num_feat}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ranker = Ranker(**arch_args)
    trainer = RankerTrainer(ranker, settings, torch_device)
    fixed = {"settings": {k: v for k, v in asdict(settings).items() if k != "iters"},
             "arch_args": arch_args, "patch_size": patch_size, "val_fraction": val_fraction,
             "seed": seed, "scores_sha256": file_sha256(Path(rank_data) / SCORES_FILE)}
    fixed = json.loads(json.dumps(fixed))
    start = _restore(state_file, trainer, fixed) if resume else 0
    measured: dict[str, float] = {}

    def validate() -> dict[str, float]:
        accuracy, pairs = held_out_accuracy(trainer.ranker, val, torch_device, settings.min_gap)
        measured.update(val_accuracy=accuracy, val_pairs=pairs)
        return {"val_accuracy": accuracy}

    def save(iteration: int) -> None:
        meta = {"iterations": str(iteration), "seed": str(seed),
                "ranker_settings": json.dumps(fixed, sort_keys=True)}
        if "val_accuracy" in measured:
            meta["val_accuracy"] = f"{measured['val_accuracy']:.6f}"
            meta["val_pairs"] = str(int(measured["val_pairs"]))
        save_ranker(output, trainer.ranker, arch_args, meta)

    def batches(first: int) -> Iterator[tuple[torch.Tensor, ...]]:
        for iteration in range(first, settings.iters):
            yield _batch(train, settings.batch_size, patch_size,
                         np.random.default_rng([seed, iteration]))

    plan = LoopPlan(settings.iters, state_file, log_file, LOG_COLUMNS, save_every=save_every,
                    log_every=log_every, val_every=val_every if val else 0,
                    metric_names=("val_accuracy",) if val else (), title="train-ranker",
                    run_info={"iters": settings.iters, "settings": fixed}, device=torch_device)
    hooks = LoopHooks(save, validate=validate if val else None,
                      status=lambda row: f"loss {row.get('loss_total', float('nan')):.4f}",
                      after_step=callback)
    done = run_loop(trainer, batches, plan, hooks, start)
    return TrainRankerResult(output, done.iteration, done.seconds,
                             measured.get("val_accuracy"), int(measured.get("val_pairs", 0)),
                             len(val), sorted(held), len(train), log_file, done.history)


def _restore(state_file: Path, trainer: RankerTrainer, fixed: dict) -> int:
    from srkit.training.loop import restore
    from srkit.training.state import load_state

    state = load_state(state_file)
    if state.get("settings") != fixed:
        changed = sorted(k for k in set(fixed) | set(state.get("settings") or {})
                         if (state.get("settings") or {}).get(k) != fixed.get(k))
        raise SrkitError(f"{state_file}: cannot resume with different {', '.join(changed)} "
                         "(start a new run with --overwrite instead)")
    return restore(state, trainer)


def settings_with(**values) -> RankerSettings:
    """:data:`RANKER_DEFAULTS` with the given fields replaced (None keeps the default)."""
    return replace(RANKER_DEFAULTS, **{k: v for k, v in values.items() if v is not None})
