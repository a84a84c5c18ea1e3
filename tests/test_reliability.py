"""Bad input and odd paths through the README's promises: 16 bits, bombs, model files, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

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
