"""The ``domain-adapt`` recipe's step: Wang et al., "Unsupervised Real-World Super-Resolution:
A Domain Adaptation Perspective" (ICCV 2021).

Source domain: LR/HR pairs ``(x_s, y_s)`` that the user can make; target domain: the real LR
photos ``x_t``, unpaired. The SR network (``da-sr``, :class:`~srkit.models.da_sr
.DomainAdaptSR`) is a shared encoder E and an SR decoder G_SR; training adds G_t
(:class:`~srkit.models.da_sr.LrDecoder`, features → target-style LR) and three
discriminators. With ``x_st = G_t(E(x_s))`` (the source image re-rendered in the target
style) the encoder and decoders minimise

    pixel_weight · ‖G_SR(E(x_s)) − y_s‖₁ + perceptual + gan_weight · GAN_SR(G_SR(E(x_s)))
  + align_weight · [(D_f(E(x_s)) − ½)² + (D_f(E(x_t)) − ½)²]          (feature alignment)
  + target_rec_weight · ‖x_t − G_t(E(x_t))‖₁                         (target restoration)
  + style_weight · (D_lr(x_st) − 1)²                                 (style)
  + identity_weight · ‖x_st − x_s‖₁                                  (identity)
  + cycle_weight · ‖G_SR(E(x_st)) − y_s‖₁                            (cycle)

and the discriminators, each after that step on detached inputs:

* D_f (a PatchGAN on E's features, least squares): ``D_f(E(x_s))² + (D_f(E(x_t)) − 1)²`` —
  source → 0, target → 1, while E is trained so that both look ½ (:func:`alignment_losses`);
* D_lr (a PatchGAN on LR images, least squares): real ``x_t`` → 1, ``x_st`` → 0;
* D_SR: the recipe's image discriminator on SR against ``y_s`` (:class:`~srkit.training
  .trainer.SRTrainer`'s, RaGAN by default).

The alignment pushes the feature distributions of both domains together; the restoration,
style, identity and cycle terms keep the aligned features close to the target domain (G_t
must be able to render target photos from them, source features must decode to
target-looking LR that still carries the source content, and that re-rendered source must
still super-resolve to ``y_s``). Every term with weight 0 is skipped (its discriminator is
not trained); all networks are built whatever the weights, so runs that differ only in a
weight start from the same initialisation.

What srkit chose where the paper is silent or could not be checked here is listed in
``docs/domain-adaptation.md`` (the identity term's form, the GAN kinds, D_f and D_lr, the
weights). fp16 AMP and several processes are not supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.errors import SrkitError
from srkit.training.distributed import DistContext
from srkit.training.recipes import Recipe
from srkit.training.trainer import SRTrainer

# The recipe's settings (= RECIPES["domain-adapt"], checked by the tests). Paper-like: the SR
# losses' form (L1 + perceptual + GAN on source pairs) and every term's form; srkit's choice:
# the weights, the GAN kinds, schedule and sizes (see docs/domain-adaptation.md).
DOMAIN_ADAPT_DEFAULTS: dict[str, Any] = {
    "pixel_weight": 1.0, "perceptual_weight": 1.0, "gan_weight": 0.005, "gan_kind": "ragan",
    "discriminator": "patchgan", "align_weight": 0.1, "target_rec_weight": 1.0,
    "style_weight": 0.005, "identity_weight": 0.5, "cycle_weight": 1.0,
    "learning_rate": 1e-4, "discriminator_learning_rate": 1e-4, "lr_milestones": (0.5, 0.75),
    "lr_gamma": 0.5, "iters": 200_000, "batch_size": 16, "patch_size": 128,
}
# The least-squares targets of the feature alignment (the paper's formulas).
SOURCE_TARGET, TARGET_TARGET, ALIGNED_TARGET = 0.0, 1.0, 0.5
# Stride-2 layers of D_f and D_lr: 1 and 2 keep a score map on LR crops of 16 pixels or more.
FEATURE_D_LAYERS, STYLE_D_LAYERS = 1, 2


def alignment_losses(d_source: torch.Tensor, d_target: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The least-squares feature alignment from D_f's outputs on source and target features.

    Returns ``(discriminator_loss, encoder_loss)``: ``mean((d_s − 0)²) + mean((d_t − 1)²)``
    (D_f learns source → 0, target → 1) and ``mean((d_s − ½)²) + mean((d_t − ½)²)`` (E makes
    both look ½, i.e. D_f cannot tell them apart).
    """
    discriminator_loss = ((d_source - SOURCE_TARGET).square().mean()
                          + (d_target - TARGET_TARGET).square().mean())
    encoder_loss = ((d_source - ALIGNED_TARGET).square().mean()
                    + (d_target - ALIGNED_TARGET).square().mean())
    return discriminator_loss, encoder_loss


