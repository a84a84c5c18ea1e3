"""``srkit pool info | merge | show``: inspect, merge and draw degradation pools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from srkit.cli.app import JsonOpt, QuietOpt, output_option, pool_app, positive, setup
from srkit.console import plural

PoolArg = Annotated[Path, typer.Argument(help="Degradation pool (HDF5).", show_default=False)]
PoolsArg = Annotated[list[Path], typer.Argument(help="Pools to merge, in order of precedence.",
                                                show_default=False)]


@pool_app.command("info")
def info_cmd(pool: PoolArg, json_out: JsonOpt = False) -> None:
    """What a pool holds: kernel sizes and widths, noise levels, sources."""
    from srkit.stages.pool_tools import pool_info

    info = pool_info(pool)
    if json_out:
        import json

        from srkit.console import stdout

        stdout.print_json(json.dumps(info.to_dict()))
        return
    _print_info(info)


def _fmt(values: dict, keys: tuple[str, ...], digits: int = 2) -> str:
    return " / ".join(f"{values[k]:.{digits}f}" for k in keys) if values else "-"


def _counts(counter: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "-"


def _print_info(info) -> None:
    from rich.table import Table

    from srkit.console import stdout

    stdout.print(f"[bold]{info.path}[/bold]: srkit pool, schema {info.schema_version}, "
                 f"made by {info.creator or '?'}, {info.size_bytes / 1e6:.1f} MB",
                 highlight=False)
    if info.kernels:
        table = Table(title="kernels", title_justify="left")
        for name in ("scale", "count", "size", "σ min/med/max px", "flags",
                     "methods", "photos"):
            table.add_column(name)
        for k in info.kernels:
            table.add_row(f"x{k.scale}", str(k.count), f"{k.size}×{k.size}",
                          _fmt(k.sigma, ("min", "median", "max")), _counts(k.flags),
                          _counts(k.methods), str(k.sources))
        stdout.print(table)
    else:
        stdout.print("kernels: none")
    noise = info.noise
    if noise.count:
        stdout.print(f"noise: {noise.count} patches of {noise.patch_size}×{noise.patch_size} "
                     f"from {noise.sources} photos ({_counts(noise.methods)})", highlight=False)
        names = {"p0": "min", "p50": "median", "p100": "max"}
        levels = "  ".join(f"{names.get(k, k)} {v:.2f}" for k, v in noise.std.items())
        stdout.print(f"  per-patch std in grey levels (0-255):\n    {levels}", highlight=False)
        if noise.by_brightness:
            bands = "  ".join(f"{band}: {v['median_std']:.1f} ({v['count']})"
                              for band, v in noise.by_brightness.items())
            stdout.print(f"  median std by brightness (patches):\n    {bands}",
                         highlight=False)
        if noise.noise_level:
            level = noise.noise_level
            stdout.print(f"  camera noise level (degrade injects it): grey variance "
                         f"{level['a']:.2f} + {level['b']:.4f}·brightness", highlight=False)
        for settings in noise.settings:
            shown = ", ".join(f"{k}={v}" for k, v in settings.items() if k != "method")
            stdout.print(f"  settings: {shown}", highlight=False)
    else:
        stdout.print("noise: none")
    compression = info.compression
    if compression is not None and compression.photos:
        quality = (f"quality {_fmt(compression.quality, ('min', 'median', 'max'), 0)} "
                   "(min/median/max)" if compression.jpeg else "none")
        stdout.print(f"compression: {compression.jpeg} of {compression.photos} photos JPEG, "
                     f"{quality} ({_counts(compression.methods)})", highlight=False)
    elif compression is not None:
        stdout.print("compression: no photo recorded", highlight=False)
    for note in info.notes:
        stdout.print(f"note: {note}", style="yellow", highlight=False)
    if info.sources:
        table = Table(title=f"sources ({len(info.sources)} photos)", title_justify="left")
        for name in ("photo", "kernels", "noise patches", "JPEG", "sha256"):
            table.add_column(name)
        limit = 30
        for source in info.sources[:limit]:
            kernels = ", ".join(f"x{s}: {n}" for s, n in sorted(source.kernels.items()))
            jpeg = "-" if source.jpeg_quality is None else str(source.jpeg_quality)
            table.add_row(source.name, kernels or "-", str(source.noise), jpeg,
                          source.sha256[:12])
        stdout.print(table)
        if len(info.sources) > limit:
            stdout.print(f"... and {len(info.sources) - limit} more (all of them with --json)")


def _report(message: str) -> None:
    """One summary line on stderr, unwrapped (paths stay copyable); nothing when quiet."""
    from srkit.console import is_quiet, stderr

    if not is_quiet():
        stderr.print(message, highlight=False, soft_wrap=True)


@pool_app.command("merge")
def merge_cmd(
    pools: PoolsArg,
    output: output_option("The merged pool to write (HDF5)."),
    overwrite: Annotated[bool, typer.Option("--overwrite",
                                            help="Replace OUTPUT if it exists (it may not be "
                                            "one of the inputs).")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Merge pools into a new one, leaving out duplicate kernels and noise patches."""
    setup(quiet=quiet)
    from srkit.io.pool_merge import merge_pools

    result = merge_pools(pools, output, overwrite=overwrite)
    kernels = ", ".join(f"x{s}: {n}" for s, n in result.kernels.items()) or "none"
    _report(f"wrote {result.output}: kernels {kernels}; "
            f"{plural(result.noise, 'noise patch', 'noise patches')} (left out duplicates: "
            f"{plural(result.duplicate_kernels, 'kernel')}, "
            f"{plural(result.duplicate_noise, 'noise patch', 'noise patches')})")


@pool_app.command("show")
def show_cmd(
    pool: PoolArg,
    output: output_option("Image file to write, or a folder (a name without extension; "
                          "the sheet goes there as POOL_sheet.png)."),
    max_items: Annotated[int, typer.Option(
        "--max", min=1, help="At most this many kernels per scale and noise patches (evenly "
        "chosen).")] = 32,
    cell: Annotated[int, typer.Option("--cell", min=8, max=1024,
                                            help="Tile size in pixels.")] = 96,
    columns: Annotated[int, typer.Option("--columns", min=1, max=256,
                                               help="Tiles per row.")] = 8,
    gain: Annotated[float, typer.Option("--gain", callback=positive,
                                        help="Noise shown as 0.5 + GAIN × noise.")] = 4.0,
    overwrite: Annotated[bool, typer.Option("--overwrite",
                                            help="Replace an existing output file.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Draw a pool's kernels and noise patches as a contact sheet image."""
    setup(quiet=quiet)
    from srkit.stages.pool_tools import pool_sheet

    result = pool_sheet(pool, output, max_items=max_items, cell=cell, columns=columns,
                        noise_gain=gain, overwrite=overwrite)
    kernels = sum(result.kernels.values())
    _report(f"wrote {result.output} ({result.width}×{result.height}): "
            f"{plural(kernels, 'kernel')}, "
            f"{plural(result.noise, 'noise patch', 'noise patches')}")
