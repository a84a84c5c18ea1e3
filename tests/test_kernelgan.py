"""KernelGAN: the generator collapses to its kernel, the constraints, schedule and sampler
match the reference code, the ×4 derivation and post-processing keep the pool convention."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import signal

from srkit.kernels_est.common import (
    FLAG_FLAT,
    FLAG_NEAR_BICUBIC,
    FLAG_OK,
    analytic_x4,
    bicubic_kernel_x2,
    compose_x2,
    finish_kernel,
    kernel_covariance,
    zeroize_negligible,
)
from srkit.kernels_est.kernelgan import (
    ConstraintSchedule,
    CropSampler,
    KernelGANSettings,
    bicubic_prior_loss,
    boundaries_loss,
    boundary_mask,
    centralized_loss,
    estimate_kernelgan,
    gradient_map,
    kernelgan_flag,
    probability_map,
    sparsity_loss,
    sum_to_one_loss,
)
from srkit.models.kernelgan import (
    KernelDiscriminator,
    KernelGenerator,
    init_discriminator,
    init_generator,
)
from srkit.ops.kernels import blur_downsample, centre_of_mass, gaussian_kernel
from srkit.ops.resize import imresize


def _generator(seed: int = 0) -> KernelGenerator:
    torch.manual_seed(seed)
    return init_generator(KernelGenerator()).double()


def test_generator_is_one_strided_correlation_with_its_kernel(one_torch_thread):
    gen = _generator()
    image = torch.randn(1, 3, 40, 40, dtype=torch.float64)
    kernel = gen.kernel().detach().numpy()
    out = gen(image).detach().numpy()
    assert kernel.shape == (13, 13) and out.shape == (1, 3, 14, 14) == (1, 3, *[
        gen.output_size(40)] * 2)
    for c in range(3):
        expected = signal.correlate2d(image[0, c].numpy(), kernel, mode="valid")[::2, ::2]
        np.testing.assert_allclose(out[0, c], expected, rtol=1e-9, atol=1e-18)
    np.testing.assert_allclose(gen.downscale(image).detach().numpy(), out, rtol=1e-9,
                               atol=1e-18)


def test_collapsed_generator_gives_the_same_gradients(one_torch_thread):
    gen = _generator(1)
    image = torch.randn(1, 1, 32, 32, dtype=torch.float64)
    weights = torch.randn(1, 1, 10, 10, dtype=torch.float64)
    deep = torch.autograd.grad((gen(image) * weights).sum(), list(gen.parameters()))
    flat = torch.autograd.grad((gen.downscale(image) * weights).sum(), list(gen.parameters()))
    for a, b in zip(deep, flat, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-20)


def test_generator_kernel_is_the_composition_of_known_layers(one_torch_thread):
    gen = KernelGenerator().double()
    rng = np.random.default_rng(0)
    singles = [rng.normal(size=(s, s)) for s in (7, 5, 3)]
    with torch.no_grad():
        for layer in gen.layers:
            layer.weight.zero_()
        gen.layers[0].weight[0, 0] = torch.from_numpy(singles[0])
        gen.layers[1].weight[0, 0] = torch.from_numpy(singles[1])
        gen.layers[2].weight[0, 0] = torch.from_numpy(singles[2])
        gen.layers[3].weight[0, 0] = 2.0
        gen.layers[4].weight[0, 0] = 0.5
        gen.layers[5].weight[0, 0] = 3.0
    # correlating with a then b == correlating with the full convolution a * b
    expected = 3.0 * signal.convolve2d(signal.convolve2d(singles[0], singles[1]), singles[2])
    np.testing.assert_allclose(gen.kernel().detach().numpy(), expected, rtol=1e-10)


def test_discriminator_shapes_range_and_init(one_torch_thread):
    torch.manual_seed(0)
    disc = init_discriminator(KernelDiscriminator())
    out = disc(torch.randn(2, 3, 26, 26))
    assert out.shape == (2, 1, 20, 20)
    assert float(out.detach().min()) > 0 and float(out.detach().max()) < 1
    batchnorms = [m for m in disc.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(batchnorms) == 5
    assert all(float(m.bias.detach().abs().max()) == 0 for m in batchnorms)
    assert abs(float(torch.cat([m.weight.detach() for m in batchnorms]).mean()) - 1) < 0.01


def test_x4_kernel_equals_two_x2_steps():
    rng = np.random.default_rng(1)
    image = rng.random((90, 90))
    kernel = rng.random((13, 13))
    kernel /= kernel.sum()
    twice = signal.correlate2d(signal.correlate2d(image, kernel, "valid")[::2, ::2],
                               kernel, "valid")[::2, ::2]
    once = signal.correlate2d(image, compose_x2(kernel), "valid")[::4, ::4]
    assert compose_x2(kernel).shape == (37, 37)
    np.testing.assert_allclose(once, twice[:once.shape[0], :once.shape[1]], rtol=1e-10)


def test_analytic_x4_matches_block_centre_downscaling_twice(astronaut):
    kernel_x2 = gaussian_kernel(13, 1.6, 0.9, 0.7)
    kernel_x4 = analytic_x4(kernel_x2)
    assert kernel_x4.shape == (25, 25)
    assert abs(float(kernel_x4.sum()) - 1) < 1e-6
    np.testing.assert_allclose(centre_of_mass(kernel_x4), (12, 12), atol=1e-3)
    hr = astronaut[:256, :256]
    twice = blur_downsample(blur_downsample(hr, kernel_x2, 2), kernel_x2, 2)
    once = blur_downsample(hr, kernel_x4, 4)
    assert np.abs(once - twice)[4:-4, 4:-4].max() < 2e-3


def test_post_processing_centres_and_normalises():
    kernel = np.zeros((13, 13))
    kernel[4:8, 7:10] = np.arange(12).reshape(4, 3) + 1.0
    kernel[0, 0] = -0.01                     # a negative speck is removed
    out = finish_kernel(kernel, 13)
    assert out.shape == (13, 13) and out.min() >= 0
    assert abs(float(out.sum()) - 1) < 1e-6
    np.testing.assert_allclose(centre_of_mass(out), (6, 6), atol=1e-3)
    # KernelGAN's clean-up: below 0.75 × the 41st largest value becomes 0
    values = np.linspace(0, 1, 169).reshape(13, 13)
    cleaned = zeroize_negligible(values, 40)
    assert (cleaned > 0).sum() == 40 + int((values.ravel() > 0.75 * np.sort(values.ravel())[-41]
                                            ).sum() - 40)
    assert abs(float(cleaned.sum()) - 1) < 1e-6 and cleaned.ravel()[0] == 0


def test_bicubic_prior_kernel_and_alignment():
    kernel = bicubic_kernel_x2()
    assert kernel.shape == (8, 8)
    assert abs(float(kernel.sum()) - 1) < 1e-9
    assert kernel[3, 3] == pytest.approx(0.1880035400390630, abs=1e-12)   # reference value
    assert kernel[0, 0] == pytest.approx(0.0001373291015625, abs=1e-12)
    # On one channel the prior's target is MATLAB's bicubic ×½, G's output grid included.
    image = np.random.default_rng(2).random((64, 64))
    target = torch.from_numpy(imresize(image, 0.5)[3:29, 3:29].astype(np.float64))
    loss = bicubic_prior_loss(torch.from_numpy(image)[None, None], target[None, None],
                              torch.from_numpy(kernel).double())
    assert float(loss) < 1e-12   # imresize returns float32


def test_bicubic_prior_sums_colours_like_the_reference():
    image = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    kernel = torch.from_numpy(bicubic_kernel_x2()).double()
    per_channel = torch.nn.functional.conv2d(image.reshape(3, 1, 64, 64), kernel[None, None],
                                             stride=2, padding=3).reshape(1, 3, 32, 32)
    summed = per_channel.sum(dim=1, keepdim=True).expand(1, 3, 32, 32)[..., 3:29, 3:29]
    assert float(bicubic_prior_loss(image, summed, kernel)) < 1e-20


def test_constraint_values_on_known_kernels():
    delta = torch.zeros(13, 13, dtype=torch.float64)
    delta[6, 6] = 1.0
    mask = torch.from_numpy(boundary_mask(13))
    assert float(sum_to_one_loss(delta)) == 0.0
    assert float(sum_to_one_loss(0.5 * delta)) == pytest.approx(0.5)
    assert float(boundaries_loss(delta, mask)) == 0.0
    corner = torch.zeros_like(delta)
    corner[0, 0] = 1.0
    assert float(boundaries_loss(corner, mask)) == pytest.approx(
        30 * (1 - math.exp(-72 / 338)) / 169)
    assert float(centralized_loss(delta, 6.5)) == pytest.approx(0.25)
    off = torch.zeros_like(delta)
    off[7, 5] = 1.0
    assert float(centralized_loss(off, 6.5)) == pytest.approx((0.25 + 2.25) / 2)
    flat = torch.full((13, 13), 1 / 169, dtype=torch.float64)
    assert float(sparsity_loss(flat)) == pytest.approx((1 / 169) ** 0.2)


def test_boundary_mask_penalises_the_outer_two_rings_only():
    mask = boundary_mask(13)
    assert (mask[2:-2, 2:-2] == 0).all()
    assert (mask[[0, 1, 11, 12], :][:, [0, 12]] > 0).all()
    assert mask[0, 6] == pytest.approx(30 * (1 - math.exp(-36 / 338)))
    assert mask[0, 0] == mask.max()


class _FakeOptimizer:
    def __init__(self) -> None:
        self.param_groups = [{"lr": 2e-4}]


def test_schedule_follows_the_reference_learner():
    schedule = ConstraintSchedule(KernelGANSettings())
    opt = _FakeOptimizer()
    losses = {1: 0.5, 2: 0.3, 3: 0.3, 4: 0.5, 5: 0.3, 6: 0.3, 7: 0.3}
    for it in range(1, 801):
        schedule.update(it, losses.get(it, 0.9), [opt])
    assert schedule.left_bicubic_phase_at == 7          # three in a row below 0.4
    assert schedule.weights["bicubic"] == pytest.approx(5e-6)   # 5 → 0.05 → 5e-4 → 5e-6
    assert schedule.constraints_at == 400               # when the weight fell below 5e-3
    assert schedule.weights["centralized"] == 1.0 and schedule.weights["sparse"] == 5.0
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-5)   # /10 at iteration 750


def test_crop_sampler_prefers_edges_and_keeps_even_corners():
    image = np.full((120, 160, 3), 0.5)
    image[:, 100:] = 0.9                                  # one vertical edge at column 100
    sampler = CropSampler(image, 64, 26, 50, np.random.default_rng(0))
    loss_map = gradient_map(image)
    assert loss_map.mean() == pytest.approx(1.0)
    prob = probability_map(loss_map, 26).reshape(120, 160)
    assert prob[:13].sum() == 0 and prob[:, -13:].sum() == 0
    for it in range(50):
        g_crop, d_crop = sampler.crops(it)
        assert g_crop.shape == (64, 64, 3) and d_crop.shape == (26, 26, 3)
        top, left = sampler._top_left(sampler.centres_d[it], 26)
        assert top % 2 == 0 and left % 2 == 0
        assert abs(left + 13 - 100) <= 20                # D's crops sit on the edge


def test_kernelgan_short_run_is_valid_and_deterministic(astronaut):
    lr = blur_downsample(astronaut[:200, :200], gaussian_kernel(13, 1.5, 1.0, 0.3), 2)
    settings = KernelGANSettings(iters=15)
    one = estimate_kernelgan(lr, 4, rng=np.random.default_rng(3), settings=settings)
    two = estimate_kernelgan(lr, 4, rng=np.random.default_rng(3), settings=settings)
    assert one.kernels[2].shape == (13, 13) and one.kernels[4].shape == (25, 25)
    for kernel in one.kernels.values():
        assert np.isfinite(kernel).all() and kernel.min() >= 0
        assert abs(float(kernel.sum()) - 1) < 1e-5
        c = (kernel.shape[0] - 1) / 2
        np.testing.assert_allclose(centre_of_mass(kernel), (c, c), atol=1e-3)
    np.testing.assert_array_equal(one.kernels[4], two.kernels[4])
    assert one.info["iters"] == 15 and one.flag in (FLAG_OK, FLAG_NEAR_BICUBIC, "small-image")


def test_kernelgan_flags():
    photo = np.random.default_rng(0).random((300, 300, 3))
    wide = gaussian_kernel(13, 1.5)
    sharp = gaussian_kernel(13, 0.4)
    assert kernel_covariance(sharp)[0, 0] < 0.35
    assert kernelgan_flag(photo, wide, left_bicubic_phase_at=50) == FLAG_OK
    assert kernelgan_flag(photo, wide, left_bicubic_phase_at=None) == FLAG_NEAR_BICUBIC
    assert kernelgan_flag(photo, sharp, left_bicubic_phase_at=50) == FLAG_NEAR_BICUBIC
    assert kernelgan_flag(np.full((300, 300, 3), 0.4), wide, 50) == FLAG_FLAT
    assert kernelgan_flag(photo[:100], wide, 50) == "small-image"
