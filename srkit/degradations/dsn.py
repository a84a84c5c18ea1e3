"""``dsn``: DASR (Wei et al. 2021, §3.2): a trained down-sampling network makes the LR, its
discriminator the domain-distance map (:func:`.domain_distance.domain_distance_map`).

torch is imported when a DSN is loaded or run, never on import of this module, so the other
kinds run without it. The DSN is deterministic: it draws nothing from the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from srkit.degradations.base import Degradation, Degraded, ImageTooSmall, with_context
from srkit.errors import SrkitError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from srkit.io.dsn_checkpoints import LoadedDsn


def dsn_degrade(hr_image: np.ndarray, dsn: nn.Module, *, tile: int = 0) -> np.ndarray:
    """Generate an LR image with a trained DSN.

    Args:
        hr_image: float ``(H, W, 3)`` in [0, 1]. It is cropped to multiples of the scale
            (bottom/right), so the result is ``(H // scale, W // scale, 3)``.
        dsn: a :class:`~srkit.models.dsn.DownSamplingNetwork` (put in eval mode here).
        tile: LR tile size for large images (0 = whole image at once); tiles overlap by the
            network's receptive radius so the result equals the untiled one.

    Returns:
        float32 ``(H // scale, W // scale, 3)`` in (0, 1).
    """
    import torch

    hr = np.asarray(hr_image, dtype=np.float32)
    if hr.ndim != 3 or hr.shape[2] != 3:
        raise ValueError(f"hr_image must be (H, W, 3), got {hr.shape}")
    scale = int(dsn.scale)
    out_h, out_w = hr.shape[0] // scale, hr.shape[1] // scale
    if out_h < 1 or out_w < 1:
        raise ValueError(f"image {hr.shape[:2]} is smaller than the scale {scale}")
    dsn.eval()
    param = next(dsn.parameters())
    with torch.no_grad():
        batch = torch.from_numpy(np.ascontiguousarray(hr[:out_h * scale, :out_w * scale]))
        batch = batch.permute(2, 0, 1)[None].to(param)
        if tile <= 0 or (out_h <= tile and out_w <= tile):
            lr = dsn(batch)
        else:
            lr = _tiled(batch, dsn, scale, tile)
        return lr[0].permute(1, 2, 0).float().cpu().numpy()


def _lr_margin(dsn: nn.Module, scale: int) -> int:
    """The network's receptive radius in LR pixels (rounded up)."""
    return -(-int(getattr(dsn, "receptive_radius", 32)) // scale)


def _tiled(batch: torch.Tensor, dsn: nn.Module, scale: int, tile: int) -> torch.Tensor:
    out_h, out_w = batch.shape[-2] // scale, batch.shape[-1] // scale
    margin = _lr_margin(dsn, scale)
    out = batch.new_empty(1, 3, out_h, out_w)
    for top in range(0, out_h, tile):
        for left in range(0, out_w, tile):
            bottom, right = min(top + tile, out_h), min(left + tile, out_w)
            t0, l0 = max(top - margin, 0), max(left - margin, 0)
            t1, l1 = min(bottom + margin, out_h), min(right + margin, out_w)
            piece = dsn(batch[..., t0 * scale:t1 * scale, l0 * scale:l1 * scale])
            out[..., top:bottom, left:right] = piece[..., top - t0:bottom - t0,
                                                     left - l0:right - l0]
    return out


@dataclass(frozen=True)
class DsnOutput:
    """A generated LR image and its domain-distance map."""

    lr: np.ndarray     # float32 (h, w, 3) in [0, 1]
    dist: np.ndarray   # float32 (h, w) in [0, 1]


def degrade_with_dsn(hr_image: np.ndarray, generator: nn.Module, discriminator: nn.Module,
                     freq: str, *, tile: int = 0, bit_depth: int = 8) -> DsnOutput:
    """:func:`dsn_degrade`, then :func:`domain_distance_map` of the LR image as it will be
    stored (rounded to ``bit_depth`` 8 or 16 bits; ``lr`` is returned rounded too)."""
    from srkit.degradations.domain_distance import domain_distance_map
    from srkit.io.images import to_uint

    lr = dsn_degrade(hr_image, generator, tile=tile)
    peak = 255.0 if bit_depth == 8 else 65535.0
    stored = (to_uint(lr, bit_depth) / peak).astype(np.float32)
    return DsnOutput(stored, domain_distance_map(discriminator, stored, freq))


class DsnDegradation(Degradation):
    """A trained DSN file (``srkit train-dsn``) run on ``device`` in LR tiles of ``lr_tile``
    pixels (0 = whole image). Pickled without its networks: a worker process loads its own
    (:meth:`start_worker`)."""

    name = "dsn"
    file_option = "dsn"

    def __init__(self, scale: int, path: str | Path, *, sha256: str, device: str = "cpu",
                 lr_tile: int = 0, loaded: LoadedDsn | None = None) -> None:
        super().__init__(scale)
        self.path = str(path)
        self.sha256 = sha256
        self.device = device
        self.lr_tile = lr_tile
        self.loaded = loaded

    @classmethod
    def from_options(cls, scale, options):
        """Load and check the DSN file (``srkit degrade --dsn``); ``tile`` in HR pixels."""
        if options.jpeg_quality is not None:
            raise SrkitError("dsn mode: the DSN reproduces the camera's compression itself; "
                             "drop the JPEG quality option")
        dsn, tile = options.dsn, options.tile
        if dsn is None:
            raise SrkitError("dsn mode needs a DSN file (--dsn DSN.safetensors, made by srkit "
                             "train-dsn)")
        from srkit.device import resolve_device
        from srkit.io.dsn_checkpoints import load_dsn
        from srkit.io.hashing import file_sha256

        target = str(resolve_device(options.device))
        loaded = load_dsn(dsn, target)
        if loaded.scale != scale:
            raise SrkitError(f"{dsn}: this DSN downscales x{loaded.scale}, not x{scale}; "
                             f"use -x {loaded.scale} or a x{scale} DSN")
        return cls(scale, dsn, sha256=file_sha256(dsn), device=target,
                   lr_tile=max(tile // scale, 1) if tile else 0, loaded=loaded)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "loaded": None}

    def start_worker(self) -> None:
        import torch

        from srkit.io.dsn_checkpoints import load_dsn

        torch.set_num_threads(1)  # one process per core: the workers share the machine
        self.loaded = load_dsn(self.path, self.device)

    def settings(self) -> dict:
        return {**super().settings(), "dsn_sha256": self.sha256}

    def files(self) -> dict:
        return {"pool": None, "dsn": self.path, "device": self.device}

    def degrade(self, hr, rng, *, bit_depth=8):
        import torch

        dsn = self.loaded
        assert dsn is not None
        try:
            out = degrade_with_dsn(hr, dsn.generator, dsn.discriminator, dsn.freq,
                                   tile=self.lr_tile, bit_depth=bit_depth)
        except torch.OutOfMemoryError:
            raise SrkitError(f"out of {self.device} memory running the DSN; use a smaller "
                             "--tile or --device cpu") from None
        except ValueError as error:  # too small for the discriminator
            raise ImageTooSmall(str(error)) from None
        record = {"dsn": self.path, "dsn_sha256": self.sha256, "freq": dsn.freq}
        return Degraded(out.lr, record, dist=out.dist)

    def degrade_crop(self, hr_img, row, col, lr_shape, rng):
        """The DSN's LR of the crop, with the network's receptive radius of context around it
        (not rounded to a bit depth)."""
        generator = self.loaded.generator
        return with_context(hr_img, self.scale, row, col, lr_shape,
                            _lr_margin(generator, self.scale),
                            lambda region: dsn_degrade(region, generator))
