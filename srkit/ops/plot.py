"""Small line plots drawn with Pillow (no matplotlib): one panel with axes, ticks, a grid,
curves and an optional legend. Used by ``pool compare``'s report and the training curves.

A curve is ``(xs, ys, colour)``; a ``None`` in ``ys`` (or a value ≤ 0 on a log axis) is a gap
that is skipped. Coordinates are data units; the panel maps them to pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

COLOURS = [(20, 20, 20), (230, 110, 0), (0, 114, 178), (0, 158, 115), (204, 121, 167),
           (213, 94, 0), (86, 180, 233), (240, 180, 0)]
"""Okabe–Ito-like colours that stay apart for colour-blind readers (the first is near black)."""

Colour = tuple[int, int, int]
Curve = tuple[Sequence[float], Sequence[float | None], Colour]

_GRID, _FRAME, _TICK_TEXT = (230, 230, 230), (120, 120, 120), (60, 60, 60)


def nice_range(values: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` spanning ``values`` with 6 % padding (±1 around a constant)."""
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.06
    return low - pad, high + pad


def log_range(values: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` spanning the positive ``values`` with a little padding in log space."""
    positive = [v for v in values if v > 0]
    if not positive:
        return 0.1, 10.0
    low, high = math.log10(min(positive)), math.log10(max(positive))
    if high - low < 1e-6:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.06
    return 10 ** (low - pad), 10 ** (high + pad)


def log_ticks(low: float, high: float, max_ticks: int = 7) -> list[float]:
    """Tick values for a log axis over ``[low, high]`` (both > 0): powers of ten (every
    n-th when there are more than ``max_ticks``), with 2× and 5× added when the range spans
    at most two decades, and the range ends if nothing else falls inside."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    mantissas = (1, 2, 5) if last - first <= 2 else (1,)
    step = max(1, math.ceil((last - first + 1) / max_ticks))
    start = step * math.ceil(first / step)  # round decades: 1e-30, 1e-25, …
    ticks = [m * 10.0**e for e in range(start, last + 1, step) for m in mantissas]
    ticks = [t for t in ticks if low <= t <= high]
    return ticks if len(ticks) >= 2 else [low, high]


def tick_label(value: float) -> str:
    """Three significant digits; thousands and millions as ``1.5k`` and ``2M``."""
    if 1e3 <= abs(value) < 1e6:
        return f"{value / 1e3:.3g}k"
    if 1e6 <= abs(value) < 1e12:
        return f"{value / 1e6:.3g}M"
    return f"{value:.3g}"


def draw_panel(draw, origin: tuple[int, int], title: str, xlabel: str, ylabel: str,
               xrange: tuple[float, float], yrange: tuple[float, float],
               curves: Sequence[Curve], *, size: tuple[int, int] = (440, 300),
               margin: int = 56, log_y: bool = False,
               legend: Sequence[tuple[str, Colour]] = (), markers: bool = True) -> None:
    """Draw one plot panel of ``size`` pixels with its top-left corner at ``origin``.

    Args:
        draw: a ``PIL.ImageDraw.ImageDraw`` on an RGB image.
        xrange, yrange: the data range shown (``yrange`` in data units, positive for
            ``log_y``); five evenly spaced ticks on linear axes, decades on a log axis.
        curves: ``(xs, ys, colour)`` lines; ``None`` values are skipped.
        legend: ``(label, colour)`` entries listed in the top-right corner of the plot area.
        markers: draw a dot at every point (turn off for long, dense curves).
    """
    x0, y0 = origin
    panel_w, panel_h = size
    width, height = panel_w - margin - 10, panel_h - 2 * margin + 10
    if log_y:
        ylow, yhigh = math.log10(yrange[0]), math.log10(yrange[1])
    else:
        ylow, yhigh = yrange

    def px(x: float, y: float) -> tuple[float, float]:
        fy = math.log10(y) if log_y else y
        return (x0 + margin + (x - xrange[0]) / (xrange[1] - xrange[0]) * width,
                y0 + margin + height - (fy - ylow) / (yhigh - ylow) * height)

    left, top = x0 + margin, y0 + margin
    draw.rectangle([left, top, left + width, top + height], outline=_FRAME)
    draw.text((left, y0 + 22), title, fill=(0, 0, 0))
    xticks = [xrange[0] + (xrange[1] - xrange[0]) * i / 4 for i in range(5)]
    yticks = (log_ticks(*yrange) if log_y
              else [yrange[0] + (yrange[1] - yrange[0]) * i / 4 for i in range(5)])
    for fx in xticks:
        gx, _ = px(fx, yrange[0])
        draw.line([gx, top, gx, top + height], fill=_GRID)
        draw.text((gx - 10, top + height + 4), tick_label(fx), fill=_TICK_TEXT)
    for fy in yticks:
        _, gy = px(xrange[0], fy)
        draw.line([left, gy, left + width, gy], fill=_GRID)
        draw.text((x0 + 4, gy - 6), tick_label(fy), fill=_TICK_TEXT)
    draw.text((left + width // 2 - 40, top + height + 20), xlabel, fill=(0, 0, 0))
    draw.text((x0 + 4, y0 + 38), ylabel, fill=(0, 0, 0))
    for xs, ys, colour in curves:
        points = [px(x, y) for x, y in zip(xs, ys, strict=True)
                  if y is not None and math.isfinite(y) and (y > 0 or not log_y)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        if markers or len(points) == 1:
            for x, y in points:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    for i, (label, colour) in enumerate(legend):
        ly = top + 6 + 14 * i
        text_w = draw.textlength(label)
        lx = left + width - 8 - text_w
        draw.rectangle([lx - 26, ly - 1, left + width - 4, ly + 12], fill=(255, 255, 255))
        draw.line([lx - 22, ly + 6, lx - 6, ly + 6], fill=colour, width=2)
        draw.text((lx, ly), label, fill=colour)
