"""SRNTT at a tiny CPU budget: does a similar reference help, against an unrelated one and
against a single-image network of the same size?

    python benchmarks/srntt.py [--iters 300] [--seed 0] [--out benchmarks/results/srntt]

Photos (../shared/data/photos, chosen by name before any run, nothing tuned on them): the
Tux Paint textures ``burnt_bark, mossy_log, mudstone, rocks, cliff, redwoods_above`` train,
``mossy_bark, trees_above, spiders_web`` test. From each photo three 128×128 HR crops left of
the centre line (rows −160, −64, +32 from the centre; the test photos: the middle one) and,
as each one's *similar* reference, the 128×128 crop just right of it (the same texture,
other pixels); LR = MATLAB bicubic ×1/4 (32×32).

1. ``train-sr --recipe srntt --ref-dir`` on the train pairs with their similar references,
   ``--arch srntt`` width 32, 4 blocks, ``--iters`` iterations, batch 4, HR patches 64,
   learning rate 2e-4, reconstruction L1 only (``perceptual_weight``, ``texture_weight``,
   ``gan_weight`` 0: the paper's PSNR-oriented variant, trained with the reconstruction loss
   alone) plus the L1 on the single-image head. No pretrained VGG19 exists offline: the
   texture swap matches on He-initialised *random* VGG19 features (seed 0), which keep local
   structure but are not ImageNet's features.
2. ``train-sr --recipe psnr --arch srresnet`` width 32 with the block count that comes
   closest to SRNTT's trainable parameters, the same data (without references), iterations,
   batch, patches and rate: the same-size single-image network.
3. PSNR-Y (border 4) on the test crops of: bicubic, the srresnet, SRNTT's single-image mode,
   SRNTT with an unrelated reference (the next test photo's reference crop), with the similar
   reference, and with the HR crop itself as reference (an upper bound of what transfer
   can bring).

Results: OUT.json and OUT.md, also printed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from refsr_common import (  # noqa: E402
    PHOTOS,
    SIDE,
    TEST,
    TRAIN,
    TRAIN_ROWS,
    lr_x4,
    same_size_srresnet,
    score_arms,
    trainable,
)

WIDTH, BLOCKS = 32, 4


def _crops(name: str, rows: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(HR crop, the similar reference just right of it) at each row offset."""
    from srkit.io.images import read_image

    path = PHOTOS / f"tuxpaint_{name}.jpg"
    if not path.is_file():
        sys.exit(f"{path}: not found")
    rgb = read_image(path).rgb
    centre_row, centre_col = rgb.shape[0] // 2, rgb.shape[1] // 2
    out = []
    for offset in rows:
        top = centre_row + offset
        out.append((rgb[top:top + SIDE, centre_col - SIDE:centre_col],
                    rgb[top:top + SIDE, centre_col:centre_col + SIDE]))
    return out


def _random_vgg(path: Path) -> Path:
    import torch

    from srkit.models.vgg import VGG19FeatureExtractor

    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, value in VGG19FeatureExtractor(["relu5_1"]).features.state_dict().items():
        scale = math.sqrt(2 / value[0].numel()) if key.endswith("weight") else 0.0
        state[f"features.{key}"] = torch.randn(value.shape, generator=generator) * scale
    torch.save(state, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/srntt"))
    args = parser.parse_args()

    import torch

    import srkit
    from srkit.io.checkpoints import load_model
    from srkit.io.images import write_image
    from srkit.models import build_model

    torch.set_num_threads(1)
    srntt_args = {"num_feat": WIDTH, "num_block": BLOCKS}
    target = trainable(build_model("srntt", **srntt_args))
    srresnet_args = same_size_srresnet(WIDTH, target)
    common = {"iters": args.iters, "batch_size": 4, "patch_size": 64, "learning_rate": 2e-4,
              "workers": 0, "device": "cpu", "seed": args.seed, "log_every": 50,
              "save_every": args.iters}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in TRAIN:
            for index, (hr, ref) in enumerate(_crops(name, TRAIN_ROWS)):
                write_image(root / "pairs" / "hr" / f"{name}_{index}.png", hr)
                write_image(root / "pairs" / "lr" / f"{name}_{index}.png", lr_x4(hr))
                write_image(root / "refs" / f"{name}_{index}.png", ref)
        vgg = _random_vgg(root / "vgg19-dcbb9e9d.pth")
        started = time.perf_counter()
        srkit.train_sr(root / "pairs", root / "srntt.safetensors", 4, arch="srntt",
                       arch_args=srntt_args, recipe="srntt", ref_dir=root / "refs",
                       vgg_weights=vgg, overrides={"perceptual_weight": 0.0,
                                                   "texture_weight": 0.0, "gan_weight": 0.0},
                       **common)
        srntt_seconds = time.perf_counter() - started
        started = time.perf_counter()
        srkit.train_sr(root / "pairs", root / "srresnet.safetensors", 4, arch="srresnet",
                       arch_args=srresnet_args, recipe="psnr", **common)
        srresnet_seconds = time.perf_counter() - started
        device = torch.device("cpu")
        srntt = load_model(root / "srntt.safetensors", device).model.eval()
        srresnet = load_model(root / "srresnet.safetensors", device).model.eval()

    tests = [_crops(name, (TRAIN_ROWS[1],))[0] for name in TEST]
    scores = score_arms("srntt", srntt, srresnet, tests,
                        lambda number: (number + 1) % len(tests))
    result = {
        "iters": args.iters, "seed": args.seed, "train": TRAIN, "test": TEST,
        "srntt_args": srntt_args, "srntt_trainable_parameters": target,
        "srresnet_args": srresnet_args,
        "srresnet_trainable_parameters": trainable(build_model(
            "srresnet", upscale=4, **srresnet_args)),
        "train_seconds": {"srntt": round(srntt_seconds, 1), "srresnet": round(srresnet_seconds, 1)},
        "psnr_y": {arm: [round(v, 3) for v in values] for arm, values in scores.items()},
        "mean_psnr_y": {arm: round(float(np.mean(values)), 3) for arm, values in scores.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# SRNTT at a CPU budget ({args.iters} iterations, seed {args.seed})", "",
             f"`python benchmarks/srntt.py --iters {args.iters} --seed {args.seed}`; matching "
             "on random VGG19 features (no pretrained weights offline); see the script's doc.",
             "", f"SRNTT {srntt_args}: {target} trainable parameters ({srntt_seconds:.0f} s); "
             f"srresnet {srresnet_args}: {result['srresnet_trainable_parameters']} "
             f"({srresnet_seconds:.0f} s).", "",
             "| method | " + " | ".join(TEST) + " | mean |", "|---|" + "---|" * (len(TEST) + 1)]
    for arm in scores:
        lines.append(f"| {arm} | " + " | ".join(f"{v:.2f}" for v in scores[arm])
                     + f" | {np.mean(scores[arm]):.2f} |")
    text = "\n".join(lines) + "\n"
    args.out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
