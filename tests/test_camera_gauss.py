"""camera-gauss (the default estimator): pooling one camera's photos, shrinkage, the stage."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from srkit.io.images import write_image
from srkit.io.pools import read_pool
from srkit.kernels_est import DEFAULT_METHOD, estimate_set_kernels
from srkit.kernels_est.camera_gauss import (
    CameraGaussSettings,
    PhotoStats,
    camera_covariances,
    photo_stats,
)
from srkit.kernels_est.edge_gauss import kernel_covariance_from_lr
from srkit.ops.kernels import blur_downsample, gaussian_from_covariance, gaussian_kernel
from srkit.stages.estimate_kernels import estimate_kernels

TRUE_COVARIANCE = np.array([[3.2, 1.0], [1.0, 1.6]])  # λ ≈ 3.7, 1.1 HR px²


def kernel_psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    size = max(estimate.shape[0], truth.shape[0])
    est = np.pad(estimate, (size - estimate.shape[0]) // 2).astype(np.float64)
    true = np.pad(truth, (size - truth.shape[0]) // 2).astype(np.float64)
    return float(10 * np.log10(true.max() ** 2 / np.mean((est - true) ** 2)))


def shapes(seed: int, size: int = 192, count: int = 25) -> np.ndarray:
    """Flat-coloured triangles, 4× supersampled: sharp edges at every angle."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", (4 * size, 4 * size), (128, 128, 128))
    draw = ImageDraw.Draw(canvas)
    for _ in range(count):
        corners = [tuple((rng.uniform(-0.1, 1.1, 2) * 4 * size).tolist()) for _ in range(3)]
        draw.polygon(corners, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    pixels = np.asarray(canvas, dtype=np.float32) / 255
    return pixels.reshape(size, 4, size, 4, 3).mean(axis=(1, 3))


@pytest.fixture(scope="module")
def camera_photos() -> list[np.ndarray]:
    """Six LR photos of one camera (one anisotropic kernel, ×2); the scenes differ in softness:
    three sharp, three already soft (isotropic scene blur of σ = 1, 1.3, 1.6 HR px)."""
    kernel = gaussian_from_covariance(11, TRUE_COVARIANCE)
    photos = []
    for seed, softness in enumerate((0.0, 0.0, 0.0, 1.0, 1.3, 1.6)):
        scene = shapes(seed)
        if softness:
            scene = ndimage.gaussian_filter(scene, (softness, softness, 0))
        lr = blur_downsample(scene, kernel, 2)
        photos.append((np.round(np.clip(lr, 0, 1) * 255) / 255).astype(np.float32))
    return photos


def test_camera_estimate_beats_per_photo_and_the_fixed_guess(camera_photos):
    """Measured: camera-gauss 27.7 dB, edge-gauss per photo 26.0 dB (mean), fixed 23.7 dB."""
    truth = gaussian_from_covariance(13, TRUE_COVARIANCE)
    estimates = estimate_set_kernels(camera_photos, 2)
    camera = np.mean([kernel_psnr(e.kernels[2], truth) for e in estimates])
    per_photo = np.mean([kernel_psnr(gaussian_from_covariance(
        13, kernel_covariance_from_lr(photo_stats(p).lr_blur, 2)), truth) for p in camera_photos])
    fixed = kernel_psnr(gaussian_kernel(13, np.sqrt(2.8)), truth)
    assert camera > per_photo + 1.0
    assert camera > fixed + 3.0
    info = estimates[0].info
    assert info["camera"]["photos"] == 6 and info["shrink"] is not None
    # the camera estimate is what every photo was shrunk towards: one camera, one kernel
    spread = np.ptp([np.array(e.info["covariance_x2"]) for e in estimates], axis=0).max()
    assert spread < 0.5


def _stats(covariances_x2: list[np.ndarray], edges: int = 800) -> list[PhotoStats]:
    """PhotoStats whose measured ×2 covariance is ``c`` (×2: S = c / 4)."""
    return [PhotoStats(np.asarray(c) / 4.0, edges, 400) for c in covariances_x2]


def test_one_outlier_is_pulled_towards_the_set():
    rng = np.random.default_rng(0)
    base = np.array([[2.0, 0.4], [0.4, 1.2]])
    members = [base + np.diag(rng.normal(0, 0.15, 2)) for _ in range(7)]
    outlier = base + 4.0 * np.eye(2)              # a soft scene: +4 px² of its own blur
    pooled = camera_covariances(_stats([*members, outlier]), 2)
    camera_alone = camera_covariances(_stats(members), 2).camera_covariance
    out_cov = pooled.covariances[-1]
    # the camera hardly moves, the outlier moves most of the way to it
    assert np.abs(pooled.camera_covariance - camera_alone).max() < 0.3
    assert np.trace(out_cov) / 2 < np.trace(outlier) / 2 - 2.0
    assert pooled.shrink[-1] is not None and pooled.shrink[-1] < 0.5


def test_a_set_that_really_differs_keeps_its_differences():
    """Photos whose blur spreads far more than scenes do (different cameras) are not merged."""
    variances = [0.8, 1.5, 3.0, 5.0, 7.0, 9.0]
    pooled = camera_covariances(_stats([v * np.eye(2) for v in variances]), 2,
                                CameraGaussSettings(offset={2: 0.0}))
    got = [np.trace(c) / 2 for c in pooled.covariances]
    assert np.corrcoef(got, variances)[0, 1] > 0.95
    assert min(s for s in pooled.shrink if s is not None) > 0.5


def test_few_photos_lean_on_the_prior_and_flat_ones_get_the_camera():
    one = camera_covariances(_stats([6.0 * np.eye(2)], edges=60), 2)
    many = camera_covariances(_stats([6.0 * np.eye(2)] * 12), 2)
    prior = CameraGaussSettings().prior_variance
    assert prior < np.trace(one.camera_covariance) / 2 < np.trace(many.camera_covariance) / 2
    flat = camera_covariances([*_stats([2.0 * np.eye(2)] * 4), PhotoStats(None, 3, 400)], 2)
    assert flat.shrink[-1] is None
    np.testing.assert_allclose(flat.covariances[-1], flat.camera_covariance)


def test_stage_default_pools_the_set_and_resumes(tmp_path, camera_photos):
    assert DEFAULT_METHOD == "camera-gauss"
    folder = tmp_path / "lr"
    for index, photo in enumerate(camera_photos[:3]):
        write_image(folder / f"p{index}.png", photo)
    pool = tmp_path / "pool.h5"
    first = estimate_kernels(folder, pool, 2)
    assert len(first.estimated) == 3
    entries = read_pool(pool).kernels(2)
    assert set(entries.method) == {"camera-gauss"}
    assert entries.settings[0]["diagnostics"]["camera"]["photos"] == 3
    # a fourth photo: only it is written, shrunk towards the camera of all four
    write_image(folder / "p3.png", camera_photos[3])
    second = estimate_kernels(folder, pool, 2)
    assert [p.source for p in second.estimated] == ["p3.png"]
    assert sorted(second.already_in_pool) == ["p0.png", "p1.png", "p2.png"]
    entries = read_pool(pool).kernels(2)
    assert len(entries) == 4 and entries.source[-1] == "p3.png"
    camera = entries.settings[-1]["diagnostics"]["camera"]
    assert camera["photos"] == 4 and "camera_covariance_x2" in camera
    assert np.allclose(entries.kernels.sum(axis=(1, 2)), 1, atol=1e-5)
