"""RankSRGAN's ranker training (Zhang et al., ICCV 2019, §3.2; reference ``Ranker_model.py``
and ``train_Ranker.yml``): a Siamese pair of one :class:`~srkit.models.ranker.Ranker` on two
images of the same crop, a margin-ranking loss on their scores.

For a pair ``(x1, x2)`` with NIQE ``n1``, ``n2``, the label is ``y = +1`` when ``n1 ≥ n2``
and ``-1`` otherwise, and with scores ``s = clamp(R(x), -5, 5)``

    L = max(0, -y (s1 - s2) + margin),   margin 0.5

so the image with the *higher* NIQE (the worse one) must score higher by the margin. Adam
1e-4 with weight decay 1e-4, halved at 100k and 200k of 400k iterations, batch 16 (the
reference's; ``RANKER_DEFAULTS``). BatchNorm runs in training mode on each image of the pair
separately, as in the reference's two forward passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from srkit.training.ranker_settings import RANKER_DEFAULTS, RankerSettings

__all__ = ["RANKER_DEFAULTS", "RankerSettings", "RankerTrainer", "pair_accuracy"]


class RankerTrainer:
    """One ranker, Adam with multi-step decay; ``step((img1, img2, label))``."""

    def __init__(self, ranker: nn.Module, settings: RankerSettings, device: torch.device
                 ) -> None:
        self.ranker = ranker.to(device).train()
        self.settings = settings
        self.device = device
        self.loss = nn.MarginRankingLoss(margin=settings.margin)
        self.optimizer = torch.optim.Adam(self.ranker.parameters(), settings.learning_rate,
                                          betas=(settings.adam_beta1, settings.adam_beta2),
                                          weight_decay=settings.weight_decay)
        milestones = sorted({max(1, round(f * settings.iters)) for f in settings.lr_milestones})
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones,
                                                              settings.lr_gamma)

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        limit = self.settings.score_clamp
        return self.ranker(images).flatten().clamp(-limit, limit)

    def step(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        first, second, label = (t.to(self.device) for t in batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.scores(first), self.scores(second), label)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"total": loss.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {"ranker": self.ranker.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ranker.load_state_dict(state["ranker"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def pair_accuracy(scores: Sequence[Sequence[float]], niqe: Sequence[Sequence[float]],
                  min_gap: float) -> tuple[float, int]:
    """The share of a crop's image pairs (NIQE more than ``min_gap`` apart) that the scores
    order as NIQE does (higher score = higher NIQE), over all crops; and the pair count.
    NaN when there is no such pair; a tie of scores counts as wrong."""
    right = total = 0
    for crop_scores, crop_niqe in zip(scores, niqe, strict=True):
        for i in range(len(crop_niqe)):
            for j in range(i + 1, len(crop_niqe)):
                gap = crop_niqe[i] - crop_niqe[j]
                if abs(gap) <= min_gap:
                    continue
                total += 1
                right += int(np.sign(crop_scores[i] - crop_scores[j]) == np.sign(gap))
    return (right / total if total else float("nan")), total
