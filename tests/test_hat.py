"""HAT: the official network's function, its keys, recognition from a bare file, tiling.

The reference forward below re-states the official equations (XPixelGroup/HAT
``hat_arch.py``) from the state dict alone: the hybrid attention block's window attention
(test_swinir's window-by-window SW-MSA, the same keys and mask), its channel attention block,
and the overlapping cross-attention written window by window on a zero-padded feature map
(the official ``nn.Unfold``), with the official bias index built pixel pair by pixel pair.
Where spandrel's source is available (see test_swinir), its HAT network and detection are
compared too; its HAT imports einops, found beside the source folder or installed.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from test_swinir import (  # tests/ is on sys.path
    _attention,
    _conv,
    _count,
    _linear,
    _norm,
    _spandrel_root,
    _srkit_upscale,
    _strengthen,
    _tail,
    spandrel_architecture,
)
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
        "compress_ratio": 3, "squeeze_factor": 3}


# --- an independent reference ------------------------------------------------------------

def _gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def _cab(img: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    """The channel attention block on ``(H, W, C)``."""
    x = img.permute(2, 0, 1)[None]
    x = _conv(_gelu(_conv(x, state, f"{prefix}cab.0.")), state, f"{prefix}cab.2.")
    pooled = x.mean(dim=(2, 3), keepdim=True)
    gate = torch.relu(_conv(pooled, state, f"{prefix}cab.3.attention.1."))
    gate = torch.sigmoid(_conv(gate, state, f"{prefix}cab.3.attention.3."))
    return (x * gate)[0].permute(1, 2, 0)


def _hab(x: torch.Tensor, state: dict, prefix: str, window: int, shift: int) -> torch.Tensor:
    normed = _norm(x, state, f"{prefix}norm1.")
    x = x + _attention(normed, state, prefix, window, shift, True) \
        + 0.01 * _cab(normed, state, f"{prefix}conv_block.")
    hidden = _gelu(_linear(_norm(x, state, f"{prefix}norm2."), state, f"{prefix}mlp.fc1."))
    return x + _linear(hidden, state, f"{prefix}mlp.fc2.")


def _oca_index(window: int, overlap: int) -> torch.Tensor:
    """Query pixel p of the window, key pixel q of the overlap window (its own coordinates):
    the official row ``(Δr + w − ow + 1)(w + ow − 1) + (Δc + w − ow + 1)``, Δ = q − p."""
    index = torch.empty(window * window, overlap * overlap, dtype=torch.long)
    for p in range(window * window):
        for q in range(overlap * overlap):
            index[p, q] = ((q // overlap - p // window + window - overlap + 1)
                           * (window + overlap - 1) + q % overlap - p % window + window
                           - overlap + 1)
    return index


def _ocab(x: torch.Tensor, state: dict, prefix: str, window: int) -> torch.Tensor:
    height, width, channels = x.shape
    table = state[f"{prefix}relative_position_bias_table"]
    heads = table.shape[1]
    overlap = math.isqrt(table.shape[0]) - window + 1
    bias = table[_oca_index(window, overlap)]  # negative rows count from the end, as torch's
    head_dim = channels // heads
    qkv = _linear(_norm(x, state, f"{prefix}norm1."), state, f"{prefix}qkv.")
    pad = (overlap - window) // 2
    padded = F.pad(qkv.permute(2, 0, 1), (pad, pad, pad, pad)).permute(1, 2, 0)
    out = torch.empty_like(x)
    for r in range(0, height, window):
        for c in range(0, width, window):
            q = qkv[r:r + window, c:c + window, :channels].reshape(-1, channels)
            kv = padded[r:r + overlap, c:c + overlap, channels:].reshape(-1, 2 * channels)
            per_head = []
            for h in range(heads):
                part = slice(h * head_dim, (h + 1) * head_dim)
                scores = q[:, part] * head_dim ** -0.5 @ kv[:, part].T + bias[:, :, h]
                values = kv[:, channels:][:, part]
                per_head.append(torch.softmax(scores, dim=-1) @ values)
            out[r:r + window, c:c + window] = torch.cat(per_head, 1).reshape(window, window, -1)
    x = x + _linear(out, state, f"{prefix}proj.")
    hidden = _gelu(_linear(_norm(x, state, f"{prefix}norm2."), state, f"{prefix}mlp.fc1."))
    return x + _linear(hidden, state, f"{prefix}mlp.fc2.")


def _conv_if(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    return _conv(x, state, prefix) if f"{prefix}weight" in state else x  # 1conv | identity


def reference_hat(state: dict, x: torch.Tensor, scale: int, window: int) -> torch.Tensor:
    height, width = x.shape[-2:]
    x = F.pad(x, (0, -width % window, 0, -height % window), mode="reflect")
    mean = torch.tensor([0.4488, 0.4371, 0.4040]).to(x.dtype).view(1, 3, 1, 1)  # float32
    x = x - mean
    outputs = []
    for image in x:
        first = _conv(image[None], state, "conv_first.")
        feat = first[0].permute(1, 2, 0)
        if "patch_embed.norm.weight" in state:
            feat = _norm(feat, state, "patch_embed.norm.")
        for i in range(_count(state, r"layers\.(\d+)\.residual_group\.overlap_attn\.qkv\.weight")):
            start, group = feat, f"layers.{i}.residual_group."
            for j in range(_count(state, rf"{re.escape(group)}blocks\.(\d+)\.norm1\.weight")):
                feat = _hab(feat, state, f"{group}blocks.{j}.", window,
                            0 if j % 2 == 0 else window // 2)
            feat = _ocab(feat, state, f"{group}overlap_attn.", window)
            feat = _conv_if(feat.permute(2, 0, 1)[None], state, f"layers.{i}.conv.")
            feat = feat[0].permute(1, 2, 0) + start
        feat = _norm(feat, state, "norm.").permute(2, 0, 1)[None]
        outputs.append(_tail(_conv_if(feat, state, "conv_after_body.") + first, state, scale))
    return (torch.cat(outputs) + mean)[..., :height * scale, :width * scale]


def official_keys(depths: list[int], upscale: int, resi: str = "1conv",
                  patch_norm: bool = True) -> set[str]:
    """The state-dict keys of the official HAT (and of spandrel's), written out."""
    def pair(name: str) -> set[str]:
        return {f"{name}.weight", f"{name}.bias"}

    keys = pair("conv_first") | pair("norm") | pair("conv_before_upsample.0") | pair("conv_last")
    keys |= {"relative_position_index_SA", "relative_position_index_OCA"}
    keys |= (pair("patch_embed.norm") if patch_norm else set()) \
        | (pair("conv_after_body") if resi == "1conv" else set())
    stages = 1 if upscale == 3 else int(math.log2(upscale))
    keys |= set().union(*(pair(f"upsample.{2 * i}") for i in range(stages)))
    mlp = ("norm1", "norm2", "mlp.fc1", "mlp.fc2")
    for i, depth in enumerate(depths):
        group = f"layers.{i}.residual_group"
        keys |= pair(f"layers.{i}.conv") if resi == "1conv" else set()
        keys |= {f"{group}.overlap_attn.relative_position_bias_table"}
        for part in (*mlp, "qkv", "proj"):
            keys |= pair(f"{group}.overlap_attn.{part}")
        for j in range(depth):
            block = f"{group}.blocks.{j}"
            keys |= {f"{block}.attn.relative_position_bias_table"}
            for part in (*mlp, "attn.qkv", "attn.proj", "conv_block.cab.0", "conv_block.cab.2",
                         "conv_block.cab.3.attention.1", "conv_block.cab.3.attention.3"):
                keys |= pair(f"{block}.{part}")
    return keys


def _random_hat(seed: int = 0, **args) -> nn.Module:
    torch.manual_seed(seed)
    return _strengthen(build_model("hat", **args).eval(), seed)


VARIANTS = {
    "x2": {"upscale": 2},
    "x3-identity-nonorm": {"upscale": 3, "resi_connection": "identity", "patch_norm": False},
    "x4-w6-overlap-1/3": {"upscale": 4, "window_size": 6, "overlap_ratio": 1 / 3},
}


@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=list(VARIANTS))
def test_forward_matches_the_official_equations(variant: dict) -> None:
    model = _random_hat(**{**TINY, **variant}).double()
    state = {k: v.double() for k, v in model.state_dict().items()}
    scale, window = variant["upscale"], variant.get("window_size", 4)
    x = torch.rand(2, 3, 9, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
        expected = reference_hat(state, x, scale, window)
    assert out.shape == (2, 3, 9 * scale, 14 * scale)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10 * expected.abs().max().item())


