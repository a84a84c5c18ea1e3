"""``pool``: RealSR's degradation (Ji et al. 2020, §3) from a degradation pool, in a camera's
order: blur → subsample → noise → JPEG.

Per image a random kernel of the pool at this scale: blur and subsample on the block-centre
grid (:func:`srkit.ops.kernels.blur_downsample`); then a random noise patch of the pool, cut
to the LR's size and added (:func:`srkit.ops.noise.noise_field`); then optionally JPEG.
``kernels=None`` downscales with MATLAB bicubic instead, ``noise=None`` adds no noise (the
paper's ablations).

The camera model (``camera=True``, where the pool has what it needs):

* **brightness-matched noise** — patches collected by the adaptive rule carry their window's
  grey mean and variance, from which the camera's noise level ``v(μ) = a + b·μ`` is fitted
  (:func:`srkit.ops.noise_level.fit_patch_noise_level`); the noise piece is rescaled pixel by
  pixel from its own patch's level to the level at the LR pixel's brightness, so dark areas
  get the camera's dark-area noise and bright ones its bright-area noise, while the piece
  keeps the real patch's grain and colour;
* **the camera's JPEG** — each image is compressed at the JPEG quality of a random photo of
  the pool (``/photos``), unless ``jpeg_quality`` fixes one.

The draws, in this order: kernel index, noise index, JPEG quality index, the noise piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from srkit.degradations.base import Degradation, Degraded, check_hr, finish
from srkit.degradations.bicubic import bicubic_crop
from srkit.errors import SrkitError
from srkit.ops.kernels import blur_downsample, grid_kernel
from srkit.ops.noise_level import ADAPTIVE_METHOD, NoiseLevel, fit_patch_noise_level
from srkit.ops.noise_stats import LUMA_WEIGHTS
from srkit.ops.pixels import to_float
from srkit.ops.resize import imresize


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


class PoolNoise:
    """The noise patches of a pool file as a sequence, each read when it is drawn."""

    def __init__(self, pool: object) -> None:
        self.pool = pool  # a srkit.io.pools.Pool (picklable: it holds no open file)

    def __len__(self) -> int:
        return self.pool.noise_count

    def __getitem__(self, index: int) -> np.ndarray:
        return self.pool.noise_patch(index)


class PoolDegradation(Degradation):
    """RealSR's pool degradation.

    Args:
        kernels: ``(N, k, k)`` centred kernels of this scale, or None (MATLAB bicubic).
        noise: ``M`` zero-mean ``(p, p, 3)`` patches (an array or :class:`PoolNoise`), or
            None / empty (no noise).
        kernel_sources: the source photo of each kernel (for the manifest).
        pool_path, pool_sha256: the pool file and its hash (for ``degrade.json``).
        jpeg_quality: JPEG-compress the LR at this quality (None: no JPEG, or the pool's).
        noise_level: rescale each noise piece to this grey-level noise variance at the LR
            pixel's brightness (:class:`~srkit.ops.noise_level.NoiseLevel`); needs
            ``patch_variance``, the grey variance of each patch's window. None: add as is.
        jpeg_qualities: draw each image's JPEG quality from these (the pool's photos).
    """

    name = "pool"
    file_option = "pool"

    def __init__(self, scale: int, kernels: np.ndarray | None,
                 noise: Sequence[np.ndarray] | None, *, kernel_sources: Sequence[str] = (),
                 pool_path: str | Path | None = None, pool_sha256: str | None = None,
                 jpeg_quality: int | None = None, noise_level: NoiseLevel | None = None,
                 patch_variance: np.ndarray | None = None,
                 jpeg_qualities: Sequence[int] | None = None) -> None:
        super().__init__(scale)
        self.kernels = None if kernels is None else np.asarray(kernels, np.float32)
        self.grid_kernels = (None if self.kernels is None
                             else [grid_kernel(k, self.scale) for k in self.kernels])
        self.noise = noise if noise is not None and len(noise) else None
        self.kernel_sources = tuple(kernel_sources)
        self.pool_path = None if pool_path is None else str(pool_path)
        self.pool_sha256 = pool_sha256
        self.jpeg_quality = jpeg_quality
        self.noise_level = noise_level if self.noise is not None else None
        self.patch_variance = (None if self.noise_level is None
                               else np.asarray(patch_variance, np.float64))
        if self.noise_level is not None and len(self.patch_variance) != len(self.noise):
            raise ValueError("patch_variance needs one variance per noise patch")
        self.jpeg_qualities = (tuple(int(q) for q in jpeg_qualities)
                               if jpeg_qualities and jpeg_quality is None else None)

    @classmethod
    def from_options(cls, scale, options):
        """Read and check the pool file (``srkit degrade --pool``)."""
        if options.pool is None:
            raise SrkitError("pool mode needs a pool (--pool POOL.h5); or use --mode bicubic "
                             "or --mode random")
        from srkit.io.pools import read_pool

        return cls.from_pool(read_pool(options.pool), scale, use_kernels=options.use_kernels,
                             use_noise=options.use_noise, jpeg_quality=options.jpeg_quality,
                             camera=options.camera)

    @classmethod
    def from_pool(cls, pool_obj, scale: int, *, use_kernels: bool = True,
                  use_noise: bool = True, jpeg_quality: int | None = None,
                  camera: bool = True, in_memory: bool = False) -> PoolDegradation:
        """The degradation of a read pool (:class:`srkit.io.pools.Pool`); ``in_memory`` loads
        every noise patch at once (training), else each is read when drawn."""
        from srkit.io.hashing import file_sha256

        pool = pool_obj.path
        kernels, sources = None, ()
        if use_kernels:
            kernel_set = pool_obj.kernels(scale)
            if len(kernel_set) == 0:
                raise SrkitError(f"{pool}: no x{scale} kernels in this pool")
            kernels, sources = kernel_set.kernels, tuple(kernel_set.source)
        noise = None
        if use_noise:
            if pool_obj.noise_count == 0:
                raise SrkitError(f"{pool}: no noise patches in this pool; run srkit "
                                 "collect-noise, or pass --no-noise")
            noise = pool_obj.noise_patches() if in_memory else PoolNoise(pool_obj)
        level, variance = (camera_noise_level(pool_obj) if camera and noise is not None
                           else (None, None))
        return cls(scale, kernels, noise, kernel_sources=sources, pool_path=pool,
                   pool_sha256=file_sha256(pool), jpeg_quality=jpeg_quality,
                   noise_level=level, patch_variance=variance,
                   jpeg_qualities=pool_obj.jpeg_qualities() if camera else None)

    def settings(self) -> dict:
        settings = {**super().settings(), "pool_sha256": self.pool_sha256,
                    "use_kernels": self.kernels is not None,
                    "use_noise": self.noise is not None, "jpeg_quality": self.jpeg_quality}
        # only when used, so that folders made without them keep their settings id
        if self.noise_level is not None:
            settings["noise_level"] = self.noise_level.to_dict()
        if self.jpeg_qualities is not None:
            settings["jpeg_qualities"] = sorted(self.jpeg_qualities)
        return settings

    def files(self) -> dict:
        return {"pool": self.pool_path}

    def camera_summary(self) -> str:
        """What of the camera model is used, for a run's description ("" when none)."""
        parts = []
        if self.noise_level is not None:
            parts.append("noise matched to brightness")
        if self.jpeg_qualities is not None:
            low, high = min(self.jpeg_qualities), max(self.jpeg_qualities)
            parts.append(f"JPEG {low}" + (f"–{high}" if high > low else ""))
        return f" ({', '.join(parts)})" if parts else ""

    def draw(self, rng: np.random.Generator) -> tuple[int | None, int | None, int | None]:
        """The image's kernel index, noise index and JPEG quality (None where unused)."""
        kernel_index = None if self.kernels is None else int(rng.integers(len(self.kernels)))
        noise_index = None if self.noise is None else int(rng.integers(len(self.noise)))
        quality = self.jpeg_quality
        if self.jpeg_qualities is not None:
            quality = self.jpeg_qualities[int(rng.integers(len(self.jpeg_qualities)))]
        return kernel_index, noise_index, quality

    def apply(self, hr: np.ndarray, kernel: np.ndarray | None, patch: np.ndarray | None,
              rng: np.random.Generator, *, patch_variance: float | None = None,
              quality: int | None = None) -> tuple[np.ndarray, dict]:
        """The whole-image maths with the choices made: LR and ``{"downscale", "noise"}``
        (plus ``"jpeg"``). ``quality`` None: the fixed ``jpeg_quality``."""
        hr = check_hr(hr, self.scale)
        if kernel is not None:
            lr, record = blur_downsample(hr, kernel, self.scale), {"downscale": "kernel"}
        else:
            lr, record = imresize(hr, 1 / self.scale), {"downscale": "bicubic"}
        lr, record["noise"] = self._add_noise(lr, patch, patch_variance, rng)
        quality = self.jpeg_quality if quality is None else quality
        return finish(lr, quality, record), record

    def _patch(self, noise_index: int | None) -> tuple[np.ndarray | None, float | None]:
        if noise_index is None:
            return None, None
        variance = (None if self.patch_variance is None
                    else float(self.patch_variance[noise_index]))
        return self.noise[noise_index], variance

    def _add_noise(self, lr: np.ndarray, patch: np.ndarray | None,
                   patch_variance: float | None, rng: np.random.Generator
                   ) -> tuple[np.ndarray, dict | None]:
        """``lr`` plus a piece of ``patch`` cut to its size (unclipped), rescaled to the noise
        level at each pixel's brightness when there is one; and the piece's record."""
        if patch is None:
            return lr, None
        from srkit.ops.noise import noise_field

        noise, record = noise_field(lr.shape[:2], patch, rng)
        if self.noise_level is not None and patch_variance is not None:
            noise = noise * brightness_gain(lr, self.noise_level, patch_variance)[..., None]
            record["gain"] = "brightness"
        return lr + noise, record

    def degrade(self, hr, rng, *, bit_depth=8):
        kernel_index, noise_index, quality = self.draw(rng)
        kernel = None if kernel_index is None else self.kernels[kernel_index]
        patch, variance = self._patch(noise_index)
        lr, record = self.apply(hr, kernel, patch, rng, patch_variance=variance,
                                quality=quality)
        choices = {"kernel_index": kernel_index, "noise_index": noise_index,
                   "kernel_source": (None if kernel_index is None or not self.kernel_sources
                                     else self.kernel_sources[kernel_index])}
        return Degraded(lr, record, choices)

    def degrade_crop(self, hr_img, row, col, lr_shape, rng):
        kernel_index, noise_index, quality = self.draw(rng)
        if kernel_index is not None:
            lr = blur_downsample_crop(hr_img, self.grid_kernels[kernel_index], self.scale,
                                      row, col, lr_shape)
        else:
            lr = bicubic_crop(hr_img, self.scale, row, col, lr_shape)
        patch, variance = self._patch(noise_index)
        lr, _ = self._add_noise(lr, patch, variance, rng)
        return finish(lr, quality, {})


def brightness_gain(lr: np.ndarray, level: NoiseLevel, patch_variance: float) -> np.ndarray:
    """Per LR pixel, the noise σ of the camera at that pixel's grey level over the σ of the
    patch the noise piece came from: ``(h, w)`` float32."""
    grey = np.clip(np.asarray(lr, np.float64), 0, 1) @ (np.array(LUMA_WEIGHTS) * 255.0)
    gain = level.sigma(grey) / np.sqrt(max(patch_variance, 1e-6))
    return gain.astype(np.float32)


def camera_noise_level(pool_obj) -> tuple[NoiseLevel | None, np.ndarray | None]:
    """The noise level of a pool whose patches all came from the adaptive rule (RealSR's
    patches were not chosen at every brightness: they are added as they are)."""
    if not pool_obj.noise_count or any(s.get("method") != ADAPTIVE_METHOD
                                       for s in pool_obj.noise_settings):
        return None, None
    means, variances = pool_obj.noise_grey_stats()
    level = fit_patch_noise_level(means, variances)
    return (None, None) if level is None else (level, variances)
