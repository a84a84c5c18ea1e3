"""Meta-SR at non-integer factors: one network trained over ×1.1–4 against a ×4 network of the
same body plus a bicubic downscale, against plain bicubic; and the range model at ×2 against a
fixed-×2 network trained the same way.

    OMP_NUM_THREADS=1 python benchmarks/metasr_scales.py [PHOTO_DIR] [--iters N] [--seeds K]
        [--input-skip]

Photos (default ``../shared/data/photos``): training on the 8 ``tuxpaint_*`` photos of
:data:`TRAIN`, testing on the 5 ``palapeli_*`` photos of :data:`TEST` (none of them was used
to choose any setting here; the settings below were fixed before the first run). Every test
photo gives its central ``297 × 297`` HR crop (297 = 1.5·198 = 2.7·110 = 3.3·90; 296 for ×2,
so the LR of each factor is exactly HR / r and the outputs are HR-sized) and its LR by MATLAB
bicubic ``imresize(hr, 1/r)``, the degradation all models train on (``train-sr --bicubic``).

Models (same RDN body: ``num_feat 16, num_block 2, num_layer 3, num_grow_ch 8``; psnr recipe,
L1, the same iterations, batch 4, patch 64, seeds 0..K-1):

* ``metasr ×1.1–4`` — ``-x 1.1-4``: one factor per batch; run natively at r;
* ``metasr ×4 + bicubic↓`` — the same network trained at ×4 only, its ×4 output shrunk to
  ``round(r·LR)`` with MATLAB bicubic;
* ``metasr ×2`` — trained at ×2 only (the ×2 comparison);
* ``bicubic`` — ``imresize(lr, output_shape=hr)``.

``--input-skip``: every network with ``input_skip=True`` (srkit's nearest skip through the
projection, not the paper's; :mod:`srkit.models.metasr`), all else the same.

Metric: PSNR on Y (BT.601), ``ceil(r)`` pixels shaved at each border, mean over the photos.
Results: benchmarks/results/metasr_scales.md (the paper's network) and
benchmarks/results/metasr_scales_skip.md (``--input-skip``).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TRAIN = ["tuxpaint_burnt_bark.jpg", "tuxpaint_cliff.jpg", "tuxpaint_corn_maze.jpg",
         "tuxpaint_jellyfish.jpg", "tuxpaint_lighthouse.jpg", "tuxpaint_mossy_log.jpg",
         "tuxpaint_sheep.jpg", "tuxpaint_wool_mill_machine.jpg"]
TEST = ["palapeli_castle-maintenon.jpg", "palapeli_cincinnati-bridge.jpg",
        "palapeli_citrus-fruits.jpg", "palapeli_european-honey-bee.jpg",
        "palapeli_panther-chameleon-female.jpg"]
BODY = {"num_feat": 16, "num_block": 2, "num_layer": 3, "num_grow_ch": 8}
FACTORS = (1.5, 2.7, 3.3)
CROPS = {1.5: 297, 2.7: 297, 3.3: 297, 2.0: 296}  # HR sides that are r × an integer


def _centre(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size × size`` crop (at most the image)."""
    height, width = min(size, image.shape[0]), min(size, image.shape[1])
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return image[top:top + height, left:left + width]


def _train(folder: Path, out: Path, scale, iters: int, seed: int, arch_args: dict) -> Path:
    from srkit.stages.train_sr import train_sr

    train_sr(None, out, scale, hr=folder, bicubic=True, arch="metasr", arch_args=arch_args,
             iters=iters, batch_size=4, patch_size=64, seed=seed, workers=0, device="cpu",
             save_every=iters, log_every=max(1, iters // 10), val_every=10**9)
    return out


def main(argv: list[str] | None = None) -> None:
    import torch

    from srkit.io.checkpoints import load_model
    from srkit.io.images import read_image, write_image
    from srkit.metrics.psnr_ssim import psnr
    from srkit.ops.resize import imresize
    from srkit.scales import ScaleRange
    from srkit.stages.upscale import run_model

    parser = argparse.ArgumentParser()
    parser.add_argument("photos", nargs="?",
                        default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                    / "photos"))
    parser.add_argument("--iters", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--input-skip", action="store_true",
                        help="train every network with input_skip=True (srkit's addition)")
    args = parser.parse_args(argv)
    arch_args = {**BODY, "input_skip": True} if args.input_skip else dict(BODY)
    torch.set_num_threads(1)
    photos = Path(args.photos)
    tests = [read_image(photos / name).rgb for name in TEST]
    rows: dict[str, dict[float, list[float]]] = {}

    def record(method: str, factor: float, value: float) -> None:
        rows.setdefault(method, {}).setdefault(factor, []).append(value)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "hr"
        for name in TRAIN:  # the central 512² (at most) of each, to keep decoding and memory small
            write_image(folder / Path(name).with_suffix(".png").name,
                        _centre(read_image(photos / name).rgb, 512))
        for seed in range(args.seeds):
            ranged = load_model(_train(folder, Path(tmp) / f"range{seed}.safetensors",
                                       ScaleRange(1.1, 4.0), args.iters, seed,
                                       arch_args)).model
            fixed4 = load_model(_train(folder, Path(tmp) / f"x4_{seed}.safetensors", 4,
                                       args.iters, seed, arch_args)).model
            fixed2 = load_model(_train(folder, Path(tmp) / f"x2_{seed}.safetensors", 2,
                                       args.iters, seed, arch_args)).model
            for factor in (*FACTORS, 2.0):
                border = math.ceil(factor)
                side = CROPS[factor]
                for photo in tests:
                    hr = _centre(photo, side)
                    small = round(side / factor)
                    lr = np.clip(imresize(hr, output_shape=(small, small)), 0, 1)
                    shape = hr.shape[:2]
                    native = run_model(ranged, lr, tile=0, scale=factor)
                    assert native.shape[:2] == shape, (native.shape, shape)
                    record("metasr ×1.1–4 (native)", factor, psnr(native, hr, border=border))
                    if factor == 2.0:
                        record("metasr ×2 (fixed)", factor,
                               psnr(run_model(fixed2, lr, tile=0), hr, border=border))
                    else:
                        x4 = run_model(fixed4, lr, tile=0)
                        down = np.clip(imresize(x4, output_shape=shape), 0, 1)
                        record("metasr ×4 + bicubic↓", factor, psnr(down, hr, border=border))
                    if seed == 0:
                        bicubic = np.clip(imresize(lr, output_shape=shape), 0, 1)
                        record("bicubic", factor, psnr(bicubic, hr, border=border))
    factors = (*FACTORS, 2.0)
    print(f"PSNR-Y (dB), mean over {len(TEST)} photos; {args.seeds} seed(s), seeds' mean "
          f"(min–max); {args.iters} iterations each; input_skip={args.input_skip}; "
          f"{time.perf_counter() - started:.0f} s")
    print("| method | " + " | ".join(f"×{f:g}" for f in factors) + " |")
    print("|---|" + "---|" * len(factors))
    for method, per_factor in rows.items():
        cells = []
        for factor in factors:
            values = per_factor.get(factor)
            if not values:
                cells.append("")
                continue
            per_seed = np.asarray(values).reshape(-1, len(TEST)).mean(axis=1)
            cell = f"{per_seed.mean():.2f}"
            if len(per_seed) > 1:
                cell += f" ({per_seed.min():.2f}–{per_seed.max():.2f})"
            cells.append(cell)
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
