"""ESRGAN's generator: Residual-in-Residual Dense Blocks (Wang et al., ECCV-W 2018).

Parameter names follow BasicSR's ``rrdbnet_arch.py`` (``conv_first``, ``body.N.rdbK.convM``,
``conv_body``, ``conv_up1``, ``conv_up2`` (``conv_up3`` at ×8), ``conv_hr``, ``conv_last``),
so weights such as ``RealESRGAN_x4plus.pth`` load directly and srkit's RRDBNet files load in
BasicSR/spandrel.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from srkit.errors import SrkitError
from srkit.models.checks import require_positive
from srkit.models.init import scaled_kaiming_

# ESRGAN §3.1: residual scaling (multiply a block's residual by β before adding) stabilises
# the training of very deep networks without BatchNorm; β = 0.2 in the paper and code.
RESIDUAL_SCALE = 0.2


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3×3 convs; the fifth maps back to ``num_feat`` channels."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        # ESRGAN §3.1 "smaller initialisation": Kaiming normal scaled by 0.1.
        scaled_kaiming_([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * RESIDUAL_SCALE + x


class RRDB(nn.Module):
    """Three dense blocks inside one more scaled residual connection."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * RESIDUAL_SCALE + x


class RRDBNet(nn.Module):
    """ESRGAN / Real-ESRGAN generator, ``(B, num_in_ch, H, W)`` → ``(B, num_out_ch, sH, sW)``.

    Args:
        num_in_ch: input channels (3 for RGB).
        num_out_ch: output channels.
        scale: 1, 2, 4 or 8. The trunk upsamples ×4 (two nearest ×2 + conv stages), ×8
            with a third stage (``conv_up3``, as ESRGAN's ×8 models); for ×2 and ×1 the input
            is first pixel-unshuffled by 2 or 4 (Real-ESRGAN), so H and W must then be
            multiples of 2 or 4 (:attr:`size_multiple`).
        num_feat: trunk width (64 in ESRGAN).
        num_block: number of RRDBs (23 in ESRGAN).
        num_grow_ch: growth channels of each dense conv (32).

    Values: trained on images in [0, 1]; outputs are not clipped.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4,
                 num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32) -> None:
        super().__init__()
        if scale not in (1, 2, 4, 8):
            raise SrkitError(f"rrdbnet supports scale 1, 2, 4 or 8, not {scale}")
        require_positive("rrdbnet", num_in_ch=num_in_ch, num_out_ch=num_out_ch,
                         num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow_ch)
        self.scale = scale
        self.num_block = num_block
        self.size_multiple = {8: 1, 4: 1, 2: 2, 1: 4}[scale]
        first_in = num_in_ch * self.size_multiple**2
        self.conv_first = nn.Conv2d(first_in, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if scale == 8:
            self.conv_up3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that one output pixel depends on (for exact tiling).

        In the feature grid: conv_first + 15 convs per RRDB (5 per dense block, the longest
        path) + conv_body, then 2 more after the two nearest-×2 stages (conv_up1 ±1 on the
        ×2 grid, conv_up2/conv_hr/conv_last ±3 on the ×4 grid → ±2 feature pixels; at ×8
        conv_up3/conv_hr/conv_last ±3 on the ×8 grid, conv_up2 ±1 on the ×4 grid, conv_up1
        ±1 on the ×2 grid: still within ±2).
        Each feature pixel covers ``size_multiple`` input pixels.
        """
        feature_radius = 15 * self.num_block + 2 + 2
        f = self.size_multiple
        return f * feature_radius + (f - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.pixel_unshuffle(x, self.size_multiple) if self.size_multiple > 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        if self.scale == 8:
            feat = self.lrelu(self.conv_up3(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
