"""Models srkit knows by name: the shipped ones and the user's models folder.

* **Shipped**: ``srkit/weights/*.safetensors`` inside the package (``general_x4``,
  ``general_x2``: see ``docs/models.md``). ``srkit upscale`` uses ``general_xS`` when no
  ``--model`` is given.
* **User**: ``*.safetensors`` and ``*.pth`` files in the models folder, ``$SRKIT_MODELS`` if set,
  else ``$XDG_DATA_HOME/srkit/models`` (``~/.local/share/srkit/models``). A user model with the
  same name as a shipped one takes its place.

``--model`` accepts a file path or such a name. Listing reads only the safetensors headers
(JSON), so it needs no torch and no weights in memory.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from srkit.errors import SrkitError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt")
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own limit


def user_models_dir() -> Path:
    """The user's models folder (it need not exist)."""
    if os.environ.get("SRKIT_MODELS"):
        return Path(os.environ["SRKIT_MODELS"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "srkit" / "models"


def default_model_name(scale: int) -> str:
    """The name of the general model ``srkit upscale -x S`` uses by default."""
    return f"general_x{scale}"


@dataclass(frozen=True)
class ModelInfo:
    """One model file as ``srkit models`` lists it.

    ``source`` is ``shipped`` or ``user``; ``scale``, ``arch`` and ``params`` come from
    srkit's safetensors metadata and tensor shapes (None for ``.pth`` files, whose
    architecture is only recognised when loaded).
    """

    name: str
    path: Path
    source: str
    size_bytes: int
    scale: int | None = None
    arch: str | None = None
    arch_args: str | None = None
    params: int | None = None
    description: str = ""
    iterations: int | None = None
    training_data: str = ""

    def to_dict(self) -> dict:
        return asdict(self) | {"path": str(self.path)}


def read_safetensors_header(path: str | Path) -> tuple[dict[str, str], dict[str, list[int]]]:
    """The metadata and the tensor shapes of a safetensors file, from its JSON header.

    Format: 8 bytes little-endian header length, then the JSON header. Raises
    :class:`SrkitError` naming the file when it is not a safetensors file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(8)
            if len(raw) < 8:
                raise ValueError("shorter than a header")
            (length,) = struct.unpack("<Q", raw)
            if length > _MAX_HEADER:
                raise ValueError("header too large")
            header = json.loads(handle.read(length))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise SrkitError(f"{path}: not a readable safetensors file ({error})") from None
    metadata = header.pop("__metadata__", None) or {}
    shapes = {key: list(value.get("shape", [])) for key, value in header.items()
              if isinstance(value, dict)}
    return {str(k): str(v) for k, v in metadata.items()}, shapes


def describe_file(path: Path, source: str) -> ModelInfo:
    """A :class:`ModelInfo` for one file (unreadable safetensors files raise SrkitError)."""
    size = path.stat().st_size
    if path.suffix != ".safetensors":
        return ModelInfo(path.stem, path, source, size, description="foreign checkpoint")
    metadata, shapes = read_safetensors_header(path)
    params = sum(math.prod(int(dim) for dim in shape) for shape in shapes.values())
    scale = metadata.get("srkit_scale")
    iterations = metadata.get("iterations")
    return ModelInfo(
        path.stem, path, source, size,
        scale=int(scale) if scale and scale.isdigit() else None,
        arch=metadata.get("srkit_arch"), arch_args=metadata.get("srkit_arch_args"),
        params=params, description=metadata.get("description", ""),
        iterations=int(iterations) if iterations and iterations.isdigit() else None,
        training_data=metadata.get("training_data", ""))


def _model_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in MODEL_SUFFIXES and p.is_file())


def list_models(weights_dir: Path | None = None, user_dir: Path | None = None
                ) -> tuple[list[ModelInfo], list[str]]:
    """Shipped models, then the user's, and one message per file that could not be read."""
    models, problems = [], []
    for source, folder in (("shipped", weights_dir or WEIGHTS_DIR),
                           ("user", user_dir or user_models_dir())):
        for path in _model_files(folder):
            try:
                models.append(describe_file(path, source))
            except SrkitError as error:
                problems.append(str(error))
    return models, problems


def resolve_model(model: str | Path | None, scale: int | None = None, *,
                  weights_dir: Path | None = None, user_dir: Path | None = None) -> Path:
    """The file for ``--model``: an existing path, a model name, or (None) the default.

    A name is looked up in the user's folder first, then among the shipped models. Raises
    :class:`SrkitError` with what is available when nothing matches.
    """
    if model is not None and Path(model).is_file():
        return Path(model)
    name = default_model_name(scale or 4) if model is None else str(model)
    if model is not None and (os.sep in name or Path(name).suffix in MODEL_SUFFIXES):
        raise SrkitError(f"{model}: no such model file")
    for folder in (user_dir or user_models_dir(), weights_dir or WEIGHTS_DIR):
        for path in _model_files(folder):
            if path.stem == name:
                return path
    known, _ = list_models(weights_dir, user_dir)
    names = ", ".join(sorted({m.name for m in known})) or "none installed"
    if model is None:
        raise SrkitError(f"no default model for ×{scale or 4} ({name}) is installed (known: "
                         f"{names}): pass --model FILE or use --method bicubic|lanczos")
    raise SrkitError(f"{model}: neither a model file nor a known model name (known: {names}; "
                     "`srkit models` lists them)")


def interpolate_files(model_a: str | Path, model_b: str | Path, alpha: float,
                      output: str | Path, *, overwrite: bool = False) -> Path:
    """Write the weight blend ``(1 − alpha)·A + alpha·B`` of two models as an srkit file.

    ``model_a`` and ``model_b`` are paths or names (:func:`resolve_model`) of models with the
    same architecture, arguments and scale; ``output`` must be a new ``.safetensors`` file
    (or ``overwrite``). Its metadata records the blend (``interpolation``, ``description``).
    See :func:`srkit.io.checkpoints.interpolate_models`.
    """
    from srkit.io.checkpoints import interpolate_models, load_model, save_model

    output = Path(output)
    if output.suffix != ".safetensors":
        raise SrkitError(f"{output}: the blended model is written as .safetensors")
    path_a, path_b = resolve_model(model_a), resolve_model(model_b)
    if output.resolve() in (path_a.resolve(), path_b.resolve()):
        raise SrkitError(f"{output}: would overwrite one of the models being blended")
    if output.exists() and not overwrite:
        raise SrkitError(f"{output}: already exists (use --overwrite to replace it)")
    blended = interpolate_models(load_model(path_a), load_model(path_b), alpha,
                                 names=(path_a.name, path_b.name))
    return save_model(output, blended.model, blended.arch, blended.arch_args, blended.scale,
                      blended.metadata)
