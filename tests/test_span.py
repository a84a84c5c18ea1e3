"""SPAN: the official network's function, its keys, recognition from a bare file, tiling.

The reference forward below re-states the official equations (hongyuanyu/SPAN
``span_arch.py``) from the state dict alone, with the Conv3XC branches unfused; srkit runs
the fused convs. Where spandrel's source is available (an installed spandrel, or
``SRKIT_SPANDREL_SRC`` naming an unpacked ``spandrel`` package folder, e.g. from
``pip download spandrel --no-deps``), its SPAN architecture file is loaded by path — the
package's ``__init__`` imports torchvision, which this torch lacks — and compared too.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.checkpoints import load_model, save_model
from srkit.io.images import read_image, write_image
from srkit.models import build_model
from srkit.ops.tiling import upscale_tiled

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"feature_channels": 8}


# --- an independent reference ------------------------------------------------------------

def _conv3xc(state: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    """Training-time Conv3XC: 1×1, 3×3 and 1×1 convs on the zero-padded input, plus the
    1×1 skip on the input."""
    h = F.pad(x, (1, 1, 1, 1))
    for index in range(3):
        h = F.conv2d(h, state[f"{prefix}conv.{index}.weight"], state[f"{prefix}conv.{index}.bias"])
    return h + F.conv2d(x, state[f"{prefix}sk.weight"], state[f"{prefix}sk.bias"])


def _spab(state: dict, prefix: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # The official SiLU is in place, so the block's second output is the activated map.
    out1 = F.silu(_conv3xc(state, f"{prefix}c1_r.", x))
    out3 = _conv3xc(state, f"{prefix}c3_r.", F.silu(_conv3xc(state, f"{prefix}c2_r.", out1)))
    return (out3 + x) * (torch.sigmoid(out3) - 0.5), out1


def reference_span(state: dict, x: torch.Tensor, scale: int) -> torch.Tensor:
    if "no_norm" not in state:
        # torch.Tensor(rgb_mean).type_as(x) in the official code: a float32 mean.
        mean = torch.tensor([0.4488, 0.4371, 0.4040]).to(x.dtype).view(1, 3, 1, 1)
        x = (x - mean) * 255.0
    first = _conv3xc(state, "conv_1.", x)
    out, outputs = first, []
    for index in range(1, 7):
        out, first_conv = _spab(state, f"block_{index}.", out)
        outputs.append(out)
    out = _conv3xc(state, "conv_2.", out)
    fused = F.conv2d(torch.cat([first, out, outputs[0], first_conv], 1),
                     state["conv_cat.weight"], state["conv_cat.bias"])
    out = F.conv2d(fused, state["upsampler.0.weight"], state["upsampler.0.bias"], padding=1)
    return F.pixel_shuffle(out, scale)


def official_keys() -> set[str]:
    """The state-dict keys of the official SPAN (and of spandrel's), written out."""
    keys = {"conv_cat.weight", "conv_cat.bias", "upsampler.0.weight", "upsampler.0.bias"}
    convs = ["conv_1.", "conv_2."] + [f"block_{b}.c{c}_r." for b in range(1, 7)
                                      for c in (1, 2, 3)]
    for prefix in convs:
        for part in ("sk", "conv.0", "conv.1", "conv.2", "eval_conv"):
            keys |= {f"{prefix}{part}.weight", f"{prefix}{part}.bias"}
    return keys


def _random_span(seed: int = 0, **args) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("span", **args).eval()


@pytest.mark.parametrize(("upscale", "norm"), [(2, True), (3, False), (4, True), (1, False)])
def test_forward_matches_the_official_equations(upscale: int, norm: bool) -> None:
    model = _random_span(upscale, **SMALL, upscale=upscale, norm=norm).double()
    state = {k: v.double() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 9, 13, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
        expected = reference_span(state, x, upscale)
    assert out.shape == (2, 3, 9 * upscale, 13 * upscale)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10 * expected.abs().max().item())
    assert (out - reference_span(state, x.flip(-1), upscale)).abs().max() > 1e-3


def test_saved_file_has_the_official_keys_and_fused_eval_convs(tmp_path: Path) -> None:
    model = _random_span(**SMALL, upscale=2)
    path = save_model(tmp_path / "span.safetensors", model, "span", {**SMALL, "upscale": 2}, 2)
    tensors = load_file(str(path))
    assert set(tensors) == official_keys()
    assert tensors["upsampler.0.weight"].shape == (3 * 4, 8, 3, 3)
    # eval_conv, used as one plain 3×3 conv, is the branches' function (official files).
    x = torch.randn(1, 8, 7, 6)
    for prefix in ("conv_2.", "block_4.c2_r."):
        fused = F.conv2d(x, tensors[f"{prefix}eval_conv.weight"],
                         tensors[f"{prefix}eval_conv.bias"], padding=1)
        torch.testing.assert_close(fused, _conv3xc(tensors, prefix, x), rtol=1e-5, atol=1e-5)
    no_norm = _random_span(**SMALL, upscale=2, norm=False)
    path = save_model(tmp_path / "nn.safetensors", no_norm, "span",
                      {**SMALL, "upscale": 2, "norm": False}, 2)
    assert set(load_file(str(path))) == official_keys() | {"no_norm"}


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_bare_state_dict_is_recognised_with_its_hyper_parameters(tmp_path: Path,
                                                                 suffix: str) -> None:
    """Non-default width, scale and norm, read from the tensors alone (no srkit metadata)."""
    model = _random_span(**{"feature_channels": 12, "upscale": 3, "norm": False})
    state = model.state_dict()
    path = tmp_path / f"4x_span{suffix}"
    if suffix == ".pth":
        torch.save({"params_ema": state, "params": {}}, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded = load_model(path)
    assert (loaded.arch, loaded.scale, loaded.receptive_radius) == ("span", 3, 21)
    assert loaded.arch_args == {"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 12,
                                "upscale": 3, "norm": False}
    x = torch.rand(1, 3, 8, 10)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))
    # The file's own eval_conv is not what runs (as in the official code): the branches are.
    state["conv_1.eval_conv.weight"] = torch.zeros_like(state["conv_1.eval_conv.weight"])
    torch.save(state, tmp_path / "stale.pth")
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path / "stale.pth").model(x), model(x))


