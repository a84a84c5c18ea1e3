"""Run an upscaling network tile by tile so any image fits in bounded memory, exactly.

Each tile is a *core* of at most ``tile`` input pixels per side, processed together with
``overlap`` pixels of surrounding context (clipped at the image border); only the core's
output is kept. When ``overlap`` is at least the network's receptive radius (the input
pixels on each side that one output pixel depends on), every kept output pixel sees exactly
the inputs it sees in an untiled run — the image border stays the image border, where the
convolutions zero-pad the same way — so the tiled result equals the untiled one up to
float rounding. Memory is bounded by the processed size ``(tile + 2·overlap)²``.

Networks that pixel-unshuffle their input (RRDBNet ×2 and ×1) need H and W to be multiples
of ``multiple``: the image is reflect-padded at the bottom/right to a multiple and every
tile edge is kept on that grid, so the unshuffle cells are the same as untiled.

At a non-integer factor ``r`` (Meta-SR) an input tile does not map onto a whole number of
output pixels, and the weights of an output pixel depend on its position in the whole output
(its offset ``i/r − ⌊i/r⌋``). :func:`upscale_tiled_any_scale` therefore tiles the *output*:
each input core ``[a, b)`` owns the output pixels that project into it (``a ≤ ⌊i/r⌋ < b``),
and the network computes exactly those from the core with its context, told where the window
sits in the whole image — so the result again equals the untiled one up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where tensors are tiled: tile_spans needs none
    import torch


@dataclass(frozen=True)
class TileSpan:
    """One tile along one axis: the kept core ``[core_start, core_stop)`` and the processed
    input ``[in_start, in_stop)`` that contains it (input pixel coordinates)."""

    core_start: int
    core_stop: int
    in_start: int
    in_stop: int


def tile_spans(length: int, tile: int, overlap: int, multiple: int = 1) -> list[TileSpan]:
    """Cut ``[0, length)`` into cores of at most ``tile`` pixels, each with ``overlap`` context.

    ``tile <= 0`` or ``tile >= length`` gives one span covering everything. All boundaries
    are multiples of ``multiple`` (``length`` must be one).
    """
    if length % multiple:
        raise ValueError(f"length {length} is not a multiple of {multiple}")
    if overlap < 0:
        raise ValueError(f"overlap must be ≥ 0, got {overlap}")
    if tile <= 0 or tile >= length:
        return [TileSpan(0, length, 0, length)]
    tile = max(multiple, tile - tile % multiple)
    spans = []
    for start in range(0, length, tile):
        stop = min(start + tile, length)
        in_start = max(0, (start - overlap) // multiple * multiple)
        in_stop = min(length, -(-(stop + overlap) // multiple) * multiple)
        spans.append(TileSpan(start, stop, in_start, in_stop))
    return spans


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad ``(B, C, H, W)`` at the bottom and right to multiples of ``multiple``.

    Falls back to edge replication when the image is too small to reflect.
    """
    from torch.nn import functional as F

    height, width = image.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if not pad_h and not pad_w:
        return image
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(image, (0, pad_w, 0, pad_h), mode=mode)


