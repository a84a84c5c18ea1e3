"""``srkit upscale --backend onnxruntime``: the same tiles through onnxruntime on the CPU.

onnxruntime ran the shipped ×4 network 1.1–1.7× faster than PyTorch on this project's CPU
(benchmarks/upscale_speed.py; outputs within one 8-bit level). The network srkit loaded is
exported to ONNX once (:mod:`srkit.stages.export`, checked against PyTorch's forward there)
and cached by the hash of its weights and architecture, in ``$SRKIT_CACHE/onnx`` (default
``$XDG_CACHE_HOME/srkit/onnx``, i.e. ``~/.cache/srkit/onnx``); later runs load the cached file.
:func:`attach` gives the network an ``onnx_runner`` that
:func:`srkit.stages.upscale_tiles.network_runner` uses instead of PyTorch, so tiling, alpha,
16-bit and the writers are those of the PyTorch backend.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError

BACKENDS = ("torch", "onnxruntime")
_MISSING = "pip install 'srkit[export]' (onnx, onnxscript, onnxruntime)"


def cache_dir() -> Path:
    """Where exported networks are kept (``$SRKIT_CACHE/onnx``, else the XDG cache)."""
    if os.environ.get("SRKIT_CACHE"):
        root = Path(os.environ["SRKIT_CACHE"]).expanduser()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "srkit"
    return root / "onnx"


def network_key(model, arch: str, arch_args: dict) -> str:
    """A hash of the network's weights, buffers and architecture (names, shapes, bytes)."""
    digest = hashlib.sha256(json.dumps([arch, arch_args], sort_keys=True,
                                       default=str).encode())
    for name, tensor in model.state_dict().items():
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}{tuple(array.shape)}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:32]


def check_backend(backend: str, *, half: bool, device: str, arbitrary_scale: bool) -> None:
    """Refuse what the onnxruntime backend cannot do, in one line each."""
    if backend not in BACKENDS:
        raise SrkitError(f"unknown backend {backend!r} (use {', '.join(BACKENDS)})")
    if backend == "torch":
        return
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise SrkitError(f"--backend onnxruntime needs onnxruntime: {_MISSING}") from None
    if half:
        raise SrkitError("--backend onnxruntime runs float32 on the CPU: drop --half")
    if device not in ("auto", "cpu"):
        raise SrkitError(f"--backend onnxruntime runs on the CPU, not --device {device}")
    if arbitrary_scale:
        raise SrkitError("--backend onnxruntime does not run arbitrary-scale (Meta-SR) "
                         "models; use --backend torch")


def attach(loaded) -> Path:
    """Give ``loaded.model`` an ``onnx_runner`` (exporting it to the cache first if needed);
    returns the ONNX file used."""
    from srkit.stages.export import DEFAULT_OPSET, export_network

    key = network_key(loaded.model, loaded.arch, loaded.arch_args)
    path = cache_dir() / f"{loaded.arch}-x{loaded.scale}-{key}-opset{DEFAULT_OPSET}.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        export_network(loaded.model, loaded.arch, loaded.arch_args, loaded.scale,
                       "srkit upscale --backend onnxruntime", path, opset=DEFAULT_OPSET)
    loaded.model.onnx_runner = session_runner(path)
    return path


def session_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """``run(piece)``: float32 ``(h, w, 3)`` → clipped float32 ``(sh, sw, 3)`` through an
    onnxruntime session of ``path``, with as many threads as PyTorch uses."""
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), sess_options=options,
                                               providers=["CPUExecutionProvider"])
    except Exception as error:  # a damaged cache file: say where it is
        raise SrkitError(f"{path}: onnxruntime cannot load this cached export ({error}); "
                         "delete it and run again") from None
    name = session.get_inputs()[0].name

    def run(piece: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(piece, dtype=np.float32).transpose(2, 0, 1))[None]
        out = session.run(None, {name: x})[0][0]
        return np.clip(out.transpose(1, 2, 0), 0.0, 1.0)

    return run
