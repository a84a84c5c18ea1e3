"""Model files: srkit safetensors round trips and foreign BasicSR-style .pth recognition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from srkit.errors import SrkitError
from srkit.io.checkpoints import detect_architecture, load_model, save_model, unwrap_state_dict
from srkit.models import build_model

SMALL = [
    ("rrdbnet", {"num_feat": 8, "num_block": 2, "num_grow_ch": 4, "scale": 4}),
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2}),
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 1}),
    ("srresnet", {"num_feat": 8, "num_block": 3, "upscale": 4}),
    ("srresnet", {"num_feat": 8, "num_block": 1, "upscale": 3}),
    ("compact", {"num_feat": 8, "num_conv": 3, "upscale": 4}),
    ("compact", {"num_feat": 8, "num_conv": 2, "upscale": 2}),
]
IDS = [f"{a}-x{k.get('scale', k.get('upscale'))}" for a, k in SMALL]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _full_args(arch: str, args: dict) -> dict:
    """What recognition from a foreign file must find: every argument, defaults included."""
    from srkit.models import architecture_arguments

    return {**architecture_arguments(arch), **args}


@pytest.mark.parametrize(("arch", "args"), SMALL, ids=IDS)
def test_save_load_gives_identical_output(tmp_path: Path, arch: str, args: dict) -> None:
    torch.manual_seed(0)
    model = build_model(arch, **args).eval()
    path = save_model(tmp_path / "m.safetensors", model, arch, args, model.scale,
                      {"recipe": "psnr", "iterations": "10"})
    loaded = load_model(path)
    x = torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
    assert (loaded.arch, loaded.arch_args, loaded.scale) == (arch, args, model.scale)
    assert loaded.source_format == "safetensors" and not loaded.model.training
    assert loaded.metadata["recipe"] == "psnr" and loaded.metadata["srkit_arch"] == arch
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_metadata_layout_is_readable_by_other_tools(tmp_path: Path) -> None:
    args = {"num_feat": 8, "num_conv": 2, "upscale": 4}
    model = build_model("compact", **args)
    path = save_model(tmp_path / "m.safetensors", model, "compact", args, 4)
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        keys = set(handle.keys())
    assert meta["srkit_arch"] == "compact" and meta["srkit_scale"] == "4"
    assert json.loads(meta["srkit_arch_args"]) == args and meta["srkit_version"]
    assert keys == set(model.state_dict())  # plain Real-ESRGAN keys, no prefixes


@pytest.mark.parametrize(("arch", "args"), SMALL, ids=IDS)
def test_foreign_pth_is_recognised_and_prefers_ema(tmp_path: Path, arch: str,
                                                   args: dict) -> None:
    torch.manual_seed(1)
    ema, raw = build_model(arch, **args).eval(), build_model(arch, **args)
    # BasicSR layout: both weight sets, DDP "module." prefixes on the EMA ones.
    torch.save({"params": raw.state_dict(),
                "params_ema": {f"module.{k}": v for k, v in ema.state_dict().items()}},
               tmp_path / "net_g.pth")
    loaded = load_model(tmp_path / "net_g.pth")
    assert loaded.arch == arch and loaded.arch_args == _full_args(arch, args)
    assert loaded.source_format == "pth" and loaded.metadata == {}
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), ema(x))


def test_realesrgan_v3_and_plain_state_dict_layouts(tmp_path: Path) -> None:
    """realesr-general-x4v3: {'params': ...} of SRVGGNetCompact(num_conv=32)."""
    with torch.device("meta"):
        reference = build_model("compact", num_conv=32)
    state = {k: torch.zeros(v.shape) for k, v in reference.state_dict().items()}
    arch, args = detect_architecture(state)
    assert arch == "compact"
    assert args == {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 32,
                    "upscale": 4, "act_type": "prelu"}
    with torch.device("meta"):
        plus = build_model("rrdbnet", scale=2)
    assert detect_architecture({k: torch.zeros(v.shape) for k, v in plus.state_dict().items()}
                               ) == ("rrdbnet", {"num_in_ch": 3, "num_out_ch": 3, "scale": 2,
                                                 "num_feat": 64, "num_block": 23,
                                                 "num_grow_ch": 32})


def test_original_esrgan_names_are_translated(tmp_path: Path) -> None:
    model = build_model("rrdbnet", num_feat=8, num_block=1, num_grow_ch=4).eval()
    renames = {"body.": "RRDB_trunk.", "conv_body.": "trunk_conv.", "conv_up1.": "upconv1.",
               "conv_up2.": "upconv2.", "conv_hr.": "HRconv."}
    old = {}
    for key, value in model.state_dict().items():
        for new, original in renames.items():
            if key.startswith(new):
                key = original + key[len(new):]
        old[key.replace(".rdb1.", ".RDB1.").replace(".rdb2.", ".RDB2.")
            .replace(".rdb3.", ".RDB3.")] = value
    assert "RRDB_trunk.0.RDB2.conv3.weight" in old
    torch.save({"state_dict": old}, tmp_path / "RRDB_ESRGAN_x4.pth")
    loaded = load_model(tmp_path / "RRDB_ESRGAN_x4.pth")
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


def test_unwrap_state_dict_rejects_empty() -> None:
    with pytest.raises(SrkitError):
        unwrap_state_dict({"params": {}, "other": 3})


@pytest.mark.parametrize("content", ["not a model", "png"])
def test_unreadable_or_unknown_files_give_one_line_errors(tmp_path: Path, content: str,
                                                          astronaut) -> None:
    path = tmp_path / "bad.pth"
    if content == "png":
        from srkit.io.images import write_image

        write_image(tmp_path / "x.png", astronaut[:8, :8])
        path = tmp_path / "x.png"
    else:
        path.write_text(content)
    with pytest.raises(SrkitError) as error:
        load_model(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_unknown_layout_and_pickled_objects_are_refused(tmp_path: Path) -> None:
    torch.save({"params": {"encoder.weight": torch.zeros(3, 3)}}, tmp_path / "other.pth")
    with pytest.raises(SrkitError, match="unrecognised network layout"):
        load_model(tmp_path / "other.pth")
    torch.save({"params": {"conv_first.weight": torch.zeros(1)}, "opt": Path("x")},
               tmp_path / "pickled.pth")
    with pytest.raises(SrkitError, match="weights_only"):
        load_model(tmp_path / "pickled.pth")
    with pytest.raises(SrkitError, match="no such model file"):
        load_model(tmp_path / "missing.safetensors")


def test_mismatched_weights_are_reported(tmp_path: Path) -> None:
    model = build_model("compact", num_feat=8, num_conv=2)
    state = model.state_dict()
    state["body.0.weight"] = torch.zeros(8, 3, 5, 5)
    torch.save(state, tmp_path / "m.pth")
    with pytest.raises(SrkitError, match="body.0.weight has shape"):
        load_model(tmp_path / "m.pth")


def test_save_model_checks_its_arguments(tmp_path: Path) -> None:
    model = build_model("compact", num_feat=8, num_conv=2)
    args = {"num_feat": 8, "num_conv": 2}
    with pytest.raises(SrkitError, match="not a rrdbnet"):
        save_model(tmp_path / "a.safetensors", model, "rrdbnet", args, 4)
    with pytest.raises(SrkitError, match="does not match"):
        save_model(tmp_path / "b.safetensors", model, "compact", args, 2)
    with pytest.raises(SrkitError, match="reserved"):
        save_model(tmp_path / "c.safetensors", model, "compact", args, 4, {"srkit_arch": "x"})
    with pytest.raises(SrkitError, match="missing|unexpected|shape"):
        save_model(tmp_path / "d.safetensors", model, "compact", {"num_feat": 16,
                                                                  "num_conv": 2}, 4)
    assert not any(tmp_path.iterdir())


def test_resolve_device_names_and_errors() -> None:
    from srkit.device import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(SrkitError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(SrkitError, match="CUDA is not available"):
            resolve_device("cuda:0")
    else:
        with pytest.raises(SrkitError, match="CUDA device"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
