"""Training data for ``train-sr``: decode the images once, build the patch dataset
(:mod:`srkit.patches`) and the held-out validation pairs.

Images are decoded once into uint8/uint16 arrays (:func:`load_pixels`) and shared with the
loader's worker processes, so decoding never stalls training. Pair folders are read through
:mod:`srkit.io.pairs`. An unreadable photo (or either image of a pair) is skipped with a
warning, as every command does (``strict`` raises instead); none readable is an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset

from srkit.errors import SrkitError
from srkit.io.images import SkipLog, list_images, nothing_readable, read_image, to_uint
from srkit.io.pairs import check_pair, find_dist_maps, find_pairs, load_dist_map
from srkit.ops.pixels import to_float
from srkit.patches import (
    POOL_SHARE,
    BlindPatches,
    DasrPatches,
    DegradedPatches,
    MixedPatches,
    PairPatches,
    PatchDataset,
    ScaleRangePatches,
    SyntheticPatches,
    TargetLrPatches,
    dihedral,
)

# names other modules import from here
__all__ = ["DasrPatches", "PairPatches", "RegionSource", "TrainingData", "ValidationPair",
           "dihedral", "load_all", "load_dist_map", "load_pixels", "make_loader",
           "prepare_training_data", "to_float", "validation_references"]


def load_pixels(path: str | Path) -> np.ndarray:
    """Decode an image once into compact integer pixels ``(H, W, 3)`` uint8 or uint16."""
    image = read_image(path)
    return to_uint(image.rgb, 16 if image.bit_depth == 16 else 8)


def load_all(paths: Sequence[Path], description: str, skip_log: SkipLog
             ) -> list[np.ndarray | None]:
    """Decode ``paths`` with a progress bar (the in-memory cache of a training run); an
    unreadable file is None, warned about and recorded in ``skip_log`` (or raises, strict)."""
    from srkit.console import track

    def pixels(path: Path) -> np.ndarray | None:
        image = skip_log.read(path)
        return None if image is None else to_uint(image.rgb, 16 if image.bit_depth == 16 else 8)

    return [pixels(path) for path in track(paths, description)]


def load_readable(paths: Sequence[Path], description: str, skip_log: SkipLog
                  ) -> tuple[list[Path], list[np.ndarray]]:
    """The readable ones of ``paths`` and their pixels (:func:`load_all`); an error when
    there are none."""
    loaded = load_all(paths, description, skip_log)
    kept = [(path, image) for path, image in zip(paths, loaded, strict=True)
            if image is not None]
    if not kept:
        raise nothing_readable(list(skip_log.skipped or []))
    return [path for path, _ in kept], [image for _, image in kept]


def make_loader(dataset: Dataset, batch_size: int, start_batch: int, num_batches: int,
                workers: int, pin_memory: bool = False) -> DataLoader:
    """Batches ``start_batch ..`` of ``dataset`` in order: sample indices are consecutive.

    Starting at ``start_batch`` is how a resumed run continues with the next unseen samples.
    """
    indices = range(start_batch * batch_size, (start_batch + num_batches) * batch_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=indices, num_workers=workers,
                      pin_memory=pin_memory, persistent_workers=False,
                      prefetch_factor=4 if workers else None, drop_last=True)


@dataclass(frozen=True)
class RegionSource:
    """Where the region labels of SROBB's targeted perceptual loss come from: a folder of
    PNG maps (:mod:`srkit.io.region_labels`), or, with ``folder`` None, derived from each HR
    image (:func:`srkit.ops.regions.derive_region_labels` with these thresholds)."""

    folder: Path | None = None
    edge_threshold: float = 0.03
    texture_threshold: float = 0.02
    boundary_radius: int = 2

    def describe(self) -> str:
        return (f"region labels from {self.folder}" if self.folder is not None
                else "region labels derived from the HR images")


def region_label_maps(regions: RegionSource, stems: Sequence[str],
                      hr_images: Sequence[np.ndarray], trailing: int = 0) -> list[np.ndarray]:
    """One ``(H, W)`` uint8 label map per HR image (0 background, 1 object, 2 boundary):
    read from ``regions.folder`` (``STEM.png``; a map without boundary pixels gets them from
    its class edges) or derived from the image. ``trailing``: see
    :func:`srkit.io.region_labels.read_region_labels`."""
    from srkit.console import track
    from srkit.ops.regions import BOUNDARY, boundary_from_classes, derive_region_labels

    if regions.folder is None:
        return [derive_region_labels(to_float(image), edge_threshold=regions.edge_threshold,
                                     texture_threshold=regions.texture_threshold,
                                     boundary_radius=regions.boundary_radius)
                for image in track(hr_images, "deriving region labels")]
    from srkit.io.region_labels import read_region_labels, region_label_paths

    paths = region_label_paths(regions.folder, stems)
    maps = []
    for path, image in zip(track(paths, "reading region labels"), hr_images, strict=True):
        labels = read_region_labels(path, image.shape, trailing)
        if not (labels == BOUNDARY).any():
            labels = boundary_from_classes(labels, regions.boundary_radius)
        maps.append(labels)
    return maps


@dataclass
class ValidationPair:
    """A held-out pair as float32 ``(h, w, 3)`` LR and ``(h*s, w*s, 3)`` HR in [0, 1], and
    for a reference-based network optionally its reference ``(H_r, W_r, 3)`` float32."""

    name: str
    lr: np.ndarray
    hr: np.ndarray
    ref: np.ndarray | None = None


def validation_references(pairs: Sequence[ValidationPair], folder: str | Path
                          ) -> list[ValidationPair]:
    """``pairs`` with the reference ``folder/STEM.*`` of each pair's stem where the folder
    has one (the others keep none and are validated without)."""
    by_stem: dict[str, Path] = {}
    for path in list_images(Path(folder)):
        by_stem.setdefault(path.stem, path)
    return [ValidationPair(pair.name, pair.lr, pair.hr,
                           to_float(load_pixels(by_stem[stem])) if stem in by_stem else None)
            for pair in pairs for stem in [Path(pair.name).stem]]


@dataclass
class TrainingData:
    """What a training run learns from: the patch dataset and the held-out pairs."""

    dataset: PatchDataset | TargetLrPatches
    validation: list[ValidationPair]
    description: str


def _held_out(count: int, val: float | None, seed: int) -> list[int]:
    """Indices of the images held out for validation when ``val`` is a fraction."""
    if val is None:
        return []
    if not 0 < val < 1:
        raise SrkitError(f"--val {val}: a held-out fraction must lie between 0 and 1")
    if count < 2:
        raise SrkitError("--val as a fraction needs at least 2 training images")
    take = min(count - 1, max(1, round(val * count)))
    return sorted(np.random.default_rng([seed, 2]).permutation(count)[:take].tolist())


def _pair_data(folder: Path, scale: int, label: str, with_dist: bool = False,
               strict: bool = False) -> tuple[list[str], list, list, list]:
    """Names, HR and LR pixels of a pair folder, and the distance maps when ``with_dist``
    (a pair with an unreadable image is skipped with a warning, or raises when ``strict``)."""
    files = find_pairs(folder)
    dist_paths = find_dist_maps(folder, files) if with_dist else []
    skip_log = SkipLog(strict=strict)
    hr_images = load_all([f.hr_path for f in files], f"decoding {label} HR", skip_log)
    lr_images = load_all([f.lr_path for f in files], f"decoding {label} LR", skip_log)
    readable = [i for i in range(len(files))
                if hr_images[i] is not None and lr_images[i] is not None]
    if not readable:
        raise nothing_readable(list(skip_log.skipped or []))
    files = [files[i] for i in readable]
    hr_images, lr_images = [hr_images[i] for i in readable], [lr_images[i] for i in readable]
    dist_paths = [dist_paths[i] for i in readable] if with_dist else []
    hr_images = [check_pair(hr, lr, scale, f"{folder}/{f.name}")
                 for f, hr, lr in zip(files, hr_images, lr_images, strict=True)]
    dist_maps = [load_dist_map(path, lr.shape)
                 for path, lr in zip(dist_paths, lr_images[:len(dist_paths)], strict=True)]
    return [f.name for f in files], hr_images, lr_images, dist_maps


def reference_images(folder: Path, stems: Sequence[str]) -> list[np.ndarray]:
    """The decoded reference of each stem: ``folder/STEM.*`` (the first image file of that
    stem); SrkitError naming the first stem without one, or an unreadable reference."""
    if not folder.is_dir():
        raise SrkitError(f"--ref-dir {folder}: no such folder")
    by_stem: dict[str, Path] = {}
    for path in list_images(folder):
        by_stem.setdefault(path.stem, path)
    missing = [stem for stem in stems if stem not in by_stem]
    if missing:
        raise SrkitError(f"--ref-dir {folder}: no reference for {missing[0]} "
                         f"({len(missing)} of {len(stems)} HR images have none; references "
                         "are matched by file stem)")
    return [load_pixels(by_stem[stem]) for stem in stems]


def _check_sizes(images: Sequence[np.ndarray], names: Sequence[str], patch: int,
                 what: str) -> None:
    small = [(name, image.shape) for name, image in zip(names, images, strict=True)
             if min(image.shape[:2]) < patch]
    if small:
        name, shape = small[0]
        raise SrkitError(f"{name}: {what} is {shape[1]}×{shape[0]}, smaller than the "
                         f"{patch}×{patch} patch ({len(small)} such image(s); lower "
                         "--patch-size or remove them)")


def prepare_training_data(*, scale: int, patch_size: int, seed: int,
                          pairs: str | Path | None = None, hr: str | Path | None = None,
                          pool: str | Path | None = None, synthetic: bool = False,
                          synthetic_settings: object | None = None,
                          pool_share: float = POOL_SHARE, blind: bool = False,
                          blind_settings: object | None = None,
                          val: str | Path | float | None = None,
                          real_lr: str | Path | None = None, domain_adapt: bool = False,
                          regions: RegionSource | None = None,
                          rank: int = 0, world_size: int = 1,
                          strict: bool = False, bicubic: bool = False,
                          scales: object | None = None, batch_size: int = 1,
                          references: str | Path | None = None,
                          references_hr_sized: bool = False) -> TrainingData:
    """Decode the training images once and build the dataset and the validation pairs.

    Exactly one source: ``pairs`` (a pair folder), or ``hr`` with ``pool``, ``synthetic`` or
    both (each sample from the pool with probability ``pool_share``), or ``hr`` with ``blind``
    (:class:`BlindPatches`, pre-upsampled: ``scale`` must be 1; ``blind_settings`` a
    :class:`~srkit.degradations.blind.BlindSettings`). ``val`` is a pair
    folder, a fraction of the training images to hold out (for on-the-fly sources each
    held-out photo is degraded once, deterministically from ``seed``) or None. ``real_lr`` (a
    folder of the target camera's photos) makes DASR samples (:class:`DasrPatches`): it needs
    a pair folder with ``dist/`` maps. With ``domain_adapt`` the ``real_lr`` photos are the
    target domain instead: any of the sources above gets an unpaired crop of them added to
    each sample (:class:`TargetLrPatches`, ``(lq, gt, target_lq)``). Unreadable photos and
    pairs are skipped with a warning (``strict``: the first one raises).

    ``bicubic``: ``hr`` photos degraded on the fly by MATLAB bicubic (alone; not with the pool
    or the random pipeline). ``scales`` (a :class:`~srkit.scales.ScaleRange`, for an
    arbitrary-scale network): ``hr`` with ``bicubic`` only, one factor per batch of
    ``batch_size`` (:class:`ScaleRangePatches`, LR patches of ``patch_size / scales.high``
    pixels, so the largest HR patch fits ``patch_size``); validation pairs are made at
    ``scale``, the range's default integer factor. ``regions`` gives every training HR image
    its object / background / boundary labels (SROBB), which then travel with each crop (pair
    folders and on-the-fly pool / synthetic sources). ``references`` (a folder with one
    photo per training HR image, matched by file stem) makes reference-based samples
    (:class:`~srkit.patches_ref.ReferencePairPatches`, ``(lq, gt, ref)``; pair folders only;
    ``references_hr_sized``: each reference resized to its HR image's size first, CrossNet's).
    """
    if references is not None and (pairs is None or real_lr is not None
                                   or regions is not None):
        raise SrkitError("--ref-dir gives the HR images of a pair folder their references; "
                         "it does not mix with --hr, --real-lr or region labels")
    if scales is not None:
        _check_scale_range_source(scales, pairs, pool, synthetic, blind, bicubic, real_lr)
    if bicubic and (pairs is not None or pool is not None or synthetic or blind):
        raise SrkitError("--bicubic degrades --hr photos on its own; it does not mix with "
                         "--pool, --synthetic, --blind or a pair folder")
    if (pairs is None) == (hr is None):
        raise SrkitError("give either a pair folder or --hr DIR (with --pool or --synthetic)")
    if regions is not None and (blind or real_lr is not None):
        raise SrkitError("region labels (SROBB's targeted perceptual loss) travel with pair "
                         "folders and --hr with --pool / --synthetic, not with --blind or "
                         "--real-lr samples")
    if domain_adapt and real_lr is None:
        raise SrkitError("the domain-adapt recipe needs --real-lr DIR: LR photos of the target "
                         "camera")
    dasr = real_lr is not None and not domain_adapt
    if dasr and pairs is None:
        raise SrkitError("--real-lr (the dasr recipe) trains on a pair folder made by srkit "
                         "degrade --dsn, not on --hr photos")
    if pairs is not None and (pool is not None or synthetic):
        raise SrkitError("--pool and --synthetic make pairs on the fly from --hr photos; "
                         "they do not apply to a pair folder")
    if blind and (pool is not None or synthetic or hr is None):
        raise SrkitError("--blind degrades --hr photos on its own (pre-upsampled pairs); it "
                         "does not mix with --pool, --synthetic or a pair folder")
    if blind and scale != 1:
        raise SrkitError(f"--blind makes pre-upsampled pairs for a ×1 network, not ×{scale}")
    if hr is not None and pool is None and not synthetic and not blind and not bicubic:
        raise SrkitError("--hr needs --pool POOL.h5, --synthetic or both (or --blind, or "
                         "--bicubic)")
    fraction = val if isinstance(val, float) else None
    common = {"seed": seed, "rank": rank, "world_size": world_size}

    if pairs is not None:
        names, hr_images, lr_images, dist_maps = _pair_data(Path(pairs), scale, "pairs",
                                                            with_dist=dasr, strict=strict)
        held = _held_out(len(names), fraction, seed)
        validation = [ValidationPair(names[i], to_float(lr_images[i]), to_float(hr_images[i]))
                      for i in held]
        keep = [i for i in range(len(names)) if i not in set(held)]
        _check_sizes([lr_images[i] for i in keep], [names[i] for i in keep],
                     patch_size // scale, "the LR image")
        train_hr, train_lr = [hr_images[i] for i in keep], [lr_images[i] for i in keep]
        if references is not None:
            from srkit.patches_ref import ReferencePairPatches

            refs = reference_images(Path(references), [Path(names[i]).stem for i in keep])
            dataset = ReferencePairPatches(train_hr, train_lr, refs, scale, patch_size,
                                           hr_sized=references_hr_sized, **common)
            description = f"{len(keep)} pairs from {pairs} with references from {references}"
        elif not dasr:
            pair_patches = PairPatches(train_hr, train_lr, scale, patch_size, **common)
            dataset: PatchDataset | TargetLrPatches = pair_patches
            description = f"{len(keep)} pairs from {pairs}"
            if regions is not None:
                pair_patches.attach_region_labels(region_label_maps(
                    regions, [Path(names[i]).stem for i in keep], train_hr, scale - 1))
                description += f", {regions.describe()}"
        else:
            real_paths, real_images = load_readable(list_images(real_lr), "decoding real LR",
                                                    SkipLog(strict=strict))
            _check_sizes(real_images, [p.name for p in real_paths], patch_size // scale,
                         "the real LR photo")
            dataset = DasrPatches(train_hr, train_lr, [dist_maps[i] for i in keep],
                                  real_images, scale, patch_size, **common)
            description = (f"{len(keep)} pairs with distance maps from {pairs} and "
                           f"{len(real_images)} real LR photos from {real_lr}")
    else:
        paths, hr_images = load_readable(list_images(hr), "decoding HR photos",
                                         SkipLog(strict=strict))
        held = _held_out(len(paths), fraction, seed)
        keep = [i for i in range(len(paths)) if i not in set(held)]
        train_images = [hr_images[i] for i in keep]
        _check_sizes(train_images, [paths[i].name for i in keep], patch_size, "the photo")
        parts, descriptions = [], []
        if scales is not None:
            lr_patch = int(patch_size // scales.high)
            if lr_patch < 4:
                raise SrkitError(f"--patch-size {patch_size} at ×{scales.high:g} leaves LR "
                                 f"patches of {lr_patch} pixels; give at least "
                                 f"{math.ceil(4 * scales.high)}")
            parts.append(ScaleRangePatches(train_images, scales, lr_patch, batch_size,
                                           **common))
            descriptions.append(f"MATLAB bicubic at ×{scales.text} (steps of 0.1, one factor "
                                f"per batch; LR patches {lr_patch}×{lr_patch})")
        elif bicubic:
            from srkit.degradations import BicubicDegradation

            parts.append(DegradedPatches(train_images, BicubicDegradation(scale), patch_size,
                                         **common))
            descriptions.append("MATLAB bicubic downscaling")
        if blind:
            part = BlindPatches(train_images, patch_size, settings=blind_settings, **common)
            parts.append(part)
            changed = part.degradation.blind.changes()
            descriptions.append("blind degradations (blur, downscale, noise, bicubic "
                                "re-upscale)" + (
                " (" + ", ".join(f"{k}={v}" for k, v in changed.items()) + ")"
                if changed else ""))
        if pool is not None:
            from srkit.degradations import PoolDegradation
            from srkit.io.pools import read_pool

            pool_data = read_pool(pool)
            camera = PoolDegradation.from_pool(pool_data, scale,
                                               use_noise=bool(pool_data.noise_count),
                                               in_memory=True)
            parts.append(DegradedPatches(train_images, camera, patch_size, **common))
            descriptions.append(f"{len(camera.kernels)} kernels and {pool_data.noise_count} "
                                f"noise patches from {pool}" + camera.camera_summary())
        if synthetic:
            parts.append(SyntheticPatches(train_images, scale, patch_size,
                                          settings=synthetic_settings, **common))
            changed = synthetic_settings.changes() if synthetic_settings is not None else {}
            descriptions.append("random synthetic degradations" + (
                " (" + ", ".join(f"{k}={v}" for k, v in changed.items()) + ")"
                if changed else ""))
        dataset = parts[0] if len(parts) == 1 else MixedPatches(*parts, pool_share=pool_share)
        description = f"{len(keep)} HR photos from {hr}, " + " or ".join(descriptions)
        if len(parts) == 2:
            description += f" ({pool_share:.0%} from the pool)"
        if regions is not None:
            dataset.attach_region_labels(region_label_maps(
                regions, [paths[i].stem for i in keep], train_images))
            description += f", {regions.describe()}"
        validation = [_degrade_whole(dataset, hr_images[i], paths[i].name,
                                     np.random.default_rng([seed, 3, i])) for i in held]
    if domain_adapt:
        assert real_lr is not None
        target_paths, target_images = load_readable(list_images(real_lr),
                                                    "decoding target LR",
                                                    SkipLog(strict=strict))
        _check_sizes(target_images, [p.name for p in target_paths], patch_size // scale,
                     "the target LR photo")
        dataset = TargetLrPatches(dataset, target_images)
        description += f", with {len(target_images)} target LR photos from {real_lr}"
    if val is not None and fraction is None:
        names, val_hr, val_lr, _ = _pair_data(Path(val), scale, "validation", strict=strict)
        validation = [ValidationPair(n, to_float(lr), to_float(h))
                      for n, h, lr in zip(names, val_hr, val_lr, strict=True)]
    return TrainingData(dataset, validation, description)


def _check_scale_range_source(scales, pairs, pool, synthetic, blind, bicubic,
                              real_lr) -> None:
    """A scale range needs pairs at any factor: HR photos degraded by bicubic on the fly."""
    text = scales.text
    if pairs is not None:
        raise SrkitError(f"-x {text}: a pair folder holds pairs at one integer factor; a scale "
                         "range makes its pairs on the fly (--hr DIR --bicubic)")
    if pool is not None:
        raise SrkitError(f"-x {text}: the pool's kernels are estimated for one integer factor; "
                         "a scale range trains on --hr DIR --bicubic")
    if synthetic:
        raise SrkitError(f"-x {text}: the random pipeline downscales by an integer factor; a "
                         "scale range trains on --hr DIR --bicubic")
    if blind:
        raise SrkitError(f"-x {text}: --blind makes ×1 pre-upsampled pairs; a scale range "
                         "trains on --hr DIR --bicubic")
    if real_lr is not None:
        raise SrkitError(f"-x {text}: --real-lr (dasr, domain-adapt) trains at one integer "
                         "factor")
    if not bicubic:
        raise SrkitError(f"-x {text}: a scale range trains on --hr DIR --bicubic")


def _degrade_whole(dataset: PatchDataset, hr_img: np.ndarray, name: str,
                   rng: np.random.Generator) -> ValidationPair:
    """A validation pair from a whole held-out HR photo, degraded as the training samples are."""
    scale = dataset.scale
    lr_shape = (hr_img.shape[0] // scale, hr_img.shape[1] // scale)
    hr_float = to_float(hr_img[:lr_shape[0] * scale, :lr_shape[1] * scale])
    part = dataset.part(rng) if isinstance(dataset, MixedPatches) else dataset
    assert isinstance(part, DegradedPatches)
    lr_img = part.degradation.degrade_crop(hr_img, 0, 0, lr_shape, rng)
    return ValidationPair(name, np.asarray(lr_img, np.float32), hr_float)
