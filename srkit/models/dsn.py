"""DASR's down-sampling network (DSN) and its frequency-separated patch discriminator.

DASR (Wei et al., CVPR 2021, Sec. 3.1) learns the camera's HR → LR degradation from
unpaired photos. The generator (``De_resnet`` in the reference code, ShuhangGu/DASR
``codes/DSN/model.py``) is::

    conv3×3(3→64) + PReLU
    8 × residual block [conv3×3 + PReLU + conv3×3, identity skip]
    per factor 2: conv3×3 stride 2 + PReLU
    conv3×3(64→3), sigmoid

The discriminator is the reference's default ``FSD`` (from FSSR, Fritsche et al. 2019): three
5×5 stride-1 convolutions (64, 128, 256 features, BatchNorm on the last two, LeakyReLU 0.2)
and a 1×1 conv to one logit per position. Being stride 1 it scores every position of its
input, which makes the domain-distance maps dense. It sees only the high-frequency part of an
image (:func:`srkit.ops.wavelets.high_frequency`), so its input has 9 channels for the
wavelet separation and 3 otherwise.

State-dict key names follow the reference code (``block_input``, ``res_blocks.N``,
``down_sample``, ``block_output``; ``net.net.K`` for the discriminator) so that its released
checkpoints can be loaded by renaming nothing. The DSN file, both networks in one
safetensors file, is read and written by :mod:`srkit.io.dsn_checkpoints`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from srkit.errors import SrkitError


class ResidualBlock(nn.Module):
    """conv3×3 → PReLU → conv3×3 with an identity skip (no BatchNorm, no scaling)."""

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.prelu(self.conv1(x)))


class DownSamplingNetwork(nn.Module):
    """HR ``(B, 3, H, W)`` in [0, 1] → LR ``(B, 3, H/scale, W/scale)`` in (0, 1).

    Args:
        scale: down-scaling factor, 1, 2 or 4 (one stride-2 conv per factor 2).
        num_feat: features of every hidden layer (64 in DASR).
        num_block: residual blocks (8 in DASR).
        num_in_ch, num_out_ch: image channels.

    H and W must be multiples of ``scale``.
    """

    def __init__(self, scale: int = 4, num_feat: int = 64, num_block: int = 8,
                 num_in_ch: int = 3, num_out_ch: int = 3) -> None:
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {scale}")
        self.scale = scale
        self.size_multiple = scale
        self.block_input = nn.Sequential(nn.Conv2d(num_in_ch, num_feat, 3, padding=1),
                                         nn.PReLU())
        self.res_blocks = nn.ModuleList(ResidualBlock(num_feat) for _ in range(num_block))
        downs: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            downs += [nn.Conv2d(num_feat, num_feat, 3, stride=2, padding=1), nn.PReLU()]
        self.down_sample = nn.Sequential(*downs)
        self.block_output = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)
        # HR pixels on each side that one LR pixel depends on: 1 + 2 per block at full size,
        # then each stride-2 conv and the last conv add 1 pixel at their own resolution.
        self.receptive_radius = 1 + 2 * num_block + sum(2**i for i in range(len(downs) // 2)) \
            + scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.scale or x.shape[-2] % self.scale:
            raise ValueError(f"input size {tuple(x.shape[-2:])} is not a multiple of the "
                             f"scale {self.scale}")
        features = self.block_input(x)
        for block in self.res_blocks:
            features = block(features)
        return torch.sigmoid(self.block_output(self.down_sample(features)))


class _FsdBody(nn.Module):
    def __init__(self, in_channels: int, num_feat: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, num_feat, 5, padding=2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(num_feat, num_feat * 2, 5, padding=2),
            nn.BatchNorm2d(num_feat * 2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(num_feat * 2, num_feat * 4, 5, padding=2),
            nn.BatchNorm2d(num_feat * 4),
            nn.LeakyReLU(0.2),
            nn.Conv2d(num_feat * 4, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FrequencyDiscriminator(nn.Module):
    """The FSD patch discriminator: ``(B, C, h, w)`` high-frequency bands → logits
    ``(B, 1, h, w)`` (one per position, receptive field 13×13). Apply it to
    :func:`~srkit.ops.wavelets.high_frequency` of an image, not to the image itself.

    Args:
        in_channels: 9 for the wavelet separation of RGB, 3 for gaussian or rgb.
        num_feat: features of the first layer (64; then 128, 256).
    """

    def __init__(self, in_channels: int = 9, num_feat: int = 64) -> None:
        super().__init__()
        self.net = _FsdBody(in_channels, num_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_discriminator(arch: str, in_channels: int, num_feat: int = 64) -> nn.Module:
    """``fsd`` (DASR's default) or ``patch`` (PatchGAN, srkit.models.discriminators)."""
    if arch == "fsd":
        return FrequencyDiscriminator(in_channels=in_channels, num_feat=num_feat)
    if arch == "patch":
        from srkit.models.discriminators import PatchDiscriminator

        # the reference's "nld_s2" option: a PatchGAN with 2 strided layers, InstanceNorm
        return PatchDiscriminator(in_channels=in_channels, num_feat=num_feat, num_layers=2,
                                  norm="instance")
    raise SrkitError(f"unknown discriminator {arch!r} (use fsd or patch)")
