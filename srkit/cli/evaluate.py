"""``srkit evaluate``: PSNR / SSIM / NIQE / LPIPS of SR images, per image and on average."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from srkit.cli.app import (
    MAX_SCALE,
    CsvOpt,
    DeviceOpt,
    Inputs,
    JsonOpt,
    MaxPixelsOpt,
    QuietOpt,
    StrictOpt,
    app,
    setup,
)

RefOpt = Annotated[Path | None, typer.Option(
    "--ref", help="Folder (or file) of reference HR images, matched to SR images by file "
    "stem. Without it only no-reference metrics (NIQE) are computed.", show_default=False)]
EvalScaleOpt = Annotated[int | None, typer.Option(
    "-x", "--scale", min=1, max=MAX_SCALE,
    help="SR factor: crops that many border pixels (unless --border) and lets SR and "
    "reference sizes differ by less than it.", show_default=False)]
BorderOpt = Annotated[int | None, typer.Option(
    "--border", min=0, help="Pixels removed on each side before every metric "
    "(default: the scale, else 0).", show_default=False)]
RgbOpt = Annotated[bool, typer.Option(
    "--rgb", help="PSNR/SSIM on RGB instead of the Y channel of BT.601 YCbCr.")]
MetricsOpt = Annotated[str | None, typer.Option(
    "--metrics", help="Comma-separated subset of psnr,ssim,niqe,lpips "
    "(default: psnr,ssim,niqe, plus lpips with --lpips-weights; niqe alone without --ref).",
    show_default=False)]
LpipsOpt = Annotated[Path | None, typer.Option(
    "--lpips-weights", help="LPIPS v0.1 AlexNet linear layers (the LPIPS project's alex.pth).",
    show_default=False)]
AlexOpt = Annotated[Path | None, typer.Option(
    "--alexnet-weights", help="torchvision AlexNet weights (alexnet-owt-7be5be79.pth) "
    "(default: the torch hub cache, $TORCH_HOME/hub/checkpoints/).", show_default=False)]
ReportOpt = Annotated[Path | None, typer.Option(
    "--report", help="Write a self-contained HTML report: scores, and per image zoomed crops "
    "of every method side by side where they differ most.", show_default=False)]
GridOpt = Annotated[Path | None, typer.Option(
    "--grid", help="Write the crops as one PNG montage (at most 12 images).",
    show_default=False)]
LrOpt = Annotated[Path | None, typer.Option(
    "--lr", help="Folder (or file) of the LR inputs, matched by file stem: adds LR (nearest "
    "neighbour) and bicubic columns to --report/--grid.", show_default=False)]
CropSizeOpt = Annotated[int, typer.Option(
    "--crop-size", min=16, help="Crop side in SR pixels for --report/--grid (shown enlarged "
    "to about 192 px).")]
CropsOpt = Annotated[int, typer.Option(
    "--crops", min=1, max=3, help="Crops per image for --report/--grid.")]
ReportMaxOpt = Annotated[int, typer.Option(
    "--report-max-images", min=1, help="Images shown in the HTML report (the first in name "
    "order; the score table lists all).")]
AttachOpt = Annotated[list[Path] | None, typer.Option(
    "--attach", help="PNG to embed in the HTML report, e.g. `srkit pool show` output "
    "(repeatable).", show_default=False)]
OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", help="Replace existing --report/--grid files (never an input image).")]
TrainingLogOpt = Annotated[list[Path] | None, typer.Option(
    "--training-log", help="Training CSV (MODEL.train.csv) drawn as curves into the HTML "
    "report (repeatable).", show_default=False)]

_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.4f}", "niqe": "{:.3f}", "lpips": "{:.4f}"}
_TITLES = {"psnr": "PSNR↑", "ssim": "SSIM↑", "niqe": "NIQE↓", "lpips": "LPIPS↓"}


@app.command("evaluate")
def evaluate_cmd(
    inputs: Inputs,
    ref: RefOpt = None,
    scale: EvalScaleOpt = None,
    border: BorderOpt = None,
    rgb: RgbOpt = False,
    metrics: MetricsOpt = None,
    lpips_weights: LpipsOpt = None,
    alexnet_weights: AlexOpt = None,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
    strict: StrictOpt = False,
    report: ReportOpt = None,
    grid: GridOpt = None,
    lr_images: LrOpt = None,
    crop_size: CropSizeOpt = 96,
    crops: CropsOpt = 2,
    report_max_images: ReportMaxOpt = 24,
    attach: AttachOpt = None,
    training_log: TrainingLogOpt = None,
    overwrite: OverwriteOpt = False,
    max_pixels: MaxPixelsOpt = 200_000_000,
    quiet: QuietOpt = False,
) -> None:
    """Score SR images against references (PSNR, SSIM, LPIPS) or without them (NIQE).

    Each folder is one method: `srkit evaluate sr_a/ sr_b/ --ref hr/ -x 4` compares two
    side by side. Prints a table with the conventions used; --json / --csv for scripts;
    --report / --grid draw zoomed crops of every method where they differ most.
    """
    if json_out and csv_out:
        raise typer.BadParameter("choose one of --json and --csv")
    setup(quiet=quiet, max_pixels=max_pixels)
    from srkit.stages.evaluate import evaluate

    visual = report is not None or grid is not None
    if visual or lr_images is not None or attach or training_log:
        from srkit.stages.report import check_report_options

        check_report_options(report, grid, lr_images=lr_images, crop_size=crop_size, crops=crops,
                             max_images=report_max_images, attach=attach or (),
                             training_logs=training_log or ())
        from srkit.io.images import check_output

        sources = [*inputs, *(p for p in (ref, lr_images) if p is not None), *(attach or [])]
        for path in (report, grid):
            if path is not None:
                check_output(path, overwrite=overwrite, inputs=sources)

    result = evaluate(inputs, ref, scale=scale, border=border, y_channel=not rgb,
                      metrics=metrics.split(",") if metrics is not None else None,
                      lpips_weights=lpips_weights, alexnet_weights=alexnet_weights,
                      device=device, strict=strict)
    if json_out:
        import json

        typer.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    elif csv_out:
        _print_csv(result)
    else:
        _print_table(result)
    if not quiet:
        _print_notes(result)
    if visual:
        _write_report(result, report, grid, lr_images, scale, crop_size, crops, report_max_images,
                      attach or [], training_log or [])


def _write_report(result, report, grid, lr_images, scale, crop_size, crops, max_images, attach,
                  training_logs) -> None:
    from srkit.console import info, plural
    from srkit.stages.report import write_report

    written = write_report(result, report, grid, lr_images=lr_images, scale=scale,
                           crop_size=crop_size, crops=crops, max_images=max_images,
                           attach=attach, training_logs=training_logs)
    total = written.total_images
    if written.html is not None:
        info(f"wrote {written.html}: {len(written.html_images)} of {plural(total, 'image')}")
    if written.grid is not None:
        info(f"wrote {written.grid}: {len(written.grid_images)} of {plural(total, 'image')}")


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if value == float("inf"):
        return "inf"
    return _FORMATS[metric].format(value)


def _print_csv(result) -> None:
    import csv
    import sys

    rows = result.to_rows()
    fields = ["method", "image", "sr", "ref", *result.metrics, "channel", "border"]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if row[key] is None else row[key]) for key in fields})


def _print_table(result) -> None:
    from rich.table import Table

    from srkit.console import stdout

    several = len(result.methods) > 1
    names = list(dict.fromkeys(row.name for m in result.methods for row in m.images))
    table = Table(show_header=True, header_style="bold", show_lines=False)
    table.add_column("image", overflow="fold",
                     min_width=min(32, max([len(n) for n in names] + [len("mean (99)")])))
    for method in result.methods:
        for metric in result.metrics:
            title = f"{method.label}\n{_TITLES[metric]}" if several else _TITLES[metric]
            table.add_column(title, justify="right")
    lookup = {(m.label, row.name): row for m in result.methods for row in m.images}
    for name in names:
        cells = [name]
        for method in result.methods:
            row = lookup.get((method.label, name))
            cells += [_fmt(metric, row.scores.get(metric)) if row else "—"
                      for metric in result.metrics]
        table.add_row(*cells)
    table.add_section()
    counts = [str(len(m.images)) for m in result.methods]
    mean_cells = [f"mean ({'/'.join(dict.fromkeys(counts))})"]  # images per method
    for method in result.methods:
        mean_cells += [_fmt(metric, method.mean(metric)) for metric in result.metrics]
    table.add_row(*mean_cells, style="bold")
    stdout.print(result.conventions.describe(result.metrics), highlight=False, soft_wrap=True)
    stdout.print(table)


def _print_notes(result) -> None:
    from srkit.console import info, plural

    for method in result.methods:
        cropped = sum(row.cropped_to is not None for row in method.images)
        notes = []
        if method.unmatched:
            notes.append(f"{len(method.unmatched)} without reference (left out)")
        if method.missing:
            notes.append(f"{plural(len(method.missing), 'reference image')} without SR "
                         "image")
        if cropped:
            notes.append(f"{cropped} cropped to the common size of SR and reference")
        if notes:
            info(f"{method.label}: " + "; ".join(notes))
    if result.skipped:
        info(f"skipped {plural(len(result.skipped), 'unreadable file')}")
