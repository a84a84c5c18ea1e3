"""The camera workflow end to end on LR photos of a few hundred pixels, every option at its
default: estimate-kernels, collect-noise, degrade --pool, train-sr --pool (the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from srkit.cli import app
from srkit.io.images import write_image
from srkit.io.pools import read_pool
from srkit.ops.kernels import blur_downsample, gaussian_kernel
from srkit.ops.resize import imresize

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "photos"


def camera_jpeg(photo: np.ndarray, path: Path, rng: np.random.Generator) -> None:
    """×4 LR of ``photo`` through a camera: anisotropic blur, Poisson–Gaussian noise (σ 4 →
    12 levels), JPEG 85."""
    photo = photo[:photo.shape[0] // 4 * 4, :photo.shape[1] // 4 * 4]
    lr = np.clip(blur_downsample(photo, gaussian_kernel(21, 2.4, 1.5, 0.5), 4), 0, 1) * 255
    noisy = np.clip(lr + rng.normal(size=lr.shape) * np.sqrt(16 + 128 * lr / 255), 0, 255)
    Image.fromarray(noisy.round().astype(np.uint8)).save(path, quality=85)


@pytest.mark.slow  # about 20 s: four commands on six photos and a short training run
def test_the_four_commands_learn_a_camera_from_small_lr_photos(tmp_path: Path) -> None:
    from srkit.io.images import read_image

    rng = np.random.default_rng(0)
    photos = [getattr(data, n)()[..., :3] / 255.0 for n in ("astronaut", "coffee")]
    photos += [read_image(p).rgb for p in sorted(EXAMPLES.glob("*.jpg"))]
    (tmp_path / "lr").mkdir()
    for i, photo in enumerate(photos):  # scenes 1300 px wide: LR of 325 px, as a user has
        photo = imresize(photo, 1300 / max(photo.shape[:2]))
        camera_jpeg(np.clip(photo, 0, 1), tmp_path / "lr" / f"p{i}.jpg", rng)
    sizes = [Image.open(p).size for p in (tmp_path / "lr").iterdir()]
    assert all(max(s) == 325 for s in sizes)
    runner = CliRunner()
    pool = tmp_path / "pool.h5"
    for command in (["estimate-kernels", str(tmp_path / "lr"), "--pool", str(pool), "-x", "4"],
                    ["collect-noise", str(tmp_path / "lr"), "--pool", str(pool)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    contents = read_pool(pool)
    assert len(contents.kernels(4)) == len(photos)
    assert contents.noise_count >= 50 and contents.jpeg_qualities() == [85] * len(photos)
    means, _ = contents.noise_grey_stats()
    assert len({int(m // 32) for m in means}) >= 4  # noise at several brightnesses

    write_image(tmp_path / "hr" / "a.png", data.astronaut()[:256, :256] / 255.0)
    result = runner.invoke(app, ["degrade", str(tmp_path / "hr"), "--pool", str(pool), "-x",
                                 "4", "-o", str(tmp_path / "pairs")])
    assert result.exit_code == 0, result.output
    line = json.loads((tmp_path / "pairs" / "manifest.jsonl").read_text())
    assert line["jpeg"] == 85 and line["noise"]["gain"] == "brightness"
    result = runner.invoke(app, ["train-sr", "--hr", str(tmp_path / "hr"), "--pool", str(pool),
                                 "-x", "4", "--arch", "compact", "--iters", "3",
                                 "--batch-size", "2", "--patch-size", "64", "--workers", "0",
                                 "-o", str(tmp_path / "model.safetensors")])
    assert result.exit_code == 0, result.output
    assert "noise matched to brightness, JPEG 85" in result.output
    assert (tmp_path / "model.safetensors").exists()
