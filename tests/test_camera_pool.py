"""degrade --pool with a camera's pool: noise matched to brightness, the camera's JPEG, and the
same pixels for a training crop as for the whole image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srkit.degradations import Options, PoolDegradation, build
from srkit.io.images import read_image, write_image
from srkit.io.pools import read_pool
from srkit.ops.noise_stats import grey_levels
from srkit.stages.collect_noise import collect_noise
from srkit.stages.degrade import degrade
from tests.test_noise_level import A, B, camera_photo


@pytest.fixture(scope="module")
def camera_pool(tmp_path_factory) -> Path:
    """A pool from two JPEG photos (quality 92) of the Poisson–Gaussian test camera."""
    root = tmp_path_factory.mktemp("camera")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        pixels = (camera_photo(rng, textured=True) * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(root / f"{name}.jpg", quality=92)
    pool = root / "pool.h5"
    collect_noise([root / "a.jpg", root / "b.jpg"], pool)
    from srkit.io.pool_writer import append_kernels
    from srkit.io.pools import KernelEntry
    from srkit.ops.kernels import gaussian_kernel

    append_kernels(pool, [KernelEntry(gaussian_kernel(13, 1.2, 1.0, 0.3), 2, "a.jpg", "aa",
                                      "test")])
    return pool


def flat_steps() -> np.ndarray:
    """128×256 HR of eight flat vertical bands of grey, dark to bright."""
    hr = np.zeros((128, 256, 3), np.float32)
    for band, level in enumerate(np.linspace(30, 220, 8)):
        hr[:, band * 32:(band + 1) * 32] = level / 255
    return hr


def test_the_pool_records_the_cameras_jpeg(camera_pool: Path) -> None:
    pool = read_pool(camera_pool)
    assert pool.jpeg_qualities() == [92, 92]
    assert {p.jpeg_method for p in pool.photos} == {"tables"}


def test_noise_follows_brightness_as_the_camera_does(camera_pool: Path) -> None:
    camera = build("pool", 2, Options(pool=camera_pool, use_kernels=False, jpeg_quality=None))
    plain = build("pool", 2, Options(pool=camera_pool, use_kernels=False, camera=False))
    assert camera.noise_level is not None and plain.noise_level is None
    assert camera.jpeg_qualities == (92, 92) and plain.jpeg_qualities is None
    hr = flat_steps()
    dark, bright = {}, {}
    for label, degradation in (("camera", camera), ("plain", plain)):
        sigmas = []
        for seed in range(6):
            lr = degradation.apply(hr, None, degradation.noise[seed],
                                   np.random.default_rng(seed),
                                   patch_variance=(None if degradation.patch_variance is None
                                                   else degradation.patch_variance[seed]))[0]
            grey = grey_levels(lr)
            sigmas.append([grey[:, b * 16 + 2:(b + 1) * 16 - 2].std() for b in range(8)])
        sigmas = np.mean(sigmas, axis=0)
        dark[label], bright[label] = sigmas[0], sigmas[-1]
        if label == "camera":  # the camera's grey-level noise at each band's brightness
            truth = np.sqrt(0.447 * (A + B * np.linspace(30, 220, 8)))
            np.testing.assert_allclose(sigmas, truth, rtol=0.2)
    assert bright["camera"] / dark["camera"] > 1.7  # σ 5.8 → 11 per channel
    assert bright["plain"] / dark["plain"] < 1.3  # RealSR's patches: the same everywhere


def test_training_crops_get_the_same_camera(camera_pool: Path) -> None:
    """train-sr --pool's crops: brightness-matched noise and the camera's JPEG too."""
    pool = read_pool(camera_pool)
    camera = PoolDegradation.from_pool(pool, 2, use_kernels=False, in_memory=True)
    assert camera.noise_level is not None and camera.jpeg_qualities == (92, 92)
    no_jpeg = PoolDegradation(2, None, camera.noise, noise_level=camera.noise_level,
                              patch_variance=camera.patch_variance)
    hr = (flat_steps() * 255).astype(np.uint8)
    sigma = {}
    for name, col in (("dark", 0), ("bright", 112)):  # LR columns of the first / last band
        crops = [no_jpeg.degrade_crop(hr, 8, col, (32, 16), np.random.default_rng(seed))
                 for seed in range(8)]
        sigma[name] = np.mean([grey_levels(c)[:, 2:-2].std() for c in crops])
    truth = {n: np.sqrt(0.447 * (A + B * v)) for n, v in (("dark", 30), ("bright", 220))}
    for name in sigma:
        assert sigma[name] == pytest.approx(truth[name], rel=0.2)
    assert camera.draw(np.random.default_rng(0))[2] == 92  # each crop is compressed at 92


def test_degrade_compresses_like_the_camera_and_records_it(camera_pool: Path,
                                                           tmp_path: Path) -> None:
    write_image(tmp_path / "hr" / "steps.png", flat_steps())
    result = degrade([tmp_path / "hr"], tmp_path / "pairs", 2, pool=camera_pool)
    assert result.written == 1
    line = json.loads((tmp_path / "pairs" / "manifest.jsonl").read_text())
    assert line["jpeg"] == 92 and line["noise"]["gain"] == "brightness"
    settings = json.loads((tmp_path / "pairs" / "degrade.json").read_text())["settings"]
    assert settings["jpeg_qualities"] == [92, 92] and "a" in settings["noise_level"]
    lr = read_image(tmp_path / "pairs" / "lr" / "steps.png").rgb
    from srkit.ops.jpeg_quality import quality_from_pixels

    assert abs(quality_from_pixels(lr).quality - 92) <= 5
    plain = degrade([tmp_path / "hr"], tmp_path / "plain", 2, pool=camera_pool, camera=False)
    line = json.loads((tmp_path / "plain" / "manifest.jsonl").read_text())
    assert plain.written == 1 and "jpeg" not in line and "gain" not in line["noise"]


def test_pool_info_and_sheet_show_the_camera(camera_pool: Path, tmp_path: Path) -> None:
    import shutil

    import h5py
    from typer.testing import CliRunner

    from srkit.cli import app
    from srkit.stages.pool_tools import pool_info, render_sheet

    info = pool_info(camera_pool)
    assert info.compression.jpeg == 2 and info.compression.quality["median"] == 92
    assert info.noise.noise_level is not None and len(info.noise.by_brightness) >= 6
    assert [s.jpeg_quality for s in info.sources if s.noise] == [92, 92] and info.notes == []
    shown = CliRunner().invoke(app, ["pool", "info", str(camera_pool)])
    assert shown.exit_code == 0 and "compression: 2 of 2 photos JPEG" in shown.output
    assert "camera noise level" in shown.output
    sheet = {"cell": 16, "columns": 4, "noise_gain": 4, "max_items": 4}
    with_label, _, _ = render_sheet(read_pool(camera_pool), **sheet)
    bare = tmp_path / "bare.h5"
    shutil.copy(camera_pool, bare)
    with h5py.File(bare, "a") as handle:  # as an older srkit wrote it
        del handle["photos"]
        handle.attrs["schema_version"] = 1
    assert pool_info(bare).compression is None and "schema 1" in pool_info(bare).notes[0]
    without, _, _ = render_sheet(read_pool(bare), **sheet)
    assert with_label.shape[0] > without.shape[0]  # the JPEG line
