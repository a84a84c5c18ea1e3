"""Drawing a visual report (:mod:`srkit.stages.report`): the HTML page and the PNG grid.

Both are made from :class:`ImagePanel` objects — one image's crops (uint8 tiles at their own
resolution) in every column, with the scores — and return the page as a string or the grid
as a Pillow image; writing the files is left to the caller.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from srkit.ops.crops import Crop
from srkit.stages.evaluate import LOWER_IS_BETTER, EvaluateResult

DISPLAY_SIZE = 192      # crops are enlarged by an integer factor to about this many pixels
OVERVIEW_SIZE = 256     # longer side of the whole-image view in the HTML, pixels
MAX_TABLE_ROWS = 1000   # rows of the all-images table in the HTML
PAD, TITLE_H, CAPTION_H, HEADER_H, FOOTER_H = 8, 26, 48, 40, 24   # grid layout, pixels
_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.4f}", "niqe": "{:.3f}", "lpips": "{:.4f}"}
_NAMES = {"psnr": "PSNR", "ssim": "SSIM", "niqe": "NIQE", "lpips": "LPIPS"}
_RECT_COLOURS = [(255, 40, 40), (40, 200, 255), (255, 210, 0)]
_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; } h3 { font-size: 16px; }
p.conv { color: #555; font-size: 13px; } p.note { color: #8a5a00; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; }
section { border-top: 1px solid #ddd; margin-top: 20px; padding-top: 4px; }
.top { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }
.crops { display: flex; gap: 10px; flex-wrap: wrap; align-items: flex-start; margin: 6px 0; }
.croptitle { font-size: 13px; color: #555; margin-top: 12px; }
figure { margin: 0; }
figcaption { font-size: 12px; line-height: 1.35; margin-top: 2px; }
img.zoom { image-rendering: crisp-edges; image-rendering: pixelated; display: block; }
.missing { background: #eee; color: #888; display: flex; align-items: center;
           justify-content: center; font-size: 12px; }
"""


@dataclass
class Column:
    """One image shown beside the others: its label, kind, scores and crop tiles."""

    label: str
    kind: str                                   # "lr", "bicubic", "method" or "reference"
    scores: dict[str, float | None] = field(default_factory=dict)
    tiles: list[np.ndarray] = field(default_factory=list)       # uint8 (c, c, 3) per crop
    crop_psnr: list[float | None] = field(default_factory=list)  # against the reference
    note: str = ""                              # why there are no tiles


@dataclass
class ImagePanel:
    """Everything the report shows of one image."""

    name: str
    size: tuple[int, int]                       # (H, W) of the aligned SR images
    crops: list[Crop]
    columns: list[Column]
    overview: np.ndarray                        # uint8 (h, w, 3), longer side ≤ OVERVIEW_SIZE


def zoom_for(crop_size: int) -> int:
    """Integer enlargement that shows a ``crop_size`` crop at about DISPLAY_SIZE pixels."""
    return max(1, round(DISPLAY_SIZE / crop_size))


def format_score(metric: str, value: float | None) -> str:
    """A score as the tables show it (``—`` when not computed, ``inf`` for identical)."""
    if value is None:
        return "—"
    if value == float("inf"):
        return "inf"
    return _FORMATS.get(metric, "{:.4g}").format(value)


def score_line(column: Column, metrics: Sequence[str]) -> str:
    """``PSNR 27.31  SSIM 0.8123`` of the metrics this column has a value for."""
    return "  ".join(f"{_NAMES.get(m, m)} {format_score(m, column.scores[m])}"
                     for m in metrics if column.scores.get(m) is not None)


def _crop_line(column: Column, index: int) -> str:
    if index < len(column.crop_psnr) and column.crop_psnr[index] is not None:
        return f"crop PSNR {format_score('psnr', column.crop_psnr[index])}"
    return ""


def _best(values: dict[str, float | None], metric: str) -> set[str]:
    """Labels with the best value of ``metric`` (none when fewer than two have one)."""
    known = {label: v for label, v in values.items() if v is not None}
    if len(known) < 2:
        return set()
    target = (min if metric in LOWER_IS_BETTER else max)(known.values())
    return {label for label, v in known.items() if v == target}


def _title(metric: str) -> str:
    return _NAMES.get(metric, metric) + ("↓" if metric in LOWER_IS_BETTER else "↑")


def font(size: int):
    """Pillow's bundled font at ``size`` px (the small bitmap font on old Pillow)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def png_bytes(image) -> bytes:
    """PNG encoding of a Pillow image or a uint8 array."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def overview_image(panel: ImagePanel, longest: int):
    """The whole image, longer side ``longest`` px, with numbered crop rectangles."""
    from PIL import Image, ImageDraw

    height, width = panel.size
    factor = longest / max(height, width)
    pil = Image.fromarray(panel.overview).resize(
        (max(1, round(width * factor)), max(1, round(height * factor))), Image.Resampling.BOX)
    draw = ImageDraw.Draw(pil)
    for number, crop in enumerate(panel.crops, 1):
        colour = _RECT_COLOURS[(number - 1) % len(_RECT_COLOURS)]
        box = [crop.left * factor, crop.top * factor,
               max(crop.left * factor + 2, (crop.left + crop.size) * factor - 1),
               max(crop.top * factor + 2, (crop.top + crop.size) * factor - 1)]
        draw.rectangle(box, outline=colour, width=2)
        draw.text((box[0] + 3, box[1] + 2), str(number), fill=colour, font=font(12))
    return pil