def upscale_tiled(run: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor,
                  scale: int, tile: int, overlap: int, multiple: int = 1,
                  on_tile: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Apply an upscaler ``run`` to ``image`` ``(B, C, H, W)`` in tiles.

    Args:
        run: maps ``(B, C, h, w)`` to ``(B, C', scale·h, scale·w)`` (any device/dtype; its
            output is copied into a float32 result on ``image``'s device).
        image: the input; stays where it is, tiles are sliced from it.
        scale: integer upscaling factor of ``run``.
        tile: core side in input pixels (0 = whole image at once).
        overlap: context on each side; ≥ the receptive radius makes the result exact.
        multiple: H and W granularity the network needs (see module docstring).
        on_tile: called as ``on_tile(done, total)`` after each tile.

    Returns: ``(B, C', scale·H, scale·W)`` float32.
    """
    import torch

    height, width = image.shape[-2:]
    padded = pad_to_multiple(image, multiple)
    rows = tile_spans(padded.shape[-2], tile, overlap, multiple)
    cols = tile_spans(padded.shape[-1], tile, overlap, multiple)
    total = len(rows) * len(cols)
    result: torch.Tensor | None = None
    done = 0
    for row in rows:
        for col in cols:
            piece = padded[..., row.in_start:row.in_stop, col.in_start:col.in_stop]
            out = run(piece)
            expected = (scale * piece.shape[-2], scale * piece.shape[-1])
            if tuple(out.shape[-2:]) != expected:
                raise ValueError(f"upscaler returned {tuple(out.shape[-2:])} for a "
                                 f"{tuple(piece.shape[-2:])} tile, expected {expected}")
            if result is None:
                result = torch.empty((*out.shape[:-2], scale * padded.shape[-2],
                                      scale * padded.shape[-1]),
                                     dtype=torch.float32, device=image.device)
            top = scale * (row.core_start - row.in_start)
            left = scale * (col.core_start - col.in_start)
            core_h = scale * (row.core_stop - row.core_start)
            core_w = scale * (col.core_stop - col.core_start)
            result[..., scale * row.core_start:scale * row.core_stop,
                   scale * col.core_start:scale * col.core_stop] = \
                out[..., top:top + core_h, left:left + core_w].to(result.device, torch.float32)
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    assert result is not None
    return result[..., : scale * height, : scale * width]


# (top, left, row_start, row_stop, col_start, col_stop): an input window's origin and the
# whole image's output rows and columns computed from it (MetaRDN.upscale_region's region).
Region = tuple[int, int, int, int, int, int]


def output_tile_spans(length: int, scale: float, tile: int, overlap: int
                      ) -> list[tuple[TileSpan, int, int]]:
    """Tiles of one axis at any factor: each input :class:`TileSpan` with the output pixels
    ``[out_start, out_stop)`` whose projection ``⌊i/r⌋`` lies in its core; together they
    cover the ``round(length·scale)`` output pixels once, in order."""
    from srkit.models.metasr import projection

    sources = projection(length, scale)[0].numpy()
    spans = []
    for span in tile_spans(length, tile, overlap):
        out_start = int(np.searchsorted(sources, span.core_start, "left"))
        out_stop = int(np.searchsorted(sources, span.core_stop, "left"))
        if out_stop > out_start:
            spans.append((span, out_start, out_stop))
    return spans


def upscale_tiled_any_scale(run: Callable[[torch.Tensor, Region], torch.Tensor],
                            image: torch.Tensor, scale: float, tile: int, overlap: int,
                            on_tile: Callable[[int, int], None] | None = None
                            ) -> torch.Tensor:
    """Apply an any-factor upscaler to ``image`` ``(B, C, H, W)`` in output tiles (module doc).

    Args:
        run: ``run(window, region)`` → the output rows × columns of ``region`` (a
            :data:`Region`), e.g. ``MetaRDN.upscale_region`` at ``scale``.
        scale: any factor ≥ 1; the result is ``round(H·scale) × round(W·scale)``.
        tile: input core side (0 = whole image at once); overlap: context on each side,
            ≥ the receptive radius for an exact result.
        on_tile: called as ``on_tile(done, total)`` after each tile.
    """
    import torch

    from srkit.models.metasr import output_size

    height, width = image.shape[-2:]
    rows = output_tile_spans(height, scale, tile, overlap)
    cols = output_tile_spans(width, scale, tile, overlap)
    result: torch.Tensor | None = None
    total, done = len(rows) * len(cols), 0
    for row, row_start, row_stop in rows:
        for col, col_start, col_stop in cols:
            piece = image[..., row.in_start:row.in_stop, col.in_start:col.in_stop]
            out = run(piece, (row.in_start, col.in_start, row_start, row_stop, col_start,
                              col_stop))
            expected = (row_stop - row_start, col_stop - col_start)
            if tuple(out.shape[-2:]) != expected:
                raise ValueError(f"upscaler returned {tuple(out.shape[-2:])} for a region of "
                                 f"{expected}")
            if result is None:
                result = torch.empty((*out.shape[:-2], output_size(height, scale),
                                      output_size(width, scale)),
                                     dtype=torch.float32, device=image.device)
            result[..., row_start:row_stop, col_start:col_stop] = out.to(result.device,
                                                                         torch.float32)
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    assert result is not None
    return result
