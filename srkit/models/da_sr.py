"""The SR network of the ``domain-adapt`` recipe: a shared encoder E and an SR decoder G_SR.

Wang et al., "Unsupervised Real-World Super-Resolution: A Domain Adaptation Perspective"
(ICCV 2021) split an SR network into an encoder whose features are aligned between the
source (synthetic) and target (real) LR domains, and a decoder that maps those features to
HR. :class:`DomainAdaptSR` (``--arch da-sr``) is that pair, ``G_SR(E(x))``, and is all that
the saved model holds; :class:`LrDecoder` is G_t, the decoder that restores target-style LR
images from E's features, used during training only (it lives in the resume state).

E is EDSR/SRResNet-style: ``conv_first``, ``num_block`` residual blocks without BatchNorm,
``conv_body`` and a long skip from ``conv_first``; its output (``num_feat`` channels at LR
size) is what the feature discriminator sees. G_SR is ``decoder_block`` more residual blocks,
pixel-shuffle upsampling (one stage for ×2/×3, two ×2 stages for ×4, none for ×1) and two
convs at HR size. Unlike SRResNet there is no bilinear skip from the input: the SR image
depends on the input only through the aligned features, which is the point of the method.
"""

from __future__ import annotations

import torch
from torch import nn

from srkit.errors import SrkitError
from srkit.models.init import scaled_kaiming_
from srkit.models.srresnet import ResidualBlockNoBN


class DomainAdaptSR(nn.Module):
    """Encoder + SR decoder, ``(B, num_in_ch, H, W)`` → ``(B, num_out_ch, sH, sW)``.

    Args:
        num_in_ch, num_out_ch: image channels.
        num_feat: width of E's features and of G_SR (64, as SRResNet / EDSR-baseline).
        num_block: E's residual blocks (16, as SRResNet).
        decoder_block: G_SR's residual blocks before upsampling (2).
        scale: 1, 2, 3 or 4.
    """

    size_multiple = 1

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_block: int = 16, decoder_block: int = 2, scale: int = 4) -> None:
        super().__init__()
        if scale not in (1, 2, 3, 4):
            raise SrkitError(f"da-sr supports scale 1, 2, 3 or 4, not {scale}")
        if min(num_in_ch, num_out_ch, num_feat, num_block) < 1 or decoder_block < 0:
            raise SrkitError("da-sr: num_in_ch, num_out_ch, num_feat and num_block must be at "
                             "least 1, decoder_block at least 0")
        self.scale = scale
        self.num_feat = num_feat
        self.num_block = num_block
        self.decoder_block = decoder_block
        # E
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        # G_SR
        self.decoder = nn.Sequential(*[ResidualBlockNoBN(num_feat)
                                       for _ in range(decoder_block)])
        stages = {1: [], 2: [2], 3: [3], 4: [2, 2]}[scale]
        self.upsample = nn.Sequential()
        for factor in stages:
            self.upsample.append(nn.Conv2d(num_feat, num_feat * factor * factor, 3, 1, 1))
            self.upsample.append(nn.PixelShuffle(factor))
            self.upsample.append(nn.LeakyReLU(0.1, inplace=True))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        scaled_kaiming_([self.conv_first, self.conv_body, self.upsample, self.conv_hr], 0.1)
        scaled_kaiming_(self.conv_last, 1.0)  # no input skip: the output must reach [0, 1]

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that one output pixel depends on (for exact tiling):
        conv_first, 2 per residual block of E and G_SR, conv_body and one per upsampling conv
        at LR size; conv_hr and conv_last at HR size reach at most ±1 input pixel each."""
        stages = {1: 0, 2: 1, 3: 1, 4: 2}[self.scale]
        return 2 + 2 * (self.num_block + self.decoder_block) + stages + 2

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """E: ``(B, num_in_ch, H, W)`` → features ``(B, num_feat, H, W)``."""
        feat = self.conv_first(x)
        return feat + self.conv_body(self.body(feat))

    def decode(self, feat: torch.Tensor) -> torch.Tensor:
        """G_SR: features ``(B, num_feat, H, W)`` → image ``(B, num_out_ch, sH, sW)``."""
        out = self.upsample(self.decoder(feat))
        return self.conv_last(self.lrelu(self.conv_hr(out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class LrDecoder(nn.Module):
    """G_t: E's features ``(B, num_feat, H, W)`` → a target-style LR image ``(B, 3, H, W)``.

    ``num_block`` residual blocks and a last conv (no upsampling). Training only.
    """

    def __init__(self, num_feat: int = 64, num_block: int = 2, num_out_ch: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        scaled_kaiming_(self.conv_hr, 0.1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.conv_last(self.lrelu(self.conv_hr(self.body(feat))))
