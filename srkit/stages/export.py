"""``srkit export``: an SR model as ONNX or TorchScript, for runtimes without srkit.

Library use::

    from srkit import export_model
    result = export_model("general_x4", "general_x4.onnx")   # or "general_x4.pt"
    result.max_abs_diff                                       # exported vs srkit's forward

The format follows the output suffix: ``.onnx`` → ONNX (torch's ``torch.export``-based
exporter; needs the ``srkit[export]`` extra: onnx, onnxscript, onnxruntime), ``.pt`` /
``.pts`` / ``.torchscript`` → TorchScript. Both take ``(N, C, H, W)`` float32 in [0, 1] and
return ``(N, C, sH, sW)``, not clipped (clip to [0, 1] as srkit does); H and W are dynamic
(multiples of the network's ``size_multiple``), and ONNX's batch size too.

TorchScript is made by **tracing** (``torch.jit.trace``): ``torch.jit.script`` cannot compile
``F.interpolate`` with the int ``scale_factor`` the networks use. A traced graph is fixed to
the control flow taken on the example input; srkit's generators have no data-dependent
branches, and the sizes of the traced ops follow the input, which the check below confirms.

Every export is checked before it is written: the saved file is loaded back and run, at the
export size and at a second, different size, on seeded random inputs, and its clipped output
is compared with srkit's own forward pass. Above ``tolerance`` (max abs difference on [0, 1]
output, default 1e-3) nothing is written and :class:`SrkitError` says by how much it missed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError

FORMATS = {".onnx": "onnx", ".pt": "torchscript", ".pts": "torchscript",
           ".torchscript": "torchscript"}
DEFAULT_OPSET = 18  # the ONNX exporter's native opset; lower ones go through onnx's converter
MIN_OPSET = 13
TOLERANCE = 1e-3
# (height, width) of the example input and of the second check; multiples of 4, the largest
# size_multiple (RRDBNet ×1), and of different aspect so a size baked into the graph shows.
EXPORT_SIZE = (32, 40)
SECOND_SIZE = (24, 56)
_MISSING_EXTRA = "pip install 'srkit[export]' (onnx, onnxscript, onnxruntime)"


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes:
        path: the file written.
        format: ``onnx`` or ``torchscript``.
        model: the model file exported; ``arch`` and ``scale`` describe it.
        opset: ONNX operator set (None for TorchScript).
        max_abs_diff: max |exported − srkit| on clipped output, at :data:`EXPORT_SIZE`.
        max_abs_diff_resized: the same at :data:`SECOND_SIZE` (dynamic height and width).
        tolerance: the limit both were checked against.
        seconds: wall time of export and check.
    """

    path: Path
    format: str
    model: Path
    arch: str
    scale: int
    opset: int | None
    max_abs_diff: float
    max_abs_diff_resized: float
    tolerance: float
    seconds: float


def export_format(output: str | Path) -> str:
    """``onnx`` or ``torchscript`` from the suffix of ``output`` (SrkitError otherwise)."""
    suffix = Path(output).suffix.lower()
    if suffix not in FORMATS:
        raise SrkitError(f"{output}: unknown export format {suffix or '(no suffix)'!r} (use "
                         ".onnx for ONNX, .pt for TorchScript)")
    return FORMATS[suffix]


def export_model(model: str | Path, output: str | Path, *, opset: int = DEFAULT_OPSET,
                 tolerance: float = TOLERANCE, overwrite: bool = False) -> ExportResult:
    """Export ``model`` (a file or a name known to :mod:`srkit.modelzoo`) to ``output``.

    See the module docstring for the formats and the check. Raises :class:`SrkitError` for
    an unknown suffix, an existing output without ``overwrite``, a missing ONNX extra, a
    failed export or a check above ``tolerance``; the output is then left untouched.
    """
    from srkit.io.checkpoints import load_model
    from srkit.modelzoo import resolve_model

    started = time.perf_counter()
    fmt = export_format(output)
    output = Path(output)
    if not tolerance >= 0:
        raise SrkitError(f"--tolerance must be ≥ 0, got {tolerance}")
    if fmt == "onnx" and opset < MIN_OPSET:
        raise SrkitError(f"--opset must be at least {MIN_OPSET}, got {opset}")
    if output.exists() and not overwrite:
        raise SrkitError(f"{output}: already exists (use --overwrite to replace it)")
    if fmt == "onnx":
        _require_onnx()
    path = resolve_model(model)
    if output.resolve() == path.resolve():
        raise SrkitError(f"{output}: is the model file itself")
    loaded = load_model(path, "cpu")
    diffs = export_network(loaded.model, loaded.arch, loaded.arch_args, loaded.scale,
                           path.name, output, fmt=fmt, opset=opset, tolerance=tolerance)
    return ExportResult(output, fmt, path, loaded.arch, loaded.scale,
                        opset if fmt == "onnx" else None, diffs[0], diffs[1], tolerance,
                        time.perf_counter() - started)


