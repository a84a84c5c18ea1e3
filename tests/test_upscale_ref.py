"""upscale --ref: reference-based models (SRNTT), references by file or by stem, bad inputs."""

from __future__ import annotations

import subprocess
import sys
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
from srkit.stages.upscale import upscale

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")
ARGS = {"num_feat": 8, "num_block": 1}


@pytest.fixture
def refsr(tmp_path) -> Path:
    torch.manual_seed(0)
    return save_model(tmp_path / "refsr.safetensors", build_model("srntt", **ARGS), "srntt",
                      ARGS, 4)


def _photo(path: Path, seed: int, size: tuple[int, int] = (10, 12)) -> Path:
    rng = np.random.default_rng(seed)
    write_image(path, rng.random((*size, 3)).astype(np.float32))
    return path


def test_upscale_with_a_reference_runs_the_texture_transfer(tmp_path, refsr) -> None:
    photo = _photo(tmp_path / "photo.png", 0)
    ref = _photo(tmp_path / "similar.png", 1, (40, 36))
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["upscale", str(photo), "--ref", str(ref), "--model",
                                 str(refsr), "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = read_image(out).rgb
    assert written.shape == (40, 48, 3)
    # the same as the network itself with that reference (untiled), to 8-bit rounding
    network = load_model(refsr, torch.device("cpu")).model
    with torch.no_grad():
        expected = network(torch.from_numpy(read_image(photo).rgb.transpose(2, 0, 1))[None],
                           torch.from_numpy(read_image(ref).rgb.transpose(2, 0, 1))[None])
    expected = expected.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(written - expected).max() <= 0.5 / 255 + 1e-6
    # another reference changes the result; no reference is the single-image mode (warned)
    other = upscale(photo, tmp_path / "other.png", model=refsr,
                    ref=_photo(tmp_path / "unrelated.png", 2, (24, 24)))
    assert not np.array_equal(read_image(other.outputs[0]).rgb, written)
    assert other.tile == 0
    alone = runner.invoke(app, ["upscale", str(photo), "--model", str(refsr), "-o",
                                str(tmp_path / "alone.png")])
    assert alone.exit_code == 0 and "single-image mode" in alone.output


def test_a_reference_folder_is_matched_by_stem(tmp_path, refsr) -> None:
    photos = tmp_path / "photos"
    refs = tmp_path / "refs"
    for seed, name in enumerate(("a", "b")):
        _photo(photos / f"{name}.png", seed)
        _photo(refs / f"{name}.jpg", 10 + seed, (32, 32))
    result = upscale(photos, tmp_path / "out", model=refsr, ref=refs)
    assert [p.name for p in result.outputs] == ["a.png", "b.png"]
    single = upscale(photos / "b.png", tmp_path / "b.png", model=refsr, ref=refs / "b.jpg")
    assert np.array_equal(read_image(single.outputs[0]).rgb,
                          read_image(result.outputs[1]).rgb)
    (refs / "b.jpg").unlink()
    with pytest.raises(SrkitError, match="no reference for b.png"):
        upscale(photos, tmp_path / "out2", model=refsr, ref=refs)
    assert not (tmp_path / "out2").exists()


def test_bad_references_are_one_line_errors(tmp_path, refsr, monkeypatch) -> None:
    photo = _photo(tmp_path / "photo.png", 0)
    plain = save_model(tmp_path / "plain.safetensors",
                       build_model("compact", num_feat=4, num_conv=1, upscale=4), "compact",
                       {"num_feat": 4, "num_conv": 1, "upscale": 4}, 4)
    tiny = _photo(tmp_path / "tiny.png", 3, (8, 40))
    with pytest.raises(SrkitError, match="takes no reference"):
        upscale(photo, tmp_path / "a.png", model=plain, ref=tiny)
    with pytest.raises(SrkitError, match="too small for the texture swap"):
        upscale(photo, tmp_path / "a.png", model=refsr, ref=tiny)
    with pytest.raises(SrkitError, match="needs --method model"):
        upscale(photo, tmp_path / "a.png", 4, method="bicubic", ref=tiny)
    import srkit.stages.upscale_ref as upscale_ref

    monkeypatch.setattr(upscale_ref, "MAX_MATCH_PAIRS", 10 * 12 * 63)
    big = _photo(tmp_path / "big.png", 4, (28, 40))  # 7 × 10 relu3_1 positions
    with pytest.raises(SrkitError, match="downscale the reference"):
        upscale(photo, tmp_path / "a.png", model=refsr, ref=big)
    command = [sys.executable, "-m", "srkit", "upscale", str(photo), "--model", str(refsr),
               "-o", str(tmp_path / "b.png")]
    missing = subprocess.run([*command, "--ref", str(tmp_path / "nope.png")],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("error:") and "no such file or folder" in missing.stderr
    assert not (tmp_path / "b.png").exists()


def test_the_single_image_mode_tiles_exactly() -> None:
    from srkit.stages.upscale import run_model

    torch.manual_seed(0)
    model = build_model("srntt", **ARGS).eval()
    rgb = np.random.default_rng(0).random((20, 26, 3)).astype(np.float32)
    whole = run_model(model, rgb, tile=0)
    tiled = run_model(model, rgb, tile=8)
    assert whole.shape == (80, 104, 3)
    assert np.abs(whole - tiled).max() < 1e-5
