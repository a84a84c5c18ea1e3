"""Weight initialisation shared by the generators."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def scaled_kaiming_(modules: nn.Module | Iterable[nn.Module], scale: float = 0.1) -> None:
    """Kaiming-normal weights multiplied by ``scale``, zero biases (ESRGAN §3.1, BasicSR).

    Small initial residuals keep very deep residual networks close to identity at the start.
    Applies to every Conv2d/Linear inside ``modules`` (meta tensors, used to check shapes
    without memory, are left alone).
    """
    if isinstance(modules, nn.Module):
        modules = [modules]
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)) and not layer.weight.is_meta:
                nn.init.kaiming_normal_(layer.weight)
                layer.weight.mul_(scale)
                if layer.bias is not None:
                    layer.bias.zero_()
