"""Training data for ``train-sr``: aligned patch pairs from folders or made on the fly.

Three sources, one sample contract — ``dataset[i]`` is ``(lq, gt)``, float32 tensors
``(3, p / s, p / s)`` and ``(3, p, p)`` in [0, 1]:

* :class:`PairPatches` — pair folders written by ``srkit degrade`` (``PAIRS/hr/NAME``,
  ``PAIRS/lr/NAME``): a random LR crop and the HR crop at ``scale`` × its position.
* :class:`PoolPatches` — HR photos and a degradation pool: each sample blurs and subsamples a
  random HR crop with a random pool kernel and adds a random pool noise patch, as RealSR
  injects noise at training time (Ji et al. 2020, §3.2).
* :class:`SyntheticPatches` — HR photos through the random BSRGAN/Real-ESRGAN-style pipeline.
* :class:`DasrPatches` — DASR (Wei et al. 2021, §3.2): pairs written by ``srkit degrade
  --dsn`` with their domain-distance maps (``PAIRS/dist/NAME.npy``), plus a crop of a real LR
  photo of the target camera and an unrelated HR crop; ``dataset[i]`` is
  ``(lq, gt, dist, real_lq, gt_unpaired)`` (``dist`` ``(1, p / s, p / s)``).

Every sample is flipped / transposed at random (the 8 symmetries of the square, as BasicSR's
``augment``). Images are decoded once into uint8/uint16 arrays (:func:`load_pixels`) and
shared with the loader's worker processes, so decoding never stalls training.

Determinism: sample ``i`` of rank ``r`` among ``w`` processes is global sample
``g = i * w + r``; its randomness comes from ``default_rng([seed, 1, g])`` alone, and the
image it is cut from from a seeded permutation per pass over the images. So the batches are the
same whatever the number of loader workers, a resumed run picks up exactly at the sample it
stopped at, and ``w`` processes with batch ``b`` see together what one process with batch
``w * b`` sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from srkit.errors import SrkitError
from srkit.io.images import list_images, read_image, to_uint
from srkit.ops.kernels import grid_kernel

# ---------------------------------------------------------------------------------------------
# Decoded-image cache
# ---------------------------------------------------------------------------------------------

def load_pixels(path: str | Path) -> np.ndarray:
    """Decode an image once into compact integer pixels ``(H, W, 3)`` uint8 or uint16."""
    image = read_image(path)
    return to_uint(image.rgb, 16 if image.bit_depth == 16 else 8)


def to_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 / uint16 pixels (or float already in [0, 1]) → float32 in [0, 1]."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / np.float32(255.0)
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) / np.float32(65535.0)
    return np.asarray(pixels, dtype=np.float32)


def load_all(paths: Sequence[Path], description: str) -> list[np.ndarray]:
    """Decode ``paths`` with a progress bar (the in-memory cache of a training run)."""
    from srkit.console import track

    return [load_pixels(path) for path in track(paths, description)]


@dataclass(frozen=True)
class PairFiles:
    """One training pair on disk."""

    name: str
    hr_path: Path
    lr_path: Path


def find_pairs(folder: str | Path) -> list[PairFiles]:
    """The pairs of a folder holding ``hr/`` and ``lr/`` with matching file names."""
    folder = Path(folder)
    hr_dir, lr_dir = folder / "hr", folder / "lr"
    for sub in (hr_dir, lr_dir):
        if not sub.is_dir():
            raise SrkitError(f"{folder}: not a pair folder (no {sub.name}/ inside; "
                             "make one with srkit degrade)")
    hr_paths = {p.name: p for p in list_images(hr_dir)}
    lr_paths = {p.name: p for p in list_images(lr_dir)}
    missing = sorted(set(hr_paths) ^ set(lr_paths))
    if missing:
        side = "lr" if missing[0] in hr_paths else "hr"
        raise SrkitError(f"{folder}: {missing[0]} has no partner in {side}/ "
                         f"({len(missing)} unpaired file(s))")
    return [PairFiles(name, hr_paths[name], lr_paths[name]) for name in sorted(hr_paths)]


def check_pair(hr: np.ndarray, lr: np.ndarray, scale: int, name: str) -> np.ndarray:
    """Check that ``hr`` is ``lr`` × ``scale`` (a trailing remainder < scale is cut off)."""
    (h, w), (lh, lw) = hr.shape[:2], lr.shape[:2]
    if h // scale != lh or w // scale != lw:
        raise SrkitError(f"{name}: HR is {w}×{h} and LR {lw}×{lh}, which is not ×{scale}")
    return hr[:lh * scale, :lw * scale]


# ---------------------------------------------------------------------------------------------
# Pure patch operations
# ---------------------------------------------------------------------------------------------

def dihedral(images: Sequence[np.ndarray], code: int) -> list[np.ndarray]:
    """Apply one of the 8 flips/rotations (``code`` bits: vflip, hflip, transpose) to all."""
    out = []
    for image in images:
        if code & 1:
            image = image[::-1]
        if code & 2:
            image = image[:, ::-1]
        if code & 4:
            image = image.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(image))
    return out


def aligned_crop(lr_img: np.ndarray, hr_img: np.ndarray, scale: int, lr_patch: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """A random ``lr_patch``² LR crop at ``(row, col)`` and the HR crop at ``scale`` × that.

    ``hr_img`` must be ``lr_img`` × ``scale`` in size. Returns both crops and ``(row, col)``.
    """
    height, width = lr_img.shape[:2]
    if height < lr_patch or width < lr_patch:
        raise SrkitError(f"LR image of {width}×{height} is smaller than the LR patch "
                         f"{lr_patch}×{lr_patch} (lower --patch-size)")
    row = int(rng.integers(0, height - lr_patch + 1))
    col = int(rng.integers(0, width - lr_patch + 1))
    hr_patch = lr_patch * scale
    lr_crop = lr_img[row:row + lr_patch, col:col + lr_patch]
    hr_crop = hr_img[row * scale:row * scale + hr_patch, col * scale:col * scale + hr_patch]
    return lr_crop, hr_crop, (row, col)


def _reflect(index: np.ndarray, length: int) -> np.ndarray:
    """scipy.ndimage's ``reflect`` boundary (``d c b a | a b c d | d c b a``)."""
    period = np.mod(index, 2 * length)
    return np.where(period >= length, 2 * length - 1 - period, period)


