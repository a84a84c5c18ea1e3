"""Using a trained DSN: generated LR images and their domain-distance maps (DASR, Sec. 3.2).

The DSN's discriminator gives one score per patch of a generated LR image's high-frequency
bands: how much that patch looks like the real LR photos. DASR spreads each score back over
the LR pixels of the patch's receptive field and averages where fields overlap; the result,
an LR-size map in [0, 1] (1 = indistinguishable from real), weights the pixel loss of SR
training (:mod:`srkit.training.dasr`).

The receptive fields are computed from the network itself: the frequency separation
(the 2×2 stride-2 Haar window, or the Gaussian blur's window) followed by every ``Conv2d`` /
pooling layer of the discriminator in registration order, which must form a chain (true of
the FSD and PatchGAN discriminators). For a layer chain with kernel ``k``, stride ``s``,
padding ``p`` and dilation ``d``, output position ``i`` of the last layer sees the input
pixels ``start + i·jump ± (rf − 1)/2`` (the usual receptive-field arithmetic; the reference
code's ``receptive_cal.py`` does the same for the discriminator alone).

``srkit degrade --dsn`` (:class:`srkit.degradations.dsn.DsnDegradation`) calls
:func:`domain_distance_map` on each generated LR image and writes ``PAIRS/dist/NAME.npy``
(float32 ``(h, w)``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from srkit.ops.wavelets import high_frequency, separation_geometry

Layer = tuple[int, int, int, int]  # kernel, stride, padding, dilation


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv_layers(network: nn.Module) -> tuple[list[Layer], list[Layer]]:
    """The (rows, cols) geometry of every Conv2d / MaxPool2d / AvgPool2d in ``network``."""
    rows: list[Layer] = []
    cols: list[Layer] = []
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            if isinstance(module.padding, str):
                raise ValueError("Conv2d with string padding is not supported")
            k, s, p, d = (_pair(module.kernel_size), _pair(module.stride),
                          _pair(module.padding), _pair(module.dilation))
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p = _pair(module.kernel_size), _pair(module.stride or module.kernel_size), \
                _pair(module.padding)
            d = _pair(getattr(module, "dilation", 1))
        else:
            continue
        rows.append((k[0], s[0], p[0], d[0]))
        cols.append((k[1], s[1], p[1], d[1]))
    return rows, cols


def receptive_fields(length: int, layers: list[Layer]) -> tuple[np.ndarray, np.ndarray]:
    """Input index ranges ``[lo, hi)`` (each ``(n_out,)`` int) seen by each output position
    of ``layers`` applied to an axis of ``length`` pixels, clipped to the image."""
    n, jump, rf, start = length, 1, 1, 0.0   # start: centre of output 0, in input indices
    for k, s, p, d in layers:
        k_eff = d * (k - 1) + 1
        n = (n + 2 * p - k_eff) // s + 1
        start += ((k_eff - 1) / 2 - p) * jump
        rf += (k_eff - 1) * jump
        jump *= s
    if n < 1:
        raise ValueError(f"an axis of {length} pixels is too small for the discriminator")
    centres = start + jump * np.arange(n)
    lo = np.round(centres - (rf - 1) / 2).astype(np.int64)
    hi = lo + rf
    return np.clip(lo, 0, length), np.clip(hi, 0, length)


def spread_scores(scores: np.ndarray, rows: tuple[np.ndarray, np.ndarray],
                  cols: tuple[np.ndarray, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Spread per-patch ``scores`` ``(n_rows, n_cols)`` over their fields; mean where fields
    overlap. Pixels no field covers get the mean score. Returns float32 ``shape``."""
    height, width = shape
    cover_h = np.zeros((len(rows[0]), height))
    cover_w = np.zeros((len(cols[0]), width))
    for i, (lo, hi) in enumerate(zip(*rows, strict=True)):
        cover_h[i, lo:hi] = 1.0
    for j, (lo, hi) in enumerate(zip(*cols, strict=True)):
        cover_w[j, lo:hi] = 1.0
    total = cover_h.T @ scores.astype(np.float64) @ cover_w
    count = np.outer(cover_h.sum(axis=0), cover_w.sum(axis=0))
    out = np.full(shape, float(scores.mean()))
    np.divide(total, count, out=out, where=count > 0)
    return out.astype(np.float32)


def _as_batch(lr: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(lr, np.ndarray):
        if lr.ndim != 3 or lr.shape[2] != 3:
            raise ValueError(f"lr image must be (H, W, 3), got {lr.shape}")
        lr = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32)).permute(2, 0, 1)
    if lr.ndim == 3:
        lr = lr[None]
    if lr.ndim != 4 or lr.shape[0] != 1:
        raise ValueError(f"expected one image (3, H, W) or (1, 3, H, W), got {tuple(lr.shape)}")
    return lr


@torch.no_grad()
def domain_distance_map(discriminator: nn.Module, lr_tensor: torch.Tensor | np.ndarray,
                        freq: str = "wavelet") -> np.ndarray:
    """DASR's domain-distance map of one LR image.

    Args:
        discriminator: a DSN discriminator (logits per patch), put in eval mode here.
        lr_tensor: ``(3, H, W)`` / ``(1, 3, H, W)`` tensor or ``(H, W, 3)`` array in [0, 1].
        freq: the frequency separation the discriminator was trained on.

    Returns:
        float32 ``(H, W)`` in [0, 1]: sigmoid of the scores, spread back over the receptive
        fields and averaged where they overlap.
    """
    discriminator.eval()
    param = next(discriminator.parameters(), None)
    lr = _as_batch(lr_tensor)
    if param is not None:
        lr = lr.to(param)
    height, width = lr.shape[-2:]
    scores = torch.sigmoid(discriminator(high_frequency(lr, freq, shifted=True)))
    scores = scores[0, 0].double().cpu().numpy()
    d_rows, d_cols = conv_layers(discriminator)
    sep = separation_geometry(freq)
    # an odd size is extended by one pixel before the Haar transform (symmetric mode)
    pad_h = height % 2 if freq == "wavelet" else 0
    pad_w = width % 2 if freq == "wavelet" else 0
    rows = receptive_fields(height + pad_h, sep + d_rows)
    cols = receptive_fields(width + pad_w, sep + d_cols)
    if (len(rows[0]), len(cols[0])) != scores.shape:
        raise ValueError(f"discriminator output {scores.shape} does not match its layer chain "
                         f"({len(rows[0])}, {len(cols[0])}); is it a plain chain of convs?")
    rows = (np.minimum(rows[0], height), np.minimum(rows[1], height))
    cols = (np.minimum(cols[0], width), np.minimum(cols[1], width))
    return spread_scores(scores, rows, cols, (height, width))
