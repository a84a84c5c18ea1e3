"""SwinIR: image restoration with the Swin transformer (Liang et al., ICCVW 2021).

Official code: JingyunLiang/SwinIR ``models/network_swinir.py``; the state-dict keys here are
that file's (which spandrel and chaiNNer also read), so a file written by srkit loads there
and theirs load here:

```
conv_first                                        3×3 conv, in_chans → embed_dim
patch_embed.norm                                  LayerNorm on the tokens (patch_norm=True)
layers.I.residual_group.blocks.J.                 RSTB I, Swin layer J:
    norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2
    attn.relative_position_bias_table             ((2w−1)², heads) learnt biases
    attn.relative_position_index                  (w², w²) buffer (the table's index)
    attn_mask                                     (nW, w², w²) buffer, odd J (shifted) only
layers.I.conv | layers.I.conv.{0,2,4}             the RSTB's conv ('1conv' | '3conv')
norm                                              LayerNorm after the last RSTB
conv_after_body | conv_after_body.{0,2,4}
pixelshuffle:        conv_before_upsample.0, upsample.{0,2,..} (×2ⁿ) | upsample.0 (×3), conv_last
pixelshuffledirect:  upsample.0 (to in_chans·s², one pixel shuffle)
nearest+conv:        conv_before_upsample.0, conv_up1, [conv_up2 (×4), conv_up3 (×8)], conv_hr,
                     conv_last
```

The network: reflect-pad the input to a multiple of the window size, ``(x − mean) ·
img_range`` (the DIV2K RGB mean for 3 channels, else 0), ``conv_first``, then the tokens
(one per pixel, patch size 1) through the RSTBs — each a group of Swin layers, the group's
output back to an image, a conv, to tokens again, plus the group's input —, LayerNorm,
``conv_after_body`` plus ``conv_first``'s output, the upsampler, ``/ img_range + mean``, and
the padding cropped off. A Swin layer is ``x + W-MSA(LN(x))`` then ``x + MLP(LN(x))``
(GELU, hidden ``int(embed_dim · mlp_ratio)``); W-MSA is multi-head self-attention inside
``w × w`` windows with a learnt relative position bias; every odd layer shifts the windows by
``w // 2`` (a cyclic roll) and masks (−100 before the softmax) the pairs of pixels that the
roll brought together from opposite image borders.

The two buffers of the official files are kept for the key layout, but the forward does not
read them: the bias index depends on ``w`` only and the mask on the input size, so srkit
computes both (as the official network does at construction, and for every input size that
is not ``img_size``). ``img_size`` (the training crop) therefore only sets the shape of the
stored ``attn_mask``; it does not change the function.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from srkit.errors import SrkitError

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K, fixed in the official code (not in files)
NUM_FEAT = 64  # the upsamplers' width, fixed in the official code
MASK_VALUE = -100.0  # the official shifted-window mask
OVERLAP_WINDOWS = 4  # default tile overlap in windows (the receptive_radius srkit reports)
UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect", "nearest+conv")
UPSAMPLER_SCALES = {"pixelshuffle": "2, 4, 8, 16 or 3", "pixelshuffledirect": "any ≥ 1",
                    "nearest+conv": "2, 4 or 8"}
# Attention scores computed at once (windows × heads × w⁴): about 64 MB in float32, whatever
# the tile size, instead of all windows of a tile together.
ATTENTION_CHUNK = 1 << 24
MAX_LAYERS = 64  # bound on RSTBs and on Swin layers per RSTB read from a file


def relative_position_index(window: int) -> torch.Tensor:
    """``(w², w²)`` index into the ``(2w−1)²``-row bias table: for pixels ``p`` and ``q`` of a
    window (row-major), ``(Δrow + w − 1) · (2w − 1) + (Δcol + w − 1)`` with ``Δ = p − q``."""
    rows, cols = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()])  # (2, w²)
    delta = coords[:, :, None] - coords[:, None, :]
    return (delta[0] + window - 1) * (2 * window - 1) + (delta[1] + window - 1)


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """``(B, H, W, C)`` → ``(B · H/w · W/w, w, w, C)``, windows in row-major order per image."""
    batch, height, width, channels = x.shape
    x = x.view(batch, height // window, window, width // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, channels)


def window_reverse(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """The inverse of :func:`window_partition`: ``(B · nW, w, w, C)`` → ``(B, H, W, C)``."""
    channels = windows.shape[-1]
    x = windows.view(-1, height // window, width // window, window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)


def shift_regions(height: int, width: int, window: int, shift: int,
                  device: torch.device | None = None) -> torch.Tensor:
    """``(nW, w²)`` region labels of the pixels of each window of the rolled image: along each
    axis the last ``w`` pixels split into ``w − shift`` and the ``shift`` that the roll
    brought from the other border (labels ``3 · row band + column band``, as the official
    ``calculate_mask``); attention is masked between pixels of different regions."""
    def bands(length: int) -> torch.Tensor:
        band = torch.zeros(length, dtype=torch.long, device=device)
        band[length - window:] = 1
        band[length - shift:] = 2
        return band

    labels = bands(height)[:, None] * 3 + bands(width)[None, :]
    return window_partition(labels[None, :, :, None], window).reshape(-1, window * window)


def shift_mask(regions: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(nW, w², w²)``: 0 where two pixels share a region, −100 where they do not."""
    differ = regions[:, None, :] != regions[:, :, None]
    return differ.to(dtype) * MASK_VALUE


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with the relative position bias."""

    def __init__(self, dim: int, window: int, num_heads: int, store_index: bool = True) -> None:
        """``store_index``: keep the official ``relative_position_index`` buffer in the state
        dict (SwinIR's files have it per layer; HAT's have one for the whole network)."""
        super().__init__()
        self.window, self.num_heads = window, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, num_heads))
        index = relative_position_index(window)
        if store_index:
            self.register_buffer("relative_position_index", index)  # the file's; not read
        self.register_buffer("index", index.clone(), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, regions: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(B · nW, w², C)``; ``regions`` ``(nW, w²)`` for shifted windows (window
        ``k`` of the batch is window ``k mod nW`` of its image)."""
        count, tokens, channels = x.shape
        heads = self.num_heads
        bias = self.relative_position_bias_table[self.index.view(-1)]
        bias = bias.view(tokens, tokens, heads).permute(2, 0, 1)
        qkv = self.qkv(x).reshape(count, tokens, 3, heads, channels // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        q = q * self.scale
        step = max(1, ATTENTION_CHUNK // (heads * tokens * tokens))
        pieces = []
        for start in range(0, count, step):
            stop = min(count, start + step)
            scores = q[start:stop] @ k[start:stop].transpose(-2, -1) + bias
            if regions is not None:
                which = torch.arange(start, stop, device=x.device) % regions.shape[0]
                scores = scores + shift_mask(regions[which], scores.dtype)[:, None]
            pieces.append(scores.softmax(dim=-1) @ v[start:stop])
        out = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
        return self.proj(out.transpose(1, 2).reshape(count, tokens, channels))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinLayer(nn.Module):
    """One Swin transformer layer (the official ``SwinTransformerBlock``)."""

    def __init__(self, dim: int, num_heads: int, window: int, shift: int, hidden: int,
                 img_size: int) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden)
        if shift:  # the official files store the training size's mask
            self.register_buffer("attn_mask",
                                 shift_mask(shift_regions(img_size, img_size, window, shift)))

    def forward(self, x: torch.Tensor, size: tuple[int, int],
                regions: torch.Tensor) -> torch.Tensor:
        height, width = size
        batch, _, channels = x.shape
        image = self.norm1(x).view(batch, height, width, channels)
        image = shifted_window_attention(self.attn, image, self.window, self.shift, regions)
        x = x + image.reshape(batch, height * width, channels)
        return x + self.mlp(self.norm2(x))


def shifted_window_attention(attn: WindowAttention, image: torch.Tensor, window: int,
                             shift: int, regions: torch.Tensor) -> torch.Tensor:
    """(S)W-MSA on ``(B, H, W, C)``: roll by ``−shift`` (if any), attention in windows (masked
    by ``regions`` when shifted), windows back to the image, roll back."""
    batch, height, width, channels = image.shape
    if shift:
        image = torch.roll(image, shifts=(-shift, -shift), dims=(1, 2))
    windows = window_partition(image, window).view(-1, window * window, channels)
    windows = attn(windows, regions if shift else None)
    image = window_reverse(windows.view(-1, window, window, channels), window, height, width)
    if shift:
        image = torch.roll(image, shifts=(shift, shift), dims=(1, 2))
    return image


class BasicLayer(nn.Module):
    """The Swin layers of one RSTB (``residual_group.blocks.J``), shifted at odd ``J``."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: int, hidden: int,
                 img_size: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinLayer(dim, num_heads, window, 0 if j % 2 == 0 else window // 2, hidden,
                      img_size) for j in range(depth))

    def forward(self, x: torch.Tensor, size: tuple[int, int],
                regions: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, size, regions)
        return x


def residual_conv(dim: int, kind: str) -> nn.Module:
    """``'1conv'``: one 3×3 conv; ``'3conv'``: 3×3 to dim/4, LReLU 0.2, 1×1, LReLU 0.2, 3×3."""
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    quarter = dim // 4
    return nn.Sequential(nn.Conv2d(dim, quarter, 3, 1, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(quarter, quarter, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(quarter, dim, 3, 1, 1))


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, H·W, C)`` (the official PatchEmbed with patch size 1)."""
    return x.flatten(2).transpose(1, 2)


def to_image(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, H·W, C)`` → ``(B, C, H, W)`` (PatchUnEmbed)."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *size)


class RSTB(nn.Module):
    """Residual Swin transformer block: Swin layers, back to an image, a conv, + input."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: int, hidden: int,
                 img_size: int, resi_connection: str) -> None:
        super().__init__()
        self.residual_group = BasicLayer(dim, depth, num_heads, window, hidden, img_size)
        self.conv = residual_conv(dim, resi_connection)

    def forward(self, x: torch.Tensor, size: tuple[int, int],
                regions: torch.Tensor) -> torch.Tensor:
        return to_tokens(self.conv(to_image(self.residual_group(x, size, regions), size))) + x


class PatchEmbed(nn.Module):
    """Pixels to tokens, with the optional LayerNorm (``patch_embed.norm``)."""

    def __init__(self, dim: int, patch_norm: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim) if patch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_tokens(x)
        return self.norm(x) if self.norm is not None else x


class SwinIR(nn.Module):
    """SwinIR, ``(B, in_chans, H, W)`` → ``(B, in_chans, sH, sW)`` for any H, W.

    Args (the official names):
        in_chans: image channels (in and out; the RGB mean is subtracted for 3).
        embed_dim: token width (180 in SwinIR-M, 60 in the lightweight SwinIR-S, 240 in
            the real-world SwinIR-L).
        depths: Swin layers per RSTB (six 6s in SwinIR-M; SwinIR-L: nine 6s).
        num_heads: attention heads per RSTB (each must divide ``embed_dim``).
        window_size: attention window side ``w`` (8 in every official SR model).
        mlp_ratio: MLP hidden width over ``embed_dim`` (2 in the SR models).
        upscale: factor; ``pixelshuffle`` 2ⁿ or 3, ``pixelshuffledirect`` any, ``nearest+conv``
            2, 4 (official) or 8 (spandrel's extension).
        img_range: input multiplier after the mean (1.0; the official JPEG models use 255).
        upsampler: ``pixelshuffle`` (classical SR), ``pixelshuffledirect`` (lightweight),
            ``nearest+conv`` (real-world SR).
        resi_connection: ``1conv`` or ``3conv`` (the RSTB's and the body's convs).
        patch_norm: LayerNorm on the tokens after ``conv_first``.
        img_size: the training crop side; only the shape of the stored ``attn_mask`` buffers
            depends on it (a multiple of ``window_size``, larger than it).
    """

    exact_tiling = False  # windows mix across the whole tile through the shifted layers

    def __init__(self, in_chans: int = 3, embed_dim: int = 180,
                 depths: Sequence[int] = (6, 6, 6, 6, 6, 6),
                 num_heads: Sequence[int] = (6, 6, 6, 6, 6, 6), window_size: int = 8,
                 mlp_ratio: float = 2.0, upscale: int = 4, img_range: float = 1.0,
                 upsampler: str = "pixelshuffle", resi_connection: str = "1conv",
                 patch_norm: bool = True, img_size: int = 64) -> None:
        super().__init__()
        depths, num_heads = _check_arguments(in_chans, embed_dim, depths, num_heads,
                                             window_size, mlp_ratio, upscale, img_range,
                                             upsampler, resi_connection, img_size)
        self.scale = self.upscale = upscale
        self.upsampler = upsampler
        self.window_size = window_size
        self.img_range = float(img_range)
        mean = RGB_MEAN if in_chans == 3 else (0.0,)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        hidden = int(embed_dim * float(mlp_ratio))
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim, patch_norm)
        self.layers = nn.ModuleList(
            RSTB(embed_dim, depth, heads, window_size, hidden, img_size, resi_connection)
            for depth, heads in zip(depths, num_heads, strict=True))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)
        if upsampler == "pixelshuffledirect":
            self.upsample = nn.Sequential(
                nn.Conv2d(embed_dim, in_chans * upscale * upscale, 3, 1, 1),
                nn.PixelShuffle(upscale))
        else:
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, NUM_FEAT, 3, 1, 1),
                                                      nn.LeakyReLU())  # slope 0.01
            if upsampler == "pixelshuffle":
                self.upsample = pixelshuffle_stages(NUM_FEAT, upscale)
            else:
                for index in range(1, upscale.bit_length()):
                    self.add_module(f"conv_up{index}", nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1))
                self.conv_hr = nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            self.conv_last = nn.Conv2d(NUM_FEAT, in_chans, 3, 1, 1)
        init_linear_layers(self)

    @property
    def size_multiple(self) -> int:
        """The window size: ``upscale`` pads the image to it (reflect, as the official
        forward does) and keeps tile edges on it, so every tile's windows lie on the
        image's window grid."""
        return self.window_size

    @property
    def receptive_radius(self) -> int:
        """The default tile overlap, :data:`OVERLAP_WINDOWS` windows (32 px at w = 8). The
        shifted windows carry information a window further per layer, so no overlap is
        exact; this much kept the tiled outputs of the random-weight nets of
        ``tests/test_swinir.py`` within 1e-5 of untiled (docs/models.md has the table)."""
        return OVERLAP_WINDOWS * self.window_size

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return swin_features(x, self.window_size, self.patch_embed, self.layers, self.norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2:]
        x = _pad_to(x, self.window_size)
        mean = self.mean.to(x.dtype)
        x = (x - mean) * self.img_range
        first = self.conv_first(x)
        x = self.conv_after_body(self.forward_features(first)) + first
        if self.upsampler == "pixelshuffledirect":
            x = self.upsample(x)
        elif self.upsampler == "pixelshuffle":
            x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        else:
            x = self.conv_before_upsample(x)
            for index in range(1, self.upscale.bit_length()):
                conv = getattr(self, f"conv_up{index}")
                x = F.leaky_relu(conv(F.interpolate(x, scale_factor=2, mode="nearest")), 0.2)
            x = self.conv_last(F.leaky_relu(self.conv_hr(x), 0.2))
        x = x / self.img_range + mean
        return x[:, :, :height * self.upscale, :width * self.upscale]


def init_linear_layers(model: nn.Module) -> None:
    """The official SwinIR / HAT init of every Linear: truncated normal (std 0.02), zero bias."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)


def pixelshuffle_stages(num_feat: int, upscale: int) -> nn.Sequential:
    """The official ``Upsample``: per ×2 a conv to ``4·num_feat`` and a pixel shuffle, or one
    ×3 conv to ``9·num_feat`` (keys ``upsample.0``, ``upsample.2``, …)."""
    stages = [3] if upscale == 3 else [2] * (upscale.bit_length() - 1)
    parts: list[nn.Module] = []
    for factor in stages:
        parts += [nn.Conv2d(num_feat, factor * factor * num_feat, 3, 1, 1),
                  nn.PixelShuffle(factor)]
    return nn.Sequential(*parts)


def _pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad the bottom and right to multiples of ``multiple`` (the official
    ``check_image_size``); inputs too small to reflect are edge-replicated instead."""
    height, width = x.shape[2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if not pad_h and not pad_w:
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def swin_features(x: torch.Tensor, window: int, patch_embed: nn.Module, layers: nn.ModuleList,
                  norm: nn.Module) -> torch.Tensor:
    """The deep features of a Swin-style body (SwinIR's RSTBs, HAT's RHAGs): tokens through
    every group with the shifted-window regions of this input size, normalised, as an image."""
    size = (x.shape[2], x.shape[3])
    regions = shift_regions(size[0], size[1], window, window // 2, x.device)
    tokens = patch_embed(x)
    for layer in layers:
        tokens = layer(tokens, size, regions)
    return to_image(norm(tokens), size)


def layer_lists(arch: str, group: str, depths: object, num_heads: object
                ) -> tuple[list[int], list[int]]:
    """``depths`` and ``num_heads`` as lists of 1 to MAX_LAYERS integers, one entry per
    ``group`` each (SwinIR's RSTBs, HAT's RHAGs); SrkitError naming ``arch`` otherwise."""
    def integers(value: object, what: str) -> list[int]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value \
                or len(value) > MAX_LAYERS or any(
                    isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_LAYERS
                    for v in value):
            raise SrkitError(f"{arch}: {what} must be a list of 1 to {MAX_LAYERS} integers "
                             f"from 1 to {MAX_LAYERS}, got {value!r}")
        return list(value)

    depths, num_heads = integers(depths, "depths"), integers(num_heads, "num_heads")
    if len(depths) != len(num_heads):
        raise SrkitError(f"{arch}: depths {depths} and num_heads {num_heads} need one entry "
                         f"per {group} each")
    return depths, num_heads


def check_widths(arch: str, embed_dim: int, num_heads: list[int], **positive: float) -> None:
    """Heads that divide ``embed_dim``, positive numbers (``mlp_ratio`` among them) and an MLP
    at least one channel wide; SrkitError naming ``arch`` otherwise."""
    if any(embed_dim % heads for heads in num_heads):
        raise SrkitError(f"{arch}: embed_dim {embed_dim} is not divisible by num_heads "
                         f"{num_heads}")
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise SrkitError(f"{arch}: {name} must be a positive number, got {value!r}")
    if int(embed_dim * float(positive["mlp_ratio"])) < 1:
        raise SrkitError(f"{arch}: mlp_ratio {positive['mlp_ratio']} leaves no MLP width")


def pixelshuffle_scale(upscale: int) -> bool:
    """Whether the official pixelshuffle tail builds ×``upscale``: 3, or 2 to 16 in powers
    of two."""
    return upscale == 3 or (upscale & (upscale - 1) == 0 and 2 <= upscale <= 16)


def _check_arguments(in_chans: int, embed_dim: int, depths: Sequence[int],
                     num_heads: Sequence[int], window_size: int, mlp_ratio: float,
                     upscale: int, img_range: float, upsampler: str, resi_connection: str,
                     img_size: int) -> tuple[list[int], list[int]]:
    """SrkitError for arguments the official network would not build; the layer lists."""
    depths, num_heads = layer_lists("swinir", "RSTB", depths, num_heads)
    if min(in_chans, embed_dim, upscale) < 1 or window_size < 2:
        raise SrkitError("swinir: in_chans, embed_dim and upscale must be at least 1, "
                         "window_size at least 2")
    check_widths("swinir", embed_dim, num_heads, mlp_ratio=mlp_ratio, img_range=img_range)
    if upsampler not in UPSAMPLERS:
        raise SrkitError(f"swinir: upsampler {upsampler!r} (choose from "
                         f"{', '.join(UPSAMPLERS)})")
    if (upsampler == "pixelshuffle" and not pixelshuffle_scale(upscale)) \
            or (upsampler == "nearest+conv" and upscale not in (2, 4, 8)):
        raise SrkitError(f"swinir: upscale {upscale} with the {upsampler} upsampler (it takes "
                         f"{UPSAMPLER_SCALES[upsampler]})")
    if resi_connection not in ("1conv", "3conv") or (resi_connection == "3conv"
                                                     and embed_dim < 4):
        raise SrkitError(f"swinir: resi_connection {resi_connection!r} (1conv, or 3conv with "
                         "embed_dim ≥ 4)")
    if img_size <= window_size or img_size % window_size:
        raise SrkitError(f"swinir: img_size {img_size} must be a multiple of window_size "
                         f"{window_size} and larger than it")
    return depths, num_heads
