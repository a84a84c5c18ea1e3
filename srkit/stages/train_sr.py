"""``srkit train-sr``: train an SR network on pair folders or on pairs made on the fly.

With the ``dasr`` recipe the pair folder comes from ``srkit degrade --dsn`` (with its
domain-distance maps) and ``real_lr`` names the target camera's photos: each iteration then
trains on generated pairs and real LR together (:class:`~srkit.training.dasr.DasrTrainer`).
With ``blind=True`` the ``hr`` photos are degraded on the fly by the blind degradation
(pre-upsampled pairs with their parameters, ``scale`` 1) and the ``blind`` recipe trains a
``unet-blind`` network and its parameter head (:class:`~srkit.training.blind.BlindTrainer`).
With the ``domain-adapt`` recipe any of the pair sources is the source domain and ``real_lr``
the target domain's unpaired LR photos; a ``da-sr`` network (encoder + SR decoder) is trained
with :class:`~srkit.training.domain_adapt.DomainAdaptTrainer` (its perceptual term is dropped,
with a warning, when no VGG19 weights are found). With the ``srobb`` recipe (or any region
weight above 0) every sample carries the object / background / boundary labels of its HR crop
(``region_labels`` PNGs, or derived from the HR photos) for SROBB's targeted perceptual loss.

The run reads its data once (:mod:`srkit.data`), takes its losses and rates from a recipe
(:mod:`srkit.training.recipes`, overridable by a TOML file and options), optimises with
:class:`~srkit.training.trainer.SRTrainer` in the shared loop (:mod:`srkit.training.loop`:
logs, saves, Ctrl-C, resume) and writes, beside ``OUTPUT``:

* ``OUTPUT`` — the model (EMA weights unless disabled) as safetensors with srkit metadata,
  rewritten at every save so a stopped run still leaves a usable model;
* ``OUTPUT.stem.resume.pt`` — the full training state, every ``save_every`` iterations;
  ``resume=True`` continues from it bit for bit;
* ``OUTPUT.stem.train.csv`` — losses, learning rate, validation PSNR-Y and data-wait time.
* ``OUTPUT.stem.curves.png`` — those curves drawn (:mod:`srkit.stages.curves`), at every save.

Under ``torchrun`` every process runs this function; rank 0 alone writes and shows progress.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srkit.errors import SrkitError
from srkit.scales import ScaleRange, check_scale_range_training
from srkit.training.recipes import Recipe, TrainConfig, read_config, resolve_recipe

DEFAULT_ARCH = "rrdbnet"
BLIND_ARCH = "unet-blind"
DOMAIN_ADAPT_ARCH = "da-sr"
RANKSRGAN_ARCH = "srresnet"  # the paper's generator (16 residual blocks without BN)
# The domain-adapt recipe's own loss columns in the CSV log.
_DOMAIN_ADAPT_COLUMNS = ("loss_align", "loss_target_rec", "loss_style", "loss_identity",
                         "loss_cycle", "d_feature", "d_style")
# The targeted perceptual loss's terms in the CSV log (srobb, or any run with a region weight).
_REGION_COLUMNS = ("loss_boundary", "loss_background", "loss_object")
# unet-blind's arguments that say what its head's 0 and 1 mean, per BlindSettings field.
_HEAD_RANGES = {"blur_variance": "blur_variance_range", "noise_level": "noise_level_range",
                "factor": "factor_range"}
# Settings that must not change between a run and its resumption.
_FIXED_ON_RESUME = ("arch", "arch_args", "scale", "scales", "seed", "recipe", "ranker")


@dataclass
class TrainResult:
    """What a training run produced and how fast it went.

    ``iterations_per_second`` counts the time spent waiting for batches and in optimisation
    steps (not validation and saving); ``data_wait_fraction`` is the waiting share of it;
    ``seconds`` is the wall time of the loop.
    """

    output: Path
    resume_state: Path
    log: Path
    arch: str
    arch_args: dict[str, Any]
    scale: int
    recipe: Recipe
    start_iteration: int
    iterations: int
    seconds: float
    iterations_per_second: float
    data_wait_fraction: float
    val_psnr_y: float | None = None
    bicubic_psnr_y: float | None = None
    world_size: int = 1
    rank: int = 0
    data: str = ""
    scale_range: list[float] | None = None  # [low, high] of an arbitrary-scale run
    history: list[dict[str, float]] = field(default_factory=list)


def train_sr(pairs: str | Path | None = None, output: str | Path = "model.safetensors",
             scale: int | ScaleRange | None = None, *, hr: str | Path | None = None,
             pool: str | Path | None = None,
             synthetic: bool = False, synthetic_settings: Any | None = None,
             pool_share: float = 0.5, blind: bool = False, blind_settings: Any | None = None,
             arch: str | None = None, arch_args: Mapping[str, Any] | None = None,
             init: str | Path | None = None, recipe: str | None = None,
             config: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
             iters: int | None = None, batch_size: int | None = None,
             patch_size: int | None = None, learning_rate: float | None = None,
             ema_decay: float | None = None, seed: int = 0, workers: int | None = None,
             device: str = "auto", resume: bool = False, overwrite: bool = False,
             val: str | Path | float | None = None, val_every: int = 1000,
             save_every: int = 1000, log_every: int = 10,
             vgg_weights: str | Path | None = None, amp: str = "none",
             channels_last: bool = False, real_lr: str | Path | None = None,
             description: str = "", strict: bool = False, bicubic: bool = False,
             region_labels: str | Path | None = None, ranker: str | Path | None = None,
             callback: Callable[[int], None] | None = None) -> TrainResult:
    """Train an SR model; see the module doc and ``docs/cli/train-sr.md``.

    Data: ``pairs`` (a pair folder), or ``hr`` photos with ``pool`` (RealSR: pool kernel and
    noise per sample), with ``synthetic=True`` (random pipeline) or both (a sample from the
    pool with probability ``pool_share``), or with ``blind=True`` (the blind degradation,
    ``blind_settings`` a :class:`~srkit.degradations.blind.BlindSettings`; ``scale`` 1,
    recipe ``blind`` and arch ``unet-blind`` by default, whose head ranges follow the
    settings). ``scale`` None is 4 (1 with ``blind``), ``recipe`` None ``psnr`` (``blind``).
    ``val``: a pair folder or a fraction of the training images to hold out. Recipe values
    come from ``recipe``, then ``config`` (TOML), then ``overrides`` and the explicit keyword
    arguments. ``init`` starts from a model (a file, or a name such as ``general_x4``; e.g. a
    ``psnr`` run before a GAN recipe), whose architecture and arguments are the defaults.
    ``callback(iteration)`` is called after every iteration. ``real_lr``: the target
    camera's LR photos, required by (and only used with) the ``dasr`` and ``domain-adapt``
    recipes.
    ``region_labels``: a folder of PNG label maps (0 background, 1 object, 2 boundary; one
    ``STEM.png`` per training HR image) for the targeted perceptual loss of the ``srobb``
    recipe (or any recipe with a region weight); without it the labels are derived from the
    HR images (docs/srobb.md).
    ``ranker``: a ranker file (``srkit train-ranker``) for the rank-content loss of the
    ``ranksrgan`` recipe (or any recipe with ``rank_weight`` above 0; docs/ranksrgan.md).
    ``description`` goes into the model file's metadata (``srkit models`` shows it). Raises
    :class:`SrkitError` for unusable inputs.

    ``bicubic=True``: the ``hr`` photos are degraded on the fly by MATLAB bicubic. ``scale`` a
    :class:`~srkit.scales.ScaleRange` (``-x 1.1-4``) trains an arbitrary-scale ``metasr``
    (Meta-SR) over its factors, one drawn per batch, on ``hr`` with ``bicubic`` and a
    pixel-loss recipe; the model's integer ``scale`` is the range's ``default_scale`` (and
    validation runs there), and its file records ``scale_range`` ``[low, high]``.
    """
    from srkit.console import info
    from srkit.device import resolve_device
    from srkit.training.distributed import barrier, init_distributed, shutdown
    from srkit.training.log import log_path
    from srkit.training.state import resume_path

    output = Path(output)
    if blind:
        from srkit.degradations.blind import BlindSettings

        blind_settings = blind_settings if blind_settings is not None else BlindSettings()
    if scale is None:
        scale = 1 if blind else 4
    scales = scale if isinstance(scale, ScaleRange) else None
    if scales is not None:
        scale = scales.default_scale
    init_arch, auto_init = None, init is None
    if init is not None and str(init).lower() == "none":
        init = None  # from scratch, whatever the budget
    if init is not None:
        init, init_arch = _resolve_init(init, scale)
    settings = _resolve_settings(arch, arch_args, recipe or ("blind" if blind else "psnr"),
                                 config, overrides, iters, batch_size, patch_size,
                                 learning_rate, ema_decay, scale,
                                 BLIND_ARCH if blind else DEFAULT_ARCH, init_arch)
    arch, arch_args, run_recipe = settings
    short_run = None
    if auto_init:
        short_run = _short_run_start(arch, arch_args, run_recipe, scale, patch_size, overrides)
    if short_run is not None:
        init, run_recipe = short_run
    run_recipe = _domain_adapt_perceptual(run_recipe, vgg_weights)
    if scales is not None:
        check_scale_range_training(scales, arch, run_recipe)
    if blind:
        arch_args = _blind_arch_args(arch, arch_args, blind_settings)
    state_file, csv_file = resume_path(output), log_path(output)
    if output.suffix != ".safetensors":
        raise SrkitError(f"{output}: the model is written as safetensors; name it *.safetensors")
    if resume and overwrite:
        raise SrkitError("--resume and --overwrite contradict each other; pick one")
    if not resume and not overwrite and (output.exists() or state_file.exists()):
        raise SrkitError(f"{output}: already exists (continue it with --resume, or replace "
                         "it with --overwrite)")
    if not resume and not overwrite and csv_file.exists():
        raise SrkitError(f"{csv_file}: a training log of an earlier run; pass --overwrite to "
                         "replace it, or choose another output name")
    for name, value in (("val_every", val_every), ("save_every", save_every),
                        ("log_every", log_every)):
        if value < 1:
            raise SrkitError(f"{name} must be at least 1, got {value}")
    _check_discriminator_input(run_recipe)
    _check_dasr_inputs(run_recipe, real_lr, amp)
    _check_domain_adapt_inputs(run_recipe, real_lr, amp, arch, scale)
    _check_blind_inputs(run_recipe, blind, arch)
    if blind and scale != 1:
        raise SrkitError(f"--blind makes pre-upsampled pairs for a ×1 network, not ×{scale} "
                         "(srkit upscale -x S bicubic-upscales before running it)")
    if run_recipe.uses_perceptual or run_recipe.uses_regions:
        _check_vgg_weights(vgg_weights, run_recipe)
    regions = _region_source(run_recipe, region_labels)
    _check_rank_inputs(run_recipe, ranker, scales is not None)

    context, torch_device = init_distributed(resolve_device(device))
    if not context.is_main:
        from srkit.console import set_quiet

        set_quiet(True)  # one progress display and one summary, from rank 0
    try:
        _seed_everything(seed)
        from srkit.data import prepare_training_data

        data = prepare_training_data(
            scale=scale, patch_size=run_recipe.patch_size, seed=seed, pairs=pairs, hr=hr,
            pool=pool, synthetic=synthetic, synthetic_settings=synthetic_settings,
            pool_share=pool_share, blind=blind, blind_settings=blind_settings, val=val,
            real_lr=real_lr, domain_adapt=run_recipe.is_domain_adapt, regions=regions,
            rank=context.rank, world_size=context.world_size, strict=strict, bicubic=bicubic,
            scales=scales, batch_size=run_recipe.batch_size)
        generator, init_metadata = _build_generator(arch, arch_args, init)
        from srkit.training.blind import BlindTrainer
        from srkit.training.dasr import DasrTrainer
        from srkit.training.domain_adapt import DomainAdaptTrainer
        from srkit.training.trainer import ArbitraryScaleTrainer, SRTrainer, resolve_amp

        trainer_class = (ArbitraryScaleTrainer if scales is not None
                         else DasrTrainer if run_recipe.is_dasr
                         else BlindTrainer if run_recipe.is_blind
                         else DomainAdaptTrainer if run_recipe.is_domain_adapt else SRTrainer)
        options = {"context": context, "patch_size": run_recipe.patch_size,
                   "vgg_weights": vgg_weights, "amp": resolve_amp(amp, torch_device),
                   "channels_last": channels_last}
        ranker_hash = None
        if run_recipe.uses_rank:
            from srkit.io.hashing import file_sha256
            from srkit.io.ranker_files import load_ranker
            from srkit.training.ranksrgan import RankSRGANTrainer

            trainer_class, options["ranker"] = RankSRGANTrainer, load_ranker(ranker)[0]
            ranker_hash = file_sha256(ranker)
        trainer = trainer_class(generator, run_recipe, torch_device, **options)
        fixed = {"arch": arch, "arch_args": arch_args, "scale": scale,
                 "scales": scales.to_list() if scales is not None else None, "seed": seed,
                 "description": description, "init": init_metadata,
                 "recipe": {k: v for k, v in run_recipe.to_dict().items() if k != "iters"},
                 "blind": blind_settings.to_dict() if blind else None,
                 "ranker": ranker_hash}
        start = 0
        if resume:
            start = _restore(state_file, trainer, fixed, run_recipe, context.world_size)
        if context.is_main:
            factor = scales.text if scales is not None else scale
            info(f"training {arch} ×{factor} with the {run_recipe.name} recipe on "
                 f"{data.description}; {context.world_size} process(es) on {torch_device}")
            if short_run is not None:
                info(f"a short run ({run_recipe.iters} iterations): starting from the shipped "
                     f"{Path(init).stem} with {run_recipe.patch_size}-pixel patches "
                     "(--init none trains from scratch)")
        result = _run(trainer, data, output, state_file, csv_file, fixed, run_recipe, context,
                      start, _workers(workers), torch_device,
                      (val_every, save_every, log_every), channels_last, callback)
        barrier(context)
        return result
    finally:
        shutdown(context)


# A psnr run of the compact net this short starts from the shipped model of its scale, with
# smaller patches: from scratch a few hundred CPU iterations stay below bicubic upscaling
# (docs/cli/train-sr.md, "Short runs").
SHORT_RUN_ITERS = 5000
SHORT_RUN_PATCH = 64


def _short_run_start(arch: str, arch_args: dict[str, Any], recipe: Recipe, scale: int,
                     patch_size: int | None, overrides: Mapping[str, Any] | None
                     ) -> tuple[Path, Recipe] | None:
    """(the shipped model to start from, the recipe with short-run patches) for a short psnr
    run of a compact net with the shipped layout; None otherwise."""
    from srkit.io.checkpoints import read_safetensors
    from srkit.models import architecture_arguments
    from srkit.modelzoo import WEIGHTS_DIR, default_model_name
    from srkit.training.recipes import RECIPES

    if arch != "compact" or recipe.name != "psnr" or recipe.iters > SHORT_RUN_ITERS:
        return None
    shipped = WEIGHTS_DIR / f"{default_model_name(scale)}.safetensors"
    if not shipped.is_file():
        return None
    meta = read_safetensors(shipped)[1]
    defaults = architecture_arguments(arch)
    if meta.get("srkit_arch") != arch or {**defaults, **json.loads(
            meta.get("srkit_arch_args", "{}"))} != {**defaults, **arch_args}:
        return None
    if patch_size is None and "patch_size" not in (overrides or {}) \
            and recipe.patch_size == RECIPES[recipe.name].patch_size:
        recipe = replace(recipe, patch_size=SHORT_RUN_PATCH)
    return shipped, recipe


def _resolve_init(init: str | Path, scale: int) -> tuple[Path, tuple[str, dict[str, Any]]]:
    """``--init``'s file (a path, or a model name as ``--model`` takes: ``general_x4``) and
    its architecture and arguments, which the run takes unless told otherwise."""
    from srkit.io.checkpoints import load_model
    from srkit.modelzoo import resolve_model

    path = resolve_model(init, scale)
    loaded = load_model(path, "cpu")
    return path, (loaded.arch, dict(loaded.arch_args))


def _resolve_settings(arch, arch_args, recipe, config, overrides, iters, batch_size,
                      patch_size, learning_rate, ema_decay, scale, default_arch=DEFAULT_ARCH,
                      init_arch: tuple[str, dict[str, Any]] | None = None
                      ) -> tuple[str, dict[str, Any], Recipe]:
    """Architecture, its arguments and the recipe from defaults, config file and options
    (with ``init_arch``, the ``--init`` model's architecture and arguments are the defaults)."""
    from srkit.models import arch_args_for_scale

    parsed = read_config(config) if config is not None else TrainConfig()
    explicit = {key: value for key, value in (
        ("iters", iters), ("batch_size", batch_size), ("patch_size", patch_size),
        ("learning_rate", learning_rate), ("ema_decay", ema_decay)) if value is not None}
    run_recipe = resolve_recipe(recipe, parsed, {**dict(overrides or {}), **explicit})
    if scale < 1:
        raise SrkitError(f"scale must be at least 1, got {scale}")
    if run_recipe.is_domain_adapt:
        default_arch = DOMAIN_ADAPT_ARCH
    if run_recipe.name == "ranksrgan":
        default_arch = RANKSRGAN_ARCH
    arch = arch or parsed.arch or (init_arch[0] if init_arch else None) or default_arch
    start = dict(init_arch[1]) if init_arch and init_arch[0] == arch else {}
    merged = {**start, **(parsed.arch_args or {}), **dict(arch_args or {})}
    return arch, arch_args_for_scale(arch, scale, **merged), run_recipe


def _check_discriminator_input(recipe: Recipe) -> None:
    size = recipe.patch_size
    if recipe.uses_gan and recipe.discriminator == "vgg" and size not in (128, 256, 296):
        raise SrkitError(f"the VGG-style discriminator takes 128, 256 or 296 pixel patches, not "
                         f"--patch-size {size} (or set discriminator = \"patchgan\")")
    if recipe.uses_gan and recipe.discriminator == "unet" and size % 8:
        raise SrkitError(f"the U-Net discriminator needs --patch-size divisible by 8, not {size}")


def _check_dasr_inputs(recipe: Recipe, real_lr: str | Path | None, amp: str) -> None:
    """The dasr recipe needs the camera's real LR photos; other recipes do not use them."""
    if recipe.is_dasr:
        if real_lr is None:
            raise SrkitError("the dasr recipe needs --real-lr DIR: LR photos of the target "
                             "camera (the ones the DSN was trained on)")
        if amp == "fp16":
            raise SrkitError("the dasr recipe does not support --amp fp16 (use bf16 or none)")
        _check_band_discriminator(recipe)
    elif real_lr is not None and not recipe.is_domain_adapt:
        raise SrkitError(f"--real-lr is used by the dasr recipe only, not by {recipe.name} — "
                         "or by domain-adapt, as its target domain (pick --recipe dasr or "
                         "domain-adapt)")


def _check_domain_adapt_inputs(recipe: Recipe, real_lr: str | Path | None, amp: str,
                               arch: str, scale: int) -> None:
    """The domain-adapt recipe needs the target photos and an encoder-decoder network."""
    if not recipe.is_domain_adapt:
        return
    if real_lr is None:
        raise SrkitError("the domain-adapt recipe needs --real-lr DIR: LR photos of the target "
                         "camera (the target domain)")
    if arch != DOMAIN_ADAPT_ARCH:
        raise SrkitError(f"the domain-adapt recipe trains an encoder and an SR decoder: --arch "
                         f"{DOMAIN_ADAPT_ARCH}, not {arch}")
    if amp == "fp16":
        raise SrkitError("the domain-adapt recipe does not support --amp fp16 (use bf16 or "
                         "none)")
    lr_patch = recipe.patch_size // scale
    if lr_patch < 12:
        raise SrkitError(f"the domain-adapt recipe's LR discriminators need LR crops of 12 "
                         f"pixels or more: --patch-size {recipe.patch_size} at ×{scale} gives "
                         f"{lr_patch}")


def _domain_adapt_perceptual(recipe: Recipe, vgg_weights: str | Path | None) -> Recipe:
    """The domain-adapt recipe's perceptual term applies when VGG19 weights are there
    (``--vgg-weights`` or the default file); without them it is switched off with a warning
    (the other recipes stop instead). The recorded recipe says which happened."""
    if not recipe.is_domain_adapt or not recipe.uses_perceptual:
        return recipe
    from dataclasses import replace

    from srkit.console import warn
    from srkit.models.vgg import default_vgg19_path

    path = Path(vgg_weights) if vgg_weights is not None else default_vgg19_path()
    if vgg_weights is None and not path.is_file():
        warn(f"no VGG19 weights at {path}: training domain-adapt without its perceptual term "
             "(pass --vgg-weights FILE to use it)")
        return replace(recipe, perceptual_weight=0.0)
    return recipe


def _check_band_discriminator(recipe: Recipe) -> None:
    """The dasr discriminator must fit the high bands of an HR patch."""
    if not recipe.uses_gan:
        return
    import torch

    from srkit.models.discriminators import PatchDiscriminator
    from srkit.ops.wavelets import high_channels, high_frequency

    bands = high_frequency(torch.zeros(1, 3, recipe.patch_size, recipe.patch_size),
                           recipe.freq)
    discriminator = PatchDiscriminator(high_channels(recipe.freq), 1,
                                       recipe.discriminator_num_layers, norm="none")
    try:
        with torch.no_grad():
            discriminator(bands)
    except RuntimeError:
        raise SrkitError(f"--patch-size {recipe.patch_size} is too small for the dasr "
                         f"discriminator on {recipe.freq} bands "
                         f"({recipe.discriminator_num_layers} layers)") from None


def _check_blind_inputs(recipe: Recipe, blind: bool, arch: str) -> None:
    """The blind recipe and the blind data go together (the step needs the parameters)."""
    if recipe.is_blind and not blind:
        raise SrkitError("the blind recipe trains on --hr photos degraded with --blind (its "
                         "samples carry the degradation parameters)")
    if blind and not recipe.is_blind:
        raise SrkitError(f"--blind samples carry degradation parameters for the blind recipe, "
                         f"not {recipe.name} (use --recipe blind, the default with --blind)")
    if recipe.param_weight > 0 and arch != BLIND_ARCH:
        raise SrkitError(f"the blind recipe's parameter loss needs --arch {BLIND_ARCH}, not "
                         f"{arch} (or switch the head's loss off: --set param_weight=0)")


def _blind_arch_args(arch: str, arch_args: dict[str, Any], settings) -> dict[str, Any]:
    """``arch_args`` with unet-blind's head ranges set to the blind settings' ranges (a
    different range given explicitly is an error: the head would mean something else)."""
    if arch != BLIND_ARCH:
        return arch_args
    out = dict(arch_args)
    for field_name, argument in _HEAD_RANGES.items():
        wanted = list(getattr(settings, field_name))
        given = out.get(argument)
        if given is not None and [float(v) for v in given] != wanted:
            raise SrkitError(f"--arch-arg {argument}={given} differs from the blind setting "
                             f"{field_name}={wanted}; set the range with --blind-set only")
        out[argument] = wanted
    return out


def _check_vgg_weights(vgg_weights: str | Path | None, recipe: Recipe) -> None:
    from srkit.models.vgg import VGG19_URL, default_vgg19_path

    path = Path(vgg_weights) if vgg_weights is not None else default_vgg19_path()
    if path.is_file():
        return
    if recipe.uses_perceptual:
        raise SrkitError(f"the {recipe.name} recipe's perceptual loss needs VGG19 weights, "
                         f"not found at {path}: download {VGG19_URL} there, pass "
                         "--vgg-weights FILE, or turn the loss off with --perceptual-weight 0")
    raise SrkitError(f"the {recipe.name} recipe's targeted perceptual loss needs VGG19 "
                     f"weights, not found at {path}: download {VGG19_URL} there, pass "
                     "--vgg-weights FILE, or turn its terms off with --set boundary_weight=0 "
                     "--set background_weight=0 --set object_weight=0")


def _check_rank_inputs(recipe: Recipe, ranker: str | Path | None, arbitrary_scale: bool
                       ) -> None:
    """The rank-content loss and ``--ranker`` go together; the file is checked early."""
    if not recipe.uses_rank:
        if ranker is not None:
            raise SrkitError(f"--ranker feeds the rank-content loss, which the {recipe.name} "
                             "recipe does not use (use --recipe ranksrgan, or set rank_weight)")
        return
    if ranker is None:
        raise SrkitError(f"the {recipe.name} recipe's rank-content loss needs a ranker: pass "
                         "--ranker FILE (train one with srkit train-ranker), or turn it off "
                         "with --set rank_weight=0")
    if arbitrary_scale:
        raise SrkitError("the rank-content loss is for fixed-scale training, not a -x range")
    from srkit.io.ranker_files import load_ranker

    load_ranker(ranker)  # a missing or foreign file stops the run before any data is read


def _region_source(recipe: Recipe, region_labels: str | Path | None):
    """Where the region labels come from (None when the recipe has no region term)."""
    if not recipe.uses_regions:
        if region_labels is not None:
            raise SrkitError(f"--region-labels feeds the targeted perceptual loss, which the "
                             f"{recipe.name} recipe does not use (use --recipe srobb, or set "
                             "boundary_weight, background_weight or object_weight)")
        return None
    from srkit.data import RegionSource

    if region_labels is not None and not Path(region_labels).is_dir():
        raise SrkitError(f"--region-labels {region_labels}: no such folder")
    return RegionSource(folder=Path(region_labels) if region_labels is not None else None,
                        edge_threshold=recipe.region_edge_threshold,
                        texture_threshold=recipe.region_texture_threshold,
                        boundary_radius=recipe.region_boundary_radius)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _workers(workers: int | None) -> int:
    if workers is not None:
        if workers < 0:
            raise SrkitError(f"--workers must be 0 or more, got {workers}")
        return workers
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _build_generator(arch: str, arch_args: dict[str, Any], init: str | Path | None):
    """The network, and what the saved model's metadata says about ``init`` (None without).

    The provenance is the init file's name, its iterations from scratch (``total_iterations``,
    else ``iterations``; 0 for a file srkit did not train) and, for a file trained by srkit from
    scratch, its recipe settings, iterations and seed (so that a benchmark can repeat both
    stages); ``init_stages``, when every earlier stage is known, lists them all (JSON, earliest
    first; see :func:`training_stages`), so that a chain of any length can be repeated.
    """
    from srkit.models import build_model

    generator = build_model(arch, **arch_args)
    if init is None:
        return generator, None
    from srkit.io.checkpoints import load_model
    from srkit.models import architecture_arguments

    loaded = load_model(init, "cpu")
    defaults = architecture_arguments(arch) if loaded.arch == arch else {}
    if loaded.arch != arch or {**defaults, **loaded.arch_args} != {**defaults, **arch_args}:
        raise SrkitError(f"{init}: is a {loaded.arch} with {json.dumps(loaded.arch_args)}, "
                         f"but this run trains a {arch} with {json.dumps(arch_args)}")
    generator.load_state_dict(loaded.model.state_dict())
    meta = loaded.metadata
    before = meta.get("total_iterations", meta.get("iterations", "0"))
    provenance = {"init": Path(init).name,
                  "init_total_iterations": int(before) if before.isdigit() else 0}
    if "init" not in meta and {"recipe_settings", "iterations", "seed"} <= set(meta):
        provenance |= {"init_recipe_settings": meta["recipe_settings"],
                       "init_iterations": meta["iterations"], "init_seed": meta["seed"]}
    stages = training_stages(meta)
    if stages is not None:
        provenance["init_stages"] = json.dumps(stages, sort_keys=True)
    return generator, provenance


def training_stages(meta: Mapping[str, str]) -> list[dict[str, Any]] | None:
    """Every stage that trained the model of ``meta``, earliest first, as ``{"iterations",
    "seed", "recipe_settings"}`` (settings as a dict); None where a stage is unknown (a file
    srkit did not train, or one fine-tuned from such a file)."""
    if not {"recipe_settings", "iterations", "seed"} <= set(meta):
        return None
    own = {"iterations": int(meta["iterations"]), "seed": int(meta["seed"]),
           "recipe_settings": json.loads(meta["recipe_settings"])}
    if "init" not in meta:
        return [own]
    if "init_stages" in meta:
        return [*json.loads(meta["init_stages"]), own]
    if "init_recipe_settings" in meta:  # written before init_stages: the first stage alone
        return [{"iterations": int(meta["init_iterations"]), "seed": int(meta["init_seed"]),
                 "recipe_settings": json.loads(meta["init_recipe_settings"])}, own]
    return None


def _restore(state_file: Path, trainer, fixed: dict[str, Any], recipe: Recipe,
             world_size: int) -> int:
    """Load the resume state into ``trainer``; returns the iteration to continue from."""
    from srkit.console import warn
    from srkit.training.loop import restore
    from srkit.training.state import load_state

    state = load_state(state_file)
    changed = []
    for key in _FIXED_ON_RESUME:
        before, now = state["settings"].get(key), fixed[key]  # "scales": newer than some
        if isinstance(now, dict) and isinstance(before, dict):
            # a setting added to srkit after the state was saved counts at its default
            defaults = (Recipe(name="", iters=1).to_dict() if key == "recipe" else {})
            changed += [f"{key}.{k}" for k in sorted(set(before) | set(now))
                        if json.dumps(before.get(k, defaults.get(k))) != json.dumps(now.get(k))]
        elif json.dumps(before) != json.dumps(now):
            changed.append(key)
    if changed:
        raise SrkitError(f"{state_file}: cannot resume with different {', '.join(changed)} "
                         "(start a new run with --overwrite instead)")
    if state["iters"] != recipe.iters:
        warn(f"resuming a {state['iters']}-iteration run as a {recipe.iters}-iteration one: "
             "the learning-rate milestones of the original run are kept")
    if state["world_size"] != world_size:
        warn(f"resuming a {state['world_size']}-process run with {world_size} process(es): "
             "the sample order changes")
    return restore(state, trainer)


def _run(trainer, data, output: Path, state_file: Path, csv_file: Path, fixed: dict[str, Any],
         recipe: Recipe, context, start: int, workers: int, device: torch.device,
         intervals: tuple[int, int, int], channels_last: bool,
         callback: Callable[[int], None] | None) -> TrainResult:
    """This process's part of the run (:func:`~srkit.training.loop.run_loop`) and its result;
    ``intervals``: validation, save and log intervals."""
    from srkit.data import make_loader
    from srkit.training.loop import LoopHooks, LoopPlan, run_loop
    from srkit.training.validation import bicubic_psnr, validate

    validation, scale = data.validation, fixed["scale"]
    bicubic = bicubic_psnr(validation, scale) if validation and context.is_main else None
    val_every, save_every, log_every = intervals

    def batches(first: int):  # (lq, gt), or the five tensors of a dasr sample
        return make_loader(data.dataset, recipe.batch_size, first, max(0, recipe.iters - first),
                           workers, pin_memory=device.type == "cuda")

    def save(iteration: int) -> None:
        _save_model(output, trainer, fixed, recipe, data.description, iteration)
        from srkit.stages.curves import update_curves

        update_curves(csv_file)  # OUTPUT.curves.png; warns instead of failing

    from srkit.training.log import COLUMNS

    columns = ((*COLUMNS, "loss_params") if recipe.is_blind
               else (*COLUMNS, *_DOMAIN_ADAPT_COLUMNS) if recipe.is_domain_adapt
               else (*COLUMNS, *_REGION_COLUMNS) if recipe.uses_regions else COLUMNS)
    if recipe.uses_rank:
        columns = (*columns, "loss_rank")
    plan = LoopPlan(recipe.iters, state_file, csv_file, log_columns=columns,
                    save_every=save_every,
                    log_every=log_every, val_every=val_every, metric_names=("val_psnr_y",),
                    title="train-sr", device=device, is_main=context.is_main,
                    interruptible=not context.enabled,
                    run_info={"iters": recipe.iters, "world_size": context.world_size,
                              "settings": fixed})
    hooks = LoopHooks(
        save=save, status=lambda row: _status(row, bicubic), after_step=callback,
        validate=(lambda: {"val_psnr_y": validate(trainer.eval_model, validation, device,
                                                  channels_last)}) if validation else None)
    done = run_loop(trainer, batches, plan, hooks, start)
    busy = max(done.wait_seconds + done.step_seconds, 1e-12)
    final_psnr = next((r["val_psnr_y"] for r in reversed(done.history)
                       if r.get("val_psnr_y") is not None), None)
    if final_psnr is not None and bicubic is not None and final_psnr < bicubic:
        from srkit.console import warn

        warn(f"the model ends {bicubic - final_psnr:.2f} dB below bicubic upscaling on the "
             f"validation pairs (PSNR-Y {final_psnr:.2f} against {bicubic:.2f}): train longer "
             f"(--iters){_init_hint(scale, fixed['arch'])}")
    return TrainResult(
        output=output, resume_state=state_file, log=csv_file, arch=fixed["arch"],
        arch_args=fixed["arch_args"], scale=scale, recipe=recipe, start_iteration=start,
        iterations=done.iteration, seconds=done.seconds,
        iterations_per_second=(done.iteration - start) / busy,
        data_wait_fraction=done.wait_seconds / busy, val_psnr_y=final_psnr,
        bicubic_psnr_y=bicubic, world_size=context.world_size, rank=context.rank,
        data=data.description, history=done.history, scale_range=fixed.get("scales"))


def _save_model(output: Path, trainer, fixed: dict[str, Any], recipe: Recipe,
                training_data: str, iteration: int) -> None:
    """Write the model (EMA weights unless disabled) with srkit's metadata."""
    from srkit.io.checkpoints import save_model

    metadata = {"recipe": recipe.name, "iterations": str(iteration),
                "seed": str(fixed["seed"]),
                "weights": "ema" if trainer.ema is not None else "raw",
                "training_data": training_data,
                "recipe_settings": json.dumps(recipe.to_dict(), sort_keys=True)}
    if fixed.get("description"):
        metadata["description"] = fixed["description"]
    if fixed.get("scales"):  # an arbitrary-scale model: srkit upscale takes any -x for it
        metadata["scale_range"] = json.dumps(fixed["scales"])
    if fixed.get("blind"):
        metadata["blind_settings"] = json.dumps(fixed["blind"], sort_keys=True)
    if fixed.get("init"):
        init = dict(fixed["init"])
        metadata["total_iterations"] = str(init.pop("init_total_iterations") + iteration)
        metadata.update(init)
    save_model(output, trainer.eval_model, fixed["arch"], fixed["arch_args"], fixed["scale"],
               metadata)


def _init_hint(scale: int, arch: str) -> str:
    """", or start from a shipped model (--init general_xS)" when a compact model of that
    scale ships (the shipped models are compact nets)."""
    from srkit.modelzoo import WEIGHTS_DIR, default_model_name

    name = default_model_name(scale)
    if arch == "compact" and (WEIGHTS_DIR / f"{name}.safetensors").is_file():
        return f", or start from a shipped model (--init {name})"
    return ""


def _status(row: dict[str, Any], bicubic: float | None) -> str:
    parts = [f"loss {row.get('loss_total', float('nan')):.4g}"]
    if row.get("loss_discriminator") is not None:
        parts.append(f"D {row['loss_discriminator']:.3g}")
    if row.get("val_psnr_y") is not None:
        ref = f" (bicubic {bicubic:.2f})" if bicubic is not None else ""
        parts.append(f"val {row['val_psnr_y']:.2f} dB{ref}")
    busy = row["data_wait_s"] + row["step_s"]
    parts.append(f"wait {100 * row['data_wait_s'] / busy:.0f}%" if busy > 0 else "")
    return " · ".join(p for p in parts if p)
