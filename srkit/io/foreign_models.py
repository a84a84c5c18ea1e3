"""Foreign SR model files: recognise the architecture of a bare state dict, or refuse clearly.

A ``.pth`` (or a safetensors file without srkit's metadata) does not say which network it
belongs to. :func:`detect_architecture` recognises the layouts srkit runs from key
names and tensor shapes, as spandrel does:

- RRDBNet (ESRGAN, Real-ESRGAN, BSRGAN) in BasicSR's names (``conv_first``,
  ``body.N.rdbK.convM``, ``conv_body``, ``conv_up1..3``, ``conv_hr``, ``conv_last``), in the
  2019 names (``RRDB_trunk.``, ``trunk_conv.``, ``upconv1.``, ``HRconv.``) and in ESRGAN's
  original sequential layout (:func:`convert_old_esrgan`, which spandrel also writes);
- MSRResNet (``conv_first``, ``body.N.conv1``, ``upconv1``);
- SRVGGNetCompact (``body.0``, ``body.1`` PReLU, ..., ``body.{2 * num_conv + 2}``);
- SPAN (hongyuanyu/SPAN: ``conv_1.sk``, ``block_N.cK_r.*``, ``conv_cat``, ``upsampler.0``);
- SwinIR (JingyunLiang/SwinIR: ``conv_first``, ``layers.I.residual_group.blocks.J.*``,
  ``conv_after_body``, one of its three SR upsamplers);
- HAT (XPixelGroup/HAT: SwinIR's layout plus ``conv_block.cab.*``, ``overlap_attn.*`` and
  ``relative_position_index_SA`` / ``_OCA``; :mod:`srkit.io.foreign_hat`).

Layouts that only look like one of these (MMRealSR is an RRDBNet with a degradation
estimator beside it; ESRGAN+ adds 1×1 convs) raise :class:`UnsupportedLayout`, as does any
file whose keys do not all fit; :func:`load_with_spandrel` then tries spandrel (the
optional extra ``srkit[spandrel]``), which knows DAT and many more.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch

from srkit.errors import SrkitError

# ESRGAN's 2019 release (xinntao/ESRGAN ``RRDBNet_arch.py``) → BasicSR names.
_ESRGAN_2019_PREFIXES = {"RRDB_trunk.": "body.", "trunk_conv.": "conv_body.",
                         "upconv1.": "conv_up1.", "upconv2.": "conv_up2.",
                         "upconv3.": "conv_up3.", "HRconv.": "conv_hr."}
# Key fragments of architectures that share names with srkit's but are other networks.
FOREIGN_MARKERS: tuple[tuple[str, str], ...] = (
    ("MMRealSR", "de_net."), ("MMRealSR", "dd_embed."), ("MMRealSR", "am_list."),
    ("ESRGAN+", ".conv1x1."), ("GRL", "window_attn"),
)
# ESRGAN's original layout: model.0 conv_first, model.1 the trunk in a shortcut block
# (sub.0..NB-1 the RRDBs, sub.NB the trunk conv), then per ×2 stage an Upsample, a conv and
# a LeakyReLU (model.3, model.6, model.9 the convs), then HR conv, LeakyReLU, last conv.
_OLD_RDB = re.compile(r"model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)")
_OLD_TRUNK = re.compile(r"model\.1\.sub\.(\d+)\.(weight|bias)")
_OLD_LAYER = re.compile(r"model\.(\d+)\.(weight|bias)")


class UnsupportedLayout(SrkitError):
    """A state dict srkit cannot run as one of its architectures (spandrel may know it)."""


def to_basicsr_names(state: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """``state`` with ESRGAN's 2019 or original sequential names renamed to BasicSR's."""
    if any(k.startswith("RRDB_trunk.") for k in state):
        return {_rename_2019(k): v for k, v in state.items()}
    if "model.0.weight" in state and any(k.startswith("model.1.sub.") for k in state):
        return convert_old_esrgan(state, name)
    return state


def _rename_2019(key: str) -> str:
    for old, new in _ESRGAN_2019_PREFIXES.items():
        if key.startswith(old):
            key = new + key[len(old):]
    return re.sub(r"\.RDB([123])\.", r".rdb\1.", key)


def convert_old_esrgan(state: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """ESRGAN's sequential ``model.N`` keys → BasicSR's RRDBNet keys.

    With n ×2 stages the top-level convs are model.0, model.3, ..., model.3n (the upsampling
    convs), model.3n+2 (HR conv) and model.3n+4 (last conv). Keys outside that layout are
    kept unchanged, so they are reported as unexpected.
    """
    marker = _foreign_marker(state)
    if marker:
        raise UnsupportedLayout(f"{name}: looks like {marker[0]} (keys '{marker[1]}…'), "
                                "which srkit does not run")
    blocks = {int(m.group(1)) for k in state if (m := _OLD_RDB.fullmatch(k))}
    num_block = max(blocks) + 1 if blocks else 0
    layers = sorted({int(m.group(1)) for k in state if (m := _OLD_LAYER.fullmatch(k))})
    stages = (layers[-1] - 4) // 3 if layers else -1
    expected = [0, *(3 * j for j in range(1, stages + 1)), 3 * stages + 2, 3 * stages + 4]
    if stages < 0 or layers != expected:
        found = ", ".join(f"model.{i}" for i in layers)
        raise UnsupportedLayout(f"{name}: an ESRGAN-style file with convs {found}; srkit "
                                "expects model.0, model.3, model.6 (model.9), then HR and "
                                "last convs")
    renames = {0: "conv_first", 3 * stages + 2: "conv_hr", 3 * stages + 4: "conv_last",
               **{3 * j: f"conv_up{j}" for j in range(1, stages + 1)}}
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if m := _OLD_RDB.fullmatch(key):
            block, rdb, conv, kind = m.groups()
            converted[f"body.{block}.rdb{rdb}.conv{conv}.{kind}"] = value
        elif (m := _OLD_TRUNK.fullmatch(key)) and int(m.group(1)) == num_block:
            converted[f"conv_body.{m.group(2)}"] = value
        elif m := _OLD_LAYER.fullmatch(key):
            converted[f"{renames[int(m.group(1))]}.{m.group(2)}"] = value
        else:
            converted[key] = value
    return converted


def _foreign_marker(state: dict[str, torch.Tensor]) -> tuple[str, str] | None:
    for arch, fragment in FOREIGN_MARKERS:
        if any(fragment in k for k in state):
            return arch, fragment
    return None


def detect_architecture(state: dict[str, torch.Tensor], name: str = "checkpoint"
                        ) -> tuple[str, dict[str, Any]]:
    """Recognise RRDBNet, MSRResNet, SRVGGNetCompact, SPAN, SwinIR or HAT and their arguments
    from a state dict in BasicSR / the official names; :class:`UnsupportedLayout` otherwise."""
    marker = _foreign_marker(state)
    if marker:
        raise UnsupportedLayout(f"{name}: looks like {marker[0]} (keys '{marker[1]}…'), "
                                "which srkit does not run")
    if "conv_first.weight" in state and "body.0.rdb1.conv1.weight" in state:
        return "rrdbnet", _rrdbnet_args(state, name)
    if "conv_first.weight" in state and "body.0.conv1.weight" in state \
            and "upconv1.weight" in state:
        return "srresnet", _srresnet_args(state)
    if "body.0.weight" in state and state["body.0.weight"].ndim == 4:
        return "compact", _compact_args(state, name)
    if all(key in state for key in SPAN_KEYS):
        return "span", _span_args(state, name)
    if all(key in state for key in SWINIR_KEYS):
        return "swinir", _swinir_args(state, name)
    from srkit.io.foreign_hat import HAT_KEYS, hat_args  # it reads this module's helpers
    if all(key in state for key in HAT_KEYS):
        return "hat", hat_args(state, name)
    sample = ", ".join(list(state)[:3])
    raise UnsupportedLayout(f"{name}: unrecognised network layout (keys {sample}, ...); srkit "
                            "reads RRDBNet (ESRGAN, Real-ESRGAN), MSRResNet, SRVGGNetCompact, "
                            "SPAN, SwinIR and HAT")


def require_rgb(arch: str, arch_args: dict[str, Any], name: str) -> None:
    """SrkitError unless the network maps 3 channels to 3 (srkit's upscale runs RGB)."""
    in_chans = arch_args.get("in_chans", 3)  # SwinIR's name; its output has as many
    channels = {int(arch_args.get("num_in_ch", in_chans)),
                int(arch_args.get("num_out_ch", in_chans))}
    if channels != {3}:
        found = "/".join(str(c) for c in sorted(channels))
        raise SrkitError(f"{name}: a {found}-channel {arch} model; srkit runs RGB "
                         "(3-channel) models")


def _count_blocks(state: dict[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({int(m.group(1)) for k in state if (m := regex.fullmatch(k))})


def _rrdbnet_args(state: dict[str, torch.Tensor], name: str) -> dict[str, Any]:
    first = state["conv_first.weight"]
    if "conv_last.weight" not in state:
        raise UnsupportedLayout(f"{name}: an RRDBNet-like file without conv_last")
    num_out_ch = int(state["conv_last.weight"].shape[0])
    first_in = int(first.shape[1])
    stages = _count_blocks(state, r"conv_up(\d+)\.weight")
    unshuffle = {16 * num_out_ch: 4, 4 * num_out_ch: 2}.get(first_in, 1)
    if stages == 3 and unshuffle == 1:
        scale = 8
    elif stages == 2:
        scale = 4 // unshuffle
    else:
        raise UnsupportedLayout(f"{name}: an RRDBNet with {stages} upsampling stage(s) "
                                f"(×{2**stages}, pixel-unshuffle {unshuffle}); srkit's RRDBNet "
                                "has 2 (×4, or ×2 and ×1 by pixel-unshuffle) or 3 (×8)")
    return {"num_in_ch": first_in // unshuffle**2, "num_out_ch": num_out_ch, "scale": scale,
            "num_feat": int(first.shape[0]),
            "num_block": _count_blocks(state, r"body\.(\d+)\.rdb1\.conv1\.weight"),
            "num_grow_ch": int(state["body.0.rdb1.conv1.weight"].shape[0])}


def _srresnet_args(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    first = state["conv_first.weight"]
    num_feat = int(first.shape[0])
    if "upconv2.weight" in state:
        upscale = 4
    else:
        upscale = math.isqrt(int(state["upconv1.weight"].shape[0]) // num_feat)
    return {"num_in_ch": int(first.shape[1]), "num_out_ch": int(state["conv_last.weight"].shape[0]),
            "num_feat": num_feat,
            "num_block": _count_blocks(state, r"body\.(\d+)\.conv1\.weight"),
            "upscale": upscale}


def _compact_args(state: dict[str, torch.Tensor], name: str) -> dict[str, Any]:
    indices = sorted(int(m.group(1)) for k in state
                     if (m := re.fullmatch(r"body\.(\d+)\.weight", k)))
    last = indices[-1]
    if state[f"body.{last}.weight"].ndim != 4 or last % 2:
        raise UnsupportedLayout(f"{name}: unrecognised compact-network layout "
                                f"(last layer body.{last})")
    if "body.1.weight" not in state:
        raise UnsupportedLayout(f"{name}: compact network without PReLU weights; its "
                                "activation (relu or leakyrelu) cannot be told from the file")
    first = state["body.0.weight"]
    num_in_ch = int(first.shape[1])
    out_channels = int(state[f"body.{last}.weight"].shape[0])
    upscale = math.isqrt(out_channels // num_in_ch)
    if upscale * upscale * num_in_ch != out_channels:
        raise UnsupportedLayout(f"{name}: compact network's last conv has {out_channels} "
                                f"channels, not {num_in_ch} × a square scale")
    return {"num_in_ch": num_in_ch, "num_out_ch": num_in_ch, "num_feat": int(first.shape[0]),
            "num_conv": (last - 2) // 2, "upscale": upscale, "act_type": "prelu"}


# SPAN (hongyuanyu/SPAN): the keys spandrel also detects it by.
SPAN_KEYS = ("conv_1.sk.weight", "block_1.c1_r.sk.weight", "block_1.c1_r.eval_conv.weight",
             "conv_cat.weight", "conv_2.sk.weight", "upsampler.0.weight")


def _span_args(state: dict[str, torch.Tensor], name: str) -> dict[str, Any]:
    """Width and input channels from conv_1's skip conv; scale from the upsampler's
    ``num_out_ch · upscale²`` channels (output channels = input channels, as every published
    SPAN); ``norm=False`` where the file holds spandrel's ``no_norm`` buffer."""
    skip = state["conv_1.sk.weight"]
    num_in_ch, width = int(skip.shape[1]), int(skip.shape[0])
    out_channels = int(state["upsampler.0.weight"].shape[0])
    upscale = math.isqrt(out_channels // num_in_ch)
    if upscale < 1 or upscale * upscale * num_in_ch != out_channels:
        raise UnsupportedLayout(f"{name}: a SPAN whose upsampler has {out_channels} channels, "
                                f"not {num_in_ch} × a square scale")
    blocks = _count_blocks(state, r"block_(\d+)\.c1_r\.sk\.weight")
    if blocks != 6:
        raise UnsupportedLayout(f"{name}: a SPAN with {blocks} blocks; the SPAN network has "
                                "6 (block_1 … block_6)")
    return {"num_in_ch": num_in_ch, "num_out_ch": num_in_ch, "feature_channels": width,
            "upscale": upscale, "norm": "no_norm" not in state}


# SwinIR (JingyunLiang/SwinIR): the keys spandrel also detects it by.
_SWINIR_BLOCK = "layers.0.residual_group.blocks.0."
SWINIR_KEYS = ("conv_first.weight", f"{_SWINIR_BLOCK}norm1.weight", f"{_SWINIR_BLOCK}mlp.fc1.bias",
               f"{_SWINIR_BLOCK}attn.relative_position_index")


def _swinir_args(state: dict[str, torch.Tensor], name: str) -> dict[str, Any]:
    """Every SwinIR hyper-parameter from key names and shapes: ``embed_dim`` and
    ``in_chans`` from conv_first; per RSTB its layer count and heads (the bias table's
    columns); the window from the table's ``(2w − 1)²`` rows; ``mlp_ratio`` from fc1;
    ``img_size`` from a shifted layer's ``attn_mask`` (``(img_size / w)²``
    windows; 64 without one); the upsampler and scale from the tail; ``resi_connection``
    and ``patch_norm`` from which keys exist; ``img_range`` 255 for window 7 (the official
    JPEG models), else 1, spandrel's rule, as files do not store it."""
    if any("cpb_mlp" in key or "logit_scale" in key for key in state):
        raise UnsupportedLayout(f"{name}: looks like Swin2SR (Swin v2 attention keys), which "
                                "srkit does not run")
    if "absolute_pos_embed" in state:
        raise UnsupportedLayout(f"{name}: a SwinIR with an absolute position embedding "
                                "(ape=True), which fixes its input size; srkit runs ape=False")
    first = state["conv_first.weight"]
    if first.ndim != 4:
        raise UnsupportedLayout(f"{name}: a SwinIR whose conv_first.weight has shape "
                                f"{tuple(first.shape)}")
    embed_dim, in_chans = int(first.shape[0]), int(first.shape[1])
    upsampler, upscale = _swinir_tail(state, in_chans, name)
    depths, num_heads, window = swin_layers(state, name, "SwinIR", "layer")
    hidden = int(state[f"{_SWINIR_BLOCK}mlp.fc1.bias"].shape[0])
    mlp_ratio = hidden / embed_dim
    img_size = 64
    masks = [k for k in state
             if re.fullmatch(r"layers\.\d+\.residual_group\.blocks\.\d+\.attn_mask", k)]
    if masks:
        mask = state[masks[0]]
        side = math.isqrt(int(mask.shape[0]))
        if side * side != int(mask.shape[0]):
            raise UnsupportedLayout(f"{name}: a SwinIR attn_mask over {mask.shape[0]} windows: "
                                    "not a square training size")
        img_size = side * window
    if "conv_after_body.weight" in state:
        resi_connection = "1conv"
    elif "conv_after_body.0.weight" in state:
        resi_connection = "3conv"
    else:
        raise UnsupportedLayout(f"{name}: a SwinIR without conv_after_body")
    return {"in_chans": in_chans, "embed_dim": embed_dim, "depths": depths,
            "num_heads": num_heads, "window_size": window, "mlp_ratio": mlp_ratio,
            "upscale": upscale, "img_range": 255.0 if window == 7 else 1.0,
            "upsampler": upsampler, "resi_connection": resi_connection,
            "patch_norm": "patch_embed.norm.weight" in state, "img_size": img_size}


def swin_layers(state: dict[str, torch.Tensor], name: str, arch: str, group: str
                ) -> tuple[list[int], list[int], int]:
    """(depths, num_heads, window) of a Swin-style network's ``layers.I.residual_group.
    blocks.J`` (SwinIR's RSTBs, HAT's RHAGs): blocks counted per group, heads from each group's
    first bias table, the window from its rows, ``(2w − 1)²``. ``arch`` and ``group`` name them
    in the one-line refusals."""
    num_layers = _count_blocks(state, r"layers\.(\d+)\.residual_group\.blocks\.0\.norm1\.weight")
    depths, num_heads = [], []
    for index in range(num_layers):
        prefix = f"layers.{index}.residual_group.blocks."
        depths.append(_count_blocks(state, re.escape(prefix) + r"(\d+)\.norm1\.weight"))
        table = state.get(f"{prefix}0.attn.relative_position_bias_table")
        if table is None or table.ndim != 2:
            raise UnsupportedLayout(f"{name}: {arch} {group} {prefix}0 without a 2-D "
                                    "relative_position_bias_table")
        num_heads.append(int(table.shape[1]))
    rows = int(state[f"{_SWINIR_BLOCK}attn.relative_position_bias_table"].shape[0])
    window = (math.isqrt(rows) + 1) // 2
    if (2 * window - 1) ** 2 != rows or window < 2:
        raise UnsupportedLayout(f"{name}: a {arch} bias table of {rows} rows, not (2w − 1)² "
                                "for a window w ≥ 2")
    return depths, num_heads, window


def _swinir_tail(state: dict[str, torch.Tensor], in_chans: int, name: str,
                 family: str = "SwinIR") -> tuple[str, int]:
    """The upsampler and scale of a SwinIR (or of a HAT, ``family``, which shares the
    pixelshuffle tail): ``conv_up1..3`` (nearest+conv, ×2 each),
    ``upsample.{0,2,..}`` after ``conv_before_upsample`` (pixelshuffle: ×2 per conv of 4·64
    channels or one ×3 conv of 9·64) or ``upsample.0`` alone (pixelshuffledirect:
    ``in_chans · s²`` channels)."""
    if "conv_before_upsample.0.weight" in state:
        if "conv_up1.weight" in state:
            return "nearest+conv", 2 ** _count_blocks(state, r"conv_up(\d+)\.weight")
        width = int(state["conv_before_upsample.0.weight"].shape[0])
        indices = sorted(int(m.group(1)) for k in state
                         if (m := re.fullmatch(r"upsample\.(\d+)\.weight", k)))
        factors = [math.isqrt(int(state[f"upsample.{i}.weight"].shape[0]) // width)
                   for i in indices]
        found = ", ".join(f"upsample.{i} ×{f}" for i, f in zip(indices, factors, strict=True))
        if width != 64 or indices != list(range(0, 2 * len(indices), 2)) or not (
                factors == [3] or (factors and set(factors) == {2})):
            raise UnsupportedLayout(f"{name}: a {family} pixelshuffle tail of width {width} with "
                                    f"{found or 'no upsample convs'}; the official one has "
                                    "width 64 and ×2 stages or one ×3")
        return "pixelshuffle", math.prod(factors)
    if "upsample.0.weight" in state:
        channels = int(state["upsample.0.weight"].shape[0])
        upscale = math.isqrt(channels // in_chans)
        if upscale < 1 or upscale * upscale * in_chans != channels:
            raise UnsupportedLayout(f"{name}: a {family} whose upsample.0 has {channels} "
                                    f"channels, not {in_chans} × a square scale")
        return "pixelshuffledirect", upscale
    raise UnsupportedLayout(f"{name}: a {family} without an upsampler (a ×1 denoising or JPEG "
                            "model); srkit runs its SR upsamplers: pixelshuffle, "
                            "pixelshuffledirect, nearest+conv")


# A relu or leakyrelu SRVGGNetCompact is saved with the PReLU weights that compute the same
# function (PReLU(x) = max(0, x) + a·min(0, x): a = 0 is ReLU, a = 0.1 srkit's LeakyReLU), so
# Real-ESRGAN and spandrel, which only build PReLU compact nets, load it too.
EQUIVALENT_PRELU = {"relu": 0.0, "leakyrelu": 0.1}


def add_equivalent_prelu(state: dict[str, torch.Tensor], arch: str, arch_args: dict[str, Any]
                         ) -> dict[str, torch.Tensor]:
    """``state`` plus ``body.{2i+1}.weight`` PReLU weights for a relu/leakyrelu compact net."""
    slope = EQUIVALENT_PRELU.get(arch_args.get("act_type", "")) if arch == "compact" else None
    if slope is None:
        return state
    num_feat = int(state["body.0.weight"].shape[0])
    ordered: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        ordered[key] = value
        if (m := re.fullmatch(r"body\.(\d+)\.bias", key)) and f"body.{int(m.group(1)) + 2}.weight" \
                in state:
            ordered[f"body.{int(m.group(1)) + 1}.weight"] = torch.full((num_feat,), slope,
                                                                        dtype=value.dtype)
    return ordered


def drop_equivalent_prelu(state: dict[str, torch.Tensor], arch: str, arch_args: dict[str, Any],
                          name: str) -> dict[str, torch.Tensor]:
    """Undo :func:`add_equivalent_prelu` (the weights must be the activation's slope)."""
    slope = EQUIVALENT_PRELU.get(arch_args.get("act_type", "")) if arch == "compact" else None
    if slope is None:
        return state
    kept = {}
    for key, value in state.items():
        m = re.fullmatch(r"body\.(\d+)\.weight", key)
        if m and int(m.group(1)) % 2 and value.ndim == 1:
            if not bool((value == torch.tensor(slope, dtype=value.dtype)).all()):
                raise SrkitError(f"{name}: {key} are not the {arch_args['act_type']} slope "
                                 f"{slope} its metadata names")
            continue
        kept[key] = value
    return kept


# Overlap in input pixels each side between tiles of a spandrel model. srkit cannot work out
# a receptive radius for arbitrary networks, and transformers (SwinIR, HAT, DAT) attend over
# windows whose features mix across the whole trunk, so no finite overlap makes tiling exact;
# 32 pixels is 4 SwinIR windows, where tile seams no longer show in practice. --tile 0 runs
# the whole image at once (exact); --tile-overlap overrides this.
SPANDREL_OVERLAP = 32
SPANDREL_HINT = "`pip install 'srkit[spandrel]'` reads DAT and more"


class SpandrelNetwork(torch.nn.Module):
    """A spandrel ``ImageModelDescriptor`` as an srkit generator (``scale``,
    ``size_multiple``, ``receptive_radius``); the descriptor pads each input to the sizes
    its network needs and crops the output back, so any tile size works."""

    exact_tiling = False
    size_multiple = 1
    receptive_radius = SPANDREL_OVERLAP

    def __init__(self, descriptor: Any) -> None:
        super().__init__()
        self.net = descriptor.model  # registered, so .to() and .eval() reach it
        self.scale = int(descriptor.scale)
        self.architecture = str(descriptor.architecture.id)
        self._descriptor = descriptor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] → ``(B, 3, sH, sW)``; one image at a time (spandrel)."""
        return torch.cat([self._descriptor(x[i:i + 1]) for i in range(x.shape[0])])


def load_with_spandrel(state: dict[str, torch.Tensor], refusal: SrkitError, name: str
                       ) -> SpandrelNetwork:
    """The network spandrel recognises in ``state``; ``refusal`` (srkit's own message) with
    the install hint when spandrel is not installed, or when spandrel does not know it."""
    try:
        import spandrel
    except ImportError:
        raise SrkitError(f"{refusal}; {SPANDREL_HINT}") from None
    try:
        descriptor = spandrel.ModelLoader("cpu").load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise SrkitError(f"{refusal} (spandrel {spandrel.__version__} does not know it either)"
                         ) from None
    except (KeyError, ValueError, RuntimeError, AssertionError, IndexError) as error:
        first_line = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        raise SrkitError(f"{refusal} (spandrel could not read it either: "
                         f"{type(error).__name__} {first_line})") from None
    arch = f"spandrel {descriptor.architecture.id}"
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise SrkitError(f"{name}: a {arch} model ({descriptor.purpose}), not an image "
                         "super-resolution model")
    require_rgb(arch, {"num_in_ch": descriptor.input_channels,
                       "num_out_ch": descriptor.output_channels}, name)
    return SpandrelNetwork(descriptor)
