"""CrossNet at a CPU budget: with a similar reference (a neighbouring view of the same scene)
does it beat a single-image network of the same size, and with an unrelated one does it stay
within a margin of it?

    python benchmarks/crossnet.py [--iters 2000] [--seeds 0 1] [--out benchmarks/results/crossnet]

Photos (../shared/data/photos, chosen by name before any run, nothing tuned on them; the
split of benchmarks/srntt.py): the Tux Paint textures ``burnt_bark, mossy_log, mudstone,
rocks, cliff, redwoods_above`` train, ``mossy_bark, trees_above, spiders_web`` test. From each
photo 128×128 HR crops left of the centre line (train: rows −160, −64, +32 from the centre;
test: rows −112 and +16). Each crop's *similar* reference is the 128×128 crop of the same
photo shifted by a known offset of several pixels (:data:`TRAIN_OFFSETS`, one per training
crop in turn; :data:`TEST_OFFSET` for every test crop) with its brightness scaled by a small
known gain: the same scene seen from a neighbouring position, like a successive video frame
or a light-field neighbour view (the paper's setting). LR = MATLAB bicubic ×1/4 (32×32).

1. ``train-sr --recipe crossnet --ref-dir`` on the train pairs with their shifted references:
   the default ``crossnet`` (``num_feat`` 16, ``flow_feat`` 16), the recipe's Charbonnier
   loss, ``--iters`` iterations, batch 4, HR patches 64, learning rate 5e-4, ÷10 after 75 %
   (the recipe's schedule shape), no EMA (raw weights).
2. ``train-sr --recipe psnr --arch srresnet`` width 32 with the block count closest to
   CrossNet's trainable parameters, on the same pairs (without references), with the same
   loss (``pixel_loss = charbonnier``), iterations, batch, patches, rate and schedule.
3. PSNR-Y (border 4, srkit.metrics) on the test crops of: bicubic, the srresnet, CrossNet's
   single-image mode (its own upsampled LR as reference), CrossNet with an unrelated
   reference (the shifted reference of the next test photo's crop at the same row), with
   the similar reference, and with the HR crop itself (zero offset, no gain: an upper bound).

The claims checked, with the margin stated before any run: CrossNet with the similar
reference beats the srresnet (mean over the test crops), and with an unrelated reference it
is at most :data:`MARGIN_DB` below the srresnet. Results per seed: OUT.json and OUT.md, also
printed.
"""

from __future__ import annotations

import argparse
import json
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
    arms,
    lr_x4,
    same_size_srresnet,
    score_arms,
    trainable,
)

TEST_ROWS = (-112, 16)
# (rows, columns, brightness gain) of each reference against its HR crop
TRAIN_OFFSETS = ((5, -7, 1.03), (-6, 4, 0.97), (8, 3, 1.02), (-4, -8, 0.98), (7, 6, 1.04),
                 (-3, 5, 0.96))
TEST_OFFSET = (6, -5, 1.03)
MARGIN_DB = 0.3
SRRESNET_WIDTH = 32
SETTINGS = {"batch_size": 4, "patch_size": 64, "learning_rate": 5e-4, "ema_decay": 0.0}
SCHEDULE = {"lr_milestones": [0.75], "lr_gamma": 0.1}


def _photo(name: str) -> np.ndarray:
    from srkit.io.images import read_image

    path = PHOTOS / f"tuxpaint_{name}.jpg"
    if not path.is_file():
        sys.exit(f"{path}: not found")
    return read_image(path).rgb


def _views(rgb: np.ndarray, row: int, offset: tuple[int, int, float]
           ) -> tuple[np.ndarray, np.ndarray]:
    """(HR crop at ``row`` from the centre, left of the centre line; its reference: the crop
    shifted by ``offset``'s rows and columns, times its gain)."""
    top, left = rgb.shape[0] // 2 + row, rgb.shape[1] // 2 - SIDE
    dy, dx, gain = offset
    hr = rgb[top:top + SIDE, left:left + SIDE]
    ref = rgb[top + dy:top + dy + SIDE, left + dx:left + dx + SIDE]
    return hr, np.clip(ref * gain, 0, 1).astype(np.float32)


def _write_data(root: Path) -> None:
    from srkit.io.images import write_image

    index = 0
    for name in TRAIN:
        rgb = _photo(name)
        for row in TRAIN_ROWS:
            hr, ref = _views(rgb, row, TRAIN_OFFSETS[index % len(TRAIN_OFFSETS)])
            write_image(root / "pairs" / "hr" / f"{name}_{row}.png", hr)
            write_image(root / "pairs" / "lr" / f"{name}_{row}.png", lr_x4(hr))
            write_image(root / "refs" / f"{name}_{row}.png", ref)
            index += 1


