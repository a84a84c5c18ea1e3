"""Noise, JPEG and Real-ESRGAN's random degradation pipeline (srkit.ops.noise/jpeg/synthetic)."""

from __future__ import annotations

import json
import pickle
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srkit.ops.jpeg import jpeg_compress
from srkit.ops.kernels import shaped_kernel, sinc_kernel
from srkit.ops.noise import gaussian_noise, inject_noise_patch, noise_field, poisson_noise
from srkit.ops.synthetic import (
    BlurSettings,
    OrderSettings,
    SyntheticSettings,
    classical_degradation,
    filter2d,
    random_blur_kernel,
    random_degradation,
    resize_like_torch,
)

# ----------------------------------------------------------------------------- noise


def zero_mean_patch(rng: np.random.Generator, size: int = 32, std: float = 0.02) -> np.ndarray:
    patch = rng.normal(0.0, std, (size, size, 3)).astype(np.float32)
    return patch - patch.mean(axis=(0, 1), keepdims=True)


def test_noise_injection_adds_a_crop_of_the_patch(rng) -> None:
    patch = zero_mean_patch(rng)
    lr = np.full((20, 24, 3), 0.5, dtype=np.float32)
    out = inject_noise_patch(lr, patch, np.random.default_rng(3))
    field, where = noise_field((20, 24), patch, np.random.default_rng(3))
    row, col = where["row"], where["col"]
    np.testing.assert_allclose(out - 0.5, patch[row:row + 20, col:col + 24], atol=1e-6)
    np.testing.assert_array_equal(field, patch[row:row + 20, col:col + 24])


def test_noise_injection_keeps_zero_mean_and_std_also_when_tiled(rng) -> None:
    """An LR larger than the patch gets flipped tiles: same std, mean ~0, values from the
    patch only."""
    patch = zero_mean_patch(rng, size=32, std=0.03)
    lr = np.full((100, 70, 3), 0.5, dtype=np.float32)
    out = inject_noise_patch(lr, patch, np.random.default_rng(0))
    noise = out - 0.5
    assert out.shape == lr.shape
    assert abs(noise.std() / patch.std() - 1) < 0.02
    assert np.abs(noise.mean(axis=(0, 1))).max() < 0.003
    field, where = noise_field((100, 70), patch, np.random.default_rng(0))
    np.testing.assert_allclose(noise, field, atol=1e-6)
    assert np.isin(field, patch).all()
    assert len(where["tiles"]) == (100 // 32 + 2) * (70 // 32 + 2)


def test_noise_injection_clips_to_unit_range(rng) -> None:
    patch = zero_mean_patch(rng, std=0.2)
    out = inject_noise_patch(np.full((16, 16, 3), 0.95, np.float32), patch, rng)
    assert out.max() <= 1.0 and out.min() >= 0.0 and out.dtype == np.float32


def test_gaussian_noise_sigma_is_on_the_255_scale(rng) -> None:
    image = np.full((128, 128, 3), 0.5, dtype=np.float32)
    noise = gaussian_noise(image, 10.0, rng) - 0.5
    assert noise.std() * 255 == pytest.approx(10.0, rel=0.03)
    assert np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1] < 0.05
    grey = gaussian_noise(image, 10.0, rng, grey=True) - 0.5
    np.testing.assert_array_equal(grey[..., 0], grey[..., 1])
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])


def test_poisson_noise_variance_follows_the_signal(rng) -> None:
    """Real-ESRGAN: noise = (Poisson(img * v) / v - img) * scale, v = 2^ceil(log2(levels))."""
    image = rng.integers(64, 192, (128, 128, 3)).astype(np.float32) / 255.0  # 128 levels
    scale = 0.5
    noise = poisson_noise(image, scale, rng) - image
    levels = 128.0
    ratio = (noise**2).mean() / (image.mean() * scale**2 / levels)
    assert ratio == pytest.approx(1.0, rel=0.05)
    brighter = noise[image > 0.6].var() / noise[image < 0.4].var()
    assert brighter > 1.4  # shot noise grows with the signal
    grey = poisson_noise(image, scale, rng, grey=True) - image
    np.testing.assert_allclose(grey[..., 0], grey[..., 1], atol=1e-6)


