"""srkit.degradations: a training crop has the whole image's pixels; settings and choices."""

from __future__ import annotations

import numpy as np
import pytest

from srkit.degradations import (
    DEGRADATIONS,
    BicubicDegradation,
    Options,
    PoolDegradation,
    RandomDegradation,
    build,
    choose_mode,
)
from srkit.errors import SrkitError
from srkit.ops.kernels import gaussian_kernel


def _hr(rng: np.random.Generator, shape=(48, 40, 3)) -> np.ndarray:
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_crop_equals_the_whole_image_lr(rng, scale):
    hr = _hr(rng, (16 * scale, 12 * scale, 3))
    degradation = BicubicDegradation(scale)
    whole = degradation.degrade(hr.astype(np.float32) / 255, rng).lr
    for row, col, h, w in [(0, 0, 16, 12), (0, 0, 5, 4), (3, 2, 6, 7), (11, 8, 5, 4)]:
        crop = degradation.degrade_crop(hr, row, col, (h, w), rng)
        np.testing.assert_allclose(crop, whole[row:row + h, col:col + w], atol=1e-6)


@pytest.mark.parametrize("use_kernels", [True, False])
def test_pool_crop_equals_the_whole_image_lr_with_the_same_draws(rng, use_kernels):
    hr = _hr(rng)
    noise = rng.normal(0, 0.03, (2, 30, 30, 3)).astype(np.float32)
    kernels = np.stack([gaussian_kernel(13, 1.5, 0.7, 0.4), gaussian_kernel(13, 1.0)])
    degradation = PoolDegradation(2, kernels if use_kernels else None, noise)
    # The whole image as a crop at (0, 0): same generator, same draws, same pixels
    whole = degradation.degrade(hr.astype(np.float32) / 255, np.random.default_rng(4))
    crop = degradation.degrade_crop(hr, 0, 0, (24, 20), np.random.default_rng(4))
    np.testing.assert_allclose(crop, whole.lr, atol=1e-5)
    assert whole.choices["noise_index"] is not None
    assert (whole.choices["kernel_index"] is not None) == use_kernels
    assert whole.record["downscale"] == ("kernel" if use_kernels else "bicubic")


def test_settings_have_every_key_of_every_kind():
    keys = {"pool_sha256", "use_kernels", "use_noise", "jpeg_quality", "synthetic"}
    assert set(BicubicDegradation(2, 80).settings()) == keys
    assert BicubicDegradation(2, 80).settings()["jpeg_quality"] == 80
    assert set(RandomDegradation(2).settings()) == keys
    pool = PoolDegradation(2, None, np.zeros((0, 4, 4, 3), np.float32)).settings()
    assert pool["use_kernels"] is False and pool["use_noise"] is False


def test_build_resolves_modes_and_refuses_options_of_other_kinds():
    assert set(DEGRADATIONS) == {"pool", "bicubic", "random", "dsn", "blind"}
    assert isinstance(build("bicubic", 2, Options(jpeg_quality=70)), BicubicDegradation)
    with pytest.raises(SrkitError, match="unknown mode"):
        build("blurry", 2, Options())
    with pytest.raises(SrkitError, match="only used in pool mode"):
        build("bicubic", 2, Options(pool="pool.h5"))
    with pytest.raises(SrkitError, match="own JPEG steps"):
        build("random", 2, Options(jpeg_quality=70))
    assert choose_mode(None, pool_given=True, dsn_given=False, synthetic_given=False) == "pool"
    assert choose_mode(None, pool_given=False, dsn_given=True, synthetic_given=False) == "dsn"
    with pytest.raises(SrkitError, match="add --mode random"):
        choose_mode("bicubic", pool_given=False, dsn_given=False, synthetic_given=True)


def test_dsn_crop_equals_the_whole_image_lr(rng, tmp_path):
    torch = pytest.importorskip("torch")
    from srkit.degradations.dsn import DsnDegradation, dsn_degrade
    from srkit.io.dsn_checkpoints import LoadedDsn
    from srkit.models.dsn import DownSamplingNetwork, build_discriminator

    torch.manual_seed(0)
    generator = DownSamplingNetwork(scale=2, num_feat=8, num_block=2)
    loaded = LoadedDsn(generator, build_discriminator("fsd", 9, num_feat=8), "wavelet", 2, {})
    degradation = DsnDegradation(2, tmp_path / "dsn.safetensors", sha256="0", loaded=loaded)
    hr = _hr(rng, (96, 80, 3))
    whole = dsn_degrade(hr.astype(np.float32) / 255, generator)
    crop = degradation.degrade_crop(hr, 17, 9, (12, 10), rng)
    np.testing.assert_allclose(crop, whole[17:29, 9:19], atol=1e-5)
    assert degradation.settings()["dsn_sha256"] == "0"