def _state_with(change) -> dict[str, torch.Tensor]:
    state = _random_span(**SMALL, upscale=2).state_dict()
    change(state)
    return state


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop("block_6.c3_r.conv.2.bias"),
     r"keys do not all fit span: 1 missing \(e\.g\. block_6\.c3_r\.conv\.2\.bias\)"),
    (lambda s: s.update({"conv_cat.weight": torch.zeros(8, 24, 1, 1)}),
     r"conv_cat\.weight has shape \(8, 24, 1, 1\), the network expects \(8, 32, 1, 1\)"),
    (lambda s: s.update({"upsampler.0.weight": torch.zeros(10, 8, 3, 3)}),
     r"a SPAN whose upsampler has 10 channels, not 3 × a square scale"),
    (lambda s: s.update({k.replace("block_6", "block_7"): v for k, v in s.items()
                         if k.startswith("block_6.")}),
     r"a SPAN with 7 blocks; the SPAN network has 6"),
    (lambda s: s.update({"extra.weight": torch.zeros(2)}),
     r"keys do not all fit span: 1 unexpected \(e\.g\. extra\.weight\)"),
], ids=["missing-key", "wrong-shape", "upsampler", "seven-blocks", "unexpected"])
def test_unfitting_state_dicts_are_refused_in_one_line(tmp_path: Path, change, message: str,
                                                       no_spandrel_handoff: None) -> None:
    torch.save(_state_with(change), tmp_path / "span.pth")
    with pytest.raises(SrkitError, match=message) as error:
        load_model(tmp_path / "span.pth")
    assert "\n" not in str(error.value) and "span.pth" in str(error.value)


def _he_initialised(model: nn.Module) -> nn.Module:
    """Full-strength weights: the default init hides far-reaching dependencies."""
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight)
                nn.init.normal_(layer.bias, 0.0, 0.1)
    return model


