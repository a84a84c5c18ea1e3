"""SRNTT: reference-based ×4 SR by neural texture transfer (Zhang et al., CVPR 2019, §3).

Two parts, as the paper and its reference code (ZZUTK/SRNTT ``model.py``):

* the **content extractor**: a conv, ``num_block`` residual blocks with a long skip, on the
  LR image; its own ×4 head (two conv + pixel-shuffle ×2 steps, two convs) gives the
  *single-image* output (the reference code's ``net_upscale``), used when no reference is
  given;
* the **texture transfer** network: at each scale the content features are concatenated
  with the swapped reference features of that scale (``relu3_1`` at LR size, ``relu2_1`` at
  ×2, ``relu1_1`` at ×4, :mod:`srkit.ops.texture_swap`), fused by a conv and residual blocks
  with a skip (``num_block``, ``num_block // 2`` and ``num_block // 4`` of them, the
  reference code's split), and upsampled ×2 by conv + pixel shuffle after the first two
  scales; two convs give the image.

srkit's differences: the residual blocks have no BatchNorm (as the PyTorch port
S-aiueo32/srntt-pytorch), and both outputs add the bilinear ×4 input (the port's global
skip) instead of the reference's tanh output.

The VGG19 layers the swap matches on (up to ``relu3_1``) belong to the network
(``vgg.*`` tensors, frozen): a model file carries the weights its texture swap was trained
with, so ``upscale --ref`` needs no VGG file. Training loads them from ``--vgg-weights``.

``forward(x)`` is the single-image mode; ``forward(x, ref)`` runs the texture swap against
``ref`` ``(1 or B, 3, H_r, W_r)`` in [0, 1] (any size of at least 12×12; cropped to
multiples of 4) and the texture transfer. The single-image mode is convolutional and tiles
exactly (``receptive_radius``); the swap is global, so ``upscale --ref`` runs each image
whole (:mod:`srkit.stages.upscale_ref`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srkit.errors import SrkitError
from srkit.models.vgg import VGG19FeatureExtractor

SWAP_LAYERS = ("relu3_1", "relu2_1", "relu1_1")  # coarse to fine: factors 1, 2, 4
SWAP_CHANNELS = {"relu3_1": 256, "relu2_1": 128, "relu1_1": 64}
MIN_REFERENCE = 12  # a 3×3 patch at relu3_1 (1/4 resolution)


class _ResBlock(nn.Module):
    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


def _upsample2(num_feat: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2),
                         nn.LeakyReLU(0.1))


class _Fusion(nn.Module):
    """Concatenate content and swapped features, conv, residual blocks, skip to content."""

    def __init__(self, num_feat: int, swap_channels: int, num_block: int) -> None:
        super().__init__()
        self.head = nn.Conv2d(num_feat + swap_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[_ResBlock(num_feat) for _ in range(num_block)])
        self.tail = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, content: torch.Tensor, swapped: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.head(torch.cat([content, swapped], 1)), 0.1)
        return content + self.tail(self.body(h))


class SRNTT(nn.Module):
    """SRNTT generator (×4).

    Args:
        num_in_ch, num_out_ch: image channels (3).
        num_feat: feature channels (64).
        num_block: residual blocks of the content extractor and of the first texture
            fusion (16); the second and third fusions have ``num_block // 2`` and
            ``num_block // 4`` (at least 1).
        upscale: 4 (the texture swap's three VGG scales fix it).
    """

    reference_based = True
    size_multiple = 1

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_block: int = 16, upscale: int = 4) -> None:
        super().__init__()
        if upscale != 4:
            raise SrkitError(f"srntt is a ×4 network (its texture swap uses VGG19 features "
                             f"at 1/4, 1/2 and full size), not ×{upscale}")
        if num_in_ch != 3 or num_out_ch != 3:
            raise SrkitError("srntt takes and gives RGB (num_in_ch = num_out_ch = 3)")
        if num_feat < 2 or num_block < 1:
            raise SrkitError("srntt: num_feat must be at least 2 and num_block at least 1")
        self.scale = 4
        self.vgg = VGG19FeatureExtractor(list(SWAP_LAYERS))
        # content extractor
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.content_body = nn.Sequential(*[_ResBlock(num_feat) for _ in range(num_block)])
        self.content_up = nn.Sequential(_upsample2(num_feat), _upsample2(num_feat),
                                        nn.Conv2d(num_feat, num_feat, 3, 1, 1),
                                        nn.LeakyReLU(0.1),
                                        nn.Conv2d(num_feat, num_out_ch, 3, 1, 1))
        # texture transfer
        blocks = (num_block, max(1, num_block // 2), max(1, num_block // 4))
        self.fusions = nn.ModuleList(_Fusion(num_feat, SWAP_CHANNELS[layer], count)
                                     for layer, count in zip(SWAP_LAYERS, blocks, strict=True))
        self.transfer_up = nn.ModuleList([_upsample2(num_feat), _upsample2(num_feat)])
        self.conv_last = nn.Sequential(nn.Conv2d(num_feat, num_feat // 2, 3, 1, 1),
                                       nn.LeakyReLU(0.1),
                                       nn.Conv2d(num_feat // 2, num_out_ch, 3, 1, 1))
        # single-image mode: 1 + num_block·2 LR convs, then the head's convs at ×2 and ×4
        self.receptive_radius = 1 + 2 * num_block + 2

    def content(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the single-image ×4 output, the content features at LR size)."""
        first = F.leaky_relu(self.conv_first(x), 0.1)
        features = first + self.content_body(first)
        base = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
        return base + self.content_up(features), features

    def transfer(self, x: torch.Tensor, features: torch.Tensor,
                 maps: dict[str, torch.Tensor]) -> torch.Tensor:
        """The texture transfer output for LR ``x`` with content ``features`` and swapped
        ``maps`` (``relu3_1`` at LR size, ``relu2_1`` ×2, ``relu1_1`` ×4)."""
        h = features
        for index, layer in enumerate(SWAP_LAYERS):
            h = self.fusions[index](h, maps[layer])
            if index < 2:
                h = self.transfer_up[index](h)
        base = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
        return base + self.conv_last(h)

    @torch.no_grad()
    def texture_maps(self, x: torch.Tensor, ref: torch.Tensor
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Swapped feature maps of ``ref`` for LR ``x`` ``(B, 3, h, w)``, and the matching
        score map ``(B, 1, h, w)`` (cosine similarity at relu3_1); ``ref`` holds 1 or B
        images (see :mod:`srkit.ops.texture_swap`)."""
        from srkit.ops.resize_torch import bicubic_resize
        from srkit.ops.texture_swap import match_patches, pad_scores, swap_patches

        ref = crop_reference(ref)
        if ref.shape[0] not in (1, x.shape[0]):
            raise SrkitError(f"{ref.shape[0]} references for {x.shape[0]} images")
        lr_up = self.vgg(bicubic_resize(x, 4.0))["relu3_1"]
        blurred = self.vgg(bicubic_resize(bicubic_resize(ref, 0.25), 4.0))["relu3_1"]
        sharp = self.vgg(ref)
        maps: dict[str, list[torch.Tensor]] = {layer: [] for layer in SWAP_LAYERS}
        scores = []
        for item in range(x.shape[0]):
            r = item if ref.shape[0] > 1 else 0
            index, score = match_patches(lr_up[item], blurred[r])
            for factor, layer in zip((1, 2, 4), SWAP_LAYERS, strict=True):
                maps[layer].append(swap_patches(index, sharp[layer][r], factor))
            scores.append(pad_scores(score))
        return ({layer: torch.stack(values) for layer, values in maps.items()},
                torch.stack(scores)[:, None])

    def forward(self, x: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        if ref is None:
            return self.content(x)[0]
        maps, _ = self.texture_maps(x, ref)
        return self.transfer(x, self.content(x)[1], maps)


def crop_reference(ref: torch.Tensor) -> torch.Tensor:
    """``ref`` cropped to multiples of 4 (the VGG pooling grid); SrkitError below 12×12."""
    height, width = ref.shape[-2:]
    if min(height, width) < MIN_REFERENCE:
        raise SrkitError(f"a reference of {width}×{height} is too small for the texture swap "
                         f"(at least {MIN_REFERENCE}×{MIN_REFERENCE})")
    return ref[..., : height - height % 4, : width - width % 4]
