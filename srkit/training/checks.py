"""The checks a train-sr run makes before any work: which inputs a recipe needs and refuses
(DASR's real LR and band discriminator, domain-adapt's target photos, the blind pairs, the
VGG weights of perceptual terms, RankSRGAN's ranker, SROBB's region labels, the references
of SRNTT and CrossNet), and the few
settings they imply (the domain-adapt perceptual term without VGG weights, unet-blind's head
ranges). Each raises :class:`~srkit.errors.SrkitError` with one line naming the option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srkit.errors import SrkitError
from srkit.training.recipes import Recipe

# The networks the blind and domain-adapt recipes train (train-sr's defaults for them).
BLIND_ARCH = "unet-blind"
DOMAIN_ADAPT_ARCH = "da-sr"
# unet-blind's arguments that say what its head's 0 and 1 mean, per BlindSettings field.
_HEAD_RANGES = {"blur_variance": "blur_variance_range", "noise_level": "noise_level_range",
                "factor": "factor_range"}


def check_discriminator_input(recipe: Recipe) -> None:
    size = recipe.patch_size
    if recipe.uses_gan and recipe.discriminator == "vgg" and size not in (128, 256, 296):
        raise SrkitError(f"the VGG-style discriminator takes 128, 256 or 296 pixel patches, not "
                         f"--patch-size {size} (or set discriminator = \"patchgan\")")
    if recipe.uses_gan and recipe.discriminator == "unet" and size % 8:
        raise SrkitError(f"the U-Net discriminator needs --patch-size divisible by 8, not {size}")


def check_dasr_inputs(recipe: Recipe, real_lr: str | Path | None, amp: str) -> None:
    """The dasr recipe needs the camera's real LR photos; other recipes do not use them."""
    if recipe.is_dasr:
        if real_lr is None:
            raise SrkitError("the dasr recipe needs --real-lr DIR: LR photos of the target "
                             "camera (the ones the DSN was trained on)")
        if amp == "fp16":
            raise SrkitError("the dasr recipe does not support --amp fp16 (use bf16 or none)")
        check_band_discriminator(recipe)
    elif real_lr is not None and not recipe.is_domain_adapt:
        raise SrkitError(f"--real-lr is used by the dasr recipe only, not by {recipe.name} — "
                         "or by domain-adapt, as its target domain (pick --recipe dasr or "
                         "domain-adapt)")


def check_domain_adapt_inputs(recipe: Recipe, real_lr: str | Path | None, amp: str,
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


def domain_adapt_perceptual(recipe: Recipe, vgg_weights: str | Path | None) -> Recipe:
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


def check_band_discriminator(recipe: Recipe) -> None:
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


def check_blind_inputs(recipe: Recipe, blind: bool, arch: str) -> None:
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


def blind_arch_args(arch: str, arch_args: dict[str, Any], settings) -> dict[str, Any]:
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


def check_vgg_weights(vgg_weights: str | Path | None, recipe: Recipe) -> None:
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


def check_rank_inputs(recipe: Recipe, ranker: str | Path | None, arbitrary_scale: bool
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


def region_source(recipe: Recipe, region_labels: str | Path | None):
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


SRNTT_ARCH = "srntt"
CROSSNET_ARCH = "crossnet"
# The network each reference-based recipe trains (train-sr's default for it).
REFERENCE_ARCHS = {"srntt": SRNTT_ARCH, "crossnet": CROSSNET_ARCH}


def check_reference_inputs(recipe: Recipe, ref_dir: str | Path | None, arch: str, scale: int,
                           vgg_weights: str | Path | None) -> None:
    """The reference-based recipes (srntt, crossnet) need ``--ref-dir`` and their network at
    ×4; ``--ref-dir`` belongs to them. srntt also needs VGG19 weights (its texture swap
    matches on VGG features)."""
    if not recipe.is_reference_based:
        if ref_dir is not None:
            raise SrkitError(f"--ref-dir gives the srntt and crossnet recipes their "
                             f"references; the {recipe.name} recipe takes none (use --recipe "
                             "srntt or crossnet)")
        return
    network = REFERENCE_ARCHS[recipe.name]
    if ref_dir is None:
        raise SrkitError(f"the {recipe.name} recipe needs --ref-dir DIR: one reference photo "
                         "per HR image, matched by file stem")
    if arch != network:
        raise SrkitError(f"the {recipe.name} recipe trains the reference-based network: "
                         f"--arch {network}, not {arch}")
    if scale != 4:
        raise SrkitError(f"{network} is a ×4 network, not ×{scale}")
    if not recipe.is_srntt:
        return
    from srkit.models.vgg import VGG19_URL, default_vgg19_path

    path = Path(vgg_weights) if vgg_weights is not None else default_vgg19_path()
    if not path.is_file():
        raise SrkitError(f"the srntt recipe's texture swap matches on VGG19 features and needs "
                         f"its weights, not found at {path}: download {VGG19_URL} there or "
                         "pass --vgg-weights FILE")
