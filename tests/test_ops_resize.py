"""MATLAB-compatible imresize: known MATLAB/Octave values, sizes, invariants, the pixel grid."""

from __future__ import annotations

import numpy as np
import pytest

from srkit.ops.resize import cubic, imresize, resize_weights

# MATLAB: imresize(reshape(1:16, 4, 4)', 0.5) (bicubic, antialiasing on by default).
# By hand: the widened kernel 0.5 * cubic(x / 2) centred at 1.5 (1-based) over symmetric
# padding gives 1.4609375 = 187/128 on the row [1 2 3 4] and 3.5390625 on its mirror; the
# 4x4 ramp r*4 + c then gives 5 * 1.4609375 - 4 = 3.3046875 etc.
MATLAB_AA = np.array([[3.3046875, 5.3828125], [11.6171875, 13.6953125]])
# Octave: imresize(transpose(reshape(0:15, 4, 4)), 0.5, 'bicubic', 'AntiAliasing', false)
OCTAVE_NO_AA = np.array([[2.1875, 4.3125], [10.6875, 12.8125]])
# ... and with 'bilinear'
OCTAVE_BILINEAR_NO_AA = np.array([[2.5, 4.5], [10.5, 12.5]])


def test_matlab_known_values_with_antialiasing() -> None:
    image = np.arange(1, 17, dtype=np.float64).reshape(4, 4)
    out = imresize(image, 0.5)
    np.testing.assert_allclose(out, MATLAB_AA, atol=1e-5)
    # the four-decimal values MATLAB prints
    np.testing.assert_allclose(np.round(out, 4), [[3.3047, 5.3828], [11.6172, 13.6953]])


def test_octave_known_values_without_antialiasing() -> None:
    image = np.arange(16, dtype=np.float64).reshape(4, 4)
    np.testing.assert_allclose(imresize(image, 0.5, antialias=False), OCTAVE_NO_AA, atol=1e-5)
    np.testing.assert_allclose(imresize(image, 0.5, method="bilinear", antialias=False),
                               OCTAVE_BILINEAR_NO_AA, atol=1e-5)


def test_cubic_is_keys_with_a_minus_half() -> None:
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    np.testing.assert_allclose(cubic(x), [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0])
    np.testing.assert_allclose(cubic(-x), cubic(x))


@pytest.mark.parametrize(("shape", "scale", "expected"), [
    ((5, 7), 0.5, (3, 4)), ((7, 9), 1 / 3, (3, 3)), ((10, 6), 1 / 4, (3, 2)),
    ((4, 5), 2.0, (8, 10)), ((3, 3), 1.5, (5, 5))])
def test_output_size_is_ceil(shape, scale, expected) -> None:
    assert imresize(np.zeros(shape), scale).shape == expected
    assert imresize(np.zeros((*shape, 3)), scale).shape == (*expected, 3)


def test_output_shape_argument() -> None:
    assert imresize(np.zeros((20, 30, 3)), output_shape=(7, 11)).shape == (7, 11, 3)


@pytest.mark.parametrize("method", ["bicubic", "bilinear", "lanczos3"])
@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 2.0, 3.0])
def test_constant_image_stays_constant(method: str, scale: float) -> None:
    image = np.full((13, 17, 3), 0.37)
    np.testing.assert_allclose(imresize(image, scale, method=method), 0.37, atol=1e-6)


def test_weights_rows_sum_to_one() -> None:
    for scale, out_len in [(0.25, 5), (0.5, 10), (2.0, 40)]:
        np.testing.assert_allclose(resize_weights(20, out_len, scale).sum(axis=1), 1.0)


def test_upscaled_ramp_is_linear_away_from_borders() -> None:
    ramp = np.tile(np.arange(16, dtype=np.float64), (4, 1))
    out = imresize(ramp, 2.0)
    # output pixel u (0-based) sits at input coordinate (u + 0.5) / 2 - 0.5
    u = np.arange(32)
    np.testing.assert_allclose(out[0, 4:-4], ((u + 0.5) / 2 - 0.5)[4:-4], atol=1e-5)
    assert np.abs(np.diff(out[0, 4:-4], 2)).max() < 1e-5


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_downscaled_ramp_samples_block_centres(scale: int) -> None:
    """LR pixel j of a ×1/s bicubic downscale sits at HR s*j + (s-1)/2: the convention that
    blur_downsample shares (docs/conventions.md)."""
    ramp = np.tile(np.arange(24 * scale, dtype=np.float64), (2 * scale, 1))
    out = imresize(ramp, 1 / scale)
    j = np.arange(out.shape[1])
    np.testing.assert_allclose(out[1, 3:-3], (scale * j + (scale - 1) / 2)[3:-3], atol=1e-4)


def test_axis_order_matches_two_separate_passes() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((12, 20))
    both = imresize(image, output_shape=(6, 5))
    rows_first = imresize(imresize(image, output_shape=(12, 5)), output_shape=(6, 5))
    np.testing.assert_allclose(both, rows_first, atol=1e-5)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)), 0.5, method="nearest")
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)), -1.0)
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)))
    with pytest.raises(ValueError):
        imresize(np.zeros((2, 4, 4, 3)), 0.5)
