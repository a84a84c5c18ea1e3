"""SwinIR: the official network's function, its keys, recognition from a bare file, tiling.

The reference forward below re-states the official equations (JingyunLiang/SwinIR
``network_swinir.py``) from the state dict alone, window by window and head by head, with the
bias index and the shifted-window mask built the official way (slices of a label image);
srkit's module batches windows, chunks them and builds the mask from region labels. Where
spandrel's source is available (an installed spandrel, or ``SRKIT_SPANDREL_SRC`` naming an
unpacked ``spandrel`` package folder, e.g. from ``pip download spandrel --no-deps``), its
SwinIR architecture and its detection are loaded by path — the package's ``__init__`` imports
torchvision, which this torch lacks — and compared too.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import re
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

TINY = {"embed_dim": 12, "depths": [2, 2], "num_heads": [2, 2], "window_size": 4,
        "img_size": 16}
TAILS = {  # id: the upsampler's arguments
    "pixelshuffle-x2": {"upsampler": "pixelshuffle", "upscale": 2},
    "pixelshuffle-x3-3conv-nonorm": {"upsampler": "pixelshuffle", "upscale": 3,
                                     "resi_connection": "3conv", "patch_norm": False},
    "pixelshuffle-x4": {"upsampler": "pixelshuffle", "upscale": 4},
    "direct-x3": {"upsampler": "pixelshuffledirect", "upscale": 3},
    "nearest-conv-x4": {"upsampler": "nearest+conv", "upscale": 4},
    "nearest-conv-x2-3conv": {"upsampler": "nearest+conv", "upscale": 2,
                              "resi_connection": "3conv"},
}


# --- an independent reference ------------------------------------------------------------

def _bias_index(window: int) -> torch.Tensor:
    """Pixel p = (p // w, p % w) of a window; the table row of the offset p − q."""
    n = window * window
    index = torch.empty(n, n, dtype=torch.long)
    for p in range(n):
        for q in range(n):
            index[p, q] = ((p // window - q // window + window - 1) * (2 * window - 1)
                           + (p % window - q % window + window - 1))
    return index


def _region_labels(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """The official ``calculate_mask``'s label image: 9 regions cut by slices."""
    labels = torch.zeros(height, width)
    count = 0
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for rows in cuts:
        for cols in cuts:
            labels[rows, cols] = count
            count += 1
    return labels


def _official_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """``(nW, w², w²)``: −100 between pixels of different regions, windows row-major."""
    labels = _region_labels(height, width, window, shift)
    masks = []
    for r in range(0, height, window):
        for c in range(0, width, window):
            cell = labels[r:r + window, c:c + window].reshape(-1)
            masks.append((cell[None, :] != cell[:, None]).double() * -100.0)
    return torch.stack(masks)


def _linear(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    return x @ state[f"{prefix}weight"].T + state[f"{prefix}bias"]


def _norm(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = (x - mean).square().mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * state[f"{prefix}weight"] + state[f"{prefix}bias"]


def _conv(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    weight = state[f"{prefix}weight"]
    return F.conv2d(x, weight, state[f"{prefix}bias"], padding=weight.shape[-1] // 2)


def _attention(img: torch.Tensor, state: dict, prefix: str, window: int, shift: int,
               masked: bool) -> torch.Tensor:
    """W-MSA / SW-MSA on one image's ``(H, W, C)`` features."""
    height, width, channels = img.shape
    if shift:
        img = torch.roll(img, (-shift, -shift), (0, 1))
        labels = _region_labels(height, width, window, shift)
    table = state[f"{prefix}attn.relative_position_bias_table"]
    heads = table.shape[1]
    head_dim = channels // heads
    bias = table[_bias_index(window)]  # (w², w², heads)
    out = torch.empty_like(img)
    for r in range(0, height, window):
        for c in range(0, width, window):
            tokens = img[r:r + window, c:c + window].reshape(window * window, channels)
            qkv = _linear(tokens, state, f"{prefix}attn.qkv.")
            q, k, v = qkv[:, :channels], qkv[:, channels:2 * channels], qkv[:, 2 * channels:]
            per_head = []
            for h in range(heads):
                part = slice(h * head_dim, (h + 1) * head_dim)
                scores = (q[:, part] * head_dim ** -0.5) @ k[:, part].T + bias[:, :, h]
                if shift and masked:
                    cell = labels[r:r + window, c:c + window].reshape(-1)
                    scores = scores + (cell[:, None] != cell[None, :]).to(scores.dtype) * -100.0
                per_head.append(torch.softmax(scores, dim=-1) @ v[:, part])
            merged = _linear(torch.cat(per_head, dim=1), state, f"{prefix}attn.proj.")
            out[r:r + window, c:c + window] = merged.reshape(window, window, channels)
    return torch.roll(out, (shift, shift), (0, 1)) if shift else out


def _swin_layer(x: torch.Tensor, state: dict, prefix: str, window: int, shift: int,
                masked: bool) -> torch.Tensor:
    x = x + _attention(_norm(x, state, f"{prefix}norm1."), state, prefix, window, shift, masked)
    hidden = _linear(_norm(x, state, f"{prefix}norm2."), state, f"{prefix}mlp.fc1.")
    hidden = 0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))  # exact GELU
    return x + _linear(hidden, state, f"{prefix}mlp.fc2.")


def _residual_conv(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    if f"{prefix}weight" in state:  # 1conv
        return _conv(x, state, prefix)
    x = F.leaky_relu(_conv(x, state, f"{prefix}0."), 0.2)
    x = F.leaky_relu(_conv(x, state, f"{prefix}2."), 0.2)
    return _conv(x, state, f"{prefix}4.")


def _count(state: dict, pattern: str) -> int:
    return len({m.group(1) for key in state if (m := re.fullmatch(pattern, key))})


def _tail(x: torch.Tensor, state: dict, scale: int) -> torch.Tensor:
    if "conv_before_upsample.0.weight" not in state:  # pixelshuffledirect
        return F.pixel_shuffle(_conv(x, state, "upsample.0."), scale)
    x = F.leaky_relu(_conv(x, state, "conv_before_upsample.0."), 0.01)
    if "conv_up1.weight" in state:  # nearest+conv
        for index in range(1, 4):
            if f"conv_up{index}.weight" in state:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = F.leaky_relu(_conv(x, state, f"conv_up{index}."), 0.2)
        return _conv(F.leaky_relu(_conv(x, state, "conv_hr."), 0.2), state, "conv_last.")
    for index in range(0, 8, 2):  # pixelshuffle: conv, shuffle by √(out / in)
        if f"upsample.{index}.weight" in state:
            weight = state[f"upsample.{index}.weight"]
            x = F.pixel_shuffle(_conv(x, state, f"upsample.{index}."),
                                math.isqrt(weight.shape[0] // weight.shape[1]))
    return _conv(x, state, "conv_last.")


def reference_swinir(state: dict, x: torch.Tensor, scale: int, window: int,
                     masked: bool = True) -> torch.Tensor:
    height, width = x.shape[-2:]
    x = F.pad(x, (0, -width % window, 0, -height % window), mode="reflect")
    # torch.Tensor(rgb_mean).type_as(x) in the official code: a float32 mean; img_range 1.
    mean = torch.tensor([0.4488, 0.4371, 0.4040]).to(x.dtype).view(1, 3, 1, 1)
    x = x - mean
    layers = _count(state, r"layers\.(\d+)\.conv\.(?:0\.)?weight")
    outputs = []
    for image in x:
        first = _conv(image[None], state, "conv_first.")
        feat = first[0].permute(1, 2, 0)
        if "patch_embed.norm.weight" in state:
            feat = _norm(feat, state, "patch_embed.norm.")
        for i in range(layers):
            start = feat
            for j in range(_count(state, rf"layers\.{i}\.residual_group\.blocks\.(\d+)\."
                                         r"norm1\.weight")):
                feat = _swin_layer(feat, state, f"layers.{i}.residual_group.blocks.{j}.", window,
                                   0 if j % 2 == 0 else window // 2, masked)
            conv = _residual_conv(feat.permute(2, 0, 1)[None], state, f"layers.{i}.conv.")
            feat = conv[0].permute(1, 2, 0) + start
        feat = _norm(feat, state, "norm.").permute(2, 0, 1)[None]
        body = _residual_conv(feat, state, "conv_after_body.") + first
        outputs.append(_tail(body, state, scale))
    out = torch.cat(outputs) + mean
    return out[..., :height * scale, :width * scale]


def official_keys(depths: list[int], upsampler: str, upscale: int, resi: str = "1conv",
                  patch_norm: bool = True) -> set[str]:
    """The state-dict keys of the official SwinIR (and of spandrel's), written out."""
    def pair(name: str) -> set[str]:
        return {f"{name}.weight", f"{name}.bias"}

    def convs(name: str) -> set[str]:
        return pair(name) if resi == "1conv" else set().union(
            *(pair(f"{name}.{i}") for i in (0, 2, 4)))

    keys = pair("conv_first") | pair("norm") | convs("conv_after_body")
    keys |= pair("patch_embed.norm") if patch_norm else set()
    for i, depth in enumerate(depths):
        keys |= convs(f"layers.{i}.conv")
        for j in range(depth):
            block = f"layers.{i}.residual_group.blocks.{j}"
            for part in ("norm1", "norm2", "attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"):
                keys |= pair(f"{block}.{part}")
            keys |= {f"{block}.attn.relative_position_bias_table",
                     f"{block}.attn.relative_position_index"}
            keys |= {f"{block}.attn_mask"} if j % 2 else set()
    if upsampler == "pixelshuffledirect":
        return keys | pair("upsample.0")
    keys |= pair("conv_before_upsample.0") | pair("conv_last")
    if upsampler == "pixelshuffle":
        stages = 1 if upscale == 3 else int(math.log2(upscale))
        return keys | set().union(*(pair(f"upsample.{2 * i}") for i in range(stages)))
    ups = {2: 1, 4: 2, 8: 3}[upscale]
    return keys | pair("conv_hr") | set().union(*(pair(f"conv_up{i}") for i in range(1, ups + 1)))


def _strengthen(model: nn.Module, seed: int = 0) -> nn.Module:
    """Full-strength weights: peaked attention (bias tables of std 1, unit-gain Linear
    layers) and LayerNorm affines away from 1 / 0, so every term shows in the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            if name.endswith("relative_position_bias_table"):
                parameter.copy_(noise)
            elif "norm" in name and name.endswith("weight"):
                parameter.copy_(1 + 0.2 * noise)
            elif parameter.ndim == 2:  # Linear
                parameter.copy_(noise / parameter.shape[1] ** 0.5)
            elif name.endswith("bias"):
                parameter.copy_(0.1 * noise)
    return model


def _random_swinir(seed: int = 0, **args) -> nn.Module:
    torch.manual_seed(seed)
    return _strengthen(build_model("swinir", **args).eval(), seed)


@pytest.mark.parametrize("tail", list(TAILS.values()), ids=list(TAILS))
def test_forward_matches_the_official_equations(tail: dict) -> None:
    model = _random_swinir(**TINY, **tail).double()
    state = {k: v.double() for k, v in model.state_dict().items()}
    scale = tail["upscale"]
    x = torch.rand(2, 3, 9, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
        expected = reference_swinir(state, x, scale, 4)
        unmasked = reference_swinir(state, x, scale, 4, masked=False)
    assert out.shape == (2, 3, 9 * scale, 14 * scale)
    largest = expected.abs().max().item()
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10 * largest)
    # The test can fail: without the shifted-window mask the output is another one.
    assert (out - unmasked).abs().max() > 1e-4 * largest


def test_attention_in_chunks_of_windows_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _random_swinir(**TINY, upscale=2).double()
    x = torch.rand(1, 3, 24, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model(x)
        monkeypatch.setattr("srkit.models.swinir.ATTENTION_CHUNK", 2 * 16 * 16 * 3)  # 3 windows
        chunked = model(x)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("tail", list(TAILS.values()), ids=list(TAILS))
def test_saved_file_has_the_official_keys(tmp_path: Path, tail: dict) -> None:
    args = {**TINY, "depths": [2, 3], **tail}
    model = _random_swinir(**args)
    path = save_model(tmp_path / "swinir.safetensors", model, "swinir", args, tail["upscale"])
    tensors = load_file(str(path))
    assert set(tensors) == official_keys([2, 3], tail["upsampler"], tail["upscale"],
                                         tail.get("resi_connection", "1conv"),
                                         tail.get("patch_norm", True))
    block = "layers.1.residual_group.blocks."
    assert torch.equal(tensors[f"{block}1.attn.relative_position_index"], _bias_index(4))
    # The official mask for the training size (img_size 16: 16 windows of 4 × 4).
    assert torch.equal(tensors[f"{block}1.attn_mask"].double(), _official_mask(16, 16, 4, 2))
    assert tensors[f"{block}0.attn.relative_position_bias_table"].shape == (49, 2)


NON_DEFAULT = [  # every hyper-parameter off its default
    {"embed_dim": 12, "depths": [2, 3, 1], "num_heads": [2, 3, 4], "window_size": 6,
     "mlp_ratio": 1.5, "upscale": 3, "upsampler": "pixelshuffle", "resi_connection": "3conv",
     "patch_norm": False, "img_size": 24},
    {"embed_dim": 8, "depths": [1, 2], "num_heads": [4, 1], "window_size": 4, "mlp_ratio": 3.0,
     "upscale": 2, "upsampler": "pixelshuffledirect", "img_size": 32},
    {"embed_dim": 8, "depths": [3], "num_heads": [2], "window_size": 2, "mlp_ratio": 4.0,
     "upscale": 4, "upsampler": "nearest+conv", "img_size": 8},
]


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("args", NON_DEFAULT, ids=["pixelshuffle", "direct", "nearest-conv"])
def test_bare_state_dict_is_recognised_with_its_hyper_parameters(tmp_path: Path, suffix: str,
                                                                 args: dict) -> None:
    model = _random_swinir(**args)
    state = model.state_dict()
    path = tmp_path / f"swinir{suffix}"
    if suffix == ".pth":
        torch.save({"params_ema": state, "params": {}}, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded = load_model(path)
    expected = {"in_chans": 3, "resi_connection": "1conv", "patch_norm": True,
                "img_range": 1.0, **args}
    assert (loaded.arch, loaded.scale, loaded.arch_args) == ("swinir", args["upscale"], expected)
    assert loaded.size_multiple == args["window_size"]
    assert loaded.receptive_radius == 4 * args["window_size"]
    x = torch.rand(1, 3, 7, 10)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


@pytest.mark.parametrize(("height", "width"), [(5, 7), (9, 17), (3, 3), (4, 1)])
@pytest.mark.parametrize("tail", [TAILS["pixelshuffle-x3-3conv-nonorm"], TAILS["direct-x3"],
                                  TAILS["nearest-conv-x4"]], ids=["ps", "direct", "nearest"])
def test_output_is_input_times_scale_for_any_size(height: int, width: int, tail: dict) -> None:
    model = _random_swinir(**TINY, **tail)
    with torch.no_grad():
        out = model(torch.rand(1, 3, height, width))
    assert out.shape == (1, 3, height * tail["upscale"], width * tail["upscale"])
    assert torch.isfinite(out).all()


def test_img_range_follows_spandrels_rule_for_bare_files(tmp_path: Path) -> None:
    """Files do not store img_range: 255 for window 7 (the official JPEG models), else 1."""
    args = {**TINY, "window_size": 7, "img_size": 14, "upscale": 2}
    torch.save(_random_swinir(**args).state_dict(), tmp_path / "w7.pth")
    assert load_model(tmp_path / "w7.pth").arch_args["img_range"] == 255.0
    model = _random_swinir(**{**args, "img_range": 255.0})
    path = save_model(tmp_path / "w7.safetensors", model, "swinir", {**args, "img_range": 255.0},
                      2)
    assert load_model(path).arch_args["img_range"] == 255.0  # srkit's metadata says so


# --- tiling ----------------------------------------------------------------------------

def test_tiled_is_close_to_untiled_at_the_default_overlap(astronaut) -> None:
    """Windows mix across a tile, so tiling is approximate: at the default overlap of 4
    windows within 1e-5 (outputs in [0, 1]) on a photo crop, with full-strength weights;
    with no overlap far off."""
    model = _random_swinir(**TINY, upscale=2)
    assert model.exact_tiling is False and model.size_multiple == 4
    assert model.receptive_radius == 16
    image = torch.from_numpy(astronaut[100:164, 180:250]).permute(2, 0, 1)[None].contiguous()

    def run(tile: int, overlap: int) -> torch.Tensor:
        with torch.no_grad():
            return upscale_tiled(model, image, 2, tile, overlap, model.size_multiple)

    whole = run(0, 0)
    assert whole.shape == (1, 3, 128, 140)
    assert (run(16, model.receptive_radius) - whole).abs().max() < 1e-5
    assert (run(16, 0) - whole).abs().max() > 1e-2


# --- refusals ----------------------------------------------------------------------------

def _state_with(change, **tail) -> dict[str, torch.Tensor]:
    state = _random_swinir(**TINY, **(tail or {"upscale": 2})).state_dict()
    change(state)
    return state


BLOCK = "layers.1.residual_group.blocks.1."


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop(f"{BLOCK}mlp.fc2.bias"),
     rf"keys do not all fit swinir: 1 missing \(e\.g\. {re.escape(BLOCK)}mlp\.fc2\.bias\)"),
    (lambda s: s.update({f"{BLOCK}attn.qkv.weight": torch.zeros(30, 12)}),
     rf"{re.escape(BLOCK)}attn\.qkv\.weight has shape \(30, 12\), the network expects "
     r"\(36, 12\)"),
    (lambda s: s.update({"extra.weight": torch.zeros(2)}),
     r"keys do not all fit swinir: 1 unexpected \(e\.g\. extra\.weight\)"),
    (lambda s: [s.pop(k) for k in list(s) if k.startswith(("conv_before", "upsample", "conv_last"))]
     and s.update({"conv_last.weight": torch.zeros(3, 12, 3, 3), "conv_last.bias": torch.zeros(3)}),
     r"a SwinIR without an upsampler \(a ×1 denoising or JPEG model\)"),
    (lambda s: s.update({"upsample.0.weight": torch.zeros(192, 64, 3, 3)}),
     r"a SwinIR pixelshuffle tail of width 64 with upsample\.0 ×1"),
    (lambda s: s.update({"conv_before_upsample.0.weight": torch.zeros(32, 12, 3, 3)}),
     r"a SwinIR pixelshuffle tail of width 32"),
    (lambda s: s.update({"layers.0.residual_group.blocks.0.attn.relative_position_bias_table":
                         torch.zeros(50, 2)}),
     r"a SwinIR bias table of 50 rows, not \(2w − 1\)²"),
    (lambda s: s.update({"layers.0.residual_group.blocks.1.attn_mask": torch.zeros(8, 16, 16)}),
     r"a SwinIR attn_mask over 8 windows: not a square training size"),
    (lambda s: s.update({"absolute_pos_embed": torch.zeros(1, 256, 12)}),
     r"an absolute position embedding \(ape=True\)"),
    (lambda s: s.update({"layers.0.residual_group.blocks.0.attn.logit_scale": torch.zeros(2)}),
     r"looks like Swin2SR"),
], ids=["missing-key", "wrong-shape", "unexpected", "no-upsampler", "pixelshuffle-x1",
        "num-feat", "bias-table", "mask", "ape", "swin2sr"])
def test_unfitting_state_dicts_are_refused_in_one_line(tmp_path: Path, change, message: str,
                                                       no_spandrel_handoff: None) -> None:
    torch.save(_state_with(change), tmp_path / "swinir.pth")
    with pytest.raises(SrkitError, match=message) as error:
        load_model(tmp_path / "swinir.pth")
    assert "\n" not in str(error.value) and "swinir.pth" in str(error.value)


def test_direct_upsampler_channels_must_be_a_square_multiple(tmp_path: Path,
                                                            no_spandrel_handoff: None) -> None:
    state = _state_with(lambda s: s.update({"upsample.0.weight": torch.zeros(10, 12, 3, 3),
                                            "upsample.0.bias": torch.zeros(10)}),
                        upsampler="pixelshuffledirect", upscale=2)
    torch.save(state, tmp_path / "swinir.pth")
    with pytest.raises(SrkitError, match=r"upsample\.0 has 10 channels, not 3 × a square"):
        load_model(tmp_path / "swinir.pth")


@pytest.mark.parametrize(("args", "message"), [
    ({"upsampler": "pixelshuffle", "upscale": 5}, r"upscale 5 with the pixelshuffle upsampler"),
    ({"upsampler": "nearest+conv", "upscale": 3}, r"upscale 3 with the nearest\+conv"),
    ({"upsampler": "bilinear"}, r"upsampler 'bilinear'"),
    ({"num_heads": [5, 2]}, r"embed_dim 12 is not divisible by num_heads \[5, 2\]"),
    ({"depths": [2, 2, 2]}, r"need one entry per RSTB"),
    ({"depths": [0, 2]}, r"depths must be a list of 1 to 64 integers"),
    ({"img_size": 18}, r"img_size 18 must be a multiple of window_size 4"),
    ({"resi_connection": "2conv"}, r"resi_connection '2conv'"),
    ({"mlp_ratio": "2"}, r"mlp_ratio must be a positive number"),
])
def test_bad_arguments_are_refused(args: dict, message: str) -> None:
    with pytest.raises(SrkitError, match=message):
        build_model("swinir", **{**TINY, **args})


# --- the command line --------------------------------------------------------------------

def test_upscale_cli_runs_a_swinir_pth_in_tiles(tmp_path: Path, astronaut) -> None:
    photo = write_image(tmp_path / "photo.png", astronaut[:18, :23])
    state = _random_swinir(**TINY, **TAILS["nearest-conv-x2-3conv"]).state_dict()
    torch.save({"params_ema": state}, tmp_path / "s.pth")
    result = CliRunner().invoke(app, ["upscale", str(photo), "--model", str(tmp_path / "s.pth"),
                                      "--tile", "8", "-o", str(tmp_path / "out.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out.png").rgb.shape == (36, 46, 3)
    assert '"tile_overlap": 16' in result.stdout  # 4 windows of 4 px


def _srkit_upscale(run_main, photo: Path, model: Path, out: Path) -> list[str]:
    code, err = run_main(["upscale", photo, "--model", model, "-o", out])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error:"), err
    assert not out.exists()
    return lines


def test_upscale_cli_refuses_wrong_shaped_and_truncated_files_in_one_line(
        tmp_path: Path, astronaut, run_main) -> None:
    photo = write_image(tmp_path / "photo.png", astronaut[:18, :23])
    state = _random_swinir(**TINY, **TAILS["nearest-conv-x2-3conv"]).state_dict()
    torch.save({"params_ema": state}, tmp_path / "s.pth")
    data = (tmp_path / "s.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:len(data) // 2])
    lines = _srkit_upscale(run_main, photo, tmp_path / "cut.pth", tmp_path / "x.png")
    assert "cut.pth" in lines[0]
    state["layers.0.conv.4.weight"] = torch.zeros(12, 4, 3, 3)
    torch.save(state, tmp_path / "bad.pth")
    lines = _srkit_upscale(run_main, photo, tmp_path / "bad.pth", tmp_path / "y.png")
    assert "bad.pth: layers.0.conv.4.weight has shape (12, 4, 3, 3), the network expects " \
           "(12, 3, 3, 3)" in lines[0]


# --- spandrel's own SwinIR, where its source is available ----------------------------------

def _spandrel_root() -> Path:
    source = os.environ.get("SRKIT_SPANDREL_SRC")
    if not source:
        spec = importlib.util.find_spec("spandrel")  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("spandrel's source is not available (install spandrel or set "
                        "SRKIT_SPANDREL_SRC)")
        source = list(spec.submodule_search_locations)[0]
    return Path(source)


def spandrel_swinir() -> ModuleType:
    """spandrel's ``architectures/SwinIR`` package (its detection, ``SwinIRArch``, and its
    network, ``SwinIR``)."""
    return spandrel_architecture("SwinIR")


def spandrel_architecture(arch: str) -> ModuleType:
    """spandrel's ``architectures/<arch>`` package, imported under stub parent packages so
    that its relative imports resolve without the top-level ``__init__``; ``sys.modules`` is
    restored afterwards."""
    root = _spandrel_root()
    saved = {name: module for name, module in sys.modules.items()
             if name == "spandrel" or name.startswith("spandrel.")}
    for name in saved:
        del sys.modules[name]
    try:
        for name, folder in (("spandrel", root),
                             ("spandrel.architectures", root / "architectures")):
            package = ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
        return importlib.import_module(f"spandrel.architectures.{arch}")
    finally:
        for name in [n for n in sys.modules if n == "spandrel" or n.startswith("spandrel.")]:
            del sys.modules[name]
        sys.modules.update(saved)


# spandrel 0.4.2 always builds patch_norm=True (every official model has it), so the
# patch_norm=False variant is not among these.
@pytest.mark.parametrize("tail", [TAILS["pixelshuffle-x2"], TAILS["direct-x3"],
                                  {"upsampler": "pixelshuffle", "upscale": 3,
                                   "resi_connection": "3conv"},
                                  TAILS["nearest-conv-x4"], TAILS["nearest-conv-x2-3conv"]],
                         ids=["ps-x2", "direct-x3", "ps-x3-3conv", "nearest-x4",
                              "nearest-x2-3conv"])
def test_spandrel_swinir_computes_the_same_in_both_directions(tmp_path: Path,
                                                              tail: dict) -> None:
    swinir = spandrel_swinir()
    args = {**TINY, "depths": [2, 3], "num_heads": [2, 4], **tail}
    model = _random_swinir(**args)
    path = save_model(tmp_path / "swinir.safetensors", model, "swinir", args, tail["upscale"])
    # srkit's file through spandrel's own detection and network.
    descriptor = swinir.SwinIRArch().load(load_file(str(path)))
    assert (descriptor.scale, descriptor.input_channels) == (tail["upscale"], 3)
    theirs = descriptor.model.eval()
    x = torch.rand(1, 3, 10, 7)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), model(x), rtol=1e-5, atol=1e-5)
    # And a file of spandrel's network in srkit.
    torch.manual_seed(5)
    other = swinir.SwinIR(in_chans=3, embed_dim=12, depths=[2, 3], num_heads=[2, 4],
                          window_size=4, mlp_ratio=2.0, img_size=16, upscale=tail["upscale"],
                          upsampler=tail["upsampler"],
                          resi_connection=tail.get("resi_connection", "1conv"),
                          patch_norm=True)
    other = _strengthen(other.eval(), 5)
    torch.save({"params": other.state_dict()}, tmp_path / "theirs.pth")
    loaded = load_model(tmp_path / "theirs.pth")
    assert loaded.arch_args == {"in_chans": 3, "mlp_ratio": 2.0, "img_range": 1.0,
                                "resi_connection": "1conv", "patch_norm": True, **args}
    assert (load_model(path).arch_args, descriptor.tags[1]) == (args, "s16w4")
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), other(x), rtol=1e-5, atol=1e-5)


def test_spandrel_loads_srkits_swinir_file(tmp_path: Path) -> None:
    spandrel = pytest.importorskip("spandrel")
    args = {**TINY, **TAILS["pixelshuffle-x2"]}
    model = _random_swinir(**args)
    path = save_model(tmp_path / "swinir.safetensors", model, "swinir", args, 2)
    descriptor = spandrel.ModelLoader().load_from_file(str(path))
    assert (descriptor.architecture.id, descriptor.scale) == ("SwinIR", 2)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(descriptor.model(x), model(x), rtol=1e-5, atol=1e-5)
