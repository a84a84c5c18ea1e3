"""Does the pool's noise come back at the camera's level? collect-noise on a camera's photos,
then ``degrade --pool`` on flat fields, against the camera's own noise before and after JPEG.

    python benchmarks/noise_roundtrip.py [PHOTO_DIR] [--seed 0] [--out FILE_STEM]

The camera is benchmarks/camera_workflow.py's (Poisson–Gaussian noise of per-channel variance
``iso · (16 + 128·x/255)``, then JPEG 70–95), applied to collect-noise's 18 *development*
photos (every 7th photo outside the hold-out list, the ones the adaptive rule was chosen on),
never to the workflow's test or LR photos. Grey levels are BT.601 luma on 0–255 (what
collect-noise measures). Rows, at grey levels 30 … 230:

* the camera before JPEG (flat fields, the formula's noise in grey levels);
* the camera after its JPEG at the draws' mean quality (flat fields, JPEG at the nearest of
  70 / 80 / 90 / 95 below and above, interpolated);
* the pool's fitted noise level (``a + b·μ`` of the adaptive rule) from those photos' LR;
* ``degrade --pool`` without kernels (bicubic ×¼ of a flat HR, the pool's noise scaled to the
  brightness, the pool's JPEG), the grey σ of the result.

Results: FILE_STEM.md and .json (default benchmarks/results/noise_roundtrip).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

LEVELS = (30, 80, 130, 180, 230)
QUALITIES = (70, 80, 90, 95)


def flat_camera(rng: np.random.Generator) -> dict[int, dict]:
    """Grey σ of the camera's noise on flat 128² fields: before JPEG, and after each quality."""
    from srkit.ops.jpeg import jpeg_compress
    from srkit.ops.noise_stats import grey_levels

    out = {}
    for level in LEVELS:
        before, after = [], {q: [] for q in QUALITIES}
        for _ in range(4):
            lr = np.full((128, 128, 3), float(level))
            noisy = np.clip((lr + rng.normal(size=lr.shape)
                             * np.sqrt(16.0 + 128.0 * lr / 255.0)) / 255.0, 0, 1)
            before.append(grey_levels(noisy).std())
            for q in QUALITIES:
                after[q].append(grey_levels(jpeg_compress(noisy, q)).std())
        out[level] = {"before": float(np.mean(before)),
                      "after": {q: float(np.mean(v)) for q, v in after.items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo_dir", nargs="?", type=Path,
                        default=HERE.parents[1] / "shared" / "data" / "photos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "noise_roundtrip")
    args = parser.parse_args()

    import quality
    from camera_workflow import camera, trim

    from srkit.degradations.pool import PoolDegradation, camera_noise_level
    from srkit.io.images import read_image, write_image
    from srkit.io.pools import read_pool
    from srkit.ops.noise_stats import grey_levels
    from srkit.stages.collect_noise import collect_noise

    holdout = quality.read_holdout(HERE / "quality_holdout.txt")
    _, rest = quality.split_photos(args.photo_dir, holdout, None, None)
    photos = rest[::7][:18]  # collect-noise's development photos (srkit/ops/noise_level.py)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "lr").mkdir()
        draws = []
        for path in photos:
            lr, drawn = camera(trim(read_image(path).rgb), path.name, args.seed)
            draws.append(drawn)
            write_image(work / "lr" / f"{path.stem}.png", lr)
        collect_noise(work / "lr", work / "pool.h5")
        pool = read_pool(work / "pool.h5")
        level, _ = camera_noise_level(pool)
        degradation = PoolDegradation.from_pool(pool, 4, use_kernels=False)
        rng = np.random.default_rng(args.seed)
        degraded = {}
        for grey in LEVELS:
            values = []
            for _ in range(12):
                hr = np.full((512, 512, 3), grey / 255.0, dtype=np.float32)
                out = np.asarray(degradation.degrade(hr, rng).lr)
                values.append(grey_levels(out[8:-8, 8:-8]).std())
            degraded[grey] = float(np.mean(values))
    flat = flat_camera(np.random.default_rng(args.seed))
    mean_quality = float(np.mean([d["jpeg"] for d in draws]))
    low = max(q for q in QUALITIES if q <= mean_quality)
    high = min(q for q in QUALITIES if q >= mean_quality)
    weight = 0.0 if high == low else (mean_quality - low) / (high - low)
    after = {g: (1 - weight) * flat[g]["after"][low] + weight * flat[g]["after"][high]
             for g in LEVELS}
    rows = [("the camera before JPEG (flat fields)", {g: flat[g]["before"] for g in LEVELS}),
            (f"the camera after its JPEG (flat fields, quality {mean_quality:.1f})", after),
            ("the pool's fitted noise level (collect-noise, defaults)",
             {g: float(level.sigma(g)) for g in LEVELS}),
            ("`degrade --pool` of flat fields (its noise, then the pool's JPEG)", degraded)]
    lines = ["# The pool's noise, measured and re-applied (`benchmarks/noise_roundtrip.py`)", "",
             f"Command: `python benchmarks/noise_roundtrip.py --seed {args.seed}`. The camera "
             "of benchmarks/camera_workflow.py on collect-noise's 18 development photos "
             f"(ISO mean {np.mean([d['iso'] for d in draws]):.2f}, JPEG mean "
             f"{mean_quality:.1f}); grey σ in levels (BT.601 luma, 0–255).", "",
             "| grey σ at level | " + " | ".join(str(g) for g in LEVELS) + " |",
             "|---|" + "---|" * len(LEVELS)]
    lines += [f"| {name} | " + " | ".join(f"{v[g]:.2f}" for g in LEVELS) + " |"
              for name, v in rows]
    ratio = [degraded[g] / after[g] for g in LEVELS]
    lines += ["", "`degrade --pool` against the camera after its JPEG: "
              + ", ".join(f"{r:.2f}×" for r in ratio) + " (levels as above).", ""]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"seed": args.seed, "rows": {name: v for name, v in rows}, "ratio": ratio},
        indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
