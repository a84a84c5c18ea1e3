"""Training curves: a PNG of a ``train-sr`` / ``train-dsn`` CSV log, drawn with Pillow.

Panels, left to right: the loss columns (``loss_*``, log scale when all are positive),
validation PSNR-Y (``val_psnr_y``, when the log has that column) and the discriminator's mean
probabilities ``d_real`` / ``d_fake`` (when logged). Long logs are averaged into at most
:data:`MAX_POINTS` bins per curve so that drawing stays cheap. ``train-sr`` and ``train-dsn``
call :func:`update_curves` at every save, writing ``MODEL.curves.png`` beside
``MODEL.train.csv``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError

MAX_POINTS = 600
PANEL_SIZE = (480, 320)
_MARGIN, _HEADER = 56, 24


@dataclass(frozen=True)
class TrainingLog:
    """The numeric content of a training CSV: one value (or None) per row and column."""

    path: Path
    columns: tuple[str, ...]
    iterations: list[int]
    values: dict[str, list[float | None]]

    def series(self, column: str) -> list[float | None]:
        return self.values.get(column, [None] * len(self.iterations))

    def has_values(self, column: str) -> bool:
        return any(v is not None for v in self.series(column))


def curves_path(csv_path: str | Path) -> Path:
    """``model.train.csv`` → ``model.curves.png`` (any other ``x.csv`` → ``x.curves.png``)."""
    csv_path = Path(csv_path)
    name = csv_path.name
    stem = name[:-len(".train.csv")] if name.endswith(".train.csv") else csv_path.stem
    return csv_path.with_name(f"{stem}.curves.png")


def _number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_training_log(csv_path: str | Path) -> TrainingLog:
    """Parse a training CSV (``iteration`` plus numeric columns; empty cells are None)."""
    path = Path(csv_path)
    if not path.is_file():
        raise SrkitError(f"{path}: no such training log")
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            columns = tuple(reader.fieldnames or ())
            if "iteration" not in columns:
                raise SrkitError(f"{path}: not a training log (no 'iteration' column)")
            rows = [row for row in reader if (row.get("iteration") or "").strip().isdigit()]
    except (UnicodeDecodeError, csv.Error) as error:
        raise SrkitError(f"{path}: not a readable CSV ({error})") from None
    if not rows:
        raise SrkitError(f"{path}: the training log has no rows yet")
    iterations = [int(row["iteration"]) for row in rows]
    values = {column: [_number(row.get(column)) for row in rows]
              for column in columns if column != "iteration"}
    return TrainingLog(path, columns, iterations, values)


def _binned(xs: list[int], ys: list[float | None], max_points: int = MAX_POINTS
            ) -> tuple[list[float], list[float | None]]:
    """Means over consecutive bins, so a curve has at most ``max_points`` points."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    if len(pairs) <= max_points:
        return [float(x) for x, _ in pairs], [y for _, y in pairs]
    array = np.asarray(pairs, dtype=np.float64)
    bins = np.array_split(array, max_points)
    return [float(b[:, 0].mean()) for b in bins], [float(b[:, 1].mean()) for b in bins]


def render_training_log(log: TrainingLog | str | Path, title: str | None = None):
    """The curves of ``log`` as a ``PIL.Image.Image`` (RGB); see the module doc."""
    from PIL import Image, ImageDraw

    from srkit.ops.plot import COLOURS, draw_panel, log_range, nice_range

    if not isinstance(log, TrainingLog):
        log = read_training_log(log)
    xs = log.iterations
    xrange = (0.0, float(max(max(xs), 1)))
    losses = [c for c in log.columns if c.startswith("loss_") and log.has_values(c)]
    probabilities = [c for c in ("d_real", "d_fake") if log.has_values(c)]
    panels = ["losses"] + (["val"] if "val_psnr_y" in log.columns else []) \
        + (["d"] if probabilities else [])
    width, height = PANEL_SIZE
    image = Image.new("RGB", (width * len(panels), height + _HEADER), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    heading = title if title is not None else log.path.name
    draw.text((8, 6), f"{heading}: {len(xs)} rows, iterations {min(xs)}-{max(xs)}",
              fill=(0, 0, 0))
    options = {"size": PANEL_SIZE, "margin": _MARGIN}
    for index, panel in enumerate(panels):
        origin = (index * width, _HEADER)
        if panel == "losses":
            curves = [(*_binned(xs, log.series(c)), COLOURS[i % len(COLOURS)])
                      for i, c in enumerate(losses)]
            values = [y for _, ys, _ in curves for y in ys if y is not None]
            log_y = bool(values) and min(values) > 0
            yrange = log_range(values) if log_y else nice_range(values or [0.0, 1.0])
            draw_panel(draw, origin, "training losses (interval means)", "iteration",
                       "loss (log scale)" if log_y else "loss", xrange, yrange, curves,
                       log_y=log_y, markers=False, **options,
                       legend=[(c.removeprefix("loss_"), curve[2])
                               for c, curve in zip(losses, curves, strict=True)])
        elif panel == "val":
            px, py = _binned(xs, log.series("val_psnr_y"))
            values = [y for y in py if y is not None]
            title_text = "validation PSNR-Y" if values else "validation PSNR-Y (none: no --val)"
            draw_panel(draw, origin, title_text, "iteration", "dB", xrange,
                       nice_range(values or [0.0, 1.0]), [(px, py, COLOURS[2])], **options)
        else:
            curves = [(*_binned(xs, log.series(c)), COLOURS[i + 1])
                      for i, c in enumerate(probabilities)]
            draw_panel(draw, origin, "discriminator: mean P(real)", "iteration",
                       "probability", xrange, (0.0, 1.0), curves, markers=False, **options,
                       legend=[(c, curve[2]) for c, curve in zip(probabilities, curves,
                                                                 strict=True)])
    return image


def plot_training_log(csv_path: str | Path, png_path: str | Path | None = None) -> Path:
    """Draw the curves of a training CSV into ``png_path`` (default :func:`curves_path`),
    written atomically. Raises :class:`SrkitError` for a missing, foreign or empty log."""
    from srkit.io.atomic import atomic_path

    png_path = Path(png_path) if png_path is not None else curves_path(csv_path)
    if png_path.suffix.lower() != ".png":
        raise SrkitError(f"{png_path}: the curves are a PNG image; name it *.png")
    image = render_training_log(csv_path)
    with atomic_path(png_path) as tmp:
        image.save(tmp, format="PNG")
    return png_path


def update_curves(csv_path: str | Path) -> Path | None:
    """For training loops: redraw ``curves_path(csv_path)``; never raises. A log without rows
    yet is skipped silently, any other failure is a warning (training goes on)."""
    try:
        if not _has_rows(Path(csv_path)):
            return None
        return plot_training_log(csv_path)
    except Exception as error:  # noqa: BLE001 - a plot must never stop a training run
        from srkit.console import warn

        warn(f"{curves_path(csv_path)}: training curves not drawn ({error})")
        return None


def _has_rows(path: Path) -> bool:
    with open(path, newline="") as handle:
        handle.readline()
        return bool(handle.readline().strip())
