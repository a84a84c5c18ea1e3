"""The resume state of a training run: ``MODEL.resume.pt`` beside the model.

It holds tensors and plain Python values only (no pickled classes), so it is read back with
``torch.load(weights_only=True)``: the generator's raw and EMA weights, the discriminator,
optimisers, learning-rate schedulers, the AMP grad scaler, the iteration reached (which is
also the data sampler's position: sample indices are consecutive), the settings the run was
started with, and the random states of Python, NumPy and torch. Written atomically, so a kill
during the save leaves the previous state intact.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srkit.errors import SrkitError
from srkit.io.atomic import atomic_path
from srkit.io.torch_files import load_weights_only

FORMAT = "srkit-train-state"
VERSION = 1


def resume_path(output: str | Path) -> Path:
    """``model.safetensors`` → ``model.resume.pt``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.resume.pt")


def capture_rng() -> dict[str, Any]:
    """Python, NumPy (legacy global) and torch random states as tensors / plain values."""
    version, py_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()),
                     python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors and plain values) atomically with a format tag."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    return path


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a resume state with ``weights_only=True``; SrkitError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise SrkitError(f"{path}: no resume state to continue from (was the run saved? "
                         "see --save-every)")
    try:
        state = load_weights_only(path)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise SrkitError(f"{path}: not a readable srkit resume state ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SrkitError(f"{path}: not an srkit resume state")
    if state.get("version") != VERSION:
        raise SrkitError(f"{path}: resume state version {state.get('version')}, this srkit "
                         f"reads version {VERSION}")
    return state
