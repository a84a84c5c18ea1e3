"""Frequency separations (Haar DWT against PyWavelets, Gaussian residual) and batched bicubic."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from srkit.ops.resize import imresize
from srkit.ops.resize_torch import bicubic_resize
from srkit.ops.wavelets import (
    gaussian_blur,
    gaussian_kernel2d,
    haar_dwt2,
    haar_idwt2,
    high_channels,
    high_frequency,
    low_frequency,
)


@pytest.mark.parametrize("shape", [(2, 3, 8, 12), (1, 3, 7, 10), (1, 2, 5, 5)])
def test_haar_dwt_equals_pywavelets(shape, rng) -> None:
    x = rng.normal(size=shape)
    ll, lh, hl, hh = haar_dwt2(torch.from_numpy(x))
    ca, (ch, cv, cd) = pywt.dwt2(x, "haar")  # last two axes, mode symmetric
    for ours, theirs in zip((ll, lh, hl, hh), (ca, ch, cv, cd), strict=True):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-12)


def test_haar_band_signs_on_a_single_block() -> None:
    # rows: [a b; c d] = [1 2; 3 5]
    x = torch.tensor([[[[1.0, 2.0], [3.0, 5.0]]]], dtype=torch.float64)
    ll, lh, hl, hh = (band.item() for band in haar_dwt2(x))
    assert (ll, lh, hl, hh) == (5.5, -2.5, -1.5, 0.5)


@pytest.mark.parametrize("shape", [(2, 3, 8, 12), (1, 3, 9, 7)])
def test_haar_idwt_inverts_and_matches_pywavelets(shape, rng) -> None:
    x = torch.from_numpy(rng.normal(size=shape))
    bands = haar_dwt2(x)
    back = haar_idwt2(*bands)
    np.testing.assert_allclose(back[..., :shape[2], :shape[3]].numpy(), x.numpy(), atol=1e-12)
    theirs = pywt.idwt2((bands[0].numpy(), tuple(b.numpy() for b in bands[1:])), "haar")
    np.testing.assert_allclose(back.numpy(), theirs, atol=1e-12)


def test_wavelet_separation_layout(rng) -> None:
    x = torch.from_numpy(rng.random((2, 3, 6, 8)))
    _, lh, hl, hh = haar_dwt2(x)
    high = high_frequency(x, "wavelet")
    assert high.shape == (2, 9, 3, 4) and high_channels("wavelet") == 9
    torch.testing.assert_close(high, torch.cat([lh, hl, hh], dim=1))
    torch.testing.assert_close(high_frequency(x, "wavelet", shifted=True), 0.5 + 0.5 * high)
    # low band = 2x2 block means, in the image's range
    blocks = x.reshape(2, 3, 3, 2, 4, 2).mean(dim=(3, 5))
    torch.testing.assert_close(low_frequency(x, "wavelet"), blocks)


def test_gaussian_separation_sums_to_the_input(rng) -> None:
    x = torch.from_numpy(rng.random((1, 3, 11, 9)).astype(np.float32))
    low, high = low_frequency(x, "gaussian"), high_frequency(x, "gaussian")
    assert low.shape == high.shape == x.shape
    torch.testing.assert_close(low + high, x)
    assert high.abs().mean() > 0.05  # random noise is mostly high frequency
    constant = torch.full((1, 3, 8, 8), 0.3)
    torch.testing.assert_close(gaussian_blur(constant), constant)
    kernel = gaussian_kernel2d(5)
    assert kernel.shape == (5, 5) and abs(kernel.sum().item() - 1) < 1e-6
    assert kernel[2, 2] == kernel.max()


def test_rgb_separation_is_identity(rng) -> None:
    x = torch.from_numpy(rng.random((1, 3, 4, 4)))
    assert high_frequency(x, "rgb") is x and low_frequency(x, "rgb") is x
    assert high_channels("rgb") == 3 and high_channels("gaussian") == 3


def test_bad_kind_and_shape_raise() -> None:
    with pytest.raises(ValueError, match="frequency separation"):
        high_frequency(torch.zeros(1, 3, 4, 4), "fourier")
    with pytest.raises(ValueError, match="B, C, H, W"):
        low_frequency(torch.zeros(3, 4, 4), "wavelet")


@pytest.mark.parametrize(("size", "scale"), [((37, 41), 0.25), ((32, 48), 0.5), ((15, 9), 0.5)])
def test_bicubic_resize_matches_imresize(size, scale, rng) -> None:
    image = rng.random((*size, 3)).astype(np.float32)
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    ours = bicubic_resize(batch, scale)
    expected = imresize(image, scale)
    assert ours.shape == (2, 3, *expected.shape[:2])
    np.testing.assert_allclose(ours[1].permute(1, 2, 0).numpy(), expected, atol=1e-5)


def test_bicubic_resize_is_differentiable() -> None:
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    bicubic_resize(x, 0.5).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # a constant image downscales to the same constant (rows of the weights sum to 1)
    torch.testing.assert_close(bicubic_resize(torch.full((1, 1, 12, 12), 0.7), 0.25),
                               torch.full((1, 1, 3, 3), 0.7))
