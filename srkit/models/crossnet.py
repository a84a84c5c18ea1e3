"""CrossNet: reference-based ×4 SR by cross-scale warping (Zheng et al., ECCV 2018, §3).

The LR image is bicubic-upsampled to the HR size first (as the paper), then:

1. a **multi-scale encoder** (U-Net-like, shared by the upsampled LR and the reference)
   gives features at 4 scales (full size, 1/2, 1/4, 1/8): a 5×5 conv at full size, then
   per coarser scale a stride-2 conv and a 3×3 conv, LeakyReLU(0.1) after each;
2. a **FlowNetS-style flow estimator** on the concatenated upsampled LR and reference
   images: a contracting part (strides 1, 2, 2, 2, 2: down to 1/16) and an expanding part
   that, from 1/8 to full size, deconvolves the coarser features, concatenates the
   contracting features of its scale and the ×2-upsampled coarser flow, and predicts the
   flow of that scale (2 channels, ``(dx, dy)`` in pixels of that scale; the upsampled
   coarser flow is doubled);
3. **cross-scale warping**: the reference features of each scale are warped by the flow
   of that scale, ``warped[y, x] = ref_feat[y + dy, x + dx]`` (bilinear ``grid_sample``,
   border padding, :func:`warp`);
4. a **fusion decoder** (U-Net-like): from 1/8 to full size it concatenates the LR features,
   the warped reference features and the ×2 deconvolved decoder features of the coarser
   scale, and fuses them by two 3×3 convs; a last conv gives the image.

srkit's choices: the output adds the bicubic-upsampled LR (a global skip), the flow
estimator has one conv per contracting scale with ``flow_feat · 2^min(k, 2)`` channels at
scale ``1/2^k`` (not FlowNetS's full depth and width), and the defaults are small
(``num_feat=16``, ``flow_feat=16``: 0.45 M parameters, 0.38 M of them the flow estimator's)
so it trains on a CPU; the paper uses 64 encoder channels.

``forward(x, ref)`` takes LR ``x`` ``(B, 3, h, w)`` and ``ref`` ``(1 or B, 3, H_r, W_r)`` in
[0, 1], any size of at least :data:`MIN_REFERENCE` on each side; the reference is resized
(bicubic, antialiased) to the HR size ``(4h, 4w)`` — CrossNet aligns a reference of the
HR's view. The HR-size tensors are padded (replicate) to multiples of 16 (the flow
estimator's coarsest scale) inside and the output cropped, so any LR size works
(``size_multiple = 1``). ``forward(x)`` is the single-image mode: the upsampled LR is its
own reference. The flow is global, so ``upscale --ref`` runs each image whole; the
single-image mode tiles approximately (``exact_tiling = False``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srkit.errors import SrkitError

NUM_SCALES = 4  # encoder / decoder / warping scales: 1, 1/2, 1/4, 1/8
PAD_MULTIPLE = 16  # the flow estimator's coarsest scale
MIN_REFERENCE = 8  # the encoder's 1/8 scale needs one reference pixel at least


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``features`` ``(B, C, H, W)`` warped by ``flow`` ``(B, 2, H, W)`` (``dx, dy`` in
    pixels): ``out[..., y, x] = features[..., y + dy, x + dx]``, bilinear, border padding."""
    if flow.shape[1] != 2 or flow.shape[-2:] != features.shape[-2:]:
        raise SrkitError(f"warp: a flow of shape {tuple(flow.shape)} for features of shape "
                         f"{tuple(features.shape)}")
    height, width = features.shape[-2:]
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device)
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    x = grid_x + flow[:, 0]
    y = grid_y + flow[:, 1]
    grid = torch.stack([2.0 * x / max(width - 1, 1) - 1.0,
                        2.0 * y / max(height - 1, 1) - 1.0], dim=-1)
    return F.grid_sample(features, grid.to(features.dtype), mode="bilinear",
                         padding_mode="border", align_corners=True)


