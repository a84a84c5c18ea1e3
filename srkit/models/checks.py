"""Argument checks the network constructors share (one-line errors naming the network)."""

from __future__ import annotations

from srkit.errors import SrkitError


def require_positive(arch: str, **values: int) -> None:
    """Every named value must be at least 1."""
    for name, value in values.items():
        if value < 1:
            raise SrkitError(f"{arch}: {name} must be at least 1, got {value}")


def require_rgb(arch: str, num_in_ch: int, num_out_ch: int) -> None:
    """Networks that subtract an RGB mean take and give three channels."""
    if num_in_ch != 3 or num_out_ch != 3:
        raise SrkitError(f"{arch}: subtracts an RGB mean, so num_in_ch = num_out_ch = 3")
