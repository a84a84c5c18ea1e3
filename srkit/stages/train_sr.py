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
With the reference-based recipes every sample carries a crop of its HR image's reference
(``ref_dir``): ``srntt`` swaps textures from it (:mod:`srkit.training.srntt`), ``crossnet``
runs ``generator(lq, ref)`` (:mod:`srkit.training.crossnet`).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srkit.errors import SrkitError
from srkit.patches import POOL_SHARE
from srkit.scales import ScaleRange, check_scale_range_training
from srkit.training.checks import (
    BLIND_ARCH,
    DOMAIN_ADAPT_ARCH,
    REFERENCE_ARCHS,
    blind_arch_args,
    check_blind_inputs,
    check_dasr_inputs,
    check_discriminator_input,
    check_domain_adapt_inputs,
    check_rank_inputs,
    check_reference_inputs,
    check_vgg_weights,
    domain_adapt_perceptual,
    region_source,
)
from srkit.training.recipes import Recipe, TrainConfig, read_config, resolve_recipe
from srkit.training.start import (
    build_generator,
    init_hint,
    resolve_init,
    short_run_start,
)

DEFAULT_ARCH = "rrdbnet"
RANKSRGAN_ARCH = "srresnet"  # the paper's generator (16 residual blocks without BN)
# The domain-adapt recipe's own loss columns in the CSV log.
_DOMAIN_ADAPT_COLUMNS = ("loss_align", "loss_target_rec", "loss_style", "loss_identity",
                         "loss_cycle", "d_feature", "d_style")
# The targeted perceptual loss's terms in the CSV log (srobb, or any run with a region weight).
_REGION_COLUMNS = ("loss_boundary", "loss_background", "loss_object")
_SRNTT_COLUMNS = ("loss_texture", "loss_content")
# Settings that must not change between a run and its resumption.
_FIXED_ON_RESUME = ("arch", "arch_args", "scale", "scales", "seed", "recipe", "ranker",
                    "references")


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
             pool_share: float = POOL_SHARE, blind: bool = False, blind_settings: Any | None = None,
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
             ref_dir: str | Path | None = None,
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
    ``ref_dir``: one reference photo per HR image of the pair folder (matched by file stem)
    for the reference-based recipes: ``srntt`` (``--arch srntt``; docs/srntt.md) and
    ``crossnet`` (``--arch crossnet``; docs/crossnet.md, whose validation pairs use the
    reference of their stem where ``ref_dir`` has one).
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
        init, init_arch = resolve_init(init, scale)
    settings = _resolve_settings(arch, arch_args, recipe or ("blind" if blind else "psnr"),
                                 config, overrides, iters, batch_size, patch_size,
                                 learning_rate, ema_decay, scale,
                                 BLIND_ARCH if blind else DEFAULT_ARCH, init_arch)
    arch, arch_args, run_recipe = settings
    short_run = None
    if auto_init:
        short_run = short_run_start(arch, arch_args, run_recipe, scale, patch_size, overrides)
    if short_run is not None:
        init, run_recipe = short_run
    run_recipe = domain_adapt_perceptual(run_recipe, vgg_weights)
    if scales is not None:
        check_scale_range_training(scales, arch, run_recipe)
    if blind:
        arch_args = blind_arch_args(arch, arch_args, blind_settings)
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
    check_discriminator_input(run_recipe)
    check_dasr_inputs(run_recipe, real_lr, amp)
    check_domain_adapt_inputs(run_recipe, real_lr, amp, arch, scale)
    check_blind_inputs(run_recipe, blind, arch)
    if blind and scale != 1:
        raise SrkitError(f"--blind makes pre-upsampled pairs for a ×1 network, not ×{scale} "
                         "(srkit upscale -x S bicubic-upscales before running it)")
    check_reference_inputs(run_recipe, ref_dir, arch, scale, vgg_weights)
    if run_recipe.uses_perceptual or run_recipe.uses_regions:
        check_vgg_weights(vgg_weights, run_recipe)
    regions = region_source(run_recipe, region_labels)
    check_rank_inputs(run_recipe, ranker, scales is not None)

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
            scales=scales, batch_size=run_recipe.batch_size, references=ref_dir,
            references_hr_sized=run_recipe.is_crossnet)
        if run_recipe.is_crossnet and data.validation:
            from srkit.data import validation_references

            # CrossNet's flow runs on any image cheaply, so it validates with the references
            # (srntt's whole-image swap may not: it validates its single-image mode)
            data.validation = validation_references(data.validation, ref_dir)
        generator, init_metadata = build_generator(arch, arch_args, init)
        from srkit.training.blind import BlindTrainer
        from srkit.training.dasr import DasrTrainer
        from srkit.training.domain_adapt import DomainAdaptTrainer
        from srkit.training.trainer import ArbitraryScaleTrainer, SRTrainer, resolve_amp

        trainer_class = (ArbitraryScaleTrainer if scales is not None
                         else DasrTrainer if run_recipe.is_dasr
                         else BlindTrainer if run_recipe.is_blind
                         else DomainAdaptTrainer if run_recipe.is_domain_adapt else SRTrainer)
        if run_recipe.is_srntt:
            from srkit.training.srntt import SRNTTTrainer

            trainer_class = SRNTTTrainer
        if run_recipe.is_crossnet:
            from srkit.training.crossnet import CrossNetTrainer

            trainer_class = CrossNetTrainer
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
                 "ranker": ranker_hash,
                 "references": str(Path(ref_dir).resolve()) if ref_dir is not None else None}
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
    if run_recipe.is_reference_based:
        default_arch = REFERENCE_ARCHS[run_recipe.name]
    arch = arch or parsed.arch or (init_arch[0] if init_arch else None) or default_arch
    start = dict(init_arch[1]) if init_arch and init_arch[0] == arch else {}
    merged = {**start, **(parsed.arch_args or {}), **dict(arch_args or {})}
    return arch, arch_args_for_scale(arch, scale, **merged), run_recipe


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
    if recipe.is_srntt:
        columns = (*columns, *_SRNTT_COLUMNS)
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
             f"(--iters){init_hint(scale, fixed['arch'])}")
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