def export_network(network, arch: str, arch_args: dict, scale: int, source: str,
                   output: str | Path, *, fmt: str = "onnx", opset: int = DEFAULT_OPSET,
                   tolerance: float = TOLERANCE) -> list[float]:
    """Export an in-memory srkit network to ``output`` (written atomically) and check the
    exported file against the network's own forward at :data:`EXPORT_SIZE` (a batch of two)
    and :data:`SECOND_SIZE`; returns the two max differences. Raises :class:`SrkitError`, and
    writes nothing, when the export fails or a difference is above ``tolerance``."""
    import torch

    from srkit.io.atomic import atomic_path

    output = Path(output)
    network = network.float().eval()
    generator = torch.Generator().manual_seed(0)
    channels = int(arch_args.get("num_in_ch", arch_args.get("in_chans", 3)))
    # a batch of 2 to export from (with 1 the exporter may fix the batch size where a layer's
    # weights are computed, as SPAN's and SRFBN's are), a single image for the second check
    inputs = [torch.rand(batch, channels, *size, generator=generator)
              for batch, size in ((2, EXPORT_SIZE), (1, SECOND_SIZE))]
    with torch.inference_mode():
        expected = [network(x).clamp(0.0, 1.0).numpy() for x in inputs]
    info = json.dumps({"arch": arch, "arch_args": arch_args, "scale": scale,
                       "source": source}, sort_keys=True)
    with atomic_path(output) as tmp:
        if fmt == "onnx":
            _export_onnx(network, inputs[0], tmp, opset, info)
            run = _onnx_runner(tmp)
        else:
            _export_torchscript(network, inputs[0], tmp, info)
            run = _torchscript_runner(tmp)
        diffs = [float(np.abs(np.clip(run(x.numpy()), 0.0, 1.0) - want).max())
                 for x, want in zip(inputs, expected, strict=True)]
        if not all(d <= tolerance for d in diffs):  # NaN fails too
            sizes = " and ".join(f"{d:.3g} at {h}×{w}" for d, (h, w)
                                 in zip(diffs, (EXPORT_SIZE, SECOND_SIZE), strict=True))
            raise SrkitError(f"{output}: the exported {fmt} model differs from srkit's forward "
                             f"by {sizes} (tolerance {tolerance:g}); nothing written")
    return diffs


def _require_onnx() -> None:
    missing = []
    for module in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise SrkitError(f"ONNX export needs {', '.join(missing)}: {_MISSING_EXTRA}")


@contextlib.contextmanager
def _quiet_exporter():
    """The exporters print progress, deprecation and version-conversion notes: hide them."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _export_onnx(network, example, path: Path, opset: int, info: str) -> None:
    import onnx
    import torch
    from torch.export import Dim

    dynamic = {"x": {0: Dim("batch", min=1), 2: Dim("height", min=1), 3: Dim("width", min=1)}}
    try:
        with _quiet_exporter():
            program = torch.onnx.export(network, (example,), dynamo=True, opset_version=opset,
                                        input_names=["input"], output_names=["output"],
                                        dynamic_shapes=dynamic, verbose=False)
            program.save(str(path))
    except Exception as error:  # the exporter raises many types; the first line says why
        raise SrkitError(f"ONNX export failed: {_first_line(error)}") from None
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {"srkit": info})
    onnx.save(proto, str(path))


def _onnx_runner(path: Path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def _export_torchscript(network, example, path: Path, info: str) -> None:
    import torch

    try:
        with _quiet_exporter(), torch.no_grad():
            traced = torch.jit.trace(network, example, check_trace=False)
            torch.jit.save(traced, str(path), _extra_files={"srkit.json": info})
    except Exception as error:  # as above
        raise SrkitError(f"TorchScript export failed: {_first_line(error)}") from None


def _torchscript_runner(path: Path):
    import torch

    with _quiet_exporter():
        module = torch.jit.load(str(path), map_location="cpu")
    module.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()

    return run


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