# ----------------------------------------------------------------------------- JPEG


def test_jpeg_round_trip_quality_orders_the_error(astronaut) -> None:
    image = astronaut[:128, :128]
    high, low = jpeg_compress(image, 95), jpeg_compress(image, 10)
    assert high.shape == image.shape and high.dtype == np.float32
    assert 0.0 <= low.min() and low.max() <= 1.0
    err_high, err_low = np.abs(high - image).mean(), np.abs(low - image).mean()
    assert 0 < err_high < err_low
    np.testing.assert_array_equal(jpeg_compress(image, 40), jpeg_compress(image, 40))
    assert jpeg_compress(image[..., 0], 50).shape == (128, 128)
    with pytest.raises(ValueError):
        jpeg_compress(image, 0)


# ----------------------------------------------------------------------------- kernels


def kernel_moments(kernel: np.ndarray) -> np.ndarray:
    """2×2 second moments in (x = col, y = row) order."""
    half = (kernel.shape[0] - 1) / 2
    rows, cols = np.indices(kernel.shape) - half
    return np.array([[(kernel * cols * cols).sum(), (kernel * cols * rows).sum()],
                     [(kernel * cols * rows).sum(), (kernel * rows * rows).sum()]])


def test_anisotropic_gaussian_has_the_rotated_covariance() -> None:
    theta = 0.6
    kernel = shaped_kernel(41, 3.0, 1.2, theta)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    expected = rotation @ np.diag([9.0, 1.44]) @ rotation.T
    np.testing.assert_allclose(kernel_moments(kernel), expected, rtol=1e-3, atol=1e-3)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)


def test_kernel_shapes() -> None:
    gauss = shaped_kernel(21, 2.0, 2.0, 0.0)
    np.testing.assert_allclose(shaped_kernel(21, 2.0, 2.0, 0.0, "generalized", 1.0), gauss,
                               atol=1e-7)
    # beta > 1 flattens the top and cuts the tails; the plateau is flatter still near 0
    flat = shaped_kernel(21, 2.0, 2.0, 0.0, "generalized", 3.0)
    assert flat[10, 11] / flat[10, 10] > gauss[10, 11] / gauss[10, 10]
    assert flat[10, 18] < gauss[10, 18]
    plateau = shaped_kernel(21, 2.0, 2.0, 0.0, "plateau", 2.0)
    q = 0.25  # (1 / 2)^2 at one pixel from the centre
    assert plateau[10, 11] / plateau[10, 10] == pytest.approx(1 / (1 + q**2), rel=1e-5)
    for kernel in (flat, plateau):
        assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(kernel, kernel.T, atol=1e-8)
    with pytest.raises(ValueError):
        shaped_kernel(7, 1.0, 1.0, 0.0, "box")


def test_sinc_kernel_is_a_circular_low_pass() -> None:
    cutoff = np.pi / 2
    kernel = sinc_kernel(21, cutoff)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-8)
    np.testing.assert_allclose(kernel, kernel[::-1], atol=1e-8)
    assert kernel.min() < 0  # ringing lobes
    response = np.abs(np.fft.fftshift(np.fft.fft2(kernel, s=(256, 256))))
    freqs = np.fft.fftshift(np.fft.fftfreq(256)) * 2 * np.pi
    radius = np.hypot(*np.meshgrid(freqs, freqs))
    assert response[radius < 0.6 * cutoff].min() > 0.85
    assert response[radius > 1.4 * cutoff].max() < 0.15


def test_random_blur_kernel_mix_follows_the_probabilities() -> None:
    rng = np.random.default_rng(0)
    blur = BlurSettings(kernel_sizes=(7,))  # small kernels: the mix does not depend on size
    counts = Counter()
    for _ in range(4000):
        kernel, record = random_blur_kernel(rng, blur)
        counts[record["type"]] += 1
        assert kernel.shape == (record["size"], record["size"])
        assert record["size"] in blur.kernel_sizes
    assert counts["sinc"] / 4000 == pytest.approx(0.1, abs=0.015)
    for kind, prob in zip(blur.kernel_types, blur.kernel_probs, strict=True):
        assert counts[kind] / 4000 == pytest.approx(0.9 * prob, abs=0.025), kind


