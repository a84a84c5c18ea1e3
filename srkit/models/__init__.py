"""SR networks as plain ``nn.Module`` classes, looked up by name in :data:`ARCHITECTURES`.

Constructor argument names follow BasicSR / Real-ESRGAN so that the ``srkit_arch_args`` stored
in a checkpoint mean the same thing there. Every generator has an int ``scale`` attribute,
``size_multiple`` (input H and W must be multiples of it) and ``receptive_radius`` (input
pixels on each side that one output pixel depends on; exact tiling keeps that much context).

Two optional attributes: ``exact_tiling = False`` where attention or pooling over the whole
input make the field global (SAN: ``receptive_radius`` is then the convolutional part, used as
the default overlap), and ``intermediate_outputs = True`` where ``forward(x, all_steps=True)``
returns a list of outputs, the last the final one, for a loss over all of them (SRFBN).
Meta-SR's ``forward(x, scale)`` also takes any real factor; its ``scale`` is the default.
A *reference-based* network (``reference_based = True``: SRNTT) takes ``forward(x, ref)``
with a reference image; ``forward(x)`` is its single-image mode (CrossNet likewise).
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from srkit.errors import SrkitError
from srkit.models.compact import SRVGGNetCompact
from srkit.models.crossnet import CrossNet
from srkit.models.da_sr import DomainAdaptSR
from srkit.models.hat import HAT
from srkit.models.metasr import MetaRDN
from srkit.models.rrdbnet import RRDBNet
from srkit.models.san import SAN
from srkit.models.span import SPAN
from srkit.models.srfbn import SRFBN
from srkit.models.srntt import SRNTT
from srkit.models.srresnet import MSRResNet
from srkit.models.swinir import SwinIR
from srkit.models.unet_blind import UNetBlind

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "rrdbnet": RRDBNet,
    "srresnet": MSRResNet,
    "compact": SRVGGNetCompact,
    "san": SAN,
    "srfbn": SRFBN,
    "metasr": MetaRDN,
    "unet-blind": UNetBlind,  # scale 1: pre-upsampled input, plus a degradation head
    "da-sr": DomainAdaptSR,  # encoder + SR decoder of the domain-adapt recipe
    "span": SPAN,
    "swinir": SwinIR,  # official keys; tiling approximate (exact_tiling = False)
    "hat": HAT,  # official keys; tiling approximate (exact_tiling = False)
    "srntt": SRNTT,  # reference-based (forward(x, ref)); forward(x) is its single-image mode
    "crossnet": CrossNet,  # reference-based (forward(x, ref)): flow-warped reference features
}

# The constructor argument that holds the upscaling factor (BasicSR names differ per net).
SCALE_ARGUMENT: dict[str, str] = {"rrdbnet": "scale", "srresnet": "upscale",
                                  "compact": "upscale", "san": "upscale", "srfbn": "upscale",
                                  "metasr": "scale", "unet-blind": "scale",
                                  "da-sr": "scale", "span": "upscale",
                                  "swinir": "upscale", "hat": "upscale",
                                  "srntt": "upscale", "crossnet": "upscale"}


def architecture_arguments(arch: str) -> dict[str, Any]:
    """The constructor arguments of ``arch`` with their defaults."""
    cls = _lookup(arch)
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self"}


def build_model(arch: str, **arch_args: Any) -> nn.Module:
    """Construct ``ARCHITECTURES[arch](**arch_args)``; unknown names raise SrkitError."""
    known = architecture_arguments(arch)
    unknown = sorted(set(arch_args) - set(known))
    if unknown:
        raise SrkitError(f"{arch}: unknown argument(s) {', '.join(unknown)} "
                         f"(it takes {', '.join(known)})")
    for name, value in arch_args.items():
        default = known[name]
        if isinstance(default, int) and not isinstance(default, bool) and (
                isinstance(value, bool) or not isinstance(value, int)):
            raise SrkitError(f"{arch}: {name} must be an integer, got {value!r}")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise SrkitError(f"{arch}: {name} must be true or false, got {value!r}")
    return ARCHITECTURES[arch](**arch_args)


def arch_args_for_scale(arch: str, scale: int, /, **overrides: Any) -> dict[str, Any]:
    """Constructor arguments for ``arch`` at ``scale`` (defaults plus ``overrides``; an
    ``overrides`` key named ``scale``, as an ``--init`` model's arguments have for the nets
    whose factor is called so, is replaced by ``scale``)."""
    _lookup(arch)
    return {**overrides, SCALE_ARGUMENT[arch]: scale}


def _lookup(arch: str) -> type[nn.Module]:
    if arch not in ARCHITECTURES:
        raise SrkitError(f"unknown architecture {arch!r} (choose from "
                         f"{', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[arch]


__all__ = ["ARCHITECTURES", "SAN", "SCALE_ARGUMENT", "SPAN", "SRFBN", "SRNTT", "CrossNet",
           "DomainAdaptSR", "MSRResNet", "MetaRDN", "RRDBNet", "SRVGGNetCompact", "SwinIR",
           "UNetBlind",
           "arch_args_for_scale", "architecture_arguments", "build_model"]
