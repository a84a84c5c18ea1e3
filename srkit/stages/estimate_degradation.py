"""``srkit estimate-degradation``: a blind model's estimate of each photo's blur, noise and scale.

A ``unet-blind`` model (``train-sr --blind``) has a head that predicts, from a pre-upsampled
image, the parameters of :mod:`srkit.degradations.blind`: Gaussian blur variance (px²), noise
level (std in 0–255 grey levels, at the low resolution) and downscale factor. The photo is
first enlarged ×``scale`` with MATLAB bicubic (1: as given — a pair folder's ``lr/`` of
``srkit degrade --mode blind`` is already pre-upsampled), then cut into crops of ``crop``
pixels on a grid (the model was trained on crops of that size; the image itself when it is
smaller), and the crops' normalised predictions are averaged before converting them to units.

Library use::

    from srkit.stages.estimate_degradation import estimate_degradation
    result = estimate_degradation(["photo.png"], model="blind.safetensors")
    result.estimates[0].noise_level
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError

DEFAULT_CROP = 128
MAX_CROPS = 64  # per photo, evenly spread (a 12 MP photo has ~700 crops of 128)


@dataclass(frozen=True)
class DegradationEstimate:
    """One photo's predicted parameters (means over ``crops`` crops) and their spread (std
    over the crops, same units)."""

    name: str
    path: str
    blur_variance: float  # px²
    noise_level: float    # std, grey levels of 0–255
    factor: float         # downscale factor ≥ 1
    crops: int
    spread: dict[str, float] = field(default_factory=dict)

    @property
    def blur_std(self) -> float:
        return math.sqrt(max(self.blur_variance, 0.0))

    def to_dict(self) -> dict:
        return {**asdict(self), "blur_std": self.blur_std}


@dataclass(frozen=True)
class EstimateResult:
    """The estimates in input order, the model used and the photos skipped (unreadable)."""

    estimates: list[DegradationEstimate]
    model: Path
    scale: float
    skipped: list[str] = field(default_factory=list)


def crop_grid(height: int, width: int, crop: int, max_crops: int = MAX_CROPS
              ) -> list[tuple[int, int]]:
    """Top-left corners of non-overlapping ``crop``² crops on a grid covering the image,
    thinned evenly to at most ``max_crops`` (one at (0, 0) when the image is smaller)."""
    rows = list(range(0, max(height - crop, 0) + 1, crop))
    cols = list(range(0, max(width - crop, 0) + 1, crop))
    corners = [(r, c) for r in rows for c in cols]
    if len(corners) > max_crops:
        picks = np.linspace(0, len(corners) - 1, max_crops).round().astype(int)
        corners = [corners[i] for i in picks]
    return corners


def predict_parameters(model, rgb: np.ndarray, crop: int = DEFAULT_CROP
                       ) -> tuple[np.ndarray, np.ndarray, int]:
    """The head's prediction on float RGB ``(H, W, 3)``: mean and std over the crops of
    (blur variance, noise level, factor) in units, and the number of crops."""
    import torch
    from torch.nn import functional as F

    multiple = int(model.size_multiple)
    crop = max(multiple, crop // multiple * multiple)
    parameter = next(model.parameters())
    corners = crop_grid(rgb.shape[0], rgb.shape[1], crop)
    predictions = []
    with torch.inference_mode():
        for top, left in corners:
            piece = np.ascontiguousarray(rgb[top:top + crop, left:left + crop].transpose(2, 0, 1))
            tensor = torch.from_numpy(piece)[None].to(parameter.device, parameter.dtype)
            pad_h, pad_w = (-tensor.shape[-2]) % multiple, (-tensor.shape[-1]) % multiple
            if pad_h or pad_w:
                mode = "reflect" if pad_h < tensor.shape[-2] and pad_w < tensor.shape[-1] \
                    else "replicate"
                tensor = F.pad(tensor, (0, pad_w, 0, pad_h), mode=mode)
            _, normalised = model(tensor, with_params=True)
            predictions.append(normalised.float())
    stacked = torch.cat(predictions)
    mean = model.denormalise(stacked.mean(dim=0, keepdim=True).to(parameter.dtype))[0]
    units = model.denormalise(stacked.to(parameter.dtype))
    spread = units.std(dim=0, unbiased=False)
    return mean.float().cpu().numpy(), spread.float().cpu().numpy(), len(corners)


def estimate_degradation(inputs: Sequence[str | Path] | str | Path, model: str | Path,
                         scale: float = 1.0, *, crop: int = DEFAULT_CROP,
                         device: str = "auto", strict: bool = False) -> EstimateResult:
    """Estimate the blind degradation of each photo in ``inputs`` (files, folders, globs)
    with the parameter head of ``model`` (see module doc). ``scale``: bicubic enlargement
    before the model looks (≥ 1). Unreadable photos are skipped (``strict`` raises)."""
    from srkit.degradations.blind import PARAMETERS
    from srkit.device import resolve_device
    from srkit.io.checkpoints import load_model
    from srkit.io.images import SkipLog, list_images, nothing_readable
    from srkit.modelzoo import resolve_model
    from srkit.stages.upscale import interpolate_image

    if not (scale >= 1 and math.isfinite(scale)):
        raise SrkitError(f"-x/--scale must be 1 or more, got {scale}")
    if crop < 1:
        raise SrkitError(f"--crop must be at least 1, got {crop}")
    path = resolve_model(model, None)
    loaded = load_model(path, resolve_device(device))
    if not hasattr(loaded.model, "denormalise"):
        raise SrkitError(f"{path}: a {loaded.arch} model has no degradation-parameter head "
                         "(train one with srkit train-sr --hr PHOTOS --blind)")
    paths = list_images(inputs)
    skip_log = SkipLog(strict=strict)
    estimates = []
    for image_path in paths:
        image = skip_log.read(image_path)
        if image is None:
            continue
        rgb = image.rgb
        if scale != 1:
            shape = (max(1, round(image.height * scale)), max(1, round(image.width * scale)))
            rgb = np.clip(interpolate_image(rgb, shape, "bicubic"), 0.0, 1.0)
        mean, spread, count = predict_parameters(loaded.model, rgb.astype(np.float32), crop)
        estimates.append(DegradationEstimate(
            image_path.stem, str(image_path), *(float(v) for v in mean), crops=count,
            spread={name: float(v) for name, v in zip(PARAMETERS, spread, strict=True)}))
    if not estimates and skip_log.skipped:
        raise nothing_readable(skip_log.skipped)
    return EstimateResult(estimates, path, float(scale), list(skip_log.skipped or []))
