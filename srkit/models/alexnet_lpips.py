"""LPIPS v0.1 with an AlexNet trunk (Zhang et al., "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018), as a plain module.

Parameter names follow the two files users already have, so they load unchanged:

- ``net.features.*`` — torchvision's ``alexnet().features`` (``features.0.weight`` ... in
  ``alexnet-owt-7be5be79.pth``); load with ``model.net.load_state_dict``.
- ``lin0.model.1.weight`` ... ``lin4.model.1.weight`` — the LPIPS project's ``alex.pth``:
  one non-negative 1×1 conv per tapped layer, after a dropout (index 0) used only in training.

Distance for images x, y in [-1, 1]: scale each as ``(x - shift) / scale`` (the constants of
the LPIPS release), take the five ReLU outputs of AlexNet's convolutions, unit-normalise each
feature vector over channels (``f / (‖f‖ + 1e-10)``), square the difference, weight the
channels with the 1×1 conv, average over space and sum over the five layers.
"""

from __future__ import annotations

import torch
from torch import nn

# Input scaling of LPIPS v0.1 (ImageNet statistics re-expressed for inputs in [-1, 1]).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
CHANNELS = (64, 192, 384, 256, 256)
NORM_EPS = 1e-10


class AlexNetFeatures(nn.Module):
    """AlexNet's convolutional part in torchvision's layout; returns the five ReLU outputs.

    Input ``(B, 3, H, W)`` (already scaled); outputs ``(B, C_i, H_i, W_i)`` for
    ``C = (64, 192, 384, 256, 256)``, H_1 ≈ H / 4, H_2 ≈ H / 8, H_3..5 ≈ H / 16.
    """

    TAPS = (1, 4, 7, 9, 11)  # positions of the ReLUs after conv1..conv5 in ``features``

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, layer in enumerate(self.features[:self.TAPS[-1] + 1]):
            x = layer(x)
            if index in self.TAPS:
                taps.append(x)
        return taps


class LinearLayer(nn.Module):
    """LPIPS's per-layer channel weighting: ``model = [Dropout, Conv2d(C, 1, 1, bias=False)]``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def unit_normalise(features: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """Divide each spatial position's channel vector ``(B, C, H, W)`` by its L2 norm (+ eps)."""
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPSAlex(nn.Module):
    """LPIPS v0.1, AlexNet trunk. ``forward(x, y)`` → distances ``(B,)``, inputs in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1),
                             persistent=False)
        self.net = AlexNetFeatures()
        for index, channels in enumerate(CHANNELS):
            self.add_module(f"lin{index}", LinearLayer(channels))

    @property
    def lins(self) -> list[LinearLayer]:
        return [getattr(self, f"lin{index}") for index in range(len(CHANNELS))]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x``, ``y``: ``(B, 3, H, W)`` in [-1, 1], same shape → ``(B,)`` (0 when equal)."""
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected two (B, 3, H, W) tensors of one shape, "
                             f"got {tuple(x.shape)} and {tuple(y.shape)}")
        feats_x = self.net((x - self.shift) / self.scale)
        feats_y = self.net((y - self.shift) / self.scale)
        total = x.new_zeros(x.shape[0])
        for lin, fx, fy in zip(self.lins, feats_x, feats_y, strict=True):
            diff = (unit_normalise(fx) - unit_normalise(fy)) ** 2
            total = total + lin(diff).mean(dim=(1, 2, 3))
        return total
