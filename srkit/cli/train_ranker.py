"""``srkit train-ranker``: train RankSRGAN's ranker on a rank-data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from srkit.cli.app import (
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    SeedOpt,
    app,
    must,
    non_negative,
    positive,
    setup,
)
from srkit.training.ranker_settings import RANKER_DEFAULTS as _D


@app.command("train-ranker")
def train_ranker_cmd(
    rank_data: Annotated[Path, typer.Argument(help="Rank-data folder (srkit rank-data).",
                                              show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Ranker file "
                                         "(*.safetensors); its resume state and log go "
                                         "beside it.")] = Path("ranker.safetensors"),
    iters: Annotated[int, typer.Option("--iters", min=1, help="Iterations (the paper's "
                                       "400k).")] = _D.iters,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1,
                                            help="Pairs per iteration.")] = _D.batch_size,
    patch_size: Annotated[Optional[int], typer.Option(  # noqa: UP045 (Typer)
        "--patch-size", min=32, help="Train on this sub-crop of each pair (the same on both "
        "images; default: whole crops).", show_default=False)] = None,
    learning_rate: Annotated[float, typer.Option("--learning-rate", callback=positive,
                                                 help="Adam rate.")] = _D.learning_rate,
    weight_decay: Annotated[float, typer.Option("--weight-decay", callback=non_negative,
                                                help="Adam weight decay.")] = _D.weight_decay,
    margin: Annotated[float, typer.Option("--margin", callback=non_negative,
                                          help="Margin of the ranking loss.")] = _D.margin,
    min_gap: Annotated[float, typer.Option(
        "--min-gap", callback=non_negative, help="Leave out pairs whose NIQE differ by this "
        "much or less (in training and in the accuracy).")] = _D.min_gap,
    num_feat: Annotated[int, typer.Option("--num-feat", min=1,
                                          help="Width of the ranker's first stage.")] = 64,
    val_fraction: Annotated[float, typer.Option(
        "--val-fraction", callback=must(lambda v: 0 <= v < 1, "must lie in [0, 1)"),
        help="Share of the photos held out for the pair accuracy (0 = none).")] = 0.1,
    val_every: Annotated[int, typer.Option("--val-every", min=1,
                                           help="Measure the accuracy every N.")] = 1000,
    save_every: Annotated[int, typer.Option("--save-every", min=1,
                                            help="Save ranker and state every N.")] = 1000,
    log_every: Annotated[int, typer.Option("--log-every", min=1,
                                           help="CSV row every N iterations.")] = 10,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUTPUT's "
                                         ".resume.pt state, bit for bit.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing "
                                            "ranker.")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train RankSRGAN's ranker: a Siamese VGG-style scorer that orders images as NIQE does.

    Pairs of one crop's images are drawn from the rank data; a margin-ranking loss makes the
    one with the higher NIQE score higher. Prints the pair accuracy on held-out photos. Use
    the ranker with srkit train-sr --recipe ranksrgan --ranker OUTPUT.
    """
    setup(quiet=quiet, seed=seed)
    from srkit.stages.train_ranker import settings_with, train_ranker

    settings = settings_with(iters=iters, batch_size=batch_size, learning_rate=learning_rate,
                             weight_decay=weight_decay, margin=margin, min_gap=min_gap)
    result = train_ranker(rank_data, output, settings=settings, num_feat=num_feat,
                          patch_size=patch_size, val_fraction=val_fraction, seed=seed,
                          device=device, resume=resume, overwrite=overwrite,
                          val_every=val_every, save_every=save_every, log_every=log_every)
    from srkit.console import info, stdout

    if json_out:
        import json

        stdout.print_json(json.dumps({
            "output": str(result.output), "iterations": result.iterations,
            "seconds": round(result.seconds, 3), "val_accuracy": result.val_accuracy,
            "val_pairs": result.val_pairs, "val_crops": result.val_crops,
            "val_photos": result.val_photos, "train_crops": result.train_crops,
            "log": str(result.log)}))
        return
    accuracy = ("no held-out photos" if result.val_accuracy is None else
                f"held-out pair accuracy {100 * result.val_accuracy:.1f} % ({result.val_pairs} "
                f"pairs of {result.val_crops} crops from {len(result.val_photos)} photo(s))")
    info(f"[green]{result.output}[/green]: {result.iterations} iterations, {accuracy}")
