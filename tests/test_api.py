"""srkit.load_model / srkit.upscale_image: arrays and PIL images in memory, and the README."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srkit
from srkit.errors import SrkitError
from srkit.io.checkpoints import load_model, save_model
from srkit.io.images import read_image, write_image
from srkit.models import build_model
from srkit.ops.resize import imresize
from srkit.stages.upscale import run_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def compact(tmp_path: Path):
    torch.manual_seed(0)
    args = {"num_feat": 8, "num_conv": 2, "upscale": 2}
    path = save_model(tmp_path / "c.safetensors", build_model("compact", **args), "compact",
                      args, 2)
    return load_model(path)


@pytest.fixture
def rgb(astronaut) -> np.ndarray:
    return np.ascontiguousarray(astronaut[200:216, 180:204])  # float32 (16, 24, 3)


def test_load_model_by_shipped_name_and_by_path(tmp_path: Path, compact) -> None:
    shipped = srkit.load_model("general_x2", device="cpu")
    assert shipped.scale == 2 and shipped.arch == "compact"
    path = save_model(tmp_path / "again.safetensors", compact.model, "compact",
                      compact.arch_args, 2)
    assert srkit.load_model(str(path)).arch_args == compact.arch_args
    with pytest.raises(SrkitError, match="known model name"):
        srkit.load_model("no_such_model")


def test_float_rgb_gives_what_run_model_gives(compact, rgb) -> None:
    out = srkit.upscale_image(rgb.astype(np.float64), compact, tile=8)
    assert out.dtype == np.float32 and out.shape == (32, 48, 3)
    np.testing.assert_allclose(out, run_model(compact.model, rgb, tile=0), atol=1e-6)


def test_uint8_array_matches_the_file_path(tmp_path: Path, compact, rgb) -> None:
    pixels = np.round(rgb * 255).astype(np.uint8)
    photo = write_image(tmp_path / "in.png", rgb)
    model_file = save_model(tmp_path / "m.safetensors", compact.model, "compact",
                            compact.arch_args, 2)
    written = srkit.upscale(photo, tmp_path / "out.png", model=model_file).outputs[0]
    out = srkit.upscale_image(pixels, compact)
    assert out.dtype == np.uint8
    assert np.array_equal(out, np.round(read_image(written).rgb * 255).astype(np.uint8))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [0, 1, 2, 3, 4])
def test_layout_and_dtype_come_back(compact, rgb, dtype, channels) -> None:
    alpha = np.tile(np.linspace(0, 1, 24, dtype=np.float32), (16, 1))
    planes = {0: rgb.mean(axis=2), 1: rgb.mean(axis=2, keepdims=True),
              2: np.dstack([rgb.mean(axis=2), alpha]), 3: rgb, 4: np.dstack([rgb, alpha])}
    values = planes[channels]
    peak = {np.uint8: 255, np.uint16: 65535}.get(dtype)
    image = values.astype(np.float32) if peak is None else np.round(values * peak).astype(dtype)
    out = srkit.upscale_image(image, compact)
    assert out.dtype == (np.float32 if peak is None else dtype)
    assert out.shape == (32, 48, *image.shape[2:])
    if channels in (2, 4):  # alpha is bicubic by default
        expected = np.clip(imresize(alpha, 2), 0, 1)
        got = out[..., -1] / (peak or 1)
        assert np.abs(got - expected).max() <= 1 / 255


def test_grey_is_the_mean_of_the_rgb_run(compact, rgb) -> None:
    grey = rgb.mean(axis=2)
    expected = run_model(compact.model, np.repeat(grey[..., None], 3, axis=2)).mean(axis=2)
    np.testing.assert_allclose(srkit.upscale_image(grey, compact), np.clip(expected, 0, 1),
                               atol=1e-6)


def test_alpha_mode_model_runs_alpha_through_the_network(compact, rgb) -> None:
    alpha = np.tile(np.linspace(0, 1, 24, dtype=np.float32), (16, 1))
    out = srkit.upscale_image(np.dstack([rgb, alpha]), compact, alpha_mode="model")
    grey = np.repeat(alpha[..., None], 3, axis=2)
    expected = np.clip(run_model(compact.model, grey).mean(axis=2), 0, 1)
    np.testing.assert_allclose(out[..., 3], expected, atol=1e-6)
    bicubic = srkit.upscale_image(np.dstack([rgb, alpha]), compact)
    assert np.abs(bicubic[..., 3] - expected).max() > 1e-3  # the mode makes a difference
    np.testing.assert_array_equal(bicubic[..., :3], out[..., :3])


@pytest.mark.parametrize(("mode", "returned"), [
    ("RGB", "RGB"), ("RGBA", "RGBA"), ("L", "L"), ("LA", "LA"), ("I;16", "I;16"),
    ("P", "RGB"), ("1", "L")])
def test_pil_in_pil_out(compact, rgb, mode, returned) -> None:
    pil = Image.fromarray(np.round(rgb * 255).astype(np.uint8)).convert(mode)
    if mode == "I;16":
        pil = Image.fromarray(np.round(rgb.mean(axis=2) * 65535).astype(np.uint16))
    out = srkit.upscale_image(pil, compact)
    assert isinstance(out, Image.Image) and out.mode == returned and out.size == (48, 32)


def test_default_model_of_a_scale_and_baselines(rgb) -> None:
    pixels = np.round(rgb * 255).astype(np.uint8)
    assert srkit.upscale_image(pixels, scale=2).shape == (32, 48, 3)  # shipped general_x2
    bicubic = srkit.upscale_image(rgb, method="bicubic", scale=3)
    np.testing.assert_allclose(bicubic, np.clip(imresize(rgb, 3), 0, 1), atol=1e-6)
    lanczos = srkit.upscale_image(rgb, method="lanczos", outscale=1.5)
    assert lanczos.shape == (24, 36, 3)


@pytest.mark.parametrize(("image", "kwargs", "message"), [
    (np.zeros((3, 16, 24), np.float32), {}, "channels last"),
    (np.zeros((16, 24, 5), np.float32), {}, "C = 1, 2, 3 or 4"),
    (np.zeros((16, 24, 3), np.int64), {}, "uint8, uint16 or float"),
    (np.full((16, 24, 3), 255.0), {}, r"\[0, 1\]"),
    (np.full((16, 24, 3), np.nan), {}, r"\[0, 1\]"),
    ([[0, 1]], {}, "numpy array or a PIL image"),
    (torch.zeros(16, 24, 3), {}, "numpy array or a PIL image"),
    (np.zeros((16, 24, 3), np.uint8), {"scale": 4}, "outscale=4"),
    (np.zeros((16, 24, 3), np.uint8), {"method": "bicubic"}, "needs scale"),
    (np.zeros((16, 24, 3), np.uint8), {"method": "nearest"}, "unknown method"),
    (np.zeros((16, 24, 3), np.uint8), {"alpha_mode": "x"}, "unknown alpha_mode"),
])
def test_bad_inputs_are_one_line_srkit_errors(compact, image, kwargs, message) -> None:
    with pytest.raises(SrkitError, match=message) as error:
        srkit.upscale_image(image, compact, **kwargs) if "method" not in kwargs else \
            srkit.upscale_image(image, **kwargs)
    assert "\n" not in str(error.value)


def test_run_model_refuses_uint8_and_out_of_range(compact, rgb) -> None:
    with pytest.raises(SrkitError, match="uint8"):
        run_model(compact.model, np.round(rgb * 255).astype(np.uint8))
    with pytest.raises(SrkitError, match=r"\[0, 1\]"):
        run_model(compact.model, rgb * 255)
    with pytest.raises(SrkitError, match=r"\(H, W, 3\)"):
        run_model(compact.model, rgb[..., 0])


def test_readme_api_example_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    text = README.read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "README has no python block under '## Python API'"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
