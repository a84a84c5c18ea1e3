"""Visual reports of an evaluation: ``srkit evaluate ... --report r.html --grid g.png``.

For each image the same zoomed crops are shown side by side — the LR input enlarged with
nearest neighbours and its bicubic upscaling (with ``lr_images``), every method, the reference —
with their scores under them. The crops are chosen where the methods differ most
(:func:`srkit.ops.crops.select_crops`); a small view of the whole image shows where they are.

* ``html``: one self-contained page (images as base64 PNG ``data:`` URIs, inline CSS, no
  script) with the conventions, the mean and per-image score tables, the crops, and extra
  PNGs (``attach``: e.g. ``srkit pool show`` sheets) and training curves (``training_logs``).
  Crops are embedded at their own resolution and enlarged by the browser without smoothing,
  which keeps the file small; at most ``max_images`` images are shown.
* ``grid``: the crops of at most ``grid_max_images`` images as one PNG montage.

When there are more images, the first ones in name order are shown and both outputs say so.
Both files are written atomically. The drawing is in :mod:`srkit.stages.report_render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError
from srkit.ops.crops import Crop, select_crops
from srkit.stages.evaluate import EvaluateResult, ImageScores, by_stem
from srkit.stages.report_render import OVERVIEW_SIZE, Column, ImagePanel

GRID_MAX_IMAGES = 12
MAX_CROPS = 3
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ReportResult:
    """What was written: the paths, the images shown (of how many) and their crops."""

    html: Path | None
    grid: Path | None
    html_images: list[str]          # names shown in the HTML
    grid_images: list[str]          # names shown in the grid
    total_images: int
    crops: dict[str, list[Crop]]


def check_report_options(html: str | Path | None = None, grid: str | Path | None = None, *,
                         lr_images: str | Path | None = None, crop_size: int = 96, crops: int = 2,
                         max_images: int = 24, attach: Sequence[str | Path] = (),
                         training_logs: Sequence[str | Path] = ()) -> None:
    """Raise :class:`SrkitError` for unusable report options, before any work is done."""
    from srkit.stages.curves import read_training_log

    if html is not None and Path(html).suffix.lower() not in (".html", ".htm"):
        raise SrkitError(f"{html}: the report is an HTML page; name it *.html")
    if grid is not None and Path(grid).suffix.lower() != ".png":
        raise SrkitError(f"{grid}: the grid is a PNG image; name it *.png")
    for path in (html, grid):
        if path is not None and Path(path).is_dir():
            raise SrkitError(f"{path}: is a folder; give a file name")
    if (attach or training_logs) and html is None:
        raise SrkitError("--attach and --training-log go into the HTML report: add "
                         "--report FILE.html")
    if lr_images is not None and html is None and grid is None:
        raise SrkitError("--lr is only shown in visual reports: add --report or --grid")
    if crop_size < 16:
        raise SrkitError(f"the crop size must be at least 16 pixels, got {crop_size}")
    if not 1 <= crops <= MAX_CROPS:
        raise SrkitError(f"crops per image must be 1 to {MAX_CROPS}, got {crops}")
    if max_images < 1:
        raise SrkitError(f"the report must show at least 1 image, got {max_images}")
    if lr_images is not None and not Path(lr_images).exists():
        raise SrkitError(f"{lr_images}: no such LR file or folder")
    for path in map(Path, attach):
        if not path.is_file():
            raise SrkitError(f"{path}: no such file to attach")
        with open(path, "rb") as handle:
            if handle.read(8) != _PNG_SIGNATURE:
                raise SrkitError(f"{path}: not a PNG image (--attach takes PNG files)")
    for path in training_logs:
        read_training_log(path)


def write_report(result: EvaluateResult, html: str | Path | None = None,
                 grid: str | Path | None = None, *, lr_images: str | Path | None = None,
                 scale: int | None = None, crop_size: int = 96, crops: int = 2,
                 max_images: int = 24, grid_max_images: int = GRID_MAX_IMAGES,
                 attach: Sequence[str | Path] = (), training_logs: Sequence[str | Path] = (),
                 title: str = "srkit evaluate") -> ReportResult:
    """Write the HTML report and/or the PNG grid of an :func:`~srkit.stages.evaluate.evaluate`
    result (see the module doc).

    Args:
        result: scores and image paths, one method per SR folder.
        html, grid: output paths (``*.html``, ``*.png``); at least one.
        lr_images: folder (or file) of the LR inputs, matched to the images by file stem: adds an
            LR column (nearest-neighbour enlarged) and a bicubic one
            (:func:`srkit.ops.resize.imresize`, scored like the methods).
        scale: the SR factor of ``lr_images`` (default: SR width / LR width, rounded).
        crop_size: crop side in SR pixels; shown enlarged by an integer factor to ~192 px.
        crops: crops per image, 1 to 3, non-overlapping, where the methods differ most.
        max_images, grid_max_images: images shown in the HTML and in the grid (the first
            ones in name order).
        attach: PNG files embedded in the HTML, captioned with their file names.
        training_logs: training CSVs (``MODEL.train.csv``) drawn as curves into the HTML.
    Returns:
        :class:`ReportResult`. Raises :class:`SrkitError` for unusable options.
    """
    from srkit.console import track, warn
    from srkit.io.images import list_images

    if html is None and grid is None:
        raise SrkitError("give an HTML report path, a grid path or both")
    check_report_options(html, grid, lr_images=lr_images, crop_size=crop_size, crops=crops,
                         max_images=max_images, attach=attach, training_logs=training_logs)
    groups = image_groups(result)
    if not groups:
        raise SrkitError("no scored image to show in the report")
    html_count = min(len(groups), max_images) if html is not None else 0
    grid_count = min(len(groups), grid_max_images) if grid is not None else 0
    lr_paths = by_stem(list_images(lr_images), "LR images") if lr_images is not None else None
    has_ref = any(row.ref_path is not None for _, rows in groups for row in rows.values())
    panels, no_lr = [], []
    for name, rows in track(groups[:max(html_count, grid_count)], "report", unit="img"):
        lr_path = lr_paths.get(name) if lr_paths is not None else None
        if lr_paths is not None and lr_path is None:
            no_lr.append(name)
        panels.append(_panel(name, rows, result, has_ref, lr_paths is not None, lr_path,
                             scale, crop_size, crops))
    if no_lr:
        more = " …" if len(no_lr) > 5 else ""
        warn(f"{len(no_lr)} image(s) without an LR image of the same name in {lr_images}: "
             f"{', '.join(no_lr[:5])}{more}")
    html_path = grid_path = None
    if html is not None:
        html_path = _write_html(Path(html), result, panels[:html_count], len(groups), title,
                                crop_size, attach, training_logs)
    if grid is not None:
        grid_path = _write_grid(Path(grid), result, panels[:grid_count], len(groups), title,
                                crop_size)
    return ReportResult(html_path, grid_path, [p.name for p in panels[:html_count]],
                        [p.name for p in panels[:grid_count]], len(groups),
                        {p.name: p.crops for p in panels})


def _write_html(path: Path, result: EvaluateResult, panels: list[ImagePanel], total: int,
                title: str, crop_size: int, attach: Sequence[str | Path],
                training_logs: Sequence[str | Path]) -> Path:
    from srkit.io.atomic import atomic_path
    from srkit.stages.curves import render_training_log
    from srkit.stages.report_render import png_bytes, render_html

    extras = [("Attached images", Path(p).name, Path(p).read_bytes()) for p in attach]
    extras += [("Training curves", Path(p).name, png_bytes(render_training_log(p)))
               for p in training_logs]
    notes = _notes(result, len(panels), total, "--report-max-images")
    page = render_html(result, panels, notes, title, crop_size, extras)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _write_grid(path: Path, result: EvaluateResult, panels: list[ImagePanel], total: int,
                title: str, crop_size: int) -> Path:
    from srkit.io.atomic import atomic_path
    from srkit.stages.report_render import render_grid

    image = render_grid(result, panels, total, title, crop_size)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def _notes(result: EvaluateResult, shown: int, total: int, option: str) -> list[str]:
    notes = []
    if shown < total:
        notes.append(f"showing the first {shown} of {total} images in name order ({option}); "
                     "the table at the end lists all of them")
    for method in result.methods:
        if method.unmatched:
            notes.append(f"{method.label}: {len(method.unmatched)} SR image(s) without a "
                         "reference left out")
    if result.skipped:
        notes.append(f"{len(result.skipped)} unreadable file(s) skipped")
    return notes


# --- gathering one image's versions --------------------------------------------------------

def image_groups(result: EvaluateResult) -> list[tuple[str, dict[str, ImageScores]]]:
    """``(name, {method label: scores row})`` per reference image (per SR name without a
    reference), sorted by name."""
    groups: dict[str, tuple[str, dict[str, ImageScores]]] = {}
    for method in result.methods:
        for row in method.images:
            key = str(row.ref_path) if row.ref_path is not None else row.name
            name = row.ref_path.stem if row.ref_path is not None else row.name
            groups.setdefault(key, (name, {}))[1][method.label] = row
    return sorted(groups.values(), key=lambda item: item[0])


def _read(path: Path) -> np.ndarray | None:
    from srkit.console import warn
    from srkit.io.images import read_image

    try:
        return read_image(path).rgb
    except SrkitError as error:
        warn(f"report: {error}")
        return None


def _aligned(name: str, rows: dict[str, ImageScores], scale: int | None
             ) -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray]:
    """The readable SR versions and the reference, cut to their common top-left region
    (as evaluate does); versions off by the scale or more are left out with a warning."""
    from srkit.console import warn

    ref_path = next((row.ref_path for row in rows.values() if row.ref_path), None)
    reference = _read(ref_path) if ref_path is not None else None
    sr = {label: _read(row.sr_path) for label, row in rows.items()}
    sr = {label: image for label, image in sr.items() if image is not None}
    base = reference if reference is not None else next(iter(sr.values()), None)
    if base is None:
        raise SrkitError(f"{name}: none of its images could be read for the report")
    for label in list(sr):
        image = sr[label]
        if max(abs(image.shape[0] - base.shape[0]), abs(image.shape[1] - base.shape[1])) \
                >= max(scale or 1, 1):
            warn(f"report: {rows[label].sr_path} is {image.shape[1]}×{image.shape[0]}, not "
                 f"the size of the others ({base.shape[1]}×{base.shape[0]}); left out")
            del sr[label]
    height = min([base.shape[0], *(image.shape[0] for image in sr.values())])
    width = min([base.shape[1], *(image.shape[1] for image in sr.values())])
    sr = {label: image[:height, :width] for label, image in sr.items()}
    if reference is not None:
        reference = reference[:height, :width]
    return sr, reference, base[:height, :width]


def _panel(name: str, rows: dict[str, ImageScores], result: EvaluateResult, has_ref: bool,
           with_lr: bool, lr_path: Path | None, scale: int | None, crop_size: int,
           count: int) -> ImagePanel:
    """Read one image's versions, choose its crops and cut the tiles of every column."""
    sr, reference, base = _aligned(name, rows, scale)
    size = base.shape[:2]
    lr_img = bicubic = None
    lr_column, bicubic_column = Column("LR", "lr"), Column("LR bicubic", "bicubic")
    if with_lr:
        lr_img, bicubic = _lr_versions(lr_path, size, scale, lr_column, bicubic_column)
        if bicubic is not None and reference is not None:
            bicubic_column.scores = _full_reference_scores(bicubic, reference, result)
    candidates = list(sr.values())
    if bicubic is not None and len(candidates) < 2:
        candidates.append(bicubic)  # one method: show where it departs from interpolation
    chosen = select_crops(candidates or [base], reference, crop_size, count)

    columns = [lr_column, bicubic_column] if with_lr else []
    if lr_img is not None:
        lr_column.tiles = [_nearest_tile(*lr_img, crop) for crop in chosen]
    y_channel = result.conventions.channel == "Y"
    if bicubic is not None:
        _cut(bicubic_column, bicubic, chosen, reference, y_channel)
    for method in result.methods:
        row = rows.get(method.label)
        column = Column(method.label, "method", dict(row.scores) if row else {})
        if method.label in sr:
            _cut(column, sr[method.label], chosen, reference, y_channel)
        else:
            column.note = "not scored" if row is None else "unreadable"
        columns.append(column)
    if has_ref:
        column = Column("reference", "reference", note="no reference")
        if reference is not None:
            _cut(column, reference, chosen, None)
        columns.append(column)
    return ImagePanel(name, size, chosen, columns, _overview(base))