class _Encoder(nn.Module):
    """Features at full size, 1/2, 1/4 and 1/8 (``num_feat`` channels each)."""

    def __init__(self, num_in_ch: int, num_feat: int) -> None:
        super().__init__()
        self.first = nn.Conv2d(num_in_ch, num_feat, 5, 1, 2)
        self.down = nn.ModuleList(nn.Conv2d(num_feat, num_feat, 3, 2, 1)
                                  for _ in range(NUM_SCALES - 1))
        self.convs = nn.ModuleList(nn.Conv2d(num_feat, num_feat, 3, 1, 1)
                                   for _ in range(NUM_SCALES - 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [_act(self.first(x))]
        for down, conv in zip(self.down, self.convs, strict=True):
            features.append(_act(conv(_act(down(features[-1])))))
        return features


class _FlowEstimator(nn.Module):
    """FlowNetS-style: flows at full size, 1/2, 1/4 and 1/8, each in its scale's pixels."""

    def __init__(self, num_in_ch: int, flow_feat: int) -> None:
        super().__init__()
        channels = [flow_feat * 2 ** min(k, 2) for k in range(NUM_SCALES + 1)]  # 1 .. 1/16
        self.contract = nn.ModuleList(
            nn.Conv2d(2 * num_in_ch if k == 0 else channels[k - 1], channels[k], 3,
                      1 if k == 0 else 2, 1) for k in range(NUM_SCALES + 1))
        # expanding, coarse to fine: scale k (3 .. 0) from the features of scale k + 1
        self.deconv = nn.ModuleList()
        self.predict = nn.ModuleList()
        for k in reversed(range(NUM_SCALES)):
            coarser = (channels[NUM_SCALES] if k == NUM_SCALES - 1
                       else 2 * channels[k + 1] + (0 if k + 1 == NUM_SCALES - 1 else 2))
            self.deconv.append(nn.ConvTranspose2d(coarser, channels[k], 4, 2, 1))
            self.predict.append(nn.Conv2d(2 * channels[k] + (0 if k == NUM_SCALES - 1 else 2),
                                          2, 3, 1, 1))

    def forward(self, lr_up: torch.Tensor, ref: torch.Tensor) -> list[torch.Tensor]:
        contracted = []
        h = torch.cat([lr_up, ref], 1)
        for conv in self.contract:
            h = _act(conv(h))
            contracted.append(h)
        flows: list[torch.Tensor] = []
        for index, k in enumerate(reversed(range(NUM_SCALES))):
            parts = [contracted[k], _act(self.deconv[index](h))]
            if flows:
                parts.append(2.0 * F.interpolate(flows[-1], scale_factor=2, mode="bilinear",
                                                 align_corners=False))
            h = torch.cat(parts, 1)
            flows.append(self.predict[index](h))
        return flows[::-1]  # full size first


class _Decoder(nn.Module):
    """Fuses LR and warped reference features scale by scale, 1/8 to full size."""

    def __init__(self, num_feat: int, num_out_ch: int) -> None:
        super().__init__()
        self.fuse = nn.ModuleList()
        self.up = nn.ModuleList()
        for k in reversed(range(NUM_SCALES)):
            extra = 0 if k == NUM_SCALES - 1 else num_feat
            self.fuse.append(nn.Sequential(nn.Conv2d(2 * num_feat + extra, num_feat, 3, 1, 1),
                                           nn.LeakyReLU(0.1),
                                           nn.Conv2d(num_feat, num_feat, 3, 1, 1),
                                           nn.LeakyReLU(0.1)))
            if k > 0:
                self.up.append(nn.ConvTranspose2d(num_feat, num_feat, 4, 2, 1))
        self.last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, lr_features: list[torch.Tensor], warped: list[torch.Tensor]
                ) -> torch.Tensor:
        h = None
        for index, k in enumerate(reversed(range(NUM_SCALES))):
            parts = [lr_features[k], warped[k]]
            if h is not None:
                parts.append(_act(self.up[index - 1](h)))
            h = self.fuse[index](torch.cat(parts, 1))
        return self.last(h)


class CrossNet(nn.Module):
    """CrossNet (×4).

    Args:
        num_in_ch, num_out_ch: image channels (3).
        num_feat: encoder and decoder channels at every scale (16; the paper's 64).
        flow_feat: the flow estimator's channels at full size, doubled at 1/2 and 1/4
            (16: 16, 32, 64, 64, 64 down to 1/16).
        upscale: 4 (the paper's factor; the encoder and warping run at the HR size).
    """

    reference_based = True
    size_multiple = 1
    exact_tiling = False

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 16,
                 flow_feat: int = 16, upscale: int = 4) -> None:
        super().__init__()
        if upscale != 4:
            raise SrkitError(f"crossnet is a ×4 network (the paper's), not ×{upscale}")
        if num_in_ch != 3 or num_out_ch != 3:
            raise SrkitError("crossnet takes and gives RGB (num_in_ch = num_out_ch = 3)")
        if num_feat < 1 or flow_feat < 1:
            raise SrkitError("crossnet: num_feat and flow_feat must be at least 1")
        self.scale = 4
        self.encoder = _Encoder(num_in_ch, num_feat)
        self.flow = _FlowEstimator(num_in_ch, flow_feat)
        self.decoder = _Decoder(num_feat, num_out_ch)
        # the convolutional part at HR size, in LR pixels (the default tile overlap)
        self.receptive_radius = 16

    def flows(self, lr_up: torch.Tensor, ref: torch.Tensor) -> list[torch.Tensor]:
        """The flows at full size, 1/2, 1/4, 1/8 for padded HR-size inputs."""
        return self.flow(lr_up, ref)

    def prepare_reference(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """``ref`` checked and resized to ``x``'s HR size, one per image."""
        if ref.ndim != 4 or ref.shape[1] != x.shape[1]:
            raise SrkitError(f"crossnet: a reference must be (1 or B, {x.shape[1]}, H, W), "
                             f"got shape {tuple(ref.shape)}")
        if ref.shape[0] not in (1, x.shape[0]):
            raise SrkitError(f"{ref.shape[0]} references for {x.shape[0]} images")
        check_reference_size(tuple(ref.shape[-2:]))
        size = (4 * x.shape[-2], 4 * x.shape[-1])
        if tuple(ref.shape[-2:]) != size:
            ref = F.interpolate(ref, size=size, mode="bicubic", align_corners=False,
                                antialias=True)
        return ref.expand(x.shape[0], -1, -1, -1)

    def forward(self, x: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 4:
            raise SrkitError(f"crossnet: expected a (B, 3, h, w) input, got {tuple(x.shape)}")
        lr_up = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
        ref = lr_up if ref is None else self.prepare_reference(x, ref)
        height, width = lr_up.shape[-2:]
        pad_h, pad_w = -height % PAD_MULTIPLE, -width % PAD_MULTIPLE
        padded_lr = F.pad(lr_up, (0, pad_w, 0, pad_h), mode="replicate")
        padded_ref = F.pad(ref, (0, pad_w, 0, pad_h), mode="replicate")
        lr_features = self.encoder(padded_lr)
        ref_features = self.encoder(padded_ref)
        flows = self.flows(padded_lr, padded_ref)
        warped = [warp(f, flow) for f, flow in zip(ref_features, flows, strict=True)]
        out = padded_lr + self.decoder(lr_features, warped)
        return out[..., :height, :width]


def check_reference_size(shape: tuple[int, int]) -> None:
    """SrkitError for a reference under :data:`MIN_REFERENCE` on a side."""
    height, width = shape
    if min(height, width) < MIN_REFERENCE:
        raise SrkitError(f"a reference of {width}×{height} is too small for crossnet (at "
                         f"least {MIN_REFERENCE}×{MIN_REFERENCE})")
