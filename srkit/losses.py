"""Training losses for SR networks: pixel, VGG perceptual (whole-image and SROBB's
region-targeted) and adversarial.

Every loss is an ``nn.Module`` taking ``weight`` (a multiplier applied to the returned
value) and ``reduction`` (``mean``, ``sum`` or, where it makes sense, ``none``), as in
BasicSR. Images are ``(B, C, H, W)`` in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from srkit.errors import SrkitError

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, allowed: tuple[str, ...] = REDUCTIONS) -> str:
    if reduction not in allowed:
        raise SrkitError(f"reduction must be one of {', '.join(allowed)}, not {reduction!r}")
    return reduction


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


class PixelLoss(nn.Module):
    """L1, L2 (squared error) or Charbonnier ``sqrt(d² + eps²)`` between two images.

    ``forward(pred, target, weight_map=None)``: ``weight_map`` ``(B, 1, H, W)`` (or
    ``(B, C, H, W)``) multiplies the per-pixel loss before the reduction; with ``mean`` the
    result is ``mean(weight_map * loss)`` over all elements, as DASR weights its L1 by the
    domain-distance map (not normalised by the map's sum).

    Args:
        kind: ``l1``, ``l2`` or ``charbonnier`` (LapSRN's robust L1, eps = 1e-3).
        weight: multiplier of the result.
        reduction: ``mean``, ``sum`` or ``none`` (per-element map).
        eps: Charbonnier's smoothing constant.
    """

    KINDS = ("l1", "l2", "charbonnier")

    def __init__(self, kind: str = "l1", weight: float = 1.0, reduction: str = "mean",
                 eps: float = 1e-3) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise SrkitError(f"pixel loss kind must be one of {', '.join(self.KINDS)}, "
                             f"not {kind!r}")
        self.kind = kind
        self.weight = float(weight)
        self.reduction = _check_reduction(reduction)
        self.eps = float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight_map: torch.Tensor | None = None) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        diff = pred - target
        if self.kind == "l1":
            values = diff.abs()
        elif self.kind == "l2":
            values = diff.square()
        else:
            values = torch.sqrt(diff.square() + self.eps**2)
        if weight_map is not None:
            if weight_map.ndim != 4 or weight_map.shape[0] != pred.shape[0] \
                    or weight_map.shape[-2:] != pred.shape[-2:] \
                    or weight_map.shape[1] not in (1, pred.shape[1]):
                raise ValueError(f"weight_map must be (B, 1, H, W) matching pred "
                                 f"{tuple(pred.shape)}, got {tuple(weight_map.shape)}")
            values = values * weight_map
        return self.weight * _reduce(values, self.reduction)


class PerceptualLoss(nn.Module):
    """Distance between VGG19 feature maps of prediction and target (SRGAN, ESRGAN).

    ``loss = weight * Σ_layer layer_weights[layer] * criterion(φ(pred), φ(target))``; the
    target's features are detached. ESRGAN and RealSR use ``{'conv5_4': 1.0}`` before
    activation with L1.

    Args:
        weights_path: torchvision's ``vgg19-dcbb9e9d.pth`` (default: torch hub's cache,
            ``torch.hub.get_dir()/checkpoints/``); a missing file raises SrkitError naming
            the path and where to get it.
        layer_weights: conv layer names (``conv1_2`` ... ``conv5_4``) → weight. ``relu*``
            names are taken as given.
        before_activation: take ``convX_Y`` outputs before their ReLU (ESRGAN §3.3); when
            False the ReLU outputs are used.
        use_input_norm: ImageNet mean/std normalisation of the [0, 1] inputs.
        criterion: ``l1`` or ``l2`` (mean squared error).
        weight: multiplier of the result.
        reduction: ``mean`` or ``sum`` per layer.
    """

    def __init__(self, weights_path: str | Path | None = None,
                 layer_weights: Mapping[str, float] | None = None,
                 before_activation: bool = True, use_input_norm: bool = True,
                 criterion: str = "l1", weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        from srkit.models.vgg import VGG19FeatureExtractor, default_vgg19_path

        layer_weights = dict(layer_weights if layer_weights is not None else {"conv5_4": 1.0})
        if not layer_weights:
            raise SrkitError("perceptual loss needs at least one VGG layer")
        if criterion not in ("l1", "l2"):
            raise SrkitError(f"perceptual criterion must be l1 or l2, not {criterion!r}")
        self.layer_map = {name: (name if before_activation or not name.startswith("conv")
                                 else "relu" + name[len("conv"):]) for name in layer_weights}
        self.layer_weights = layer_weights
        self.criterion = criterion
        self.weight = float(weight)
        self.reduction = _check_reduction(reduction, ("mean", "sum"))
        self.vgg = VGG19FeatureExtractor(list(self.layer_map.values()),
                                         use_input_norm=use_input_norm)
        self.weights_path = Path(weights_path) if weights_path else default_vgg19_path()
        self.vgg.load_torchvision_weights(self.weights_path)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred_feats = self.vgg(pred)
        with torch.no_grad():
            target_feats = self.vgg(target.detach())
        distance = F.l1_loss if self.criterion == "l1" else F.mse_loss
        total = pred.new_zeros(())
        for name, layer_weight in self.layer_weights.items():
            layer = self.layer_map[name]
            total = total + layer_weight * distance(pred_feats[layer], target_feats[layer],
                                                    reduction=self.reduction)
        return self.weight * total


class TargetedPerceptualLoss(nn.Module):
    """SROBB's targeted perceptual loss (Rad et al. 2019, §3.2): one VGG19 feature distance
    per region of an object / background / boundary label map.

    ``forward(pred, target, labels)`` returns the weighted terms ``{region: value}`` of the
    regions whose weight is above 0; ``labels`` is ``(B, 1, H, W)`` (or ``(B, H, W)``)
    integer with 0 background, 1 object, 2 boundary (:mod:`srkit.ops.regions`). As in the
    paper, the region's binary mask multiplies both *images* before VGG19, and the term of
    region ``r`` is ``weight_r · criterion(φ_r(M_r ∘ pred), φ_r(M_r ∘ target))`` (mean over
    the feature map), so pixels outside a region do not reach its term at all. The target's
    features are detached.

    Args:
        weights_path: torchvision's ``vgg19-dcbb9e9d.pth`` (a missing file raises
            SrkitError, as for :class:`PerceptualLoss`).
        region_layers: region name (``background``, ``object``, ``boundary``) → VGG19 layer
            name, taken as given (``relu2_2``, ``conv5_4``, ...).
        region_weights: region name → weight; regions left out or at 0 are not computed.
        criterion: ``l1`` or ``l2`` (mean squared error).
        use_input_norm: ImageNet normalisation of the [0, 1] images (after masking).
    """

    def __init__(self, weights_path: str | Path | None, region_layers: Mapping[str, str],
                 region_weights: Mapping[str, float], criterion: str = "l2",
                 use_input_norm: bool = True) -> None:
        super().__init__()
        from srkit.models.vgg import VGG19FeatureExtractor, default_vgg19_path
        from srkit.ops.regions import REGION_NAMES

        unknown = sorted((set(region_layers) | set(region_weights)) - set(REGION_NAMES))
        if unknown:
            raise SrkitError(f"unknown region(s) {', '.join(unknown)} (use "
                             f"{', '.join(REGION_NAMES)})")
        if criterion not in ("l1", "l2"):
            raise SrkitError(f"targeted perceptual criterion must be l1 or l2, not "
                             f"{criterion!r}")
        self.region_weights = {name: float(region_weights[name]) for name in REGION_NAMES
                               if region_weights.get(name, 0.0) > 0}
        if not self.region_weights:
            raise SrkitError("the targeted perceptual loss needs a region weight above 0")
        missing = [name for name in self.region_weights if name not in region_layers]
        if missing:
            raise SrkitError(f"no VGG19 layer for the {', '.join(missing)} region")
        self.region_layers = {name: region_layers[name] for name in self.region_weights}
        self.region_codes = {name: REGION_NAMES.index(name) for name in self.region_weights}
        self.criterion = criterion
        self.vgg = VGG19FeatureExtractor(list(self.region_layers.values()),
                                         use_input_norm=use_input_norm)
        self.weights_path = Path(weights_path) if weights_path else default_vgg19_path()
        self.vgg.load_torchvision_weights(self.weights_path)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                labels: torch.Tensor) -> dict[str, torch.Tensor]:
        if labels.ndim == 3:
            labels = labels[:, None]
        if labels.shape[0] != pred.shape[0] or labels.shape[-2:] != pred.shape[-2:] \
                or labels.shape[1] != 1:
            raise ValueError(f"labels must be (B, 1, H, W) matching pred {tuple(pred.shape)}, "
                             f"got {tuple(labels.shape)}")
        names = list(self.region_weights)
        masks = torch.cat([(labels == self.region_codes[name]).to(pred.dtype)
                           for name in names])  # (R·B, 1, H, W), region-major
        pred_feats = self.vgg(pred.repeat(len(names), 1, 1, 1) * masks)
        with torch.no_grad():
            target_feats = self.vgg(target.detach().repeat(len(names), 1, 1, 1) * masks)
        distance = F.l1_loss if self.criterion == "l1" else F.mse_loss
        batch = pred.shape[0]
        terms = {}
        for index, name in enumerate(names):
            layer, rows = self.region_layers[name], slice(index * batch, (index + 1) * batch)
            terms[name] = self.region_weights[name] * distance(
                pred_feats[layer][rows].float(), target_feats[layer][rows].float())
        return terms


def _gan_criterion(kind: str, logits: torch.Tensor, real: bool,
                   reduction: str = "mean") -> torch.Tensor:
    """The per-kind loss of ``logits`` against the label real/fake (discriminator form).

    vanilla: binary cross-entropy with logits (labels 1/0); lsgan: squared error to 1/0;
    hinge: ``relu(1 - x)`` for real, ``relu(1 + x)`` for fake.
    """
    if kind == "vanilla":
        target = torch.full_like(logits, 1.0 if real else 0.0)
        return F.binary_cross_entropy_with_logits(logits, target, reduction=reduction)
    if kind == "lsgan":
        return _reduce((logits - (1.0 if real else 0.0)).square(), reduction)
    return _reduce(F.relu(1.0 - logits) if real else F.relu(1.0 + logits), reduction)


class GANLoss(nn.Module):
    """Adversarial loss on discriminator logits, in vanilla / LSGAN / hinge form.

    ``forward(logits, target_is_real, is_discriminator=False)``. As in BasicSR, ``weight``
    scales the generator's loss only; the discriminator's loss is returned unweighted (its
    optimiser has nothing else to balance). The generator's hinge loss is ``-mean(logits)``.

    For ESRGAN's relativistic average GAN use :meth:`relativistic`.
    """

    KINDS = ("vanilla", "lsgan", "hinge")

    def __init__(self, kind: str = "vanilla", weight: float = 1.0,
                 reduction: str = "mean") -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise SrkitError(f"GAN loss kind must be one of {', '.join(self.KINDS)}, "
                             f"not {kind!r}")
        self.kind = kind
        self.weight = float(weight)
        self.reduction = _check_reduction(reduction, ("mean", "sum"))

    def forward(self, logits: torch.Tensor, target_is_real: bool,
                is_discriminator: bool = False) -> torch.Tensor:
        if self.kind == "hinge" and not is_discriminator:
            if not target_is_real:
                raise ValueError("the generator's hinge loss only has a 'real' target")
            loss = -_reduce(logits, self.reduction)
        else:
            loss = _gan_criterion(self.kind, logits, target_is_real, self.reduction)
        return loss if is_discriminator else self.weight * loss

    def relativistic(self, real_logits: torch.Tensor, fake_logits: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight × generator loss, discriminator loss) of the relativistic average GAN."""
        generator_loss, discriminator_loss = relativistic_average_losses(
            real_logits, fake_logits, self.kind)
        return self.weight * generator_loss, discriminator_loss


