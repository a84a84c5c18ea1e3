"""SPAN: Swift Parameter-free Attention Network (Wan et al., NTIRE 2024 efficient-SR winner).

Official code: hongyuanyu/SPAN ``basicsr/archs/span_arch.py``; the state-dict keys here are
that file's (which spandrel and chaiNNer also read), so a file written by srkit loads there
and theirs load here:

```
conv_1.{sk, conv.0, conv.1, conv.2, eval_conv}     first Conv3XC (num_in_ch → width)
block_{1..6}.c{1,2,3}_r.{sk, conv.0-2, eval_conv}  six SPABs of three Conv3XC each
conv_2.{...}                                       Conv3XC after the last block
conv_cat                                           1×1 fusion of four feature maps
upsampler.0                                        3×3 conv to num_out_ch·upscale², pixel shuffle
no_norm                                            only in files of norm=False networks
```

A Conv3XC is a re-parameterisable 3×3 conv: a 1×1 conv widening to twice the input
channels, a 3×3 conv (no padding, on the zero-padded input) to twice the output channels, a
1×1 conv to the output channels, plus a 1×1 skip conv. All of it is linear, so it equals one
3×3 conv with zero padding; the official code trains the branches and runs the fused conv
(``eval_conv``, recomputed from the branches before every evaluation). srkit always runs the
fused conv, computed from the branch weights (so gradients reach them), and writes it into
``eval_conv`` when the state dict is read, so files carry the same ``eval_conv`` as the
official code's. ``eval_conv`` in a file is not used: like the official network, srkit
evaluates the branches' fusion.

A SPAB (parameter-free attention block) is ``c1 → SiLU → c2 → SiLU → c3``, then
``(c3 + x) · (sigmoid(c3) − 0.5)``. The network: normalise (``(x − DIV2K mean) · 255``,
unless ``norm=False``), conv_1, six SPABs, conv_2 on the last, a 1×1 conv over
``[conv_1, conv_2, SPAB 1's output, SiLU(SPAB 6's first conv)]``, then the pixel-shuffle
upsampler; the output is not denormalised (the network learns to output [0, 1] images).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from srkit.errors import SrkitError

# DIV2K's RGB mean, fixed in the official code (not stored in files).
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
IMG_RANGE = 255.0
NUM_BLOCKS = 6  # fixed in the official network


class _FusedWeights(nn.Module):
    """Holds the fused 3×3 conv as buffers named ``weight`` and ``bias`` (the official
    ``eval_conv`` keys), refreshed from the branches whenever the state dict is read."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(c_out, c_in, 3, 3))
        self.register_buffer("bias", torch.zeros(c_out))


