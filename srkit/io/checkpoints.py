"""SR model files: srkit's safetensors with metadata, and foreign BasicSR-style ``.pth``.

A checkpoint alone does not say which network it belongs to, so srkit writes the
architecture into the safetensors metadata:

=================  =============================================================
``srkit_arch``      key of :data:`srkit.models.ARCHITECTURES` (``rrdbnet`` ...)
``srkit_arch_args`` JSON object of constructor arguments (BasicSR names)
``srkit_scale``     upscaling factor as a decimal string
``srkit_version``   the srkit version that wrote the file
=================  =============================================================

plus any extra string entries (recipe, iterations, ...). The tensors are the plain state
dict with BasicSR / Real-ESRGAN key names, so other tools load the file as well.

Foreign files (``RealESRGAN_x4plus.pth``, ``realesr-general-x4v3.pth``, ESRGAN's original
``RRDB_ESRGAN_x4.pth``, BasicSR ``net_g_*.pth``) are read with ``weights_only=True``; the
wrappers ``params_ema`` (preferred), ``params``, ``state_dict`` and ``module.`` prefixes
are stripped and the architecture and its arguments are recognised from key names and
tensor shapes, as spandrel does (:mod:`srkit.io.foreign_models`, which also hands layouts
srkit does not run to spandrel when the optional extra is installed).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srkit.errors import SrkitError
from srkit.io.atomic import atomic_path
from srkit.io.foreign_models import (
    UnsupportedLayout,
    add_equivalent_prelu,
    detect_architecture,
    drop_equivalent_prelu,
    load_with_spandrel,
    require_rgb,
    to_basicsr_names,
)
from srkit.io.torch_files import load_weights_only

RESERVED_KEYS = ("srkit_arch", "srkit_arch_args", "srkit_scale", "srkit_version")
# Wrappers around the state dict in BasicSR / Real-ESRGAN / generic training checkpoints,
# in order of preference (EMA weights are the better ones to run).
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "net_g", "model")


@dataclass(frozen=True)
class LoadedModel:
    """A network read from a file, with what is known about it.

    Attributes:
        model: the network in eval mode on the requested device.
        arch: key of :data:`srkit.models.ARCHITECTURES`.
        arch_args: constructor arguments (BasicSR names).
        scale: upscaling factor.
        metadata: the file's safetensors metadata (empty for ``.pth``).
        source_format: ``"safetensors"`` or ``"pth"``.
    """

    model: nn.Module
    arch: str
    arch_args: dict[str, Any]
    scale: int
    metadata: dict[str, str] = field(default_factory=dict)
    source_format: str = "safetensors"

    @property
    def receptive_radius(self) -> int:
        return int(self.model.receptive_radius)

    @property
    def size_multiple(self) -> int:
        return int(self.model.size_multiple)


def save_model(path: str | Path, model: nn.Module, arch: str, arch_args: dict[str, Any],
               scale: int, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model``'s weights as safetensors with srkit's metadata, atomically.

    ``arch_args`` must rebuild ``model`` (checked against the state dict's shapes);
    ``metadata`` adds string entries (the four ``srkit_*`` keys are reserved).
    DataParallel/DDP wrappers are unwrapped. Returns the path written.
    """
    from srkit.models import ARCHITECTURES, build_model

    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    if arch not in ARCHITECTURES:
        raise SrkitError(f"unknown architecture {arch!r}")
    if not isinstance(model, ARCHITECTURES[arch]):
        raise SrkitError(f"model is a {type(model).__name__}, not a {arch} "
                         f"({ARCHITECTURES[arch].__name__})")
    if int(getattr(model, "scale", scale)) != int(scale):
        raise SrkitError(f"scale {scale} does not match the model's scale {model.scale}")
    extra = dict(metadata or {})
    clash = sorted(set(extra) & set(RESERVED_KEYS))
    if clash:
        raise SrkitError(f"metadata keys {', '.join(clash)} are reserved for srkit")
    bad = [k for k, v in extra.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise SrkitError(f"metadata values must be strings (bad keys: {', '.join(map(str, bad))})")
    meta = {**extra, **architecture_metadata(arch, arch_args, scale)}
    tensors = model.state_dict()
    with torch.device("meta"):
        reference = build_model(arch, **arch_args)
    _check_shapes(reference.state_dict(), tensors, f"{arch} with {meta['srkit_arch_args']}")
    return write_safetensors(path, add_equivalent_prelu(tensors, arch, arch_args), meta)


def architecture_metadata(arch: str, arch_args: dict[str, Any], scale: int) -> dict[str, str]:
    """The :data:`RESERVED_KEYS` entries of a file holding ``arch`` built with
    ``arch_args``; SrkitError when ``arch_args`` is not JSON-serialisable."""
    from srkit import __version__

    try:
        args_json = json.dumps(arch_args, sort_keys=True)
    except TypeError as error:
        raise SrkitError(f"arch_args must be JSON-serialisable ({error})") from None
    return {"srkit_arch": arch, "srkit_arch_args": args_json, "srkit_scale": str(int(scale)),
            "srkit_version": __version__}


def write_safetensors(path: str | Path, tensors: Mapping[str, torch.Tensor],
                      metadata: dict[str, str]) -> Path:
    """Write ``tensors`` (copied to the CPU, contiguous) with string ``metadata`` as one
    safetensors file, atomically and byte for byte the same for the same input (see
    :func:`safetensors_bytes`); returns the path."""
    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(safetensors_bytes(plain, metadata))
    return path


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """A safetensors file's bytes, the same for the same tensors and metadata.

    The safetensors library keeps metadata in a Rust HashMap, whose order changes from one
    process to the next; the header is re-serialised here with sorted metadata keys (the
    tensor entries keep the library's order, and their offsets are relative to the data).
    """
    from safetensors.torch import save

    blob = save(tensors, metadata=metadata)
    length = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + length])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8-byte alignment
    return len(text).to_bytes(8, "little") + text + blob[8 + length:]


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Read an srkit safetensors file or a foreign BasicSR / ESRGAN-style checkpoint.

    A foreign layout srkit does not run goes to spandrel when ``srkit[spandrel]`` is
    installed (``arch`` is then ``"spandrel <id>"``, ``arch_args`` empty). Raises
    :class:`SrkitError` (one line, naming the file) for a missing or unreadable file, a
    layout neither knows, or a network that does not map RGB to RGB.
    """
    from srkit.device import resolve_device
    from srkit.models import ARCHITECTURES, SCALE_ARGUMENT

    path = Path(path)
    if not path.is_file():
        raise SrkitError(f"{path}: no such model file")
    if _is_safetensors(path):
        state, metadata = read_safetensors(path)
        source_format = "safetensors"
    elif path.suffix.lower() == ".safetensors":
        raise SrkitError(f"{path}: not a safetensors file (no safetensors header; a PyTorch "
                         "checkpoint must be named .pth or .pt)")
    else:
        state, metadata = _read_torch(path), {}
        source_format = "pth"
    _check_finite(state, str(path))
    if "srkit_arch" in metadata:
        arch = metadata["srkit_arch"]
        if arch not in ARCHITECTURES:
            raise SrkitError(f"{path}: unknown architecture {arch!r} in its metadata "
                             "(written by a newer srkit?)")
        try:
            arch_args = json.loads(metadata.get("srkit_arch_args", "{}"))
        except json.JSONDecodeError:
            raise SrkitError(f"{path}: srkit_arch_args metadata is not valid JSON") from None
        _check_arch_args(arch, arch_args, str(path))
        state = drop_equivalent_prelu(state, arch, arch_args, str(path))
        model = _build_checked(arch, arch_args, state, str(path))
    else:
        try:
            converted = to_basicsr_names(state, str(path))
            arch, arch_args = detect_architecture(converted, name=str(path))
            _check_arch_args(arch, arch_args, str(path))
            model = _build_checked(arch, arch_args, converted, str(path), foreign=True)
            state = converted
        except UnsupportedLayout as refusal:
            network = load_with_spandrel(state, refusal, str(path))
            network.eval().to(resolve_device(device))
            return LoadedModel(network, f"spandrel {network.architecture}", {},
                               network.scale, dict(metadata), source_format)
    require_rgb(arch, arch_args, str(path))
    model.load_state_dict(state, strict=True)
    model.eval()
    model.to(resolve_device(device))
    scale = int(arch_args.get(SCALE_ARGUMENT[arch], model.scale))
    return LoadedModel(model, arch, dict(arch_args), scale, dict(metadata), source_format)


def _build_checked(arch: str, arch_args: dict[str, Any], state: dict[str, torch.Tensor],
                   name: str, foreign: bool = False) -> nn.Module:
    """``arch`` built from ``arch_args`` once ``state`` is known to fit it exactly; a foreign
    file that does not fit is an :class:`UnsupportedLayout` (spandrel may know it)."""
    from srkit.models import build_model

    try:
        # Checked on the meta device (no memory) before a real network is allocated.
        with torch.device("meta"):
            reference = build_model(arch, **arch_args)
        _check_shapes(reference.state_dict(), state, name)
        return build_model(arch, **arch_args)
    except SrkitError as error:
        message = str(error)
        message = message if message.startswith(name) else f"{name}: {message}"
        if foreign:
            raise UnsupportedLayout(message.replace(": weights do not match the network",
                                                    f": keys do not all fit {arch}", 1)
                                    ) from None
        raise SrkitError(message) from None


# Upper bound for every integer constructor argument read from a file (channel widths, block
# counts): far above any published model (num_feat 64, num_block 23, num_conv 32), far below
# sizes that would take minutes or terabytes to build.
MAX_ARCH_ARGUMENT = 1024


def _check_arch_args(arch: str, arch_args: Any, name: str) -> None:
    """Types and ranges of constructor arguments from a file, before anything is built."""
    from srkit.models import architecture_arguments

    if not isinstance(arch_args, dict):
        raise SrkitError(f"{name}: srkit_arch_args must be a JSON object, "
                         f"not {type(arch_args).__name__}")
    known = architecture_arguments(arch)
    for key, value in arch_args.items():
        default = known.get(key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise SrkitError(f"{name}: {arch} argument {key} must be true or false, "
                                 f"got {value!r}")
            continue
        if default is None:
            continue  # unknown names are reported by build_model
        if isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SrkitError(f"{name}: {arch} argument {key} must be an integer, "
                                 f"got {value!r}")
            if not 0 <= value <= MAX_ARCH_ARGUMENT:
                raise SrkitError(f"{name}: {arch} argument {key}={value} is out of range "
                                 f"(0 to {MAX_ARCH_ARGUMENT})")
        elif isinstance(default, str) and not isinstance(value, str):
            raise SrkitError(f"{name}: {arch} argument {key} must be a string, got {value!r}")


def _check_finite(state: dict[str, torch.Tensor], name: str) -> None:
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise SrkitError(f"{name}: weight {key} holds NaN or infinite values "
                             "(a diverged training run?)")


def unwrap_state_dict(obj: Any, name: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The tensors of a training checkpoint: wrappers and ``module.`` prefixes removed."""
    for _ in range(4):
        if not isinstance(obj, dict):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), dict) and obj[key]:
                obj = obj[key]
                break
        else:
            break
    if not isinstance(obj, dict) or not obj:
        raise SrkitError(f"{name}: holds no state dict (looked for {', '.join(WRAPPER_KEYS)})")
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise SrkitError(f"{name}: holds no tensors")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _check_shapes(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor],
                  name: str) -> None:
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise SrkitError(f"{name}: weights do not match the network: {'; '.join(parts)}")
    for key, tensor in expected.items():
        if tuple(found[key].shape) != tuple(tensor.shape):
            raise SrkitError(f"{name}: {key} has shape {tuple(found[key].shape)}, the network "
                             f"expects {tuple(tensor.shape)}")


