"""Tiles straight into output samples: the same bytes as the whole-image path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srkit.io import png16
from srkit.io.checkpoints import load_model, save_model
from srkit.io.images import read_image, save_like
from srkit.models import build_model
from srkit.ops.tiling import pad_to_multiple
from srkit.stages.upscale import enlarge_image, upscale
from srkit.stages.upscale_tiles import compact, padded_indices


def test_compact_keeps_exact_samples_only() -> None:
    samples = np.arange(256, dtype=np.uint8).reshape(16, 16)
    held, peak = compact(samples.astype(np.float32) / 255.0)
    assert peak == 255 and held.dtype == np.uint8 and np.array_equal(held, samples)
    deep = np.arange(0, 65536, 7, dtype=np.uint16)[:9000].reshape(90, 100)
    held, peak = compact(deep.astype(np.float32) / 65535.0, (16, 8))
    assert peak == 65535 and np.array_equal(held, deep)
    values = np.full((4, 4), 0.3, dtype=np.float32)  # not k / 255 nor k / 65535
    held, peak = compact(values)
    assert peak is None and held is values


@pytest.mark.parametrize(("height", "width", "multiple"), [(10, 7, 4), (3, 2, 4), (8, 8, 4)])
def test_padded_indices_match_pad_to_multiple(height: int, width: int, multiple: int) -> None:
    image = torch.arange(height * width, dtype=torch.float32).reshape(1, 1, height, width)
    padded = pad_to_multiple(image, multiple)[0, 0].numpy()
    ph, pw = padded.shape
    reflect = ph - height < height and pw - width < width
    rows = padded_indices(height, ph, reflect, 0, ph)
    cols = padded_indices(width, pw, reflect, 0, pw)
    assert np.array_equal(image[0, 0].numpy()[rows][:, cols], padded)


@pytest.fixture
def tiny_x4(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    args = {"num_feat": 8, "num_conv": 2, "upscale": 4}
    return save_model(tmp_path / "tiny_x4.safetensors", build_model("compact", **args),
                      "compact", args, 4)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rgba8", "grey_alpha8", "rgb16", "rgba16", "grey8"])
@pytest.mark.parametrize("alpha_mode", ["bicubic", "model"])
def test_streamed_output_equals_whole_image_path(tmp_path: Path, tiny_x4: Path, kind: str,
                                                 alpha_mode: str) -> None:
    rng = np.random.default_rng(3)
    channels = {"rgba8": 4, "grey_alpha8": 2, "rgb16": 3, "rgba16": 4, "grey8": 1}[kind]
    deep = kind.endswith("16")
    samples = rng.integers(0, 65536 if deep else 256, (21, 30, channels),
                           dtype=np.uint16 if deep else np.uint8)
    source = tmp_path / f"{kind}.png"
    png16.write_png(source, samples)
    out = tmp_path / "streamed.png"
    upscale([source], out, model=tiny_x4, tile=8, alpha_mode=alpha_mode)
    image = read_image(source)
    loaded = load_model(tiny_x4)
    from srkit.stages.upscale_tiles import prepare

    prepare(loaded.model)
    # the same tiles: the same convolutions, so the same bytes (an untiled run differs in
    # the last bit of float32 on some CPUs, AMD EPYC here, enough to change 16-bit samples)
    rgb, alpha = enlarge_image(image, model=loaded, tile=8, alpha_mode=alpha_mode)
    save_like(tmp_path / "whole.png", image, rgb, alpha)
    read = png16.read_png16 if deep and channels > 1 else (lambda p: np.asarray(Image.open(p)))
    streamed, whole = read(out), read(tmp_path / "whole.png")
    assert streamed.shape[:2] == (84, 120)
    assert np.array_equal(streamed, whole)
    assert np.abs(streamed.astype(int) - int(streamed.mean())).max() > 0  # not constant
