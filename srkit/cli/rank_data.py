"""``srkit rank-data``: SR crops of several methods, scored and ranked by NIQE (RankSRGAN)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from srkit.cli.app import (
    MAX_SCALE,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    SeedOpt,
    StrictOpt,
    app,
    output_option,
    setup,
)


@app.command("rank-data")
def rank_data_cmd(
    inputs: Annotated[Path, typer.Argument(help="HR photos (downscaled by bicubic to make "
                                           "the LR), or a pair folder (hr/, lr/).",
                                           show_default=False)],
    output: output_option("Rank-data folder to write (images/, scores.csv, rankdata.json)."),
    method: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045 (Typer)
        "--method", help="An interpolation to rank: bicubic, lanczos, or hr (the HR crop "
        "itself); repeatable.", show_default=False)] = None,
    model: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--model", help="An SR model to rank (a file or a model name); repeatable.",
        show_default=False)] = None,
    scale: Annotated[int, typer.Option("-x", "--scale", min=1, max=MAX_SCALE,
                                       help="Upscaling factor.")] = 4,
    crop_size: Annotated[int, typer.Option("--crop-size", min=192,
                                           help="HR crop side (NIQE needs two 96×96 blocks; "
                                           "the paper's 296).")] = 296,
    stride: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--stride", min=1, help="Step between crops (default: half the crop).",
        show_default=False)] = None,
    max_crops: Annotated[int, typer.Option("--max-crops", min=0,
                                           help="At most this many crops per photo, drawn "
                                           "at random (0 = all).")] = 0,
    margin: Annotated[int, typer.Option("--margin", min=0, help="LR pixels of context on "
                                        "each side of a crop for the methods.")] = 16,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace rank data made with other settings.")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    strict: StrictOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Make RankSRGAN's rank data: the same crops enlarged by every method, scored by NIQE.

    Each photo's crops are enlarged from its LR by each --method and --model; every image is
    scored by NIQE (lower = better) and ranked within its crop. Photos already in OUTPUT are
    skipped (run it again to go on). Train a ranker on it with srkit train-ranker.
    """
    setup(quiet=quiet, seed=seed)
    from srkit.stages.rank_data import rank_data

    result = rank_data(inputs, output, methods=method, models=model, scale=scale,
                       crop_size=crop_size, stride=stride, max_crops=max_crops, margin=margin,
                       seed=seed, device=device, overwrite=overwrite, strict=strict)
    from srkit.console import info, stdout

    if json_out:
        import json

        stdout.print_json(json.dumps({
            "output": str(result.output), "methods": result.methods, "photos": result.photos,
            "photos_skipped": result.photos_skipped, "crops": result.crops,
            "crops_undefined": result.crops_undefined, "mean_niqe": result.mean_niqe,
            "best_share": result.best_share, "seconds": round(result.seconds, 3)}))
        return
    info(f"{result.output}: {result.crops} crop(s) of {result.photos} photo(s) "
         f"({result.photos_skipped} done before)")
    for tag in result.methods:
        info(f"  {tag}: mean NIQE {result.mean_niqe[tag]:.3f}, best in "
             f"{100 * result.best_share[tag]:.0f} % of the crops")
