"""Kernel conventions (docs/conventions.md): correlation, centring, the block-centre LR grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from srkit.ops.kernels import (
    blur_downsample,
    centre_kernel,
    centre_of_mass,
    correlate,
    gaussian_kernel,
    grid_kernel,
    normalise,
    pad_kernel,
    shift_kernel,
)


def ramps(size: int = 64) -> np.ndarray:
    """``(size, size, 3)``: channel 0 = column index, 1 = row index, 2 = their sum."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.stack([cols, rows, cols + rows], axis=-1)


def test_gaussian_kernel_sums_to_one_and_is_centred() -> None:
    kernel = gaussian_kernel(15, 2.5, 1.0, 0.7)
    assert kernel.shape == (15, 15) and kernel.dtype == np.float32
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(centre_of_mass(kernel), (7.0, 7.0), atol=1e-6)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-7)  # point symmetric


def test_gaussian_kernel_orientation() -> None:
    """theta = 0: the major axis runs along the columns (x); theta = pi/2: along the rows."""
    rows, cols = np.indices((31, 31)) - 15.0
    flat = gaussian_kernel(31, 3.0, 1.0, 0.0)
    assert (flat * cols**2).sum() == pytest.approx(9.0, rel=1e-3)
    assert (flat * rows**2).sum() == pytest.approx(1.0, rel=1e-3)
    upright = gaussian_kernel(31, 3.0, 1.0, np.pi / 2)
    assert (upright * rows**2).sum() == pytest.approx(9.0, rel=1e-3)


def test_blur_of_a_constant_is_the_constant() -> None:
    image = np.full((30, 40, 3), 0.42, dtype=np.float32)
    kernel = gaussian_kernel(13, 2.0, 0.7, 1.1)
    np.testing.assert_allclose(correlate(image, kernel), 0.42, atol=1e-6)
    for scale in (1, 2, 3, 4):
        out = blur_downsample(image, kernel, scale)
        assert out.shape == (30 // scale, 40 // scale, 3)
        np.testing.assert_allclose(out, 0.42, atol=1e-5)


def test_correlate_is_correlation_not_convolution() -> None:
    """A single tap one column right of the centre reads the pixel to the right."""
    kernel = np.zeros((3, 3), dtype=np.float32)
    kernel[1, 2] = 1.0
    image = ramps(16)
    out = correlate(image, kernel)
    np.testing.assert_allclose(out[5, 3:10, 0], image[5, 4:11, 0])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_off_centre_tap_lands_on_the_documented_grid(scale: int) -> None:
    """LR pixel (i, j) = correlation centred at HR (s*i + (s-1)/2, s*j + (s-1)/2).

    The kernel's only tap is 1 row up and 2 columns right of its centre, so on ramps the LR
    value is the HR coordinate of the sample plus (-1, +2). For even s the kernel is moved by
    a half-integer with a cubic spline: a single tap is reproduced to < 0.0005 pixel.
    """
    kernel = np.zeros((9, 9), dtype=np.float32)
    kernel[3, 6] = 1.0
    lr = blur_downsample(ramps(), kernel, scale)
    i = np.arange(lr.shape[0])[:, None]
    j = np.arange(lr.shape[1])[None, :]
    centre = (scale - 1) / 2
    inner = (slice(3, -3), slice(3, -3))
    tolerance = 1e-5 if scale % 2 else 5e-4
    np.testing.assert_allclose(lr[..., 0][inner], (scale * j + centre + 2 + 0 * i)[inner],
                               atol=tolerance)
    np.testing.assert_allclose(lr[..., 1][inner], (scale * i + centre - 1 + 0 * j)[inner],
                               atol=tolerance)


@pytest.mark.parametrize("scale", [2, 4])
def test_smooth_asymmetric_kernel_samples_at_its_centre_of_mass(scale: int) -> None:
    kernel = np.roll(gaussian_kernel(15, 1.5, 0.8, 0.4), (-1, 2), axis=(0, 1))
    d_row, d_col = np.subtract(centre_of_mass(kernel), 7.0)
    lr = blur_downsample(ramps(), kernel, scale)
    i = np.arange(lr.shape[0])[3:-3]
    j = np.arange(lr.shape[1])[3:-3]
    centre = (scale - 1) / 2
    np.testing.assert_allclose(lr[3:-3, 3:-3, 0], np.broadcast_to(scale * j + centre + d_col,
                                                                  (len(i), len(j))), atol=1e-4)
    np.testing.assert_allclose(lr[3:-3, 3:-3, 1], np.broadcast_to(
        (scale * i + centre + d_row)[:, None], (len(i), len(j))), atol=1e-4)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "constant", "wrap"])
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_blur_downsample_equals_full_correlation_then_subsampling(scale: int, mode: str) -> None:
    """The fast path (only LR positions computed) equals scipy.ndimage on the whole image,
    borders included, for odd and even kernel sizes and odd image sizes."""
    rng = np.random.default_rng(scale)
    image = rng.random((23, 30, 3)).astype(np.float32)
    for size in (5, 8):
        kernel = normalise(rng.random((size, size)))
        moved = grid_kernel(kernel, scale)
        height, width = 23 // scale * scale, 30 // scale * scale
        full = np.stack([ndimage.correlate(image[:height, :width, c], moved, mode=mode)
                         for c in range(3)], axis=-1)[::scale, ::scale]
        fast = blur_downsample(image, kernel, scale, mode=mode)
        np.testing.assert_allclose(fast, full, atol=2e-6)
        # 2-D input gives 2-D output
        np.testing.assert_allclose(blur_downsample(image[..., 0], kernel, scale, mode=mode),
                                   fast[..., 0], atol=1e-6)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "constant", "wrap"])
