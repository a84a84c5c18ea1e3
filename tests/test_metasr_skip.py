"""Meta-RDN's input skip (``input_skip=True``, srkit's addition): with the Meta-Upscale
weights zeroed the output is the input at the projected pixels and nothing else; tiling stays
exact at r = 2.7; model files keep the argument (and old files load without it); gradients
reach every parameter; train-sr --arch-arg input_skip=true writes it."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.nn import functional as F
from typer.testing import CliRunner

from srkit.cli.app import app
from srkit.io.checkpoints import load_model, save_model
from srkit.io.images import write_image
from srkit.models import build_model
from srkit.models.metasr import DIV2K_RGB_MEAN, projected_input, projection
from srkit.ops.tiling import upscale_tiled_any_scale

META_SMALL = {"num_feat": 8, "num_block": 2, "num_layer": 2, "num_grow_ch": 4}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _strong(model: torch.nn.Module) -> torch.nn.Module:
    """Full-strength random weights, so that far context matters (the default init hides it)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim > 1:
                parameter.normal_(0.0, math.sqrt(2.0 / parameter[0].numel()))
    return model.eval()


def _zero_upscale(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for parameter in model.upsample.parameters():
            parameter.zero_()
    return model.eval()


def _image(height: int = 11, width: int = 13, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("scale", [1.5, 2.0, 2.7, 3.0, 3.3, 4.0])
def test_zeroed_upscale_leaves_the_projected_input(scale) -> None:
    """Output (i, j) = input (⌊i/r⌋, ⌊j/r⌋), built here from projection() pixel by pixel."""
    model = _zero_upscale(_strong(build_model("metasr", **META_SMALL, input_skip=True)))
    x = _image()
    with torch.no_grad():
        out = model(x, scale)
    rows, cols = projection(11, scale)[0], projection(13, scale)[0]
    expected = torch.stack([torch.stack([x[0, :, u, v] for v in cols.tolist()], -1)
                            for u in rows.tolist()], -2)[None]
    assert torch.equal(out, expected)  # the input's values exactly: no mean, no residual
    assert torch.equal(projected_input(x, scale), expected)
    if scale == int(scale):
        assert torch.equal(out, F.interpolate(x, scale_factor=scale, mode="nearest"))


def test_without_the_skip_a_zeroed_upscale_leaves_the_mean() -> None:
    """The paper's network (the default): nothing of the input reaches the output directly."""
    model = _zero_upscale(_strong(build_model("metasr", **META_SMALL)))
    with torch.no_grad():
        out = model(_image(), 2.7)
    mean = torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1).expand_as(out)
    assert torch.equal(out, mean)


def _tiled(model: torch.nn.Module, x: torch.Tensor, scale: float, tile: int,
           overlap: int) -> torch.Tensor:
    with torch.no_grad():
        return upscale_tiled_any_scale(
            lambda window, region: model.upscale_region(window, scale, region), x, scale,
            tile, overlap)


def test_tiled_equals_untiled_with_the_skip_at_2_7() -> None:
    model = _strong(build_model("metasr", **META_SMALL, input_skip=True))
    x = _image(23, 29, seed=3)
    with torch.no_grad():
        whole = model(x, 2.7)
    tiled = _tiled(model, x, 2.7, tile=5, overlap=model.receptive_radius)
    assert tiled.shape == whole.shape == (1, 3, 62, 78)
    assert (tiled - whole).abs().max().item() < 1e-5
    # The skip itself reads only the projected pixel, so it is exact without any context.
    skip_only = _zero_upscale(model)
    with torch.no_grad():
        assert torch.equal(_tiled(skip_only, x, 2.7, tile=4, overlap=0), skip_only(x, 2.7))


def test_the_skip_is_saved_and_old_files_load_without_it(tmp_path) -> None:
    x = _image()
    skip = _strong(build_model("metasr", **META_SMALL, input_skip=True))
    path = tmp_path / "skip.safetensors"
    save_model(path, skip, "metasr", {**META_SMALL, "input_skip": True}, 4)
    loaded = load_model(path)
    assert loaded.model.input_skip and loaded.arch_args["input_skip"] is True
    with torch.no_grad():
        assert torch.equal(loaded.model(x, 2.7), skip(x, 2.7))
    # A file written before the argument existed: no input_skip in its arch args.
    old = tmp_path / "old.safetensors"
    plain = _strong(build_model("metasr", **META_SMALL))
    save_model(old, plain, "metasr", dict(META_SMALL), 4)
    loaded_old = load_model(old)
    assert "input_skip" not in json.loads(loaded_old.metadata["srkit_arch_args"])
    assert not loaded_old.model.input_skip
    with torch.no_grad():
        assert torch.equal(loaded_old.model(x, 2.7), plain(x, 2.7))
    assert loaded_old.model.state_dict().keys() == loaded.model.state_dict().keys()


def test_gradients_reach_every_parameter_with_the_skip() -> None:
    model = build_model("metasr", **META_SMALL, input_skip=True).train()
    model(_image(), 2.7).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_train_sr_arch_arg_input_skip(tmp_path, astronaut) -> None:
    hr = tmp_path / "hr"
    write_image(hr / "a.png", astronaut[100:196, 150:250])
    out = tmp_path / "m.safetensors"
    args = ["train-sr", "-o", out, "--hr", hr, "--bicubic", "-x", "1.1-4", "--arch", "metasr",
            "--iters", "1", "--batch-size", "2", "--patch-size", "40", "--workers", "0",
            "--device", "cpu", "--arch-arg", "input_skip=true"]
    for key, value in META_SMALL.items():
        args += ["--arch-arg", f"{key}={value}"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    loaded = load_model(out)
    assert loaded.arch_args["input_skip"] is True and loaded.model.input_skip