def test_overlapping_attention_index_and_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _random_hat(**TINY, upscale=2).double()
    assert torch.equal(model.relative_position_index_OCA, _oca_index(4, 6))
    assert model.relative_position_index_OCA.min() < 0  # the official index wraps
    x = torch.rand(1, 3, 24, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model(x)
        monkeypatch.setattr("srkit.models.swinir.ATTENTION_CHUNK", 2 * 16 * 36 * 3)  # 3 windows
        chunked = model(x)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=list(VARIANTS))
def test_saved_file_has_the_official_keys(tmp_path: Path, variant: dict) -> None:
    args = {**TINY, "depths": [2, 3], **variant}
    path = save_model(tmp_path / "hat.safetensors", _random_hat(**args), "hat", args,
                      variant["upscale"])
    tensors = load_file(str(path))
    assert set(tensors) == official_keys([2, 3], variant["upscale"],
                                         variant.get("resi_connection", "1conv"),
                                         variant.get("patch_norm", True))
    window = variant.get("window_size", 4)
    overlap = window + int(window * variant.get("overlap_ratio", 0.5))
    assert torch.equal(tensors["relative_position_index_OCA"], _oca_index(window, overlap))
    assert tensors["layers.1.residual_group.overlap_attn.relative_position_bias_table"].shape \
        == ((window + overlap - 1) ** 2, 2)