def _is_safetensors(path: Path) -> bool:
    """safetensors files start with an 8-byte little-endian header length, then '{'."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return int.from_bytes(head[:8], "little") < path.stat().st_size


def read_srkit_file(path: str | Path, arch: str, what: str, make: str
                    ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file srkit wrote for ``arch`` (a DSN, a ranker:
    files that are not SR models); SrkitError naming the file, ``what`` it should be and the
    command that ``make``s one, when it is missing or of another architecture."""
    path = Path(path)
    if not path.is_file():
        raise SrkitError(f"{path}: no such {what} file ({make})")
    tensors, metadata = read_safetensors(path)
    if metadata.get("srkit_arch") != arch:
        found = metadata.get("srkit_arch", "no srkit_arch metadata")
        raise SrkitError(f"{path}: not a {what} file (architecture: {found}); {make}")
    return tensors, metadata


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors (on the CPU) and the metadata of a safetensors file; errors name it."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        raise SrkitError(f"{path}: not a readable safetensors file ({error})") from None
    return state, metadata


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    with open(path, "rb") as handle:
        head = handle.read(4)
    # torch.save writes a zip archive; very old files are a bare pickle (protocol byte 0x80).
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise SrkitError(f"{path}: not a model file (expected srkit .safetensors or a "
                         "PyTorch .pth/.pt)")
    try:
        with open(path, "rb") as handle:  # a handle: torch.load would dispatch on the suffix
            obj = load_weights_only(handle)
    except pickle.UnpicklingError:
        raise SrkitError(f"{path}: holds Python objects besides weights; srkit only loads "
                         "plain weights (weights_only=True)") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise SrkitError(f"{path}: not a model file srkit can read ({first_line})") from None
    return unwrap_state_dict(obj, name=str(path))


