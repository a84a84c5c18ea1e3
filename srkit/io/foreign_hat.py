"""HAT (XPixelGroup/HAT ``hat_arch.py``) recognised from a bare state dict.

Every hyper-parameter srkit's :class:`srkit.models.hat.HAT` takes is read from key names and
tensor shapes, except ``conv_scale`` (0.01) and ``img_range`` (1), which the files do not
store and every official model shares.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from srkit.io.foreign_models import UnsupportedLayout, _swinir_tail, swin_layers

_BLOCK = "layers.0.residual_group.blocks.0."
_OCAB = "layers.0.residual_group.overlap_attn."
# The keys spandrel also detects HAT by (a subset).
HAT_KEYS = ("conv_first.weight", "relative_position_index_SA", f"{_BLOCK}norm1.weight",
            f"{_BLOCK}conv_block.cab.0.weight", f"{_BLOCK}conv_block.cab.3.attention.1.weight",
            f"{_BLOCK}mlp.fc1.bias", f"{_OCAB}relative_position_bias_table",
            f"{_OCAB}qkv.weight")


def hat_args(state: dict[str, torch.Tensor], name: str) -> dict[str, Any]:
    """``embed_dim`` and ``in_chans`` from conv_first; per RHAG its HAB count and heads (the
    bias table's columns); the window from the table's ``(2w − 1)²`` rows; the OCAB window
    ``ow`` from its table's ``(w + ow − 1)²`` rows, and ``overlap_ratio = (ow − w) / w``;
    ``compress_ratio`` and ``squeeze_factor`` as ``embed_dim`` over the CAB's and the channel
    attention's widths; ``mlp_ratio`` from fc1; the scale from the pixelshuffle tail;
    ``resi_connection`` and ``patch_norm`` from which keys exist."""
    if "absolute_pos_embed" in state:
        raise UnsupportedLayout(f"{name}: a HAT with an absolute position embedding "
                                "(ape=True), which fixes its input size; srkit runs ape=False")
    first = state["conv_first.weight"]
    if first.ndim != 4:
        raise UnsupportedLayout(f"{name}: a HAT whose conv_first.weight has shape "
                                f"{tuple(first.shape)}")
    embed_dim, in_chans = int(first.shape[0]), int(first.shape[1])
    upsampler, upscale = _swinir_tail(state, in_chans, name, "HAT")
    if upsampler != "pixelshuffle":
        raise UnsupportedLayout(f"{name}: a HAT with a {upsampler} tail; the official HAT has "
                                "pixelshuffle only")
    depths, num_heads, window = swin_layers(state, name, "HAT", "group")
    oca_rows = int(state[f"{_OCAB}relative_position_bias_table"].shape[0])
    overlap = math.isqrt(oca_rows) - window + 1
    if (window + overlap - 1) ** 2 != oca_rows or overlap < window or (overlap - window) % 2:
        raise UnsupportedLayout(f"{name}: a HAT overlapping-attention table of {oca_rows} rows, "
                                f"not (w + ow − 1)² for window {window} and an overlap window "
                                f"ow = w + an even number")
    return {"in_chans": in_chans, "embed_dim": embed_dim, "depths": depths,
            "num_heads": num_heads, "window_size": window,
            "compress_ratio": _ratio(state, f"{_BLOCK}conv_block.cab.0.weight", embed_dim,
                                     "compress_ratio", name),
            "squeeze_factor": _ratio(state, f"{_BLOCK}conv_block.cab.3.attention.1.weight",
                                     embed_dim, "squeeze_factor", name),
            "overlap_ratio": _float_giving(overlap - window, window),
            "mlp_ratio": _float_giving(int(state[f"{_BLOCK}mlp.fc1.bias"].shape[0]), embed_dim),
            "upscale": upscale, "resi_connection": _resi_connection(state, name),
            "patch_norm": "patch_embed.norm.weight" in state}


def _ratio(state: dict[str, torch.Tensor], key: str, embed_dim: int, what: str,
           name: str) -> int:
    """The integer ``r`` with ``embed_dim // r`` = the conv's output channels (the largest
    such ``r``, which is ``embed_dim / width`` exactly when it divides, as in every official
    model; any ``r`` giving the width builds the same network)."""
    width = int(state[key].shape[0])
    ratio = embed_dim // width if 1 <= width <= embed_dim else 0
    if not ratio or embed_dim // ratio != width:
        raise UnsupportedLayout(f"{name}: a HAT whose {key} has {width} output channels, not "
                                f"embed_dim {embed_dim} // an integer {what}")
    return ratio


def _float_giving(part: int, whole: int) -> float:
    """``part / whole``, nudged up where float rounding would make ``int(whole · ratio)``
    (how the official network turns the ratio back into a width) fall short of ``part``."""
    ratio = part / whole
    return ratio if int(whole * ratio) == part else (part + 0.5) / whole


def _resi_connection(state: dict[str, torch.Tensor], name: str) -> str:
    if "conv_after_body.weight" in state:
        return "1conv"
    if any(key.startswith("conv_after_body.") for key in state):
        raise UnsupportedLayout(f"{name}: a HAT whose conv_after_body is not one conv (HAT has "
                                "'1conv' or 'identity')")
    return "identity"