NON_DEFAULT = [  # every detectable hyper-parameter off its default
    {"embed_dim": 12, "depths": [2, 3, 1], "num_heads": [2, 3, 4], "window_size": 6,
     "compress_ratio": 4, "squeeze_factor": 6, "overlap_ratio": 1 / 3, "mlp_ratio": 1.5,
     "upscale": 3, "resi_connection": "identity", "patch_norm": False},
    {"embed_dim": 8, "depths": [1, 2], "num_heads": [4, 1], "window_size": 4,
     "compress_ratio": 2, "squeeze_factor": 8, "overlap_ratio": 1.0, "mlp_ratio": 3.0,
     "upscale": 8},
]


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("args", NON_DEFAULT, ids=["x3-w6", "x8-w4"])
def test_bare_state_dict_is_recognised_with_its_hyper_parameters(tmp_path: Path, suffix: str,
                                                                 args: dict) -> None:
    model = _random_hat(**args)
    state = model.state_dict()
    path = tmp_path / f"hat{suffix}"
    if suffix == ".pth":
        torch.save({"params_ema": state, "params": {}}, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded = load_model(path)
    expected = {"in_chans": 3, "resi_connection": "1conv", "patch_norm": True, **args}
    assert (loaded.arch, loaded.scale, loaded.arch_args) == ("hat", args["upscale"], expected)
    assert (loaded.size_multiple, loaded.receptive_radius) == (args["window_size"],
                                                               4 * args["window_size"])
    x = torch.rand(1, 3, 7, 10)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


@pytest.mark.parametrize(("height", "width"), [(5, 7), (9, 17), (3, 3), (4, 1)])
def test_output_is_input_times_scale_for_any_size(height: int, width: int) -> None:
    model = _random_hat(**TINY, upscale=3)
    with torch.no_grad():
        out = model(torch.rand(1, 3, height, width))
    assert out.shape == (1, 3, height * 3, width * 3) and torch.isfinite(out).all()


def test_tiled_is_close_to_untiled_at_the_default_overlap(astronaut) -> None:
    """Windows mix across a tile and the channel attention pools all of it, so tiling is
    approximate: at the default overlap of 4 windows within 1e-4 (outputs in [0, 1]) on a
    photo crop, with full-strength weights (measured 7.8e-5); with no overlap far off."""
    model = _random_hat(**TINY, upscale=2)
    assert (model.exact_tiling, model.size_multiple, model.receptive_radius) == (False, 4, 16)
    image = torch.from_numpy(astronaut[100:164, 180:252]).permute(2, 0, 1)[None].contiguous()

    def run(tile: int, overlap: int) -> torch.Tensor:
        with torch.no_grad():
            return upscale_tiled(model, image, 2, tile, overlap, model.size_multiple)

    whole = run(0, 0)
    assert whole.shape == (1, 3, 128, 144)
    assert (run(16, model.receptive_radius) - whole).abs().max() < 1e-4
    assert (run(16, 0) - whole).abs().max() > 1e-2


# --- refusals ----------------------------------------------------------------------------

GROUP = "layers.1.residual_group."


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop(f"{GROUP}overlap_attn.proj.bias"),
     rf"keys do not all fit hat: 1 missing \(e\.g\. {re.escape(GROUP)}overlap_attn\.proj"),
    (lambda s: s.update({f"{GROUP}blocks.1.conv_block.cab.2.weight": torch.zeros(12, 3, 3, 3)}),
     r"cab\.2\.weight has shape \(12, 3, 3, 3\), the network expects \(12, 4, 3, 3\)"),
    (lambda s: s.update({"layers.0.residual_group.overlap_attn.relative_position_bias_table":
                         torch.zeros(50, 2)}),
     r"a HAT overlapping-attention table of 50 rows"),
    (lambda s: s.update({"layers.0.residual_group.overlap_attn.relative_position_bias_table":
                         torch.zeros(64, 2)}),  # ow = 5: an odd overlap
     r"a HAT overlapping-attention table of 64 rows"),
    (lambda s: s.update({"layers.0.residual_group.blocks.0.conv_block.cab.0.weight":
                         torch.zeros(5, 12, 3, 3)}),
     r"cab\.0\.weight has 5 output channels, not embed_dim 12 // an integer compress_ratio"),
    (lambda s: s.update({"upsample.0.weight": torch.zeros(192, 64, 3, 3)}),
     r"a HAT pixelshuffle tail of width 64 with upsample\.0 ×1"),
    (lambda s: s.update({"conv_up1.weight": torch.zeros(64, 64, 3, 3)}),
     r"a HAT with a nearest\+conv tail; the official HAT has pixelshuffle only"),
    (lambda s: s.update({"absolute_pos_embed": torch.zeros(1, 256, 12)}),
     r"a HAT with an absolute position embedding"),
], ids=["missing-key", "wrong-shape", "oca-table", "odd-overlap", "compress", "x1-stage",
        "nearest-conv", "ape"])
