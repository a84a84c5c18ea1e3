"""CrossNet's training objective (Zheng et al., ECCV 2018, §3.3; reference
htzheng/ECCV2018_CrossNet_RefSR ``train_multi_warping.py``).

The network is trained end to end, flow estimator included, with one term: the robust
(Charbonnier) reconstruction loss

    L = pixel_weight · mean ρ(SR − HR),   ρ(x) = sqrt(x² + ε²),  ε = 0.001

on ``SR = generator(lq, ref)``. The paper and the reference sum ρ over the pixels of each
image and divide by the batch; srkit averages over pixels too (a constant factor, which Adam's
steps do not see). No flow supervision, no perceptual or adversarial term (the recipe's
``--set`` can add SRTrainer's, as for any recipe). Batches are ``(lq, gt, ref)``
(:class:`~srkit.patches_ref.ReferencePairPatches`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from srkit.errors import SrkitError
from srkit.training.trainer import SRTrainer


class CrossNetTrainer(SRTrainer):
    """:class:`SRTrainer` whose generator runs as ``generator(lq, ref)``."""

    def __init__(self, generator: nn.Module, recipe, device: torch.device, **options) -> None:
        if not getattr(generator, "reference_based", False):
            raise SrkitError(f"the crossnet recipe trains a reference-based network (--arch "
                             f"crossnet), not a {type(generator).__name__}")
        super().__init__(generator, recipe, device, **options)

    def step(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """One iteration on ``(lq, gt, ref)``: ``lq`` ``(B, 3, h, w)``, ``gt`` and ``ref``
        ``(B, 3, 4h, 4w)`` in [0, 1]; returns the detached loss terms."""
        if len(batch) < 3:
            raise ValueError("the crossnet recipe needs (lq, gt, ref) batches")
        lq, gt, ref = (self._on_device(t) for t in batch[:3])
        return self._update(gt, lambda logs: self._image_losses([self.g_model(lq, ref)], gt,
                                                                logs))
