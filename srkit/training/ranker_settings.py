"""The settings of a ranker run (:mod:`srkit.training.ranker`), without importing torch (the
CLI reads the defaults for its help)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RankerSettings:
    """Every number of a ranker run; the defaults are the reference's."""

    iters: int = 400_000
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    lr_milestones: tuple[float, ...] = (0.25, 0.5)
    lr_gamma: float = 0.5
    margin: float = 0.5
    score_clamp: float = 5.0
    # pairs whose NIQE differ by this much or less are not used (the reference keeps only
    # crops whose two best methods differ by more than 0.1), nor counted in the accuracy
    min_gap: float = 0.1


RANKER_DEFAULTS = RankerSettings()
