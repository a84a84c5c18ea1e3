"""Training patches for ``train-sr``: aligned patch pairs from pair folders or made on the fly.

Several sources, one sample contract — ``dataset[i]`` is ``(lq, gt)``, float32 tensors
``(3, p / s, p / s)`` and ``(3, p, p)`` in [0, 1]:

* :class:`PairPatches` — pair folders written by ``srkit degrade`` (``PAIRS/hr/NAME``,
  ``PAIRS/lr/NAME``): a random LR crop and the HR crop at ``scale`` × its position.
* :class:`DegradedPatches` — HR photos and a degradation of :mod:`srkit.degradations`: each
  sample is a random HR crop and the degradation's LR of that crop
  (``Degradation.degrade_crop``). :class:`PoolPatches` blurs and subsamples with a random pool
  kernel and adds a random pool noise patch, as RealSR injects noise at training time (Ji et
  al. 2020, §3.2); :class:`SyntheticPatches` runs the random BSRGAN/Real-ESRGAN-style pipeline;
  :class:`MixedPatches` takes each sample from one or the other.
* :class:`BlindPatches` — HR photos and the blind degradation
  (:mod:`srkit.degradations.blind`): pre-upsampled pairs (LR = HR size) with the parameters
  each was made with; ``dataset[i]`` is ``(lq, gt, params)`` (``params`` float32 ``(3,)``:
  blur variance, noise level, factor, normalised to [0, 1] by their ranges).
* :class:`DasrPatches` — DASR (Wei et al. 2021, §3.2): pairs written by ``srkit degrade
  --dsn`` with their domain-distance maps (``PAIRS/dist/NAME.npy``), plus a crop of a real LR
  photo of the target camera and an unrelated HR crop; ``dataset[i]`` is
  ``(lq, gt, dist, real_lq, gt_unpaired)`` (``dist`` ``(1, p / s, p / s)``).
* :class:`ScaleRangePatches` — HR photos and MATLAB bicubic at a factor drawn per batch from
  a :class:`~srkit.scales.ScaleRange` (Meta-SR): ``(lq, gt, scale)``, ``lq`` an
  ``L × L`` crop, ``gt`` ``round(r·L)`` square, ``scale`` a float64 scalar.
* :class:`TargetLrPatches` — any of the pair datasets above with an unpaired crop of the
  target camera's LR photos added to each sample, ``(lq, gt, target_lq)`` (the
  ``domain-adapt`` recipe).

With region labels attached (:meth:`PatchDataset.attach_region_labels`, one ``(H, W)``
uint8 map per HR image: SROBB's object / background / boundary), :class:`PairPatches`,
:class:`DegradedPatches` and :class:`MixedPatches` samples are ``(lq, gt, labels)``, the labels
cut at the HR crop and flipped with it.

Every sample is flipped / transposed at random (the 8 symmetries of the square, as BasicSR's
``augment``). Images come decoded (uint8/uint16 arrays, :func:`srkit.data.load_pixels`) and
are shared with the loader's worker processes, so decoding never stalls training.

Determinism: sample ``i`` of rank ``r`` among ``w`` processes is global sample
``g = i * w + r``; its randomness comes from ``default_rng([seed, 1, g])`` alone, and the
image it is cut from from a seeded permutation per pass over the images. So the batches are the
same whatever the number of loader workers, a resumed run picks up exactly at the sample it
stopped at, and ``w`` processes with batch ``b`` see together what one process with batch
``w * b`` sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import Dataset

from srkit.degradations import Degradation, PoolDegradation, RandomDegradation
from srkit.errors import SrkitError
from srkit.ops.pixels import to_float


def dihedral(images: Sequence[np.ndarray], code: int) -> list[np.ndarray]:
    """Apply one of the 8 flips/rotations (``code`` bits: vflip, hflip, transpose) to all."""
    from srkit.ops.noise import dihedral as one_symmetry

    return [np.ascontiguousarray(one_symmetry(image, code)) for image in images]


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


@lru_cache(maxsize=4)
def _image_order(seed: int, epoch: int, count: int) -> np.ndarray:
    return np.random.default_rng([seed, 0, epoch]).permutation(count)


class PatchDataset(Dataset):
    """Base class: maps a sample index to an image, a seeded Generator and an augmentation.

    Subclasses implement :meth:`make_crop` (float32 HWC LR and HR patches and the HR patch's
    position; those whose samples can carry region labels set ``takes_region_labels``) or
    :meth:`make_pair` with their own ``__getitem__``. ``rank`` and
    ``world_size`` interleave the sample indices of several processes (see module doc).
    """

    takes_region_labels = False
    hr_images: list[np.ndarray]

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
        self.region_labels: list[np.ndarray] | None = None

    def attach_region_labels(self, labels: Sequence[np.ndarray]) -> None:
        """Give every training HR image its region label map (``(H, W)`` uint8, the HR's
        size): samples then carry the labels of their HR crop, flipped / transposed with it
        (SROBB's targeted perceptual loss). Only datasets that set ``takes_region_labels``
        take them."""
        if not self.takes_region_labels:
            raise SrkitError(f"{type(self).__name__} samples cannot carry region labels")
        hr_images = self.hr_images
        if len(labels) != len(hr_images):
            raise ValueError(f"{len(labels)} label maps for {len(hr_images)} HR images")
        for label_map, hr in zip(labels, hr_images, strict=True):
            if label_map.shape != hr.shape[:2]:
                raise ValueError(f"label map {label_map.shape} is not the HR's size {hr.shape}")
        self.region_labels = [np.asarray(label_map, np.uint8) for label_map in labels]

    def sample_source(self, index: int) -> tuple[int, np.random.Generator]:
        """The image index and the Generator of sample ``index`` of this rank."""
        global_index = index * self.world_size + self.rank
        epoch, position = divmod(global_index, self.count)
        image = int(_image_order(self.seed, epoch, self.count)[position])
        return image, np.random.default_rng([self.seed, 1, global_index])

    def make_crop(self, image: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """The LR and HR patches and the HR patch's top-left corner in its HR image."""
        raise NotImplementedError

    def make_pair(self, image: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        return self.make_crop(image, rng)[:2]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """``(lq, gt)``, or with region labels ``(lq, gt, labels)`` (``labels`` uint8
        ``(1, p, p)``, the same crop and symmetry as ``gt``; the draws are those of the
        sample without labels, so both see the same pairs)."""
        image, rng = self.sample_source(int(index))
        if self.region_labels is None:
            lr_patch, hr_patch = self.make_pair(image, rng)
            if self.augment:
                lr_patch, hr_patch = dihedral([lr_patch, hr_patch], int(rng.integers(0, 8)))
            return _to_tensor(lr_patch), _to_tensor(hr_patch)
        lr_patch, hr_patch, (row, col) = self.make_crop(image, rng)
        height, width = hr_patch.shape[:2]
        labels = self.region_labels[image][row:row + height, col:col + width, None]
        if self.augment:
            lr_patch, hr_patch, labels = dihedral([lr_patch, hr_patch, labels],
                                                  int(rng.integers(0, 8)))
        return (_to_tensor(lr_patch), _to_tensor(hr_patch),
                torch.from_numpy(np.ascontiguousarray(labels.transpose(2, 0, 1))))


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(to_float(image).transpose(2, 0, 1)))


class PairPatches(PatchDataset):
    """Aligned random crops from decoded pairs (``lr_images[i]`` × scale = ``hr_images[i]``)."""

    takes_region_labels = True

    def __init__(self, hr_images: Sequence[np.ndarray], lr_images: Sequence[np.ndarray],
                 scale: int, patch_size: int, seed: int, **kwargs) -> None:
        super().__init__(len(hr_images), scale, patch_size, seed, **kwargs)
        self.hr_images = list(hr_images)
        self.lr_images = list(lr_images)
        for hr, lr in zip(self.hr_images, self.lr_images, strict=True):
            if hr.shape[0] != lr.shape[0] * scale or hr.shape[1] != lr.shape[1] * scale:
                raise ValueError(f"HR {hr.shape} is not LR {lr.shape} × {scale}")

    def make_crop(self, image, rng):
        lr, hr, (row, col) = aligned_crop(self.lr_images[image], self.hr_images[image],
                                          self.scale, self.lr_patch, rng)
        return lr, hr, (row * self.scale, col * self.scale)


def _hr_crop_position(hr_img: np.ndarray, patch_size: int, scale: int,
                      rng: np.random.Generator) -> tuple[int, int]:
    """A random HR crop position on the LR grid (both multiples of ``scale``)."""
    height, width = hr_img.shape[0] // scale, hr_img.shape[1] // scale
    lr_patch = patch_size // scale
    if height < lr_patch or width < lr_patch:
        raise SrkitError(f"HR image of {hr_img.shape[1]}×{hr_img.shape[0]} is smaller than "
                         f"the patch {patch_size}×{patch_size} (lower --patch-size)")
    return int(rng.integers(0, height - lr_patch + 1)), int(rng.integers(0, width - lr_patch + 1))


class DegradedPatches(PatchDataset):
    """Random HR crops and their LR made by ``degradation`` (see module doc).

    The HR crop sits on the LR grid (its position a multiple of ``scale``); the LR patch is
    ``degradation.degrade_crop`` at that position, so for the pool's kernels it is exactly the
    crop of the whole image's LR.
    """

    takes_region_labels = True

    def __init__(self, hr_images: Sequence[np.ndarray], degradation: Degradation,
                 patch_size: int, seed: int, **kwargs) -> None:
        super().__init__(len(hr_images), degradation.scale, patch_size, seed, **kwargs)
        self.hr_images = list(hr_images)
        self.degradation = degradation

    def make_crop(self, image, rng):
        hr_img = self.hr_images[image]
        row, col = _hr_crop_position(hr_img, self.patch_size, self.scale, rng)
        hr_patch = hr_img[row * self.scale:row * self.scale + self.patch_size,
                          col * self.scale:col * self.scale + self.patch_size]
        lr_patch = self.degradation.degrade_crop(hr_img, row, col,
                                                 (self.lr_patch, self.lr_patch), rng)
        return lr_patch, hr_patch, (row * self.scale, col * self.scale)


class PoolPatches(DegradedPatches):
    """RealSR on the fly: random HR crop → random pool kernel → random pool noise patch.

    ``kernels`` ``(N, k, k)`` are the pool's kernels at ``scale``; ``noise_patches``
    ``(M, p, p, 3)`` zero-mean patches (None or M = 0: kernels only). The LR patch is exactly
    the crop of ``blur_downsample(hr_image, kernel, scale)`` at the matching position.
    """

    def __init__(self, hr_images: Sequence[np.ndarray], kernels: np.ndarray,
                 noise_patches: np.ndarray | None, scale: int, patch_size: int, seed: int,
                 **kwargs) -> None:
        if len(kernels) == 0:
            raise SrkitError(f"the pool has no ×{scale} kernels")
        noise = None if noise_patches is None else np.asarray(noise_patches, np.float32)
        super().__init__(hr_images, PoolDegradation(scale, kernels, noise), patch_size, seed,
                         **kwargs)


#: ``--pool-share``'s default: the pool degrades 9 samples in 10, the random pipeline the rest.
#: Chosen on the development workflow (``benchmarks/camera_workflow.py --development``, a camera
#: and photos of its own): PSNR-Y rose with the share at every step tried (0.25, 0.5, 0.75,
#: 0.9), 0.9 was 0.07 dB above 0.5 and 0.03 dB below the pool alone.
POOL_SHARE = 0.9


class MixedPatches(PatchDataset):
    """Each sample from the pool (probability ``pool_share``) or from the random pipeline.

    Both parts crop the same HR photos; the choice is the sample's first random draw, so a run
    is as reproducible as its parts.
    """

    takes_region_labels = True

    def __init__(self, pool_part: DegradedPatches, synthetic_part: SyntheticPatches,
                 pool_share: float) -> None:
        if not 0.0 <= pool_share <= 1.0:
            raise SrkitError(f"--pool-share {pool_share} is not between 0 and 1")
        super().__init__(pool_part.count, pool_part.scale, pool_part.patch_size, pool_part.seed,
                         rank=pool_part.rank, world_size=pool_part.world_size,
                         augment=pool_part.augment)
        self.pool_part = pool_part
        self.synthetic_part = synthetic_part
        self.pool_share = pool_share
        self.hr_images = pool_part.hr_images

    def part(self, rng: np.random.Generator) -> DegradedPatches:
        """The source of the next sample (consumes one draw of ``rng``)."""
        return self.pool_part if rng.random() < self.pool_share else self.synthetic_part

    def make_crop(self, image, rng):
        return self.part(rng).make_crop(image, rng)


class SyntheticPatches(DegradedPatches):
    """Random HR crops degraded by :func:`srkit.ops.synthetic.random_degradation`
    (``settings``: a :class:`~srkit.ops.synthetic.SyntheticSettings`, None → the defaults)."""

    def __init__(self, hr_images: Sequence[np.ndarray], scale: int, patch_size: int,
                 seed: int, settings: object | None = None, **kwargs) -> None:
        super().__init__(hr_images, RandomDegradation(scale, settings), patch_size, seed,
                         **kwargs)


class BlindPatches(DegradedPatches):
    """Random HR crops, their blind-degraded version and its normalised parameters.

    ``settings``: a :class:`~srkit.degradations.blind.BlindSettings` (None → the defaults).
    Each crop is degraded with context around it (:class:`~srkit.degradations.blind
    .BlindDegradation`); the flips and transposes leave the (isotropic) parameters as
    they are.
    """

    takes_region_labels = False  # its samples are (lq, gt, params)

    def __init__(self, hr_images: Sequence[np.ndarray], patch_size: int, seed: int,
                 settings: object | None = None, **kwargs) -> None:
        from srkit.degradations.blind import BlindDegradation

        super().__init__(hr_images, BlindDegradation(settings), patch_size, seed, **kwargs)

    def make_sample(self, image: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The LR and HR crops (float32 HWC) and the normalised parameters ``(3,)``."""
        hr_img = self.hr_images[image]
        row, col = _hr_crop_position(hr_img, self.patch_size, 1, rng)
        hr_patch = hr_img[row:row + self.patch_size, col:col + self.patch_size]
        lr_patch, params = self.degradation.degrade_crop_params(
            hr_img, row, col, (self.patch_size, self.patch_size), rng)
        return lr_patch, hr_patch, self.degradation.blind.normalise(params)

    def make_pair(self, image, rng):
        return self.make_sample(image, rng)[:2]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image, rng = self.sample_source(int(index))
        lr_patch, hr_patch, params = self.make_sample(image, rng)
        if self.augment:
            lr_patch, hr_patch = dihedral([lr_patch, hr_patch], int(rng.integers(0, 8)))
        return _to_tensor(lr_patch), _to_tensor(hr_patch), torch.from_numpy(params)


class ScaleRangePatches(DegradedPatches):
    """Meta-SR's training samples: one factor per batch, any real factor (module doc).

    Batch ``b`` (samples ``b·batch_size …``, as :func:`srkit.data.make_loader` numbers them)
    is at the factor ``scales.values[k]``, ``k`` drawn from ``default_rng([seed, 5, b])``:
    a function of the seed and the iteration alone, so every worker, rank and resumed run
    draws the same factor for the same batch. A sample is a random HR crop of
    ``round(r·L)`` pixels at any integer position and the ``L × L`` LR that MATLAB bicubic
    makes of it at exactly ``1/r`` (:func:`~srkit.degradations.bicubic
    .bicubic_crop_any_scale`): LR pixel ``u`` covers HR ``[u·r, (u+1)·r)`` of the crop, which
    is where Meta-SR's projection puts output pixel ``i`` (``⌊i/r⌋``). The HR crop's last row
    and column overhang the LR's extent by under half a pixel where ``r·L`` is not an
    integer. ``degradation`` (bicubic at ``scales.default_scale``) makes the held-out
    validation pairs.

    Args:
        scales: a :class:`~srkit.scales.ScaleRange`.
        lr_patch: ``L``, the LR patch side (every factor).
        batch_size: samples per batch (per process).
    """

    def __init__(self, hr_images: Sequence[np.ndarray], scales, lr_patch: int,
                 batch_size: int, seed: int, **kwargs) -> None:
        from srkit.degradations import BicubicDegradation

        default = scales.default_scale
        super().__init__(hr_images, BicubicDegradation(default), lr_patch * default, seed,
                         **kwargs)
        self.scales = scales
        self.lr_patch = lr_patch
        self.batch_size = batch_size
        self.hr_patch_max = round(scales.high * lr_patch)

    def batch_scale(self, index: int) -> float:
        """The factor of sample ``index``'s batch."""
        batch = int(index) // self.batch_size
        values = self.scales.values
        return values[int(np.random.default_rng([self.seed, 5, batch]).integers(len(values)))]

    def make_scaled_pair(self, image: int, scale: float, rng: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray]:
        from srkit.degradations.bicubic import bicubic_crop_any_scale

        hr_img = self.hr_images[image]
        hr_patch = round(scale * self.lr_patch)
        height, width = hr_img.shape[:2]
        if min(height, width) < hr_patch:
            raise SrkitError(f"HR image of {width}×{height} is smaller than the "
                             f"{hr_patch}×{hr_patch} patch at ×{scale:g} (lower --patch-size)")
        row = int(rng.integers(0, height - hr_patch + 1))
        col = int(rng.integers(0, width - hr_patch + 1))
        lr = bicubic_crop_any_scale(hr_img, scale, row, col, (self.lr_patch, self.lr_patch))
        return np.clip(lr, 0.0, 1.0), hr_img[row:row + hr_patch, col:col + hr_patch]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        scale = self.batch_scale(int(index))
        image, rng = self.sample_source(int(index))
        lr_patch, hr_patch = self.make_scaled_pair(image, scale, rng)
        if self.augment:
            lr_patch, hr_patch = dihedral([lr_patch, hr_patch], int(rng.integers(0, 8)))
        return (_to_tensor(lr_patch), _to_tensor(hr_patch),
                torch.tensor(scale, dtype=torch.float64))


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

    takes_region_labels = False  # its samples are the five tensors of DASR

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


class TargetLrPatches(Dataset):
    """Source samples with an unpaired target-domain LR crop: ``(lq, gt, target_lq)``.

    The ``domain-adapt`` recipe's data (Wang et al. 2021): ``source`` is any pair dataset
    (:class:`PairPatches`, :class:`DegradedPatches`, :class:`MixedPatches`) and its sample
    ``i`` is unchanged; the target crop (``lr_patch``² of a random ``target_lr_images``
    photo, with its own random symmetry) comes from a Generator of its own, seeded from the
    source's seed and the sample's global index, so resumed runs see the same crops.
    """

    def __init__(self, source: PatchDataset, target_lr_images: Sequence[np.ndarray]) -> None:
        self.source = source
        self.target_lr_images = list(target_lr_images)
        if not self.target_lr_images:
            raise SrkitError("no target LR photos")

    @property
    def scale(self) -> int:
        return self.source.scale

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        lq, gt = self.source[index][:2]
        source = self.source
        global_index = int(index) * source.world_size + source.rank
        rng = np.random.default_rng([source.seed, 4, global_index])
        photo = self.target_lr_images[int(rng.integers(0, len(self.target_lr_images)))]
        crop = _random_crop(photo, source.lr_patch, rng)
        if source.augment:
            (crop,) = dihedral([crop], int(rng.integers(0, 8)))
        return lq, gt, _to_tensor(crop)


def _random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    if height < size or width < size:
        raise SrkitError(f"an image of {width}×{height} is smaller than the {size}×{size} "
                         "crop (lower --patch-size)")
    row = int(rng.integers(0, height - size + 1))
    col = int(rng.integers(0, width - size + 1))
    return image[row:row + size, col:col + size]
