"""A U-Net restorer for pre-upsampled photos with a degradation-parameter head (CSRGAN-style).

The input is the photo already bicubic-upscaled to the target size (``srkit upscale`` does
that for the user), so the network works at scale 1: an encoder of ``depth`` levels (two
3×3 conv + LeakyReLU each, then 2×2 max-pooling), a bottleneck, and a decoder that
upsamples (nearest ×2 and a 3×3 conv) and concatenates the encoder's features of the same
level (skips). The image output goes through a sigmoid — never min-max normalisation,
which stretches each image's range and shifts its colours — applied to the input's logit
plus the decoder's correction, so a fresh network returns its input and learns a residual.

The *parameter head* reads the bottleneck: global average pooling, two linear layers and a
sigmoid give the three degradation parameters of :mod:`srkit.degradations.blind`
(blur variance, noise level, downscale factor), each normalised to [0, 1] by its range; the
ranges are constructor arguments, stored with the model, so :meth:`UNetBlind.denormalise`
turns a prediction back into px², grey levels and a factor. ``forward(x)`` returns the image
only (what ``upscale``, validation and tiling run); ``forward(x, with_params=True)`` returns
``(image, params)`` for training and ``srkit estimate-degradation``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from srkit.errors import SrkitError
from srkit.models.init import scaled_kaiming_

# Inputs are clamped to [ε, 1 − ε] before the logit (logit(0.01) ≈ −4.6).
_EPS = 0.01


def _double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(out_ch, out_ch, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True))


def _check_range(name: str, value, lowest: float) -> list[float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not lowest <= value[0] <= value[1]):
        raise SrkitError(f"unet-blind: {name} must be [low, high] with {lowest:g} <= low <= "
                         f"high, got {value!r}")
    return [float(value[0]), float(value[1])]


class UNetBlind(nn.Module):
    """U-Net ``(B, 3, H, W)`` → ``(B, 3, H, W)`` in (0, 1), plus a ``(B, 3)`` parameter head.

    Args:
        num_in_ch, num_out_ch: image channels (3).
        num_feat: width of the first level; level ``l`` has ``num_feat · 2^l`` (32).
        depth: pooling steps (3): H and W must be multiples of ``2^depth``.
        head_feat: hidden width of the parameter head (64).
        scale: always 1 (the input is pre-upsampled); present so that srkit's scale plumbing
            finds it.
        blur_variance_range, noise_level_range, factor_range: what the head's 0 and 1 mean
            (px², 0–255 grey levels, ×), as in
            :class:`~srkit.degradations.blind.BlindSettings`.
    """

    pre_upsampling = True  # srkit upscale -x S bicubic-upscales its input first

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 32,
                 depth: int = 3, head_feat: int = 64, scale: int = 1,
                 blur_variance_range: tuple[float, float] = (0.0, 50.0),
                 noise_level_range: tuple[float, float] = (0.0, 25.0),
                 factor_range: tuple[float, float] = (1.0, 3.0)) -> None:
        super().__init__()
        if scale != 1:
            raise SrkitError(f"unet-blind works on pre-upsampled input: scale must be 1, not "
                             f"{scale} (srkit upscale -x S bicubic-upscales first)")
        if num_out_ch != num_in_ch:
            raise SrkitError("unet-blind: num_out_ch must equal num_in_ch (the output is a "
                             "correction of the input)")
        if min(num_in_ch, num_feat, head_feat) < 1 or not 1 <= depth <= 6:
            raise SrkitError("unet-blind: channels and widths must be ≥ 1 and depth 1..6")
        self.scale = 1
        self.depth = depth
        self.ranges = [_check_range("blur_variance_range", blur_variance_range, 0.0),
                       _check_range("noise_level_range", noise_level_range, 0.0),
                       _check_range("factor_range", factor_range, 1.0)]
        widths = [num_feat * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList(
            [_double_conv(num_in_ch if level == 0 else widths[level - 1], widths[level])
             for level in range(depth)])
        self.bottleneck = _double_conv(widths[depth - 1], widths[depth])
        self.ups = nn.ModuleList([nn.Conv2d(widths[level + 1], widths[level], 3, 1, 1)
                                  for level in range(depth)])
        self.decoders = nn.ModuleList([_double_conv(2 * widths[level], widths[level])
                                       for level in range(depth)])
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.head = nn.Sequential(nn.Linear(widths[depth], head_feat),
                                  nn.LeakyReLU(0.2, inplace=True), nn.Linear(head_feat, 3))
        scaled_kaiming_(self, 1.0)
        scaled_kaiming_(self.conv_last, 0.01)  # starts close to its input (Adam scales up)

    @property
    def size_multiple(self) -> int:
        return 2**self.depth

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side one output pixel depends on (an upper bound): at level
        ``l`` (cells of ``f = 2^l`` pixels) each 3×3 conv reaches one cell further, and a
        pooling or nearest-upsampling step at most one cell; the head is not tiled."""
        encoder = sum(3 * 2**level for level in range(self.depth))  # 2 convs + pooling
        decoder = sum(4 * 2**level for level in range(self.depth))  # up, its conv, 2 convs
        return encoder + 2 * 2**self.depth + decoder

    def forward(self, x: torch.Tensor, with_params: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, 3, H, W)`` in [0, 1], ``H, W`` multiples of :attr:`size_multiple` →
        the restored image, and with ``with_params`` also the ``(B, 3)`` normalised
        parameters (blur variance, noise level, factor) in (0, 1)."""
        if x.shape[-2] % self.size_multiple or x.shape[-1] % self.size_multiple:
            raise ValueError(f"unet-blind: input {tuple(x.shape[-2:])} is not a multiple of "
                             f"{self.size_multiple} (pad it, as srkit's tiling does)")
        skips = []
        out = x
        for encoder in self.encoders:
            out = encoder(out)
            skips.append(out)
            out = F.max_pool2d(out, 2)
        bottom = self.bottleneck(out)
        out = bottom
        for level in reversed(range(self.depth)):
            out = self.ups[level](F.interpolate(out, scale_factor=2, mode="nearest"))
            out = self.decoders[level](torch.cat([out, skips[level]], dim=1))
        base = torch.logit(x.clamp(_EPS, 1 - _EPS))
        image = torch.sigmoid(base + self.conv_last(out))
        if not with_params:
            return image
        params = torch.sigmoid(self.head(bottom.mean(dim=(2, 3))))
        return image, params

    def denormalise(self, params: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, 3)`` predictions → blur variance (px²), noise level (0–255) and
        downscale factor."""
        low = params.new_tensor([r[0] for r in self.ranges])
        high = params.new_tensor([r[1] for r in self.ranges])
        return low + params * (high - low)
