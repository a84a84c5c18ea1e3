"""HAT: the hybrid attention transformer (Chen et al., "Activating More Pixels in Image
Super-Resolution Transformer", CVPR 2023).

Official code: XPixelGroup/HAT ``hat/archs/hat_arch.py``; the state-dict keys here are that
file's (which spandrel and chaiNNer also read), so a file written by srkit loads there and
theirs load here:

```
conv_first                                        3×3 conv, in_chans → embed_dim
relative_position_index_SA                        (w², w²) buffer (the window table's index)
relative_position_index_OCA                       (w², ow²) buffer (the OCAB table's index)
patch_embed.norm                                  LayerNorm on the tokens (patch_norm=True)
layers.I.residual_group.blocks.J.                 RHAG I, hybrid attention block (HAB) J:
    norm1, attn.qkv, attn.proj, attn.relative_position_bias_table ((2w−1)², heads),
    conv_block.cab.{0,2}                          CAB: 3×3 to embed_dim // compress_ratio,
    conv_block.cab.3.attention.{1,3}              GELU, 3×3 back; channel attention 1×1s
    norm2, mlp.fc1, mlp.fc2
layers.I.residual_group.overlap_attn.             the group's OCAB: norm1, qkv, proj,
    relative_position_bias_table ((w+ow−1)², heads), norm2, mlp.fc1, mlp.fc2
layers.I.conv                                     the RHAG's 3×3 conv ('1conv'; none: 'identity')
norm, conv_after_body                             LayerNorm after the last RHAG; 3×3 conv
conv_before_upsample.0, upsample.{0,2,..} (×2ⁿ) | upsample.0 (×3), conv_last
```

The network: reflect-pad the input to a multiple of the window size ``w`` (as the official
test code and spandrel do), ``(x − mean) · img_range`` (the DIV2K RGB mean for 3 channels),
``conv_first``, tokens through the RHAGs, LayerNorm, ``conv_after_body`` plus
``conv_first``'s output, the pixelshuffle tail, ``/ img_range + mean``, crop. A HAB is
``x + W-MSA(LN(x)) + conv_scale · CAB(LN(x))``, then ``x + MLP(LN(x))``: SwinIR's window
attention (odd blocks shifted by ``w/2`` with the −100 mask; the pieces are
``srkit.models.swinir``'s) beside a channel attention block — two 3×3 convs (the middle
``embed_dim // compress_ratio`` wide, GELU) whose output is scaled per channel by
``sigmoid(conv(relu(conv(mean over the image))))`` (``embed_dim // squeeze_factor`` wide).
After a group's HABs, the OCAB: queries from the ``w × w`` windows, keys and values from the
overlapping ``ow × ow`` windows around them (``ow = w + int(w · overlap_ratio)``, the feature
map zero-padded by ``(ow − w)/2``: the official ``nn.Unfold``), a relative position bias over
the ``(w + ow − 1)²`` offsets, ``proj``, the residual, then ``x + MLP(LN(x))``. Each RHAG adds
its input back after its conv.

The official OCAB index has entries below zero (offsets shifted by ``w − ow + 1``), which
PyTorch's indexing reads from the table's end; it is a one-to-one map onto the table's rows
modulo its length, and srkit reads it that way (:func:`overlap_position_index`). Both index
buffers are stored with their official values; the forward uses its own copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from srkit.errors import SrkitError
from srkit.models import swinir
from srkit.models.swinir import (
    NUM_FEAT,
    RGB_MEAN,
    Mlp,
    PatchEmbed,
    WindowAttention,
    init_linear_layers,
    pixelshuffle_stages,
    relative_position_index,
    shifted_window_attention,
    to_image,
    to_tokens,
)

OVERLAP_WINDOWS = 4  # default tile overlap in windows (the receptive_radius srkit reports)
MAX_WINDOW = 63  # the official net (img_size 64) stops shifting at window ≥ img_size
RESI_CONNECTIONS = ("1conv", "identity")


def overlap_window(window: int, overlap_ratio: float) -> int:
    """``ow = w + int(w · overlap_ratio)``, the official OCAB's key window side."""
    return window + int(window * overlap_ratio)


