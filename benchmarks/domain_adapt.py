"""Domain adaptation on a synthetic camera, at a tiny budget: does ``--recipe domain-adapt``
(bicubic source pairs + the camera's unpaired LR photos) beat the same ``da-sr`` network
trained on the source pairs alone?

    python benchmarks/domain_adapt.py [--seeds 0] [--iters 300] [--num-feat 16]
                                      [--num-block 4] [--warm-start 0] [--device auto]
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

``--warm-start N`` (a CPU budget's protocol, not the paper's, which trains all terms from the
start): first the source-only run for N iterations, then both runs continue from it
(``train-sr --init``) for ``--iters`` more, so that the comparison starts from a network that
already super-resolves (da-sr has no skip from its input and starts far from an
interpolation). The warm network is scored too, as its own row.

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
             device: str, warm_start: int = 0) -> dict:
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
    source_only = {**base, **dict.fromkeys(DOMAIN_TERMS, 0.0)}
    runs = {"domain-adapt": base, "source only": source_only}
    scores, distances, seconds, outputs = {}, {}, {}, {}
    if warm_start:
        dasr_camera.log(f"seed {seed}: warm start (source only), {warm_start} iterations")
        tick = time.perf_counter()
        outputs["warm start"] = root / "warm.safetensors"
        train_sr(root / "bicubic_pairs", outputs["warm start"], 2, overrides=source_only,
                 **{**common, "iters": warm_start, "save_every": warm_start})
        seconds["warm start"] = time.perf_counter() - tick
        common = {**common, "init": outputs["warm start"]}
        common.pop("arch_args")  # the init file's
    for label, overrides in runs.items():
        dasr_camera.log(f"seed {seed}: {label}, {iters} iterations")
        tick = time.perf_counter()
        outputs[label] = root / f"{label.replace(' ', '_')}.safetensors"
        train_sr(root / "bicubic_pairs", outputs[label], 2, overrides=overrides, **common)
        seconds[label] = time.perf_counter() - tick
    for label, output in outputs.items():
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
    labels = [label for label in ("domain-adapt", "source only", "warm start",
                                  "bicubic upscaling") if label in runs[0]["psnr_y"]]
    photos = list(runs[0]["psnr_y"]["domain-adapt"])
    warm = settings.get("warm_start", 0)
    budget = (f"{warm} source-only iterations, then {settings['iters']} more each" if warm
              else f"{settings['iters']} iterations (tiny budget)")
    lines = [f"Domain adaptation on dasr_camera's camera, ×2, {budget}, "
             f"da-sr num_feat={settings['num_feat']} "
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
    if len(runs) > 1:
        lines += ["", "Per seed, mean PSNR-Y (dB): "
                  + "; ".join(f"seed {r['seed']}: " + ", ".join(
                      f"{label} {np.mean(list(r['psnr_y'][label].values())):.2f}"
                      for label in labels) for r in runs) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--num-feat", type=int, default=16)
    parser.add_argument("--num-block", type=int, default=4)
    parser.add_argument("--warm-start", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "domain_adapt_latest")
    args = parser.parse_args(argv)
    settings = {"iters": args.iters, "num_feat": args.num_feat, "num_block": args.num_block,
                "seeds": args.seeds, "device": args.device, "warm_start": args.warm_start}
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as work:
            runs.append(run_seed(Path(work), seed=seed, iters=args.iters,
                                 num_feat=args.num_feat, num_block=args.num_block,
                                 device=args.device, warm_start=args.warm_start))
    text = table(runs, settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"settings": settings, "runs": runs},
                                                        indent=1))
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
