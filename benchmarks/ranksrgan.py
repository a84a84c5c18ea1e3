"""RankSRGAN at a tiny CPU budget: does ``--recipe ranksrgan`` (with a ranker trained on
NIQE-ranked crops) give outputs with a better NIQE than the same run without the rank term?

    python benchmarks/ranksrgan.py [--iters 40] [--ranker-iters 300] [--seed 0]
                                   [--device cpu] [--out benchmarks/results/ranksrgan]

Photos (../shared/data/photos, chosen by name before any run, nothing tuned on them):
``gcompris_explore_monuments_000…005`` make the rank data and are the SR training HR;
``gcompris_explore_farm_animals_000…003`` are the test photos (their central 384×384, ×4
MATLAB-bicubic LR of 96×96). The shipped ``general_x4`` may have seen any of them; it is the
common starting point of both arms, so the comparison between the arms is what counts.

1. ``srkit rank-data``: 192-pixel crops (8 per photo), methods bicubic, lanczos and the
   shipped ``general_x4``, scored by NIQE.
2. ``srkit train-ranker``: ``--ranker-iters`` iterations, batch 8, width 16, 96-pixel
   sub-crops; one of the six photos held out for the pair accuracy.
3. Two ``train-sr`` runs from ``--init general_x4`` on the training photos (``--hr
   --bicubic``), ``--iters`` iterations, batch 4, HR patches 128 (the VGG discriminator's
   smallest size, not the paper's 296), ``--perceptual-weight 0`` for both (no pretrained
   VGG19 offline: a perceptual loss on random features means nothing), EMA off:
   ``ranksrgan`` (vanilla GAN ×0.005 + rank ×0.03) and ``no rank`` (the same with
   ``rank_weight=0``).
4. NIQE of each arm's outputs on the test photos, with bicubic and the starting model.

Results: OUT.json and OUT.md, also printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TRAIN = [f"gcompris_explore_monuments_{i:03d}" for i in range(6)]
TEST = [f"gcompris_explore_farm_animals_{i:03d}" for i in range(4)]
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"


def _find(name: str) -> Path:
    matches = sorted(PHOTOS.glob(f"{name}_*.webp"))
    if not matches:
        sys.exit(f"{name}: not in {PHOTOS}")
    return matches[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--ranker-iters", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ranksrgan"))
    args = parser.parse_args()

    import torch

    from srkit.io.images import read_image, write_image
    from srkit.io.ranker_files import load_ranker
    from srkit.metrics import niqe
    from srkit.modelzoo import resolve_model
    from srkit.ops.resize import imresize
    from srkit.stages.rank_data import rank_data
    from srkit.stages.train_ranker import settings_with, train_ranker
    from srkit.stages.train_sr import train_sr

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="ranksrgan-"))
    hr_dir = work / "hr"
    for name in TRAIN:
        write_image(hr_dir / f"{name}.png", read_image(_find(name)).rgb)
    data = rank_data(hr_dir, work / "rankdata", methods=["bicubic", "lanczos"],
                     models=["general_x4"], crop_size=192, max_crops=8, seed=args.seed,
                     device=args.device)
    ranker = train_ranker(work / "rankdata", work / "ranker.safetensors",
                          settings=settings_with(iters=args.ranker_iters, batch_size=8),
                          num_feat=16, patch_size=96, val_fraction=1 / 6, seed=args.seed,
                          device=args.device, val_every=args.ranker_iters,
                          save_every=args.ranker_iters, log_every=50)
    common = {"hr": hr_dir, "bicubic": True, "init": "general_x4", "recipe": "ranksrgan",
              "iters": args.iters, "batch_size": 4, "patch_size": 128, "ema_decay": 0.0,
              "seed": args.seed, "device": args.device, "workers": 0,
              "save_every": args.iters, "log_every": 10}
    arms = {"ranksrgan": {"overrides": {"perceptual_weight": 0.0},
                          "ranker": ranker.output},
            "no rank": {"overrides": {"perceptual_weight": 0.0, "rank_weight": 0.0}}}
    models = {"general_x4 (start)": resolve_model("general_x4")}
    for arm, extra in arms.items():
        result = train_sr(output=work / f"{arm.replace(' ', '_')}.safetensors", scale=4,
                          **common, **extra)
        models[arm] = result.output

    from srkit.io.checkpoints import load_model
    from srkit.stages.upscale import enlarge_image

    scorer, _ = load_ranker(ranker.output)
    rows: dict[str, dict[str, float]] = {}
    tests = []
    for name in TEST:
        rgb = read_image(_find(name)).rgb
        top, left = (rgb.shape[0] - 384) // 2, (rgb.shape[1] - 384) // 2
        hr = rgb[top:top + 384, left:left + 384]
        tests.append((name, np.clip(imresize(hr, 1 / 4), 0, 1).astype(np.float32)))
    from srkit.io.images import LoadedImage

    for label in ["bicubic", *models]:
        model = None if label == "bicubic" else load_model(models[label], "cpu")
        scores, ranks = [], []
        for _, lr in tests:
            out, _ = enlarge_image(LoadedImage(rgb=lr), method="bicubic" if model is None
                                   else "model", model=model, scale=4)
            out = np.round(np.clip(out, 0, 1) * 255) / 255
            scores.append(niqe(out))
            with torch.no_grad():
                tensor = torch.from_numpy(out).permute(2, 0, 1)[None].float()
                ranks.append(float(scorer(tensor)))
        rows[label] = {"niqe": float(np.mean(scores)), "niqe_per_photo": scores,
                       "ranker_score": float(np.mean(ranks))}
    report = {"command": " ".join(["python", *sys.argv]), "train_photos": TRAIN,
              "test_photos": TEST, "rank_data": {"crops": data.crops,
                                                 "mean_niqe": data.mean_niqe,
                                                 "best_share": data.best_share},
              "ranker": {"val_accuracy": ranker.val_accuracy, "val_pairs": ranker.val_pairs,
                         "val_photos": ranker.val_photos, "iters": args.ranker_iters},
              "sr_iters": args.iters, "results": rows,
              "seconds": round(time.perf_counter() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# RankSRGAN at a tiny budget\n", f"`{report['command']}` "
             f"({report['seconds']} s)\n",
             f"Rank data: {data.crops} crops of 6 photos; mean NIQE "
             + ", ".join(f"{k} {v:.2f}" for k, v in data.mean_niqe.items()) + "\n",
             f"Ranker: held-out pair accuracy {100 * (ranker.val_accuracy or 0):.1f} % "
             f"({ranker.val_pairs} pairs, photo {', '.join(ranker.val_photos)})\n",
             "| outputs (4 test photos, ×4) | mean NIQE (lower = better) | per photo | "
             "mean ranker score |", "|---|---|---|---|"]
    for label, row in rows.items():
        per = " / ".join(f"{v:.2f}" for v in row["niqe_per_photo"])
        lines.append(f"| {label} | {row['niqe']:.3f} | {per} | {row['ranker_score']:.3f} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
