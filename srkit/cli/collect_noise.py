"""``srkit collect-noise``: a camera's noise patches from its photos into a pool (RealSR)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from srkit.cli.app import (
    Inputs,
    JsonOpt,
    MaxPixelsOpt,
    PoolOpt,
    QuietOpt,
    StrictOpt,
    app,
    must,
    positive,
    setup,
)

RuleOpt = Annotated[str, typer.Option("--rule", help="adaptive: flat against the camera's own "
                                      "fitted noise level; realsr: RealSR's fixed variance "
                                      "threshold (--max-variance).")]
WindowOpt = Annotated[Optional[int], typer.Option(  # noqa: UP045 (Typer needs Optional)
    "--window", min=2, show_default=False,
    help="Patch side in pixels [adaptive: 32, realsr: 256]. One pool holds one patch size.")]
StrideOpt = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--stride", min=1, show_default=False,
    help="Step between windows in pixels [adaptive: 16, realsr: 256].")]
MaxVarOpt = Annotated[float, typer.Option(
    "--max-variance", callback=positive,
    help="realsr rule: keep windows whose grey-level variance (0-255 scale) is below this.")]
RatioOpt = Annotated[float, typer.Option(
    "--ratio", callback=must(lambda r: 1 <= r < float("inf"), "must be at least 1"),
    help="adaptive rule: keep windows whose variance is at most this x the camera's noise "
    "variance at their brightness.")]
MinMeanOpt = Annotated[float, typer.Option(
    "--min-mean", callback=must(lambda m: 0 <= m < 255, "must lie in [0, 255) (grey levels)"),
    help="...and whose grey-level mean (0-255) is above this; 50 suits dark phone photos.")]
RedoOpt = Annotated[bool, typer.Option("--redo", help="Re-collect photos already in the pool, "
                                       "replacing their old patches.")]
RecursiveOpt = Annotated[bool, typer.Option("-r", "--recursive",
                                            help="Look for images in sub-folders too.")]


@app.command("collect-noise")
def collect_noise_cmd(
    inputs: Inputs,
    pool: PoolOpt,
    rule: RuleOpt = "adaptive",
    window: WindowOpt = None,
    stride: StrideOpt = None,
    max_variance: MaxVarOpt = 20.0,
    ratio: RatioOpt = 1.5,
    min_mean: MinMeanOpt = 0.0,
    redo: RedoOpt = False,
    recursive: RecursiveOpt = False,
    strict: StrictOpt = False,
    max_pixels: MaxPixelsOpt = 200_000_000,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Collect noise patches (windows that hold noise alone) from a camera's photos into a pool.

    The adaptive rule fits the camera's noise level against brightness to all the photos and
    keeps windows that noise explains, at every brightness; --rule realsr keeps windows with
    grey variance < --max-variance. Both keep only windows with mean > --min-mean.

    Photos already in the pool (same content) are skipped; --redo replaces their patches.
    """
    setup(quiet=quiet, max_pixels=max_pixels)
    from srkit.stages.collect_noise import collect_noise

    result = collect_noise(inputs, pool, rule=rule, window=window, stride=stride,
                           max_variance=max_variance, ratio=ratio, min_mean=min_mean,
                           redo=redo, strict=strict, recursive=recursive)
    if json_out:
        import json

        from srkit.console import stdout

        stdout.print_json(json.dumps({
            "pool": str(result.pool), "settings": result.settings, "added": result.added,
            "noise_level": (result.noise_level.to_dict()
                            if result.noise_level is not None else None),
            "advice": result.advice or None,
            "removed": result.removed, "pool_patches": result.pool_patches,
            "photos": [{"path": str(p.path), "status": p.status, "sha256": p.sha256,
                        "windows": p.windows, "kept": p.kept,
                        "rejected_variance": p.rejected_variance,
                        "rejected_mean": p.rejected_mean, "rejected_alpha": p.rejected_alpha,
                        "reason": p.reason} for p in result.photos]}))
    if not quiet:
        _print_summary(result)
    if result.photos and all(p.status == "unreadable" for p in result.photos):
        from srkit.io.images import nothing_readable

        raise nothing_readable([f"{p.path}: {p.reason}" for p in result.photos])


def _print_summary(result) -> None:
    from rich.table import Table

    from srkit.console import stderr

    table = Table(title="noise patches per photo (rejected: too varied, too dark, transparent)",
                  title_justify="left")
    with_alpha = any(p.rejected_alpha for p in result.photos)
    with_note = any(p.reason for p in result.photos)
    columns = ["photo", "status", "windows", "kept", "varied", "dark"]
    columns += ["transparent"] if with_alpha else []
    columns += ["note"] if with_note else []
    for name in columns:
        table.add_column(name, justify="left" if name in ("photo", "status", "note") else "right",
                         overflow="fold")
    for p in result.photos:
        counts = [p.windows, p.kept, p.rejected_variance, p.rejected_mean]
        counts += [p.rejected_alpha] if with_alpha else []
        cells = [str(v) if p.status == "collected" else "" for v in counts]
        cells += [p.reason] if with_note else []
        style = {"unreadable": "red", "too-small": "yellow"}.get(p.status)
        table.add_row(p.path.name, p.status, *cells, style=style)
    stderr.print(table)
    summary = (f"added {result.added} patches to {result.pool} "
               f"(now {result.pool_patches}; {result.windows} windows scanned)")
    if result.removed:
        summary += f", replaced {result.removed} old patches"
    for status in ("known", "duplicate", "too-small", "unreadable"):
        if result.count(status):
            summary += f"; {result.count(status)} {status}"
    stderr.print(summary, highlight=False, soft_wrap=True)
    level = result.noise_level
    if level is not None:
        sigmas = ", ".join(f"{float(level.sigma(m)):.1f}" for m in (32, 128, 224))
        stderr.print(f"camera noise level: σ {sigmas} grey levels at brightness 32, 128, 224 "
                     f"(fitted to {level.windows} windows)", highlight=False, soft_wrap=True)
    if result.advice:
        stderr.print(result.advice, style="yellow", highlight=False, soft_wrap=True)
