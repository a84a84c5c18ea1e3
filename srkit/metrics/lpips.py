"""LPIPS distance from weight files the user supplies (srkit ships no network weights).

Two files are needed:

- AlexNet's ImageNet weights in torchvision's format, ``alexnet-owt-7be5be79.pth``; looked
  for by default where torchvision caches it, ``torch.hub.get_dir()/checkpoints/``
  (``$TORCH_HOME/hub/checkpoints``, ``~/.cache/torch/hub/checkpoints`` by default);
- the LPIPS v0.1 linear layers ``alex.pth`` of the LPIPS project
  (``lpips/weights/v0.1/alex.pth``, keys ``lin0.model.1.weight`` ... ``lin4.model.1.weight``).

Both are read with ``torch.load(weights_only=True)`` (or as safetensors, by suffix).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from srkit.errors import SrkitError
from srkit.io.torch_files import load_weights_only
from srkit.models.alexnet_lpips import CHANNELS, LPIPSAlex

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"
LPIPS_HINT = ("the LPIPS v0.1 AlexNet linear layers 'alex.pth' (lpips/weights/v0.1/alex.pth "
              "of the LPIPS project, github.com/richzhang/PerceptualSimilarity)")
MIN_SIZE = 31  # smallest side AlexNet's conv1 + two 3×3/2 max-pools accept


def default_alexnet_path() -> Path:
    """Where torchvision caches AlexNet: ``torch.hub.get_dir()/checkpoints/alexnet-owt-...``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = load_weights_only(path)
    except Exception as error:  # a pickle / zip / safetensors error of any kind
        raise SrkitError(f"{path}: cannot read weights ({type(error).__name__}: {error})"
                         ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SrkitError(f"{path}: not a state dict of tensors")
    return {key.removeprefix("module."): value for key, value in state.items()
            if isinstance(value, torch.Tensor)}


def load_lpips(lpips_weights: str | Path | None, alexnet_weights: str | Path | None = None,
               *, device: str | torch.device = "cpu") -> LPIPSAlex:
    """Build :class:`~srkit.models.alexnet_lpips.LPIPSAlex` from the two weight files.

    ``alexnet_weights`` defaults to :func:`default_alexnet_path`. Raises :class:`SrkitError`
    naming the expected file (and where to get it) when one is missing or does not fit.
    """
    if lpips_weights is None:
        raise SrkitError(f"LPIPS needs its linear-layer weights: pass --lpips-weights PATH to "
                         f"{LPIPS_HINT}")
    lpips_path = Path(lpips_weights)
    if not lpips_path.is_file():
        raise SrkitError(f"{lpips_path}: LPIPS weights not found (expected {LPIPS_HINT})")
    alex_path = Path(alexnet_weights) if alexnet_weights is not None else default_alexnet_path()
    if not alex_path.is_file():
        raise SrkitError(f"{alex_path}: AlexNet weights not found; download torchvision's "
                         f"{ALEXNET_FILE} ({ALEXNET_URL}) to that path or pass "
                         "--alexnet-weights PATH")
    model = LPIPSAlex()
    alex_state = {key: value for key, value in _read_state_dict(alex_path).items()
                  if key.startswith("features.")}
    try:
        model.net.load_state_dict(alex_state, strict=True)
    except RuntimeError as error:
        raise SrkitError(f"{alex_path}: not torchvision AlexNet weights (expected keys "
                         f"features.0.weight ... features.10.bias): {_first_line(error)}"
                         ) from None
    lin_state = _read_state_dict(lpips_path)
    wanted = [f"lin{index}.model.1.weight" for index in range(len(CHANNELS))]
    missing = [key for key in wanted if key not in lin_state]
    if missing:
        raise SrkitError(f"{lpips_path}: not LPIPS AlexNet linear weights (missing "
                         f"{', '.join(missing)}; expected {LPIPS_HINT})")
    try:
        model.load_state_dict({key: lin_state[key] for key in wanted}, strict=False)
    except RuntimeError as error:
        raise SrkitError(f"{lpips_path}: LPIPS weights do not fit AlexNet "
                         f"({_first_line(error)})") from None
    return model.to(device).eval()


def _first_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:300]


def _to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    array = np.asarray(img, dtype=np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]
    return (tensor * 2 - 1).to(device)


def lpips_distance(img: np.ndarray, ref: np.ndarray, model: LPIPSAlex, *, border: int = 0
                   ) -> float:
    """LPIPS between two float RGB images ``(H, W, 3)`` in [0, 1] (mapped to [-1, 1]).

    ``border`` pixels are removed on each side first. Lower = more similar; 0 for equal
    images. Needs at least 31×31 pixels after the crop.
    """
    a, b = np.asarray(img), np.asarray(ref)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected two (H, W, 3) images of one shape, got {a.shape} and "
                         f"{b.shape}")
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    if min(a.shape[:2]) < MIN_SIZE:
        raise ValueError(f"LPIPS needs at least {MIN_SIZE}×{MIN_SIZE} pixels, got "
                         f"{a.shape[0]}×{a.shape[1]}")
    device = next(model.parameters()).device
    with torch.inference_mode():
        return float(model(_to_tensor(a, device), _to_tensor(b, device))[0])
