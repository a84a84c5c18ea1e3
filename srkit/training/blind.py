"""The ``blind`` recipe's step: SRGAN's losses plus the degradation-parameter head's MSE.

Batches are ``(lq, gt, params)`` (:class:`~srkit.patches.BlindPatches`): the pre-upsampled
degraded crop, its clean crop (same size) and the ``(B, 3)`` normalised parameters it was
made with (blur variance, noise level, factor in [0, 1]). The generator (``unet-blind``)
returns the restored image and its own estimate of those parameters; the loss is

    pixel_weight · MSE(SR, HR) + gan_weight · GAN(D(SR)) + param_weight · MSE(p̂, p)

with the discriminator step of :class:`~srkit.training.trainer.SRTrainer` unchanged. With
``param_weight = 0`` the head is not run at all: its parameters get no gradient and stay as
initialised (an image-only baseline in the same network).

The trade-off (docs/blind.md; measured in ``benchmarks/results/blind.md``): the head makes the
model usable blind — it says what degradation a photo has — but it competes with the image
for the shared encoder, and can cost image PSNR.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from srkit.errors import SrkitError
from srkit.training.trainer import SRTrainer


class BlindTrainer(SRTrainer):
    """:class:`SRTrainer` whose generator also predicts the degradation parameters.

    The generator must accept ``forward(x, with_params=True)`` and return ``(image,
    params)`` (:class:`~srkit.models.unet_blind.UNetBlind`).
    """

    def __init__(self, generator, recipe, device, **kwargs) -> None:
        if recipe.param_weight > 0 and not hasattr(generator, "denormalise"):
            raise SrkitError(f"the blind recipe's parameter loss needs a network with a "
                             f"parameter head (--arch unet-blind), not a "
                             f"{type(generator).__name__}")
        super().__init__(generator, recipe, device, **kwargs)

    def step(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """One iteration on ``(lq, gt, params)``; returns the detached loss terms
        (``total``, ``pixel``, ``params``, ``gan``, ``discriminator``)."""
        lq, gt, params = batch
        lq, gt = self._on_device(lq), self._on_device(gt)
        params = params.to(self.device, non_blocking=True).float()
        weight = self.recipe.param_weight

        def losses(logs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
            if weight > 0:
                sr, predicted = self.g_model(lq, with_params=True)
            else:
                sr, predicted = self.g_model(lq), None

            def with_params(total: torch.Tensor) -> torch.Tensor:
                if predicted is None:
                    return total
                logs["params"] = F.mse_loss(predicted.float(), params)
                return total + weight * logs["params"]

            return self._image_losses([sr], gt, logs, after_pixel=with_params)

        return self._update(gt, losses)