def test_unfitting_state_dicts_are_refused_in_one_line(tmp_path: Path, change, message: str,
                                                       no_spandrel_handoff: None) -> None:
    state = _random_hat(**TINY, upscale=2).state_dict()
    change(state)
    torch.save(state, tmp_path / "hat.pth")
    with pytest.raises(SrkitError, match=message) as error:
        load_model(tmp_path / "hat.pth")
    assert "\n" not in str(error.value) and "hat.pth" in str(error.value)


@pytest.mark.parametrize(("args", "message"), [
    ({"upsampler": "pixelshuffledirect"}, r"the official HAT has pixelshuffle only"),
    ({"upscale": 5}, r"upscale 5 with the pixelshuffle upsampler"),
    ({"overlap_ratio": 0.25}, r"int\(window_size · overlap_ratio\) even"),
    ({"num_heads": [5, 2]}, r"embed_dim 12 is not divisible by num_heads \[5, 2\]"),
    ({"compress_ratio": 13}, r"compress_ratio 13 must be from 1 to embed_dim 12"),
    ({"resi_connection": "3conv"}, r"resi_connection '3conv'"),
    ({"window_size": 64}, r"window_size from 2 to 63"),
])
def test_bad_arguments_are_refused(args: dict, message: str) -> None:
    with pytest.raises(SrkitError, match=message):
        build_model("hat", **{**TINY, "upscale": 2, **args})


# --- the command line --------------------------------------------------------------------

