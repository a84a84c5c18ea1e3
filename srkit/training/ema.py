"""Exponential moving average of a network's weights, kept beside the raw ones (BasicSR).

``ema = d * ema + (1 - d) * weights`` after every optimiser step, buffers copied. The decay is
warmed up as TensorFlow's ``ExponentialMovingAverage(num_updates=...)`` does,
``d_t = min(d, (1 + t) / (10 + t))``: with a fixed 0.999 a run of a few hundred iterations
would still be mostly its random initialisation (0.999^300 = 0.74), with the warm-up the
average always covers about the last tenth of the run until the full decay takes over.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    """An averaged copy of ``model`` (eval mode, no gradients).

    Args:
        model: the network being trained (unwrapped from DDP).
        decay: the final decay ``d`` in [0, 1).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 <= decay < 1:
            raise ValueError(f"decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for param in self.model.parameters():
            param.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay used by the next :meth:`update`."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend ``model``'s current weights into the average."""
        decay = self.current_decay()
        averaged = dict(self.model.named_parameters())
        for name, param in model.named_parameters():
            averaged[name].mul_(decay).add_(param.detach(), alpha=1 - decay)
        averaged_buffers = dict(self.model.named_buffers())
        for name, buffer in model.named_buffers():
            averaged_buffers[name].copy_(buffer)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"weights": self.model.state_dict(), "updates": self.updates,
                "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
        self.decay = float(state["decay"])
