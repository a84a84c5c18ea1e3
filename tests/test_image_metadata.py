"""Outputs keep their input's ICC profile and EXIF (orientation reset to 1, since the pixels
are rotated on reading); ``upscale --jpeg-quality``."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from typer.testing import CliRunner

from srkit.cli import app
from srkit.io.images import read_image, write_image

runner = CliRunner()
MAKE, ORIENTATION, EXIF_IFD, DATE, PIXEL_X, PIXEL_Y = 0x010F, 0x0112, 0x8769, 0x9003, 0xA002, \
    0xA003


@functools.cache
def _icc(space: str = "sRGB") -> bytes:
    """One profile per run: a new one carries the time it was made in its header."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile(space)).tobytes()


def _exif(orientation: int, width: int, height: int) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE], exif[ORIENTATION] = "TestCam", orientation
    sub = exif.get_ifd(EXIF_IFD)
    sub[DATE], sub[PIXEL_X], sub[PIXEL_Y] = "2024:05:06 07:08:09", width, height
    return exif


@pytest.fixture
def tagged_jpeg(tmp_path: Path, astronaut) -> Path:
    """A 40×24 (stored) JPEG with an sRGB profile and EXIF saying 'rotate 90° clockwise'."""
    path = tmp_path / "in.jpg"
    pixels = (astronaut[:24, :40] * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=95, icc_profile=_icc(),
                                 exif=_exif(6, 40, 24))
    return path


def _upscale(*args) -> None:
    result = runner.invoke(app, ["upscale", *map(str, args), "--method", "bicubic", "-x", "2",
                                 "-q"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "tif"])
def test_upscale_keeps_icc_and_exif_with_orientation_1(tmp_path, tagged_jpeg, fmt) -> None:
    out = tmp_path / f"out.{fmt}"
    _upscale(tagged_jpeg, "-o", out)
    with Image.open(out) as image:
        assert image.size == (48, 80)  # rotated on reading, then ×2
        assert image.info.get("icc_profile") == _icc()
        exif = image.getexif()
        assert exif[ORIENTATION] == 1 and exif[MAKE] == "TestCam"
        sub = exif.get_ifd(EXIF_IFD)
        assert sub[DATE] == "2024:05:06 07:08:09"
        assert (sub[PIXEL_X], sub[PIXEL_Y]) == (48, 80)
    assert read_image(out).height == 80  # orientation 1: not rotated a second time


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_outputs_keep_the_icc_profile(tmp_path, rng, suffix) -> None:
    source = tmp_path / f"deep{suffix}"
    write_image(source, rng.random((12, 10, 3)), bit_depth=16, icc_profile=_icc())
    assert read_image(source).icc_profile == _icc()
    out = tmp_path / f"out{suffix}"
    _upscale(source, "-o", out)
    image = read_image(out)
    assert image.bit_depth == 16 and image.icc_profile == _icc()
    with Image.open(out) as pil:
        assert pil.info.get("icc_profile") == _icc()


def test_16bit_png_writer_stores_exif(tmp_path, rng) -> None:
    out = tmp_path / "deep.png"
    write_image(out, rng.random((6, 8, 3)), bit_depth=16,
                exif=_exif(8, 1, 1).tobytes())
    with Image.open(out) as pil:
        exif = pil.getexif()
        assert exif[ORIENTATION] == 1 and exif[MAKE] == "TestCam"
        assert exif.get_ifd(EXIF_IFD)[PIXEL_X] == 8


def test_a_profile_of_another_colour_space_is_not_attached(tmp_path, astronaut) -> None:
    source = tmp_path / "cmyk.jpg"
    cmyk = Image.fromarray((astronaut[:16, :16] * 255).astype(np.uint8)).convert("CMYK")
    cmyk.save(source, icc_profile=b"\0" * 16 + b"CMYK" + b"\0" * 200)
    assert read_image(source).icc_profile is None
    grey = tmp_path / "grey.png"
    write_image(grey, astronaut[:8, :8], grey=True, icc_profile=_icc())  # an RGB profile
    with Image.open(grey) as pil:
        assert "icc_profile" not in pil.info


def test_jpeg_quality_option(tmp_path, tagged_jpeg) -> None:
    _upscale(tagged_jpeg, "-o", tmp_path / "default.jpg")
    _upscale(tagged_jpeg, "-o", tmp_path / "q95.jpg", "--jpeg-quality", "95")
    _upscale(tagged_jpeg, "-o", tmp_path / "q30.jpg", "--jpeg-quality", "30")
    default = (tmp_path / "default.jpg").read_bytes()
    assert default == (tmp_path / "q95.jpg").read_bytes()  # 95 stays the default
    assert len((tmp_path / "q30.jpg").read_bytes()) < len(default)
    bad = runner.invoke(app, ["upscale", str(tagged_jpeg), "--method", "bicubic", "-x", "2",
                              "-o", str(tmp_path / "bad.jpg"), "--jpeg-quality", "0"])
    assert bad.exit_code == 2 and not (tmp_path / "bad.jpg").exists()


def test_no_metadata_in_no_metadata_out(tmp_path, astronaut) -> None:
    source = tmp_path / "plain.png"
    write_image(source, astronaut[:8, :8])
    _upscale(source, "-o", tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as pil:
        assert "icc_profile" not in pil.info and not pil.getexif()