def test_random_kernel_parameters_stay_in_range() -> None:
    rng = np.random.default_rng(1)
    blur = BlurSettings(sinc_prob=0.0)
    for _ in range(300):
        _, record = random_blur_kernel(rng, blur)
        assert 0.2 <= record["sigma_x"] <= 3.0 and 0.2 <= record["sigma_y"] <= 3.0
        if record["type"].endswith("_iso") or record["type"] == "iso":
            assert record["sigma_x"] == record["sigma_y"] and record["theta"] == 0.0
        if record["type"].startswith("generalized"):
            assert 0.5 <= record["beta"] <= 4.0
        if record["type"].startswith("plateau"):
            assert 1.0 <= record["beta"] <= 2.0


# ----------------------------------------------------------------------------- torch parity


def torch_image(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic"])
def test_resize_matches_torch_interpolate(mode: str, rng) -> None:
    image = rng.random((37, 53, 3)).astype(np.float32)
    for size in [(20, 30), (60, 90), (11, 70)]:
        ref = F.interpolate(torch_image(image), size=size, mode=mode)[0].permute(1, 2, 0)
        np.testing.assert_allclose(resize_like_torch(image, size, mode), ref.numpy(),
                                   atol=1e-5)
    for factor in (0.37, 1.3):
        ref = F.interpolate(torch_image(image), scale_factor=factor, mode=mode)[0]
        size = (int(37 * factor), int(53 * factor))
        out = resize_like_torch(image, size, mode, scale_factor=factor)
        np.testing.assert_allclose(out, ref.permute(1, 2, 0).numpy(), atol=1e-5)


def test_filter2d_matches_reflect_padded_conv2d(rng) -> None:
    """Real-ESRGAN's filter2D: reflect padding, then conv2d (a correlation)."""
    image = rng.random((30, 41, 3)).astype(np.float32)
    kernel = shaped_kernel(13, 2.0, 0.8, 0.5, "generalized", 0.7)
    padded = F.pad(torch_image(image), (6, 6, 6, 6), mode="reflect")
    ref = F.conv2d(padded.view(3, 1, *padded.shape[2:]),
                   torch.from_numpy(kernel)[None, None]).view(3, 30, 41).permute(1, 2, 0)
    np.testing.assert_allclose(filter2d(image, kernel), ref.numpy(), atol=1e-5)


# ----------------------------------------------------------------------------- pipeline


def test_random_degradation_shape_range_and_reproducibility(astronaut) -> None:
    hr = astronaut[:96, :128]
    lr, record = random_degradation(hr, 4, np.random.default_rng(7))
    assert lr.shape == (24, 32, 3) and lr.dtype == np.float32
    assert 0.0 <= lr.min() and lr.max() <= 1.0
    np.testing.assert_array_equal(np.round(lr * 255), lr * 255)  # 8-bit levels
    again, record_again = random_degradation(hr, 4, np.random.default_rng(7))
    np.testing.assert_array_equal(lr, again)
    assert json.dumps(record) == json.dumps(record_again)
    other, other_record = random_degradation(hr, 4, np.random.default_rng(8))
    assert other_record != record
    assert set(record) == {"first", "second", "final"}
    assert 30 <= record["first"]["jpeg"] <= 95 and 30 <= record["final"]["jpeg"] <= 95
    assert "jpeg" not in record["second"]  # the second order's JPEG is the final one
    assert record["final"]["order"] in ("resize_sinc_jpeg", "jpeg_resize_sinc")
    assert record["second"]["resize"]["size"] == [int(24 * record["second"]["resize"]["factor"]),
                                                  int(32 * record["second"]["resize"]["factor"])]


def test_random_degradation_degrades(astronaut) -> None:
    """The LR is a degraded version of the HR: close to its bicubic downscale, not equal."""
    from srkit.ops.resize import imresize

    hr = astronaut[:128, :128]
    reference = imresize(hr, 0.25)
    errors = [np.abs(random_degradation(hr, 4, np.random.default_rng(s))[0] - reference).mean()
              for s in range(4)]
    assert all(0.005 < e < 0.2 for e in errors), errors


def test_settings_control_the_pipeline(astronaut) -> None:
    hr = astronaut[:64, :64]
    once = SyntheticSettings(second_order_prob=0.0, final_sinc_prob=0.0,
                             first=OrderSettings(blur_prob=0.0, resize_probs=(0, 0, 1)))
    lr, record = random_degradation(hr, 2, np.random.default_rng(0), once)
    assert lr.shape == (32, 32, 3)
    assert record["second"] is None and record["first"]["blur"] is None
    assert record["final"]["sinc"] is None and record["first"]["resize"]["direction"] == "keep"
    shuffled = SyntheticSettings(shuffle_prob=1.0)
    orders = set()
    for seed in range(6):
        lr, record = random_degradation(hr, 2, np.random.default_rng(seed), shuffled)
        assert lr.shape == (32, 32, 3) and sorted(record["first"]["steps"]) == [
            "blur", "noise", "resize"]
        orders.add(tuple(record["first"]["steps"]))
    assert len(orders) > 1
    assert "steps" not in random_degradation(hr, 2, np.random.default_rng(0))[1]["first"]
    data = json.loads(json.dumps(once.to_dict()))
    assert SyntheticSettings.from_dict(data) == once
    with pytest.raises(ValueError):
        SyntheticSettings.from_dict({"first": {"blur": {"nonsense": 1}}})


def test_overrides_reach_into_the_orders_and_are_listed_as_changes(astronaut) -> None:
    settings = SyntheticSettings().with_overrides(
        {"second_order_prob": 0.0, "first.noise_sigma": [2, 4], "first.blur.sigma": [1, 1]})
    assert settings.second_order_prob == 0.0 and settings.first.noise_sigma == (2, 4)
    assert settings.first.blur.sigma == (1, 1) and settings.second == SyntheticSettings().second
    assert settings.changes() == {"second_order_prob": 0.0, "first.noise_sigma": (2, 4),
                                  "first.blur.sigma": (1, 1)}
    assert SyntheticSettings().changes() == {}
    for seed in range(4):  # no second order any more
        record = random_degradation(astronaut[:64, :64], 2, np.random.default_rng(seed),
                                    settings)[1]
        assert record["second"] is None
    for key in ("first.nonsense", "first", "nonsense.sigma", "first.blur.sigma.low"):
        with pytest.raises(ValueError, match="unknown synthetic setting"):
            SyntheticSettings().with_overrides({key: 1})


def test_defaults_are_real_esrgan_x4plus() -> None:
    settings = SyntheticSettings()
    assert settings.first.resize_probs == (0.2, 0.7, 0.1)
    assert settings.first.resize_range == (0.15, 1.5)
    assert settings.second.resize_range == (0.3, 1.2)
    assert settings.first.noise_sigma == (1.0, 30.0) and settings.second.noise_sigma == (1, 25)
    assert settings.first.poisson_scale == (0.05, 3.0)
    assert settings.second.poisson_scale == (0.05, 2.5)
    assert settings.first.blur.sigma == (0.2, 3.0) and settings.second.blur.sigma == (0.2, 1.5)
    assert settings.second.blur_prob == 0.8 and settings.final_sinc_prob == 0.8
    assert settings.first.jpeg_quality == (30, 95)


def test_classical_samples_are_blur_subsample_noise_and_one_jpeg(astronaut) -> None:
    """A classical sample is JPEG((hr ⊗ k)↓s + n) with the recorded draws, rebuilt by hand;
    its widths are ``classical_sigma`` LR pixels at every scale."""
    from srkit.ops.kernels import blur_downsample

    hr = astronaut[:96, :96]
    settings = SyntheticSettings(classical_prob=1.0)
    for scale, seed in ((2, 0), (4, 1), (4, 2), (3, 5)):
        lr, record = random_degradation(hr, scale, np.random.default_rng(seed), settings)
        assert lr.shape == (96 // scale, 96 // scale, 3) and record["classical"]
        assert record["second"] is None and record["final"] is None
        first = record["first"]
        assert 30 <= first["jpeg"] <= 95 and set(first) == {"blur", "noise", "jpeg"}
        blur = first["blur"]
        if blur["type"] != "sinc":
            for sigma in (blur["sigma_x"], blur["sigma_y"]):
                assert 0.25 * scale <= sigma <= 1.2 * scale
        # the same draws by hand: kernel, then noise, then quality
        rng = np.random.default_rng(seed)
        rng.random()  # the classical-or-not draw
        again = classical_degradation(hr, scale, rng, settings)
        np.testing.assert_array_equal(again[0], lr)
        assert again[1] == record
    # rebuilt from its parts (an isotropic Gaussian, Gaussian noise)
    plain = SyntheticSettings(classical_prob=1.0).with_overrides({
        "first.blur.kernel_probs": [1, 0, 0, 0, 0, 0], "first.blur.sinc_prob": 0.0,
        "first.gaussian_noise_prob": 1.0, "first.grey_noise_prob": 0.0})
    lr, record = classical_degradation(hr, 4, np.random.default_rng(3), plain)
    sigma = record["first"]["blur"]["sigma_x"]
    rng = np.random.default_rng(3)
    kernel, _ = random_blur_kernel(rng, BlurSettings(sigma=(1.0, 4.8), kernel_sizes=(31,),
                                                     kernel_probs=(1, 0, 0, 0, 0, 0),
                                                     sinc_prob=0.0))
    assert kernel.shape == (31, 31)
    np.testing.assert_allclose(kernel, shaped_kernel(31, sigma, sigma, 0.0), atol=1e-7)
    rng.random(), rng.random()  # grey or colour, Gaussian or Poisson
    noise_sigma = rng.uniform(1, 30)
    assert noise_sigma == record["first"]["noise"]["sigma"]
    noisy = gaussian_noise(blur_downsample(hr, kernel, 4), noise_sigma, rng)
    expected = jpeg_compress(noisy, round(rng.uniform(30, 95)))
    np.testing.assert_allclose(lr, expected, atol=1e-6)


def test_classical_share_and_the_default_stream(astronaut) -> None:
    """classical_prob picks that share of samples; at 0 (Real-ESRGAN) no draw is spent on
    it, so the default pipeline's samples are unchanged."""
    hr = astronaut[:64, :64]
    mixed = SyntheticSettings(classical_prob=0.3)
    count = sum(bool(random_degradation(hr, 2, np.random.default_rng(s), mixed)[1]
                     .get("classical")) for s in range(200))
    assert 40 <= count <= 80
    for seed in range(3):
        a = random_degradation(hr, 2, np.random.default_rng(seed))
        b = random_degradation(hr, 2, np.random.default_rng(seed),
                               SyntheticSettings(classical_prob=0.0))
        np.testing.assert_array_equal(a[0], b[0])
        assert "classical" not in a[1]
    settings = SyntheticSettings().with_overrides({"classical_prob": 0.5,
                                                   "classical_sigma": [0.5, 0.6]})
    assert settings.changes() == {"classical_prob": 0.5, "classical_sigma": (0.5, 0.6)}


def test_pipeline_is_picklable_for_dataloader_workers(astronaut) -> None:
    """Settings and generators pickle; a copy made in another process gives the same LR."""
    settings = pickle.loads(pickle.dumps(SyntheticSettings()))
    rng = np.random.default_rng(5)
    copy = pickle.loads(pickle.dumps(rng))
    hr = astronaut[:64, :64]
    np.testing.assert_array_equal(random_degradation(hr, 2, rng, settings)[0],
                                  random_degradation(hr, 2, copy)[0])


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        random_degradation(np.zeros((8, 8)), 2, np.random.default_rng(0))
    with pytest.raises(ValueError):
        random_degradation(np.zeros((3, 3, 3)), 4, np.random.default_rng(0))
