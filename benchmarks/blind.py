"""Blind SR with a degradation-parameter head: does the head cost image quality, and does it
learn the parameters?

    python benchmarks/blind.py [--iters 300] [--weights 0 0.1 1] [--seeds 0] [--threads 2]
                               [--draws 4] [--out benchmarks/results/blind]

Photos: the tuxpaint and palapeli photographs of ``/work/shared/data/photos`` (scikit-image's
astronaut, chelsea and coffee where that folder is missing), each downscaled ×2 with MATLAB
bicubic (clean HR, as the data README advises) and centre-cropped; the first ``--train``
photos train, the next ``--test`` are held out. The held-out set is each held-out photo
degraded ``--draws`` times by the blind degradation (default ranges: blur variance [0, 50] px²,
noise [0, 25] grey levels, factor [1, 3]; seeded, the same for every run).

Each λ of ``--weights`` trains the same small ``unet-blind`` (16 features, depth 3) from the
same seed with ``srkit train-sr --hr --blind --recipe blind`` — image MSE, GAN ×1e-3 with
the VGG-style discriminator (16 features: a CPU budget), λ·MSE on the normalised parameters —
for ``--iters`` iterations of 4 HR patches of 128. A short CPU budget needs three
departures from the recipe, the same for every λ: Adam 5e-4 without decay (the recipe's
1e-4, ÷10 at half of 200k iterations, would barely move in a few hundred), and the raw
weights rather than an EMA (decay 0.999 would keep them near their initial values).
Reported on the held-out pairs: PSNR-Y (border 4) of the model's output and of the input
itself (the bicubic re-upscale: the baseline to beat), and for the head the Pearson
correlation of predicted with true blur variance, noise level and factor and the mean
absolute error in their units (meaningless for λ = 0, whose head never trains; shown
for completeness), beside the trivial estimator's error (every photo given the middle of
the range). Per band of the true blur variance (thirds of its range), the model's margin over
its input with a 95 % Student-t interval over the held-out pairs, and the pairs it wins. Each
seed of ``--seeds`` trains every λ again (the held-out pairs stay the same).
Results: OUT.json and OUT.md, also printed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PHOTOS = Path("/work/shared/data/photos")


def load_photos(train: int, test: int) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Clean HR crops: ``train`` of 256² and ``test`` of 192²; and the photo names."""
    from srkit.io.images import read_image
    from srkit.ops.resize import imresize

    paths = sorted(p for p in PHOTOS.glob("*") if p.name.startswith(("tuxpaint", "palapeli")))
    images, names = [], []
    if len(paths) >= train + test:
        for path in paths[:train + test]:
            images.append(np.clip(imresize(read_image(path).rgb, 0.5), 0, 1))
            names.append(path.name)
    else:
        from skimage import data

        for name in ("astronaut", "chelsea", "coffee"):
            images.append(getattr(data, name)().astype(np.float32) / 255)
            names.append(name)
        train, test = 2, 1

    def centre(image: np.ndarray, size: int) -> np.ndarray:
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        return np.ascontiguousarray(image[top:top + size, left:left + size]).astype(np.float32)

    return ([centre(i, 256) for i in images[:train]],
            [centre(i, 192) for i in images[train:train + test]], names)


def held_out_pairs(photos: list[np.ndarray], draws: int):
    from srkit.degradations.blind import BlindDegradation

    degradation = BlindDegradation()
    pairs = []
    for index, hr in enumerate(photos):
        for draw in range(draws):
            lr, params = degradation.degrade_params(hr, np.random.default_rng([7, index, draw]))
            pairs.append((lr, hr, params))
    return pairs


