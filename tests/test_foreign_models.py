"""Foreign model files: ESRGAN's original layout, ×8, refusals, spandrel compatibility."""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from srkit.errors import SrkitError
from srkit.io.checkpoints import load_model, save_model
from srkit.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"num_feat": 8, "num_block": 2, "num_grow_ch": 4}
# spandrel 0.4 builds ESRGAN with 32 growth channels whatever the file holds.
SPANDREL_TINY = {"num_feat": 8, "num_block": 1, "num_grow_ch": 32}


def old_esrgan_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """An RRDBNet's weights in ESRGAN's original ``nn.Sequential`` layout (xinntao/ESRGAN
    ``architecture.py``): model.0 first conv; model.1 a shortcut block whose ``sub`` holds
    the RRDBs (``RDBk.convm.0`` = the conv inside conv_block) and then the trunk conv; per ×2
    stage an Upsample, a conv, a LeakyReLU (convs at model.3, model.6, model.9); then the HR
    conv, a LeakyReLU and the last conv."""
    state = model.state_dict()
    stages = 1 + sum(k == "conv_up2.weight" for k in state) + sum(
        k == "conv_up3.weight" for k in state)
    num_block = len({k.split(".")[1] for k in state if k.startswith("body.")})
    top = {"conv_first": 0, "conv_body": None, "conv_hr": 3 * stages + 2,
           "conv_last": 3 * stages + 4}
    top.update({f"conv_up{j}": 3 * j for j in range(1, stages + 1)})
    old = {}
    for key, value in state.items():
        m = re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", key)
        if m:
            block, rdb, conv, kind = m.groups()
            old[f"model.1.sub.{block}.RDB{rdb}.conv{conv}.0.{kind}"] = value
            continue
        layer, kind = key.split(".")
        index = top[layer]
        old[f"model.1.sub.{num_block}.{kind}" if index is None else f"model.{index}.{kind}"] = value
    return old


