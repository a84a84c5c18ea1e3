"""Image reading/writing: modes, bit depths, EXIF orientation, bad files, listing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srkit.errors import SrkitError
from srkit.io import png16
from srkit.io.images import (
    SkipLog,
    list_images,
    read_image,
    save_like,
    set_max_pixels,
    write_image,
)


def test_rgb_png_round_trip_is_exact_on_8bit_grid(tmp_path: Path, rng) -> None:
    pixels = rng.integers(0, 256, size=(17, 23, 3)).astype(np.float32) / 255
    write_image(tmp_path / "a.png", pixels)
    loaded = read_image(tmp_path / "a.png")
    assert loaded.bit_depth == 8 and not loaded.grey and loaded.alpha is None
    np.testing.assert_array_equal(loaded.rgb, pixels)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png16_codec_round_trip(tmp_path: Path, rng, channels: int) -> None:
    samples = rng.integers(0, 65536, size=(9, 13, channels)).astype(np.uint16)
    png16.write_png16(tmp_path / "x.png", samples)
    np.testing.assert_array_equal(png16.read_png16(tmp_path / "x.png"), samples)


def test_png16_reader_handles_every_filter_type(tmp_path: Path, rng) -> None:
    """Rows filtered with Sub, Up, Average and Paeth (as other encoders write) decode exactly."""
    import struct
    import zlib

    height, width, bpp = 6, 5, 6
    samples = rng.integers(0, 65536, size=(height, width, 3)).astype(np.uint16)
    raw = samples.astype(">u2").view(np.uint8).reshape(height, width * bpp).astype(np.int32)
    lines = []
    for y in range(height):
        kind = y % 5
        up = raw[y - 1] if y else np.zeros_like(raw[0])
        out = np.zeros_like(raw[y])
        for x in range(raw.shape[1]):
            left = raw[y, x - bpp] if x >= bpp else 0
            up_left = up[x - bpp] if x >= bpp else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = left
            elif kind == 2:
                pred = up[x]
            elif kind == 3:
                pred = (left + up[x]) // 2
            else:
                p = left + up[x] - up_left
                pa, pb, pc = abs(p - left), abs(p - up[x]), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else (up[x] if pb <= pc else up_left)
            out[x] = (raw[y, x] - pred) % 256
        lines.append(bytes([kind]) + out.astype(np.uint8).tobytes())
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    blob = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2,
                                                            0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(lines))) + chunk(b"IEND", b""))
    (tmp_path / "f.png").write_bytes(blob)
    np.testing.assert_array_equal(png16.read_png16(tmp_path / "f.png"), samples)


def test_16bit_rgb_png_keeps_precision(tmp_path: Path, rng) -> None:
    pixels = rng.random((8, 8, 3)).astype(np.float32)
    write_image(tmp_path / "deep.png", pixels, bit_depth=16)
    loaded = read_image(tmp_path / "deep.png")
    assert loaded.bit_depth == 16
    assert np.abs(loaded.rgb - pixels).max() < 1 / 65535
    # and written back at 16 bits by save_like
    save_like(tmp_path / "again.png", loaded, loaded.rgb)
    assert read_image(tmp_path / "again.png").bit_depth == 16


def test_16bit_grey_png_from_pillow(tmp_path: Path) -> None:
    values = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(values).save(tmp_path / "g16.png")
    loaded = read_image(tmp_path / "g16.png")
    assert loaded.grey and loaded.bit_depth == 16
    np.testing.assert_allclose(loaded.rgb[..., 1], values / 65535, atol=1e-6)


def test_grey_palette_rgba_cmyk_modes(tmp_path: Path, rng) -> None:
    grey = rng.integers(0, 256, size=(6, 7), dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    loaded = read_image(tmp_path / "grey.png")
    assert loaded.grey and loaded.rgb.shape == (6, 7, 3)
    np.testing.assert_array_equal(loaded.rgb[..., 0], grey / np.float32(255))

    rgb = Image.fromarray(rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8))
    rgb.quantize(8).save(tmp_path / "pal.png")
    assert read_image(tmp_path / "pal.png").rgb.shape == (6, 7, 3)

    rgba = rng.integers(0, 256, size=(6, 7, 4), dtype=np.uint8)
    rgba[0, 0, 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    loaded = read_image(tmp_path / "rgba.png")
    np.testing.assert_array_equal(loaded.alpha, rgba[..., 3] / np.float32(255))

    Image.new("CMYK", (5, 4), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    red = read_image(tmp_path / "cmyk.jpg").rgb
    assert red[..., 0].mean() > 0.9 and red[..., 1:].mean() < 0.1


def test_alpha_written_and_read_back(tmp_path: Path, rng) -> None:
    pixels = rng.random((5, 5, 3)).astype(np.float32)
    alpha = np.linspace(0, 1, 25, dtype=np.float32).reshape(5, 5)
    write_image(tmp_path / "a.png", pixels, alpha)
    loaded = read_image(tmp_path / "a.png")
    assert loaded.alpha is not None
    assert np.abs(loaded.alpha - alpha).max() <= 0.5 / 255 + 1e-6


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    array = np.zeros((4, 6, 3), dtype=np.uint8)
    array[0, 0] = 255  # a white pixel at the top-left of the stored (landscape) image
    image = Image.fromarray(array)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displaying
    image.save(tmp_path / "rot.jpg", exif=exif, quality=100)
    loaded = read_image(tmp_path / "rot.jpg")
    assert loaded.rgb.shape == (6, 4, 3)
    assert loaded.rgb[0, -1].mean() > 0.5  # top-left moved to the top-right


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(SrkitError, match="notes.png"):
        read_image(tmp_path / "notes.png")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "cut.jpg")
    blob = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(SrkitError, match="cut.jpg"):
        read_image(tmp_path / "cut.jpg")
    with pytest.raises(SrkitError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_decompression_bomb_limit(tmp_path: Path) -> None:
    Image.new("RGB", (100, 100)).save(tmp_path / "big.png")
    set_max_pixels(1000)
    try:
        with pytest.raises(SrkitError, match="larger than the limit"):
            read_image(tmp_path / "big.png")
    finally:
        set_max_pixels(200_000_000)
    assert read_image(tmp_path / "big.png").width == 100


def test_list_images_files_folders_globs(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg", "c.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.webp").write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.png"]
    assert [p.name for p in list_images(tmp_path, recursive=True)] == ["a.jpg", "b.png",
                                                                        "d.webp"]
    assert [p.name for p in list_images([str(tmp_path / "*.png")])] == ["b.png"]
    assert [p.name for p in list_images([tmp_path / "c.txt"])] == ["c.txt"]
    with pytest.raises(SrkitError, match="no such file"):
        list_images([tmp_path / "nope"])
    with pytest.raises(SrkitError, match="no images found"):
        list_images([tmp_path / "sub" / "*.png"])


def test_skip_log_skips_or_fails(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_text("x")
    log = SkipLog()
    assert log.read(tmp_path / "bad.png") is None and log.count == 1
    with pytest.raises(SrkitError):
        SkipLog(strict=True).read(tmp_path / "bad.png")


def test_write_is_atomic_and_can_refuse_overwrite(tmp_path: Path, rng) -> None:
    target = tmp_path / "out.png"
    write_image(target, np.zeros((4, 4, 3), np.float32))
    with pytest.raises(SrkitError, match="already exists"):
        write_image(target, np.ones((4, 4, 3), np.float32), overwrite=False)
    assert read_image(target).rgb.max() == 0
    with pytest.raises(ValueError):
        write_image(target, np.ones((4, 4), np.float32))  # wrong shape: nothing replaced
    assert read_image(target).rgb.max() == 0
    assert sorted(os.listdir(tmp_path)) == ["out.png"]  # no temporary files left


def test_grey_and_jpeg_outputs(tmp_path: Path, rng) -> None:
    pixels = rng.random((8, 8, 3)).astype(np.float32)
    write_image(tmp_path / "g.png", pixels, grey=True)
    with Image.open(tmp_path / "g.png") as pil:
        assert pil.mode == "L"
    with pytest.warns(UserWarning, match="alpha"):
        write_image(tmp_path / "j.jpg", pixels, np.ones((8, 8), np.float32))
    with pytest.raises(SrkitError, match="unknown image format"):
        write_image(tmp_path / "x.gifx", pixels)


def test_16bit_tiff_round_trip(tmp_path: Path, rng) -> None:
    pixels = rng.random((6, 9, 3)).astype(np.float32)
    alpha = rng.random((6, 9)).astype(np.float32)
    write_image(tmp_path / "deep.tif", pixels, alpha, bit_depth=16)
    loaded = read_image(tmp_path / "deep.tif")
    assert loaded.bit_depth == 16 and loaded.alpha is not None
    assert np.abs(loaded.rgb - pixels).max() < 1 / 65535
