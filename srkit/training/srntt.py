"""SRNTT's training objective (Zhang et al., CVPR 2019, §3.3; reference ZZUTK/SRNTT).

Each batch is ``(lq, gt, ref)``; the texture swap of ``lq`` against ``ref`` runs first
(without gradients, :meth:`srkit.models.srntt.SRNTT.texture_maps`), then the generator's

    L = pixel_weight · ‖SR − HR‖₁ + perceptual_weight · MSE(φ_relu5_1(SR), φ_relu5_1(HR))
        + texture_weight · L_tex + gan_weight · L_adv + content_weight · ‖SR_single − HR‖₁

with the texture loss of eq. (5), the Gram matrices of the SR's VGG features and of the
swapped maps ``M_l``, both multiplied by the matching score map ``S*`` (at the layer's
resolution), with the reference's normalisation:

    L_tex = 1/3 Σ_{l ∈ relu1_1, relu2_1, relu3_1} mean((Gr(φ_l(SR)·S*) − Gr(M_l·S*))²)
            / (4 (C_l N_l)²)

(``N_l`` positions, ``C_l`` channels). The VGG layers are the network's own (the frozen
copy its swap matches on). The adversarial term is WGAN-GP (the reference's): critic
``mean D(SR) − mean D(HR) + λ · mean((‖∇D(x̂)‖₂ − 1)²)`` on random interpolations ``x̂``
(``gradient_penalty_weight`` λ = 10), generator ``−mean D(SR)``; another ``gan_kind`` uses
SRTrainer's losses. The last term, on the single-image head, is srkit's (so the model runs
without a reference). One process only (the swap is per image and outside DDP).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.errors import SrkitError
from srkit.models.srntt import SWAP_LAYERS
from srkit.training.trainer import SRTrainer

_FACTORS = {"relu3_1": 1, "relu2_1": 2, "relu1_1": 4}


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, C)`` Gram matrices ``F Fᵀ`` of ``(B, C, H, W)`` features (unnormalised)."""
    flat = features.flatten(2)
    return flat @ flat.transpose(1, 2)


def texture_loss(sr_features: dict[str, torch.Tensor], maps: dict[str, torch.Tensor],
                 scores: torch.Tensor) -> torch.Tensor:
    """The score-weighted Gram-matrix distance of the module doc (unweighted)."""
    total = scores.new_zeros(())
    for layer in SWAP_LAYERS:
        factor = _FACTORS[layer]
        weight = scores if factor == 1 else F.interpolate(scores, scale_factor=factor,
                                                          mode="nearest")
        sr, swapped = sr_features[layer].float(), maps[layer].float()
        channels, positions = sr.shape[1], sr.shape[2] * sr.shape[3]
        difference = gram_matrix(sr * weight) - gram_matrix(swapped * weight)
        total = total + difference.square().mean() / (4.0 * (channels * positions) ** 2)
    return total / len(SWAP_LAYERS)


class SRNTTTrainer(SRTrainer):
    """:class:`SRTrainer` for SRNTT: logs ``loss_texture`` and ``loss_content`` too."""

    def __init__(self, generator: nn.Module, recipe, device: torch.device, *,
                 vgg_weights: str | Path | None = None, **options) -> None:
        from srkit.models.vgg import default_vgg19_path

        if not getattr(generator, "reference_based", False):
            raise SrkitError(f"the srntt recipe trains a reference-based network (--arch "
                             f"srntt), not a {type(generator).__name__}")
        super().__init__(generator, recipe, device, vgg_weights=vgg_weights, **options)
        if self.context.enabled:
            raise SrkitError("the srntt recipe trains in one process (no torchrun)")
        # the swap's matching features, and the texture loss's, from the user's VGG19
        self.generator.vgg.load_torchvision_weights(
            Path(vgg_weights) if vgg_weights else default_vgg19_path())
        if self.ema is not None:
            self.ema.model.vgg.load_state_dict(self.generator.vgg.state_dict())
        # the gradient penalty's interpolation weights: a generator of its own, seeded from
        # the run's seed (train-sr seeds torch first) and kept in the resume state
        self.penalty_generator = torch.Generator().manual_seed(torch.initial_seed())

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "penalty_rng": self.penalty_generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.penalty_generator.set_state(state["penalty_rng"])

    def step(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        if len(batch) < 3:
            raise ValueError("the srntt recipe needs (lq, gt, ref) batches")
        lq, gt, ref = (self._on_device(t) for t in batch[:3])
        maps, scores = self.generator.texture_maps(lq, ref)

        def losses(logs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
            single, features = self.generator.content(lq)
            sr = self.generator.transfer(lq, features, maps)
            sr, total = self._image_losses([sr], gt, logs)
            recipe = self.recipe
            if recipe.texture_weight > 0:
                sr_features = self.generator.vgg(sr.float())
                logs["texture"] = recipe.texture_weight * texture_loss(sr_features, maps,
                                                                       scores)
                total = total + logs["texture"]
            if recipe.content_weight > 0:
                logs["content"] = recipe.content_weight * F.l1_loss(single.float(), gt)
                total = total + logs["content"]
            return sr, total

        logs = self._update(gt, losses)
        if self.ema is not None:  # the frozen VGG is copied, never averaged (rounding)
            self.ema.model.vgg.load_state_dict(self.generator.vgg.state_dict())
        return logs

    def _generator_gan_loss(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if self.recipe.gan_kind != "wgan-gp":
            return super()._generator_gan_loss(sr, gt)
        assert self.discriminator is not None
        return -self.recipe.gan_weight * self.discriminator(sr).float().mean()

    def _discriminator_loss(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if self.recipe.gan_kind != "wgan-gp":
            return super()._discriminator_loss(sr, gt)
        assert self.d_model is not None
        loss = self.d_model(sr).float().mean() - self.d_model(gt).float().mean()
        alpha = torch.rand(gt.shape[0], 1, 1, 1, generator=self.penalty_generator).to(gt)
        mixed = (alpha * gt + (1 - alpha) * sr).requires_grad_(True)
        (gradient,) = torch.autograd.grad(self.d_model(mixed).float().sum(), mixed,
                                          create_graph=True)
        slopes = gradient.flatten(1).norm(dim=1)
        return loss + self.recipe.gradient_penalty_weight * (slopes - 1).square().mean()