def _lr_versions(lr_path: Path | None, size: tuple[int, int], scale: int | None,
                 lr_column: Column, bicubic_column: Column
                 ) -> tuple[tuple[np.ndarray, int] | None, np.ndarray | None]:
    """``((lr_img, factor), bicubic)``: the LR image and its bicubic upscaling to ``size``, or
    Nones with a note on the columns when there is no usable LR image."""
    from srkit.console import warn
    from srkit.ops.resize import imresize

    height, width = size
    lr_img = _read(lr_path) if lr_path is not None else None
    if lr_img is None:
        lr_column.note = bicubic_column.note = "no LR image" if lr_path is None \
            else "LR unreadable"
        return None, None
    factor = scale or max(1, round(width / lr_img.shape[1]))
    if max(abs(lr_img.shape[0] * factor - height), abs(lr_img.shape[1] * factor - width)) \
            >= factor:
        warn(f"report: {lr_path} ({lr_img.shape[1]}×{lr_img.shape[0]}) ×{factor} does not "
             f"match the SR size {width}×{height}; LR left out")
        lr_column.note = bicubic_column.note = f"LR is not SR/{factor}"
        return None, None
    lr_column.label, bicubic_column.label = f"LR nearest ×{factor}", f"LR bicubic ×{factor}"
    upscaled = np.clip(imresize(lr_img, scale=factor), 0.0, 1.0)
    pad = ((0, max(0, height - upscaled.shape[0])), (0, max(0, width - upscaled.shape[1])),
           (0, 0))
    return (lr_img, factor), np.pad(upscaled, pad, mode="edge")[:height, :width]


