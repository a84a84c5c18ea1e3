"""collect-noise's adaptive rule: the camera's noise level is fitted and its noise is kept at
every brightness, with the right strength."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srkit.errors import SrkitError
from srkit.io.images import write_image
from srkit.io.pools import read_pool
from srkit.ops.noise_level import detrended_patch, fit_noise_level
from srkit.stages.collect_noise import collect_noise

# Poisson–Gaussian camera on the 0–255 scale, per channel: variance A + B·x (σ 4 → 12)
A, B = 16.0, (144.0 - 16.0) / 255
LEVELS = np.linspace(25, 230, 8)


def camera_photo(rng: np.random.Generator, textured: bool = True) -> np.ndarray:
    """512×512: an 8×8 grid of 64×64 blocks, flat at the eight LEVELS (slightly tinted, a
    gentle ramp inside each), every third block a strong texture; camera noise on top."""
    clean = np.zeros((512, 512, 3))
    ramp = np.linspace(-4, 4, 64)[None, :, None]
    for index in range(64):
        row, col = divmod(index, 8)
        level = LEVELS[(row + col) % 8]
        block = np.full((64, 64, 3), level) + np.array([6, 0, -6]) + ramp
        if textured and index % 3 == 0:
            yy, xx = np.mgrid[0:64, 0:64]
            block = block + 40 * np.sin(xx / 1.7)[..., None] * np.cos(yy / 2.3)[..., None]
        clean[row * 64:(row + 1) * 64, col * 64:(col + 1) * 64] = block
    clean = np.clip(clean, 0, 255)
    noisy = clean + rng.normal(size=clean.shape) * np.sqrt(A + B * clean)
    return np.clip(noisy / 255, 0, 1)


def expected_sigma(grey_mean: float) -> float:
    """The camera's per-channel noise σ (levels) for a flat block whose grey mean is given
    (its channels are that level +6, 0, −6, so their variances average to A + B·level)."""
    return float(np.sqrt(A + B * grey_mean))


def test_fit_finds_the_lower_edge_of_the_windows() -> None:
    rng = np.random.default_rng(0)
    mean = rng.uniform(0, 255, 3000)
    variance = (4 + 0.2 * mean) * rng.chisquare(500, 3000) / 500
    structured = rng.random(3000) < 0.7  # most windows hold structure: far above the noise
    variance[structured] += rng.uniform(5, 500, structured.sum())
    level = fit_noise_level(mean, variance)
    assert level.a == pytest.approx(4, abs=1.5) and level.b == pytest.approx(0.2, rel=0.15)
    assert fit_noise_level(mean[:5], variance[:5]) is None


def test_detrended_patch_removes_planes_only() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.02, (32, 32, 3))
    yy, xx = np.mgrid[0:32, 0:32]
    window = 0.5 + noise + (0.003 * yy + 0.001 * xx)[..., None] * np.array([1, 2, -1])
    patch = detrended_patch(window)
    np.testing.assert_allclose(patch.mean(axis=(0, 1)), 0, atol=1e-6)
    assert patch.std() == pytest.approx(noise.std(), rel=0.02)


def test_signal_dependent_noise_is_recovered_in_every_band(tmp_path: Path) -> None:
    """The kept patches' noise in each brightness band is within 10 % of the camera's."""
    rng = np.random.default_rng(2)
    for i in range(2):
        write_image(tmp_path / "photos" / f"p{i}.png", camera_photo(rng))
    result = collect_noise(tmp_path / "photos", tmp_path / "pool.h5")
    pool = read_pool(tmp_path / "pool.h5")
    patches = pool.noise_patches() * 255
    means = np.array([s["grey_mean"] for s in pool.noise_settings])
    assert result.advice == "" and pool.noise_patch_size == 32
    bands = 0
    for level in LEVELS:
        near = np.abs(means - level) < 10
        if near.sum() < 4:
            continue
        bands += 1
        measured = float(np.sqrt((patches[near] ** 2).mean()))
        assert measured == pytest.approx(expected_sigma(level), rel=0.10), level
    assert bands == len(LEVELS)
    # no patch was cut from a textured block or across a block edge
    assert float(np.sqrt((patches ** 2).mean(axis=(1, 2, 3))).max()) < 1.4 * expected_sigma(255)
    fitted = result.noise_level
    grey_var = 0.447 * (A + B * LEVELS)  # BT.601 luma of independent channel noise
    np.testing.assert_allclose(fitted.variance(LEVELS), grey_var, rtol=0.25)


def test_realsr_rule_keeps_nothing_where_the_adaptive_rule_keeps_every_band(tmp_path) -> None:
    rng = np.random.default_rng(3)
    write_image(tmp_path / "a.png", camera_photo(rng))
    realsr = collect_noise([tmp_path / "a.png"], tmp_path / "r.h5", rule="realsr", window=32,
                           stride=16)
    adaptive = collect_noise([tmp_path / "a.png"], tmp_path / "d.h5")
    kept = {int(s["grey_mean"] // 32) for s in read_pool(tmp_path / "d.h5").noise_settings}
    realsr_means = [s["grey_mean"] for s in read_pool(tmp_path / "r.h5").noise_settings] \
        if (tmp_path / "r.h5").exists() else []
    assert adaptive.added > 100 and len(kept) >= 7
    # the fixed variance of 20 keeps only the darkest blocks (σ ≈ 5.3 per channel there)
    assert realsr.added < adaptive.added / 4 and all(m < 70 for m in realsr_means)


def test_too_few_patches_or_bands_say_what_to_do(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    write_image(tmp_path / "a.png", camera_photo(rng))
    dark = collect_noise([tmp_path / "a.png"], tmp_path / "dark.h5", min_mean=240)
    assert dark.added == 0 and "only 0 noise patches: too few" in dark.advice
    flat = np.clip(0.5 + rng.normal(0, 0.03, (128, 128, 3)), 0, 1)
    write_image(tmp_path / "grey.png", flat)
    one_band = collect_noise([tmp_path / "grey.png"], tmp_path / "grey.h5")
    assert one_band.added == 49 and "cover 1 of 8 brightness bands" in one_band.advice
    write_image(tmp_path / "small.png", flat[:64, :64])
    with pytest.raises(SrkitError, match="too few 32×32 windows"):
        collect_noise([tmp_path / "small.png"], tmp_path / "small.h5")


def test_each_photo_reaches_the_pool_when_done(tmp_path: Path, monkeypatch) -> None:
    """A run that dies on its second photo keeps the first one's patches; the re-run skips
    it and adds the second."""
    import srkit.stages.collect_noise as stage

    rng = np.random.default_rng(5)
    for name in ("a", "b"):
        write_image(tmp_path / "photos" / f"{name}.png", camera_photo(rng))
    real = stage.find_flat_windows
    calls = []

    def dies_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(stage, "find_flat_windows", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        collect_noise(tmp_path / "photos", tmp_path / "pool.h5")
    first = read_pool(tmp_path / "pool.h5")
    assert set(first.noise_source) == {"a.png"}
    assert not list(tmp_path.glob(".pool*"))  # no temporary file left
    monkeypatch.setattr(stage, "find_flat_windows", real)
    again = collect_noise(tmp_path / "photos", tmp_path / "pool.h5")
    assert [p.status for p in again.photos] == ["known", "collected"]
    assert set(read_pool(tmp_path / "pool.h5").noise_source) == {"a.png", "b.png"}
