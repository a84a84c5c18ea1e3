"""Training recipes: every loss weight and rate of the papers' set-ups in one frozen dataclass.

``psnr``    ESRGAN's PSNR-oriented pre-training (Wang et al. 2018, §4.1): L1 only, Adam 2e-4,
            halved every 200k of 1M iterations.
``esrgan``  ESRGAN (§3, §4.1): L1 ×0.01, VGG19 conv5_4 *before* ReLU ×1, relativistic-average
            GAN ×0.005, the 128×128 VGG-style discriminator, Adam 1e-4 (β 0.9, 0.999), halved
            at 50k, 100k, 200k and 300k of 400k iterations.
``realsr``  RealSR (Ji et al. 2020, §3.3 and its ``train_kernel_noise.yml``): the same losses
            and weights with a 3-layer PatchGAN discriminator, Adam 1e-4 halved at 5k, 10k,
            20k and 30k of 60k iterations.
``dasr``    DASR's domain-distance-aware training (Wei et al. 2021, §3.2; reference
            ``train_DASR_auto_reproduce_aim2019.json``, :data:`srkit.training.dasr
            .DASR_SR_DEFAULTS`): per iteration ``batch_size`` DSN-generated pairs with their
            distance maps and as many real LR crops; L1 weighted by the map ×1, L1 on the
            low band ×1, perceptual ×1 (VGG19 conv5_4 in place of the reference's LPIPS),
            vanilla GAN ×0.005 on the high bands of SR(real LR) from a 2-layer PatchGAN
            with BatchNorm; Adam 1e-4 (β1 0.9) for both, halved at 35k, 80k, 100k and 150k
            of 350k iterations; 6 + 6 LR crops of HR size 128. Needs ``--real-lr``.
``blind``   A CSRGAN-style variant of SRGAN (docs/blind.md;
            :class:`srkit.training.blind.BlindTrainer`): pre-upsampled pairs of the blind
            degradation (``--hr --blind``) with their parameters; image MSE ×1, vanilla GAN
            ×1e-3 from the VGG-style discriminator (SRGAN's weight), and ``param_weight``
            (λ, 0.1) × MSE of the network's normalised (blur variance, noise level, factor)
            against the true ones (λ = 0 switches the head's loss off); Adam 1e-4 for both,
            ÷10 at half of 200k iterations (SRGAN's schedule), HR patches 128, batch 16.
``domain-adapt`` Wang et al. 2021's domain adaptation (:mod:`srkit.training.domain_adapt`,
            ``docs/domain-adaptation.md``): source pairs (a pair folder, or ``--hr`` with
            ``--pool`` / ``--synthetic``) and unpaired target LR (``--real-lr``) through a
            shared encoder (``--arch da-sr``); SR L1 ×1 + perceptual ×1 (when VGG19 weights
            are there) + RaGAN ×0.005 from a PatchGAN, feature alignment ×0.1, target
            restoration ×1, style ×0.005, identity ×0.5, cycle ×1; Adam 1e-4 for all,
            halved at 50 % and 75 % of 200k iterations, HR patches 128, batch 16 + 16.

``srobb``   SROBB (Rad et al. 2019; docs/srobb.md): MSE ×1, vanilla GAN ×1e-3 from the
            VGG-style discriminator (SRGAN's weight) and the targeted perceptual loss on the
            object / background / boundary labels of each HR crop — MSE of VGG19 relu2_2
            features on boundaries ×0.006, of relu4_3 features on the background ×0.006, no
            term on objects (object_weight 0); Adam 1e-4 for both, ÷10 at half of 200k
            iterations (SRGAN's schedule), HR patches 128, batch 16. The labels come from
            ``--region-labels DIR`` or are derived from the HR photos.

``ranksrgan`` RankSRGAN (Zhang et al. 2019; docs/ranksrgan.md; reference
            ``train_RankSRGAN.yml``): no pixel loss (weight 0), VGG19 conv5_4 before ReLU
            (L1) ×1, vanilla GAN ×0.005 from the VGG-style discriminator on 296×296 patches,
            and the rank-content loss ×0.03 · Σ_batch sigmoid(R(SR) − rank_bias) of a frozen
            ranker (``--ranker``, ``srkit train-ranker``); Adam 1e-4 (β 0.9, 0.99) for both,
            halved at 50k, 100k, 200k and 300k of 500k iterations, batch 8, an SRResNet
            generator by default.

``srntt``   SRNTT (Zhang et al. 2019; docs/srntt.md; reference ZZUTK/SRNTT ``main.py``):
            reference-based pairs (``--ref-dir``); reconstruction L1 ×1, perceptual MSE on
            VGG19 relu5_1 ×1e-4, texture loss (Gram matrices of the swapped relu1_1 / 2_1 /
            3_1 maps against the SR's, weighted by the matching scores) ×1e-4, WGAN-GP
            ×1e-6 with gradient penalty ×10 from a 3-layer PatchGAN critic (srkit's: the
            reference's critic is VGG-like on 160-pixel patches); L1 ×1 on the single-image
            head too (``content_weight``, srkit's, so the model works without a reference);
            Adam 1e-4 (β 0.9, 0.999) without decay, batch 9, HR patches 160 (LR 40), 72.5k
            iterations (55 epochs of CUFED's 11,871 pairs; the reference's first 5 with the
            reconstruction loss alone are not a separate stage here).

``crossnet`` CrossNet (Zheng et al., ECCV 2018, §3.3 and §4.2; docs/crossnet.md; reference
            htzheng/ECCV2018_CrossNet_RefSR): reference-based pairs (``--ref-dir``), trained
            end to end with the robust (Charbonnier) loss ρ(x) = sqrt(x² + 0.001²) on SR − HR
            alone (srkit averages it over the pixels; the paper sums, a constant factor);
            Adam 1e-4 (β 0.9, 0.999), ÷10 after 150k of 200k iterations, batch 2 (the
            reference README's); HR patches 256 (srkit's: the paper trains on whole 320×512
            light-field views), ``--arch crossnet``.

The first three use HR patches of 128 and batches of 16. Milestones are stored as fractions
of ``iters`` so that a shorter or longer run keeps the papers' schedule shape. The GAN
recipes start best from a ``psnr`` model (``--init``), as the papers do.

A TOML file (``--config``) and keyword overrides replace any field; unknown keys and values of
the wrong type raise :class:`SrkitError` naming them, never pass silently.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser as a package
    import tomli as tomllib

from srkit.errors import SrkitError

PIXEL_LOSSES = ("l1", "l2", "charbonnier")
GAN_KINDS = ("ragan", "vanilla", "lsgan", "hinge", "wgan-gp")  # wgan-gp: the srntt recipe
# "none" or a key of srkit.models.discriminators.DISCRIMINATORS.
DISCRIMINATOR_KINDS = ("none", "vgg", "patchgan", "unet")
AMP_MODES = ("none", "bf16", "fp16")
# Frequency separations of the dasr recipe (srkit.ops.wavelets.FREQ_KINDS; not imported
# from there so that reading a recipe does not import torch).
FREQ_KINDS = ("wavelet", "gaussian", "rgb")
# GAN losses the dasr objective implements (no relativistic variant in DASR).
DASR_GAN_KINDS = ("vanilla", "lsgan", "hinge")


@dataclass(frozen=True)
class Recipe:
    """Every weight and rate of an SR training run (see the module doc for the sources)."""

    name: str
    iters: int
    batch_size: int = 16
    patch_size: int = 128
    # Losses (a weight of 0 switches a term off).
    pixel_loss: str = "l1"
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.0
    perceptual_layer: str = "conv5_4"
    perceptual_before_activation: bool = True
    perceptual_criterion: str = "l1"
    gan_kind: str = "ragan"
    gan_weight: float = 0.0
    discriminator: str = "none"
    discriminator_num_feat: int = 64
    discriminator_num_layers: int = 3
    # Optimisation: Adam for the generator and the discriminator, multi-step decay.
    learning_rate: float = 2e-4
    discriminator_learning_rate: float = 1e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    weight_decay: float = 0.0
    lr_milestones: tuple[float, ...] = ()
    lr_gamma: float = 0.5
    # Exponential moving average of the generator's weights (0 disables it).
    ema_decay: float = 0.999
    # dasr recipe only: the frequency separation of the low-band L1 and of what the
    # discriminator sees, and the weight of the low-band L1.
    freq: str = "wavelet"
    low_weight: float = 0.0
    # blind recipe only: λ, the weight of the degradation-parameter MSE (0 = head off).
    param_weight: float = 0.0
    # domain-adapt recipe only (srkit.training.domain_adapt): feature alignment (least
    # squares, targets 0 / 0.5 / 1), target restoration ‖x_t − G_t(E(x_t))‖₁, style (LR
    # discriminator on G_t(E(x_s))), identity ‖G_t(E(x_s)) − x_s‖₁ and the cycle
    # ‖G_SR(E(G_t(E(x_s)))) − y_s‖₁; 0 switches a term off.
    align_weight: float = 0.0
    target_rec_weight: float = 0.0
    style_weight: float = 0.0
    identity_weight: float = 0.0
    cycle_weight: float = 0.0
    # SROBB's targeted perceptual loss (srkit.losses.TargetedPerceptualLoss, docs/srobb.md):
    # per region of the object / background / boundary label map a VGG19 layer and a weight
    # (0 switches that region's term off), with region_criterion on the features of the
    # masked images. Usable by the recipes trained by SRTrainer (psnr, esrgan, realsr, srobb).
    boundary_weight: float = 0.0
    background_weight: float = 0.0
    object_weight: float = 0.0
    boundary_layer: str = "relu2_2"
    background_layer: str = "relu4_3"
    object_layer: str = "relu5_4"
    region_criterion: str = "l2"
    # Labels derived from the HR photos when no --region-labels folder is given
    # (srkit.ops.regions.derive_region_labels), and the boundary's dilation radius (also
    # applied to the edges of a two-class label map).
    region_edge_threshold: float = 0.03
    region_texture_threshold: float = 0.02
    region_boundary_radius: int = 2
    # RankSRGAN's rank-content loss (srkit.training.ranksrgan): rank_weight × the batch's sum
    # of sigmoid(R(SR) − rank_bias) from a frozen ranker (higher score = worse NIQE); 0
    # switches it off. Usable by the recipes trained by SRTrainer.
    rank_weight: float = 0.0
    rank_bias: float = 0.0
    # SRNTT (srkit.training.srntt): the texture loss (score-weighted Gram matrices of the
    # swapped relu1_1 / relu2_1 / relu3_1 maps vs the SR's), the L1 on the single-image
    # head, and WGAN-GP's gradient-penalty weight (gan_kind "wgan-gp", srntt only).
    texture_weight: float = 0.0
    content_weight: float = 0.0
    gradient_penalty_weight: float = 10.0

    @property
    def uses_gan(self) -> bool:
        return self.gan_weight > 0 and self.discriminator != "none"

    @property
    def is_dasr(self) -> bool:
        """Domain-distance-aware training: generated pairs with maps plus real LR."""
        return self.name == "dasr"

    @property
    def is_blind(self) -> bool:
        """Pre-upsampled blind pairs with their degradation parameters."""
        return self.name == "blind"

    @property
    def is_domain_adapt(self) -> bool:
        """Source pairs plus unpaired target LR through a shared encoder (``da-sr``)."""
        return self.name == "domain-adapt"

    @property
    def uses_regions(self) -> bool:
        """SROBB's targeted perceptual loss is on: samples carry region labels."""
        return max(self.boundary_weight, self.background_weight, self.object_weight) > 0

    @property
    def uses_rank(self) -> bool:
        """RankSRGAN's rank-content loss is on: the run needs a ranker."""
        return self.rank_weight > 0

    @property
    def is_srntt(self) -> bool:
        """Reference-based pairs and the texture swap (``--ref-dir``, ``--arch srntt``)."""
        return self.name == "srntt"

    @property
    def is_crossnet(self) -> bool:
        """Reference-based pairs for CrossNet's flow and warping (``--arch crossnet``)."""
        return self.name == "crossnet"

    @property
    def is_reference_based(self) -> bool:
        """Each sample carries a reference crop (``--ref-dir``): srntt and crossnet."""
        return self.is_srntt or self.is_crossnet

    @property
    def uses_perceptual(self) -> bool:
        return self.perceptual_weight > 0

    def milestone_iterations(self) -> list[int]:
        """The iterations at which the learning rates are multiplied by ``lr_gamma``."""
        return sorted({max(1, round(f * self.iters)) for f in self.lr_milestones})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    "psnr": Recipe(name="psnr", iters=1_000_000, learning_rate=2e-4,
                   lr_milestones=(0.2, 0.4, 0.6, 0.8)),
    "esrgan": Recipe(name="esrgan", iters=400_000, pixel_weight=0.01, perceptual_weight=1.0,
                     gan_kind="ragan", gan_weight=0.005, discriminator="vgg",
                     learning_rate=1e-4, discriminator_learning_rate=1e-4,
                     lr_milestones=(0.125, 0.25, 0.5, 0.75)),
    "realsr": Recipe(name="realsr", iters=60_000, pixel_weight=0.01, perceptual_weight=1.0,
                     gan_kind="ragan", gan_weight=0.005, discriminator="patchgan",
                     learning_rate=1e-4, discriminator_learning_rate=1e-4,
                     lr_milestones=(5 / 60, 10 / 60, 20 / 60, 30 / 60)),
    # = srkit.training.dasr.DASR_SR_DEFAULTS (checked by the tests); batch_size counts the
    # generated pairs, the same number of real LR crops joins them (the reference's 6 + 6).
    "dasr": Recipe(name="dasr", iters=350_000, batch_size=6, patch_size=128,
                   pixel_weight=1.0, low_weight=1.0, perceptual_weight=1.0, gan_kind="vanilla",
                   gan_weight=0.005, discriminator="patchgan", discriminator_num_layers=2,
                   learning_rate=1e-4, discriminator_learning_rate=1e-4, adam_beta1=0.9,
                   lr_milestones=(35 / 350, 80 / 350, 100 / 350, 150 / 350), lr_gamma=0.5,
                   freq="wavelet"),
    "blind": Recipe(name="blind", iters=200_000, pixel_loss="l2", pixel_weight=1.0,
                    gan_kind="vanilla", gan_weight=1e-3, discriminator="vgg",
                    param_weight=0.1, learning_rate=1e-4, discriminator_learning_rate=1e-4,
                    lr_milestones=(0.5,), lr_gamma=0.1),
    # = srkit.training.domain_adapt.DOMAIN_ADAPT_DEFAULTS (checked by the tests): which values
    # are the paper's and which srkit chose is said there and in docs/domain-adaptation.md.
    "domain-adapt": Recipe(name="domain-adapt", iters=200_000, batch_size=16, patch_size=128,
                           pixel_weight=1.0, perceptual_weight=1.0, gan_kind="ragan",
                           gan_weight=0.005, discriminator="patchgan", align_weight=0.1,
                           target_rec_weight=1.0, style_weight=0.005, identity_weight=0.5,
                           cycle_weight=1.0, learning_rate=1e-4,
                           discriminator_learning_rate=1e-4, lr_milestones=(0.5, 0.75),
                           lr_gamma=0.5),
    # SROBB (Rad et al. 2019): MSE + adversarial + the targeted perceptual loss on an SRGAN
    # set-up; which values are the paper's and which srkit chose: docs/srobb.md.
    "srobb": Recipe(name="srobb", iters=200_000, batch_size=16, patch_size=128,
                    pixel_loss="l2", pixel_weight=1.0, perceptual_weight=0.0,
                    gan_kind="vanilla", gan_weight=1e-3, discriminator="vgg",
                    boundary_weight=0.006, background_weight=0.006, object_weight=0.0,
                    boundary_layer="relu2_2", background_layer="relu4_3",
                    object_layer="relu5_4", region_criterion="l2", learning_rate=1e-4,
                    discriminator_learning_rate=1e-4, lr_milestones=(0.5,), lr_gamma=0.1),
    # RankSRGAN (Zhang et al. 2019, reference train_RankSRGAN.yml): perceptual + GAN +
    # rank-content loss; which values are the paper's and which srkit chose: docs/ranksrgan.md.
    "ranksrgan": Recipe(name="ranksrgan", iters=500_000, batch_size=8, patch_size=296,
                        pixel_loss="l1", pixel_weight=0.0, perceptual_weight=1.0,
                        perceptual_layer="conv5_4", perceptual_before_activation=True,
                        perceptual_criterion="l1", gan_kind="vanilla", gan_weight=5e-3,
                        discriminator="vgg", rank_weight=0.03, rank_bias=0.0,
                        learning_rate=1e-4, discriminator_learning_rate=1e-4,
                        adam_beta2=0.99, lr_milestones=(0.1, 0.2, 0.4, 0.6), lr_gamma=0.5),
    # SRNTT (Zhang et al. 2019, reference ZZUTK/SRNTT main.py): which values are the
    # paper's and which srkit chose: docs/srntt.md.
    "srntt": Recipe(name="srntt", iters=72_500, batch_size=9, patch_size=160,
                    pixel_loss="l1", pixel_weight=1.0, perceptual_weight=1e-4,
                    perceptual_layer="relu5_1", perceptual_before_activation=False,
                    perceptual_criterion="l2", gan_kind="wgan-gp", gan_weight=1e-6,
                    discriminator="patchgan", texture_weight=1e-4, content_weight=1.0,
                    gradient_penalty_weight=10.0, learning_rate=1e-4,
                    discriminator_learning_rate=1e-4, adam_beta1=0.9, adam_beta2=0.999,
                    lr_milestones=()),
    # CrossNet (Zheng et al. 2018): the robust reconstruction loss alone; which values are
    # the paper's and which srkit chose: docs/crossnet.md.
    "crossnet": Recipe(name="crossnet", iters=200_000, batch_size=2, patch_size=256,
                       pixel_loss="charbonnier", pixel_weight=1.0, learning_rate=1e-4,
                       adam_beta1=0.9, adam_beta2=0.999, lr_milestones=(0.75,),
                       lr_gamma=0.1),
}

