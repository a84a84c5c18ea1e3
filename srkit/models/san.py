"""SAN: Second-order Attention Network (Dai et al., CVPR 2019).

Layout (paper Fig. 2 / §3): a shallow conv, then the *non-locally enhanced residual group*
(NLRG): a region-level non-local block (RL-NL), the *share-source residual group* (SSRG) of
``num_group`` local-source residual attention groups (LSRAG), the same RL-NL block again, and
a long skip from the shallow features; then an EDSR upsampler and a conv to RGB.

- LSRAG (§3.2): ``num_block`` residual blocks (conv–ReLU–conv + identity), second-order
  channel attention (SOCA), a conv, and the group's input added back.
- SSRG: ``F_g = W_SSC · F_0 + H_g(F_{g−1})`` where ``F_0`` is the RL-NL output and
  ``W_SSC`` one learnable scalar (``gamma``, zero at start as in the authors' code).
- SOCA (§3.3): covariance pooling ``Σ = X Ī Xᵀ`` of the ``C × HW`` feature matrix (``Ī``
  centres over positions), ``Σ^{1/2}`` by Newton–Schulz iteration (trace pre-normalisation,
  5 iterations, ``√tr`` post-compensation), the mean of each of its columns as the channel
  descriptor, then the channel-attention MLP (1×1 convs ``C → C/r → C``, ReLU, sigmoid)
  scales the channels.
- RL-NL (§3.1): the feature map is split into ``nonlocal_regions × nonlocal_regions`` regions
  (2 × 2 in the paper's code) and an embedded-Gaussian non-local block (Wang et al., 2018) runs
  in each region; one block, with the same weights, is used at the head and at the tail, as
  in the authors' code. Its output conv starts at zero (so the block starts as identity).

Not taken from the authors' code: modules it constructs but never calls (an unused
``conv_last`` after the SSRG, a per-LSRAG ``gamma``, a SOCA inside the non-local module) and
its centre crop of feature maps larger than 1000 px before covariance pooling (a memory
work-around for its ``HW × HW`` centring matrix, which is not formed here).

Tiling: non-local attention inside each region and covariance pooling over the whole map make
every output pixel depend on the whole input, and the region split itself depends on the
input size. :attr:`SAN.receptive_radius` is the radius of the *convolutional* path only; it is
the default tiling overlap, which makes everything but the global statistics match an
untiled run (``exact_tiling = False``; ``tests/test_models_literature.py`` measures the
difference). The non-local block's memory grows with the square of the region area: tiles of
at most ~128 px per side keep it to tens of MB per image.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from srkit.errors import SrkitError
from srkit.models.checks import require_positive, require_rgb

# DIV2K's RGB mean (EDSR / RCAN / SAN subtract it from the input and add it back).
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def covariance_pool(feat: torch.Tensor) -> torch.Tensor:
    """Sample covariance of the channels over positions: ``(B, C, H, W)`` → ``(B, C, C)``.

    ``Σ = X Ī Xᵀ`` with ``Ī = (I − 1 1ᵀ / M) / M``, ``M = H·W`` (SAN eq. 6; MPN-COV),
    computed as the centred product without forming the ``M × M`` matrix ``Ī``.
    """
    x = feat.flatten(2)
    x = x - x.mean(dim=2, keepdim=True)
    return x @ x.transpose(1, 2) / x.shape[2]


def newton_schulz_sqrtm(matrix: torch.Tensor, num_iterations: int = 5,
                        eps: float = 1e-12) -> torch.Tensor:
    """Square root of symmetric positive semi-definite ``(B, C, C)`` matrices.

    SAN §3.3 / iSQRT-COV (Li et al., 2018): pre-normalise by the trace so the eigenvalues lie
    in (0, 1] (where the iteration converges), iterate ``T = (3I − Z Y) / 2, Y ← Y T,
    Z ← T Z`` from ``Y = A, Z = I`` (``Y → A^{1/2}``, ``Z → A^{−1/2}``), then multiply by
    ``√tr``. Only matrix products, so it runs fast on GPUs and differentiates by autograd.
    ``eps`` keeps an all-zero matrix (a flat feature map) from dividing by zero.
    """
    size = matrix.shape[-1]
    identity = torch.eye(size, dtype=matrix.dtype, device=matrix.device).expand_as(matrix)
    trace = matrix.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(eps)[:, None, None]
    y = matrix / trace
    z = identity
    for _ in range(num_iterations):
        t = 0.5 * (3.0 * identity - z @ y)
        y, z = y @ t, t @ z
    return y * trace.sqrt()


class SecondOrderChannelAttention(nn.Module):
    """SOCA: channel weights in (0, 1) from the square-rooted feature covariance.

    Args:
        num_feat: channels ``C``.
        squeeze_factor: the MLP's reduction ``r`` (``C → C/r → C``; 16 in SAN).
        sqrtm_iterations: Newton–Schulz iterations (5 in SAN).
    """

    def __init__(self, num_feat: int = 64, squeeze_factor: int = 16,
                 sqrtm_iterations: int = 5) -> None:
        super().__init__()
        self.sqrtm_iterations = sqrtm_iterations
        hidden = max(1, num_feat // squeeze_factor)
        self.conv_du = nn.Sequential(nn.Conv2d(num_feat, hidden, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(hidden, num_feat, 1), nn.Sigmoid())

    def attention(self, feat: torch.Tensor) -> torch.Tensor:
        """The channel weights ``(B, C, 1, 1)`` for ``feat`` ``(B, C, H, W)``."""
        # Covariance in float32: second moments of large activations overflow float16.
        sqrt_cov = newton_schulz_sqrtm(covariance_pool(feat.float()), self.sqrtm_iterations)
        descriptor = sqrt_cov.mean(dim=1).to(feat.dtype)  # column means: one value per channel
        return self.conv_du(descriptor[:, :, None, None])

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return feat * self.attention(feat)


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block: ``z = x + W·softmax(θ(x)ᵀ φ(x)) g(x)`` over all
    positions of ``x`` ``(B, C, H, W)``; ``θ, φ, g`` are 1×1 convs to ``inter_feat`` channels,
    ``W`` a zero-initialised 1×1 conv back to ``C`` (Wang et al., CVPR 2018)."""

    def __init__(self, num_feat: int = 64, inter_feat: int = 8) -> None:
        super().__init__()
        self.g = nn.Conv2d(num_feat, inter_feat, 1)
        self.theta = nn.Conv2d(num_feat, inter_feat, 1)
        self.phi = nn.Conv2d(num_feat, inter_feat, 1)
        self.W = nn.Conv2d(inter_feat, num_feat, 1)
        nn.init.zeros_(self.W.weight)
        nn.init.zeros_(self.W.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)   # (B, HW, C')
        phi = self.phi(x).flatten(2)                        # (B, C', HW)
        g = self.g(x).flatten(2).transpose(1, 2)           # (B, HW, C')
        y = torch.softmax(theta @ phi, dim=-1) @ g          # (B, HW, C')
        y = y.transpose(1, 2).reshape(batch, -1, height, width)
        return x + self.W(y)


