"""``srkit train-dsn``: learn a camera's degradation as a down-sampling network (DASR)."""

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
    non_negative,
    one_of,
    positive,
    setup,
)

_Path = Optional[Path]  # noqa: UP045 (Typer needs Optional)


@app.command("train-dsn")
def train_dsn_cmd(
    hr_dir: Annotated[Path, typer.Argument(help="Clean HR photos.", show_default=False)],
    real_lr_dir: Annotated[Path, typer.Argument(help="Real LR photos of the camera to learn "
                                                "(unpaired with the HR photos).",
                                                show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="DSN file (*.safetensors).")
                      ] = Path("dsn.safetensors"),
    scale: Annotated[int, typer.Option("-x", "--scale", callback=one_of(2, 4),
                                       help="Down-scaling factor, 2 or 4.")
                     ] = 4,
    iters: Annotated[int, typer.Option("--iters", min=1, help="Training iterations.")] = 40_000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1,
                                                help="Crops per iteration.")] = 8,
    patch_size: Annotated[int, typer.Option(
        "--patch-size", min=16, help="HR crop size (real LR crops are patch-size / scale).")
    ] = 256,
    learning_rate: Annotated[float, typer.Option("--learning-rate", callback=positive,
                                                 help="Adam rate of both networks.")] = 1e-4,
    freq: Annotated[str, typer.Option("--freq", help="What the discriminator sees: wavelet "
                                      "(Haar LH/HL/HH), gaussian (blur residual) or rgb.")
                    ] = "wavelet",
    discriminator: Annotated[str, typer.Option("--discriminator",
                                               help="fsd (DASR default) or patch.")] = "fsd",
    content_weight: Annotated[float, typer.Option("--content-weight", callback=non_negative,
                                                  help="L1 on the low band vs bicubic.")] = 1.0,
    adversarial_weight: Annotated[float, typer.Option(
        "--adversarial-weight", callback=non_negative, help="GAN loss on the high bands.")] = 0.005,
    perceptual_weight: Annotated[float, typer.Option(
        "--perceptual-weight", callback=non_negative,
        help="VGG perceptual loss (needs --vgg-weights).")] = 0.01,
    vgg_weights: Annotated[_Path, typer.Option(
        "--vgg-weights", help="torchvision VGG19 weights file; switches the perceptual loss "
        "on.", show_default=False)] = None,
    num_feat: Annotated[int, typer.Option("--num-feat", min=1, help="DSN width.")] = 64,
    num_block: Annotated[int, typer.Option("--num-block", min=1,
                                                 help="DSN residual blocks.")] = 8,
    discriminator_feat: Annotated[int, typer.Option("--discriminator-feat", min=1,
                                                    help="Discriminator width.")] = 64,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run.")
                      ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run.")
                         ] = False,
    sample_every: Annotated[int, typer.Option("--sample-every", min=0, help="Write sample images "
                                              "every N iterations (0 = never).")] = 1000,
    save_every: Annotated[int, typer.Option("--save-every", min=1,
                                              help="Save every N iterations.")
                          ] = 1000,
    log_every: Annotated[int, typer.Option("--log-every", min=1, help="CSV log row every N "
                                           "iterations.")] = 10,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a DASR down-sampling network: HR photos → LR images that look like the camera's.

    The DSN's low frequencies are tied to bicubic downscaling; its high frequencies are
    trained adversarially against crops of REAL_LR_DIR. The file also holds the
    discriminator, used by `srkit degrade --dsn` for domain-distance maps.
    """
    setup(quiet=quiet, seed=seed)
    from srkit.stages.train_dsn import train_dsn
    from srkit.training.dasr import DsnWeights

    weights = DsnWeights(content=content_weight, adversarial=adversarial_weight,
                         perceptual=perceptual_weight)
    result = train_dsn(hr_dir, real_lr_dir, output, scale, iters=iters, batch_size=batch_size,
                       patch_size=patch_size, learning_rate=learning_rate, freq=freq,
                       discriminator=discriminator, weights=weights, vgg_weights=vgg_weights,
                       num_feat=num_feat, num_block=num_block,
                       discriminator_feat=discriminator_feat, seed=seed, device=device,
                       resume=resume, overwrite=overwrite, sample_every=sample_every,
                       save_every=save_every, log_every=log_every, quiet=quiet)
    if json_out:
        import json

        from srkit.console import stdout

        stdout.print_json(json.dumps({
            "output": str(result.output), "iterations": result.iterations,
            "seconds": result.seconds, "losses": result.losses, "log": str(result.log),
            "samples": str(result.samples) if result.samples else None}))
        return
    from srkit.console import info

    info(f"wrote {result.output} ({result.iterations} iterations, {result.seconds:.0f} s); "
         f"log {result.log}" + (f", samples in {result.samples}" if result.samples else ""))
