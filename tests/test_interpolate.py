"""Network interpolation: `srkit models interpolate` and `srkit upscale --denoise-strength`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.checkpoints import interpolate_models, load_model, save_model
from srkit.io.images import read_image, write_image
from srkit.models import build_model
from srkit.modelzoo import read_safetensors_header

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")
ARGS = {"num_feat": 8, "num_conv": 2, "upscale": 2}


def _model(path: Path, seed: int, arch: str = "compact", **args) -> Path:
    torch.manual_seed(seed)
    args = args or ARGS
    model = build_model(arch, **args)
    scale = args.get("upscale", args.get("scale"))
    return save_model(path, model, arch, args, scale, {"iterations": "100"})


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return _model(tmp_path / "a.safetensors", 0), _model(tmp_path / "b.safetensors", 1)


def _blend(tmp_path: Path, a: Path, b: Path, alpha: float) -> dict[str, torch.Tensor]:
    out = tmp_path / f"blend_{alpha}.safetensors"
    result = runner.invoke(app, ["models", "interpolate", str(a), str(b), "--alpha",
                                 str(alpha), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    return load_model(out).model.state_dict()


def test_alpha_0_1_and_half_give_a_b_and_the_mean(tmp_path: Path, pair) -> None:
    a, b = (load_model(p).model.state_dict() for p in pair)
    for key, value in _blend(tmp_path, *pair, 0.0).items():
        assert torch.equal(value, a[key]), key
    for key, value in _blend(tmp_path, *pair, 1.0).items():
        assert torch.equal(value, b[key]), key
    for key, value in _blend(tmp_path, *pair, 0.5).items():
        torch.testing.assert_close(value, (a[key] + b[key]) / 2, atol=1e-7, rtol=0)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the two models do differ


def test_the_blend_is_a_normal_model_file_that_records_it(tmp_path: Path, pair) -> None:
    _blend(tmp_path, *pair, 0.3)
    metadata, _ = read_safetensors_header(tmp_path / "blend_0.3.safetensors")
    assert metadata["srkit_arch"] == "compact" and metadata["srkit_scale"] == "2"
    assert json.loads(metadata["interpolation"]) == {"a": "a.safetensors",
                                                      "b": "b.safetensors", "alpha": 0.3}
    assert "iterations" not in metadata  # A's training record does not describe the blend


@pytest.mark.parametrize(("arch", "args", "what"), [
    ("compact", {"num_feat": 8, "num_conv": 3, "upscale": 2}, "arch args"),
    ("compact", {"num_feat": 8, "num_conv": 2, "upscale": 3}, "scale"),
    ("srresnet", {"num_feat": 8, "num_block": 1, "upscale": 2}, "architecture"),
])
def test_incompatible_models_are_a_one_line_error(tmp_path: Path, pair, arch, args,
                                                  what) -> None:
    other = _model(tmp_path / "other.safetensors", 2, arch, **args)
    result = runner.invoke(app, ["models", "interpolate", str(pair[0]), str(other),
                                 "--alpha", "0.5", "-o", str(tmp_path / "c.safetensors")])
    assert result.exit_code == 1 and isinstance(result.exception, SrkitError)
    message = str(result.exception)
    assert f"different {what}" in message and "\n" not in message
    assert not (tmp_path / "c.safetensors").exists()


def test_interpolate_option_errors(tmp_path: Path, pair) -> None:
    base = ["models", "interpolate", str(pair[0]), str(pair[1])]
    assert runner.invoke(app, [*base, "--alpha", "1.5", "-o", "c.safetensors"]).exit_code == 2
    over = runner.invoke(app, [*base, "--alpha", "0.5", "-o", str(pair[0])])
    assert over.exit_code == 1 and "overwrite" in str(over.exception)
    suffix = runner.invoke(app, [*base, "--alpha", "0.5", "-o", str(tmp_path / "c.pth")])
    assert suffix.exit_code == 1 and ".safetensors" in str(suffix.exception)
    with pytest.raises(SrkitError, match=r"\[0, 1\]"):
        interpolate_models(load_model(pair[0]), load_model(pair[1]), -0.1)


def test_denoise_strength_follows_real_esrgan(tmp_path: Path, pair, astronaut) -> None:
    """Strength 1: --model alone; 0: --denoise-model alone; S: the (S, 1 − S) blend."""
    photo = write_image(tmp_path / "p.png", astronaut[100:116, 200:220])
    model_a, model_b = pair

    def run(name: str, *args: str) -> np.ndarray:
        out = tmp_path / f"{name}.png"
        result = runner.invoke(app, ["upscale", str(photo), "-o", str(out), "-q", *args])
        assert result.exit_code == 0, result.output
        return read_image(out).rgb

    only_a, only_b = run("a", "-m", str(model_a)), run("b", "-m", str(model_b))
    denoise = ["-m", str(model_a), "--denoise-model", str(model_b)]
    assert np.array_equal(run("s1", *denoise, "--denoise-strength", "1"), only_a)
    assert np.array_equal(run("s0", *denoise, "--denoise-strength", "0"), only_b)
    _blend(tmp_path, model_a, model_b, 0.25)  # weight 0.25 of B = strength 0.75
    blended = run("blend", "-m", str(tmp_path / "blend_0.25.safetensors"))
    assert np.array_equal(run("s75", *denoise, "--denoise-strength", "0.75"), blended)
    assert not np.array_equal(blended, only_a)
    lonely = runner.invoke(app, ["upscale", str(photo), "-m", str(model_a),
                                 "--denoise-strength", "0.5", "-o", str(tmp_path / "x.png")])
    assert lonely.exit_code == 1 and "--denoise-model" in str(lonely.exception)
