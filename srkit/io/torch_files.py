"""Reading PyTorch files without running their code: ``torch.load(weights_only=True)``, quiet."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import IO, Any


def load_weights_only(source: str | Path | IO[bytes]) -> Any:
    """``torch.load(source, map_location="cpu", weights_only=True)``.

    torch warns on stderr before it refuses some files (a bare, pre-zip pickle: "Detected
    pickle protocol ..."); srkit reports the refusal itself in one line, so those warnings are
    silenced here. Raises what ``torch.load`` raises.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(source, map_location="cpu", weights_only=True)