def score(model_path: Path, pairs) -> dict:
    import torch

    from srkit.io.checkpoints import load_model
    from srkit.metrics import psnr
    from srkit.training.validation import super_resolve

    model = load_model(model_path).model
    out_psnr, in_psnr, predicted, true = [], [], [], []
    for lr, hr, params in pairs:
        sr = super_resolve(model, lr, torch.device("cpu"))
        out_psnr.append(psnr(sr, hr, border=4, y_channel=True))
        in_psnr.append(psnr(lr, hr, border=4, y_channel=True))
        with torch.no_grad():
            _, normalised = model(torch.from_numpy(lr.transpose(2, 0, 1).copy())[None],
                                  with_params=True)
        predicted.append(model.denormalise(normalised)[0].numpy())
        true.append(params.as_tuple())
    predicted, true = np.asarray(predicted), np.asarray(true)
    names = ("blur_variance", "noise_level", "factor")
    return {"psnr_y": float(np.mean(out_psnr)), "input_psnr_y": float(np.mean(in_psnr)),
            "per_pair": {"psnr_y": [float(v) for v in out_psnr],
                         "input_psnr_y": [float(v) for v in in_psnr],
                         "true": true.tolist(), "predicted": predicted.tolist()},
            "correlation": {n: float(np.corrcoef(predicted[:, k], true[:, k])[0, 1])
                            for k, n in enumerate(names)},
            "mae": {n: float(np.abs(predicted[:, k] - true[:, k]).mean())
                    for k, n in enumerate(names)}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train", type=int, default=10)
    parser.add_argument("--test", type=int, default=5)
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "blind")
    args = parser.parse_args(argv)

    import torch

    from srkit.io.images import write_image
    from srkit.stages.train_sr import train_sr

    torch.set_num_threads(args.threads)
    train, test, names = load_photos(args.train, args.test)
    pairs = held_out_pairs(test, args.draws)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for index, image in enumerate(train):
            write_image(root / "hr" / f"{index:02d}.png", image)
        for seed, weight in ((seed, weight) for seed in args.seeds for weight in args.weights):
            started = time.perf_counter()
            output = root / f"blind_{weight:g}_{seed}.safetensors"
            train_sr(output=output, hr=root / "hr", blind=True, seed=seed,
                     arch_args={"num_feat": 16, "depth": 3},
                     overrides={"param_weight": weight, "discriminator_num_feat": 16,
                                "learning_rate": 5e-4, "lr_milestones": [],
                                "ema_decay": 0.0},
                     iters=args.iters, batch_size=4, patch_size=128, workers=0,
                     save_every=args.iters, device="cpu")
            result = {"param_weight": weight, "seed": seed,
                      "seconds": time.perf_counter() - started,
                      **score(output, pairs)}
            print(json.dumps(result), file=sys.stderr)
            runs.append(result)
    report = {"settings": {**{k: str(v) if isinstance(v, Path) else v
                              for k, v in vars(args).items()},
                           "photos": names, "held_out_pairs": len(pairs),
                           "machine": platform.processor() or platform.machine()},
              "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    table = render(report)
    args.out.with_suffix(".md").write_text(table)
    print(table)


BANDS = ((0.0, 50 / 3), (50 / 3, 100 / 3), (100 / 3, 50.0))  # thirds of the blur range


def midpoint_error(runs: list[dict]) -> list[float]:
    """Mean absolute error of the trivial estimator (the middle of each default range)."""
    from srkit.degradations.blind import BlindSettings

    ranges = BlindSettings()
    true = np.asarray(runs[0]["per_pair"]["true"])
    middle = [sum(ranges.blur_variance) / 2, sum(ranges.noise_level) / 2, sum(ranges.factor) / 2]
    return [float(np.abs(true[:, k] - middle[k]).mean()) for k in range(3)]


def render(report: dict) -> str:
    sys.path.insert(0, str(HERE))
    import quality  # noqa: PLC0415  (the Student-t interval of the other benchmarks)

    s = report["settings"]
    runs = report["runs"]
    lines = [f"`python benchmarks/blind.py --iters {s['iters']} --weights "
             f"{' '.join(f'{w:g}' for w in s['weights'])} --seeds "
             f"{' '.join(str(v) for v in s['seeds'])} --draws {s['draws']}` — "
             f"{s['train']} training photos, {s['held_out_pairs']} held-out pairs "
             f"({s['test']} photos × {s['draws']} draws), CPU.", "",
             "| λ (param_weight) | seed | PSNR-Y model | PSNR-Y input (bicubic) | corr σ | "
             "corr w | corr factor | MAE σ (px²) | MAE w (grey levels) | MAE factor | seconds |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        c, m = run["correlation"], run["mae"]
        lines.append(
            f"| {run['param_weight']:g} | {run['seed']} | "
            f"{run['psnr_y']:.2f} | {run['input_psnr_y']:.2f} | "
            f"{c['blur_variance']:.2f} | {c['noise_level']:.2f} | {c['factor']:.2f} | "
            f"{m['blur_variance']:.1f} | {m['noise_level']:.1f} | {m['factor']:.2f} | "
            f"{run['seconds']:.0f} |")
    guess = midpoint_error(runs)
    lines.append(f"| the middle of each range (no model) | – | – | – | – | – | – | "
                 f"{guess[0]:.1f} | {guess[1]:.1f} | {guess[2]:.2f} | – |")
    lines += ["", "Model − input PSNR-Y (dB) by band of the true blur variance (px²): mean, "
              "95 % interval over the held-out pairs, pairs won.", "",
              "| λ | seed | " + " | ".join(f"σ² {lo:.0f}–{hi:.0f}" for lo, hi in BANDS) + " |",
              "|---:|---:|" + "---|" * len(BANDS)]
    for run in runs:
        pairs = run["per_pair"]
        variance = np.asarray(pairs["true"])[:, 0]
        gain = np.asarray(pairs["psnr_y"]) - np.asarray(pairs["input_psnr_y"])
        cells = []
        for low, high in BANDS:
            band = gain[(variance >= low) & (variance < high + 1e-9)]
            if len(band) < 2:
                cells.append("–")
                continue
            a, b = quality.mean_interval(list(band))
            cells.append(f"{band.mean():+.2f} [{a:+.2f}, {b:+.2f}] {int((band > 0).sum())}/"
                         f"{len(band)}")
        lines.append(f"| {run['param_weight']:g} | {run['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
