"""srkit upscale --backend onnxruntime: same tiles, same writers, outputs within one level."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.checkpoints import save_model
from srkit.models import build_model
from srkit.stages import onnx_backend
from srkit.stages.upscale import upscale

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    args = {"num_feat": 8, "num_conv": 2, "upscale": 2}
    model = build_model("compact", **args).eval()
    return save_model(tmp_path / "tiny.safetensors", model, "compact", args, 2)


def _photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path / "in.png"
    Image.fromarray(rng.integers(0, 256, (37, 50, 4), dtype=np.uint8), "RGBA").save(path)
    return path


def test_onnxruntime_matches_torch_and_reuses_its_export(tmp_path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "cache"))
    model, photo = _model(tmp_path), _photo(tmp_path)
    upscale([photo], tmp_path / "torch.png", model=model, tile=16, alpha_mode="model")
    calls = []
    real_runner = onnx_backend.session_runner

    def counting_runner(path):
        run = real_runner(path)
        return lambda piece: (calls.append(piece.shape), run(piece))[1]

    monkeypatch.setattr(onnx_backend, "session_runner", counting_runner)
    upscale([photo], tmp_path / "ort.png", model=model, tile=16, alpha_mode="model",
            backend="onnxruntime")
    assert len(calls) == 2 * 12  # 3×4 tiles of 16 px, RGB and alpha: all through onnxruntime
    a = np.asarray(Image.open(tmp_path / "torch.png"), dtype=np.int16)
    b = np.asarray(Image.open(tmp_path / "ort.png"), dtype=np.int16)
    assert a.shape == b.shape == (74, 100, 4)
    assert np.abs(a - b).max() <= 1  # float32 through two runtimes: one 8-bit level at most
    cached = list((tmp_path / "cache" / "onnx").glob("compact-x2-*.onnx"))
    assert len(cached) == 1
    # a second run loads the cached file and does not export again
    monkeypatch.setattr("srkit.stages.export.export_network",
                        lambda *a, **k: pytest.fail("exported again"))
    upscale([photo], tmp_path / "again.png", model=model, tile=16, alpha_mode="model",
            backend="onnxruntime")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again.png"), dtype=np.int16), b)
    # other weights, another cache entry (the key is the weights, not the file name)
    with torch.no_grad():
        torch.manual_seed(1)
        other = build_model("compact", num_feat=8, num_conv=2, upscale=2)
    key_a = onnx_backend.network_key(build_model("compact", num_feat=8, num_conv=2,
                                                 upscale=2), "compact", {})
    assert onnx_backend.network_key(other, "compact", {}) != key_a


def test_without_onnxruntime_the_backend_says_what_to_install(tmp_path, monkeypatch) -> None:
    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(SrkitError, match=r"needs onnxruntime: pip install 'srkit\[export\]'"):
        upscale([_photo(tmp_path)], tmp_path / "o.png", model=_model(tmp_path),
                backend="onnxruntime")
    assert not (tmp_path / "o.png").exists()


def test_what_the_backend_refuses(tmp_path) -> None:
    photo = _photo(tmp_path)
    with pytest.raises(SrkitError, match="only applies to --method model"):
        upscale([photo], tmp_path / "o.png", scale=2, method="bicubic", backend="onnxruntime")
    with pytest.raises(SrkitError, match="unknown backend 'tvm'"):
        upscale([photo], tmp_path / "o.png", model=_model(tmp_path), backend="tvm")
    result = CliRunner().invoke(app, ["upscale", str(photo), "-o", str(tmp_path / "o.png"),
                                      "--backend", "tvm"])
    assert result.exit_code == 2 and not (tmp_path / "o.png").exists()
    pytest.importorskip("onnxruntime")
    with pytest.raises(SrkitError, match="runs float32 on the CPU"):
        onnx_backend.check_backend("onnxruntime", half=True, device="auto",
                                   arbitrary_scale=False)
    with pytest.raises(SrkitError, match="runs on the CPU, not --device cuda"):
        onnx_backend.check_backend("onnxruntime", half=False, device="cuda",
                                   arbitrary_scale=False)
    with pytest.raises(SrkitError, match="arbitrary-scale"):
        onnx_backend.check_backend("onnxruntime", half=False, device="cpu",
                                   arbitrary_scale=True)


def test_a_cached_export_runs_without_importing_torch(tmp_path, monkeypatch) -> None:
    """A model file exported once has an index entry: a fresh process finds its export by
    the file's SHA-256 and upscales without PyTorch (the start-up cost is torch's import),
    to the same bytes; a damaged index only sends the run back the normal way."""
    import json
    import subprocess
    import sys

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    cache = tmp_path / "cache"
    monkeypatch.setenv("SRKIT_CACHE", str(cache))
    model, photo = _model(tmp_path), _photo(tmp_path)
    upscale([photo], tmp_path / "first.png", model=model, tile=16, backend="onnxruntime")
    (index,) = cache.glob("onnx/file-*.json")
    entry = json.loads(index.read_text())
    assert (entry["scale"], entry["receptive_radius"], entry["size_multiple"]) == (2, 4, 1)
    code = ("import sys; from srkit.stages.upscale import upscale; "
            f"upscale([{str(photo)!r}], {str(tmp_path / 'fresh.png')!r}, "
            f"model={str(model)!r}, tile=16, backend='onnxruntime'); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**__import__("os").environ, "SRKIT_CACHE": str(cache)},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    first = np.asarray(Image.open(tmp_path / "first.png"))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "fresh.png")), first)
    # the cached path keeps the model's rules: another factor is refused as before
    with pytest.raises(SrkitError, match="×2"):
        upscale([photo], tmp_path / "x3.png", 3, model=model, backend="onnxruntime")
    index.write_text("{not json")
    upscale([photo], tmp_path / "again.png", model=model, tile=16, backend="onnxruntime")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again.png")), first)
    assert json.loads(index.read_text()) == entry  # rewritten by the normal path


def test_upscale_image_takes_the_backend_too(tmp_path, monkeypatch) -> None:
    """The in-memory API runs onnxruntime for one call and leaves the caller's model as it
    was (a later torch call is plain torch again)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import srkit

    monkeypatch.setenv("SRKIT_CACHE", str(tmp_path / "cache"))
    model = srkit.load_model(_model(tmp_path))
    image = np.random.default_rng(2).integers(0, 256, (21, 30, 3), dtype=np.uint8)
    with_torch = srkit.upscale_image(image, model)
    with_ort = srkit.upscale_image(image, model, backend="onnxruntime")
    assert with_ort.shape == with_torch.shape == (42, 60, 3) and with_ort.dtype == np.uint8
    assert np.abs(with_ort.astype(int) - with_torch).max() <= 1
    assert not hasattr(model.model, "onnx_runner")
    assert np.array_equal(srkit.upscale_image(image, model), with_torch)
    with pytest.raises(SrkitError, match="only applies to method='model'"):
        srkit.upscale_image(image, method="bicubic", scale=2, backend="onnxruntime")
