"""How an LR image is made from an HR image: one class per kind of degradation.

=========== =========================================== ==========================
mode        class                                       module
=========== =========================================== ==========================
``pool``    :class:`~.pool.PoolDegradation`             RealSR: pool kernel + noise
``bicubic`` :class:`~.bicubic.BicubicDegradation`       MATLAB ``imresize``
``random``  :class:`~.synthetic.RandomDegradation`      Real-ESRGAN's pipeline
``dsn``     :class:`~.dsn.DsnDegradation`               DASR's down-sampling network
``blind``   :class:`~.blind.BlindDegradation`           blur, ×1–3, noise, re-upscale
=========== =========================================== ==========================

Each object degrades a whole image (``degrade``, what ``srkit degrade`` writes) and a training
crop (``degrade_crop``, what ``srkit train-sr --pool/--synthetic`` makes on the fly) with the
same pixels where the method is local, and says what its settings are (``settings``, hashed
into the pair folder's settings id). :func:`build` turns a mode name and the command's options
into one of them, once per run. A new kind (a compression stage, a blind degradation) is a
subclass of :class:`~.base.Degradation` and a line in :data:`DEGRADATIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from srkit.degradations.base import Degradation, Degraded, ImageTooSmall
from srkit.degradations.bicubic import BicubicDegradation
from srkit.degradations.blind import BlindDegradation, BlindSettings
from srkit.degradations.dsn import DsnDegradation
from srkit.degradations.pool import PoolDegradation
from srkit.degradations.synthetic import RandomDegradation
from srkit.errors import SrkitError

if TYPE_CHECKING:
    from srkit.ops.synthetic import SyntheticSettings

DEGRADATIONS: dict[str, type[Degradation]] = {
    "pool": PoolDegradation, "bicubic": BicubicDegradation, "random": RandomDegradation,
    "dsn": DsnDegradation, "blind": BlindDegradation,
}
MODES = tuple(DEGRADATIONS)

__all__ = ["DEGRADATIONS", "MODES", "BicubicDegradation", "BlindDegradation", "BlindSettings",
           "Degradation", "Degraded",
           "DsnDegradation", "ImageTooSmall", "Options", "PoolDegradation",
           "RandomDegradation", "build", "choose_mode", "degrade_image",
           "kind_of"]


@dataclass(frozen=True)
class Options:
    """The degradation options of ``srkit degrade`` (each kind uses its own)."""

    pool: str | Path | None = None      # pool: the pool file
    use_kernels: bool = True            # pool: blur with pool kernels (else bicubic)
    use_noise: bool = True              # pool: add pool noise
    jpeg_quality: int | None = None     # pool, bicubic: JPEG-compress the LR
    camera: bool = True                 # pool: its brightness-matched noise and its JPEG
    synthetic: SyntheticSettings | None = None  # random: the pipeline's settings
    dsn: str | Path | None = None       # dsn: the DSN file
    device: str = "auto"                # dsn: where the DSN runs
    tile: int = 512                     # dsn: tile side in HR pixels (0 = whole image)
    blind: BlindSettings | None = None  # blind: the ranges (None: factor [1, scale])


def kind_of(mode: str) -> type[Degradation]:
    """The class of ``mode``; a one-line error naming the modes for an unknown one."""
    if mode not in DEGRADATIONS:
        raise SrkitError(f"unknown mode {mode!r} (use one of: {', '.join(MODES)})")
    return DEGRADATIONS[mode]


def build(mode: str, scale: int, options: Options) -> Degradation:
    """The degradation of ``mode`` at ``scale`` (files read and checked here)."""
    kind = kind_of(mode)
    for option, what in (("pool", "a pool"), ("dsn", "a DSN")):
        if getattr(options, option) is not None and kind.file_option != option:
            raise SrkitError(f"{what} is only used in {option} mode, not in {mode} mode")
    return kind.from_options(scale, options)


def choose_mode(mode: str | None, *, pool_given: bool, dsn_given: bool,
                synthetic_given: bool) -> str:
    """The mode ``srkit degrade`` runs: ``--dsn`` makes dsn mode, ``--pool`` alone pool mode."""
    if dsn_given:
        if pool_given:
            raise SrkitError("--dsn and --pool are two different degradations; give one")
        if mode not in (None, "dsn"):
            raise SrkitError(f"--dsn makes dsn mode; drop --mode {mode}")
        mode = "dsn"
    if mode is None:
        if not pool_given:
            raise SrkitError("give --pool POOL.h5 (RealSR degradation), --dsn DSN.safetensors "
                             "(DASR) or --mode bicubic|random")
        mode = "pool"  # other names are checked by build()
    if synthetic_given and DEGRADATIONS.get(mode) is not RandomDegradation:
        raise SrkitError("--synthetic-set changes the random pipeline: add --mode random")
    return mode


def degrade_image(hr: np.ndarray, scale: int, mode: str, *, kernel: np.ndarray | None = None,
                  noise_patch: np.ndarray | None = None, rng: np.random.Generator,
                  settings: SyntheticSettings | None = None,
                  jpeg_quality: int | None = None) -> tuple[np.ndarray, dict]:
    """Make the LR image of one HR image ``(H, W, 3)`` in [0, 1], ``H, W`` multiples of scale,
    with the pool's choices given rather than drawn (a pure function of its arguments).

    ``pool`` mode uses ``kernel`` (``(k, k)``, centred; None → MATLAB bicubic) and
    ``noise_patch`` (``(p, p, 3)`` zero mean; None → no noise). ``random`` mode uses
    ``settings`` (:class:`~srkit.ops.synthetic.SyntheticSettings`, None → Real-ESRGAN's).
    ``jpeg_quality`` JPEG-compresses the LR at the end (pool and bicubic modes).
    Returns float32 LR ``(H/scale, W/scale, 3)`` in [0, 1] and a JSON-able record.
    """
    if mode == "pool":
        return PoolDegradation(scale, None, None, jpeg_quality=jpeg_quality).apply(
            hr, kernel, noise_patch, rng)
    if mode == "random" and jpeg_quality is not None:
        raise ValueError("random mode has its own JPEG steps; jpeg_quality must be None")
    if mode == "random":
        degradation: Degradation = RandomDegradation(scale, settings)
    elif mode == "bicubic":
        degradation = BicubicDegradation(scale, jpeg_quality)
    elif mode == "dsn":  # needs the networks and also returns a map
        raise ValueError("dsn mode: use srkit.degradations.dsn.DsnDegradation")
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    out = degradation.degrade(hr, rng)
    return out.lr, out.record