def _full_reference_scores(image: np.ndarray, reference: np.ndarray, result: EvaluateResult
                           ) -> dict[str, float | None]:
    """PSNR / SSIM (those of ``result.metrics``) with the evaluation's conventions."""
    from srkit.metrics import psnr, ssim

    border, y_channel = result.conventions.border, result.conventions.channel == "Y"
    scores: dict[str, float | None] = {}
    for metric, function in (("psnr", psnr), ("ssim", ssim)):
        if metric in result.metrics:
            try:
                scores[metric] = function(image, reference, border=border, y_channel=y_channel)
            except ValueError:
                scores[metric] = None
    return scores


def _nearest_tile(lr_img: np.ndarray, factor: int, crop: Crop) -> np.ndarray:
    """The LR pixels under ``crop`` (SR coordinates), each repeated ``factor`` times."""
    rows = np.minimum(np.arange(crop.top, crop.top + crop.size) // factor, lr_img.shape[0] - 1)
    cols = np.minimum(np.arange(crop.left, crop.left + crop.size) // factor, lr_img.shape[1] - 1)
    return _uint8(lr_img[rows][:, cols])


def _cut(column: Column, image: np.ndarray, crops: list[Crop], reference: np.ndarray | None,
         y_channel: bool = True) -> None:
    """Cut ``column``'s tiles and their PSNR to the reference's (no border)."""
    from srkit.metrics import psnr

    column.tiles = [_uint8(crop.take(image)) for crop in crops]
    column.crop_psnr = [psnr(crop.take(image), crop.take(reference), border=0,
                             y_channel=y_channel)
                        if reference is not None else None for crop in crops]


def _uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def _overview(image: np.ndarray) -> np.ndarray:
    """``image`` shrunk (box filter) so that its longer side is at most OVERVIEW_SIZE."""
    from PIL import Image

    height, width = image.shape[:2]
    factor = min(1.0, OVERVIEW_SIZE / max(height, width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(_uint8(image)).resize(size, Image.Resampling.BOX))
