"""``srkit upscale --backend onnxruntime``: the same tiles through onnxruntime on the CPU.

onnxruntime ran the shipped ×4 network 1.1–1.7× faster than PyTorch on this project's CPU
(benchmarks/upscale_speed.py; outputs within one 8-bit level). The network srkit loaded is
exported to ONNX once (:mod:`srkit.stages.export`, checked against PyTorch's forward there)
and cached by the hash of its weights and architecture, in ``$SRKIT_CACHE/onnx`` (default
``$XDG_CACHE_HOME/srkit/onnx``, i.e. ``~/.cache/srkit/onnx``); later runs load the cached file.
:func:`attach` gives the network an ``onnx_runner`` that
:func:`srkit.stages.upscale_tiles.network_runner` uses instead of PyTorch, so tiling, alpha,
16-bit and the writers are those of the PyTorch backend.

A model *file* exported once also gets an index entry (``file-SHA.json``: its SHA-256, the
ONNX file and what tiling needs: scale, receptive radius, size multiple). A later run of the
same file finds it with :func:`cached_model` and never imports PyTorch (about 1.8 s of
start-up here): the process goes from start to its first tile in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
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


def attach(loaded, model_file: Path | None = None) -> Path:
    """Give ``loaded.model`` an ``onnx_runner`` (exporting it to the cache first if needed);
    returns the ONNX file used. With ``model_file`` (the file ``loaded`` came from, unblended)
    the file's index entry is written too, for :func:`cached_model`."""
    from srkit.stages.export import DEFAULT_OPSET, export_network

    key = network_key(loaded.model, loaded.arch, loaded.arch_args)
    path = cache_dir() / f"{loaded.arch}-x{loaded.scale}-{key}-opset{DEFAULT_OPSET}.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        export_network(loaded.model, loaded.arch, loaded.arch_args, loaded.scale,
                       "srkit upscale --backend onnxruntime", path, opset=DEFAULT_OPSET)
    loaded.model.onnx_runner = session_runner(path)
    if model_file is not None:
        _write_index(model_file, path, loaded)
    return path


@dataclass
class OnnxNetwork:
    """What tiling needs of a network, and its onnxruntime runner (no PyTorch module)."""

    scale: int
    receptive_radius: int
    size_multiple: int
    onnx_runner: Callable[[np.ndarray], np.ndarray]
    pre_upsampling: bool = False
    arbitrary_scale: bool = False


@dataclass
class CachedModel:
    """A model file's cached export, in place of :class:`~srkit.io.checkpoints.LoadedModel`."""

    model: OnnxNetwork
    arch: str
    arch_args: dict
    scale: int
    metadata: dict = field(default_factory=dict)
    source_format: str = "onnx"

    @property
    def receptive_radius(self) -> int:
        return self.model.receptive_radius

    @property
    def size_multiple(self) -> int:
        return self.model.size_multiple


def _index_path(model_file: Path) -> Path:
    from srkit.io.hashing import file_sha256

    return cache_dir() / f"file-{file_sha256(model_file)[:32]}.json"


def _write_index(model_file: Path, onnx_file: Path, loaded) -> None:
    from srkit.io.atomic import atomic_path

    entry = {"onnx": onnx_file.name, "arch": loaded.arch, "arch_args": loaded.arch_args,
             "scale": int(loaded.scale), "receptive_radius": int(loaded.receptive_radius),
             "size_multiple": int(loaded.size_multiple),
             "pre_upsampling": bool(getattr(loaded.model, "pre_upsampling", False))}
    with atomic_path(_index_path(model_file)) as tmp:
        tmp.write_text(json.dumps(entry, sort_keys=True, default=str) + "\n")


def cached_model(model_file: Path) -> CachedModel | None:
    """The cached export of ``model_file`` (found by its SHA-256), ready to run without
    PyTorch; None when there is none (or it is unreadable: then the slow path rebuilds it)."""
    index = _index_path(model_file)
    try:
        entry = json.loads(index.read_text())
        onnx_file = cache_dir() / entry["onnx"]
        if not onnx_file.is_file():
            return None
        network = OnnxNetwork(int(entry["scale"]), int(entry["receptive_radius"]),
                              int(entry["size_multiple"]), session_runner(onnx_file),
                              bool(entry.get("pre_upsampling", False)))
        return CachedModel(network, str(entry["arch"]), dict(entry["arch_args"]),
                           int(entry["scale"]))
    except (OSError, ValueError, KeyError, TypeError, SrkitError):
        return None


def _threads() -> int:
    """PyTorch's thread count when it is loaded; else ``$OMP_NUM_THREADS``, else the CPUs
    this process may use (PyTorch's own default)."""
    import sys

    if "torch" in sys.modules:
        return max(1, sys.modules["torch"].get_num_threads())
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    return _cpus()


def _cpus() -> int:
    """The CPUs this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def session_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """``run(piece)``: float32 ``(h, w, 3)`` → clipped float32 ``(sh, sw, 3)`` through an
    onnxruntime session of ``path``, with as many threads as PyTorch would use (fewer than
    the CPUs only when ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` asked for fewer)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    threads = _threads()
    if threads < _cpus():
        options.intra_op_num_threads = threads
    # else onnxruntime's own default (a thread per core, pinned): in a side-by-side run on
    # this project's CPU it was faster than asking for the same count (threads not pinned)
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
        # clipped in place and handed on as an (sh, sw, 3) view, as the torch runner does (a
        # clip of the transposed output into a new array costs a strided pass and the new
        # array's page faults)
        np.clip(out, 0.0, 1.0, out=out)
        return out.transpose(1, 2, 0)

    return run
