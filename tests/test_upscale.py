"""upscale: exact tiling for every architecture, interpolation baselines, files and CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.checkpoints import save_model
from srkit.io.images import read_image, write_image
from srkit.models import build_model
from srkit.ops.resize import imresize
from srkit.ops.tiling import tile_spans, upscale_tiled
from srkit.stages.upscale import run_model, upscale

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def invoke(*args) -> object:
    return runner.invoke(app, ["upscale", *map(str, args)])


@pytest.mark.parametrize(("length", "tile", "overlap", "multiple"), [
    (100, 32, 5, 1), (64, 16, 0, 4), (30, 7, 40, 2), (12, 0, 3, 1), (12, 50, 3, 4)])
def test_tile_spans_cover_the_axis_with_enough_context(length, tile, overlap, multiple) -> None:
    spans = tile_spans(length, tile, overlap, multiple)
    assert spans[0].core_start == 0 and spans[-1].core_stop == length
    for before, after in zip(spans, spans[1:], strict=False):
        assert before.core_stop == after.core_start
    for span in spans:
        assert span.in_start <= max(0, span.core_start - overlap)
        assert span.in_stop >= min(length, span.core_stop + overlap)
        assert 0 <= span.in_start and span.in_stop <= length
        assert all(v % multiple == 0 for v in (span.core_start, span.in_start, span.in_stop))


TILED = [  # (arch, args, image height, width, tile)
    ("compact", {"num_feat": 8, "num_conv": 3, "upscale": 3}, 41, 37, 6),
    ("srresnet", {"num_feat": 8, "num_block": 2, "upscale": 4}, 40, 33, 8),
    ("srresnet", {"num_feat": 8, "num_block": 1, "upscale": 3}, 30, 27, 8),
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 4}, 55, 47, 8),
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2}, 95, 87, 16),
    ("rrdbnet", {"num_feat": 4, "num_block": 1, "num_grow_ch": 4, "scale": 1}, 173, 170, 24),
    ("span", {"feature_channels": 4, "upscale": 2}, 57, 50, 8),
]


def _he_initialised(arch: str, args: dict) -> nn.Module:
    """Full-strength random weights: the 0.1-scaled init hides far-reaching dependencies."""
    torch.manual_seed(0)
    model = build_model(arch, **args).eval()
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight)
                nn.init.normal_(layer.bias, 0.0, 0.1)
    return model


@pytest.mark.parametrize(("arch", "args", "height", "width", "tile"), TILED,
                         ids=[f"{a}-x{k.get('scale', k.get('upscale'))}"
                              for a, k, *_ in TILED])
def test_tiled_equals_untiled(arch, args, height, width, tile) -> None:
    model = _he_initialised(arch, args)
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))

    def run(tile_size: int, overlap: int) -> torch.Tensor:
        with torch.no_grad():  # raw network outputs, not clamped to [0, 1]
            return upscale_tiled(model, image, model.scale, tile_size, overlap,
                                 model.size_multiple)

    whole = run(0, 0)
    assert whole.shape == (1, 3, height * model.scale, width * model.scale)
    tiled = run(tile, model.receptive_radius)
    torch.testing.assert_close(tiled, whole, atol=1e-5 * whole.abs().max().item(), rtol=0)
    too_little = run(tile, 2)  # the test can fail: 2 pixels of context are not enough
    assert (too_little - whole).abs().max() > 1e-3 * whole.abs().max()


def test_compact_receptive_radius_is_tight() -> None:
    model = _he_initialised("compact", {"num_feat": 8, "num_conv": 4, "upscale": 2})
    rgb = np.random.default_rng(1).random((40, 40, 3), dtype=np.float32) * 0.5 + 0.25
    whole = run_model(model, rgb, tile=0)
    radius = model.receptive_radius
    assert np.abs(run_model(model, rgb, tile=8, tile_overlap=radius) - whole).max() < 1e-5
    assert np.abs(run_model(model, rgb, tile=8, tile_overlap=radius - 1) - whole).max() > 1e-3


@pytest.fixture
def photo(tmp_path: Path, astronaut) -> Path:
    return write_image(tmp_path / "in" / "photo.png", astronaut[100:120, 200:230])


@pytest.fixture
def compact_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    args = {"num_feat": 8, "num_conv": 2, "upscale": 2}
    model = build_model("compact", **args)
    return save_model(tmp_path / "compact_x2.safetensors", model, "compact", args, 2)


def test_bicubic_and_lanczos_baselines(tmp_path: Path, photo: Path) -> None:
    result = invoke(photo, "-x", 3, "--method", "bicubic", "-q")
    assert result.exit_code == 0, result.output
    out = photo.with_name("photo_x3.png")
    assert result.output.strip() == str(out)
    expected = np.round(np.clip(imresize(read_image(photo).rgb, 3), 0, 1) * 255)
    assert np.array_equal(np.round(read_image(out).rgb * 255), expected)  # 60 × 90
    result = invoke(photo, "-x", 2, "--method", "lanczos", "-o", tmp_path / "lz", "-q")
    assert result.exit_code == 0, result.output
    lanczos = read_image(tmp_path / "lz" / "photo.png").rgb
    assert lanczos.shape == (40, 60, 3)
    bicubic = imresize(read_image(photo).rgb, 2)
    assert 0 < np.abs(lanczos - bicubic).max() < 0.2  # a sharper kernel, same geometry


def test_alpha_and_16_bit_are_kept(tmp_path: Path, astronaut) -> None:
    alpha = np.tile(np.linspace(0, 1, 24, dtype=np.float32), (16, 1))
    write_image(tmp_path / "rgba.png", astronaut[:16, :24], alpha)
    write_image(tmp_path / "deep.png", astronaut[:16, :24], bit_depth=16)
    result = invoke(tmp_path / "rgba.png", tmp_path / "deep.png", "-x", 2, "--method",
                    "bicubic", "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    rgba = read_image(tmp_path / "out" / "rgba.png")
    assert rgba.alpha is not None and rgba.alpha.shape == (32, 48)
    np.testing.assert_allclose(rgba.alpha, np.clip(imresize(alpha, 2), 0, 1), atol=1 / 255)
    deep = read_image(tmp_path / "out" / "deep.png")
    assert deep.bit_depth == 16 and deep.rgb.shape == (32, 48, 3)


def test_model_upscale_matches_the_network(tmp_path: Path, photo: Path,
                                           compact_file: Path) -> None:
    result = upscale([photo], tmp_path / "sr", model=compact_file, tile=8)
    assert result.arch == "compact" and result.scale == 2 and result.tile_overlap == 4
    written = read_image(result.outputs[0]).rgb
    from srkit.io.checkpoints import load_model

    direct = run_model(load_model(compact_file).model, read_image(photo).rgb, tile=0)
    assert written.shape == (40, 60, 3)
    assert np.abs(written - direct).max() <= 0.5 / 255 + 1e-6  # 8-bit rounding only


def test_outscale_format_and_suffix(tmp_path: Path, photo: Path, compact_file: Path) -> None:
    result = invoke(photo, "--model", compact_file, "--outscale", 1.5, "--format", "jpg",
                    "--suffix", "_sr", "-o", tmp_path / "o", "-q")
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "o" / "photo_sr.jpg")
    assert out.rgb.shape == (30, 45, 3)


def test_never_overwrites_inputs_or_existing_outputs(tmp_path: Path, photo: Path) -> None:
    same = invoke(photo, "-x", 2, "--method", "bicubic", "-o", photo)
    assert same.exit_code == 1 and "overwrite an input" in str(same.exception)
    beside = invoke(photo, "-x", 2, "--method", "bicubic", "--suffix", "")
    assert beside.exit_code == 1 and "overwrite an input" in str(beside.exception)
    before = photo.read_bytes()
    assert invoke(photo, "-x", 2, "--method", "bicubic", "-q").exit_code == 0
    again = invoke(photo, "-x", 2, "--method", "bicubic")
    assert again.exit_code == 1 and "--overwrite" in str(again.exception)
    assert invoke(photo, "-x", 2, "--method", "bicubic", "--overwrite", "-q").exit_code == 0
    assert photo.read_bytes() == before


def test_user_errors(tmp_path: Path, photo: Path, compact_file: Path) -> None:
    cases = [
        ((photo, photo.parent), "need -o"),                      # several inputs, no -o
        ((photo, "--model", compact_file, "-x", 4), "--outscale 4"),
        ((photo, "--model", compact_file, "--half", "--device", "cpu"), "GPU"),
        ((photo, "--method", "bicubic"), "-x/--scale"),
        ((photo, "--method", "lanczos", "-x", 2, "--model", compact_file), "--method model"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 1, args
        assert isinstance(result.exception, SrkitError) and message in str(result.exception)
    missing = invoke(photo, "-x", 3)
    assert missing.exit_code == 1
    assert "no default model" in str(missing.exception) and "--model" in str(missing.exception)


def test_unreadable_files_are_skipped_unless_strict(tmp_path: Path, photo: Path) -> None:
    (photo.parent / "broken.png").write_bytes(b"not a png")
    result = upscale(photo.parent, tmp_path / "out", 2, method="bicubic")
    assert [p.name for p in result.outputs] == ["photo.png"] and len(result.skipped) == 1
    with pytest.raises(SrkitError, match="broken.png"):
        upscale(photo.parent, tmp_path / "strict", 2, method="bicubic", strict=True)


def test_bad_model_file_is_one_line_exit_1(tmp_path: Path, photo: Path) -> None:
    bad = tmp_path / "model.pth"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    out = subprocess.run([sys.executable, "-m", "srkit", "upscale", str(photo), "--model",
                          str(bad), "-o", str(tmp_path / "x.png")], capture_output=True,
                         text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "model.pth" in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_alpha_mode_model_runs_alpha_through_the_network(tmp_path: Path, astronaut,
                                                         compact_file: Path) -> None:
    from srkit.io.checkpoints import load_model

    alpha = np.zeros((16, 24), dtype=np.float32)
    alpha[4:12, 6:18] = 1.0  # a hard-edged cut-out, where bicubic rings
    write_image(tmp_path / "rgba.png", astronaut[:16, :24], alpha)
    result = invoke(tmp_path / "rgba.png", "--model", compact_file, "--alpha-mode", "model",
                    "-o", tmp_path / "model.png", "-q")
    assert result.exit_code == 0, result.output
    through = read_image(tmp_path / "model.png")
    network = load_model(compact_file).model
    expected = np.clip(run_model(network, np.repeat(alpha[..., None], 3, axis=2)).mean(axis=2),
                       0, 1)
    assert through.alpha is not None
    assert np.abs(through.alpha - expected).max() <= 0.5 / 255 + 1e-6
    assert invoke(tmp_path / "rgba.png", "--model", compact_file, "-o",
                  tmp_path / "bicubic.png", "-q").exit_code == 0
    bicubic = read_image(tmp_path / "bicubic.png")
    assert np.abs(bicubic.alpha - expected).max() > 2 / 255  # the default differs
    assert np.array_equal(bicubic.rgb, through.rgb)  # colour is not affected
    refused = invoke(tmp_path / "rgba.png", "-x", 2, "--method", "bicubic", "--alpha-mode",
                     "model", "-o", tmp_path / "no.png")
    assert refused.exit_code == 1 and "--method model" in str(refused.exception)
