"""``pool``: RealSR's degradation (Ji et al. 2020, §3) from a degradation pool.

Per image a random kernel of the pool at this scale: blur and subsample on the block-centre
grid (:func:`srkit.ops.kernels.blur_downsample`); then a random noise patch of the pool, cut
to the LR's size and added (:func:`srkit.ops.noise.noise_field`); then optionally JPEG.
``kernels=None`` downscales with MATLAB bicubic instead, ``noise=None`` adds no noise (the
paper's ablations). The draws, in this order: kernel index, noise index, the noise piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from srkit.degradations.base import Degradation, Degraded, check_hr, finish
from srkit.degradations.bicubic import bicubic_crop
from srkit.errors import SrkitError
from srkit.ops.kernels import blur_downsample, grid_kernel
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
        jpeg_quality: JPEG-compress the LR at this quality (None: no JPEG).
    """

    name = "pool"
    file_option = "pool"

    def __init__(self, scale: int, kernels: np.ndarray | None,
                 noise: Sequence[np.ndarray] | None, *, kernel_sources: Sequence[str] = (),
                 pool_path: str | Path | None = None, pool_sha256: str | None = None,
                 jpeg_quality: int | None = None) -> None:
        super().__init__(scale)
        self.kernels = None if kernels is None else np.asarray(kernels, np.float32)
        self.grid_kernels = (None if self.kernels is None
                             else [grid_kernel(k, self.scale) for k in self.kernels])
        self.noise = noise if noise is not None and len(noise) else None
        self.kernel_sources = tuple(kernel_sources)
        self.pool_path = None if pool_path is None else str(pool_path)
        self.pool_sha256 = pool_sha256
        self.jpeg_quality = jpeg_quality

    @classmethod
    def from_options(cls, scale, options):
        """Read and check the pool file (``srkit degrade --pool``)."""
        pool, use_kernels, use_noise = options.pool, options.use_kernels, options.use_noise
        if pool is None:
            raise SrkitError("pool mode needs a pool (--pool POOL.h5); or use --mode bicubic "
                             "or --mode random")
        from srkit.io.hashing import file_sha256
        from srkit.io.pools import read_pool

        pool_obj = read_pool(pool)
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
            noise = PoolNoise(pool_obj)
        return cls(scale, kernels, noise, kernel_sources=sources, pool_path=pool,
                   pool_sha256=file_sha256(pool), jpeg_quality=options.jpeg_quality)

    def settings(self) -> dict:
        return {**super().settings(), "pool_sha256": self.pool_sha256,
                "use_kernels": self.kernels is not None, "use_noise": self.noise is not None,
                "jpeg_quality": self.jpeg_quality}

    def files(self) -> dict:
        return {"pool": self.pool_path}

    def draw(self, rng: np.random.Generator) -> tuple[int | None, int | None]:
        """The image's kernel index and noise index (None where unused)."""
        kernel_index = None if self.kernels is None else int(rng.integers(len(self.kernels)))
        noise_index = None if self.noise is None else int(rng.integers(len(self.noise)))
        return kernel_index, noise_index

    def apply(self, hr: np.ndarray, kernel: np.ndarray | None, patch: np.ndarray | None,
              rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """The whole-image maths with the choices made: LR and ``{"downscale", "noise"}``
        (plus ``"jpeg"``)."""
        hr = check_hr(hr, self.scale)
        if kernel is not None:
            lr, record = blur_downsample(hr, kernel, self.scale), {"downscale": "kernel"}
        else:
            lr, record = imresize(hr, 1 / self.scale), {"downscale": "bicubic"}
        lr, record["noise"] = _add_noise(lr, patch, rng)
        return finish(lr, self.jpeg_quality, record), record

    def degrade(self, hr, rng, *, bit_depth=8):
        kernel_index, noise_index = self.draw(rng)
        kernel = None if kernel_index is None else self.kernels[kernel_index]
        patch = None if noise_index is None else self.noise[noise_index]
        lr, record = self.apply(hr, kernel, patch, rng)
        choices = {"kernel_index": kernel_index, "noise_index": noise_index,
                   "kernel_source": (None if kernel_index is None or not self.kernel_sources
                                     else self.kernel_sources[kernel_index])}
        return Degraded(lr, record, choices)

    def degrade_crop(self, hr_img, row, col, lr_shape, rng):
        kernel_index, noise_index = self.draw(rng)
        if kernel_index is not None:
            lr = blur_downsample_crop(hr_img, self.grid_kernels[kernel_index], self.scale,
                                      row, col, lr_shape)
        else:
            lr = bicubic_crop(hr_img, self.scale, row, col, lr_shape)
        patch = None if noise_index is None else self.noise[noise_index]
        lr, _ = _add_noise(lr, patch, rng)
        return finish(lr, self.jpeg_quality, {})


def _add_noise(lr: np.ndarray, patch: np.ndarray | None, rng: np.random.Generator
               ) -> tuple[np.ndarray, dict | None]:
    """``lr`` plus a piece of ``patch`` cut to its size (unclipped) and the piece's record."""
    if patch is None:
        return lr, None
    from srkit.ops.noise import noise_field

    noise, record = noise_field(lr.shape[:2], patch, rng)
    return lr + noise, record
