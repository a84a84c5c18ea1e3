"""Domain adaptation on a synthetic camera, at a tiny budget: does ``--recipe domain-adapt``
(bicubic source pairs + the camera's unpaired LR photos) beat the same ``da-sr`` network
trained on the source pairs alone?

    python benchmarks/domain_adapt.py [--seeds 0] [--iters 300] [--num-feat 16]
                                      [--num-block 4] [--device auto]
                                      [--out benchmarks/results/domain_adapt_latest]

The camera is ``benchmarks/dasr_camera.py``'s (anisotropic Gaussian blur, ×2 block-centre
subsampling, colour noise σ = 8/255, JPEG 90), with its unpaired split: the camera's LR of the
left halves of six photos is the target domain (``--real-lr``), the clean right halves are
the HR from which MATLAB-bicubic source pairs are made. Two runs of the same small ``da-sr``
(×2; 8 HR patches of 64 + 8 target crops, Adam 1e-3 without decay, EMA, no perceptual and no
SR GAN term, so that PSNR compares like with like): ``domain-adapt`` with the recipe's
domain weights, and ``source only`` with all five of them 0 (only the SR L1 on bicubic
pairs). Both, and bicubic upscaling, are scored in PSNR-Y (border 2) on camera pairs of three
photos no network saw; the table also gives the feature-statistics distance (per-channel
mean/std of E's features) between the bicubic LR and the camera LR of those photos.

This is a tiny-budget check of the wiring, not a reproduction of the paper's numbers: the
paper trains for hundreds of thousands of iterations with GAN and perceptual terms.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dasr_camera  # noqa: E402  (the benchmark beside this file: its camera and photos)

DOMAIN_TERMS = ("align_weight", "target_rec_weight", "style_weight", "identity_weight",
                "cycle_weight")


def run_seed(root: Path, *, seed: int, iters: int, num_feat: int, num_block: int,
             device: str) -> dict:
    """Both models for one seed and their scores."""
    import torch

    from srkit.io.checkpoints import load_model
    from srkit.metrics import psnr
    from srkit.ops.resize import imresize
    from srkit.stages.degrade import degrade
    from srkit.stages.train_sr import train_sr
    from srkit.training.domain_adapt import feature_statistics_distance
    from srkit.training.validation import super_resolve

    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    dasr_camera.write_camera_photos(root, dasr_camera.CAMERA_TRAIN, rng)
    held = {name: dasr_camera.camera_photo(name) for name in dasr_camera.CAMERA_HELD_OUT}
    held = {name: (dasr_camera.camera_lr(image, rng), image) for name, image in held.items()}
    degrade(root / "hr", root / "bicubic_pairs", 2, mode="bicubic", seed=seed)
    common = {"recipe": "domain-adapt", "real_lr": root / "real",
              "arch_args": {"num_feat": num_feat, "num_block": num_block, "decoder_block": 1},
              "iters": iters, "batch_size": 8, "patch_size": 64, "learning_rate": 1e-3,
              "workers": 0, "device": device, "seed": seed, "log_every": 50,
              "save_every": iters}
    base = {"perceptual_weight": 0.0, "gan_weight": 0.0, "lr_milestones": [],
            "discriminator_learning_rate": 1e-3, "discriminator_num_feat": 32}
    runs = {"domain-adapt": base, "source only": {**base, **dict.fromkeys(DOMAIN_TERMS, 0.0)}}
    scores, distances, seconds = {}, {}, {}
    for label, overrides in runs.items():
        dasr_camera.log(f"seed {seed}: {label}, {iters} iterations")
        tick = time.perf_counter()
        output = root / f"{label.replace(' ', '_')}.safetensors"
        train_sr(root / "bicubic_pairs", output, 2, overrides=overrides, **common)
        seconds[label] = time.perf_counter() - tick
        model = load_model(output).model
        scores[label] = {name: psnr(super_resolve(model, lr_img, torch.device("cpu")), hr_img,
                                    border=2, y_channel=True)
                         for name, (lr_img, hr_img) in held.items()}
        with torch.no_grad():
            pairs = [(torch.from_numpy(np.ascontiguousarray(
                np.clip(imresize(hr_img, 0.5), 0, 1).transpose(2, 0, 1)))[None],
                torch.from_numpy(np.ascontiguousarray(lr_img.transpose(2, 0, 1)))[None])
                for lr_img, hr_img in held.values()]
            distances[label] = float(np.mean([
                feature_statistics_distance(model.encode(source.float()),
                                            model.encode(target.float()))
                for source, target in pairs]))
    scores["bicubic upscaling"] = {
        name: psnr(np.clip(imresize(lr_img, 2), 0, 1), hr_img, border=2, y_channel=True)
        for name, (lr_img, hr_img) in held.items()}
    return {"seed": seed, "seconds": time.perf_counter() - began, "train_seconds": seconds,
            "psnr_y": scores, "feature_distance": distances}


def table(runs: list[dict], settings: dict) -> str:
    labels = ["domain-adapt", "source only", "bicubic upscaling"]
    photos = list(runs[0]["psnr_y"]["domain-adapt"])
    lines = [f"Domain adaptation on dasr_camera's camera, ×2, {settings['iters']} iterations "
             f"(tiny budget), da-sr num_feat={settings['num_feat']} "
             f"num_block={settings['num_block']}, seeds {settings['seeds']}.", "",
             "| model | mean PSNR-Y (dB) | " + " | ".join(photos)
             + " | feature distance bicubic LR ↔ camera LR |",
             "|---|---|" + "---|" * len(photos) + "---|"]
    for label in labels:
        per_photo = [float(np.mean([r["psnr_y"][label][p] for r in runs])) for p in photos]
        distance = ("{:.4f}".format(np.mean([r["feature_distance"][label] for r in runs]))
                    if label in runs[0]["feature_distance"] else "–")
        lines.append(f"| {label} | {np.mean(per_photo):.2f} | "
                     + " | ".join(f"{v:.2f}" for v in per_photo) + f" | {distance} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--num-feat", type=int, default=16)
    parser.add_argument("--num-block", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "domain_adapt_latest")
    args = parser.parse_args(argv)
    settings = {"iters": args.iters, "num_feat": args.num_feat, "num_block": args.num_block,
                "seeds": args.seeds, "device": args.device}
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as work:
            runs.append(run_seed(Path(work), seed=seed, iters=args.iters,
                                 num_feat=args.num_feat, num_block=args.num_block,
                                 device=args.device))
    text = table(runs, settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"settings": settings, "runs": runs},
                                                        indent=1))
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
