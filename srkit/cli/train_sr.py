"""``srkit train-sr``: train an SR model on pair folders, or on pairs made on the fly."""

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
    SyntheticSetOpt,
    app,
    fraction,
    must,
    non_negative,
    output_option,
    parse_assignments,
    positive,
    setup,
    synthetic_settings,
)
from srkit.errors import SrkitError

_Int = Optional[int]  # noqa: UP045 (Typer needs Optional)
_Float = Optional[float]  # noqa: UP045


def parse_val(text: str | None) -> str | float | None:
    """``--val``: a pair folder, or a fraction in (0, 1) of the training images to hold out."""
    if text is None:
        return None
    if not Path(text).exists():
        try:
            value = float(text)
        except ValueError:
            raise SrkitError(f"--val {text}: no such pair folder") from None
        if not 0 < value < 1:
            raise SrkitError(f"--val {text}: a held-out fraction must lie between 0 and 1")
        return value
    return text


def _scale_option(param: typer.CallbackParam, value: str | None):
    """``-x``: an integer factor or a :class:`~srkit.scales.ScaleRange` (exit 2 otherwise)."""
    if value is None:
        return None
    from srkit.scales import parse_scale

    try:
        return parse_scale(value)
    except SrkitError as error:
        raise typer.BadParameter(str(error), param=param) from None


