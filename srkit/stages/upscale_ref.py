"""``srkit upscale --ref``: reference-based SR (SRNTT, CrossNet) of each photo against a
reference.

``--ref FILE`` serves every input; ``--ref DIR`` holds one reference per input, matched by
file stem (``DIR/photo.*`` for ``photo.jpg``); a missing one stops the run before any work.
The texture swap compares every patch of the photo with every patch of its reference, so
it is global: each image runs whole, untiled, and a guard refuses pairs whose comparison
count (photo pixels × reference pixels / 16, the relu3_1 positions of both) passes
:data:`MAX_MATCH_PAIRS`; downscale the reference or crop the photo then. CrossNet resizes
the reference to the output size and warps it by a flow estimated over the whole image, so
it runs whole too; its references need :data:`srkit.models.crossnet.MIN_REFERENCE` pixels
on a side.

A reference-based model without ``--ref`` runs in its single-image mode (the content
extractor's own ×4 head), tiled exactly, with a warning; ``--ref`` with any other model is
an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srkit.errors import SrkitError
from srkit.io.images import IMAGE_EXTENSIONS, LoadedImage, SkipLog, read_image, save_like

# LR relu3_1 positions × reference relu3_1 positions; each pair costs 2·9·256 FLOPs
# (4.3e9 pairs ≈ 2e13 FLOPs: minutes on a CPU).
MAX_MATCH_PAIRS = 1 << 32


def is_reference_based(model) -> bool:
    return bool(getattr(model, "reference_based", False))


def plan_references(ref: str | Path | None, inputs: list[Path], model, model_path: Path | None
                    ) -> list[Path] | None:
    """The reference of each input (None without ``--ref``); SrkitError for a ``--ref``
    with a model that takes none, a missing file or folder, or an input without one."""
    from srkit.console import warn

    if ref is None:
        if model is not None and is_reference_based(model.model):
            warn(f"{model_path} is reference-based ({model.arch}) and no --ref was given: "
                 "running its single-image mode (pass --ref IMAGE or --ref DIR for texture "
                 "transfer)")
        return None
    if model is None:
        raise SrkitError("--ref needs --method model with a reference-based model "
                         "(train-sr --recipe srntt or crossnet)")
    if not is_reference_based(model.model):
        raise SrkitError(f"--ref needs a reference-based model (srntt, crossnet); {model_path} "
                         f"is a {model.arch} model, which takes no reference")
    path = Path(ref)
    if path.is_file():
        return [path] * len(inputs)
    if not path.is_dir():
        raise SrkitError(f"--ref {path}: no such file or folder")
    by_stem: dict[str, Path] = {}
    for candidate in sorted(path.iterdir()):
        if candidate.is_file() and candidate.suffix.lower() in IMAGE_EXTENSIONS:
            by_stem.setdefault(candidate.stem, candidate)
    missing = [p.name for p in inputs if p.stem not in by_stem]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SrkitError(f"--ref {path}: no reference for {missing[0]}{more} (references "
                         "are matched by file stem: photo.jpg takes DIR/photo.*)")
    return [by_stem[p.stem] for p in inputs]


def check_match_size(lr_shape: tuple[int, int], ref_shape: tuple[int, int], name: str,
                     ref_name: str) -> None:
    """SrkitError when the texture swap of an ``lr_shape`` photo against an ``ref_shape``
    reference would compare more than :data:`MAX_MATCH_PAIRS` patch pairs."""
    from srkit.models.srntt import MIN_REFERENCE

    if min(ref_shape) < MIN_REFERENCE:
        raise SrkitError(f"{ref_name}: a {ref_shape[1]}×{ref_shape[0]} reference is too small "
                         f"for the texture swap (at least {MIN_REFERENCE}×{MIN_REFERENCE})")
    pairs = lr_shape[0] * lr_shape[1] * (ref_shape[0] // 4) * (ref_shape[1] // 4)
    if pairs > MAX_MATCH_PAIRS:
        raise SrkitError(f"{name} against {ref_name}: the texture swap would compare "
                         f"{pairs:.2g} patch pairs (the limit is {MAX_MATCH_PAIRS:.2g}; it "
                         "runs untiled); downscale the reference or crop the photo")


def enlarge_with_reference(image: LoadedImage, ref_rgb: np.ndarray, model, *,
                           outscale: float | None = None, half: bool = False
                           ) -> tuple[np.ndarray, np.ndarray | None]:
    """One image's RGB ``(4H, 4W, 3)`` (or resized to ``outscale``) and alpha, in [0, 1],
    through ``model`` (a loaded reference-based model) with the reference ``ref_rgb``."""
    import math

    import torch

    from srkit.stages.upscale import interpolate_image

    network = model.model
    parameter = next(network.parameters())
    dtype = torch.float16 if half else torch.float32

    def tensor(rgb: np.ndarray) -> torch.Tensor:
        array = np.ascontiguousarray(rgb, dtype=np.float32).transpose(2, 0, 1)
        return torch.from_numpy(array)[None].to(parameter.device, dtype)

    with torch.inference_mode():
        out = network(tensor(image.rgb), tensor(ref_rgb)).float().clamp_(0.0, 1.0)
    rgb = out[0].permute(1, 2, 0).cpu().numpy()
    factor = float(outscale) if outscale is not None else float(model.scale)
    out_shape = (max(1, math.floor(image.height * factor + 0.5)),
                 max(1, math.floor(image.width * factor + 0.5)))
    if rgb.shape[:2] != out_shape:
        rgb = interpolate_image(rgb, out_shape, "bicubic")
    alpha = None
    if image.alpha is not None:
        alpha = np.clip(interpolate_image(image.alpha, out_shape, "bicubic"), 0.0, 1.0)
    return np.clip(rgb, 0.0, 1.0), alpha


def upscale_with_reference(path: Path, target: Path, ref_path: Path, skip_log: SkipLog,
                           model, *, outscale: float | None, half: bool, quality: int
                           ) -> int | None:
    """Read, enlarge against ``ref_path`` and write one image; its output pixel count, or
    None when the input was skipped. An unreadable reference is an error, not a skip."""
    image = skip_log.read(path)
    if image is None:
        return None
    reference = read_image(ref_path)
    from srkit.models.crossnet import CrossNet, check_reference_size

    if isinstance(model.model, CrossNet):
        try:
            check_reference_size((reference.height, reference.width))
        except SrkitError as error:
            raise SrkitError(f"{ref_path}: {error}") from None
    else:
        check_match_size((image.height, image.width), (reference.height, reference.width),
                         path.name, str(ref_path))
    rgb, alpha = enlarge_with_reference(image, reference.rgb, model, outscale=outscale,
                                        half=half)
    save_like(target, image, rgb, alpha, overwrite=True, quality=quality)
    return rgb.shape[0] * rgb.shape[1]