def blur_downsample_crop(hr_img: np.ndarray, kernel: np.ndarray, scale: int,
                         row: int, col: int, lr_shape: tuple[int, int]) -> np.ndarray:
    """LR pixels ``[row:row+h, col:col+w]`` of ``blur_downsample(hr_img, kernel, scale)``.

    Equals cropping the whole-image result (same kernel shift, same reflected borders), but
    evaluates the correlation only on the LR grid of the crop: ~s² × less work than blurring
    a patch and subsampling it, which keeps on-the-fly pool degradation ahead of the model.
    ``kernel`` is the output of :func:`grid_kernel`; ``hr_img`` ``(H, W, 3)`` any dtype in
    [0, 1] or integer pixels; ``lr_shape`` is ``(h, w)``; returns float32 ``(h, w, 3)``.
    """
    size = kernel.shape[0]
    centre = size // 2  # scipy.ndimage.correlate's origin for odd and even sizes
    rows = _reflect(row * scale - centre + np.arange((lr_shape[0] - 1) * scale + size),
                    hr_img.shape[0] // scale * scale)
    cols = _reflect(col * scale - centre + np.arange((lr_shape[1] - 1) * scale + size),
                    hr_img.shape[1] // scale * scale)
    region = to_float(hr_img[np.ix_(rows, cols)])
    windows = np.lib.stride_tricks.sliding_window_view(region, (size, size), axis=(0, 1))
    windows = windows[::scale, ::scale]  # (lr, lr, 3, k, k)
    return np.tensordot(windows, kernel, axes=([3, 4], [0, 1])).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _image_order(seed: int, epoch: int, count: int) -> np.ndarray:
    return np.random.default_rng([seed, 0, epoch]).permutation(count)


class PatchDataset(Dataset):
    """Base class: maps a sample index to an image, a seeded Generator and an augmentation.

    Subclasses implement :meth:`make_pair` (float32 HWC LR and HR patches). ``rank`` and
    ``world_size`` interleave the sample indices of several processes (see module doc).
    """

    def __init__(self, count: int, scale: int, patch_size: int, seed: int, *,
                 rank: int = 0, world_size: int = 1, augment: bool = True) -> None:
        if count < 1:
            raise SrkitError("no training images")
        if patch_size % scale:
            raise SrkitError(f"--patch-size {patch_size} is not a multiple of the scale {scale}")
        self.count = count
        self.scale = scale
        self.patch_size = patch_size
        self.lr_patch = patch_size // scale
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.augment = augment

    def sample_source(self, index: int) -> tuple[int, np.random.Generator]:
        """The image index and the Generator of sample ``index`` of this rank."""
        global_index = index * self.world_size + self.rank
        epoch, position = divmod(global_index, self.count)
        image = int(_image_order(self.seed, epoch, self.count)[position])
        return image, np.random.default_rng([self.seed, 1, global_index])

    def make_pair(self, image: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, rng = self.sample_source(int(index))
        lr_patch, hr_patch = self.make_pair(image, rng)
        if self.augment:
            lr_patch, hr_patch = dihedral([lr_patch, hr_patch], int(rng.integers(0, 8)))
        return _to_tensor(lr_patch), _to_tensor(hr_patch)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(to_float(image).transpose(2, 0, 1)))


class PairPatches(PatchDataset):
    """Aligned random crops from decoded pairs (``lr_images[i]`` × scale = ``hr_images[i]``)."""

    def __init__(self, hr_images: Sequence[np.ndarray], lr_images: Sequence[np.ndarray],
                 scale: int, patch_size: int, seed: int, **kwargs) -> None:
        super().__init__(len(hr_images), scale, patch_size, seed, **kwargs)
        self.hr_images = list(hr_images)
        self.lr_images = list(lr_images)
        for hr, lr in zip(self.hr_images, self.lr_images, strict=True):
            if hr.shape[0] != lr.shape[0] * scale or hr.shape[1] != lr.shape[1] * scale:
                raise ValueError(f"HR {hr.shape} is not LR {lr.shape} × {scale}")

    def make_pair(self, image, rng):
        lr, hr, _ = aligned_crop(self.lr_images[image], self.hr_images[image], self.scale,
                                 self.lr_patch, rng)
        return lr, hr


def _hr_crop_position(hr_img: np.ndarray, patch_size: int, scale: int,
                      rng: np.random.Generator) -> tuple[int, int]:
    """A random HR crop position on the LR grid (both multiples of ``scale``)."""
    height, width = hr_img.shape[0] // scale, hr_img.shape[1] // scale
    lr_patch = patch_size // scale
    if height < lr_patch or width < lr_patch:
        raise SrkitError(f"HR image of {hr_img.shape[1]}×{hr_img.shape[0]} is smaller than "
                         f"the patch {patch_size}×{patch_size} (lower --patch-size)")
    return int(rng.integers(0, height - lr_patch + 1)), int(rng.integers(0, width - lr_patch + 1))


class PoolPatches(PatchDataset):
    """RealSR on the fly: random HR crop → random pool kernel → random pool noise patch.

    ``kernels`` ``(N, k, k)`` are the pool's kernels at ``scale``; ``noise_patches``
    ``(M, p, p, 3)`` zero-mean patches (M may be 0: kernels only). The LR patch is exactly the
    crop of ``blur_downsample(hr_image, kernel, scale)`` at the matching position.
    """

    def __init__(self, hr_images: Sequence[np.ndarray], kernels: np.ndarray,
                 noise_patches: np.ndarray | None, scale: int, patch_size: int, seed: int,
                 **kwargs) -> None:
        super().__init__(len(hr_images), scale, patch_size, seed, **kwargs)
        if len(kernels) == 0:
            raise SrkitError(f"the pool has no ×{scale} kernels")
        self.hr_images = list(hr_images)
        self.kernels = [grid_kernel(k, scale) for k in np.asarray(kernels, np.float32)]
        self.noise_patches = (np.zeros((0, 1, 1, 3), np.float32) if noise_patches is None
                              else np.asarray(noise_patches, np.float32))

    def degrade(self, hr_img: np.ndarray, row: int, col: int, lr_shape: tuple[int, int],
                rng: np.random.Generator) -> np.ndarray:
        """LR pixels at LR position ``(row, col)`` of ``hr_img``, with random pool parts."""
        from srkit.ops.noise import inject_noise_patch

        kernel = self.kernels[int(rng.integers(0, len(self.kernels)))]
        lr_img = blur_downsample_crop(hr_img, kernel, self.scale, row, col, lr_shape)
        if len(self.noise_patches):
            patch = self.noise_patches[int(rng.integers(0, len(self.noise_patches)))]
            lr_img = inject_noise_patch(lr_img, patch, rng)
        return np.clip(lr_img, 0.0, 1.0)

    def make_pair(self, image, rng):
        hr_img = self.hr_images[image]
        row, col = _hr_crop_position(hr_img, self.patch_size, self.scale, rng)
        hr_patch = hr_img[row * self.scale:row * self.scale + self.patch_size,
                          col * self.scale:col * self.scale + self.patch_size]
        return self.degrade(hr_img, row, col, (self.lr_patch, self.lr_patch), rng), hr_patch


class MixedPatches(PatchDataset):
    """Each sample from the pool (probability ``pool_share``) or from the random pipeline.

    Both parts crop the same HR photos; the choice is the sample's first random draw, so a run
    is as reproducible as its parts.
    """

    def __init__(self, pool_part: PoolPatches, synthetic_part: SyntheticPatches,
                 pool_share: float) -> None:
        if not 0.0 <= pool_share <= 1.0:
            raise SrkitError(f"--pool-share {pool_share} is not between 0 and 1")
        super().__init__(pool_part.count, pool_part.scale, pool_part.patch_size, pool_part.seed,
                         rank=pool_part.rank, world_size=pool_part.world_size,
                         augment=pool_part.augment)
        self.pool_part = pool_part
        self.synthetic_part = synthetic_part
        self.pool_share = pool_share

    def part(self, rng: np.random.Generator) -> PatchDataset:
        """The source of the next sample (consumes one draw of ``rng``)."""
        return self.pool_part if rng.random() < self.pool_share else self.synthetic_part

    def make_pair(self, image, rng):
        return self.part(rng).make_pair(image, rng)


class SyntheticPatches(PatchDataset):
    """Random HR crops degraded by :func:`srkit.ops.synthetic.random_degradation`."""

    def __init__(self, hr_images: Sequence[np.ndarray], scale: int, patch_size: int,
                 seed: int, settings: object | None = None, **kwargs) -> None:
        super().__init__(len(hr_images), scale, patch_size, seed, **kwargs)
        self.hr_images = list(hr_images)
        self.settings = settings

    def make_pair(self, image, rng):
        from srkit.ops.synthetic import random_degradation

        hr_img = self.hr_images[image]
        row, col = _hr_crop_position(hr_img, self.patch_size, self.scale, rng)
        hr_patch = to_float(hr_img[row * self.scale:row * self.scale + self.patch_size,
                                   col * self.scale:col * self.scale + self.patch_size])
        lr_img, _ = random_degradation(hr_patch, self.scale, rng, self.settings)
        return np.asarray(lr_img, dtype=np.float32), hr_patch


class DasrPatches(PairPatches):
    """DASR samples: an aligned pair with its distance map, a real LR crop, an unpaired HR crop.

    The pair part is exactly :class:`PairPatches`' sample (same crop and flip for the same
    seed); the map is cropped at the LR crop's position and flipped / transposed with it. The
    real LR crop (``lr_patch``² of a random ``real_lr_images`` photo) and the unpaired HR crop
    (``patch_size``² of a random training HR image, as the reference's unpaired dataset draws
    them) each get their own random symmetry.

    Args:
        dist_maps: float32 ``(h, w)`` per pair, the LR image's size.
        real_lr_images: decoded real LR photos, each at least ``patch_size / scale`` wide.
    """

    def __init__(self, hr_images: Sequence[np.ndarray], lr_images: Sequence[np.ndarray],
                 dist_maps: Sequence[np.ndarray], real_lr_images: Sequence[np.ndarray],
                 scale: int, patch_size: int, seed: int, **kwargs) -> None:
        super().__init__(hr_images, lr_images, scale, patch_size, seed, **kwargs)
        self.dist_maps = [np.asarray(d, np.float32) for d in dist_maps]
        self.real_lr_images = list(real_lr_images)
        if len(self.dist_maps) != self.count:
            raise ValueError(f"{len(self.dist_maps)} distance maps for {self.count} pairs")
        for dist, lr in zip(self.dist_maps, self.lr_images, strict=True):
            if dist.shape != lr.shape[:2]:
                raise ValueError(f"distance map {dist.shape} is not the LR's size {lr.shape}")
        if not self.real_lr_images:
            raise SrkitError("no real LR photos")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image, rng = self.sample_source(int(index))
        lr, hr, (row, col) = aligned_crop(self.lr_images[image], self.hr_images[image],
                                          self.scale, self.lr_patch, rng)
        size = self.lr_patch
        dist = self.dist_maps[image][row:row + size, col:col + size, None]
        if self.augment:  # the draws of PairPatches first, so the pairs are the same
            lr, hr, dist = dihedral([lr, hr, dist], int(rng.integers(0, 8)))
        real_img = self.real_lr_images[int(rng.integers(0, len(self.real_lr_images)))]
        real = _random_crop(real_img, size, rng)
        unpaired_img = self.hr_images[int(rng.integers(0, self.count))]
        unpaired = _random_crop(unpaired_img, self.patch_size, rng)
        if self.augment:
            (real,) = dihedral([real], int(rng.integers(0, 8)))
            (unpaired,) = dihedral([unpaired], int(rng.integers(0, 8)))
        return (_to_tensor(lr), _to_tensor(hr), _to_tensor(dist), _to_tensor(real),
                _to_tensor(unpaired))


def _random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    if height < size or width < size:
        raise SrkitError(f"an image of {width}×{height} is smaller than the {size}×{size} "
                         "crop (lower --patch-size)")
    row = int(rng.integers(0, height - size + 1))
    col = int(rng.integers(0, width - size + 1))
    return image[row:row + size, col:col + size]


def find_dist_maps(folder: str | Path, pairs: Sequence[PairFiles]) -> list[Path]:
    """``PAIRS/dist/STEM.npy`` of every pair (as ``srkit degrade --dsn`` writes them)."""
    folder = Path(folder)
    hint = "the dasr recipe trains on pairs made by srkit degrade --dsn"
    if not (folder / "dist").is_dir():
        raise SrkitError(f"{folder}: no dist/ folder of domain-distance maps ({hint})")
    paths = [folder / "dist" / f"{Path(pair.name).stem}.npy" for pair in pairs]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise SrkitError(f"{folder}: no domain-distance map dist/{missing[0].name} "
                         f"({len(missing)} pair(s) without one; {hint})")
    return paths


def load_dist_map(path: str | Path, lr_shape: tuple[int, ...]) -> np.ndarray:
    """A distance map ``(h, w)`` float32 in [0, 1], checked against the LR's ``(h, w)``."""
    try:
        dist = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise SrkitError(f"{path}: not a readable .npy distance map ({error})") from None
    if dist.ndim == 3 and dist.shape[0] == 1:
        dist = dist[0]
    if dist.shape != tuple(lr_shape[:2]) or not np.issubdtype(dist.dtype, np.floating):
        raise SrkitError(f"{path}: a {dist.dtype} map of shape {dist.shape}, but its LR image "
                         f"is {lr_shape[1]}×{lr_shape[0]} (expected float ({lr_shape[0]}, "
                         f"{lr_shape[1]}))")
    if not np.all(np.isfinite(dist)):
        raise SrkitError(f"{path}: the distance map has NaN or infinite values")
    return dist.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def make_loader(dataset: Dataset, batch_size: int, start_batch: int, num_batches: int,
                workers: int, pin_memory: bool = False) -> DataLoader:
    """Batches ``start_batch ..`` of ``dataset`` in order: sample indices are consecutive.

    Starting at ``start_batch`` is how a resumed run continues with the next unseen samples.
    """
    indices = range(start_batch * batch_size, (start_batch + num_batches) * batch_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=indices, num_workers=workers,
                      pin_memory=pin_memory, persistent_workers=False,
                      prefetch_factor=4 if workers else None, drop_last=True)


@dataclass
class ValidationPair:
    """A held-out pair as float32 ``(h, w, 3)`` LR and ``(h*s, w*s, 3)`` HR in [0, 1]."""

    name: str
    lr: np.ndarray
    hr: np.ndarray


@dataclass
class TrainingData:
    """What a training run learns from: the patch dataset and the held-out pairs."""

    dataset: PatchDataset
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


def _pair_data(folder: Path, scale: int, label: str, with_dist: bool = False
               ) -> tuple[list[str], list, list, list]:
    """Names, HR and LR pixels of a pair folder, and the distance maps when ``with_dist``."""
    files = find_pairs(folder)
    dist_paths = find_dist_maps(folder, files) if with_dist else []
    hr_images = load_all([f.hr_path for f in files], f"decoding {label} HR")
    lr_images = load_all([f.lr_path for f in files], f"decoding {label} LR")
    hr_images = [check_pair(hr, lr, scale, f"{folder}/{f.name}")
                 for f, hr, lr in zip(files, hr_images, lr_images, strict=True)]
    dist_maps = [load_dist_map(path, lr.shape)
                 for path, lr in zip(dist_paths, lr_images[:len(dist_paths)], strict=True)]
    return [f.name for f in files], hr_images, lr_images, dist_maps


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
                          pool_share: float = 0.5,
                          val: str | Path | float | None = None,
                          real_lr: str | Path | None = None,
                          rank: int = 0, world_size: int = 1) -> TrainingData:
    """Decode the training images once and build the dataset and the validation pairs.

    Exactly one source: ``pairs`` (a pair folder), or ``hr`` with ``pool``, ``synthetic`` or
    both (each sample from the pool with probability ``pool_share``). ``val`` is a pair
    folder, a fraction of the training images to hold out (for on-the-fly sources each
    held-out photo is degraded once, deterministically from ``seed``) or None. ``real_lr`` (a
    folder of the target camera's photos) makes DASR samples (:class:`DasrPatches`): it needs
    a pair folder with ``dist/`` maps.
    """
    if (pairs is None) == (hr is None):
        raise SrkitError("give either a pair folder or --hr DIR (with --pool or --synthetic)")
    if real_lr is not None and pairs is None:
        raise SrkitError("--real-lr (the dasr recipe) trains on a pair folder made by srkit "
                         "degrade --dsn, not on --hr photos")
    if pairs is not None and (pool is not None or synthetic):
        raise SrkitError("--pool and --synthetic make pairs on the fly from --hr photos; "
                         "they do not apply to a pair folder")
    if hr is not None and pool is None and not synthetic:
        raise SrkitError("--hr needs --pool POOL.h5, --synthetic or both")
    fraction = val if isinstance(val, float) else None
    common = {"seed": seed, "rank": rank, "world_size": world_size}

    if pairs is not None:
        names, hr_images, lr_images, dist_maps = _pair_data(Path(pairs), scale, "pairs",
                                                            with_dist=real_lr is not None)
        held = _held_out(len(names), fraction, seed)
        validation = [ValidationPair(names[i], to_float(lr_images[i]), to_float(hr_images[i]))
                      for i in held]
        keep = [i for i in range(len(names)) if i not in set(held)]
        _check_sizes([lr_images[i] for i in keep], [names[i] for i in keep],
                     patch_size // scale, "the LR image")
        train_hr, train_lr = [hr_images[i] for i in keep], [lr_images[i] for i in keep]
        if real_lr is None:
            dataset: PatchDataset = PairPatches(train_hr, train_lr, scale, patch_size,
                                                **common)
            description = f"{len(keep)} pairs from {pairs}"
        else:
            real_paths = list_images(real_lr)
            real_images = load_all(real_paths, "decoding real LR")
            _check_sizes(real_images, [p.name for p in real_paths], patch_size // scale,
                         "the real LR photo")
            dataset = DasrPatches(train_hr, train_lr, [dist_maps[i] for i in keep],
                                  real_images, scale, patch_size, **common)
            description = (f"{len(keep)} pairs with distance maps from {pairs} and "
                           f"{len(real_images)} real LR photos from {real_lr}")
    else:
        paths = list_images(hr)
        hr_images = load_all(paths, "decoding HR photos")
        held = _held_out(len(paths), fraction, seed)
        keep = [i for i in range(len(paths)) if i not in set(held)]
        train_images = [hr_images[i] for i in keep]
        _check_sizes(train_images, [paths[i].name for i in keep], patch_size, "the photo")
        parts, descriptions = [], []
        if pool is not None:
            from srkit.io.pools import read_pool

            pool_data = read_pool(pool)
            kernels = pool_data.kernels(scale).kernels
            noise = pool_data.noise_patches() if pool_data.noise_count else None
            parts.append(PoolPatches(train_images, kernels, noise, scale, patch_size, **common))
            descriptions.append(f"{len(kernels)} kernels and {pool_data.noise_count} noise "
                                f"patches from {pool}")
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
        validation = [_degrade_whole(dataset, hr_images[i], paths[i].name,
                                     np.random.default_rng([seed, 3, i])) for i in held]
    if val is not None and fraction is None:
        names, val_hr, val_lr, _ = _pair_data(Path(val), scale, "validation")
        validation = [ValidationPair(n, to_float(lr), to_float(h))
                      for n, h, lr in zip(names, val_hr, val_lr, strict=True)]
    return TrainingData(dataset, validation, description)


def _degrade_whole(dataset: PatchDataset, hr_img: np.ndarray, name: str,
                   rng: np.random.Generator) -> ValidationPair:
    """A validation pair from a whole held-out HR photo, degraded as the training samples are."""
    scale = dataset.scale
    lr_shape = (hr_img.shape[0] // scale, hr_img.shape[1] // scale)
    hr_float = to_float(hr_img[:lr_shape[0] * scale, :lr_shape[1] * scale])
    if isinstance(dataset, MixedPatches):
        dataset = dataset.part(rng)
    if isinstance(dataset, PoolPatches):
        lr_img = dataset.degrade(hr_img, 0, 0, lr_shape, rng)
    else:
        from srkit.ops.synthetic import random_degradation

        assert isinstance(dataset, SyntheticPatches)
        lr_img, _ = random_degradation(hr_float, scale, rng, dataset.settings)
    return ValidationPair(name, np.asarray(lr_img, np.float32), hr_float)