class RegionNonLocal(nn.Module):
    """RL-NL: one :class:`NonLocalBlock` applied separately in each cell of a
    ``regions × regions`` grid (cell edges at ``⌊k·H / regions⌋``; SAN's code: 2 × 2)."""

    def __init__(self, num_feat: int = 64, inter_feat: int = 8, regions: int = 2) -> None:
        super().__init__()
        self.regions = regions
        self.block = NonLocalBlock(num_feat, inter_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        rows = [k * height // self.regions for k in range(self.regions + 1)]
        cols = [k * width // self.regions for k in range(self.regions + 1)]
        bands = []
        for top, bottom in zip(rows, rows[1:], strict=False):
            if bottom == top:
                continue
            cells = [self.block(x[..., top:bottom, left:right])
                     for left, right in zip(cols, cols[1:], strict=False) if right > left]
            bands.append(torch.cat(cells, dim=3))
        return torch.cat(bands, dim=2)


class ResidualBlock(nn.Module):
    """conv3×3 – ReLU – conv3×3 plus the identity (no BatchNorm, no scaling)."""

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class LSRAG(nn.Module):
    """Local-source residual attention group: residual blocks, SOCA, a conv, local skip."""

    def __init__(self, num_feat: int = 64, num_block: int = 10, squeeze_factor: int = 16,
                 sqrtm_iterations: int = 5) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[ResidualBlock(num_feat) for _ in range(num_block)])
        self.soca = SecondOrderChannelAttention(num_feat, squeeze_factor, sqrtm_iterations)
        self.conv_last = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_last(self.soca(self.blocks(x)))


def _upsampler(num_feat: int, scale: int) -> nn.Sequential:
    """EDSR's upsampler: (conv to 4·C, pixel shuffle ×2) per factor 2, or one ×3 stage."""
    layers: list[nn.Module] = []
    if scale == 3:
        layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
    else:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


class SAN(nn.Module):
    """Second-order attention network, ``(B, num_in_ch, H, W)`` → ``(B, num_out_ch, sH, sW)``.

    Args:
        num_in_ch, num_out_ch: image channels (3).
        num_feat: feature width (64 in the paper).
        num_group: LSRAGs in the SSRG (20 in the paper).
        num_block: residual blocks per LSRAG (10 in the paper).
        squeeze_factor: SOCA's channel reduction ``r`` (16).
        sqrtm_iterations: Newton–Schulz iterations of the matrix square root (5).
        nonlocal_regions: the RL-NL grid is ``nonlocal_regions²`` regions (2 → 2 × 2).
        upscale: 2, 3, 4 or 8.

    Values: images in [0, 1]; DIV2K's mean is subtracted and added back; not clipped.
    A small CPU setting: ``num_feat=16, num_group=2, num_block=2`` (≈ 34 k parameters at ×2).
    """

    exact_tiling = False  # non-local attention and covariance pooling see the whole tile

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_group: int = 20, num_block: int = 10, squeeze_factor: int = 16,
                 sqrtm_iterations: int = 5, nonlocal_regions: int = 2,
                 upscale: int = 4) -> None:
        super().__init__()
        if upscale not in (2, 3, 4, 8):
            raise SrkitError(f"san supports upscale 2, 3, 4 or 8, not {upscale}")
        require_positive("san", num_feat=num_feat, num_group=num_group,
                         squeeze_factor=squeeze_factor, nonlocal_regions=nonlocal_regions,
                         sqrtm_iterations=sqrtm_iterations)
        if num_block < 0:
            raise SrkitError(f"san: num_block must be ≥ 0, got {num_block}")
        require_rgb("san", num_in_ch, num_out_ch)
        self.upscale = upscale
        self.scale = upscale
        self.size_multiple = 1
        self.num_group = num_group
        self.num_block = num_block
        self.register_buffer("rgb_mean", torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.non_local = RegionNonLocal(num_feat, max(1, num_feat // 8), nonlocal_regions)
        self.groups = nn.ModuleList([LSRAG(num_feat, num_block, squeeze_factor,
                                           sqrtm_iterations) for _ in range(num_group)])
        self.gamma = nn.Parameter(torch.zeros(1))  # W_SSC, the share-source skip weight
        self.upsample = _upsampler(num_feat, upscale)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    @property
    def receptive_radius(self) -> int:
        """Radius of the convolutional path in input pixels, the default tiling overlap.

        conv_first, then per LSRAG two convs per residual block and its last conv, then at
        most one low-resolution pixel per upsampler conv and for conv_last. The non-local
        blocks and SOCA are global on top of this (:attr:`exact_tiling` is False).
        """
        upsample_convs = 1 if self.upscale == 3 else int(math.log2(self.upscale))
        return 1 + self.num_group * (2 * self.num_block + 1) + upsample_convs + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shallow = self.conv_first(x - self.rgb_mean)
        source = self.non_local(shallow)
        feat = source
        for group in self.groups:
            feat = group(feat) + self.gamma * source
        feat = self.non_local(feat) + shallow
        return self.conv_last(self.upsample(feat)) + self.rgb_mean
