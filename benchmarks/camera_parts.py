"""Which part of the quality benchmark's fixed camera (c) costs a model its gain.

    python benchmarks/camera_parts.py [PHOTO_DIR] [--scales 4 2] [--model FILE]
                                      [--out benchmarks/results/camera_parts.md]

The held-out photos of ``benchmarks/quality.py`` (the same HR test images: cleaned by a bicubic
×½, centre-cropped to ≤ 512²) are degraded by every combination of the camera's three parts
that the benchmark's (c) chains: its anisotropic Gaussian blur with ×s subsampling (else a
MATLAB-bicubic downscale), its Gaussian noise σ = 5/255 (the same draws as (c)), and JPEG 75.
For each combination the table gives the model's mean PSNR-Y margin over Lanczos-3 (border s)
and on how many photos it is ahead. "blur + noise + JPEG" is the benchmark's (c) itself.

Without ``--model`` the shipped ``srkit/weights/general_x{s}.safetensors`` is scored. Results go
to ``--out`` (markdown) and stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import quality  # noqa: E402  (the benchmark beside this file: test set and camera)

PARTS = (("blur",), ("blur", "noise"), ("blur", "jpeg"), ("noise", "jpeg"),
         ("blur", "noise", "jpeg"))


def margins(hr_images: dict[str, np.ndarray], scale: int, model_path: Path,
            seed: int) -> dict[tuple[str, ...], list[float]]:
    """Per combination of parts, the model's PSNR-Y minus Lanczos's on every photo, both
    upscaled and scored as the benchmark does (8-bit outputs, border s)."""
    from srkit.metrics.psnr_ssim import psnr

    model = quality.upscaler(quality.Method("model", "extra", scale, model_path), scale, "cpu")
    lanczos = quality.upscaler(quality.Method("lanczos", "interpolation"), scale, "cpu")
    out: dict[tuple[str, ...], list[float]] = {parts: [] for parts in PARTS}
    for index, (name, hr) in enumerate(hr_images.items()):
        quality.log(f"×{scale} {index + 1}/{len(hr_images)}: {name}")
        for parts in PARTS:
            lr = quality.camera_lr(hr, scale, name, seed, parts)
            out[parts].append(psnr(quality.quantise(model(lr)), hr, border=scale)
                              - psnr(quality.quantise(lanczos(lr)), hr, border=scale))
    return out


def table(results: dict[int, tuple[str, dict[tuple[str, ...], list[float]]]]) -> str:
    lines = ["# Camera (c) part by part: PSNR-Y margin over Lanczos-3", "",
             "Made by `python benchmarks/camera_parts.py` (its docstring has the recipe): the "
             "held-out photos of the quality benchmark, degraded by each combination of camera "
             "(c)'s parts; mean margin in dB, and on how many photos the model is ahead.", ""]
    scales = sorted(results, reverse=True)
    lines.append("| parts | " + " | ".join(f"×{s} {results[s][0]}" for s in scales) + " |")
    lines.append("|---" * (len(scales) + 1) + "|")
    for parts in PARTS:
        cells = []
        for scale in scales:
            values = np.asarray(results[scale][1][parts])
            cells.append(f"{values.mean():+.2f} ({int((values > 0).sum())} of {len(values)})")
        lines.append(f"| {' + '.join(parts)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="?", type=Path,
                        default=quality.REPO.parent / "shared" / "data" / "photos")
    parser.add_argument("--holdout", type=Path, default=HERE / "quality_holdout.txt")
    parser.add_argument("--scales", type=int, nargs="+", default=[4, 2])
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (default: the shipped general_x{s})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "camera_parts.md")
    args = parser.parse_args(argv)
    if not args.photos.is_dir():
        raise SystemExit(f"{args.photos}: no such photo folder (give PHOTO_DIR)")
    test, _ = quality.split_photos(args.photos, quality.read_holdout(args.holdout), None, None)
    hr_images = {path.name: quality.make_hr(path) for path in test}
    results = {}
    began = time.perf_counter()
    for scale in args.scales:
        model = args.model or quality.shipped_path(quality.REPO / "srkit" / "weights", scale)
        results[scale] = (model.stem, margins(hr_images, scale, model, args.seed))
    text = table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    quality.log(f"done in {time.perf_counter() - began:.0f} s: {args.out}")
    print(text)
    return text


if __name__ == "__main__":
    main()
