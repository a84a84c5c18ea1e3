"""Turn a ``--device`` string into a ``torch.device``, with errors a user can act on."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch

from srkit.errors import SrkitError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` → ``torch.device``.

    ``auto`` picks CUDA when a GPU is visible, then Apple's MPS, else the CPU. Asking for a
    device that is not there raises :class:`SrkitError` saying why.
    """
    if isinstance(name, torch.device):
        return name
    text = str(name).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if match:
        if not torch.cuda.is_available():
            reason = ("this torch build has no CUDA support" if torch.version.cuda is None
                      else "no CUDA GPU is visible")
            raise SrkitError(f"device {name!r}: CUDA is not available ({reason}); "
                             "use --device cpu or auto")
        index = int(match.group(1)) if match.group(1) is not None else None
        count = torch.cuda.device_count()
        if index is not None and index >= count:
            raise SrkitError(f"device {name!r}: only {count} CUDA device(s) "
                             f"(cuda:0 to cuda:{count - 1})")
        return torch.device("cuda", index) if index is not None else torch.device("cuda")
    if text == "mps":
        if not _mps_available():
            raise SrkitError(f"device {name!r}: Apple MPS is not available on this machine; "
                             "use --device cpu or auto")
        return torch.device("mps")
    raise SrkitError(f"unknown device {name!r} (use {DEVICE_CHOICES})")


def cpu_name() -> str:
    """The CPU model as Linux names it (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
