"""edge-gauss (the per-photo estimator), the estimate-kernels stage and its CLI.

camera-gauss, the default, has its own tests in tests/test_camera_gauss.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage
from typer.testing import CliRunner

from srkit.cli.app import app
from srkit.io.images import write_image
from srkit.io.pools import read_pool
from srkit.kernels_est import estimate_kernel
from srkit.kernels_est.common import FLAG_FLAT, FLAG_OK, FLAG_SMALL, compose_x2, kernels_for_scale
from srkit.kernels_est.edge_gauss import (
    EdgeGaussSettings,
    fit_edges,
    measure_lr_blur,
    quantile_covariance,
)
from srkit.ops.kernels import (
    blur_downsample,
    centre_kernel,
    centre_of_mass,
    gaussian_from_covariance,
    gaussian_kernel,
)
from srkit.stages.estimate_kernels import estimate_kernels

runner = CliRunner()
TRUE_COVARIANCE = np.array([[3.5, 1.2], [1.2, 1.5]])  # λ ≈ 4.1, 0.9 HR px², 27° from x


def kernel_psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """PSNR of two centred kernels padded to one size, the true peak as the signal."""
    size = max(estimate.shape[0], truth.shape[0])
    est = np.pad(estimate, (size - estimate.shape[0]) // 2).astype(np.float64)
    true = np.pad(truth, (size - truth.shape[0]) // 2).astype(np.float64)
    return float(10 * np.log10(true.max() ** 2 / np.mean((est - true) ** 2)))


def sharp_shapes(size: int = 320, count: int = 40, seed: int = 0) -> np.ndarray:
    """Random flat-coloured triangles, 4×4 supersampled: edges as sharp as a pixel."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", (4 * size, 4 * size), (128, 128, 128))
    draw = ImageDraw.Draw(canvas)
    for _ in range(count):
        corners = [tuple((rng.uniform(-0.1, 1.1, 2) * 4 * size).tolist()) for _ in range(3)]
        draw.polygon(corners, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    pixels = np.asarray(canvas, dtype=np.float32) / 255
    return pixels.reshape(size, 4, size, 4, 3).mean(axis=(1, 3))


# --------------------------------------------------------------------------- edge fitting


def test_edge_fit_recovers_width_and_angle_of_a_blurred_step():
    rows, cols = np.mgrid[0:41, 0:41].astype(float)
    angle, width = 0.5, 0.7                       # normal at 0.5 rad, σ = 0.7 px
    across = np.cos(angle) * (cols - 20.3) + np.sin(angle) * (rows - 19.8)
    grey = 0.2 + 0.6 * (0.5 * (1 + __import__("scipy").special.erf(across / width / 2**0.5)))
    centres = np.array([20]), np.array([20])
    fits = fit_edges(grey, *centres, np.array([0.3]), EdgeGaussSettings())
    assert fits["w"][0] == pytest.approx(width, abs=1e-3)
    assert fits["phi"][0] == pytest.approx(angle, abs=1e-3)
    assert fits["b"][0] == pytest.approx(0.6, abs=1e-3) and fits["misfit"][0] < 1e-3


def test_quantile_regression_recovers_the_covariance():
    rng = np.random.default_rng(0)
    phi = rng.uniform(0, np.pi, 600)
    normals = np.stack([np.cos(phi), np.sin(phi)], 1)
    cov = np.array([[1.1, 0.3], [0.3, 0.5]])
    clean = np.einsum("ni,ij,nj->n", normals, cov, normals)
    # each edge adds its own blur (≥ 0): the low quantile follows the clean envelope
    noisy = clean + rng.exponential(0.4, 600) * (rng.random(600) < 0.7)
    np.testing.assert_allclose(quantile_covariance(phi, noisy, 0.15), cov, atol=0.06)


@pytest.mark.parametrize("scale", [2, 4])
def test_lr_blur_of_sharp_shapes_matches_the_kernel(scale):
    hr = sharp_shapes()
    kernel_x2 = gaussian_from_covariance(11, TRUE_COVARIANCE)
    kernel = kernel_x2 if scale == 2 else centre_kernel(compose_x2(kernel_x2))
    lr_blur, edges = measure_lr_blur(blur_downsample(hr, kernel, scale))
    assert edges > 150
    # S = (Σ_hr + gain Σ) / area with Σ_hr ≈ 0 for these edges
    measured = lr_blur * {2: 4.0, 4: 16.0 / 5}[scale]
    assert np.linalg.norm(measured - TRUE_COVARIANCE) / np.linalg.norm(TRUE_COVARIANCE) < 0.3
    major = np.linalg.eigh(measured)[1][:, 1]
    true_major = np.linalg.eigh(TRUE_COVARIANCE)[1][:, 1]
    assert abs(float(major @ true_major)) > np.cos(np.radians(10))


# --------------------------------------------------------------------------- the estimate


@pytest.mark.parametrize("scale, photo, floor, margin", [(2, "coffee", 25.5, 3.0),
                                                         (4, "astronaut", 23.5, 0.5)])
def test_edge_gauss_recovers_a_known_kernel_from_a_photo(request, scale, photo, floor, margin):
    """A known anisotropic kernel (λ ≈ 4.1, 0.9 HR px²) from a real photo's LR.

    Measured: ×2 on coffee 26.6 dB (isotropic prior 22.5, bicubic 10.3); ×4 on astronaut
    24.1 dB (prior 23.1, bicubic 10.8) — at ×4 the estimate leans on the prior by design.
    """
    image = request.getfixturevalue(photo)
    kernel_x2 = gaussian_from_covariance(11, TRUE_COVARIANCE)
    truth = kernel_x2 if scale == 2 else centre_kernel(compose_x2(kernel_x2))
    lr = blur_downsample(image, truth, scale)
    estimate = estimate_kernel(lr, scale, "edge-gauss", rng=np.random.default_rng(0))
    kernel = estimate.kernels[scale]
    assert kernel.shape == ((13, 13) if scale == 2 else (25, 25))
    assert estimate.flag == FLAG_OK
    score = kernel_psnr(kernel, truth)
    isotropic = kernels_for_scale(gaussian_kernel(13, np.sqrt(2.8)), scale)[scale]
    from srkit.ops.resize import cubic

    taps = cubic((np.arange(4 * scale + 1) - 2 * scale) / scale)
    bicubic = np.outer(taps, taps) / np.outer(taps, taps).sum()
    assert score > floor
    assert score > kernel_psnr(isotropic, truth) + margin
    assert score > kernel_psnr(bicubic, truth) + 10


def test_flat_and_small_images_are_flagged():
    flat = np.full((200, 200, 3), 0.4, dtype=np.float32)
    estimate = estimate_kernel(flat, 2, "edge-gauss", rng=np.random.default_rng(0))
    assert estimate.flag == FLAG_FLAT
    c = 6
    np.testing.assert_allclose(centre_of_mass(estimate.kernels[2]), (c, c), atol=1e-3)
    small = blur_downsample(sharp_shapes(200, 30), gaussian_kernel(11, 1.5), 2)
    assert estimate_kernel(small, 2, "edge-gauss", rng=np.random.default_rng(0)).flag == FLAG_SMALL
    assert estimate_kernel(small, 2, rng=np.random.default_rng(0)).flag == FLAG_SMALL  # default


# --------------------------------------------------------------------------- stage and CLI


@pytest.fixture
def lr_dir(tmp_path, astronaut, chelsea, coffee):
    """Three photos blurred with a known kernel and downscaled ×2 (saved as 8-bit PNG)."""
    folder = tmp_path / "lr"
    kernel = gaussian_from_covariance(11, TRUE_COVARIANCE)
    for name, image in (("astronaut", astronaut[:256, :256]), ("chelsea", chelsea[:256, :320]),
                        ("coffee", coffee[:256, 64:448])):
        write_image(folder / f"{name}.png", blur_downsample(image, kernel, 2))
    return folder


def test_stage_writes_pool_skips_known_and_redoes(lr_dir, tmp_path):
    pool = tmp_path / "pool.h5"
    saved = tmp_path / "kernels"
    result = estimate_kernels(lr_dir, pool, 2, method="edge-gauss", save_kernels=saved)
    assert [p.source for p in result.estimated] == ["astronaut.png", "chelsea.png",
                                                     "coffee.png"]
    kernels = read_pool(pool).kernels(2)
    assert kernels.kernels.shape == (3, 13, 13)
    assert set(kernels.method) == {"edge-gauss"}
    assert np.allclose(kernels.kernels.sum(axis=(1, 2)), 1, atol=1e-5)
    assert kernels.settings[0]["seed"] == 0 and "covariance_x2" in kernels.settings[0][
        "diagnostics"]
    assert np.load(saved / "coffee_x2_edge-gauss.npy").shape == (13, 13)
    assert (saved / "coffee_x2_edge-gauss.png").exists()
    again = estimate_kernels(lr_dir, pool, 2, method="edge-gauss")
    assert again.estimated == [] and len(again.already_in_pool) == 3
    redone = estimate_kernels(lr_dir / "coffee.png", pool, 2, method="edge-gauss", redo=True)
    assert len(redone.estimated) == 1 and len(read_pool(pool).kernels(2)) == 4
    # the default (camera-gauss) is another method: all three again, then redo adds three
    assert len(estimate_kernels(lr_dir, pool, 2).estimated) == 3
    assert len(estimate_kernels(lr_dir, pool, 2, redo=True).estimated) == 3
    assert len(read_pool(pool).kernels(2)) == 10
    x4 = estimate_kernels(lr_dir / "coffee.png", pool, 4, method="edge-gauss")
    assert len(x4.estimated) == 1 and read_pool(pool).kernels(4).kernels.shape == (1, 25, 25)


@pytest.mark.slow
def test_stage_kernelgan_few_iterations_writes_a_valid_entry(lr_dir, tmp_path):
    pool = tmp_path / "pool.h5"
    result = estimate_kernels(lr_dir / "chelsea.png", pool, 4, method="kernelgan", iters=10,
                              device="cpu")
    assert len(result.estimated) == 1
    entry = read_pool(pool).kernels(4)
    assert entry.method == ["kernelgan"] and entry.kernels.shape == (1, 25, 25)
    assert entry.settings[0]["iters"] == 10
    assert entry.flag == [FLAG_SMALL]                 # chelsea's LR is 128 px high
    np.testing.assert_allclose(ndimage.center_of_mass(entry.kernels[0]), (12, 12), atol=1e-3)
    # the same photo with the other method is not "known"
    assert len(estimate_kernels(lr_dir / "chelsea.png", pool, 4).estimated) == 1


def test_stage_skips_unreadable_unless_strict(lr_dir, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a_broken.png").write_bytes(b"not an image")
    (folder / "b_coffee.png").write_bytes((lr_dir / "coffee.png").read_bytes())
    result = estimate_kernels(folder, tmp_path / "pool.h5", 2)
    assert len(result.estimated) == 1 and len(result.skipped) == 1
    from srkit.errors import SrkitError

    with pytest.raises(SrkitError, match="a_broken.png"):
        estimate_kernels(folder, tmp_path / "pool2.h5", 2, strict=True)
    assert not (tmp_path / "pool2.h5").exists()


def test_cli_writes_pool_then_skips(lr_dir, tmp_path):
    pool = tmp_path / "pool.h5"
    first = runner.invoke(app, ["estimate-kernels", str(lr_dir / "coffee.png"), "--pool",
                                str(pool), "-x", "2", "--json", "-q"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["estimated"][0]["source"] == "coffee.png"
    assert report["method"] == "camera-gauss"
    assert read_pool(pool).kernels(2).kernels.shape == (1, 13, 13)
    second = runner.invoke(app, ["estimate-kernels", str(lr_dir), "--pool", str(pool), "--json",
                                 "-q"])
    assert second.exit_code == 0
    assert json.loads(second.stdout)["already_in_pool"] == ["coffee.png"]


@pytest.mark.parametrize("args, message", [
    (["missing.png"], "no such file"),
    (["{lr}", "--method", "deep"], "--method"),
    (["{lr}", "--device", "tpu"], "unknown device"),
])
def test_cli_bad_input_exits_1_with_one_line(lr_dir, tmp_path, args, message):
    args = [a.replace("{lr}", str(lr_dir)) for a in args]
    if args[0] == "missing.png":
        args[0] = str(tmp_path / "missing.png")
    result = runner.invoke(app, ["estimate-kernels", *args, "--pool", str(tmp_path / "p.h5")])
    assert result.exit_code == 1
    assert message in str(result.exception) if result.exception else message in result.output
    assert not (tmp_path / "p.h5").exists()


def test_cli_error_is_one_line(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "srkit", "estimate-kernels",
                          str(tmp_path / "nope.png"), "--pool", str(tmp_path / "p.h5")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "nope.png" in lines[0]