def overlap_position_index(window: int, overlap: int) -> torch.Tensor:
    """``(w², ow²)``, the official ``calculate_rpi_oca``: for query pixel ``p`` of a ``w``
    window and key pixel ``q`` of its ``ow`` window (both row-major, ``q`` in the window's
    own coordinates), ``(Δrow + w − ow + 1) · (w + ow − 1) + (Δcol + w − ow + 1)`` with
    ``Δ = q − p`` (entries may be negative: see the module docstring)."""
    def coords(side: int) -> torch.Tensor:
        rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        return torch.stack([rows.flatten(), cols.flatten()])

    delta = coords(overlap)[:, None, :] - coords(window)[:, :, None] + (window - overlap + 1)
    return delta[0] * (window + overlap - 1) + delta[1]


class ChannelAttention(nn.Module):
    """RCAN's channel attention: ``x · sigmoid(conv(relu(conv(mean over H, W))))``."""

    def __init__(self, dim: int, squeezed: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, squeezed, 1),
                                       nn.ReLU(), nn.Conv2d(squeezed, dim, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class CAB(nn.Module):
    """The channel attention block: 3×3 conv, GELU, 3×3 conv, channel attention."""

    def __init__(self, dim: int, compressed: int, squeezed: int) -> None:
        super().__init__()
        self.cab = nn.Sequential(nn.Conv2d(dim, compressed, 3, 1, 1), nn.GELU(),
                                 nn.Conv2d(compressed, dim, 3, 1, 1),
                                 ChannelAttention(dim, squeezed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cab(x)


class HAB(nn.Module):
    """The hybrid attention block: (shifted) window attention plus the scaled CAB, an MLP."""

    def __init__(self, dim: int, num_heads: int, window: int, shift: int, hidden: int,
                 compressed: int, squeezed: int, conv_scale: float) -> None:
        super().__init__()
        self.window, self.shift, self.conv_scale = window, shift, conv_scale
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads, store_index=False)
        self.conv_block = CAB(dim, compressed, squeezed)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x: torch.Tensor, size: tuple[int, int],
                regions: torch.Tensor) -> torch.Tensor:
        height, width = size
        batch, _, channels = x.shape
        image = self.norm1(x).view(batch, height, width, channels)
        conv = to_tokens(self.conv_block(image.permute(0, 3, 1, 2)))
        attended = shifted_window_attention(self.attn, image, self.window, self.shift, regions)
        x = x + attended.reshape(batch, height * width, channels) + conv * self.conv_scale
        return x + self.mlp(self.norm2(x))


class OCAB(nn.Module):
    """Overlapping cross-attention: ``w × w`` query windows attend to the ``ow × ow``
    windows centred on them; attention runs on chunks of windows (``ATTENTION_CHUNK``)."""

    def __init__(self, dim: int, window: int, overlap: int, num_heads: int,
                 hidden: int) -> None:
        super().__init__()
        self.window, self.overlap, self.num_heads = window, overlap, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        rows = (window + overlap - 1) ** 2
        self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, num_heads))
        self.register_buffer("index", overlap_position_index(window, overlap) % rows,
                             persistent=False)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        height, width = size
        batch, _, channels = x.shape
        w, ow, heads = self.window, self.overlap, self.num_heads
        qkv = self.qkv(self.norm1(x)).view(batch, height, width, 3 * channels)
        queries = swinir.window_partition(qkv[..., :channels], w).view(-1, w * w, channels)
        pad = (ow - w) // 2
        kv = nn.functional.pad(qkv[..., channels:].permute(0, 3, 1, 2), (pad, pad, pad, pad))
        # (B, nH, nW, ow, ow, 2C): every key window, a view (no copy of the overlaps).
        windows = kv.unfold(2, ow, w).unfold(3, ow, w).permute(0, 2, 3, 4, 5, 1)
        rows, cols = windows.shape[1:3]
        bias = self.relative_position_bias_table[self.index.view(-1)]
        bias = bias.view(w * w, ow * ow, heads).permute(2, 0, 1)
        head_dim = channels // heads
        count = queries.shape[0]
        step = max(1, swinir.ATTENTION_CHUNK // (heads * w * w * ow * ow))
        pieces = []
        for start in range(0, count, step):
            which = torch.arange(start, min(count, start + step), device=x.device)
            keys = windows[which // (rows * cols), which // cols % rows, which % cols]
            keys = keys.reshape(len(which), ow * ow, 2, heads, head_dim).permute(2, 0, 3, 1, 4)
            q = queries[start:start + step].view(len(which), w * w, heads, head_dim)
            scores = (q.transpose(1, 2) * self.scale) @ keys[0].transpose(-2, -1) + bias
            pieces.append((scores.softmax(dim=-1) @ keys[1]).transpose(1, 2))
        out = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
        image = swinir.window_reverse(out.reshape(count, w, w, channels), w, height, width)
        x = x + self.proj(image.reshape(batch, height * width, channels))
        return x + self.mlp(self.norm2(x))


class AttenBlocks(nn.Module):
    """A group's HABs (``blocks.J``, shifted at odd ``J``) and its OCAB (``overlap_attn``)."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: int, overlap: int,
                 hidden: int, compressed: int, squeezed: int, conv_scale: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            HAB(dim, num_heads, window, 0 if j % 2 == 0 else window // 2, hidden, compressed,
                squeezed, conv_scale) for j in range(depth))
        self.overlap_attn = OCAB(dim, window, overlap, num_heads, hidden)

    def forward(self, x: torch.Tensor, size: tuple[int, int],
                regions: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, size, regions)
        return self.overlap_attn(x, size)


class RHAG(nn.Module):
    """Residual hybrid attention group: HABs, the OCAB, back to an image, a conv, + input."""

    def __init__(self, group: AttenBlocks, dim: int, resi_connection: str) -> None:
        super().__init__()
        self.residual_group = group
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1) if resi_connection == "1conv" \
            else nn.Identity()

    def forward(self, x: torch.Tensor, size: tuple[int, int],
                regions: torch.Tensor) -> torch.Tensor:
        return to_tokens(self.conv(to_image(self.residual_group(x, size, regions), size))) + x


class HAT(nn.Module):
    """HAT, ``(B, in_chans, H, W)`` → ``(B, in_chans, sH, sW)`` for any H, W.

    Args (the official names; defaults: HAT ×4 of the paper, ``HAT_SRx4.yml``):
        in_chans: image channels (in and out; the RGB mean is subtracted for 3).
        embed_dim: token width (180 in HAT and HAT-L, 144 in HAT-S).
        depths: HABs per RHAG (six 6s; HAT-L twelve 6s).
        num_heads: attention heads per RHAG (each must divide ``embed_dim``).
        window_size: attention window side ``w`` (16 in every official model).
        compress_ratio: the CAB's middle width is ``embed_dim // compress_ratio`` (3; HAT-S 24).
        squeeze_factor: the channel attention's width is ``embed_dim // squeeze_factor``
            (30; HAT-S 24).
        conv_scale: the CAB's weight in the HAB (0.01; not stored in files).
        overlap_ratio: the OCAB's key windows are ``w + int(w · overlap_ratio)`` wide (0.5);
            ``int(w · overlap_ratio)`` must be even (the official unfold needs it).
        mlp_ratio: MLP hidden width over ``embed_dim`` (2), in the HABs and OCABs.
        upscale: factor, 2ⁿ (2 to 16) or 3 (the ``pixelshuffle`` tail).
        img_range: input multiplier after the mean (1.0 in every official model).
        upsampler: ``pixelshuffle``, the official network's only SR tail.
        resi_connection: ``1conv`` (a 3×3 conv ending each RHAG and the body) or ``identity``.
        patch_norm: LayerNorm on the tokens after ``conv_first``.
    """

    exact_tiling = False  # windows mix across the tile; the channel attention pools all of it

    def __init__(self, in_chans: int = 3, embed_dim: int = 180,
                 depths: Sequence[int] = (6, 6, 6, 6, 6, 6),
                 num_heads: Sequence[int] = (6, 6, 6, 6, 6, 6), window_size: int = 16,
                 compress_ratio: int = 3, squeeze_factor: int = 30, conv_scale: float = 0.01,
                 overlap_ratio: float = 0.5, mlp_ratio: float = 2.0, upscale: int = 4,
                 img_range: float = 1.0, upsampler: str = "pixelshuffle",
                 resi_connection: str = "1conv", patch_norm: bool = True) -> None:
        super().__init__()
        depths, num_heads = _check_arguments(
            in_chans, embed_dim, depths, num_heads, window_size, compress_ratio,
            squeeze_factor, conv_scale, overlap_ratio, mlp_ratio, upscale, img_range,
            upsampler, resi_connection)
        self.scale = self.upscale = upscale
        self.window_size = window_size
        self.img_range = float(img_range)
        mean = RGB_MEAN if in_chans == 3 else (0.0,)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        overlap = overlap_window(window_size, overlap_ratio)
        self.register_buffer("relative_position_index_SA", relative_position_index(window_size))
        self.register_buffer("relative_position_index_OCA",
                             overlap_position_index(window_size, overlap))
        hidden = int(embed_dim * float(mlp_ratio))
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim, patch_norm)
        self.layers = nn.ModuleList(
            RHAG(AttenBlocks(embed_dim, depth, heads, window_size, overlap, hidden,
                             embed_dim // compress_ratio, embed_dim // squeeze_factor,
                             float(conv_scale)), embed_dim, resi_connection)
            for depth, heads in zip(depths, num_heads, strict=True))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1) \
            if resi_connection == "1conv" else nn.Identity()
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, NUM_FEAT, 3, 1, 1),
                                                  nn.LeakyReLU())  # slope 0.01
        self.upsample = pixelshuffle_stages(NUM_FEAT, upscale)
        self.conv_last = nn.Conv2d(NUM_FEAT, in_chans, 3, 1, 1)
        init_linear_layers(self)

    @property
    def size_multiple(self) -> int:
        """The window size: ``upscale`` pads the image to it and keeps tile edges on it, so
        every tile's windows lie on the image's window grid."""
        return self.window_size

    @property
    def receptive_radius(self) -> int:
        """The default tile overlap, :data:`OVERLAP_WINDOWS` windows (64 px at w = 16). No
        overlap is exact (shifted and overlapping windows reach further at every block, and
        the channel attention averages the whole tile); docs/models.md has the measured
        tiled-vs-untiled differences."""
        return OVERLAP_WINDOWS * self.window_size

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return swinir.swin_features(x, self.window_size, self.patch_embed, self.layers,
                                    self.norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2:]
        x = swinir._pad_to(x, self.window_size)
        mean = self.mean.to(x.dtype)
        x = (x - mean) * self.img_range
        first = self.conv_first(x)
        x = self.conv_after_body(self.forward_features(first)) + first
        x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        x = x / self.img_range + mean
        return x[:, :, :height * self.upscale, :width * self.upscale]


def _check_arguments(in_chans: int, embed_dim: int, depths: Sequence[int],
                     num_heads: Sequence[int], window_size: int, compress_ratio: int,
                     squeeze_factor: int, conv_scale: float, overlap_ratio: float,
                     mlp_ratio: float, upscale: int, img_range: float, upsampler: str,
                     resi_connection: str) -> tuple[list[int], list[int]]:
    """SrkitError for arguments the official network would not build; the layer lists."""
    depths, num_heads = swinir.layer_lists("hat", "RHAG", depths, num_heads)
    if min(in_chans, embed_dim, upscale) < 1 or not 2 <= window_size <= MAX_WINDOW:
        raise SrkitError("hat: in_chans, embed_dim and upscale must be at least 1, "
                         f"window_size from 2 to {MAX_WINDOW}")
    for name, value in (("compress_ratio", compress_ratio), ("squeeze_factor", squeeze_factor)):
        if not 1 <= value <= embed_dim:
            raise SrkitError(f"hat: {name} {value} must be from 1 to embed_dim {embed_dim}")
    swinir.check_widths("hat", embed_dim, num_heads, mlp_ratio=mlp_ratio, img_range=img_range,
                        conv_scale=conv_scale)
    if isinstance(overlap_ratio, bool) or not isinstance(overlap_ratio, (int, float)) \
            or not 0 <= overlap_ratio <= 4 or int(window_size * overlap_ratio) % 2:
        raise SrkitError(f"hat: overlap_ratio {overlap_ratio!r} must be from 0 to 4 with "
                         f"int(window_size · overlap_ratio) even (window_size {window_size}; "
                         "the official OCAB pads by half of it on each side)")
    if upsampler != "pixelshuffle":
        raise SrkitError(f"hat: upsampler {upsampler!r} (the official HAT has pixelshuffle "
                         "only)")
    if not swinir.pixelshuffle_scale(upscale):
        raise SrkitError(f"hat: upscale {upscale} with the pixelshuffle upsampler (it takes "
                         "2, 4, 8, 16 or 3)")
    if resi_connection not in RESI_CONNECTIONS:
        raise SrkitError(f"hat: resi_connection {resi_connection!r} (choose from "
                         f"{', '.join(RESI_CONNECTIONS)})")
    return depths, num_heads
