"""Discriminators for GAN training of SR networks, looked up in :data:`DISCRIMINATORS`.

- :class:`PatchDiscriminator`: pix2pix's n-layer PatchGAN (Isola et al., CVPR 2017), the one
  RealSR uses instead of ESRGAN's VGG-style D (fewer artefacts; a score per 70×70 patch for
  3 layers). Keys ``model.N`` as in pix2pix and RealSR.
- :class:`VGGStyleDiscriminator`: SRGAN/ESRGAN's classifier for 128×128 (or 256×256) crops;
  BasicSR key names (``conv0_0``, ``bn0_1``, ..., ``linear1``, ``linear2``).
- :class:`UNetDiscriminatorSN`: Real-ESRGAN's U-Net with spectral norm, a realness score per
  pixel; BasicSR key names (``conv0`` ... ``conv9``, ``weight_orig``/``weight_u``/``weight_v``).

All take ``(B, in_channels, H, W)`` images in [0, 1] and return raw logits.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

from srkit.errors import SrkitError

_NORMS = ("batch", "instance", "none")


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class PatchDiscriminator(nn.Module):
    """n-layer PatchGAN: ``(B, C, H, W)`` → ``(B, 1, H', W')`` patch logits.

    4×4 convs: the first without norm, ``num_layers - 1`` more with stride 2 and doubling
    width (capped at 8× ``num_feat``), one with stride 1, then a 1-channel stride-1 conv.
    With 3 layers each logit sees a 70×70 input patch and H' = H/8 - 2.

    Args:
        in_channels: image channels.
        num_feat: width of the first layer (64).
        num_layers: stride-2 layers (3 in pix2pix and RealSR).
        norm: ``batch`` (pix2pix, RealSR), ``instance`` or ``none``.
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_layers: int = 3,
                 norm: str = "batch") -> None:
        super().__init__()
        if norm not in _NORMS:
            raise SrkitError(f"patch discriminator: norm must be one of {', '.join(_NORMS)}")
        if num_layers < 1:
            raise SrkitError(f"patch discriminator: num_layers must be ≥ 1, got {num_layers}")
        bias = norm == "none"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 4, 2, 1),
                                   nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, num_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < num_layers else 1
            layers += [nn.Conv2d(num_feat * prev, num_feat * mult, 4, stride, 1, bias=bias),
                       _norm_layer(norm, num_feat * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(num_feat * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)
        self._init_pix2pix()

    @torch.no_grad()
    def _init_pix2pix(self) -> None:
        """pix2pix's ``init_weights('normal', 0.02)``: N(0, 0.02) convs, N(1, 0.02) norms."""
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, 0.0, 0.02)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
            elif isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)) and layer.affine:
                nn.init.normal_(layer.weight, 1.0, 0.02)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


VGG_INPUT_SIZES = (128, 256, 296)


class VGGStyleDiscriminator(nn.Module):
    """SRGAN/ESRGAN discriminator: ``(B, C, S, S)`` → ``(B, 1)`` logits, S = ``input_size``.

    Five (or six for 256) stages of a 3×3 conv and a stride-2 4×4 conv with BatchNorm and
    LeakyReLU(0.2), widths 64-128-256-512-512, then Linear(512·4·4, 100) and Linear(100, 1).
    For 296 (RankSRGAN's ``Discriminator_VGG_296``) five stages leave 9×9:
    Linear(512·9·9, 100).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size not in VGG_INPUT_SIZES:
            raise SrkitError(f"vgg discriminator: input_size must be 128, 256 or 296, "
                             f"got {input_size}")
        self.input_size = input_size
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8]
        if input_size == 256:
            widths.append(num_feat * 8)
        self.num_stages = len(widths)
        self.conv0_0 = nn.Conv2d(in_channels, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(num_feat, affine=True)
        for i in range(1, self.num_stages):
            setattr(self, f"conv{i}_0", nn.Conv2d(widths[i - 1], widths[i], 3, 1, 1, bias=False))
            setattr(self, f"bn{i}_0", nn.BatchNorm2d(widths[i], affine=True))
            setattr(self, f"conv{i}_1", nn.Conv2d(widths[i], widths[i], 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(widths[i], affine=True))
        side = 9 if input_size == 296 else 4
        self.linear1 = nn.Linear(num_feat * 8 * side * side, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"VGGStyleDiscriminator expects {self.input_size}×"
                             f"{self.input_size} inputs, got {tuple(x.shape[-2:])}")
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for i in range(1, self.num_stages):
            feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        feat = self.lrelu(self.linear1(feat.flatten(1)))
        return self.linear2(feat)


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral norm: ``(B, C, H, W)`` → ``(B, 1, H, W)``.

    Three stride-2 downsampling convs, three bilinear-×2 upsampling convs with skip additions,
    two more convs and a 1-channel output; spectral norm on all but the first and last conv.
    H and W must be multiples of 8.
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64,
                 skip_connection: bool = True) -> None:
        super().__init__()
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.conv1 = spectral_norm(nn.Conv2d(num_feat, num_feat * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(num_feat * 2, num_feat * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(num_feat * 4, num_feat * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(num_feat * 8, num_feat * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(num_feat * 4, num_feat * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(num_feat, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"UNetDiscriminatorSN needs H and W divisible by 8, "
                             f"got {tuple(x.shape[-2:])}")

        def act(t: torch.Tensor) -> torch.Tensor:
            return F.leaky_relu(t, negative_slope=0.2)

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        out = act(self.conv8(act(self.conv7(x6))))
        return self.conv9(out)


DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "patchgan": PatchDiscriminator,
    "vgg": VGGStyleDiscriminator,
    "unet": UNetDiscriminatorSN,
}