# --- HTML --------------------------------------------------------------------------------------

def _cell(metric: str, value: float | None, best: bool) -> str:
    return f'<td class="best">{format_score(metric, value)}</td>' if best else \
        f"<td>{format_score(metric, value)}</td>"


def _means_table(result: EvaluateResult) -> str:
    means = {m.label: {metric: m.mean(metric) for metric in result.metrics}
             for m in result.methods}
    best = {metric: _best({label: means[label][metric] for label in means}, metric)
            for metric in result.metrics}
    head = "".join(f"<th>{_title(m)}</th>" for m in result.metrics)
    rows = [f"<tr><th>method</th>{head}<th>images</th></tr>"]
    for method in result.methods:
        cells = "".join(_cell(m, means[method.label][m], method.label in best[m])
                        for m in result.metrics)
        rows.append(f"<tr><td>{html.escape(method.label)}</td>{cells}"
                    f"<td>{len(method.images)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _panel_table(panel: ImagePanel, metrics: Sequence[str]) -> str:
    scored = [c for c in panel.columns if c.kind in ("method", "bicubic") and c.scores]
    if not scored:
        return ""
    best = {m: _best({c.label: c.scores.get(m) for c in scored}, m) for m in metrics}
    head = "".join(f"<th>{_title(m)}</th>" for m in metrics)
    rows = [f"<tr><th>method</th>{head}</tr>"]
    for column in scored:
        cells = "".join(_cell(m, column.scores.get(m), column.label in best[m]) for m in metrics)
        rows.append(f"<tr><td>{html.escape(column.label)}</td>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _figure(column: Column, index: int, size: int, zoom: int, metrics: Sequence[str]) -> str:
    caption = [f"<b>{html.escape(column.label)}</b>"]
    caption += [html.escape(line) for line in (score_line(column, metrics),
                                               _crop_line(column, index)) if line]
    if index < len(column.tiles):
        tile = column.tiles[index]
        body = (f'<img class="zoom" width="{tile.shape[1] * zoom}" '
                f'height="{tile.shape[0] * zoom}" alt="{html.escape(column.label)}" '
                f'src="{data_uri(png_bytes(tile))}">')
    else:
        body = (f'<div class="missing" style="width:{size * zoom}px;height:{size * zoom}px">'
                f"{html.escape(column.note or 'missing')}</div>")
    return (f'<figure style="max-width:{max(size * zoom, 120)}px">{body}'
            f"<figcaption>{'<br>'.join(caption)}</figcaption></figure>")


def _panel_html(panel: ImagePanel, metrics: Sequence[str], zoom: int) -> str:
    height, width = panel.size
    view = overview_image(panel, min(OVERVIEW_SIZE, max(height, width)))
    parts = [f"<section><h3>{html.escape(panel.name)}</h3><div class=\"top\"><figure>"
             f'<img alt="{html.escape(panel.name)}" src="{data_uri(png_bytes(view))}">'
             f"<figcaption>{width}×{height}; numbered boxes: the crops below</figcaption>"
             f"</figure>{_panel_table(panel, metrics)}</div>"]
    for index, crop in enumerate(panel.crops):
        parts.append(f'<div class="croptitle">crop {index + 1}: x {crop.left}–'
                     f"{crop.left + crop.size}, y {crop.top}–{crop.top + crop.size} "
                     f"({crop.size} px shown ×{zoom})</div><div class=\"crops\">")
        parts += [_figure(c, index, crop.size, zoom, metrics) for c in panel.columns]
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _all_images_table(result: EvaluateResult) -> str:
    names = sorted({row.name for m in result.methods for row in m.images})
    lookup = {(m.label, row.name): row for m in result.methods for row in m.images}
    several = len(result.methods) > 1
    head = "".join(f"<th>{html.escape(m.label) + ' ' if several else ''}{_title(metric)}</th>"
                   for m in result.methods for metric in result.metrics)
    rows = [f"<tr><th>image</th>{head}</tr>"]
    for name in names[:MAX_TABLE_ROWS]:
        cells = []
        for method in result.methods:
            row = lookup.get((method.label, name))
            cells += [f"<td>{format_score(metric, row.scores.get(metric) if row else None)}"
                      "</td>" for metric in result.metrics]
        rows.append(f"<tr><td>{html.escape(name)}</td>{''.join(cells)}</tr>")
    note = (f'<p class="note">first {MAX_TABLE_ROWS} of {len(names)} images; --json or --csv '
            "give all</p>" if len(names) > MAX_TABLE_ROWS else "")
    return "<table>" + "".join(rows) + "</table>" + note


def render_html(result: EvaluateResult, panels: Sequence[ImagePanel], notes: Sequence[str],
                title: str, crop_size: int, extras: Sequence[tuple[str, str, bytes]] = ()
                ) -> str:
    """The self-contained report page. ``extras``: ``(section, caption, png bytes)``."""
    from srkit import __version__

    zoom = zoom_for(crop_size)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f'<p class="conv">{html.escape(result.conventions.describe(result.metrics))}</p>']
    parts += [f'<p class="note">{html.escape(note)}</p>' for note in notes]
    has_ref = any(c.crop_psnr and c.crop_psnr[0] is not None for p in panels for c in p.columns)
    legend = ("Crops are placed where the methods differ most; the scores under a crop are "
              "those of the whole image" + (", “crop PSNR” that of the crop alone." if has_ref
                                            else "."))
    parts += ["<h2>Mean scores</h2>", _means_table(result), "<h2>Crops</h2>",
              f'<p class="conv">{html.escape(legend)}</p>']
    parts += [_panel_html(panel, result.metrics, zoom) for panel in panels]
    parts += ["<h2>All images</h2>", _all_images_table(result)]
    for section in dict.fromkeys(s for s, _, _ in extras):
        parts.append(f"<h2>{html.escape(section)}</h2>")
        parts += [f'<figure><img alt="{html.escape(caption)}" src="{data_uri(png)}">'
                  f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                  for s, caption, png in extras if s == section]
    parts.append(f'<p class="conv">made by srkit {__version__}</p></body></html>')
    return "\n".join(parts) + "\n"


# --- PNG grid ----------------------------------------------------------------------------------

def grid_size(n_columns: int, crops_per_image: Sequence[int], cell: int, truncated: bool
              ) -> tuple[int, int]:
    """``(width, height)`` of a grid: an overview column plus ``n_columns`` of ``cell`` px."""
    width = PAD + (1 + n_columns) * (cell + PAD)
    height = HEADER_H + sum(TITLE_H + n * (cell + CAPTION_H + PAD) for n in crops_per_image)
    return width, height + (FOOTER_H if truncated else 0)


# Pillow's bundled font has no glyph for these: plain stand-ins for the grid's text
_PLAIN = str.maketrans({"×": "x", "σ": "sigma", "—": "-", "–": "-", "↑": "", "↓": ""})


def _fit(draw, text: str, width: int, typeface) -> str:
    """``text`` in the bundled font's characters, shortened with … to ``width`` pixels."""
    text = text.translate(_PLAIN)
    if draw.textlength(text, font=typeface) <= width:
        return text
    while text and draw.textlength(text + "…", font=typeface) > width:
        text = text[:-1]
    return text + "…"


def render_grid(result: EvaluateResult, panels: Sequence[ImagePanel], total: int,
                title: str, crop_size: int):
    """The crops of ``panels`` as one Pillow RGB image (size: :func:`grid_size`)."""
    from PIL import Image, ImageDraw

    zoom = zoom_for(crop_size)
    cell = crop_size * zoom
    n_columns = max(len(p.columns) for p in panels)
    truncated = len(panels) < total
    size = grid_size(n_columns, [len(p.crops) for p in panels], cell, truncated)
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    big, small = font(15), font(12)
    draw.text((PAD, 4), _fit(draw, title, size[0] - 2 * PAD, big), fill=(0, 0, 0), font=big)
    draw.text((PAD, 22), _fit(draw, result.conventions.describe(result.metrics),
                              size[0] - 2 * PAD, small), fill=(90, 90, 90), font=small)
    y = HEADER_H
    for panel in panels:
        height, width = panel.size
        draw.text((PAD, y + 6), _fit(draw, f"{panel.name}  ({width}x{height})", size[0], big),
                  fill=(0, 0, 0), font=big)
        y += TITLE_H
        for index, crop in enumerate(panel.crops):
            if index == 0:
                view = overview_image(panel, cell)
                image.paste(view, (PAD + (cell - view.width) // 2, y))
            draw.text((PAD, y + cell + 2), f"crop {index + 1}: x {crop.left}, y {crop.top}",
                      fill=_RECT_COLOURS[index % len(_RECT_COLOURS)], font=small)
            for j, column in enumerate(panel.columns):
                x = PAD + (1 + j) * (cell + PAD)
                if index < len(column.tiles):
                    tile = Image.fromarray(column.tiles[index])
                    image.paste(tile.resize((tile.width * zoom, tile.height * zoom),
                                            Image.Resampling.NEAREST), (x, y))
                else:
                    draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(235, 235, 235))
                    draw.text((x + 6, y + cell // 2 - 6),
                              _fit(draw, column.note or "missing", cell - 12, small),
                              fill=(120, 120, 120), font=small)
                lines = [column.label, score_line(column, result.metrics),
                         _crop_line(column, index)]
                for k, line in enumerate(line for line in lines if line):
                    draw.text((x, y + cell + 2 + 15 * k), _fit(draw, line, cell, small),
                              fill=(0, 0, 0) if k == 0 else (60, 60, 60), font=small)
            y += cell + CAPTION_H + PAD
    if truncated:
        draw.text((PAD, y + 4), f"showing the first {len(panels)} of {total} images "
                  "(the grid holds at most this many; see the HTML report or --json)",
                  fill=(138, 90, 0), font=small)
    return image
