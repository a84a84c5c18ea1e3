"""KernelGAN's networks (Bell-Kligler, Shocher & Irani, NeurIPS 2019), as in the reference code.

* :class:`KernelGenerator` — a deep *linear* network (no bias, no activation): single-channel
  convolutions of sizes 7, 5, 3, 1, 1, 1 with 64 channels, the last one with stride ``scale``.
  Being linear and shift-invariant, it equals one correlation with a 13×13 kernel followed by
  keeping every ``scale``-th pixel; :meth:`KernelGenerator.kernel` computes that kernel.
  Colour channels go through it independently (as a batch), as in the reference.
  :meth:`KernelGenerator.downscale` computes the same function through that kernel, which is
  ~40× cheaper than the layers and gives the same gradients to the weights (the network is
  linear), so training with it follows the same path up to float rounding.
* :class:`KernelDiscriminator` — a fully convolutional patch discriminator: a 7×7 spectral-norm
  convolution (no activation), five 1×1 spectral-norm convolutions each with BatchNorm + ReLU,
  a 1×1 spectral-norm convolution and a sigmoid; one real/fake probability per 7×7 patch.

Both are initialised as the reference does (Xavier-normal with gain 0.1, zero biases,
BatchNorm weights ~ N(1, 0.02)); see :func:`init_generator` / :func:`init_discriminator`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class KernelGenerator(nn.Module):
    """Deep linear downscaler ``(B, C, H, W) -> (B, C, H', W')``, values in any range.

    Args:
        kernel_sizes: convolution sizes, first to last (paper: 7, 5, 3, 1, 1, 1); the
            effective kernel is ``sum(kernel_sizes) - len(kernel_sizes) + 1`` wide (13).
        channels: hidden channels (64).
        scale: integer downscaling factor, the stride of the last layer (2).

    A valid (unpadded) forward pass maps an ``n``-pixel side to
    ``ceil((n - kernel_size + 1) / scale)``: 64 → 26 for the defaults.
    """

    def __init__(self, kernel_sizes: Sequence[int] = (7, 5, 3, 1, 1, 1), channels: int = 64,
                 scale: int = 2) -> None:
        super().__init__()
        if len(kernel_sizes) < 2:
            raise ValueError("the generator needs at least two layers")
        widths = [1] + [channels] * (len(kernel_sizes) - 1) + [1]
        self.layers = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], size, bias=False,
                      stride=scale if i == len(kernel_sizes) - 1 else 1)
            for i, size in enumerate(kernel_sizes))
        self.scale = scale
        self.kernel_size = sum(kernel_sizes) - len(kernel_sizes) + 1

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        batch, colours, height, width = image.shape
        out = image.reshape(batch * colours, 1, height, width)
        for layer in self.layers:
            out = layer(out)
        return out.reshape(batch, colours, *out.shape[-2:])

    def downscale(self, image: torch.Tensor, kernel: torch.Tensor | None = None
                  ) -> torch.Tensor:
        """``forward`` computed as one strided correlation with :meth:`kernel`.

        Pass ``kernel`` when it has just been computed, to reuse it.
        """
        kernel = self.kernel() if kernel is None else kernel
        batch, colours, height, width = image.shape
        out = F.conv2d(image.reshape(batch * colours, 1, height, width), kernel[None, None],
                       stride=self.scale)
        return out.reshape(batch, colours, *out.shape[-2:])

    def kernel(self) -> torch.Tensor:
        """The ``(k, k)`` correlation kernel the network equals (differentiable).

        Pushing a unit impulse, zero-padded by ``k - 1``, through the (stride-free) layers
        gives the kernel flipped; ``G(x) == correlate(x, kernel)[::scale, ::scale]`` (valid).
        """
        weight = self.layers[0].weight
        pad = self.kernel_size - 1
        out = F.conv2d(torch.ones(1, 1, 1, 1, dtype=weight.dtype, device=weight.device),
                       weight, padding=pad)
        for layer in self.layers[1:]:
            out = F.conv2d(out, layer.weight)
        return out[0, 0].flip((0, 1))

    def output_size(self, input_size: int) -> int:
        """Side of the output for an ``input_size`` square input (valid convolutions)."""
        return -(-(input_size - self.kernel_size + 1) // self.scale)


class KernelDiscriminator(nn.Module):
    """Patch discriminator ``(B, 3, H, W) -> (B, 1, H - k + 1, W - k + 1)`` in (0, 1).

    Args:
        in_channels: image channels (3).
        channels: hidden width (64).
        kernel_size: the first layer's receptive field, the patch size judged (7).
        num_layers: total convolutions (7): one k×k, ``num_layers - 2`` 1×1 with
            BatchNorm + ReLU, one 1×1 to a single channel followed by a sigmoid.
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, kernel_size: int = 7,
                 num_layers: int = 7) -> None:
        super().__init__()
        self.first = spectral_norm(nn.Conv2d(in_channels, channels, kernel_size, bias=True))
        body: list[nn.Module] = []
        for _ in range(num_layers - 2):
            body += [spectral_norm(nn.Conv2d(channels, channels, 1, bias=True)),
                     nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*body)
        self.last = spectral_norm(nn.Conv2d(channels, 1, 1, bias=True))
        self.kernel_size = kernel_size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.last(self.body(self.first(image))))


def _xavier_small(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d):
        # Under spectral_norm the raw weight lives in parametrizations.weight.original; the
        # norm divides the gain out again, so for D only the direction of the draw matters.
        weight = (module.parametrizations.weight.original
                  if hasattr(module, "parametrizations") else module.weight)
        nn.init.xavier_normal_(weight, gain=0.1)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def init_generator(generator: KernelGenerator) -> KernelGenerator:
    """The reference initialisation: Xavier-normal weights with gain 0.1."""
    generator.apply(_xavier_small)
    return generator


def init_discriminator(discriminator: KernelDiscriminator) -> KernelDiscriminator:
    """The reference initialisation: Xavier-normal (gain 0.1), BatchNorm weights N(1, 0.02)."""
    discriminator.apply(_xavier_small)
    return discriminator
