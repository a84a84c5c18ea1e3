"""``random``: Real-ESRGAN's second-order random pipeline (:mod:`srkit.ops.synthetic`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from srkit.degradations.base import Degradation, Degraded, check_hr
from srkit.errors import SrkitError

if TYPE_CHECKING:
    from srkit.ops.synthetic import SyntheticSettings


class RandomDegradation(Degradation):
    """Blur, resize, noise and JPEG drawn at random per image (``settings``: None → the
    Real-ESRGAN defaults). Not local: a crop is degraded on its own, with its own draws."""

    name = "random"

    def __init__(self, scale: int, settings: SyntheticSettings | None = None) -> None:
        from srkit.ops.synthetic import SyntheticSettings

        super().__init__(scale)
        self.synthetic = settings if settings is not None else SyntheticSettings()

    @classmethod
    def from_options(cls, scale, options):
        if options.jpeg_quality is not None:
            raise SrkitError("random mode has its own JPEG steps; drop the JPEG quality option")
        return cls(scale, options.synthetic)

    def settings(self) -> dict:
        return {**super().settings(), "synthetic": self.synthetic.to_dict()}

    def degrade(self, hr, rng, *, bit_depth=8):
        from srkit.ops.synthetic import random_degradation

        lr, record = random_degradation(check_hr(hr, self.scale), self.scale, rng,
                                        self.synthetic)
        return Degraded(lr, {"synthetic": record})

    def degrade_crop(self, hr_img, row, col, lr_shape, rng):
        return self.degrade(self.hr_crop(hr_img, row, col, lr_shape), rng).lr