@pytest.mark.parametrize("scale", [1, 2, 4])
def test_blur_downsample_fft_path_equals_the_per_tap_path(scale: int, mode: str,
                                                          monkeypatch) -> None:
    """Kernels of many taps go through one FFT correlation; it gives the per-tap sums."""
    import srkit.ops.kernels as kernels

    rng = np.random.default_rng(10 + scale)
    image = rng.random((45, 38, 3)).astype(np.float32)
    kernel = normalise(rng.random((21, 21)))  # ≥ 225 taps once moved to the grid
    assert grid_kernel(kernel, scale).size >= kernels._FFT_MIN_TAPS
    fast = blur_downsample(image, kernel, scale, mode=mode)
    monkeypatch.setattr(kernels, "_FFT_MIN_TAPS", 10**9)
    slow = blur_downsample(image, kernel, scale, mode=mode)
    assert fast.shape == slow.shape == (45 // scale, 38 // scale, 3)
    assert fast.dtype == slow.dtype == np.float32
    np.testing.assert_allclose(fast, slow, atol=1e-6)


def test_centre_kernel_moves_centre_of_mass_to_the_middle() -> None:
    kernel = np.roll(gaussian_kernel(15, 2.0, 1.0, 0.3), (2, -1), axis=(0, 1))
    assert centre_of_mass(kernel) == pytest.approx((9.0, 6.0), abs=1e-2)
    centred = centre_kernel(kernel)
    assert centred.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(centre_of_mass(centred), (7.0, 7.0), atol=5e-3)


def test_shift_keeps_sum_and_moves_by_the_shift() -> None:
    kernel = pad_kernel(gaussian_kernel(9, 1.2), 17)
    moved = shift_kernel(kernel, (1.5, -2.0))
    assert moved.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(centre_of_mass(moved), (9.5, 6.0), atol=1e-3)


def test_pad_kernel_keeps_the_centre_and_rejects_parity_changes() -> None:
    kernel = gaussian_kernel(7, 1.0, 0.6, 0.2)
    padded = pad_kernel(kernel, 13)
    np.testing.assert_array_equal(padded[3:10, 3:10], kernel)
    assert padded.sum() == pytest.approx(1.0, abs=1e-6)
    cropped = pad_kernel(padded, 7)
    np.testing.assert_allclose(cropped, kernel, atol=1e-6)
    with pytest.raises(ValueError):
        pad_kernel(kernel, 8)


def test_grid_kernel_is_the_kernel_moved_by_half_the_block() -> None:
    kernel = gaussian_kernel(9, 1.3)
    for scale in (2, 3, 4):
        moved = grid_kernel(kernel, scale)
        centre = (moved.shape[0] - 1) / 2
        np.testing.assert_allclose(centre_of_mass(moved), (centre + (scale - 1) / 2,) * 2,
                                   atol=1e-4)
    np.testing.assert_array_equal(grid_kernel(kernel, 1), kernel)


def test_normalise_rejects_zero_sum() -> None:
    with pytest.raises(ValueError):
        normalise(np.zeros((3, 3)))
    with pytest.raises(ValueError):
        blur_downsample(np.zeros((8, 8)), gaussian_kernel(3, 1.0), 0)
