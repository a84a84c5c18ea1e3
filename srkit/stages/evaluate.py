"""``srkit evaluate``: score super-resolved images against references, or without them.

Each folder given is one *method* (so ``evaluate(["sr_a", "sr_b"], "hr")`` compares two
methods side by side); loose files and globs together form one more. An SR image is paired
with the reference image of the same file stem (``sr/baboon.png`` ↔ ``hr/baboon.jpg``);
when a single reference *file* is given it is paired with the single SR image of each method
whatever its name. Sizes must agree, except that with a scale the two may differ by fewer
than ``scale`` pixels per side — the usual result of a reference whose size was not a
multiple of the scale — and then both are cropped to the common top-left region (MATLAB's
``imresize`` aligns pixel grids at the top-left corner, so no shift is introduced).

Conventions (see docs/metrics.md): PSNR/SSIM on the Y of BT.601 (or RGB), data range 255,
``border`` pixels removed on every side for every metric (default: the scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srkit.errors import SrkitError
from srkit.io.images import LoadedImage, SkipLog, list_images, nothing_readable

FULL_REFERENCE = ("psnr", "ssim", "lpips")
ALL_METRICS = ("psnr", "ssim", "niqe", "lpips")
LOWER_IS_BETTER = ("niqe", "lpips")


@dataclass(frozen=True)
class Conventions:
    """How the numbers were computed; printed and stored with them."""

    channel: str  # "Y" (BT.601 as MATLAB rgb2ycbcr) or "RGB", for PSNR and SSIM
    border: int  # pixels removed on each side before every metric
    data_range: int = 255

    def describe(self, metrics: Sequence[str]) -> str:
        """One line for people: what was measured and how."""
        parts = []
        if "psnr" in metrics or "ssim" in metrics:
            space = ("Y of BT.601 YCbCr (MATLAB rgb2ycbcr, 16-235)" if self.channel == "Y"
                     else "RGB (mean over channels)")
            parts.append(f"PSNR/SSIM on {space}, data range {self.data_range}")
        if "ssim" in metrics:
            parts.append("SSIM 11×11 Gaussian σ 1.5 (valid region)")
        if "niqe" in metrics:
            parts.append("NIQE on Y, 96×96 blocks, standard pristine model")
        if "lpips" in metrics:
            parts.append("LPIPS v0.1 AlexNet on RGB")
        parts.append(f"border {self.border} px cropped")
        return "; ".join(parts)

    def to_dict(self, metrics: Sequence[str] = ALL_METRICS) -> dict[str, Any]:
        """Machine-readable conventions, with a note for each metric in ``metrics``."""
        out: dict[str, Any] = {
            "channel": self.channel,
            "colour_transform": "BT.601 YCbCr as MATLAB rgb2ycbcr (Y in 16-235)"
            if self.channel == "Y" else "none (RGB, mean over channels)",
            "border": self.border,
            "data_range": self.data_range,
        }
        notes = {
            "ssim": "11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, valid region",
            "niqe": "Y rounded to 0-255 integers, 96x96 blocks, two scales (MATLAB bicubic "
                    "x0.5), pristine model of the original MATLAB release",
            "lpips": "v0.1, AlexNet trunk, RGB mapped to [-1, 1]",
        }
        out.update({metric: note for metric, note in notes.items() if metric in metrics})
        return out


@dataclass
class ImageScores:
    """One SR image's scores (None: not computable for this image, see the warnings)."""

    name: str
    sr_path: Path
    ref_path: Path | None
    scores: dict[str, float | None]
    cropped_to: tuple[int, int] | None = None  # (H, W) when SR and reference sizes differed


@dataclass
class MethodScores:
    """All images of one method (one SR folder), with the means over them."""

    label: str
    images: list[ImageScores] = field(default_factory=list)
    unmatched: list[Path] = field(default_factory=list)  # SR images without a reference
    missing: list[str] = field(default_factory=list)  # reference stems without an SR image

    def mean(self, metric: str) -> float | None:
        values = [row.scores.get(metric) for row in self.images]
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    def count(self, metric: str) -> int:
        return sum(row.scores.get(metric) is not None for row in self.images)


