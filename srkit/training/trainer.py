"""One optimisation step of SR training, and everything it needs to resume exactly.

:class:`SRTrainer` owns the generator (and its EMA copy), the optional discriminator, the
losses of a :class:`~srkit.training.recipes.Recipe`, two Adam optimisers with multi-step
decay and the AMP grad scaler. A GAN step follows ESRGAN / BasicSR's ``SRGANModel``: the
generator is updated with the discriminator frozen (pixel + perceptual + adversarial
losses), then the discriminator on the detached output. For the relativistic average GAN
the generator sees ``D(real).detach()``, the discriminator ``D(fake.detach())``.

A generator with ``intermediate_outputs`` (SRFBN) returns every recurrent step's image from
``forward(lq, all_steps=True)``; the pixel loss is their mean, the other terms use the last.

The ``dasr`` recipe's step is :class:`~srkit.training.dasr.DasrTrainer`, a subclass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from srkit.training.distributed import DistContext
from srkit.training.ema import ModelEMA
from srkit.training.recipes import Recipe

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def recipe_discriminator(recipe: Recipe, patch_size: int) -> nn.Module | None:
    """The recipe's image discriminator for HR patches of ``patch_size`` (None without a
    GAN, and for the dasr recipe, whose band discriminator belongs to its objective)."""
    if not recipe.uses_gan or recipe.is_dasr:
        return None
    from srkit.models.discriminators import (
        PatchDiscriminator,
        UNetDiscriminatorSN,
        VGGStyleDiscriminator,
    )

    if recipe.discriminator == "vgg":
        return VGGStyleDiscriminator(3, recipe.discriminator_num_feat, input_size=patch_size)
    if recipe.discriminator == "patchgan":
        return PatchDiscriminator(3, recipe.discriminator_num_feat,
                                  recipe.discriminator_num_layers)
    return UNetDiscriminatorSN(3, recipe.discriminator_num_feat, skip_connection=True)


def resolve_amp(amp: str, device: torch.device) -> str:
    """``amp`` if it helps on ``device``; mixed precision is a CUDA feature here, so elsewhere
    it is switched off with a warning rather than run slowly or unsupported."""
    from srkit.console import warn

    if amp == "none" or device.type == "cuda":
        if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            warn("this GPU has no bf16 support; training in fp32")
            return "none"
        return amp
    warn(f"--amp {amp} only applies to CUDA devices; training in fp32 on {device.type}")
    return "none"


class SRTrainer:
    """Generator, discriminator, losses and optimisers of one training run.

    Args:
        generator: the SR network (on ``device``; not yet wrapped).
        recipe: losses, weights and rates.
        device: where training runs.
        context: the process group position (DDP wraps the networks when it is enabled).
        patch_size: HR patch size (the VGG-style discriminator is built for it).
        vgg_weights: torchvision VGG19 weights for the perceptual loss.
        amp: ``none``, ``bf16`` or ``fp16`` (autocast; fp16 with a grad scaler).
        channels_last: run convolutions in NHWC memory format.
    """

    def __init__(self, generator: nn.Module, recipe: Recipe, device: torch.device, *,
                 context: DistContext | None = None, patch_size: int = 128,
                 vgg_weights: str | Path | None = None, amp: str = "none",
                 channels_last: bool = False) -> None:
        from srkit.losses import GANLoss, PerceptualLoss, PixelLoss, TargetedPerceptualLoss

        self.recipe = recipe
        self.device = device
        self.context = context or DistContext()
        self.amp = amp
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generator = generator.to(device, memory_format=self.memory_format).train()
        self.ema = ModelEMA(self.generator, recipe.ema_decay) if recipe.ema_decay > 0 else None
        self.discriminator = recipe_discriminator(recipe, patch_size)
        if self.discriminator is not None:
            self.discriminator.to(device, memory_format=self.memory_format).train()
        self.pixel_loss = PixelLoss(recipe.pixel_loss, recipe.pixel_weight).to(device)
        self.perceptual_loss = None
        if recipe.uses_perceptual:
            self.perceptual_loss = PerceptualLoss(
                vgg_weights, {recipe.perceptual_layer: 1.0},
                before_activation=recipe.perceptual_before_activation,
                criterion=recipe.perceptual_criterion, weight=recipe.perceptual_weight,
            ).to(device, memory_format=self.memory_format)
        self.targeted_loss = None
        if recipe.uses_regions:
            self.targeted_loss = TargetedPerceptualLoss(
                vgg_weights, {"boundary": recipe.boundary_layer,
                              "background": recipe.background_layer,
                              "object": recipe.object_layer},
                {"boundary": recipe.boundary_weight, "background": recipe.background_weight,
                 "object": recipe.object_weight}, criterion=recipe.region_criterion,
            ).to(device, memory_format=self.memory_format)
        # ragan and wgan-gp (the srntt trainer's) compute their own terms from the logits
        kind = "vanilla" if recipe.gan_kind in ("ragan", "wgan-gp") else recipe.gan_kind
        self.gan_loss = GANLoss(kind, recipe.gan_weight) if recipe.uses_gan else None

        self.g_model = self._wrap(self.generator)
        self.d_model = self._wrap(self.discriminator) if self.discriminator is not None else None
        betas = (recipe.adam_beta1, recipe.adam_beta2)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), recipe.learning_rate,
                                            betas=betas, weight_decay=recipe.weight_decay)
        milestones = recipe.milestone_iterations()
        self.g_scheduler = torch.optim.lr_scheduler.MultiStepLR(self.g_optimizer, milestones,
                                                                recipe.lr_gamma)
        self.d_optimizer = self.d_scheduler = None
        if self.discriminator is not None:
            self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(),
                                                recipe.discriminator_learning_rate, betas=betas,
                                                weight_decay=recipe.weight_decay)
            self.d_scheduler = torch.optim.lr_scheduler.MultiStepLR(self.d_optimizer,
                                                                    milestones, recipe.lr_gamma)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")

    def _wrap(self, module: nn.Module) -> nn.Module:
        if not self.context.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp == "none":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_AMP_DTYPES[self.amp])

    @property
    def eval_model(self) -> nn.Module:
        """The weights to validate and save: the EMA copy, or the raw generator without one."""
        return self.ema.model if self.ema is not None else self.generator

    @property
    def learning_rate(self) -> float:
        return float(self.g_optimizer.param_groups[0]["lr"])

    def step(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """One iteration on a batch ``(lq, gt)``: ``lq`` ``(B, 3, h, w)``, ``gt``
        ``(B, 3, sh, sw)`` in [0, 1]; returns the detached loss terms (``total``, ``pixel``,
        ``perceptual``, ``gan``, ``discriminator``). With the targeted perceptual loss the
        batch is ``(lq, gt, labels)`` (``labels`` ``(B, 1, sh, sw)``) and the region terms
        (``boundary``, ``background``, ``object``) are logged too."""
        lq, gt = (self._on_device(t) for t in batch[:2])
        labels = None
        if self.targeted_loss is not None:
            if len(batch) < 3:
                raise ValueError("the targeted perceptual loss needs (lq, gt, labels) batches")
            labels = batch[2].to(self.device, non_blocking=True)
        return self._update(gt, lambda logs: self._image_losses(self._generate(lq), gt, logs,
                                                                labels=labels))

    def _on_device(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device, non_blocking=True).contiguous(
            memory_format=self.memory_format)

    def _image_losses(self, outputs: Sequence[torch.Tensor], gt: torch.Tensor,
                      logs: dict[str, torch.Tensor],
                      after_pixel: Callable[[torch.Tensor], torch.Tensor] | None = None,
                      labels: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """The recipe's image terms into ``logs``: pixel (averaged over every output of a
        multi-output model, SRFBN §3.3), then ``after_pixel(total)`` (a subclass's own term),
        perceptual, the targeted perceptual terms on ``labels`` (when the recipe has them)
        and adversarial on the final output. Returns ``(sr, total)``."""
        sr = outputs[-1]
        total = logs["pixel"] = sum(self.pixel_loss(out.float(), gt)
                                    for out in outputs) / len(outputs)
        if after_pixel is not None:
            total = after_pixel(total)
        if self.perceptual_loss is not None:
            logs["perceptual"] = self.perceptual_loss(sr, gt)
            total = total + logs["perceptual"]
        if self.targeted_loss is not None:
            assert labels is not None
            for name, term in self.targeted_loss(sr, gt, labels).items():
                logs[name] = term
                total = total + term
        if self.discriminator is not None:
            logs["gan"] = self._generator_gan_loss(sr, gt)
            total = total + logs["gan"]
        return sr, total

    def _update(self, gt: torch.Tensor,
                generator_losses: Callable[[dict[str, torch.Tensor]],
                                           tuple[torch.Tensor, torch.Tensor]]
                ) -> dict[str, torch.Tensor]:
        """One optimisation step: the generator on ``generator_losses(logs) -> (sr, total)``
        (run under autocast with the discriminator frozen), then the discriminator on ``sr``
        against ``gt``, the schedules and EMA; returns the detached ``logs``."""
        logs: dict[str, torch.Tensor] = {}
        if self.discriminator is not None:
            self.discriminator.requires_grad_(False)
        self.g_optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            sr, total = generator_losses(logs)
        logs["total"] = total
        self.scaler.scale(total).backward()
        self.scaler.step(self.g_optimizer)

        if self.discriminator is not None:
            self.discriminator.requires_grad_(True)
            assert self.d_optimizer is not None
            self.d_optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                logs["discriminator"] = self._discriminator_loss(sr.detach(), gt)
            self.scaler.scale(logs["discriminator"]).backward()
            self.scaler.step(self.d_optimizer)
        self.scaler.update()

        self.g_scheduler.step()
        if self.d_scheduler is not None:
            self.d_scheduler.step()
        if self.ema is not None:
            self.ema.update(self.generator)
        return {name: value.detach().float() for name, value in logs.items()}

    def _generate(self, lq: torch.Tensor) -> list[torch.Tensor]:
        """The generator's outputs for ``lq``: ``[sr]``, or for a model that declares
        ``intermediate_outputs`` (SRFBN's recurrent steps) every one, the final one last.
        Perceptual and adversarial losses see only the final one."""
        if getattr(self.generator, "intermediate_outputs", False):
            return list(self.g_model(lq, all_steps=True))
        return [self.g_model(lq)]

    def _generator_gan_loss(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """Adversarial term of the generator (weighted). The unwrapped discriminator is used:
        its parameters are frozen here, so DDP has nothing to synchronise."""
        from srkit.losses import relativistic_average_losses

        assert self.discriminator is not None and self.gan_loss is not None
        fake_logits = self.discriminator(sr).float()
        if self.recipe.gan_kind == "ragan":
            real_logits = self.discriminator(gt).float().detach()
            generator_loss, _ = relativistic_average_losses(real_logits, fake_logits)
            return self.recipe.gan_weight * generator_loss
        return self.gan_loss(fake_logits, True, is_discriminator=False)

    def _discriminator_loss(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        from srkit.losses import relativistic_average_losses

        assert self.d_model is not None and self.gan_loss is not None
        real_logits = self.d_model(gt).float()
        fake_logits = self.d_model(sr).float()
        if self.recipe.gan_kind == "ragan":
            _, discriminator_loss = relativistic_average_losses(real_logits, fake_logits)
            return discriminator_loss
        return (self.gan_loss(real_logits, True, is_discriminator=True)
                + self.gan_loss(fake_logits, False, is_discriminator=True)) / 2

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes during training (tensors and plain values)."""
        state: dict[str, Any] = {
            "generator": self.generator.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "g_scheduler": self.g_scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.discriminator is not None:
            assert self.d_optimizer is not None and self.d_scheduler is not None
            state["discriminator"] = self.discriminator.state_dict()
            state["d_optimizer"] = self.d_optimizer.state_dict()
            state["d_scheduler"] = self.d_scheduler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.g_scheduler.load_state_dict(state["g_scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if self.discriminator is not None:
            assert self.d_optimizer is not None and self.d_scheduler is not None
            self.discriminator.load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
            self.d_scheduler.load_state_dict(state["d_scheduler"])


class ArbitraryScaleTrainer(SRTrainer):
    """:class:`SRTrainer` for an arbitrary-scale network (Meta-SR) on batches
    ``(lq, gt, scale)`` of one factor each (:class:`~srkit.patches.ScaleRangePatches`): the
    generator runs as ``generator(lq, scale)``; losses and updates are SRTrainer's."""

    def step(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        lq, gt = (self._on_device(t) for t in batch[:2])
        scales = batch[2]
        scale = float(scales[0])
        if not bool((scales == scales[0]).all()):
            raise ValueError("a batch must hold one factor")
        return self._update(gt, lambda logs: self._image_losses([self.g_model(lq, scale)],
                                                                gt, logs))
