"""RankSRGAN's Ranker (Zhang et al., ICCV 2019, §3.2): a VGG-style network that maps an image
to one quality score, trained as a Siamese pair (one network, applied to both images).

Five stages of a 3×3 conv and a stride-2 4×4 conv (BatchNorm after each but the first conv,
LeakyReLU 0.2), widths ``num_feat`` × 1, 2, 4, 8, 8; then global average pooling, so any input
of at least 32×32 pixels gives one score, and Linear(8·num_feat, 100) → LeakyReLU →
Linear(100, 1). This is the reference code's ``Ranker_VGG12`` layout (our reading; the
key names are srkit's own).

Sign convention (the reference's): a *higher* score means a *higher* NIQE, i.e. a worse
image, so the rank-content loss ``sigmoid(R(SR))`` pushes the generator towards lower
scores. Not an SR network: it is not in :data:`srkit.models.ARCHITECTURES`; its files are
read and written by :mod:`srkit.io.ranker_files`.
"""

from __future__ import annotations

import torch
from torch import nn

MIN_INPUT = 32  # five stride-2 stages


class Ranker(nn.Module):
    """``(B, 3, H, W)`` RGB in [0, 1] → ``(B, 1)`` scores (higher = worse NIQE rank).

    Args:
        in_channels: image channels (3).
        num_feat: width of the first stage (64 in the paper; tests use fewer).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64) -> None:
        super().__init__()
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8]
        layers: list[nn.Module] = []
        previous = in_channels
        for stage, width in enumerate(widths):
            layers.append(nn.Conv2d(previous, width, 3, 1, 1))
            if stage > 0:
                layers.append(nn.BatchNorm2d(width))
            layers += [nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(width, width, 4, 2, 1),
                       nn.BatchNorm2d(width), nn.LeakyReLU(0.2, inplace=True)]
            previous = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(previous, 100), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Linear(100, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < MIN_INPUT:
            raise ValueError(f"the ranker needs inputs of at least {MIN_INPUT}×{MIN_INPUT}, "
                             f"got {tuple(x.shape[-2:])}")
        features = self.features(x).mean(dim=(2, 3))
        return self.head(features)