# Keys a config file may hold besides the Recipe fields.
CONFIG_EXTRA_KEYS = ("recipe", "arch", "arch_args")
REGION_CRITERIA = ("l1", "l2")


def _vgg19_layer_names() -> tuple[str, ...]:
    """= srkit.models.vgg.VGG19_LAYERS (checked by the tests), without importing torch."""
    names: list[str] = []
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        for index in range(1, convs + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        names.append(f"pool{block}")
    return tuple(names)


VGG19_LAYER_NAMES = _vgg19_layer_names()
_CHOICES = {"pixel_loss": PIXEL_LOSSES, "gan_kind": GAN_KINDS,
            "discriminator": DISCRIMINATOR_KINDS, "freq": FREQ_KINDS,
            "region_criterion": REGION_CRITERIA, "boundary_layer": VGG19_LAYER_NAMES,
            "background_layer": VGG19_LAYER_NAMES, "object_layer": VGG19_LAYER_NAMES}


def recipe_keys() -> list[str]:
    """The overridable fields of :class:`Recipe` (all but ``name``)."""
    return [f.name for f in fields(Recipe) if f.name != "name"]


def _coerce(key: str, value: Any, source: str) -> Any:
    """Check ``value`` against the type of Recipe field ``key``; ints are accepted as floats."""
    default = getattr(RECIPES["psnr"], key)
    kind = type(default)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is tuple:
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        value = tuple(float(v) for v in value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise SrkitError(f"{source}: {key} must be {kind.__name__}, got {value!r}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise SrkitError(f"{source}: {key} must be one of {', '.join(_CHOICES[key])}, "
                         f"not {value!r}")
    return value


def check_overrides(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Validate Recipe overrides: unknown keys and wrong types raise SrkitError."""
    unknown = sorted(set(values) - set(recipe_keys()))
    if unknown:
        raise SrkitError(f"{source}: unknown setting(s) {', '.join(unknown)} "
                         f"(known: {', '.join(recipe_keys())})")
    return {key: _coerce(key, value, source) for key, value in values.items()}


@dataclass(frozen=True)
class TrainConfig:
    """A parsed ``--config`` TOML file: base recipe, architecture and Recipe overrides."""

    recipe: str | None = None
    arch: str | None = None
    arch_args: dict[str, Any] | None = None
    overrides: dict[str, Any] | None = None


def read_config(path: str | Path) -> TrainConfig:
    """Parse a TOML training config. Top-level keys: ``recipe``, ``arch``, an ``[arch_args]``
    table and any Recipe field; anything else raises SrkitError naming it."""
    path = Path(path)
    if not path.is_file():
        raise SrkitError(f"{path}: no such config file")
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise SrkitError(f"{path}: not valid TOML ({error})") from None
    unknown = sorted(set(data) - set(recipe_keys()) - set(CONFIG_EXTRA_KEYS))
    if unknown:
        raise SrkitError(f"{path}: unknown key(s) {', '.join(unknown)} (known: "
                         f"{', '.join([*CONFIG_EXTRA_KEYS, *recipe_keys()])})")
    for key in ("recipe", "arch"):
        if key in data and not isinstance(data[key], str):
            raise SrkitError(f"{path}: {key} must be a string, got {data[key]!r}")
    if "arch_args" in data and not isinstance(data["arch_args"], dict):
        raise SrkitError(f"{path}: arch_args must be a table ([arch_args])")
    overrides = {k: v for k, v in data.items() if k not in CONFIG_EXTRA_KEYS}
    return TrainConfig(recipe=data.get("recipe"), arch=data.get("arch"),
                       arch_args=data.get("arch_args"),
                       overrides=check_overrides(overrides, str(path)))


def resolve_recipe(name: str, config: TrainConfig | None = None,
                   overrides: Mapping[str, Any] | None = None) -> Recipe:
    """Recipe ``name`` (or the config's ``recipe``), then the config's values, then
    ``overrides`` (e.g. from command-line options) on top."""
    if config is not None and config.recipe is not None:
        name = config.recipe
    if name not in RECIPES:
        raise SrkitError(f"unknown recipe {name!r} (choose from {', '.join(RECIPES)})")
    recipe = RECIPES[name]
    if config is not None and config.overrides:
        recipe = replace(recipe, **config.overrides)
    if overrides:
        recipe = replace(recipe, **check_overrides(overrides, "option"))
    _check_ranges(recipe)
    if recipe.gan_weight > 0 and recipe.discriminator == "none":
        raise SrkitError("gan_weight > 0 needs a discriminator (vgg, patchgan or unet)")
    if recipe.is_dasr:
        _check_dasr(recipe)
    if recipe.param_weight < 0:
        raise SrkitError(f"param_weight must be 0 or more, got {recipe.param_weight}")
    if recipe.param_weight > 0 and not recipe.is_blind:
        raise SrkitError("param_weight is the blind recipe's parameter loss (--recipe blind)")
    _check_domain_adapt(recipe)
    _check_srntt(recipe)
    if recipe.uses_regions and (recipe.is_dasr or recipe.is_blind or recipe.is_domain_adapt):
        raise SrkitError(f"the targeted perceptual loss (boundary_weight, background_weight, "
                         f"object_weight) applies to psnr, esrgan, realsr and srobb runs, not "
                         f"to {recipe.name}")
    if recipe.uses_rank and (recipe.is_dasr or recipe.is_blind or recipe.is_domain_adapt
                             or recipe.is_reference_based):
        raise SrkitError(f"the rank-content loss (rank_weight) applies to the recipes trained "
                         f"on image pairs (psnr, esrgan, realsr, srobb, ranksrgan), not to "
                         f"{recipe.name}")
    return recipe


_POSITIVE = ("learning_rate", "discriminator_learning_rate")
_NON_NEGATIVE = ("pixel_weight", "perceptual_weight", "gan_weight", "low_weight",
                 "weight_decay", "boundary_weight", "background_weight", "object_weight",
                 "region_edge_threshold", "region_texture_threshold",
                 "region_boundary_radius", "rank_weight", "texture_weight",
                 "content_weight", "gradient_penalty_weight")
_AT_LEAST_ONE = ("iters", "batch_size", "patch_size", "discriminator_num_feat",
                 "discriminator_num_layers")


def check_override_ranges(values: Mapping[str, Any], source: str) -> None:
    """Range-check recipe overrides on their own (before any work), whatever the recipe:
    SrkitError naming the first value out of range."""
    _check_ranges(replace(RECIPES["psnr"], **check_overrides(values, source)))


def _check_ranges(recipe: Recipe) -> None:
    """Every number of a recipe in its range, whichever way it was set (recipe, TOML, --set):
    rates positive and finite, weights 0 or more, Adam's betas and EMA in [0, 1), the decay
    factor in (0, 1], milestones fractions of the run in (0, 1)."""
    import math

    def number(key: str) -> float:
        value = getattr(recipe, key)
        if not math.isfinite(value):
            raise SrkitError(f"{key} must be a finite number, got {value}")
        return value

    for key in _AT_LEAST_ONE:
        if getattr(recipe, key) < 1:
            raise SrkitError(f"{key} must be at least 1, got {getattr(recipe, key)}")
    for key in _POSITIVE:
        if number(key) <= 0:
            raise SrkitError(f"{key} must be positive, got {getattr(recipe, key)}")
    for key in _NON_NEGATIVE:
        if number(key) < 0:
            raise SrkitError(f"{key} must be 0 or more, got {getattr(recipe, key)}")
    for key in ("adam_beta1", "adam_beta2", "ema_decay"):
        if not 0 <= number(key) < 1:
            raise SrkitError(f"{key} must lie in [0, 1), got {getattr(recipe, key)}")
    number("rank_bias")
    if not 0 < number("lr_gamma") <= 1:
        raise SrkitError(f"lr_gamma must lie in (0, 1], got {recipe.lr_gamma}")
    for milestone in recipe.lr_milestones:
        if not (isinstance(milestone, (int, float)) and 0 < milestone < 1):
            raise SrkitError(f"lr_milestones must be fractions of the run in (0, 1), got "
                             f"{list(recipe.lr_milestones)}")


_DOMAIN_ADAPT_WEIGHTS = ("align_weight", "target_rec_weight", "style_weight",
                         "identity_weight", "cycle_weight")


def _check_domain_adapt(recipe: Recipe) -> None:
    """The domain-adapt weights are ≥ 0 and belong to that recipe alone."""
    for key in _DOMAIN_ADAPT_WEIGHTS:
        value = getattr(recipe, key)
        if value < 0:
            raise SrkitError(f"{key} must be 0 or more, got {value}")
        if value > 0 and not recipe.is_domain_adapt:
            raise SrkitError(f"{key} is a loss of the domain-adapt recipe "
                             f"(--recipe domain-adapt), not of {recipe.name}")


def _check_srntt(recipe: Recipe) -> None:
    """The texture and single-image-head losses and WGAN-GP belong to the srntt recipe."""
    if recipe.is_srntt:
        return
    for key in ("texture_weight", "content_weight"):
        if getattr(recipe, key) > 0:
            raise SrkitError(f"{key} is a loss of the srntt recipe (--recipe srntt), not of "
                             f"{recipe.name}")
    if recipe.gan_kind == "wgan-gp" and recipe.uses_gan:
        raise SrkitError(f"gan_kind wgan-gp is implemented by the srntt recipe's trainer, not "
                         f"by {recipe.name} (use {', '.join(GAN_KINDS[:-1])})")


def _check_dasr(recipe: Recipe) -> None:
    """What the DASR objective implements: distance-weighted L1, a PatchGAN on the high
    bands, non-relativistic GAN losses."""
    if recipe.pixel_loss != "l1":
        raise SrkitError(f"the dasr recipe's pixel loss is the distance-weighted L1, not "
                         f"{recipe.pixel_loss}")
    if recipe.gan_kind not in DASR_GAN_KINDS:
        raise SrkitError(f"the dasr recipe's gan_kind must be one of "
                         f"{', '.join(DASR_GAN_KINDS)}, not {recipe.gan_kind!r}")
    if recipe.gan_weight > 0 and recipe.discriminator != "patchgan":
        raise SrkitError(f"the dasr recipe's discriminator sees frequency bands: it must be "
                         f"patchgan, not {recipe.discriminator!r}")


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is read as TOML (``1e-4``, ``true``,
    ``[0.5, 0.75]``) and as a bare string when that fails."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise SrkitError(f"--set {text!r}: expected KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value
