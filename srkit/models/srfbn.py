"""SRFBN: Super-Resolution FeedBack Network (Li et al., CVPR 2019).

One recurrent network unrolled over ``num_steps`` steps that share every weight (§3.1):

- LR feature extraction (LRFB): conv3×3 to ``4·num_feat``, conv1×1 to ``num_feat``;
- feedback block (FB, §3.2): the step's LR features are concatenated with the previous
  step's FB output (the *hidden state*; at the first step, the LR features themselves) and
  compressed by a 1×1 conv; then ``num_groups`` projection groups, each an up-projection
  (deconvolution LR → HR) and a down-projection (strided conv HR → LR), with dense
  connections across groups: group ``g``'s up-projection sees all earlier LR maps and its
  down-projection all earlier HR maps, each fused by a 1×1 conv (for ``g > 1``); the LR maps
  of all groups are fused by a last 1×1 conv into the FB output;
- reconstruction (RB): deconvolution to HR and conv3×3 to RGB, plus the LR image upsampled
  bilinearly (§3.1: "we use a bilinear upsample kernel"; the authors' code agrees).

Every conv / deconv but the last conv is followed by a PReLU (one slope, 0.2 at start, as in
the authors' code). Up/down kernel, stride and padding per factor follow the paper's §4.1 /
code: ×2 (6, 2, 2), ×3 (7, 3, 2), ×4 (8, 4, 2), ×8 (12, 8, 2).

``forward(x)`` returns the last step's image, which is what ``upscale`` and validation use;
``forward(x, all_steps=True)`` returns every step's image (a list, last one the final), which
:class:`srkit.training.trainer.SRTrainer` averages the pixel loss over (§3.3: the L1 loss of
every step, with equal weights; the curriculum of easier targets for the first steps, for
complex degradations, is not implemented). Models that can do this set
``intermediate_outputs = True``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from srkit.errors import SrkitError
from srkit.models.checks import require_positive, require_rgb

# (kernel_size, stride, padding) of the up/down projections per factor (SRFBN §4.1).
PROJECTION = {2: (6, 2, 2), 3: (7, 3, 2), 4: (8, 4, 2), 8: (12, 8, 2)}
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # subtracted from the input, added to the output


def _prelu() -> nn.PReLU:
    return nn.PReLU(num_parameters=1, init=0.2)


class FeedbackBlock(nn.Module):
    """SRFBN's FB: ``lr_feat`` and ``hidden`` ``(B, C, h, w)`` → the new hidden state."""

    def __init__(self, num_feat: int, num_groups: int, upscale: int) -> None:
        super().__init__()
        kernel_size, stride, padding = PROJECTION[upscale]
        self.compress_in = nn.Sequential(nn.Conv2d(2 * num_feat, num_feat, 1), _prelu())
        self.up = nn.ModuleList()
        self.down = nn.ModuleList()
        self.up_fuse = nn.ModuleList()    # 1×1 fusion of the g earlier LR maps (g ≥ 2)
        self.down_fuse = nn.ModuleList()  # 1×1 fusion of the g earlier HR maps (g ≥ 2)
        for group in range(num_groups):
            self.up.append(nn.Sequential(
                nn.ConvTranspose2d(num_feat, num_feat, kernel_size, stride, padding), _prelu()))
            self.down.append(nn.Sequential(
                nn.Conv2d(num_feat, num_feat, kernel_size, stride, padding), _prelu()))
            if group > 0:
                self.up_fuse.append(nn.Sequential(
                    nn.Conv2d((group + 1) * num_feat, num_feat, 1), _prelu()))
                self.down_fuse.append(nn.Sequential(
                    nn.Conv2d((group + 1) * num_feat, num_feat, 1), _prelu()))
        self.compress_out = nn.Sequential(nn.Conv2d(num_groups * num_feat, num_feat, 1),
                                          _prelu())

    def forward(self, lr_feat: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        lr_maps = [self.compress_in(torch.cat((lr_feat, hidden), 1))]
        hr_maps: list[torch.Tensor] = []
        for group, (up, down) in enumerate(zip(self.up, self.down, strict=True)):
            low = lr_maps[0] if group == 0 else self.up_fuse[group - 1](torch.cat(lr_maps, 1))
            hr_maps.append(up(low))
            high = hr_maps[0] if group == 0 else self.down_fuse[group - 1](torch.cat(hr_maps, 1))
            lr_maps.append(down(high))
        return self.compress_out(torch.cat(lr_maps[1:], 1))  # without the compressed input


class SRFBN(nn.Module):
    """Feedback SR network, ``(B, num_in_ch, H, W)`` → ``(B, num_out_ch, sH, sW)``.

    Args:
        num_in_ch, num_out_ch: image channels (3).
        num_feat: feature width ``m`` (64 in SRFBN, 32 in SRFBN-S).
        num_steps: recurrent steps ``T`` (4); all share the weights.
        num_groups: projection groups ``G`` in the feedback block (6 in SRFBN, 3 in SRFBN-S).
        upscale: 2, 3, 4 or 8.

    Values: images in [0, 1]; DIV2K's mean is subtracted and added back; not clipped.
    A small CPU setting: ``num_feat=8, num_groups=2, num_steps=2``.
    """

    intermediate_outputs = True  # forward(x, all_steps=True) gives every step's output

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_steps: int = 4, num_groups: int = 6, upscale: int = 4) -> None:
        super().__init__()
        if upscale not in PROJECTION:
            raise SrkitError(f"srfbn supports upscale 2, 3, 4 or 8, not {upscale}")
        require_positive("srfbn", num_feat=num_feat, num_steps=num_steps,
                         num_groups=num_groups)
        require_rgb("srfbn", num_in_ch, num_out_ch)
        self.upscale = upscale
        self.scale = upscale
        self.size_multiple = 1
        self.num_steps = num_steps
        self.num_groups = num_groups
        kernel_size, stride, padding = PROJECTION[upscale]
        self.register_buffer("rgb_mean", torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.conv_in = nn.Sequential(nn.Conv2d(num_in_ch, 4 * num_feat, 3, 1, 1), _prelu())
        self.feat_in = nn.Sequential(nn.Conv2d(4 * num_feat, num_feat, 1), _prelu())
        self.block = FeedbackBlock(num_feat, num_groups, upscale)
        self.out = nn.Sequential(
            nn.ConvTranspose2d(num_feat, num_feat, kernel_size, stride, padding), _prelu())
        self.conv_out = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that one output pixel depends on (exact tiling).

        The network is shift-equivariant on the LR grid. conv_in: 1. An up/down projection
        pair reaches ``⌊(k−1)/s⌋`` LR pixels (k, s: kernel and stride), the longest path of a
        step crosses all ``G`` pairs, and the hidden state chains the ``T`` steps. The
        reconstruction (deconvolution then conv3×3 at HR) reaches
        ``max(⌊(k−p)/s⌋, 1 + ⌊p/s⌋)`` LR pixels; the bilinear skip 1.
        """
        k, s, p = PROJECTION[self.upscale]
        pair = (k - 1) // s
        reconstruction = max((k - p) // s, 1 + p // s, 1)
        return 1 + self.num_steps * self.num_groups * pair + reconstruction

    def forward(self, x: torch.Tensor, all_steps: bool = False
                ) -> torch.Tensor | list[torch.Tensor]:
        """The last step's SR image, or with ``all_steps`` the list of every step's."""
        x = x - self.rgb_mean
        base = F.interpolate(x, scale_factor=self.upscale, mode="bilinear",
                             align_corners=False) + self.rgb_mean
        lr_feat = self.feat_in(self.conv_in(x))
        hidden = lr_feat  # the first step's hidden state is the LR features (authors' code)
        outputs = []
        for _ in range(self.num_steps):
            hidden = self.block(lr_feat, hidden)
            outputs.append(base + self.conv_out(self.out(hidden)))
        return outputs if all_steps else outputs[-1]