@app.command("train-sr")
def train_sr_cmd(
    output: output_option("Model file to write (.safetensors); its resume state, log (CSV) "
                          "and curves go beside it."),
    pairs: Annotated[Optional[Path], typer.Argument(  # noqa: UP045
        help="Pair folder (PAIRS/hr, PAIRS/lr) made by srkit degrade. Leave out with --hr.",
        show_default=False)] = None,
    scale: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "-x", "--scale", callback=_scale_option, show_default=False, metavar="FACTOR",
        help=f"Upscaling factor 1-{MAX_SCALE} (default 4; 1 with --blind), or a range LOW-HIGH "
        "for --arch metasr, e.g. 1.1-4: one network for every factor in it (steps of 0.1, "
        "one drawn per batch; --hr with --bicubic).")] = None,
    hr: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--hr", help="Clean HR photos to degrade on the fly (with --pool, --synthetic or "
        "both, or --bicubic).",
        show_default=False)] = None,
    pool: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--pool", help="Degradation pool: a random kernel and noise patch per sample "
        "(RealSR).", show_default=False)] = None,
    synthetic: Annotated[bool, typer.Option(
        "--synthetic", help="Degrade --hr photos with the random Real-ESRGAN pipeline.")] = False,
    synthetic_set: SyntheticSetOpt = None,
    bicubic: Annotated[bool, typer.Option(
        "--bicubic", help="Degrade --hr photos with MATLAB bicubic downscaling (any factor; "
        "what a -x range trains on).")] = False,
    blind: Annotated[bool, typer.Option(
        "--blind", help="Degrade --hr photos with random blur, ×1–3 downscale and noise, "
        "re-upscaled (pre-upsampled pairs with their parameters, for --recipe blind and "
        "--arch unet-blind, the defaults with it).")] = False,
    blind_set: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--blind-set", help="A range of the --blind degradation, KEY=[LOW,HIGH] (repeatable; "
        "blur_variance in px², noise_level in grey levels, factor), e.g. noise_level=[0,10].",
        show_default=False)] = None,
    description: Annotated[str, typer.Option(
        "--description", help="A line about the model, kept in its metadata (srkit models "
        "lists it).")] = "",
    strict: StrictOpt = False,
    pool_share: Annotated[float, typer.Option(
        "--pool-share", callback=fraction,
        help="With both --pool and --synthetic: the share of samples degraded by the pool.")
    ] = 0.9,  # srkit.patches.POOL_SHARE (not imported: the CLI loads no torch to start)
    real_lr: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--real-lr", help="LR photos of the target camera (required by --recipe dasr, whose "
        "PAIRS_DIR comes from srkit degrade --dsn, and by --recipe domain-adapt, the target "
        "domain).", show_default=False)] = None,
    arch: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--arch", help="rrdbnet, srresnet, compact, span, swinir, san, srfbn, metasr, "
        "unet-blind, da-sr, srntt or crossnet (default rrdbnet, unet-blind with --blind, da-sr "
        "with --recipe domain-adapt, srntt / crossnet with those recipes, the config's, or the "
        "--init model's); docs/models.md.",
        show_default=False)] = None,
    arch_arg: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--arch-arg", help="Network argument KEY=VALUE (BasicSR names), repeatable.",
        show_default=False)] = None,
    num_feat: Annotated[_Int, typer.Option("--num-feat", min=1, help="Network width.",
                                           show_default=False)] = None,
    num_block: Annotated[_Int, typer.Option("--num-block", min=1, help="RRDB / residual blocks.",
                                            show_default=False)] = None,
    num_conv: Annotated[_Int, typer.Option("--num-conv", min=1, help="Convs of the compact net.",
                                           show_default=False)] = None,
    num_grow_ch: Annotated[_Int, typer.Option("--num-grow-ch", min=1, help="RRDB growth channels.",
                                              show_default=False)] = None,
    init: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--init", help="Start from this model's weights: a file or a model name (e.g. "
        "general_x4, or a psnr run before esrgan); its architecture and arguments are the "
        "run's unless --arch / --arch-arg say otherwise.",
        show_default=False)] = None,
    recipe: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--recipe", help="psnr (L1 pre-training; the default), esrgan, realsr, dasr (with "
        "--real-lr), blind (with --blind, its default), domain-adapt (source pairs with "
        "--real-lr target photos), srobb (region-targeted perceptual loss), ranksrgan (with "
        "--ranker), srntt or crossnet (reference-based, with --ref-dir and --arch srntt / "
        "crossnet, their defaults).",
        show_default=False)] = None,
    config: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--config", help="TOML file: recipe, arch, \\[arch_args] and any recipe setting.",
        show_default=False)] = None,
    set_values: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--set", help="Override any recipe setting KEY=VALUE, e.g. lr_gamma=0.5, repeatable.",
        show_default=False)] = None,
    iters: Annotated[_Int, typer.Option("--iters", min=1, show_default=False,
                                        help="Iterations (default: the recipe's).")] = None,
    batch_size: Annotated[_Int, typer.Option("--batch-size", min=1, help="Patches per iteration "
                                             "(per process).", show_default=False)] = None,
    patch_size: Annotated[_Int, typer.Option("--patch-size", min=8,
                                             help="HR patch size in pixels.",
                                             show_default=False)] = None,
    learning_rate: Annotated[_Float, typer.Option(
        "--learning-rate", callback=positive, help="Generator learning rate.",
        show_default=False)] = None,
    pixel_weight: Annotated[_Float, typer.Option("--pixel-weight", show_default=False,
                                                 callback=non_negative,
                                                 help="Weight of the pixel loss.")] = None,
    perceptual_weight: Annotated[_Float, typer.Option(
        "--perceptual-weight", callback=non_negative,
        help="Weight of the VGG loss (0 turns it off).", show_default=False)] = None,
    gan_weight: Annotated[_Float, typer.Option("--gan-weight", show_default=False,
                                               callback=non_negative,
                                               help="Weight of the adversarial loss.")] = None,
    ema_decay: Annotated[_Float, typer.Option(
        "--ema-decay", callback=must(lambda d: 0 <= d < 1, "must lie in [0, 1)"),
        help="EMA of the weights (0 saves the raw weights).", show_default=False)] = None,
    seed: SeedOpt = 0,
    workers: Annotated[_Int, typer.Option(
        "--workers", min=0, max=1024, help="Data loader processes (0: in the training process; "
        "default: up to 4).", show_default=False)] = None,
    device: DeviceOpt = "auto",
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from OUTPUT's .resume.pt state, bit for bit.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite",
                                            help="Replace an existing model.")] = False,
    val: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--val", help="Validation pair folder, or a fraction (e.g. 0.1) of the training "
        "images to hold out.", show_default=False)] = None,
    val_every: Annotated[int, typer.Option("--val-every", min=1,
                                           help="Validate every N iterations.")] = 1000,
    save_every: Annotated[int, typer.Option("--save-every", min=1,
                                            help="Save model and state every N.")] = 1000,
    log_every: Annotated[int, typer.Option("--log-every", min=1,
                                           help="CSV row every N iterations.")] = 10,
    vgg_weights: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--vgg-weights", help="torchvision's vgg19-dcbb9e9d.pth for the perceptual loss.",
        show_default=False)] = None,
    region_labels: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--region-labels", help="PNG label maps for --recipe srobb, DIR/STEM.png per HR "
        "image: 0 background, 1 object, 2 boundary (default: derived from the HR images; "
        "docs/srobb.md).", show_default=False)] = None,
    ranker: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--ranker", help="Ranker file (srkit train-ranker) for the rank-content loss of "
        "--recipe ranksrgan (docs/ranksrgan.md).", show_default=False)] = None,
    ref_dir: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--ref-dir", help="Reference photos for --recipe srntt or crossnet, one per HR image "
        "of the pair folder, matched by file stem (DIR/STEM.*; docs/srntt.md, "
        "docs/crossnet.md).", show_default=False)] = None,
    amp: Annotated[str, typer.Option("--amp", help="Mixed precision on CUDA: none, bf16, "
                                     "fp16.")] = "none",
    channels_last: Annotated[bool, typer.Option(
        "--channels-last", help="NHWC memory format (faster convs on recent GPUs).")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train an SR network (RealSR / ESRGAN / DASR recipes, EMA, resumable, DDP via torchrun).

    Data: PAIRS_DIR from srkit degrade, or --hr DIR with --pool POOL.h5 (kernel and noise
    drawn per sample), --synthetic, --bicubic, or --blind (pre-upsampled pairs for --recipe
    blind, a ×1 unet-blind with a degradation-parameter head). -x 1.1-4 --arch metasr --hr
    DIR --bicubic: one Meta-SR for any factor (srkit upscale -x 2.7 runs it). --recipe
    dasr: PAIRS_DIR from srkit degrade --dsn (with dist/ maps) and --real-lr DIR. --recipe
    domain-adapt: any of those sources plus --real-lr DIR (the target domain), a da-sr
    network. --recipe srntt / crossnet: PAIRS_DIR and --ref-dir DIR (a reference per HR
    image), reference-based ×4. Writes OUTPUT (safetensors), OUTPUT's .resume.pt and
    .train.csv beside it.
    Several processes: torchrun --nproc_per_node N -m srkit train-sr ...
    """
    setup(quiet=quiet, seed=seed)
    from srkit.training.recipes import AMP_MODES

    if amp not in AMP_MODES:
        raise SrkitError(f"--amp {amp}: use one of {', '.join(AMP_MODES)}")
    arch_args = parse_assignments(arch_arg, "--arch-arg")
    shortcuts = {"num_feat": num_feat, "num_block": num_block, "num_conv": num_conv,
                 "num_grow_ch": num_grow_ch}
    arch_args.update({k: v for k, v in shortcuts.items() if v is not None})
    overrides = parse_assignments(set_values, "--set")
    if overrides:
        from srkit.training.recipes import check_override_ranges

        try:
            check_override_ranges(overrides, "--set")
        except SrkitError as error:
            message = str(error).removeprefix("--set: ")
            raise typer.BadParameter(message, param_hint="'--set'") from None
    recipe_shortcuts = {"pixel_weight": pixel_weight, "perceptual_weight": perceptual_weight,
                        "gan_weight": gan_weight}
    overrides.update({k: v for k, v in recipe_shortcuts.items() if v is not None})

    if synthetic_set and not synthetic:
        raise SrkitError("--synthetic-set changes the random pipeline: add --synthetic")
    random_settings = synthetic_settings(synthetic_set)
    if blind_set and not blind:
        raise SrkitError("--blind-set changes the blind degradation: add --blind")
    range_settings = None
    if blind_set:
        from srkit.degradations.blind import BlindSettings

        range_settings = BlindSettings().with_overrides(parse_assignments(blind_set,
                                                                          "--blind-set"))
    from srkit.stages.train_sr import train_sr

    result = train_sr(
        pairs, output, scale, hr=hr, pool=pool, synthetic=synthetic, pool_share=pool_share,
        bicubic=bicubic,
        synthetic_settings=random_settings, blind=blind, blind_settings=range_settings,
        arch=arch, arch_args=arch_args, init=init, recipe=recipe, config=config,
        overrides=overrides,
        iters=iters, batch_size=batch_size, patch_size=patch_size,
        learning_rate=learning_rate, ema_decay=ema_decay, seed=seed, workers=workers,
        device=device, resume=resume, overwrite=overwrite, val=parse_val(val),
        val_every=val_every, save_every=save_every, log_every=log_every,
        vgg_weights=vgg_weights, amp=amp, channels_last=channels_last, real_lr=real_lr,
        description=description, strict=strict, region_labels=region_labels, ranker=ranker,
        ref_dir=ref_dir)
    _report(result, json_out)


def _report(result, json_out: bool) -> None:
    import json

    from srkit.console import info, stdout

    if result.rank != 0:
        return  # under torchrun, rank 0 reports for all
    summary = {"output": str(result.output), "resume_state": str(result.resume_state),
               "log": str(result.log), "arch": result.arch, "arch_args": result.arch_args,
               "scale": result.scale, "scale_range": result.scale_range,
               "recipe": result.recipe.name,
               "iterations": result.iterations, "seconds": round(result.seconds, 3),
               "iterations_per_second": round(result.iterations_per_second, 3),
               "data_wait_fraction": round(result.data_wait_fraction, 4),
               "val_psnr_y": result.val_psnr_y, "bicubic_psnr_y": result.bicubic_psnr_y,
               "processes": result.world_size}
    if json_out:
        stdout.print_json(json.dumps(summary))
        return
    factor = (f"{result.scale_range[0]:g}-{result.scale_range[1]:g}" if result.scale_range
              else result.scale)
    line = (f"[green]{result.output}[/green]: {result.arch} ×{factor}, "
            f"{result.iterations} iterations")
    if result.iterations > result.start_iteration:
        line += (f" ({result.iterations_per_second:.2f} it/s, "
                 f"{100 * result.data_wait_fraction:.0f}% waiting for data)")
    else:
        line += " (already complete: nothing to resume)"
    if result.val_psnr_y is not None:
        line += f"; validation PSNR-Y {result.val_psnr_y:.2f} dB"
        if result.bicubic_psnr_y is not None:
            line += f" (bicubic {result.bicubic_psnr_y:.2f} dB)"
    info(line)
