"""SRGAN's generator without BatchNorm: BasicSR's MSRResNet (Ledig et al., CVPR 2017).

SRGAN's SRResNet is 16 residual blocks at low resolution followed by sub-pixel (pixel
shuffle) upsampling. BasicSR's "modified" SRResNet, used here, drops BatchNorm (EDSR and
ESRGAN found it harms SR), uses LeakyReLU(0.1) instead of PReLU and adds a bilinearly
upsampled copy of the input so the network learns the residual. Parameter names follow
BasicSR's ``srresnet_arch.py`` (``conv_first``, ``body.N.conv1``, ``upconv1``, ``upconv2``,
``conv_hr``, ``conv_last``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from srkit.errors import SrkitError
from srkit.models.init import scaled_kaiming_


class ResidualBlockNoBN(nn.Module):
    """conv → ReLU → conv, added to the input (no BatchNorm)."""

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        scaled_kaiming_([self.conv1, self.conv2], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """SRResNet, ``(B, num_in_ch, H, W)`` → ``(B, num_out_ch, sH, sW)`` for s in {2, 3, 4}.

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels (must equal ``num_in_ch``: the bilinear skip adds the
            upsampled input).
        num_feat: width (64 in SRGAN).
        num_block: residual blocks (16 in SRGAN).
        upscale: 2 or 3 (one pixel-shuffle stage) or 4 (two ×2 stages, as in SRGAN).
    """

    size_multiple = 1

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_block: int = 16, upscale: int = 4) -> None:
        super().__init__()
        if upscale not in (2, 3, 4):
            raise SrkitError(f"srresnet supports scale 2, 3 or 4, not {upscale}")
        if num_out_ch != num_in_ch:
            raise SrkitError("srresnet: num_out_ch must equal num_in_ch "
                             f"(got {num_in_ch} in, {num_out_ch} out)")
        if min(num_in_ch, num_feat, num_block) < 1:
            raise SrkitError("srresnet: num_in_ch, num_feat and num_block must be at least 1")
        self.upscale = upscale
        self.scale = upscale
        self.num_block = num_block
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        if upscale == 4:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * upscale * upscale, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(upscale)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)
        scaled_kaiming_([self.conv_first, self.upconv1, self.conv_hr, self.conv_last], 0.1)
        if upscale == 4:
            scaled_kaiming_(self.upconv2, 0.1)

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that one output pixel depends on (for exact tiling).

        conv_first + 2 per block + upconv1 at low resolution; the convs after pixel shuffle
        (upconv2, conv_hr, conv_last) reach ±1 more input pixel; the bilinear skip ±1.
        """
        return 2 * self.num_block + 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.lrelu(self.conv_first(x))
        out = self.body(feat)
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upscale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        base = F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        return out + base
