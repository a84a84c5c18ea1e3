"""Meta-SR: one network for any upscaling factor (Hu et al., CVPR 2019), as Meta-RDN.

A residual dense network body (RDN, Zhang et al., CVPR 2018: two shallow convs, ``num_block``
residual dense blocks of ``num_layer`` densely connected 3×3 convs with growth ``num_grow_ch``
and 1×1 local fusion, global 1×1 + 3×3 fusion and a global skip) extracts LR features
``F_LR`` ``(B, C, h, w)``; the *Meta-Upscale* module (§3.2) then maps them to any size:

- location projection: output pixel ``(i, j)`` belongs to LR pixel ``(⌊i/r⌋, ⌊j/r⌋)``;
- weight prediction: a small MLP (3 → 256 → ReLU → ``k·k·C·out``) maps
  ``v_ij = (i/r − ⌊i/r⌋, j/r − ⌊j/r⌋, 1/r)`` to the weights of a ``k × k`` filter;
- feature mapping: the output pixel is that filter applied to the ``k × k`` neighbourhood of
  ``F_LR`` at the projected pixel (a per-pixel matrix product, no bias).

The output is ``round(h·r) × round(w·r)`` (halves rounded up; the authors' later
``int(scale · h + 0.5)``); every output pixel still projects inside the input, since
``(round(h·r) − 1) / r < h``. Output pixel ``i`` covers ``[i/r, (i+1)/r)`` in LR pixel units,
LR pixel ``u`` covers ``[u·r, (u+1)·r)`` of the HR grid — the geometry of MATLAB's
``imresize(hr, 1/r)``, which makes the training pairs (:mod:`srkit.patches`). Pixels with the
same fractional offsets share weights, so the MLP runs once per distinct row offset × distinct
column offset (``r²`` pairs for an integer ``r``), not once per output pixel.

``forward(x)`` upscales by the default ``scale`` (an integer, what the model file records);
``forward(x, scale=2.7)`` by any factor ≥ 1 (the paper trains and tests 1 < r ≤ 4).
:meth:`MetaRDN.upscale_region` computes a window of a larger image's output from an input
window with context around it, with the offsets of the whole image: what exact tiling at a
non-integer factor needs (:func:`srkit.ops.tiling.upscale_tiled_any_scale`).

``input_skip=True`` is **srkit's addition, not the paper's**: the output adds the input pixel
each output pixel projects to (:func:`projected_input`, the indices of :func:`projection`;
nearest-neighbour upsampling at an integer ``r``) instead of DIV2K's mean, so the network
learns a residual over an interpolation, as srkit's compact net does. The paper's network
(the default, ``False``) adds only the mean and starts far from any interpolation, which a
short training run makes up slowly; at a CPU budget the skip is worth 0.1–0.5 dB
(benchmarks/results/metasr_scales_skip.md). The skip adds no
parameter and reads only the projected pixel, so tiling stays exact with the same context.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from srkit.errors import SrkitError
from srkit.models.checks import require_positive, require_rgb

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # subtracted from the input, added to the output
MAX_SCALE = 16.0


# i / r is computed in float64; a row whose left edge falls on an LR pixel edge (i = u·r
# exactly, e.g. 27 / 2.7) must project to that pixel with offset 0, not to the one before it
# with offset 0.999…: the tolerance absorbs the rounding of i / r.
_EDGE_TOLERANCE = 1e-9


def output_size(size: int, scale: float) -> int:
    """``round(size · scale)``, halves up; the tolerance keeps e.g. 10 · 2.35 = 23.499… at 24."""
    return int(math.floor(size * scale + 0.5 + 1e-6))


def projection(size: int, scale: float, out_start: int = 0, out_stop: int | None = None,
               origin: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """For output positions ``out_start .. out_stop − 1`` along one axis (default: all
    ``round(size·scale)`` of them): the input position each projects to, ``⌊i/r⌋ − origin``
    (int64; ``origin`` is where a window of the input starts), and its offset
    ``i/r − ⌊i/r⌋`` in [0, 1) (float64). ``size`` is the length of that (window of the) input;
    projections are clamped into it."""
    if out_stop is None:
        out_stop = output_size(size, scale)
    coords = torch.arange(out_start, out_stop, dtype=torch.float64) / scale + _EDGE_TOLERANCE
    source = torch.floor(coords)
    offsets = (coords - source - _EDGE_TOLERANCE).clamp_(min=0.0)
    return (source.long() - origin).clamp_(0, size - 1), offsets


def projected_input(x: torch.Tensor, scale: float,
                    region: tuple[int, int, int, int, int, int] | None = None) -> torch.Tensor:
    """``x`` ``(B, C, h, w)`` sampled at the input pixel each output pixel projects to,
    ``(⌊i/r⌋, ⌊j/r⌋)``: ``(B, C, round(h·r), round(w·r))``, or with ``region`` (as
    :meth:`MetaUpscale.forward` takes it; ``x`` is then a window) those output rows × columns.
    Nearest-neighbour upsampling with Meta-SR's own projection; for an integer ``r`` it equals
    ``F.interpolate(x, scale_factor=r, mode="nearest")``."""
    height, width = x.shape[-2:]
    if region is None:
        rows, cols = projection(height, scale)[0], projection(width, scale)[0]
    else:
        top, left, row_start, row_stop, col_start, col_stop = region
        rows = projection(height, scale, row_start, row_stop, top)[0]
        cols = projection(width, scale, col_start, col_stop, left)[0]
    return x.index_select(-2, rows.to(x.device)).index_select(-1, cols.to(x.device))


class ResidualDenseBlock(nn.Module):
    """RDN's RDB: ``num_layer`` densely connected conv3×3–ReLU, 1×1 local fusion, skip."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 64, num_layer: int = 8) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(num_feat + i * num_grow_ch, num_grow_ch, 3, 1, 1)
                                    for i in range(num_layer)])
        self.lff = nn.Conv2d(num_feat + num_layer * num_grow_ch, num_feat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs:
            features.append(F.relu(conv(torch.cat(features, 1))))
        return x + self.lff(torch.cat(features, 1))


class MetaUpscale(nn.Module):
    """Meta-Upscale: ``(B, C, h, w)`` LR features → ``(B, out_ch, round(h·r), round(w·r))``.

    Args:
        num_feat: feature channels ``C``.
        num_out_ch: output channels.
        kernel_size: the predicted filters' size ``k`` (3 in Meta-SR).
        hidden: width of the weight-prediction MLP (256 in Meta-SR).
    """

    def __init__(self, num_feat: int = 64, num_out_ch: int = 3, kernel_size: int = 3,
                 hidden: int = 256) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.num_out_ch = num_out_ch
        self.weight_predictor = nn.Sequential(
            nn.Linear(3, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, kernel_size * kernel_size * num_feat * num_out_ch))

    def predict_weights(self, offsets: torch.Tensor, scale: float) -> torch.Tensor:
        """Filters for ``offsets`` ``(N, 2)`` (row, column offsets in [0, 1)) at ``scale``:
        ``(N, C·k·k, out_ch)``, the MLP of ``(Δi, Δj, 1/r)``."""
        inverse = torch.full_like(offsets[:, :1], 1.0 / scale)
        weights = self.weight_predictor(torch.cat((offsets, inverse), 1))
        return weights.view(offsets.shape[0], -1, self.num_out_ch)

    def forward(self, feat: torch.Tensor, scale: float,
                region: tuple[int, int, int, int, int, int] | None = None) -> torch.Tensor:
        """Upscale ``feat`` by ``scale``. ``region`` ``(top, left, row_start, row_stop,
        col_start, col_stop)``: ``feat`` is a window of a larger image's features starting at
        input pixel ``(top, left)``, and the output is that image's output rows
        ``row_start:row_stop`` × columns ``col_start:col_stop`` (which must project into the
        window); None: the whole ``round(h·r) × round(w·r)`` output of ``feat``."""
        batch, _, height, width = feat.shape
        if region is None:
            rows, row_offsets = projection(height, scale)
            cols, col_offsets = projection(width, scale)
        else:
            top, left, row_start, row_stop, col_start, col_stop = region
            rows, row_offsets = projection(height, scale, row_start, row_stop, top)
            cols, col_offsets = projection(width, scale, col_start, col_stop, left)
        # Distinct offsets along each axis; every output pixel is one (row, column) pair.
        row_values, row_class = torch.unique(row_offsets.float(), return_inverse=True)
        col_values, col_class = torch.unique(col_offsets.float(), return_inverse=True)
        pad = self.kernel_size // 2
        patches = F.unfold(feat, self.kernel_size, padding=pad).view(batch, -1, height, width)
        device = feat.device
        rows, cols = rows.to(device), cols.to(device)
        row_class, col_class = row_class.to(device), col_class.to(device)
        col_patches = patches[..., cols]  # (B, C·k·k, h, W_out)
        pieces, order = [], []
        for a in range(len(row_values)):
            out_rows = torch.nonzero(row_class == a).flatten()
            sub = col_patches[:, :, rows[out_rows]]          # (B, C·k·k, n_rows, W_out)
            pairs = torch.stack((row_values[a].expand_as(col_values), col_values), 1)
            # (W_out, C·k·k, out_ch): the filter of every output column in these rows
            filters = self.predict_weights(pairs.to(device, feat.dtype), scale)[col_class]
            pieces.append(torch.einsum("bkrj,jko->borj", sub, filters))
            order.append(out_rows)
        out = torch.cat(pieces, 2)
        inverse = torch.empty_like(row_class)
        inverse[torch.cat(order)] = torch.arange(len(row_class), device=device)
        return out[:, :, inverse]


class MetaRDN(nn.Module):
    """Meta-RDN, ``(B, num_in_ch, H, W)`` → ``(B, num_out_ch, round(rH), round(rW))``, r ≥ 1.

    Args:
        num_in_ch, num_out_ch: image channels (3).
        num_feat: RDN's ``G0`` (64).
        num_block: residual dense blocks ``D`` (16).
        num_layer: convs per block ``C`` (8).
        num_grow_ch: growth rate ``G`` (64).
        scale: the default factor of :meth:`forward` and of the model file (integer).
        input_skip: add :func:`projected_input` (the nearest input pixel through the
            projection) to the output instead of DIV2K's mean — srkit's addition, not the
            paper's (module doc); False is the paper's network.

    Values: images in [0, 1]; DIV2K's mean is subtracted from the input and added back (or,
    with ``input_skip``, the projected input is); not clipped.
    A small CPU setting: ``num_feat=8, num_block=2, num_layer=2, num_grow_ch=4``.
    """

    size_multiple = 1
    arbitrary_scale = True  # forward(x, scale) and upscale_region take any factor

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_block: int = 16, num_layer: int = 8, num_grow_ch: int = 64,
                 scale: int = 4, input_skip: bool = False) -> None:
        super().__init__()
        if not 1 <= scale <= MAX_SCALE:
            raise SrkitError(f"metasr: scale must be 1 to {MAX_SCALE:g}, got {scale}")
        require_positive("metasr", num_feat=num_feat, num_block=num_block,
                         num_layer=num_layer, num_grow_ch=num_grow_ch)
        require_rgb("metasr", num_in_ch, num_out_ch)
        self.scale = scale
        self.input_skip = input_skip
        self.num_block = num_block
        self.num_layer = num_layer
        self.register_buffer("rgb_mean", torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.sfe1 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.sfe2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.rdbs = nn.ModuleList([ResidualDenseBlock(num_feat, num_grow_ch, num_layer)
                                   for _ in range(num_block)])
        self.gff = nn.Sequential(nn.Conv2d(num_block * num_feat, num_feat, 1),
                                 nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.upsample = MetaUpscale(num_feat, num_out_ch)

    @property
    def receptive_radius(self) -> int:
        """LR pixels on each side one output pixel depends on: sfe1, sfe2, ``D·C`` convs on
        the longest dense path, the 3×3 of the global fusion and the 3×3 Meta-Upscale filter."""
        return 2 + self.num_block * self.num_layer + 1 + 1

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """RDN features ``F_LR`` ``(B, num_feat, H, W)`` of an image in [0, 1]."""
        shallow = self.sfe1(x - self.rgb_mean)
        feat = self.sfe2(shallow)
        block_outputs = []
        for block in self.rdbs:
            feat = block(feat)
            block_outputs.append(feat)
        return shallow + self.gff(torch.cat(block_outputs, 1))

    def forward(self, x: torch.Tensor, scale: float | None = None) -> torch.Tensor:
        """Upscale by ``scale`` (default :attr:`scale`), any real number from 1 to 16."""
        scale = self._check_scale(scale)
        return self.upsample(self.features(x), scale) + self._base(x, scale)

    def upscale_region(self, x: torch.Tensor, scale: float,
                       region: tuple[int, int, int, int, int, int]) -> torch.Tensor:
        """Part of a larger image's output: ``x`` is the input window starting at pixel
        ``(top, left)`` and the result is the whole image's output rows
        ``row_start:row_stop`` × columns ``col_start:col_stop`` (``region`` as
        :meth:`MetaUpscale.forward` takes it). With :attr:`receptive_radius` input pixels of
        context around the pixels those rows and columns project to (or the image border),
        it equals that part of ``forward`` on the whole image up to float rounding."""
        scale = self._check_scale(scale)
        return self.upsample(self.features(x), scale, region) + self._base(x, scale, region)

    def _base(self, x: torch.Tensor, scale: float,
              region: tuple[int, int, int, int, int, int] | None = None) -> torch.Tensor:
        """What the Meta-Upscale output is added to: the projected input or DIV2K's mean."""
        return projected_input(x, scale, region) if self.input_skip else self.rgb_mean

    def _check_scale(self, scale: float | None) -> float:
        scale = float(self.scale if scale is None else scale)
        if not (1.0 <= scale <= MAX_SCALE):
            raise SrkitError(f"metasr: scale must be 1 to {MAX_SCALE:g}, got {scale:g}")
        return scale
