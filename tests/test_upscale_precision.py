"""``upscale --precision bf16``: the network under bf16 autocast, float32 unless asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import srkit
from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.images import read_image, write_image
from srkit.models import build_model
from srkit.stages import upscale_tiles
from srkit.stages.upscale_tiles import network_runner

runner = CliRunner()


def _net():
    return build_model("compact", num_feat=16, num_conv=4, upscale=2).eval()


def test_the_bf16_runner_stays_within_two_8_bit_levels_of_float32(astronaut) -> None:
    import torch

    torch.manual_seed(0)
    net = _net()
    rgb = astronaut[:48, :64].astype(np.float32)
    with torch.inference_mode():
        exact, fast = network_runner(net)(rgb), network_runner(net, bf16=True)(rgb)
    levels = np.abs(np.round(exact * 255) - np.round(fast * 255))
    assert levels.max() <= 2 and levels.mean() < 0.5
    assert np.abs(exact - fast).max() > 0  # bf16 really ran (its rounding shows)


@pytest.mark.slow
def test_upscale_precision_bf16_runs_the_shipped_model_in_bf16(tmp_path: Path,
                                                              astronaut) -> None:
    write_image(tmp_path / "p.png", astronaut[:40, :40])
    outputs = {}
    for precision in ("fp32", "bf16", None):
        name = precision or "default"
        args = ["upscale", str(tmp_path / "p.png"), "-o", str(tmp_path / f"{name}.png"), "-q"]
        args += ["--precision", precision] if precision else []
        assert runner.invoke(app, args).exit_code == 0
        outputs[name] = read_image(tmp_path / f"{name}.png").rgb
    assert np.array_equal(outputs["default"], outputs["fp32"])  # fp32 unless asked
    levels = np.round(np.abs(outputs["bf16"] - outputs["fp32"]) * 255)
    assert 0 < levels.max() <= 4 and levels.mean() < 0.3  # docs/cli/upscale.md


def test_bf16_warns_where_the_cpu_would_emulate_it(monkeypatch, tmp_path: Path,
                                                    astronaut) -> None:
    monkeypatch.setattr(upscale_tiles, "native_bf16", lambda: False)
    write_image(tmp_path / "p.png", astronaut[:8, :8])
    net_file = tmp_path / "net.safetensors"
    from srkit.io.checkpoints import save_model

    save_model(net_file, _net(), "compact", {"num_feat": 16, "num_conv": 4, "upscale": 2}, 2)
    result = runner.invoke(app, ["upscale", str(tmp_path / "p.png"), "--model", str(net_file),
                                 "-o", str(tmp_path / "o.png"), "--precision", "bf16"])
    assert result.exit_code == 0 and "no native bf16" in result.output


@pytest.mark.parametrize(("extra", "words"), [
    (["--half"], "two precisions"), (["--backend", "onnxruntime"], "runs float32"),
    (["--method", "bicubic", "-x", "2"], "applies to --method model")])
def test_bf16_refuses_what_it_cannot_combine_with_in_one_line(tmp_path: Path, astronaut,
                                                              extra, words) -> None:
    if "onnxruntime" in extra:
        pytest.importorskip("onnxruntime")
    write_image(tmp_path / "p.png", astronaut[:16, :16])
    result = runner.invoke(app, ["upscale", str(tmp_path / "p.png"), "-o",
                                 str(tmp_path / "o.png"), "--precision", "bf16", *extra])
    assert result.exit_code == 1 and words in str(result.exception)
    assert not (tmp_path / "o.png").exists()
    bad = runner.invoke(app, ["upscale", str(tmp_path / "p.png"), "--precision", "fp16"])
    assert bad.exit_code == 2 and "fp16" in bad.output


def test_the_api_takes_a_precision() -> None:
    image = np.random.default_rng(0).integers(0, 256, (12, 14, 3), dtype=np.uint8)
    net = _net()
    exact = srkit.upscale_image(image, net)
    assert np.array_equal(exact, srkit.upscale_image(image, net, precision="fp32"))
    fast = srkit.upscale_image(image, net, precision="bf16")
    assert fast.dtype == np.uint8 and fast.shape == exact.shape == (24, 28, 3)
    assert 0 < np.abs(fast.astype(int) - exact).max() <= 2
    with pytest.raises(SrkitError, match="unknown precision"):
        srkit.upscale_image(image, net, precision="fp16")
    with pytest.raises(SrkitError, match="only applies to method='model'"):
        srkit.upscale_image(image, None, 2, method="bicubic", precision="bf16")