def test_upscale_cli_runs_a_hat_pth_in_tiles(tmp_path: Path, astronaut) -> None:
    photo = write_image(tmp_path / "photo.png", astronaut[:18, :23])
    torch.save({"params_ema": _random_hat(**TINY, upscale=2).state_dict()}, tmp_path / "h.pth")
    result = CliRunner().invoke(app, ["upscale", str(photo), "--model", str(tmp_path / "h.pth"),
                                      "--tile", "8", "-o", str(tmp_path / "out.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out.png").rgb.shape == (36, 46, 3)
    assert '"tile_overlap": 16' in result.stdout  # 4 windows of 4 px


def test_upscale_cli_refuses_wrong_shaped_and_truncated_files_in_one_line(
        tmp_path: Path, astronaut, run_main) -> None:
    photo = write_image(tmp_path / "photo.png", astronaut[:18, :23])
    state = _random_hat(**TINY, upscale=2).state_dict()
    torch.save({"params_ema": state}, tmp_path / "h.pth")
    data = (tmp_path / "h.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:len(data) // 2])
    assert "cut.pth" in _srkit_upscale(run_main, photo, tmp_path / "cut.pth", tmp_path / "x.png")[0]
    key = f"{GROUP}overlap_attn.qkv.weight"
    state[key] = torch.zeros(30, 12)
    torch.save(state, tmp_path / "bad.pth")
    lines = _srkit_upscale(run_main, photo, tmp_path / "bad.pth", tmp_path / "y.png")
    assert f"bad.pth: {key} has shape (30, 12), the network expects (36, 12)" in lines[0]


# --- spandrel's own HAT, where its source is available ------------------------------------

def spandrel_hat():
    """spandrel's ``architectures/HAT`` (``HATArch``, ``HAT``); einops from beside the
    source folder (``pip download``'s layout) where it is not installed."""
    root = _spandrel_root()
    beside = root.parent / "einops"
    if importlib.util.find_spec("einops") is None and not beside.is_dir():
        pytest.skip("spandrel's HAT needs einops, which is not available")
    sys.path.append(str(root.parent))  # for einops only
    try:
        return spandrel_architecture("HAT")
    finally:
        sys.path.remove(str(root.parent))


@pytest.mark.parametrize("variant", [VARIANTS["x2"], VARIANTS["x4-w6-overlap-1/3"],
                                     {"upscale": 3, "resi_connection": "identity"}],
                         ids=["x2", "x4-w6", "x3-identity"])
def test_spandrel_hat_computes_the_same_in_both_directions(tmp_path: Path,
                                                           variant: dict) -> None:
    hat = spandrel_hat()
    args = {**TINY, "depths": [2, 3], "num_heads": [2, 4], **variant}
    model = _random_hat(**args)
    path = save_model(tmp_path / "hat.safetensors", model, "hat", args, variant["upscale"])
    descriptor = hat.HATArch().load(load_file(str(path)))  # spandrel's detection
    assert (descriptor.scale, descriptor.input_channels) == (variant["upscale"], 3)
    x = torch.rand(1, 3, 10, 7)
    with torch.no_grad():
        torch.testing.assert_close(descriptor.model.eval()(x), model(x), rtol=1e-5, atol=1e-5)
    torch.manual_seed(5)  # and a file of spandrel's network in srkit
    other = hat.HAT(in_chans=3, embed_dim=12, depths=[2, 3], num_heads=[2, 4],
                    window_size=args["window_size"], compress_ratio=3, squeeze_factor=3,
                    overlap_ratio=args.get("overlap_ratio", 0.5), mlp_ratio=2.0,
                    upscale=variant["upscale"], upsampler="pixelshuffle",
                    resi_connection=args.get("resi_connection", "1conv"))
    other = _strengthen(other.eval(), 5)
    torch.save({"params": other.state_dict()}, tmp_path / "theirs.pth")
    loaded = load_model(tmp_path / "theirs.pth")
    assert loaded.arch_args == {"in_chans": 3, "overlap_ratio": 0.5, "mlp_ratio": 2.0,
                                "resi_connection": "1conv", "patch_norm": True, **args}
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), other(x), rtol=1e-5, atol=1e-5)