@pytest.fixture
def without_spandrel(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import spandrel`` fails, as where the optional extra is not installed."""
    real_import = builtins.__import__

    def no_spandrel(name, *args, **kwargs):
        if name == "spandrel" or name.startswith("spandrel."):
            raise ImportError("No module named 'spandrel'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_spandrel)


def _outputs_equal(model_a: torch.nn.Module, model_b: torch.nn.Module, size: int = 8) -> bool:
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return torch.equal(model_a(x), model_b(x))


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_original_esrgan_layout_loads_bit_identical(tmp_path: Path, scale: int,
                                                    suffix: str) -> None:
    torch.manual_seed(scale)
    model = build_model("rrdbnet", scale=scale, **TINY).eval()
    old = old_esrgan_state(model)
    assert "model.1.sub.0.RDB1.conv1.0.weight" in old and "model.1.sub.2.weight" in old
    path = tmp_path / f"RRDB_ESRGAN_x{scale}{suffix}"
    if suffix == ".pth":
        torch.save(old, path)
    else:
        save_file({k: v.contiguous() for k, v in old.items()}, str(path))
    loaded = load_model(path)
    assert (loaded.arch, loaded.scale) == ("rrdbnet", scale)
    assert loaded.arch_args == {"num_in_ch": 3, "num_out_ch": 3, "scale": scale, **TINY}
    assert _outputs_equal(loaded.model, model)


def test_x8_rrdbnet_round_trip_and_exact_tiling(tmp_path: Path) -> None:
    from srkit.stages.upscale import run_model

    torch.manual_seed(0)
    model = build_model("rrdbnet", scale=8, num_feat=4, num_block=1, num_grow_ch=4).eval()
    assert "conv_up3.weight" in model.state_dict()
    torch.save({"params_ema": model.state_dict()}, tmp_path / "net_g_x8.pth")
    loaded = load_model(tmp_path / "net_g_x8.pth")
    assert loaded.scale == 8 and _outputs_equal(loaded.model, model)
    rgb = np.random.default_rng(0).random((20, 18, 3)).astype(np.float32)
    whole = run_model(loaded.model, rgb, tile=0)
    assert whole.shape == (160, 144, 3)
    np.testing.assert_array_equal(run_model(loaded.model, rgb, tile=8), whole)


@pytest.mark.parametrize("channels", [1, 4])
def test_non_rgb_rrdbnet_is_refused_at_load(tmp_path: Path, channels: int) -> None:
    model = build_model("rrdbnet", num_in_ch=channels, num_out_ch=channels, **TINY)
    torch.save(model.state_dict(), tmp_path / "grey.pth")
    with pytest.raises(SrkitError, match=f"a {channels}-channel rrdbnet model; srkit runs RGB"
                       ) as error:
        load_model(tmp_path / "grey.pth")
    assert "\n" not in str(error.value)


def _mmrealsr_like() -> dict[str, torch.Tensor]:
    """An RRDBNet state dict plus MMRealSR's degradation estimator and modulation keys."""
    state = build_model("rrdbnet", **TINY).state_dict()
    state["de_net.conv_first.0.weight"] = torch.zeros(8, 3, 3, 3)
    state["dd_embed.0.weight"] = torch.zeros(8, 2)
    state["am_list.0.fc.0.weight"] = torch.zeros(8, 8)
    return state


def test_mmrealsr_and_unfitting_keys_are_refused_by_name(tmp_path: Path) -> None:
    torch.save({"params": _mmrealsr_like()}, tmp_path / "mmrealsr.pth")
    with pytest.raises(SrkitError, match=r"looks like MMRealSR \(keys 'de_net") as error:
        load_model(tmp_path / "mmrealsr.pth")
    assert "\n" not in str(error.value)
    state = build_model("rrdbnet", **TINY).state_dict()
    state["extra_head.weight"] = torch.zeros(2)
    del state["conv_hr.bias"]
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(SrkitError, match="keys do not all fit rrdbnet: 1 missing "
                       r"\(e.g. conv_hr.bias\); 1 unexpected \(e.g. extra_head.weight\)"):
        load_model(tmp_path / "odd.pth")
    old = old_esrgan_state(build_model("rrdbnet", **TINY))
    old["model.1.sub.0.RDB1.conv1x1.weight"] = torch.zeros(4, 8, 1, 1)
    torch.save(old, tmp_path / "esrgan_plus.pth")
    with pytest.raises(SrkitError, match="looks like ESRGAN\\+"):
        load_model(tmp_path / "esrgan_plus.pth")


def _native_x2_esrgan() -> dict[str, torch.Tensor]:
    """Old ×2 ESRGANs upsample once (model.3, HR model.5, last model.7): not srkit's ×2."""
    old = old_esrgan_state(build_model("rrdbnet", **SPANDREL_TINY))
    for kind in ("weight", "bias"):
        old.pop(f"model.6.{kind}")
        old[f"model.5.{kind}"], old[f"model.7.{kind}"] = old.pop(f"model.8.{kind}"), old.pop(
            f"model.10.{kind}")
    return old


def test_native_x2_esrgan_is_refused_in_one_line(tmp_path: Path, without_spandrel: None
                                                 ) -> None:
    torch.save(_native_x2_esrgan(), tmp_path / "x2.pth")
    with pytest.raises(SrkitError, match=r"an RRDBNet with 1 upsampling stage\(s\) \(×2"):
        load_model(tmp_path / "x2.pth")


def test_layout_only_spandrel_knows_runs_through_it_with_tiling(tmp_path: Path) -> None:
    pytest.importorskip("spandrel")
    from srkit.stages.upscale import run_model

    torch.manual_seed(0)
    torch.save(_native_x2_esrgan(), tmp_path / "x2.pth")
    loaded = load_model(tmp_path / "x2.pth")
    assert (loaded.arch, loaded.scale, loaded.arch_args) == ("spandrel ESRGAN", 2, {})
    assert loaded.receptive_radius == 32 and not loaded.model.exact_tiling
    rgb = np.random.default_rng(0).random((12, 10, 3)).astype(np.float32)
    whole = run_model(loaded.model, rgb, tile=0)
    assert whole.shape == (24, 20, 3)
    # A 16-pixel tile with the 32-pixel overlap covers this image whole: same output.
    np.testing.assert_allclose(run_model(loaded.model, rgb, tile=16), whole, atol=1e-6)
    large = np.random.default_rng(1).random((40, 36, 3)).astype(np.float32)
    tiled = run_model(loaded.model, large, tile=16)
    assert tiled.shape == (80, 72, 3) and np.isfinite(tiled).all()


def test_unknown_layout_without_spandrel_names_the_extra(tmp_path: Path,
                                                         without_spandrel: None) -> None:
    torch.save({"params": {"layers.0.attn.qkv.weight": torch.zeros(6, 2)}}, tmp_path / "swin.pth")
    with pytest.raises(SrkitError) as error:
        load_model(tmp_path / "swin.pth")
    message = str(error.value)
    assert "unrecognised network layout" in message and "\n" not in message
    assert "pip install 'srkit[spandrel]'" in message and "DAT" in message


@pytest.mark.parametrize("act_type", ["relu", "leakyrelu"])
def test_relu_compact_is_saved_with_equivalent_prelu(tmp_path: Path, act_type: str) -> None:
    """The file holds PReLU weights 0 (ReLU) or 0.1 (LeakyReLU(0.1)), as a PReLU compact
    net would: built as Real-ESRGAN's PReLU net from them, it computes the same output."""
    torch.manual_seed(0)
    args = {"num_feat": 8, "num_conv": 2, "upscale": 2, "act_type": act_type}
    model = build_model("compact", **args).eval()
    path = save_model(tmp_path / "m.safetensors", model, "compact", args, 2)
    loaded = load_model(path)
    assert loaded.arch_args == args and _outputs_equal(loaded.model, model)
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    slope = {"relu": 0.0, "leakyrelu": 0.1}[act_type]
    assert sorted(k for k in tensors if k.endswith(".weight") and tensors[k].ndim == 1) == [
        "body.1.weight", "body.3.weight", "body.5.weight"]
    assert torch.equal(tensors["body.3.weight"], torch.full((8,), slope))
    as_prelu = build_model("compact", **{**args, "act_type": "prelu"}).eval()
    as_prelu.load_state_dict(tensors, strict=True)
    assert _outputs_equal(as_prelu, model)


@pytest.mark.parametrize(("arch", "args"), [
    ("rrdbnet", {**SPANDREL_TINY, "scale": 4}), ("rrdbnet", {**SPANDREL_TINY, "scale": 8}),
    ("rrdbnet", {**SPANDREL_TINY, "scale": 2}), ("rrdbnet", {**SPANDREL_TINY, "scale": 1}),
    ("compact", {"num_feat": 8, "num_conv": 2}),
    ("compact", {"num_feat": 8, "num_conv": 2, "act_type": "relu"}),
    ("compact", {"num_feat": 8, "num_conv": 2, "act_type": "leakyrelu"})])
def test_srkit_files_load_in_spandrel(tmp_path: Path, arch: str, args: dict) -> None:
    spandrel = pytest.importorskip("spandrel")
    torch.manual_seed(0)
    model = build_model(arch, **args).eval()
    path = save_model(tmp_path / "m.safetensors", model, arch, args, model.scale)
    descriptor = spandrel.ModelLoader().load_from_file(str(path))
    assert descriptor.scale == model.scale and descriptor.input_channels == 3
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(descriptor.model(x), model(x), rtol=0, atol=1e-6)


def test_spandrel_has_no_msrresnet(tmp_path: Path) -> None:
    """Why docs/models.md lists srresnet files as srkit-only."""
    spandrel = pytest.importorskip("spandrel")
    model = build_model("srresnet", num_feat=8, num_block=1, upscale=4)
    path = save_model(tmp_path / "m.safetensors", model, "srresnet", {"num_feat": 8,
                                                                      "num_block": 1}, 4)
    with pytest.raises(spandrel.UnsupportedModelError):
        spandrel.ModelLoader().load_from_file(str(path))
