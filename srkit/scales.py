"""Scale ranges: what ``train-sr -x 1.1-4`` trains an arbitrary-scale network (Meta-SR) on.

Meta-SR (Hu et al., CVPR 2019, §4.1) trains one network on the factors 1.1, 1.2, …, 4.0,
every batch at one factor drawn at random. :class:`ScaleRange` is that set (``LOW-HIGH`` in
steps of 0.1, both ends included); :func:`parse_scale` reads ``-x`` as an integer factor or
such a range. No torch here: the CLI parses options with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from srkit.errors import SrkitError

STEP = 0.1  # the paper's spacing of the training factors
MAX_SCALE = 16


@dataclass(frozen=True)
class ScaleRange:
    """The factors ``low, low + 0.1, …, high`` (multiples of 0.1, ``1 ≤ low < high``)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        for value in (self.low, self.high):
            if not math.isfinite(value) or abs(value * 10 - round(value * 10)) > 1e-6:
                raise SrkitError(f"scale range ends must be multiples of {STEP:g}, got "
                                 f"{value:g}")
        if not 1 <= self.low < self.high <= MAX_SCALE:
            raise SrkitError(f"a scale range LOW-HIGH needs 1 ≤ LOW < HIGH ≤ {MAX_SCALE}, "
                             f"got {self.text}")

    @property
    def values(self) -> list[float]:
        """Every training factor, ascending (rounded to 0.1, so 2.7 is the float 2.7)."""
        first, last = round(self.low * 10), round(self.high * 10)
        return [tenths / 10 for tenths in range(first, last + 1)]

    @property
    def text(self) -> str:
        """``1.1-4``: how ``-x`` takes it."""
        return f"{self.low:g}-{self.high:g}"

    @property
    def default_scale(self) -> int:
        """The integer factor the model runs at without ``-x`` and is validated at: the
        largest integer in the range, else the integer just above it."""
        whole = math.floor(self.high + 1e-9)
        return whole if whole >= self.low - 1e-9 else math.ceil(self.high)

    def to_list(self) -> list[float]:
        """``[low, high]``, as the model file's ``scale_range`` metadata holds it (JSON)."""
        return [float(self.low), float(self.high)]


def parse_scale(text: str) -> int | ScaleRange:
    """``-x`` of ``train-sr``: ``4`` (an integer factor) or ``1.1-4`` (a :class:`ScaleRange`).

    SrkitError with a one-line message for anything else (a single non-integer factor, a
    range out of order, ends off the 0.1 grid).
    """
    text = text.strip()
    if "-" in text[1:]:
        low_text, high_text = text.split("-", 1) if not text.startswith("-") else ("", text)
        try:
            low, high = float(low_text), float(high_text)
        except ValueError:
            raise SrkitError(f"{text}: a range is LOW-HIGH, e.g. 1.1-4") from None
        return ScaleRange(low, high)
    try:
        value = float(text)
    except ValueError:
        raise SrkitError(f"{text}: not a factor (an integer, or a range LOW-HIGH such as "
                         "1.1-4)") from None
    if not value.is_integer():
        raise SrkitError(f"{text}: train-sr trains at an integer factor or over a range "
                         f"(e.g. -x 1.1-4 with --arch metasr), not at ×{value:g} alone")
    if not 1 <= value <= MAX_SCALE:
        raise SrkitError(f"{text}: the factor must be 1 to {MAX_SCALE}")
    return int(value)


def check_scale_range_training(scales: ScaleRange, arch: str, recipe) -> None:
    """What a scale range trains: an arbitrary-scale network (metasr) with a recipe whose
    losses take any patch size and whose data is plain pairs (SrkitError otherwise)."""
    if arch != "metasr":
        raise SrkitError(f"-x {scales.text} (a scale range) trains an arbitrary-scale network: "
                         f"--arch metasr, not {arch}")
    if recipe.is_dasr or recipe.is_blind or recipe.is_domain_adapt:
        raise SrkitError(f"-x {scales.text}: the {recipe.name} recipe trains at one integer "
                         "factor (use --recipe psnr)")
    if recipe.uses_gan:
        raise SrkitError(f"-x {scales.text}: the {recipe.name} recipe's discriminator takes "
                         "one patch size, and a scale range changes it every batch (use "
                         "--recipe psnr, or --gan-weight 0)")