def _run_seed(seed: int, iters: int, crossnet_args: dict, srresnet_args: dict
              ) -> tuple[dict[str, list[float]], dict[str, float]]:
    import torch

    import srkit
    from srkit.io.checkpoints import load_model

    common = {**SETTINGS, "iters": iters, "workers": 0, "device": "cpu", "seed": seed,
              "log_every": 50, "save_every": iters}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_data(root)
        started = time.perf_counter()
        srkit.train_sr(root / "pairs", root / "crossnet.safetensors", 4, arch="crossnet",
                       arch_args=crossnet_args, recipe="crossnet", ref_dir=root / "refs",
                       overrides=SCHEDULE, **common)
        seconds = {"crossnet": time.perf_counter() - started}
        started = time.perf_counter()
        srkit.train_sr(root / "pairs", root / "srresnet.safetensors", 4, arch="srresnet",
                       arch_args=srresnet_args, recipe="psnr",
                       overrides={**SCHEDULE, "pixel_loss": "charbonnier"}, **common)
        seconds["srresnet"] = time.perf_counter() - started
        device = torch.device("cpu")
        crossnet = load_model(root / "crossnet.safetensors", device).model.eval()
        srresnet = load_model(root / "srresnet.safetensors", device).model.eval()

    photos = {name: _photo(name) for name in TEST}
    tests = [_views(photos[name], row, TEST_OFFSET)
             for row in TEST_ROWS for name in TEST]
    # the unrelated reference: the next test photo's crop at the same row (another scene)
    scores = score_arms("crossnet", crossnet, srresnet, tests, lambda number: (
        (number + 1) % len(TEST) + (number // len(TEST)) * len(TEST)))
    return scores, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/crossnet"))
    args = parser.parse_args()

    import torch

    from srkit.models import build_model

    torch.set_num_threads(1)  # tiny convolutions: one thread is faster on a shared CPU
    crossnet_args = {"num_feat": 16, "flow_feat": 16}
    target = trainable(build_model("crossnet", **crossnet_args))
    srresnet_args = same_size_srresnet(SRRESNET_WIDTH, target)
    srresnet_count = trainable(build_model("srresnet", upscale=4, **srresnet_args))
    names = [f"{name}@{row}" for row in TEST_ROWS for name in TEST]
    runs = []
    for seed in args.seeds:
        scores, seconds = _run_seed(seed, args.iters, crossnet_args, srresnet_args)
        means = {arm: float(np.mean(values)) for arm, values in scores.items()}
        runs.append({
            "seed": seed,
            "train_seconds": {k: round(v, 1) for k, v in seconds.items()},
            "psnr_y": {arm: [round(v, 3) for v in values] for arm, values in scores.items()},
            "mean_psnr_y": {arm: round(v, 3) for arm, v in means.items()},
            "similar_beats_single_image_net":
                means["crossnet similar ref"] > means["srresnet (same size)"],
            "unrelated_within_margin":
                means["crossnet unrelated ref"] >= means["srresnet (same size)"] - MARGIN_DB,
        })
    result = {"iters": args.iters, "seeds": args.seeds, "train": TRAIN, "test": TEST,
              "test_crops": names, "train_offsets": TRAIN_OFFSETS, "test_offset": TEST_OFFSET,
              "settings": {**SETTINGS, **SCHEDULE}, "margin_db": MARGIN_DB,
              "crossnet_args": crossnet_args, "crossnet_trainable_parameters": target,
              "srresnet_args": srresnet_args, "srresnet_trainable_parameters": srresnet_count,
              "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    seeds = " ".join(str(s) for s in args.seeds)
    lines = [f"# CrossNet at a CPU budget ({args.iters} iterations, seeds {seeds})", "",
             f"`python benchmarks/crossnet.py --iters {args.iters} --seeds {seeds}`; see the "
             "script's doc for the photos, offsets and settings.", "",
             f"CrossNet {crossnet_args}: {target} trainable parameters; srresnet "
             f"{srresnet_args}: {srresnet_count}. Both: {SETTINGS['batch_size']}×"
             f"{SETTINGS['patch_size']}² HR patches, Charbonnier loss, Adam "
             f"{SETTINGS['learning_rate']:g} ÷10 after 75 %, raw weights. References: the "
             f"same photo shifted by {TEST_OFFSET[0]}, {TEST_OFFSET[1]} pixels (rows, "
             f"columns), brightness ×{TEST_OFFSET[2]}.", ""]
    for run in runs:
        seconds = run["train_seconds"]
        lines += [f"## Seed {run['seed']} (CrossNet {seconds['crossnet']:.0f} s, srresnet "
                  f"{seconds['srresnet']:.0f} s)", "",
                  "| method | " + " | ".join(names) + " | mean |",
                  "|---|" + "---|" * (len(names) + 1)]
        for arm in arms("crossnet"):
            values = run["psnr_y"][arm]
            lines.append(f"| {arm} | " + " | ".join(f"{v:.2f}" for v in values)
                         + f" | {np.mean(values):.2f} |")
        lines += ["", f"Similar reference beats the same-size srresnet: "
                  f"{'yes' if run['similar_beats_single_image_net'] else 'no'}; unrelated "
                  f"reference at most {MARGIN_DB} dB below it: "
                  f"{'yes' if run['unrelated_within_margin'] else 'no'}.", ""]
    text = "\n".join(lines)
    args.out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
