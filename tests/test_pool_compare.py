"""``pool compare``: noise, spectrum and blockiness statistics rank degradation sources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.images import write_image
from srkit.ops.jpeg import jpeg_compress
from srkit.ops.kernels import blur_downsample, gaussian_kernel
from srkit.ops.resize import imresize
from srkit.stages.pool_compare import (
    block_differences,
    compare_degradations,
    degradation_stats,
    distances,
    noise_residuals,
    radial_spectrum,
    robust_sigma,
)

KERNEL = gaussian_kernel(13, 1.6, 0.9, 0.5)


def _camera(hr: np.ndarray, rng: np.random.Generator, sigma: float = 8.0,
            quality: int = 90) -> np.ndarray:
    """A synthetic camera: anisotropic blur, ×2 subsampling, colour noise σ/255, JPEG."""
    lr = blur_downsample(hr, KERNEL, 2)
    lr = lr + rng.normal(0, sigma / 255, lr.shape).astype(np.float32)
    return jpeg_compress(np.clip(lr, 0, 1), quality)


def test_noise_sigma_of_white_noise_is_recovered(rng) -> None:
    grey = 128 + rng.normal(0, 6.0, (200, 200))
    residual, brightness = noise_residuals(grey)
    assert robust_sigma(residual) == pytest.approx(6.0, rel=0.05)
    assert brightness.mean() == pytest.approx(128, abs=1)


def test_noise_is_measured_per_brightness(rng) -> None:
    ramp = np.tile(np.linspace(0.1, 0.9, 256, dtype=np.float32), (256, 1))
    sigma = 2 + 10 * ramp                      # 8-bit levels, brighter is noisier
    noisy = ramp[..., None] + rng.normal(0, 1, (256, 256, 1)) * sigma[..., None] / 255
    stats = degradation_stats([np.repeat(noisy, 3, axis=2).astype(np.float32)])
    measured = [s for s in stats.noise_sigma if s is not None]
    assert len(measured) >= 6
    assert all(b > a for a, b in zip(measured, measured[1:], strict=False))
    centre = stats.brightness[4]               # bin 128–160: σ ≈ 2 + 10 · 144/255
    assert stats.noise_sigma[4] == pytest.approx(2 + 10 * centre / 255, rel=0.1)


def test_spectrum_is_flat_for_white_noise_and_falls_for_blur(rng) -> None:
    noise = rng.normal(0, 1, (256, 256))
    flat = radial_spectrum(noise)
    assert flat.shape == (32,) and flat.sum() == pytest.approx(1.0)
    # a Hann-windowed white noise: flat apart from the lowest bins
    assert flat[4:].max() / flat[4:].min() < 1.6
    from scipy.ndimage import gaussian_filter

    blurred = radial_spectrum(gaussian_filter(noise, 1.5))
    assert blurred[-1] < 1e-3 * blurred[1]
    assert radial_spectrum(noise[:50, :50]) is None


def test_blockiness_sees_jpeg_blocks(astronaut) -> None:
    grey_of = 255 * astronaut[:256, :256].mean(axis=2)
    clean = block_differences(grey_of)
    blocky = block_differences(255 * jpeg_compress(astronaut[:256, :256], 10).mean(axis=2))
    assert clean[0] / clean[1] / (clean[2] / clean[3]) == pytest.approx(1.0, abs=0.05)
    assert blocky[0] / blocky[1] / (blocky[2] / blocky[3]) > 1.3


@pytest.fixture(scope="module")
def camera_sets(tmp_path_factory, astronaut, chelsea, coffee) -> dict[str, Path]:
    """Real LR: left halves of three photos through the camera. Candidates made from the
    right halves: the same camera, and plain bicubic downscaling."""
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("sets")
    for name, photo in (("astronaut", astronaut), ("chelsea", chelsea), ("coffee", coffee)):
        half = photo.shape[1] // 2
        left, right = photo[:, :half], photo[:, half:]
        write_image(root / "real" / f"{name}.png", _camera(left, rng))
        write_image(root / "camera" / f"{name}.png", _camera(right, rng))
        write_image(root / "bicubic" / f"{name}.png", imresize(right, 0.5))
    return {name: root / name for name in ("real", "camera", "bicubic")}


def test_the_same_camera_ranks_closer_than_bicubic(camera_sets, tmp_path: Path) -> None:
    report = tmp_path / "report.png"
    result = compare_degradations(camera_sets["real"],
                                  [camera_sets["bicubic"], camera_sets["camera"]],
                                  report=report)
    bicubic, camera = result.distances
    assert camera.noise < bicubic.noise / 3
    assert camera.spectrum < bicubic.spectrum
    assert camera.blockiness < bicubic.blockiness
    # the real set is noisy: ≈ 8 · 0.67 (luma of independent channel noise), JPEG lowers it
    assert 3.0 < result.real.noise_overall < 6.0
    assert result.generated[0].noise_overall < 2.0
    from PIL import Image

    with Image.open(report) as image:
        assert image.format == "PNG" and image.width >= 800
    assert distances(result.real, result.real).spectrum == 0.0


def test_pool_compare_cli(camera_sets, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["pool", "compare", str(camera_sets["real"]),
                                      str(camera_sets["camera"]), str(camera_sets["bicubic"]),
                                      "--json", "-o", str(tmp_path / "r.png")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [g["name"] for g in report["generated"]] == ["camera", "bicubic"]
    assert report["generated"][0]["distance"]["noise"] < report["generated"][1]["distance"][
        "noise"]
    assert len(report["real"]["spectrum_db"]) == 32 and (tmp_path / "r.png").exists()
    table = CliRunner().invoke(app, ["pool", "compare", str(camera_sets["real"]),
                                     str(camera_sets["bicubic"])])
    assert table.exit_code == 0 and "bicubic" in table.stdout


def test_pool_compare_bad_input_is_one_line(tmp_path: Path, camera_sets) -> None:
    out = subprocess.run([sys.executable, "-m", "srkit", "pool", "compare",
                          str(tmp_path / "missing"), str(camera_sets["bicubic"])],
                         capture_output=True, text=True)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1 and "missing" in lines[0]
    tiny = tmp_path / "tiny"
    write_image(tiny / "a.png", np.zeros((20, 20, 3), np.float32))
    with pytest.raises(SrkitError, match="smaller than 64"):
        compare_degradations(tiny, [camera_sets["bicubic"]])
    with pytest.raises(SrkitError, match="PNG"):
        compare_degradations(camera_sets["real"], [camera_sets["bicubic"]],
                             report=tmp_path / "r.jpg")


def test_pool_compare_never_replaces_an_input_and_needs_overwrite(camera_sets,
                                                                  tmp_path: Path) -> None:
    real_image = camera_sets["real"] / "chelsea.png"
    before = real_image.read_bytes()
    existing = tmp_path / "report.png"
    existing.write_bytes(b"keep me")
    runner = CliRunner()
    for output, extra, message in ((real_image, ["--overwrite"], "would overwrite an input"),
                                   (existing, [], "--overwrite")):
        result = runner.invoke(app, ["pool", "compare", str(camera_sets["real"]),
                                     str(camera_sets["bicubic"]), "-o", str(output), *extra])
        assert result.exit_code == 1 and message in str(result.exception), result.output
    assert real_image.read_bytes() == before and existing.read_bytes() == b"keep me"
    result = runner.invoke(app, ["pool", "compare", str(camera_sets["real"]),
                                 str(camera_sets["bicubic"]), "-o", str(existing), "--overwrite"])
    assert result.exit_code == 0 and existing.read_bytes()[:4] == b"\x89PNG"
