"""srkit export: TorchScript always, ONNX when onnxruntime is installed; the built-in check."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.checkpoints import save_model
from srkit.models import build_model
from srkit.stages import export as export_stage
from srkit.stages.export import export_model

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = {"compact": {"num_feat": 8, "num_conv": 2, "upscale": 3},
        "rrdbnet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2},
        "span": {"feature_channels": 8, "upscale": 2}}


def _model_file(tmp_path: Path, arch: str) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    args = TINY[arch]
    model = build_model(arch, **args).eval()
    scale = args.get("scale", args.get("upscale"))
    return save_model(tmp_path / f"{arch}.safetensors", model, arch, args, scale), model


def _third_size_input() -> torch.Tensor:
    """Neither of the check sizes, and a batch of two: what dynamic axes must allow."""
    return torch.rand(2, 3, 20, 28, generator=torch.Generator().manual_seed(5))


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
@pytest.mark.parametrize("arch", list(TINY))
def test_torchscript_export_runs_at_any_size(tmp_path: Path, arch: str) -> None:
    path, model = _model_file(tmp_path, arch)
    result = runner.invoke(app, ["export", str(path), "-o", str(tmp_path / "m.pt"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["format"] == "torchscript" and report["max_abs_diff"] <= 1e-5
    assert report["max_abs_diff_resized"] <= 1e-5
    extra = {"srkit.json": ""}
    traced = torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    assert json.loads(extra["srkit.json"])["arch"] == arch
    x = _third_size_input()
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["compact", "span"])
def test_onnx_export_has_dynamic_sizes_and_matches(tmp_path: Path, arch: str) -> None:
    """Dynamic batch, height and width; SPAN computes weights in its graph, which an export
    from a batch of one would fix to one image."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path, model = _model_file(tmp_path, arch)
    result = export_model(path, tmp_path / "m.onnx", opset=17)
    assert result.format == "onnx" and result.opset == 17
    assert result.max_abs_diff <= 1e-4 and result.max_abs_diff_resized <= 1e-4
    session = onnxruntime.InferenceSession(str(result.path),
                                           providers=["CPUExecutionProvider"])
    x = _third_size_input()
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(out - model(x).numpy()).max() < 1e-4
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["srkit"])["scale"] == TINY[arch].get("upscale")


def test_a_mismatching_export_is_refused_and_not_written(tmp_path: Path, monkeypatch) -> None:
    path, _ = _model_file(tmp_path, "compact")
    real_runner = export_stage._torchscript_runner

    def off_by_a_bit(file: Path):
        run = real_runner(file)
        return lambda x: run(x) + 0.01

    monkeypatch.setattr(export_stage, "_torchscript_runner", off_by_a_bit)
    with pytest.raises(SrkitError, match=r"differs .* by 0.01 .*tolerance 0.001.*nothing") as e:
        export_model(path, tmp_path / "m.pt")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "m.pt").exists() and list(tmp_path.iterdir()) == [path]


def test_user_errors(tmp_path: Path, monkeypatch) -> None:
    path, _ = _model_file(tmp_path, "compact")
    unknown = runner.invoke(app, ["export", str(path), "-o", str(tmp_path / "m.h5")])
    assert unknown.exit_code == 1 and ".onnx" in str(unknown.exception)
    (tmp_path / "m.pt").write_bytes(b"keep")
    exists = runner.invoke(app, ["export", str(path), "-o", str(tmp_path / "m.pt")])
    assert exists.exit_code == 1 and "--overwrite" in str(exists.exception)
    assert (tmp_path / "m.pt").read_bytes() == b"keep"
    negative = runner.invoke(app, ["export", str(path), "-o", str(tmp_path / "n.pt"),
                                   "--tolerance", "-1"])
    assert negative.exit_code == 2
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import onnxscript now fails
    missing = runner.invoke(app, ["export", str(path), "-o", str(tmp_path / "m.onnx")])
    assert missing.exit_code == 1 and "srkit[export]" in str(missing.exception)
    assert "onnxscript" in str(missing.exception) and not (tmp_path / "m.onnx").exists()
