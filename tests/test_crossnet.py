"""CrossNet: the cross-scale warp, the network's sizes, gradients, save/load, upscale --ref."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.checkpoints import load_model, save_model
from srkit.io.images import read_image, write_image
from srkit.models import build_model
from srkit.models.crossnet import warp
from srkit.stages.upscale import upscale

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ARGS = {"num_feat": 4, "flow_feat": 2}


def test_a_constant_flow_shifts_the_features_and_zero_flow_is_the_identity() -> None:
    generator = torch.Generator().manual_seed(0)
    features = torch.rand(2, 3, 9, 11, generator=generator, dtype=torch.float64)
    dx, dy = 3, -2
    flow = torch.zeros(2, 2, 9, 11, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = dx, dy
    warped = warp(features, flow)
    # warped[y, x] = features[y + dy, x + dx] wherever that lies inside (rows 2.., cols ..7)
    assert torch.allclose(warped[..., 2:, :8], features[..., :7, 3:], atol=1e-9)
    # outside, border padding repeats the edge: the last column for x + dx > 10
    assert torch.allclose(warped[..., 2:, 8:], features[..., :7, 10:11].expand(-1, -1, -1, 3),
                          atol=1e-9)
    assert torch.allclose(warp(features, torch.zeros_like(flow)), features, atol=1e-12)
    # a half-pixel flow is bilinear: the mean of the two neighbours
    flow[:, 0], flow[:, 1] = 0.5, 0.0
    half = warp(features, flow)
    assert torch.allclose(half[..., :10], (features[..., :10] + features[..., 1:]) / 2,
                          atol=1e-9)
    with pytest.raises(SrkitError, match="warp: a flow of shape"):
        warp(features, flow[:, :1])


@pytest.mark.parametrize("size", [(5, 7), (9, 3)])
def test_output_is_four_times_odd_sizes_with_and_without_a_reference(size) -> None:
    torch.manual_seed(0)
    model = build_model("crossnet", **ARGS).eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        out = model(x, torch.rand(1, 3, 13, 17))
        single = model(x)
        other = model(x, torch.rand(2, 3, 4 * size[0], 4 * size[1]))
    assert out.shape == single.shape == other.shape == (2, 3, 4 * size[0], 4 * size[1])
    assert not torch.allclose(out, other)  # the reference matters
    # the reference is resized to the HR size: one already that size is used as is
    ref = torch.rand(1, 3, 4 * size[0], 4 * size[1])
    with torch.no_grad():
        assert torch.equal(model(x[:1], ref), model(x[:1], ref.clone()))


def test_bad_references_and_arguments_are_one_line_errors() -> None:
    model = build_model("crossnet", **ARGS)
    x = torch.rand(1, 3, 6, 6)
    with pytest.raises(SrkitError, match=r"a reference of 7×20 is too small for crossnet"):
        model(x, torch.rand(1, 3, 20, 7))
    with pytest.raises(SrkitError, match="3 references for 2 images"):
        model(torch.rand(2, 3, 6, 6), torch.rand(3, 3, 16, 16))
    with pytest.raises(SrkitError, match="a reference must be"):
        model(x, torch.rand(1, 1, 16, 16))
    with pytest.raises(SrkitError, match="×4 network"):
        build_model("crossnet", upscale=2)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = build_model("crossnet", **ARGS)
    out = model(torch.rand(1, 3, 5, 6), torch.rand(1, 3, 24, 20))
    (out - torch.rand_like(out)).abs().mean().backward()
    missing = [name for name, p in model.named_parameters()
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_save_load_gives_equal_outputs(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("crossnet", **ARGS).eval()
    path = save_model(tmp_path / "crossnet.safetensors", model, "crossnet", ARGS, 4)
    loaded = load_model(path, torch.device("cpu"))
    assert loaded.arch == "crossnet" and loaded.scale == 4
    x, ref = torch.rand(1, 3, 7, 5), torch.rand(1, 3, 30, 22)
    with torch.no_grad():
        assert torch.equal(loaded.model(x, ref), model(x, ref))


def _photo(path: Path, seed: int, size: tuple[int, int]) -> Path:
    write_image(path, np.random.default_rng(seed).random((*size, 3)).astype(np.float32))
    return path


def test_upscale_with_a_reference_runs_crossnet(tmp_path) -> None:
    torch.manual_seed(0)
    model_path = save_model(tmp_path / "c.safetensors", build_model("crossnet", **ARGS),
                            "crossnet", ARGS, 4)
    photo = _photo(tmp_path / "photo.png", 0, (7, 9))
    ref = _photo(tmp_path / "ref.png", 1, (20, 30))
    out = tmp_path / "out.png"
    runner = CliRunner()
    result = runner.invoke(app, ["upscale", str(photo), "--ref", str(ref), "--model",
                                 str(model_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = read_image(out).rgb
    network = load_model(model_path, torch.device("cpu")).model
    with torch.no_grad():
        expected = network(torch.from_numpy(read_image(photo).rgb.transpose(2, 0, 1))[None],
                           torch.from_numpy(read_image(ref).rgb.transpose(2, 0, 1))[None])
    expected = expected.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert written.shape == (28, 36, 3)
    assert np.abs(written - expected).max() <= 0.5 / 255 + 1e-6
    tiny = _photo(tmp_path / "tiny.png", 2, (6, 30))
    with pytest.raises(SrkitError, match=r"tiny.png: a reference of 30×6 is too small"):
        upscale(photo, tmp_path / "bad.png", model=model_path, ref=tiny)
