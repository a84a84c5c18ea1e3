"""Bad input and odd paths through the README's promises: 16 bits, bombs, model files, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from srkit.errors import SrkitError
from srkit.io import png16
from srkit.io.checkpoints import save_model
from srkit.io.images import read_image, write_image
from srkit.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def compact_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    args = {"num_feat": 8, "num_conv": 2, "upscale": 2}
    model = build_model("compact", **args)
    return save_model(tmp_path / "compact_x2.safetensors", model, "compact", args, 2)


# 16-bit images ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_image_through_a_model_stays_16bit(tmp_path: Path, rng, compact_file: Path,
                                                 suffix: str) -> None:
    from srkit.stages.upscale import upscale

    source = write_image(tmp_path / f"deep{suffix}", rng.random((12, 10, 3)), bit_depth=16)
    result = upscale([source], tmp_path / f"out{suffix}", model=compact_file, tile=0)
    out = read_image(result.outputs[0])
    assert out.bit_depth == 16 and out.rgb.shape == (24, 20, 3)


def test_png16_writer_takes_non_contiguous_samples(tmp_path: Path, rng) -> None:
    planar = rng.integers(0, 65536, size=(3, 5, 4)).astype(np.uint16)
    samples = planar.transpose(1, 2, 0)  # (H, W, C) view of a (C, H, W) array
    png16.write_png16(tmp_path / "t.png", samples)
    np.testing.assert_array_equal(png16.read_png16(tmp_path / "t.png"), samples)


def _filtered_png16(samples: np.ndarray, kinds: list[int]) -> bytes:
    """A 16-bit RGB PNG whose row y is filtered with PNG filter type ``kinds[y]``."""
    import struct
    import zlib

    height, width, channels = samples.shape
    bpp = 2 * channels
    raw = samples.astype(">u2").view(np.uint8).reshape(height, width * bpp).astype(np.int32)
    up = np.vstack([np.zeros_like(raw[:1]), raw[:-1]])
    left = np.hstack([np.zeros_like(raw[:, :bpp]), raw[:, :-bpp]])
    up_left = np.hstack([np.zeros_like(up[:, :bpp]), up[:, :-bpp]])
    p = left + up - up_left
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
    preds = [np.zeros_like(raw), left, up, (left + up) // 2, paeth]
    lines = [bytes([k]) + ((raw[y] - preds[k][y]) % 256).astype(np.uint8).tobytes()
             for y, k in enumerate(kinds)]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 16, {1: 0, 2: 4, 3: 2, 4: 6}[channels],
                       0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"".join(lines))) + chunk(b"IEND", b""))


def _unfilter_per_pixel(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    """The former decoder: Average and Paeth one pixel at a time (the speed reference)."""
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        result = np.zeros(stride, dtype=np.int32).reshape(-1, bpp)
        left = np.zeros(bpp, dtype=np.int32)
        up_left = np.zeros(bpp, dtype=np.int32)
        for x, (pixel, up) in enumerate(zip(line.reshape(-1, bpp), prev.reshape(-1, bpp),
                                            strict=True)):
            pred = (left + up) >> 1 if kind == 3 else png16._paeth(left, up, up_left)
            left = (pixel + pred) & 0xFF
            result[x] = left
            up_left = up
        out[y] = result.reshape(-1)
        prev = result.reshape(-1)
    return out


@pytest.mark.parametrize(("height", "width", "channels", "kinds"), [
    (7, 5, 3, [0, 1, 2, 3, 4, 4, 3]),
    (9, 1, 4, [4, 3, 4, 1, 2, 0, 3, 3, 4]),
    (1, 11, 1, [4]),
    (5, 6, 2, [3, 3, 3, 3, 3]),
    (6, 4, 3, [1, 2, 1, 0, 2, 1]),  # no Average/Paeth: the row-by-row path
], ids=["rgb-all", "rgba-one-column", "grey-one-row", "la-average", "rgb-no-left-filters"])
def test_png16_decodes_every_filter_mix(tmp_path: Path, rng, height, width, channels,
                                        kinds) -> None:
    samples = rng.integers(0, 65536, size=(height, width, channels)).astype(np.uint16)
    (tmp_path / "f.png").write_bytes(_filtered_png16(samples, kinds))
    np.testing.assert_array_equal(png16.read_png16(tmp_path / "f.png"), samples)


def test_png16_decoding_across_bands_and_its_speed(tmp_path: Path, rng, monkeypatch) -> None:
    """Paeth/Average rows decode several times faster than pixel by pixel, the same way in
    one band or many. (Measured when written: 15–25× at 512² RGB, 1.0 s → 0.05 s.)"""
    import time
    import zlib

    height, width = 96, 80
    samples = rng.integers(0, 65536, size=(height, width, 3)).astype(np.uint16)
    blob = _filtered_png16(samples, [4, 3] * (height // 2))
    (tmp_path / "p.png").write_bytes(blob)
    raw = zlib.decompress(blob[8 + 25 + 8:-12 - 4])  # the one IDAT's payload
    started = time.perf_counter()
    decoded = png16.read_png16(tmp_path / "p.png")
    vectorised = time.perf_counter() - started
    started = time.perf_counter()
    reference = _unfilter_per_pixel(raw, height, width * 6, 6)
    per_pixel = time.perf_counter() - started
    np.testing.assert_array_equal(decoded, samples)
    np.testing.assert_array_equal(reference.view(">u2").reshape(samples.shape), samples)
    assert per_pixel > 5 * vectorised, (per_pixel, vectorised)
    monkeypatch.setattr(png16, "_BAND_ROWS", 7)
    np.testing.assert_array_equal(png16.read_png16(tmp_path / "p.png"), samples)


# The pixel limit (--max-pixels) ------------------------------------------------------------


@pytest.fixture
def limit_of_600_pixels():
    from srkit.io.images import DEFAULT_MAX_PIXELS, set_max_pixels

    set_max_pixels(600)
    yield
    set_max_pixels(DEFAULT_MAX_PIXELS)


@pytest.mark.parametrize(("suffix", "bit_depth"), [
    (".png", 16), (".tif", 16), (".png", 8), (".tif", 8), (".jpg", 8), (".webp", 8)])
def test_pixel_limit_is_the_same_for_every_format(tmp_path: Path, rng, suffix, bit_depth,
                                                  limit_of_600_pixels) -> None:
    pixels = rng.random((30, 20, 3)).astype(np.float32)  # exactly 600 pixels: allowed
    at_limit = write_image(tmp_path / f"ok{suffix}", pixels, bit_depth=bit_depth)
    over = write_image(tmp_path / f"big{suffix}", pixels[:, :1].repeat(21, 1),
                       bit_depth=bit_depth)  # 630 pixels: refused
    assert read_image(at_limit).width == 20
    with pytest.raises(SrkitError, match="larger than the limit of 600 pixels"):
        read_image(over)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_images_are_refused_before_decoding(tmp_path: Path, rng, monkeypatch, suffix,
                                                  limit_of_600_pixels) -> None:
    import tifffile

    big = write_image(tmp_path / f"big{suffix}", rng.random((40, 40, 3)), bit_depth=16)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded an image past the pixel limit")

    monkeypatch.setattr(png16, "read_png16", no_decoding)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", no_decoding)
    with pytest.raises(SrkitError, match="larger than the limit"):
        read_image(big)


# Model files -------------------------------------------------------------------------------


def _load_error(path: Path) -> str:
    from srkit.io.checkpoints import load_model

    with pytest.raises(SrkitError) as caught:
        load_model(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message


def _with_arch_args(tmp_path: Path, source: Path, arch_args: str) -> Path:
    from safetensors.torch import save_file

    from srkit.io.checkpoints import read_safetensors

    state, metadata = read_safetensors(source)
    path = tmp_path / "edited.safetensors"
    save_file(state, str(path), metadata={**metadata, "srkit_arch_args": arch_args})
    return path


@pytest.mark.parametrize(("arch_args", "message"), [
    ('{"num_feat": 1000000, "num_conv": 2, "upscale": 2}', "num_feat=1000000 is out of range"),
    ('{"num_feat": 8, "num_conv": 1000000000, "upscale": 2}', "out of range"),
    ("[8, 2, 2]", "must be a JSON object, not list"),
    ('{"num_feat": [8], "num_conv": 2, "upscale": 2}', "num_feat must be an integer"),
    ('{"num_feat": 8, "num_conv": 2, "upscale": 2, "act_type": ["prelu"]}', "must be a string"),
    ('{"num_feat": 8, "num_conv": 2, "upscale": -2}', "upscale"),
    ('{"num_feat": 512, "num_conv": 2, "upscale": 2}', "the network expects"),
    ('{"num_feat": 8, "num_conv": 2, "upscale": 2, "num_heads": 4}', "unknown argument"),
])
def test_model_metadata_is_checked_before_a_network_is_built(tmp_path: Path, compact_file,
                                                             monkeypatch, arch_args,
                                                             message) -> None:
    import srkit.models

    real_build = srkit.models.build_model

    def build_on_meta_only(arch, **kwargs):
        if torch.empty(0).device.type != "meta":  # a real allocation: shapes must match
            assert kwargs == {"num_feat": 8, "num_conv": 2, "upscale": 2}, kwargs
        return real_build(arch, **kwargs)

    monkeypatch.setattr(srkit.models, "build_model", build_on_meta_only)
    assert message in _load_error(_with_arch_args(tmp_path, compact_file, arch_args))


def test_non_safetensors_bytes_under_a_safetensors_name(tmp_path: Path, compact_file) -> None:
    import pickle

    from srkit.io.checkpoints import read_safetensors

    state, _ = read_safetensors(compact_file)
    pickled = tmp_path / "pickled.safetensors"
    pickled.write_bytes(pickle.dumps({k: v.numpy() for k, v in state.items()}))
    zipped = tmp_path / "zipped.safetensors"
    torch.save(state, zipped)
    for path in (pickled, zipped):
        assert "not a safetensors file" in _load_error(path)
    good = compact_file.read_bytes()
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(good[:8] + b"{not json" + good[17:])
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good[: len(good) // 2])
    for path in (garbage, truncated):
        assert "not a readable safetensors file" in _load_error(path)


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_model_with_non_finite_weights_is_refused(tmp_path: Path, bad_value) -> None:
    args = {"num_feat": 8, "num_conv": 2, "upscale": 2}
    model = build_model("compact", **args)
    with torch.no_grad():
        model.body[2].weight[0, 0, 1, 1] = bad_value
    path = save_model(tmp_path / "diverged.safetensors", model, "compact", args, 2)
    torch.save(model.state_dict(), tmp_path / "diverged.pth")
    assert "body.2.weight holds NaN or infinite values" in _load_error(path)
    assert "NaN or infinite" in _load_error(tmp_path / "diverged.pth")


def test_same_model_same_bytes_across_processes(tmp_path: Path) -> None:
    """The safetensors library orders metadata by a per-process hash (10 keys here: two runs
    agree by chance about once in 3.6 million); srkit sorts it."""
    import subprocess
    import sys

    script = (
        "import sys, torch\n"
        "from srkit.io.checkpoints import save_model\n"
        "from srkit.models import build_model\n"
        "torch.manual_seed(0)\n"
        "args = {'num_feat': 4, 'num_conv': 1, 'upscale': 2}\n"
        "meta = {k: k * 2 for k in ('recipe', 'seed', 'iterations', 'weights', 'zeta', 'a')}\n"
        "save_model(sys.argv[1], build_model('compact', **args), 'compact', args, 2, meta)\n")
    paths = [tmp_path / f"run{i}.safetensors" for i in range(2)]
    for path in paths:
        subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    from srkit.io.checkpoints import load_model

    loaded = load_model(paths[0])
    assert loaded.metadata["zeta"] == "zetazeta" and loaded.arch_args["num_feat"] == 4


# CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def photo(tmp_path: Path, rng) -> Path:
    return write_image(tmp_path / "in" / "photo.png", rng.random((8, 10, 3)))


@pytest.mark.parametrize(("suffix", "beside", "in_folder"), [
    ("out", "photo_out.png", "photo_out.png"),
    ("_sr", "photo_sr.png", "photo_sr.png"),
    ("-sr", "photo-sr.png", "photo-sr.png"),
    (".x2", "photo.x2.png", "photo.x2.png"),
    (None, "photo_x2.png", "photo.png"),
])
def test_suffix_is_separated_from_the_name(tmp_path: Path, photo: Path, suffix, beside,
                                           in_folder) -> None:
    from srkit.stages.upscale import upscale

    beside_result = upscale([photo], None, 2, method="bicubic", suffix=suffix)
    folder_result = upscale([photo], tmp_path / "o", 2, method="bicubic", suffix=suffix)
    assert beside_result.outputs == [photo.with_name(beside)]
    assert folder_result.outputs == [tmp_path / "o" / in_folder]


def test_version_option() -> None:
    from typer.testing import CliRunner

    from srkit import __version__
    from srkit.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"srkit {__version__}\n"


@pytest.mark.parametrize("command", [
    ["upscale", "-x", "2", "--method", "bicubic", "-o", "{out}"],
    ["evaluate"],
    ["estimate-kernels", "-x", "2", "--pool", "{out}/kernels.h5"],
    ["collect-noise", "--pool", "{out}/noise.h5"],
], ids=lambda command: command[0])
def test_nothing_readable_exits_1_some_unreadable_exits_0(tmp_path: Path, photo: Path,
                                                          command) -> None:
    from typer.testing import CliRunner

    from srkit.cli import app

    broken = photo.parent / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    runner = CliRunner()
    args = [a.replace("{out}", str(tmp_path / "out")) for a in command]
    alone = runner.invoke(app, [args[0], str(broken), *args[1:], "-q"])
    assert alone.exit_code == 1 and isinstance(alone.exception, SrkitError), alone.output
    assert "every input was skipped: " in str(alone.exception)
    assert "broken.jpg" in str(alone.exception)
    args = [a.replace("{out}", str(tmp_path / "out2")) for a in command]
    some = runner.invoke(app, [args[0], str(photo.parent), *args[1:], "-q"])
    assert some.exit_code == 0, some.output


def test_degrade_refuses_its_own_output_as_input(tmp_path: Path) -> None:
    """``degrade OUT/hr -o OUT`` would rewrite its own sources (128 → 64 px): refused."""
    from srkit.stages.degrade import degrade

    write_image(tmp_path / "photos" / "a.png", np.full((64, 64, 3), 0.5, np.float32))
    degrade([tmp_path / "photos"], tmp_path / "out", 2, mode="bicubic")
    before = (tmp_path / "out" / "hr" / "a.png").read_bytes()
    with pytest.raises(SrkitError, match="inside the output folder"):
        degrade([tmp_path / "out" / "hr"], tmp_path / "out", 2, mode="bicubic")
    assert (tmp_path / "out" / "hr" / "a.png").read_bytes() == before


def test_train_sr_keeps_an_earlier_training_log(tmp_path: Path) -> None:
    from srkit.stages.train_sr import train_sr

    (tmp_path / "m.train.csv").write_text("iteration\n1\n")
    with pytest.raises(SrkitError, match="training log of an earlier run"):
        train_sr(tmp_path / "pairs", tmp_path / "m.safetensors", 2)
    assert (tmp_path / "m.train.csv").read_text() == "iteration\n1\n"


def test_save_kernels_never_replaces_a_file_it_did_not_make_in_this_pool(tmp_path: Path) -> None:
    from srkit.stages.estimate_kernels import estimate_kernels

    rng = np.random.default_rng(0)
    write_image(tmp_path / "photos" / "a.png", rng.uniform(0, 1, (64, 64, 3)).astype(np.float32))
    (tmp_path / "kernels").mkdir()
    mine = tmp_path / "kernels" / "a_x2_edge-gauss.png"
    mine.write_bytes(b"the user's own file")
    with pytest.raises(SrkitError, match="already exists and --save-kernels would replace it"):
        estimate_kernels(tmp_path / "photos", tmp_path / "pool.h5", 2, method="edge-gauss",
                         save_kernels=tmp_path / "kernels")
    assert mine.read_bytes() == b"the user's own file" and not (tmp_path / "pool.h5").exists()
    estimate_kernels(tmp_path / "photos", tmp_path / "pool.h5", 2, method="edge-gauss",
                     save_kernels=tmp_path / "kernels", redo=True)
    assert mine.read_bytes() != b"the user's own file"  # --redo: replaced, as asked