def relativistic_average_losses(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                                kind: str = "vanilla") -> tuple[torch.Tensor, torch.Tensor]:
    """ESRGAN's relativistic average GAN (Jolicoeur-Martineau 2018; ESRGAN §3.2, eq. 1-2).

    With ``D_Ra(a, b) = C(a) - mean(C(b))``:
    discriminator loss ``(ℓ(D_Ra(real, fake), real) + ℓ(D_Ra(fake, real), fake)) / 2``,
    generator loss the same with the labels swapped (both terms carry gradient to the
    generator). ℓ is the ``kind`` criterion (``vanilla`` = BCE as in ESRGAN; ``lsgan``,
    ``hinge`` give RaLSGAN / RaHinge); halves as in ESRGAN's code.

    Returns ``(generator_loss, discriminator_loss)``, unweighted. In a training step pass
    ``real_logits.detach()`` for the generator's update and logits of the *detached* fake
    images for the discriminator's update, so each loss only trains its own network.
    """
    if kind not in GANLoss.KINDS:
        raise SrkitError(f"GAN loss kind must be one of {', '.join(GANLoss.KINDS)}")
    if kind == "lsgan":
        # RaLSGAN targets are +1 / -1 (Jolicoeur-Martineau 2018, eq. for RaLSGAN).
        def criterion(x: torch.Tensor, real: bool) -> torch.Tensor:
            return (x - (1.0 if real else -1.0)).square().mean()
    else:
        def criterion(x: torch.Tensor, real: bool) -> torch.Tensor:
            return _gan_criterion(kind, x, real)
    real_vs_fake = real_logits - fake_logits.mean()
    fake_vs_real = fake_logits - real_logits.mean()
    discriminator_loss = (criterion(real_vs_fake, True) + criterion(fake_vs_real, False)) / 2
    generator_loss = (criterion(real_vs_fake, False) + criterion(fake_vs_real, True)) / 2
    return generator_loss, discriminator_loss