class Conv3XC(nn.Module):
    """A re-parameterisable 3×3 conv ``c_in → c_out`` (zero padding 1, stride 1).

    Branches: ``conv.0`` 1×1 ``c_in → gain·c_in``, ``conv.1`` 3×3 valid ``gain·c_in →
    gain·c_out`` on the zero-padded input, ``conv.2`` 1×1 ``gain·c_out → c_out``, plus the
    skip ``sk`` 1×1 ``c_in → c_out``.
    """

    def __init__(self, c_in: int, c_out: int, gain: int = 2) -> None:
        super().__init__()
        self.sk = nn.Conv2d(c_in, c_out, 1)
        self.conv = nn.Sequential(nn.Conv2d(c_in, c_in * gain, 1),
                                  nn.Conv2d(c_in * gain, c_out * gain, 3),
                                  nn.Conv2d(c_out * gain, c_out, 1))
        self.eval_conv = _FusedWeights(c_in, c_out)

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single 3×3 conv's weight ``(c_out, c_in, 3, 3)`` and bias ``(c_out,)``.

        With ``h = w1·x + b1`` (1×1), ``g = w2 ⋆ h + b2`` (3×3) and ``y = w3·g + b3`` (1×1):
        ``W[o, i] = Σ_b Σ_a w3[o, b] w2[b, a] w1[a, i]`` and ``bias = w3·(Σ_a w2[:, a]·b1[a]
        summed over the 3×3 taps + b2) + b3``; b1 also reaches the zero-padded border (the
        1×1 conv runs on the padded input), which is what the constant bias term says. The
        skip conv adds its weight at the centre tap.
        """
        first, middle, last = self.conv
        w1, w3 = first.weight[:, :, 0, 0], last.weight[:, :, 0, 0]
        weight = torch.einsum("ob,bakl,ai->oikl", w3, middle.weight, w1)
        inner_bias = torch.einsum("bakl,a->b", middle.weight, first.bias) + middle.bias
        bias = w3 @ inner_bias + last.bias + self.sk.bias
        centre = F.pad(self.sk.weight, (1, 1, 1, 1))
        return weight + centre, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.fused()
        return F.conv2d(x, weight, bias, padding=1)

    def _save_to_state_dict(self, destination, prefix, keep_vars):  # noqa: ANN001
        # The official files hold the fused conv too; keep it in step with the branches.
        with torch.no_grad():
            weight, bias = self.fused()
            self.eval_conv.weight.copy_(weight)
            self.eval_conv.bias.copy_(bias)
        super()._save_to_state_dict(destination, prefix, keep_vars)


class SPAB(nn.Module):
    """Swift parameter-free attention block; ``forward`` returns the block's output and its
    first conv's output after SiLU (SPAN feeds block 6's to the final fusion: the official
    code applies an in-place SiLU to that tensor before returning it, so the activated map
    is what the network has always fused and what its weights were trained with)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.c1_r = Conv3XC(channels, channels)
        self.c2_r = Conv3XC(channels, channels)
        self.c3_r = Conv3XC(channels, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out1 = F.silu(self.c1_r(x))
        out3 = self.c3_r(F.silu(self.c2_r(out1)))
        attention = torch.sigmoid(out3) - 0.5
        return (out3 + x) * attention, out1


class SPAN(nn.Module):
    """SPAN, ``(B, num_in_ch, H, W)`` → ``(B, num_out_ch, sH, sW)``.

    Args:
        num_in_ch: input channels (3 when ``norm``: the DIV2K RGB mean is subtracted).
        num_out_ch: output channels.
        feature_channels: width (48 in the paper's SPAN; the official argument name).
        upscale: any integer ≥ 1 (one pixel shuffle).
        norm: subtract the DIV2K mean and multiply by 255 first (the official network);
            ``False`` is spandrel's / traiNNer-redux's variant, whose files hold a
            ``no_norm`` buffer.
    """

    size_multiple = 1

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, feature_channels: int = 48,
                 upscale: int = 4, norm: bool = True) -> None:
        super().__init__()
        if min(num_in_ch, num_out_ch, feature_channels, upscale) < 1:
            raise SrkitError("span: num_in_ch, num_out_ch, feature_channels and upscale must "
                             "be at least 1")
        if norm and num_in_ch != 3:
            raise SrkitError(f"span: norm=True subtracts an RGB mean, so num_in_ch must be 3 "
                             f"(got {num_in_ch})")
        self.upscale = upscale
        self.scale = upscale
        self.norm = bool(norm)
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        if not norm:
            self.register_buffer("no_norm", torch.zeros(1))
        width = feature_channels
        self.conv_1 = Conv3XC(num_in_ch, width)
        for index in range(1, NUM_BLOCKS + 1):
            self.add_module(f"block_{index}", SPAB(width))
        self.conv_cat = nn.Conv2d(4 * width, width, 1)
        self.conv_2 = Conv3XC(width, width)
        self.upsampler = nn.Sequential(nn.Conv2d(width, num_out_ch * upscale * upscale, 3, 1, 1),
                                       nn.PixelShuffle(upscale))

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side one output pixel depends on: one per 3×3 conv on the
        longest path (conv_1, 6 × 3 in the blocks, conv_2, the upsampler's conv) = 21."""
        return 1 + 3 * NUM_BLOCKS + 1 + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm:
            x = (x - self.mean.to(x.dtype)) * IMG_RANGE
        first = self.conv_1(x)
        out, _ = self.block_1(first)
        out_b1 = out
        for index in range(2, NUM_BLOCKS):
            out, _ = getattr(self, f"block_{index}")(out)
        out, last_first_conv = getattr(self, f"block_{NUM_BLOCKS}")(out)
        out = self.conv_2(out)
        out = self.conv_cat(torch.cat([first, out, out_b1, last_first_conv], dim=1))
        return self.upsampler(out)
