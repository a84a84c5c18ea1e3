"""RankSRGAN's generator objective (Zhang et al., ICCV 2019, §3.3; reference
``RankSRGAN_model.py``): SRTrainer's terms plus the rank-content loss of a frozen ranker,

    L_R = rank_weight · Σ_batch sigmoid(R(SR) − rank_bias)

summed over the batch as the reference does (so its weight per image is ``rank_weight``
whatever the batch size), with R trained by ``srkit train-ranker`` (a higher score means a
higher NIQE: the generator is pushed towards images the ranker places with the better-NIQE
methods). The ranker stays frozen and in eval mode (its BatchNorm uses the running statistics
learnt in its own training; the reference leaves it in training mode, which makes a score
depend on the rest of the batch); its gradients reach the generator only. It is not part of
the resume state: the run records the ranker file's hash and refuses to resume with another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from srkit.training.trainer import SRTrainer


class RankSRGANTrainer(SRTrainer):
    """:class:`SRTrainer` with the rank-content term ``rank`` (logged as ``loss_rank``)."""

    def __init__(self, generator: nn.Module, recipe, device: torch.device, *,
                 ranker: nn.Module, **options) -> None:
        super().__init__(generator, recipe, device, **options)
        self.ranker = ranker.to(device).eval().requires_grad_(False)

    def _image_losses(self, outputs: Sequence[torch.Tensor], gt: torch.Tensor,
                      logs: dict[str, torch.Tensor],
                      after_pixel: Callable[[torch.Tensor], torch.Tensor] | None = None,
                      labels: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        sr, total = super()._image_losses(outputs, gt, logs, after_pixel, labels)
        logs["rank"] = rank_content_loss(self.ranker, sr, self.recipe.rank_weight,
                                         self.recipe.rank_bias)
        return sr, total + logs["rank"]


def rank_content_loss(ranker: nn.Module, sr: torch.Tensor, weight: float, bias: float
                      ) -> torch.Tensor:
    """``weight · Σ sigmoid(ranker(sr) − bias)`` (float32)."""
    return weight * torch.sigmoid(ranker(sr.float()).float() - bias).sum()