def feature_statistics_distance(source: torch.Tensor, target: torch.Tensor) -> float:
    """How far apart two feature batches ``(B, C, H, W)`` are: the mean over channels of
    ``|μ_s − μ_t| + |σ_s − σ_t|`` (per-channel mean and standard deviation over batch and
    positions). A diagnostic for tests and benchmarks, not a loss."""
    def stats(feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = feat.detach().float().transpose(0, 1).reshape(feat.shape[1], -1)
        return flat.mean(1), flat.std(1)

    mean_s, std_s = stats(source)
    mean_t, std_t = stats(target)
    return float(((mean_s - mean_t).abs() + (std_s - std_t).abs()).mean())


class DomainAdaptTrainer(SRTrainer):
    """The ``domain-adapt`` recipe: :class:`SRTrainer`'s generator (a ``da-sr``: E + G_SR, with
    its EMA, optimiser, schedule, perceptual loss and SR discriminator), plus G_t, D_f and
    D_lr with their optimisers (G_t at the generator's rate, D_f and D_lr at the
    discriminator's, all on the same multi-step schedule). The saved model is the generator
    alone; the rest lives in the resume state (``state["domain_adapt"]``).
    """

    def __init__(self, generator: nn.Module, recipe: Recipe, device: torch.device, *,
                 context: DistContext | None = None, patch_size: int = 128,
                 vgg_weights: str | Path | None = None, amp: str = "none",
                 channels_last: bool = False) -> None:
        from srkit.losses import GANLoss
        from srkit.models.da_sr import LrDecoder
        from srkit.models.discriminators import PatchDiscriminator

        if not (hasattr(generator, "encode") and hasattr(generator, "decode")):
            raise SrkitError(f"the domain-adapt recipe trains an encoder and an SR decoder "
                             f"(--arch da-sr), not a {type(generator).__name__}")
        if amp == "fp16":
            raise SrkitError("the domain-adapt recipe does not support --amp fp16 (use bf16)")
        if context is not None and context.enabled:
            raise SrkitError("the domain-adapt recipe runs in one process (not under torchrun)")
        super().__init__(generator, recipe, device, context=context, patch_size=patch_size,
                         vgg_weights=vgg_weights, amp=amp, channels_last=channels_last)
        num_feat = int(generator.num_feat)
        self.target_decoder = LrDecoder(num_feat).to(device).train()
        self.feature_discriminator = PatchDiscriminator(
            num_feat, recipe.discriminator_num_feat, FEATURE_D_LAYERS, norm="none").to(device)
        self.style_discriminator = PatchDiscriminator(
            3, recipe.discriminator_num_feat, STYLE_D_LAYERS, norm="none").to(device)
        self.style_gan = GANLoss("lsgan", recipe.style_weight)
        betas = (recipe.adam_beta1, recipe.adam_beta2)
        self.t_optimizer = torch.optim.Adam(self.target_decoder.parameters(),
                                            recipe.learning_rate, betas=betas,
                                            weight_decay=recipe.weight_decay)
        self.domain_d_optimizer = torch.optim.Adam(
            [*self.feature_discriminator.parameters(), *self.style_discriminator.parameters()],
            recipe.discriminator_learning_rate, betas=betas, weight_decay=recipe.weight_decay)
        milestones = recipe.milestone_iterations()
        self.t_scheduler = torch.optim.lr_scheduler.MultiStepLR(self.t_optimizer, milestones,
                                                                recipe.lr_gamma)
        self.domain_d_scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.domain_d_optimizer, milestones, recipe.lr_gamma)

    def step(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """One iteration on ``(lq, gt, target_lq)``: source LR ``(B, 3, h, w)`` with HR ``gt``
        ``(B, 3, sh, sw)`` and target LR crops ``(B', 3, h, w)``, in [0, 1]. Returns the
        detached loss terms (``total``, ``pixel``, ``perceptual``, ``gan``, ``align``,
        ``target_rec``, ``style``, ``identity``, ``cycle``, ``discriminator``, ``d_feature``,
        ``d_style``; the weighted values, each only where its weight is > 0)."""
        recipe = self.recipe
        lq, gt, target_lq = (t.to(self.device, non_blocking=True).contiguous(
            memory_format=self.memory_format) for t in batch)
        encoder = self.generator
        discriminators = [d for d in (self.discriminator, self.feature_discriminator,
                                      self.style_discriminator) if d is not None]
        for d in discriminators:
            d.requires_grad_(False)
        needs_st = (recipe.style_weight > 0 or recipe.identity_weight > 0
                    or recipe.cycle_weight > 0)
        needs_target = recipe.align_weight > 0 or recipe.target_rec_weight > 0
        logs: dict[str, torch.Tensor] = {}
        self.g_optimizer.zero_grad(set_to_none=True)
        self.t_optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            feat_s = encoder.encode(lq)
            sr, total = self._image_losses([encoder.decode(feat_s).float()], gt, logs)
            feat_t = encoder.encode(target_lq) if needs_target else None
            if recipe.align_weight > 0:
                assert feat_t is not None
                _, encoder_loss = alignment_losses(self.feature_discriminator(feat_s).float(),
                                                   self.feature_discriminator(feat_t).float())
                logs["align"] = recipe.align_weight * encoder_loss
                total = total + logs["align"]
            if recipe.target_rec_weight > 0:
                assert feat_t is not None
                restored = self.target_decoder(feat_t).float()
                logs["target_rec"] = recipe.target_rec_weight * F.l1_loss(restored,
                                                                          target_lq.float())
                total = total + logs["target_rec"]
            source_to_target = self.target_decoder(feat_s).float() if needs_st else None
            if recipe.style_weight > 0:
                assert source_to_target is not None
                logs["style"] = self.style_gan(self.style_discriminator(source_to_target),
                                               True, is_discriminator=False)
                total = total + logs["style"]
            if recipe.identity_weight > 0:
                assert source_to_target is not None
                logs["identity"] = recipe.identity_weight * F.l1_loss(source_to_target,
                                                                      lq.float())
                total = total + logs["identity"]
            if recipe.cycle_weight > 0:
                assert source_to_target is not None
                sr_cycle = encoder(source_to_target).float()
                logs["cycle"] = recipe.cycle_weight * F.l1_loss(sr_cycle, gt)
                total = total + logs["cycle"]
        logs["total"] = total
        total.backward()
        self.g_optimizer.step()
        self.t_optimizer.step()
        for d in discriminators:
            d.requires_grad_(True)
        if self.discriminator is not None:
            assert self.d_optimizer is not None
            self.d_optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                logs["discriminator"] = self._discriminator_loss(sr.detach(), gt)
            logs["discriminator"].backward()
            self.d_optimizer.step()
        stepped = self._domain_discriminator_step(feat_s, feat_t, source_to_target, target_lq,
                                                  logs)
        self.g_scheduler.step()
        self.t_scheduler.step()
        if self.d_scheduler is not None:
            self.d_scheduler.step()
        if stepped:  # no D_f and no D_lr (both weights 0): nothing to schedule
            self.domain_d_scheduler.step()
        if self.ema is not None:
            self.ema.update(self.generator)
        return {name: value.detach().float() for name, value in logs.items()}

    def _domain_discriminator_step(self, feat_s: torch.Tensor, feat_t: torch.Tensor | None,
                                   source_to_target: torch.Tensor | None,
                                   target_lq: torch.Tensor,
                                   logs: dict[str, torch.Tensor]) -> bool:
        """D_f on the detached features (source → 0, target → 1) and D_lr on the detached
        ``x_st`` (fake) against ``x_t`` (real), least squares, one Adam step for both;
        returns whether there was one (False when both terms are off)."""
        recipe = self.recipe
        loss = None
        self.domain_d_optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            if recipe.align_weight > 0:
                assert feat_t is not None
                d_loss, _ = alignment_losses(
                    self.feature_discriminator(feat_s.detach()).float(),
                    self.feature_discriminator(feat_t.detach()).float())
                logs["d_feature"] = d_loss
                loss = d_loss
            if recipe.style_weight > 0:
                assert source_to_target is not None
                real = self.style_discriminator(target_lq).float()
                fake = self.style_discriminator(source_to_target.detach()).float()
                style_loss = (self.style_gan(real, True, is_discriminator=True)
                              + self.style_gan(fake, False, is_discriminator=True)) / 2
                logs["d_style"] = style_loss
                loss = style_loss if loss is None else loss + style_loss
        if loss is None:
            return False
        loss.backward()
        self.domain_d_optimizer.step()
        return True

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["domain_adapt"] = {
            "target_decoder": self.target_decoder.state_dict(),
            "feature_discriminator": self.feature_discriminator.state_dict(),
            "style_discriminator": self.style_discriminator.state_dict(),
            "t_optimizer": self.t_optimizer.state_dict(),
            "t_scheduler": self.t_scheduler.state_dict(),
            "d_optimizer": self.domain_d_optimizer.state_dict(),
            "d_scheduler": self.domain_d_scheduler.state_dict(),
        }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        own = state["domain_adapt"]
        self.target_decoder.load_state_dict(own["target_decoder"])
        self.feature_discriminator.load_state_dict(own["feature_discriminator"])
        self.style_discriminator.load_state_dict(own["style_discriminator"])
        self.t_optimizer.load_state_dict(own["t_optimizer"])
        self.t_scheduler.load_state_dict(own["t_scheduler"])
        self.domain_d_optimizer.load_state_dict(own["d_optimizer"])
        self.domain_d_scheduler.load_state_dict(own["d_scheduler"])