@dataclass
class EvaluateResult:
    """What :func:`evaluate` measured: per-method, per-image scores and their conventions."""

    metrics: tuple[str, ...]
    methods: list[MethodScores]
    conventions: Conventions
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: infinite PSNR (identical images) as the string "inf", gaps as null."""
        return {
            "metrics": list(self.metrics),
            "conventions": self.conventions.to_dict(self.metrics),
            "methods": [{
                "label": method.label,
                "mean": {m: _json_number(method.mean(m)) for m in self.metrics},
                "count": {m: method.count(m) for m in self.metrics},
                "images": [{
                    "name": row.name,
                    "sr": str(row.sr_path),
                    "ref": str(row.ref_path) if row.ref_path else None,
                    **{m: _json_number(row.scores.get(m)) for m in self.metrics},
                    **({"cropped_to": list(row.cropped_to)} if row.cropped_to else {}),
                } for row in method.images],
                "unmatched": [str(path) for path in method.unmatched],
                "missing": method.missing,
            } for method in self.methods],
            "skipped": self.skipped,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """Flat rows for CSV: one per image and one ``image="MEAN"`` per method."""
        rows = []
        base = {"channel": self.conventions.channel, "border": self.conventions.border}
        for method in self.methods:
            for row in method.images:
                rows.append({"method": method.label, "image": row.name, "sr": str(row.sr_path),
                             "ref": str(row.ref_path or ""),
                             **{m: row.scores.get(m) for m in self.metrics}, **base})
            rows.append({"method": method.label, "image": "MEAN", "sr": "", "ref": "",
                         **{m: method.mean(m) for m in self.metrics}, **base})
        return rows


def _json_number(value: float | None) -> float | str | None:
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def choose_metrics(metrics: Sequence[str] | None, has_ref: bool, with_lpips: bool
                   ) -> tuple[str, ...]:
    """The metrics to compute, in canonical order; checks names and the need for a reference."""
    if metrics is None:
        chosen = {"psnr", "ssim", "niqe"} if has_ref else {"niqe"}
        if has_ref and with_lpips:
            chosen.add("lpips")
    else:
        names = [m.strip().lower() for m in metrics if m.strip()]
        unknown = sorted(set(names) - set(ALL_METRICS))
        if unknown:
            raise SrkitError(f"unknown metric {', '.join(unknown)} "
                             f"(choose from {', '.join(ALL_METRICS)})")
        if not names:
            raise SrkitError(f"no metric chosen (choose from {', '.join(ALL_METRICS)})")
        chosen = set(names)
    needs_ref = [m for m in ALL_METRICS if m in chosen and m in FULL_REFERENCE]
    if needs_ref and not has_ref:
        raise SrkitError(f"{', '.join(needs_ref)} compare with a reference: pass --ref HR_DIR "
                         "(without one only niqe can be computed)")
    return tuple(m for m in ALL_METRICS if m in chosen)


def group_inputs(sr_inputs: Sequence[str | Path] | str | Path
                 ) -> list[tuple[str, list[Path]]]:
    """One ``(label, images)`` group per folder, plus one for loose files and globs."""
    if isinstance(sr_inputs, (str, Path)):
        sr_inputs = [sr_inputs]
    folders = [Path(item) for item in sr_inputs if Path(item).is_dir()]
    loose = [item for item in sr_inputs if not Path(item).is_dir()]
    names = [folder.resolve().name or str(folder) for folder in folders]
    labels = names if len(set(names)) == len(names) else [str(folder) for folder in folders]
    groups = [(label, list_images(folder)) for label, folder in zip(labels, folders, strict=True)]
    if loose:
        groups.append(("files" if folders else "sr", list_images(loose)))
    if not groups:
        raise SrkitError("no SR images given")
    return groups


def by_stem(paths: list[Path], what: str) -> dict[str, Path]:
    """Images keyed by file stem; two with one stem raise :class:`SrkitError` naming ``what``."""
    found: dict[str, Path] = {}
    for path in paths:
        if path.stem in found:
            raise SrkitError(f"{what}: two images share the name {path.stem!r} "
                             f"({found[path.stem]} and {path}); names must be unique to match")
        found[path.stem] = path
    return found


def _align(sr: LoadedImage, ref: LoadedImage, scale: int | None
           ) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | None]:
    if sr.rgb.shape == ref.rgb.shape:
        return sr.rgb, ref.rgb, None
    dh, dw = sr.height - ref.height, sr.width - ref.width
    if scale and abs(dh) < scale and abs(dw) < scale:
        h, w = min(sr.height, ref.height), min(sr.width, ref.width)
        return sr.rgb[:h, :w], ref.rgb[:h, :w], (h, w)
    allowance = (f"more than the {scale - 1} px per side allowed at ×{scale}" if scale
                 else "give -x SCALE to allow differences below the scale")
    raise SrkitError(f"{sr.path}: size {sr.width}×{sr.height} differs from its reference "
                     f"{ref.path} ({ref.width}×{ref.height}); {allowance}")


def evaluate(
    sr_inputs: Sequence[str | Path] | str | Path,
    ref: str | Path | None = None,
    *,
    scale: int | None = None,
    border: int | None = None,
    y_channel: bool = True,
    metrics: Sequence[str] | None = None,
    lpips_weights: str | Path | None = None,
    alexnet_weights: str | Path | None = None,
    device: str = "cpu",
    strict: bool = False,
) -> EvaluateResult:
    """Score SR images (files, folders, globs; one method per folder) against ``ref``.

    Args:
        sr_inputs: SR images; each folder is scored as its own method.
        ref: folder (or file) of reference HR images matched by file stem; None for
            no-reference scoring (NIQE only).
        scale: the SR factor; the default ``border`` and the size tolerance follow it.
        border: pixels removed on each side before every metric (default ``scale`` or 0).
        y_channel: PSNR/SSIM on BT.601 Y (True) or on RGB (False).
        metrics: subset of ``psnr, ssim, niqe, lpips``; default psnr, ssim, niqe (+ lpips when
            ``lpips_weights`` is given) with a reference, niqe without.
        lpips_weights, alexnet_weights: weight files for LPIPS (see
            :func:`srkit.metrics.lpips.load_lpips`).
        device: torch device for LPIPS (``auto`` picks CUDA when present).
        strict: fail on an unreadable image, an SR image without a reference or an image a
            metric cannot score (too small) instead of leaving it out with a warning.
    Returns:
        :class:`EvaluateResult`. Raises :class:`SrkitError` on bad input, and when no image
        could be read.
    """
    from srkit.console import track

    if scale is not None and scale < 1:
        raise SrkitError(f"scale must be at least 1, got {scale}")
    if border is not None and border < 0:
        raise SrkitError(f"border must be >= 0, got {border}")
    chosen = choose_metrics(metrics, ref is not None, lpips_weights is not None)
    conventions = Conventions("Y" if y_channel else "RGB",
                              border if border is not None else (scale or 0))
    crop = conventions.border
    groups = group_inputs(sr_inputs)
    lpips_model = None
    if "lpips" in chosen:
        from srkit.device import resolve_device
        from srkit.metrics.lpips import load_lpips

        lpips_model = load_lpips(lpips_weights, alexnet_weights, device=resolve_device(device))

    methods, jobs = _pair(groups, ref, strict)
    if ref is not None and not jobs:
        raise SrkitError(f"no SR image has a reference of the same name in {ref}")
    skip_log = SkipLog(strict=strict)
    # the methods' images of one reference run back to back, so each reference is read once
    jobs.sort(key=lambda job: str(job[2] or ""))
    last_ref: tuple[Path | None, LoadedImage | None] = (None, None)

    for method, sr_path, ref_path in track(jobs, "evaluating", unit="img"):
        sr_img = skip_log.read(sr_path)
        if ref_path is not None and last_ref[0] != ref_path:
            last_ref = (ref_path, skip_log.read(ref_path))
        ref_img = last_ref[1] if ref_path is not None else None
        if sr_img is None or (ref_path is not None and ref_img is None):
            continue
        if ref_img is not None:
            img, gt, cropped = _align(sr_img, ref_img, scale)
        else:
            img, gt, cropped = sr_img.rgb, None, None
        scores = _score(img, gt, chosen, crop, y_channel, lpips_model, sr_path, strict)
        method.images.append(ImageScores(sr_path.stem, sr_path, ref_path, scores, cropped))
    for method in methods:
        method.images.sort(key=lambda row: row.name)
    skipped = list(dict.fromkeys(skip_log.skipped or []))
    if skipped and not any(method.images for method in methods):
        raise nothing_readable(skipped)
    return EvaluateResult(chosen, methods, conventions, skipped)


def _score(img: np.ndarray, gt: np.ndarray | None, chosen: tuple[str, ...], crop: int,
           y_channel: bool, lpips_model: Any, sr_path: Path, strict: bool
           ) -> dict[str, float | None]:
    """Every chosen metric of one pair; a metric that cannot score it gives None (warned)."""
    from srkit.console import warn
    from srkit.metrics import niqe, psnr, ssim

    scores: dict[str, float | None] = {}
    for metric in chosen:
        try:
            if metric == "psnr":
                scores[metric] = psnr(img, gt, border=crop, y_channel=y_channel)
            elif metric == "ssim":
                scores[metric] = ssim(img, gt, border=crop, y_channel=y_channel)
            elif metric == "niqe":
                scores[metric] = niqe(img, border=crop)
            else:
                from srkit.metrics.lpips import lpips_distance

                scores[metric] = lpips_distance(img, gt, lpips_model, border=crop)
        except ValueError as error:
            if strict:
                raise SrkitError(f"{sr_path}: {metric} not computable ({error})") from None
            warn(f"{sr_path}: {metric} left out ({error})")
            scores[metric] = None
    return scores


def _pair(groups: list[tuple[str, list[Path]]], ref: str | Path | None, strict: bool
          ) -> tuple[list[MethodScores], list[tuple[MethodScores, Path, Path | None]]]:
    """Match each group's images with references; report the unmatched ones."""
    from srkit.console import warn

    methods: list[MethodScores] = []
    jobs: list[tuple[MethodScores, Path, Path | None]] = []
    ref_path = Path(ref) if ref is not None else None
    if ref_path is not None and not ref_path.exists() and not any(c in str(ref) for c in "*?["):
        raise SrkitError(f"{ref}: no such reference file or folder")
    references = by_stem(list_images(ref_path), str(ref)) if ref_path is not None else {}
    for label, paths in groups:
        method = MethodScores(label)
        methods.append(method)
        by_name = by_stem(paths, label)
        if ref_path is None:
            jobs += [(method, path, None) for path in by_name.values()]
            continue
        if ref_path.is_file() and len(by_name) == 1:
            jobs.append((method, next(iter(by_name.values())), ref_path))
            continue
        for stem, path in by_name.items():
            if stem in references:
                jobs.append((method, path, references[stem]))
            else:
                method.unmatched.append(path)
        method.missing = sorted(set(references) - set(by_name))
        if method.unmatched:
            names = ", ".join(p.name for p in method.unmatched[:5])
            more = f" and {len(method.unmatched) - 5} more" if len(method.unmatched) > 5 else ""
            count = len(method.unmatched)
            message = (f"{label}: {count} SR image{'' if count == 1 else 's'} without a "
                       "reference of "
                       f"the same name in {ref}: {names}{more}")
            if strict:
                raise SrkitError(message)
            warn(message + " (left out)")
    return methods, jobs
