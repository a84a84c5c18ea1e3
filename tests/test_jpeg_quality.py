"""JPEG quality estimation: exact from a file's tables, within ±5 from decoded pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from srkit.io.images import write_image
from srkit.ops.jpeg import jpeg_compress
from srkit.ops.jpeg_quality import (
    blockiness,
    estimate_jpeg_quality,
    ijg_table,
    luma,
    quality_from_pixels,
    quality_from_tables,
)


def _photo(name: str, noise: float, seed: int) -> np.ndarray:
    image = getattr(data, name)()[:256, :256, :3].astype(np.float32) / 255
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, noise / 255, image.shape), 0, 1).astype(np.float32)


def test_ijg_table_is_libjpegs_scaling(tmp_path) -> None:
    # Pillow (libjpeg) writes exactly these tables
    for quality in (10, 50, 75, 93):
        image = Image.fromarray(np.zeros((16, 16), np.uint8))
        path = tmp_path / f"q{quality}.jpg"
        image.save(path, quality=quality)
        with Image.open(path) as jpeg:
            np.testing.assert_array_equal(np.asarray(jpeg.quantization[0]), ijg_table(quality))


@pytest.mark.parametrize("quality", [5, 37, 50, 71, 88, 95, 100])
def test_quality_from_the_files_tables_is_exact(tmp_path, quality) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray((_photo("astronaut", 0, 0) * 255).astype(np.uint8)).save(path,
                                                                            quality=quality)
    estimate = estimate_jpeg_quality(path, np.zeros((32, 32, 3), np.float32))
    assert (estimate.quality, estimate.method) == (quality, "tables")
    assert quality_from_tables(ijg_table(quality)) == quality


@pytest.mark.parametrize(("name", "noise", "quality"), [
    ("astronaut", 4, 70), ("coffee", 8, 78), ("chelsea", 12, 86), ("rocket", 6, 95),
])
def test_quality_of_a_decoded_jpeg_within_five(tmp_path, name, noise, quality) -> None:
    """A noisy photo JPEG-compressed in colour (4:2:0), then saved as PNG: the estimate from
    its pixels (the JPEG ghost of its luma) is within ±5 of the quality."""
    decoded = jpeg_compress(_photo(name, noise, 1), quality)
    path = tmp_path / "decoded.png"
    write_image(path, decoded)
    estimate = estimate_jpeg_quality(path, decoded)
    assert estimate.method == "ghost"
    assert abs(estimate.quality - quality) <= 5


@pytest.mark.parametrize("noise", [0, 6])
def test_an_uncompressed_photo_has_no_quality(noise) -> None:
    estimate = quality_from_pixels(_photo("coffee", noise, 2))
    assert estimate.quality is None and estimate.method == "none"


def test_blockiness_grows_as_quality_falls() -> None:
    photo = _photo("astronaut", 0, 3)
    values = [blockiness(luma(jpeg_compress(photo, q))) for q in (95, 60, 20)]
    assert blockiness(luma(photo)) < 1.1
    assert values == sorted(values) and values[-1] > 1.5