@pytest.mark.parametrize("norm", [True, False])
def test_tiling_is_exact_with_radius_21_and_not_with_20(norm: bool) -> None:
    """In float64 with full-strength weights, so that what one pixel 21 convs away adds
    stands far above rounding (tiles come back as float32)."""
    model = _he_initialised(_random_span(**{"feature_channels": 4, "upscale": 2, "norm": norm}))
    model = model.double()
    assert model.receptive_radius == 21 and model.size_multiple == 1
    image = torch.rand(1, 3, 61, 55, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = upscale_tiled(model, image, 2, 0, 0)
        tiled = upscale_tiled(model, image, 2, 9, 21)
        short = upscale_tiled(model, image, 2, 9, 20)
    assert whole.shape == (1, 3, 122, 110)
    largest = whole.abs().max().item()
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-7 * largest)
    assert (short - whole).abs().max() > 1e-6 * largest


def test_upscale_cli_runs_a_span_pth_and_refuses_a_truncated_one(tmp_path: Path,
                                                                 astronaut) -> None:
    photo = write_image(tmp_path / "photo.png", astronaut[:20, :26])
    torch.save({"params": _random_span(**SMALL, upscale=3).state_dict()}, tmp_path / "s.pth")
    result = CliRunner().invoke(app, ["upscale", str(photo), "--model", str(tmp_path / "s.pth"),
                                      "--tile", "8", "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out.png").rgb.shape == (60, 78, 3)
    data = (tmp_path / "s.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:len(data) // 2])
    out = subprocess.run([sys.executable, "-m", "srkit", "upscale", str(photo), "--model",
                          str(tmp_path / "cut.pth"), "-o", str(tmp_path / "x.png")],
                         capture_output=True, text=True)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), out.stderr
    assert "cut.pth" in lines[0] and not (tmp_path / "x.png").exists()


# --- spandrel's own SPAN, where its source is available ----------------------------------

def spandrel_architecture(relative: str) -> ModuleType:
    """spandrel's architecture file ``relative`` (under ``spandrel/architectures/``), loaded
    by path with spandrel's dependency-free ``spandrel.util``; skips without spandrel."""
    source = os.environ.get("SRKIT_SPANDREL_SRC")
    if not source:
        spec = importlib.util.find_spec("spandrel")  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("spandrel's source is not available (install spandrel or set "
                        "SRKIT_SPANDREL_SRC)")
        source = list(spec.submodule_search_locations)[0]
    root = Path(source)
    saved = {name: sys.modules.get(name) for name in ("spandrel", "spandrel.util")}
    try:
        package = ModuleType("spandrel")
        package.__path__ = [str(root)]
        sys.modules["spandrel"] = package
        sys.modules["spandrel.util"] = _module_from("spandrel.util", root / "util/__init__.py")
        return _module_from(f"_spandrel_{relative.replace('/', '_')}",
                            root / "architectures" / relative)
    finally:  # leave no partial spandrel behind for tests that import the real one
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _module_from(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("upscale", "norm"), [(2, True), (4, False)])
def test_spandrel_span_computes_the_same_in_both_directions(tmp_path: Path, upscale: int,
                                                            norm: bool) -> None:
    arch = spandrel_architecture("SPAN/__arch/span.py")
    args = {**SMALL, "upscale": upscale, "norm": norm}
    model = _random_span(**args)
    path = save_model(tmp_path / "span.safetensors", model, "span", args, upscale)
    theirs = arch.SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=upscale,
                       norm=norm)
    theirs.load_state_dict(load_file(str(path)), strict=True)  # srkit's file in spandrel
    theirs.eval()
    x = torch.rand(1, 3, 10, 7)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), model(x), rtol=1e-5, atol=1e-5)
    torch.manual_seed(5)  # and a file of spandrel's network in srkit
    other = arch.SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=upscale,
                      norm=norm).eval()
    torch.save(other.state_dict(), tmp_path / "theirs.pth")
    loaded = load_model(tmp_path / "theirs.pth")
    assert loaded.arch_args == {"num_in_ch": 3, "num_out_ch": 3, **args}
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), other(x), rtol=1e-5, atol=1e-5)


def test_spandrel_loads_srkits_span_file(tmp_path: Path) -> None:
    spandrel = pytest.importorskip("spandrel")
    model = _random_span(**SMALL, upscale=2)
    path = save_model(tmp_path / "span.safetensors", model, "span", {**SMALL, "upscale": 2}, 2)
    descriptor = spandrel.ModelLoader().load_from_file(str(path))
    assert (descriptor.architecture.id, descriptor.scale) == ("SPAN", 2)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(descriptor.model(x), model(x), rtol=1e-5, atol=1e-5)

