"""Meta-SR at any factor: sizes, smoothness in r, exact tiling at r = 2.7, the training data of
a scale range (one factor per batch, anchored bicubic), train-sr -x 1.1-4 and its resume, and
srkit upscale -x 2.7 with such a model; the refusals of fixed-scale models and bad ranges."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from srkit.cli.app import app
from srkit.degradations.bicubic import bicubic_crop, bicubic_crop_any_scale
from srkit.errors import SrkitError
from srkit.io.checkpoints import load_model, save_model
from srkit.io.images import read_image, write_image
from srkit.models import build_model
from srkit.ops.resize import imresize
from srkit.patches import ScaleRangePatches
from srkit.scales import ScaleRange, parse_scale
from srkit.stages.train_sr import train_sr
from srkit.stages.upscale import run_model
from tests.interrupting import Killed, kill_at

META_SMALL = {"num_feat": 8, "num_block": 2, "num_layer": 2, "num_grow_ch": 4}
TINY = {"arch": "metasr", "arch_args": META_SMALL, "batch_size": 2, "patch_size": 40,
        "workers": 0, "device": "cpu", "log_every": 1, "bicubic": True}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _strong(model: torch.nn.Module) -> torch.nn.Module:
    """Full-strength random weights, so that far context matters (the default init hides
    it) and a tiling with too little context shows."""
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim > 1:
                fan_in = parameter[0].numel()
                parameter.normal_(0.0, math.sqrt(2.0 / fan_in))
    return model.eval()


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(3).random((23, 29, 3), dtype=np.float32)


@pytest.mark.parametrize("scale", [1.1, 1.5, 2.0, 2.35, 2.7, 3.3, 4.0])
def test_output_is_input_times_r_rounded(rgb, scale) -> None:
    model = build_model("metasr", **META_SMALL).eval()
    out = run_model(model, rgb, tile=10, scale=scale)
    assert out.shape == (math.floor(23 * scale + 0.5), math.floor(29 * scale + 0.5), 3)


def test_tiled_equals_untiled_at_2_7(rgb) -> None:
    model = _strong(build_model("metasr", **META_SMALL))
    whole = run_model(model, rgb, tile=0, scale=2.7)
    tiled = run_model(model, rgb, tile=7, scale=2.7)
    assert np.abs(tiled - whole).max() < 1e-5
    short = run_model(model, rgb, tile=7, tile_overlap=model.receptive_radius // 3, scale=2.7)
    assert np.abs(short - whole).max() > 1e-3  # the context is what makes it exact


def test_outputs_change_smoothly_with_the_scale() -> None:
    """Lowering r by δ moves every offset i/r − ⌊i/r⌋ by at most i·δ/r² (and never across
    a pixel edge), so the output moves by O(δ): ten times smaller δ, about ten times smaller
    change; and it does change (the MLP sees 1/r)."""
    model = _strong(build_model("metasr", **META_SMALL))
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        at = {r: model(x, r) for r in (2.5, 2.499, 2.49, 2.45)}
    assert {tuple(v.shape) for v in at.values()} == {(1, 3, 20, 20)}
    small, larger = ((at[r] - at[2.5]).abs().max().item() for r in (2.499, 2.49))
    farther = (at[2.45] - at[2.5]).abs().max().item()
    assert 0 < small < 0.2 * larger and larger < 0.3 * farther


def test_anchored_bicubic_is_the_whole_images_imresize() -> None:
    hr = np.random.default_rng(0).random((60, 75, 3)).astype(np.float32)
    whole = imresize(hr, 1 / 2.5)  # LR pixel u covers HR [2.5u, 2.5u + 2.5)
    np.testing.assert_allclose(bicubic_crop_any_scale(hr, 2.5, 5, 10, (12, 14)),
                               whole[2:14, 4:18], atol=1e-5)
    np.testing.assert_allclose(bicubic_crop_any_scale(hr, 2.5, 35, 45, (10, 12)),
                               whole[14:24, 18:30], atol=1e-5)  # at the bottom-right border
    np.testing.assert_allclose(bicubic_crop_any_scale(hr, 3, 9, 12, (10, 11)),
                               bicubic_crop(hr, 3, 3, 4, (10, 11)), atol=1e-5)


def test_scale_range_batches_have_one_factor_each() -> None:
    images = [np.random.default_rng(i).integers(0, 256, (90, 100, 3), dtype=np.uint8)
              for i in range(3)]
    scales = ScaleRange(1.1, 4.0)
    dataset = ScaleRangePatches(images, scales, 20, batch_size=3, seed=5)
    again = ScaleRangePatches(images, scales, 20, batch_size=3, seed=5)
    drawn = []
    for batch in range(40):
        samples = [dataset[batch * 3 + k] for k in range(3)]
        factor = float(samples[0][2])
        assert all(float(s[2]) == factor for s in samples)
        assert all(s[0].shape == (3, 20, 20) for s in samples)
        assert all(s[1].shape == (3, round(20 * factor), round(20 * factor)) for s in samples)
        drawn.append(factor)
    assert set(drawn) <= set(scales.values) and len(set(drawn)) > 15
    assert torch.equal(dataset[31][1], again[31][1])  # a function of seed and index alone
    assert ScaleRange(1.1, 4.0).values[16] == 2.7 and len(scales.values) == 30


@pytest.mark.parametrize(("text", "expected"), [("4", 4), ("1.1-4", ScaleRange(1.1, 4.0)),
                                                 (" 2-3.5", ScaleRange(2.0, 3.5))])
def test_parse_scale(text, expected) -> None:
    assert parse_scale(text) == expected


@pytest.mark.parametrize("text", ["5-1", "2.7", "1.15-4", "0.5-2", "1-20", "x", "0"])
def test_parse_scale_refuses(text) -> None:
    with pytest.raises(SrkitError):
        parse_scale(text)


@pytest.fixture
def hr_dir(tmp_path, astronaut, chelsea) -> Path:
    folder = tmp_path / "hr"
    write_image(folder / "astronaut.png", astronaut[100:196, 150:250])
    write_image(folder / "chelsea.png", chelsea[50:146, 100:196])
    return folder


def test_train_over_a_range_resumes_bit_for_bit(tmp_path, hr_dir) -> None:
    args = {**TINY, "hr": hr_dir, "iters": 6, "seed": 2, "save_every": 3}
    straight = tmp_path / "straight.safetensors"
    result = train_sr(None, straight, ScaleRange(1.1, 4.0), **args)
    assert result.scale == 4 and result.scale_range == [1.1, 4.0]
    killed = tmp_path / "killed.safetensors"
    with pytest.raises(Killed):  # dies at 5: the work after the save at 3 is lost
        train_sr(None, killed, ScaleRange(1.1, 4.0), **args, callback=kill_at(5))
    resumed = train_sr(None, killed, ScaleRange(1.1, 4.0), **args, resume=True)
    assert (resumed.start_iteration, resumed.iterations) == (3, 6)
    expected, got = load_file(straight), load_file(killed)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    loaded = load_model(straight)
    assert json.loads(loaded.metadata["scale_range"]) == [1.1, 4.0] and loaded.scale == 4
    with pytest.raises(SrkitError, match="cannot resume with different .*scales"):
        train_sr(None, killed, ScaleRange(1.1, 3.0), **args, resume=True)


@pytest.mark.parametrize(("extra", "message"), [
    ({"arch": "compact", "arch_args": {"num_feat": 8, "num_conv": 2}}, "--arch metasr"),
    ({"bicubic": False, "synthetic": True}, "random pipeline"),
    ({"recipe": "esrgan", "overrides": {"perceptual_weight": 0.0}}, "discriminator"),
])
def test_a_range_refuses_what_has_one_scale(tmp_path, hr_dir, extra, message) -> None:
    with pytest.raises(SrkitError, match=message):
        train_sr(None, tmp_path / "m.safetensors", ScaleRange(1.1, 4.0),
                 **{**TINY, "hr": hr_dir, "iters": 1, **extra})


@pytest.fixture
def meta_file(tmp_path) -> Path:
    model = _strong(build_model("metasr", **META_SMALL, scale=4))
    path = tmp_path / "meta.safetensors"
    save_model(path, model, "metasr", {**META_SMALL, "scale": 4}, 4,
               {"scale_range": json.dumps([1.1, 4.0])})
    return path


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_upscale_runs_a_range_model_natively_at_2_7(tmp_path, meta_file) -> None:
    photo = tmp_path / "p.png"
    write_image(photo, np.random.default_rng(0).random((21, 26, 3), dtype=np.float32))
    result = _cli("upscale", photo, "-x", "2.7", "--model", meta_file, "--tile", "8",
                  "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "out.png").rgb
    assert out.shape == (57, 70, 3)  # round(21·2.7) = 57, round(26·2.7) = 70
    direct = run_model(load_model(meta_file).model, read_image(photo).rgb, tile=0, scale=2.7)
    assert np.abs(out - direct).max() <= 1 / 255 + 1e-6  # the 8-bit file, no resize


def test_api_takes_a_float_scale(meta_file) -> None:
    import srkit

    image = np.random.default_rng(0).integers(0, 256, (12, 15, 3), dtype=np.uint8)
    assert srkit.upscale_image(image, str(meta_file), 1.5).shape == (18, 23, 3)
    with pytest.raises(SrkitError, match="non-integer factor needs an arbitrary-scale"):
        srkit.upscale_image(image, build_model("compact", num_feat=8, num_conv=2,
                                               upscale=2), 2.7)


def _one_error_line(result, code: int, words: str) -> None:
    """Exit 2: click's one ``error:`` line on stderr; exit 1: an SrkitError, which the
    entry point prints as one line (tests/test_cli.py checks that path)."""
    assert result.exit_code == code, result.output
    if code == 1:
        assert isinstance(result.exception, SrkitError) and words in str(result.exception)
        assert "\n" not in str(result.exception)
        return
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], lines
    assert "Traceback" not in result.stderr


def test_bad_scales_are_one_line(tmp_path, hr_dir) -> None:
    photo = tmp_path / "p.png"
    write_image(photo, np.zeros((8, 8, 3), np.float32))
    fixed = tmp_path / "fixed.safetensors"
    save_model(fixed, build_model("compact", num_feat=8, num_conv=2, upscale=2), "compact",
               {"num_feat": 8, "num_conv": 2, "upscale": 2}, 2)
    _one_error_line(_cli("upscale", photo, "-x", "2.7", "--model", fixed, "-o",
                         tmp_path / "o.png"), 1, "a ×2 model, but -x 2.7")
    shell = subprocess.run([sys.executable, "-m", "srkit", "upscale", str(photo), "-x", "2.7",
                            "--model", str(fixed), "-o", str(tmp_path / "o.png")],
                           capture_output=True, text=True)
    lines = [line for line in shell.stderr.splitlines() if line.strip()]
    assert shell.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), lines
    out = tmp_path / "m.safetensors"
    _one_error_line(_cli("train-sr", "-o", out, "--hr", hr_dir, "--bicubic", "-x", "1.1-4",
                         "--arch", "compact", "--iters", "1"), 1, "--arch metasr")
    _one_error_line(_cli("train-sr", "-o", out, "--hr", hr_dir, "--bicubic", "-x", "5-1",
                         "--arch", "metasr"), 2, "'-x'")
    _one_error_line(_cli("train-sr", "-o", out, tmp_path, "-x", "1.1-4", "--arch", "metasr"),
                    1, "a pair folder holds pairs at one integer factor")
    assert not out.exists()