def interpolate_models(model_a: LoadedModel, model_b: LoadedModel, alpha: float,
                       names: tuple[str, str] = ("A", "B")) -> LoadedModel:
    """A network whose weights are ``(1 − alpha)·A + alpha·B`` (network interpolation).

    Wang et al., ESRGAN §3.4 blend a PSNR- and a GAN-trained net this way; Real-ESRGAN's
    ``--denoise_strength`` blends ``realesr-general-x4v3`` with its no-denoise twin. Both
    models must share architecture, constructor arguments and scale (SrkitError otherwise,
    naming them by ``names``). ``alpha`` in [0, 1] is the weight of B: 0 gives A's weights
    exactly, 1 gives B's. Non-float tensors are taken from A. The result lives on A's device
    and records the blend in its metadata (``interpolation``: JSON of A, B and alpha).
    """
    name_a, name_b = names
    if not (0.0 <= alpha <= 1.0):
        raise SrkitError(f"the interpolation weight must be in [0, 1], got {alpha}")
    for what, value_a, value_b in (("architecture", model_a.arch, model_b.arch),
                                   ("scale", model_a.scale, model_b.scale),
                                   ("arch args", model_a.arch_args, model_b.arch_args)):
        if value_a != value_b:
            raise SrkitError(f"cannot interpolate {name_a} and {name_b}: different {what} "
                             f"({_short(value_a)} vs {_short(value_b)})")
    from srkit.models import build_model

    state_a, state_b = model_a.model.state_dict(), model_b.model.state_dict()
    mixed = {}
    for key, tensor_a in state_a.items():
        tensor_b = state_b[key].to(tensor_a.device)
        if tensor_a.is_floating_point():
            # The two-product form (not lerp) makes alpha 0 and 1 exact.
            mixed[key] = (1.0 - alpha) * tensor_a.float() + alpha * tensor_b.float()
            mixed[key] = mixed[key].to(tensor_a.dtype)
        else:
            mixed[key] = tensor_a.clone()
    model = build_model(model_a.arch, **model_a.arch_args)
    model.load_state_dict(mixed, strict=True)
    model.eval()
    model.to(next(model_a.model.parameters()).device)
    record = json.dumps({"a": name_a, "b": name_b, "alpha": alpha})
    # A's training metadata (iterations, training data) does not describe the blend.
    metadata = {"interpolation": record,
                "description": f"{1 - alpha:g}·{name_a} + {alpha:g}·{name_b} "
                               "(network interpolation)"}
    return LoadedModel(model, model_a.arch, dict(model_a.arch_args), model_a.scale, metadata,
                       "safetensors")


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
