"""srkit: real-world image super-resolution.

Each command of the CLI is also a library call; the stage modules under ``srkit.stages`` hold
them. :func:`load_model` and :func:`upscale_image` (:mod:`srkit.api`) work on numpy arrays and
PIL images in memory. Heavy dependencies (torch) are imported lazily so that ``import srkit``
stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

from srkit.errors import SrkitError

# Library entry points: name -> "module:function", resolved on first use.
_LAZY = {
    "collect_noise": "srkit.stages.collect_noise:collect_noise",
    "degrade": "srkit.stages.degrade:degrade",
    "evaluate": "srkit.stages.evaluate:evaluate",
    "estimate_kernels": "srkit.stages.estimate_kernels:estimate_kernels",
    "export_model": "srkit.stages.export:export_model",
    "load_model": "srkit.api:load_model",
    "train_sr": "srkit.stages.train_sr:train_sr",
    "train_dsn": "srkit.stages.train_dsn:train_dsn",
    "upscale": "srkit.stages.upscale:upscale",
    "upscale_image": "srkit.api:upscale_image",
}

__all__ = ["SrkitError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name].split(":")
        return getattr(import_module(module_name), attr)
    raise AttributeError(f"module 'srkit' has no attribute {name!r}")
