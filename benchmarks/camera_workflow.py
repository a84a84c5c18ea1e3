"""The camera workflow as a user runs it: learn a camera from its LR photos, then train for it.

    python benchmarks/camera_workflow.py [PHOTO_DIR] [--iters 300] [--seeds 0 1] [--batch 4]
                                         [--patch 96] [--learning-rate 1e-4]
                                         [--user-photos 20] [--train-photos 40]
                                         [--out benchmarks/results/camera_workflow]
    python benchmarks/camera_workflow.py --development [--pool-shares 0.25 0.5 0.75 0.9]

A synthetic camera of this script's own (no srkit default was chosen on it) stands for the
user's camera, at ×4:

* blur: an anisotropic Gaussian per photo, σ = 2.4 and 1.5 HR px at 30° (the lens), each
  photo's σ scaled by U[0.8, 1.2] and its angle turned by U[−0.3, 0.3] rad (focus, shake);
  block-centre subsampling ×4 (``blur_downsample``);
* noise: Poisson–Gaussian per channel, variance ``16 + 128·x/255`` (x the channel's level,
  0–255: σ 4 at black → 12 at white), times U[0.7, 1.3] per photo (the ISO);
* JPEG: quality U{70 … 95} per photo (4:2:0, Pillow).

Photos (PHOTO_DIR, default ``../shared/data/photos``), three disjoint sets:

* *test*: the names in ``benchmarks/quality_holdout.txt`` (never trained on, by srkit's shipped
  models either) that are in no development set (``development_photos()``: the photos that
  chose the kernel and noise defaults); HR = the photo cleaned by bicubic ×½, centre crop
  ≤ 512², and its LR made by the camera (one draw per photo and seed);
* *the user's LR photos* (``--user-photos``, from the rest outside every development set,
  evenly spaced by name): whole photos through the camera, LR of 300–480 px — what a user has
  of their camera, unpaired;
* *clean HR* (``--train-photos``, the rest of the rest): cleaned by bicubic ×½, what the user
  trains on.

Rows, every one the shipped ``general_x4`` fine-tuned (``train-sr --init``) with the same
budget (``--iters``, batch, patch, learning rate) on a different source of training pairs:

* (a) bicubic pairs of the clean HR; (b) the random Real-ESRGAN pipeline (``--synthetic``);
* (c) the pool built from the user's LR photos by ``estimate-kernels`` + ``collect-noise``
  with every option at its default, then ``degrade --pool`` pairs of the clean HR;
* (d) that pool mixed with the random pipeline (``--pool --synthetic``, ``--pool-share`` at its
  default);
* (e) the true camera applied to the clean HR (the ceiling);
* (f) that pool on the fly (``train-sr --hr --pool``), what a CPU user runs;

plus the shipped model unchanged and bicubic / Lanczos-3 interpolation. PSNR-Y, SSIM-Y (border
4) and NIQE of the 8-bit SR images; per row the mean, the margin over the shipped model with a
95 % Student-t interval over the photos and how many photos it wins, and the share of (e)'s
gain over the better interpolation that (c) and (d) reach. Each seed redraws the camera's
per-photo draws and the training. Work files (pools, pairs, models) are cached in ``--work``
by settings: an interrupted run resumes.

``--development`` runs the same workflow on another camera (``DEV_CAMERA``: a sharper lens at
another angle, noise σ 5 → 11, JPEG 75–95) and on development photos only (test and LR photos
from ``development_photos()``, none of them in the hold-out list), with row (d) at each share
of ``--pool-shares``: it is where ``train-sr --pool-share``'s default was chosen
(benchmarks/results/camera_workflow_development.md), so that the report above chooses nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import quality  # noqa: E402  (hold-out list, HR test images, scoring, intervals)

SCALE = 4
ROWS = ("a-bicubic", "b-random", "c-pool", "d-pool+random", "e-true-camera", "f-pool-on-the-fly")
#: The report's camera (the module docstring) and the development camera (``--development``):
#: lens σ (HR px) and angle, noise variance ``a + b·x/255`` (x in 0–255), JPEG quality range.
REPORT_CAMERA = {"sigma": (2.4, 1.5), "theta": np.pi / 6, "noise": (16.0, 128.0),
                 "jpeg": (70, 95)}
DEV_CAMERA = {"sigma": (2.0, 1.3), "theta": 1.75, "noise": (25.0, 96.0), "jpeg": (75, 95)}


# --------------------------------------------------------------------------- the camera


def camera_rng(seed: int, name: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode()), stream])


def camera(hr: np.ndarray, name: str, seed: int, law: dict | None = None
           ) -> tuple[np.ndarray, dict]:
    """The synthetic camera's LR of ``hr`` (float (H, W, 3) in [0, 1], H, W multiples of 4)
    and what was drawn; ``law`` :data:`REPORT_CAMERA` unless given."""
    from srkit.ops.jpeg import jpeg_compress
    from srkit.ops.kernels import blur_downsample, gaussian_kernel

    law = REPORT_CAMERA if law is None else law
    rng = camera_rng(seed, name, 1)
    spread = float(rng.uniform(0.8, 1.2))
    theta = law["theta"] + float(rng.uniform(-0.3, 0.3))
    sigma = [law["sigma"][0] * spread, law["sigma"][1] * spread]
    kernel = gaussian_kernel(21, sigma[0], sigma[1], theta)
    lr = np.clip(blur_downsample(hr, kernel, SCALE), 0, 1) * 255.0
    iso = float(rng.uniform(0.7, 1.3))
    offset, slope = law["noise"]
    noisy = lr + rng.normal(size=lr.shape) * np.sqrt(iso * (offset + slope * lr / 255.0))
    quality_ = int(rng.integers(law["jpeg"][0], law["jpeg"][1] + 1))
    out = jpeg_compress(np.clip(noisy / 255.0, 0, 1), quality_)
    return out, {"blur_sigma": sigma, "theta": theta, "iso": iso, "jpeg": quality_}


def trim(image: np.ndarray, multiple: int = SCALE) -> np.ndarray:
    return image[:image.shape[0] // multiple * multiple, :image.shape[1] // multiple * multiple]


# --------------------------------------------------------------------------- data


def development_photos(photo_dir: Path, rest: list[Path]) -> set[str]:
    """Every photo that chose a default this workflow runs: kernels_div2krk.py's DEV list (the
    edge measurement), kernels_camera.py's ``dev_photos()`` (camera-gauss's pooling) and
    collect-noise's 18 (every 7th photo outside the hold-out list, srkit/ops/noise_level.py)."""
    import kernels_camera  # noqa: PLC0415  (also imports kernels_div2krk)

    noise_rule = [p.name for p in rest][::7][:18]
    return set(kernels_camera.div2krk.DEV) | set(kernels_camera.dev_photos(photo_dir)) \
        | set(noise_rule)


def spaced(paths: list[Path], count: int) -> list[Path]:
    """``count`` of ``paths`` (all when fewer), evenly spaced, in their order."""
    picks = np.linspace(0, len(paths) - 1, min(count, len(paths))).round().astype(int)
    return [paths[i] for i in sorted(set(picks.tolist()))]


def photo_sets(photo_dir: Path) -> tuple[list[Path], list[Path], set[str]]:
    """(the hold-out photos, the rest, :func:`development_photos`): what both splits start
    from."""
    holdout = quality.read_holdout(HERE / "quality_holdout.txt")
    test, rest = quality.split_photos(photo_dir, holdout, None, None)
    return test, rest, development_photos(photo_dir, rest)


def split(photo_dir: Path, user_count: int, train_count: int
          ) -> tuple[list[Path], list[Path], list[Path]]:
    """(test, the user's LR photos, clean HR): test and LR photos outside every development
    set (:func:`development_photos`); the clean HR may be any of the rest (training data)."""
    test, rest, development = photo_sets(photo_dir)
    test = [p for p in test if p.name not in development]
    user = spaced([p for p in rest if p.name not in development], user_count)
    others = [p for p in rest if p not in user]
    return test, user, spaced(others, train_count)


def development_split(photo_dir: Path, user_count: int, train_count: int, test_count: int = 9
                      ) -> tuple[list[Path], list[Path], list[Path]]:
    """:func:`split` for ``--development``: test and LR photos from the development photos
    (none in the hold-out list, none the report's LR photos), evenly spaced by name; clean HR
    from the rest outside both."""
    _, rest, development = photo_sets(photo_dir)
    report_user = spaced([p for p in rest if p.name not in development], user_count)
    pool = [p for p in rest if p.name in development and p not in report_user]
    test = spaced(pool, test_count)
    user = spaced([p for p in pool if p not in test], user_count)
    others = [p for p in rest if p not in test and p not in user]
    return test, user, spaced(others, train_count)


def write_sets(test: list[Path], user: list[Path], train: list[Path], work: Path,
               seed: int, law: dict | None = None) -> dict[str, Path]:
    """The user's LR photos, the clean HR, the true-camera pairs and the test set, as PNGs."""
    from srkit.io.images import read_image, write_image
    from srkit.ops.resize import imresize

    folders = {name: work / f"seed{seed}" / name for name in
               ("user_lr", "test/hr", "test/lr", "true/hr", "true/lr")}
    folders["clean"] = work / "clean"
    done = work / f"seed{seed}" / "sets.done"
    if done.exists():
        return folders
    quality.log(f"seed {seed}: the camera's photos, the clean HR and the test pairs")
    for path in user:
        photo = trim(read_image(path).rgb)
        lr, _ = camera(photo, path.name, seed, law)
        write_image(folders["user_lr"] / f"{path.stem}.png", lr)
    for path in train:
        target = folders["clean"] / f"{path.stem}.png"
        if not target.exists():
            write_image(target, quality.quantise(trim(imresize(read_image(path).rgb, 0.5))))
        hr = read_image(target).rgb
        lr, _ = camera(hr, "train:" + path.name, seed, law)
        write_image(folders["true/hr"] / f"{path.stem}.png", hr)
        write_image(folders["true/lr"] / f"{path.stem}.png", lr)
    for path in test:
        hr = quality.make_hr(path)
        lr, _ = camera(hr, "test:" + path.name, seed, law)
        write_image(folders["test/hr"] / f"{path.stem}.png", hr)
        write_image(folders["test/lr"] / f"{path.stem}.png", lr)
    done.write_text("ok\n")
    return folders


def build_pool(folders: dict[str, Path], work: Path, seed: int) -> Path:
    """estimate-kernels + collect-noise on the user's LR photos, every option at its default."""
    from srkit.stages.collect_noise import collect_noise
    from srkit.stages.estimate_kernels import estimate_kernels

    pool = work / f"seed{seed}" / "pool.h5"
    if not (work / f"seed{seed}" / "pool.done").exists():
        quality.log(f"seed {seed}: the pool from {len(list(folders['user_lr'].iterdir()))} LR "
                    "photos (estimate-kernels + collect-noise, defaults)")
        pool.unlink(missing_ok=True)
        estimate_kernels(folders["user_lr"], pool, SCALE)
        collect_noise(folders["user_lr"], pool)
        (work / f"seed{seed}" / "pool.done").write_text("ok\n")
    return pool


# --------------------------------------------------------------------------- training


def train_row(row: str, folders: dict[str, Path], pool: Path, work: Path, seed: int,
              args: argparse.Namespace) -> Path:
    """Row ``row`` fine-tuned from the shipped model; ``d-pool+random@S`` is (d) at pool share
    S (plain ``d-pool+random``: train-sr's default share)."""
    from srkit.stages.degrade import degrade
    from srkit.stages.train_sr import train_sr

    if row == "d-pool+random":  # the file named by the share, so a new default retrains
        from srkit.patches import POOL_SHARE
        name = f"{row}@{POOL_SHARE:g}"
    else:
        name = row
    out = work / f"seed{seed}" / "models" / f"{name}-{args.iters}.safetensors"
    if out.exists():
        return out
    quality.log(f"seed {seed}: training {row} ({args.iters} iterations from general_x4)")
    source: dict = {}
    if row == "a-bicubic":
        pairs = work / f"seed{seed}" / "pairs-bicubic"
        degrade([folders["clean"]], pairs, SCALE, mode="bicubic", seed=seed)
        source = {"pairs": pairs}
    elif row == "b-random":
        source = {"hr": folders["clean"], "synthetic": True}
    elif row == "c-pool":
        pairs = work / f"seed{seed}" / "pairs-pool"
        degrade([folders["clean"]], pairs, SCALE, pool=pool, seed=seed)
        source = {"pairs": pairs}
    elif row.startswith("d-pool+random"):
        source = {"hr": folders["clean"], "pool": pool, "synthetic": True}
        if "@" in row:
            source["pool_share"] = float(row.split("@")[1])
    elif row == "e-true-camera":
        source = {"pairs": work / f"seed{seed}" / "true"}
    elif row == "f-pool-on-the-fly":
        source = {"hr": folders["clean"], "pool": pool}
    from srkit.io.checkpoints import load_model

    shipped = quality.shipped_path(args.weights, SCALE)
    start = load_model(shipped)
    train_sr(output=out, scale=SCALE, init=shipped, arch=start.arch,
             arch_args=dict(start.arch_args), iters=args.iters, batch_size=args.batch,
             patch_size=args.patch,
             learning_rate=args.learning_rate, seed=seed, workers=args.workers,
             overwrite=True, save_every=args.iters, log_every=max(args.iters // 10, 1),
             **source)
    return out


# --------------------------------------------------------------------------- scoring


def score_rows(folders: dict[str, Path], models: dict[str, Path], args: argparse.Namespace
               ) -> dict[str, dict[str, dict[str, float]]]:
    """``{method: {photo: {psnr_y, ssim_y, niqe}}}`` on the seed's test pairs."""
    from srkit.io.images import read_image

    methods = [quality.Method("bicubic", "interpolation"),
               quality.Method("lanczos", "interpolation"),
               quality.Method("shipped", "shipped", SCALE,
                              quality.shipped_path(args.weights, SCALE))]
    methods += [quality.Method(row, "baseline", SCALE, path) for row, path in models.items()]
    scores: dict[str, dict[str, dict[str, float]]] = {}
    names = sorted(p.stem for p in folders["test/hr"].iterdir())
    for method in methods:
        run = quality.upscaler(method, SCALE, "cpu")
        scores[method.label] = {}
        for name in names:
            hr = read_image(folders["test/hr"] / f"{name}.png").rgb
            lr = read_image(folders["test/lr"] / f"{name}.png").rgb
            scores[method.label][name] = quality.score(quality.quantise(run(lr)), hr, SCALE)
    return scores


def summarise(results: dict) -> str:
    seeds = sorted(results["seeds"], key=int)
    development = results["settings"].get("development", False)
    where, where_lr = (("development photos, none in benchmarks/quality_holdout.txt",
                        "development photos too") if development
                       else ("benchmarks/quality_holdout.txt outside every development set",
                             "outside every development set too"))
    lines = ["# The camera workflow on a synthetic camera (`benchmarks/camera_workflow.py`)"
             + (": development" if development else ""), "",
             f"Command: `{results['command']}`. "
             + ("The development camera (`DEV_CAMERA`), not the report's. " if development
                else "")
             + f"{results['settings']['test_photos']} test photos ({where}), "
             f"{results['settings']['user_photos']} LR photos of the camera for the pool "
             f"({where_lr}), "
             f"{results['settings']['train_photos']} "
             f"clean HR photos; ×4; every row the shipped general_x4 fine-tuned "
             f"{results['settings']['iters']} iterations (batch {results['settings']['batch']}, "
             f"patch {results['settings']['patch']}, learning rate "
             f"{results['settings']['learning_rate']}); seeds {', '.join(seeds)}.", ""]
    for seed in seeds:
        scores = results["seeds"][seed]["scores"]
        photos = sorted(scores["shipped"])
        lines += [f"## seed {seed}", "",
                  "| method | PSNR-Y | SSIM-Y | NIQE | vs shipped (dB, 95 % CI) | photos won |",
                  "|---|---|---|---|---|---|"]
        base = [scores["shipped"][p]["psnr_y"] for p in photos]
        for method, per in scores.items():
            psnr = [per[p]["psnr_y"] for p in photos]
            niqe = [per[p]["niqe"] for p in photos if per[p]["niqe"] is not None]
            diff = [a - b for a, b in zip(psnr, base, strict=True)]
            low, high = quality.mean_interval(diff) if method != "shipped" else (0.0, 0.0)
            won = sum(d > 0 for d in diff)
            lines.append(f"| {method} | {np.mean(psnr):.2f} | "
                         f"{np.mean([per[p]['ssim_y'] for p in photos]):.4f} | "
                         f"{np.mean(niqe):.2f} | {np.mean(diff):+.2f} [{low:+.2f}, {high:+.2f}] "
                         f"| {won}/{len(photos)} |")
        interp = max(np.mean([scores[m][p]["psnr_y"] for p in photos])
                     for m in ("bicubic", "lanczos"))
        if "e-true-camera" not in scores:
            lines.append("")
            continue
        ceiling = np.mean([scores["e-true-camera"][p]["psnr_y"] for p in photos]) - interp
        for row in scores:
            if not row.startswith(("c-", "d-", "f-")):
                continue
            gain = np.mean([scores[row][p]["psnr_y"] for p in photos]) - interp
            lines.append("")
            line = (f"{row}: {gain:+.2f} dB over the better interpolation, "
                    f"{100 * gain / ceiling:.0f} % of the true camera's {ceiling:+.2f} dB")
            if row.startswith("d-") and "c-pool" in scores:
                diff = [scores[row][p]["psnr_y"] - scores["c-pool"][p]["psnr_y"] for p in photos]
                low, high = quality.mean_interval(diff)
                line += (f"; against c-pool {np.mean(diff):+.3f} dB [{low:+.3f}, {high:+.3f}], "
                         f"ahead on {sum(d > 0 for d in diff)}/{len(photos)} photos")
            lines.append(line + ".")
        lines.append("")
    shares = [row for row in results["seeds"][seeds[0]]["scores"] if "@" in row]
    if shares:
        lines += ["## (d) by pool share, mean PSNR-Y over the seeds", "",
                  "| row | pool share | " + " | ".join(f"seed {s}" for s in seeds)
                  + " | mean | vs c-pool |", "|---|---|" + "---|" * (len(seeds) + 2)]
        def means(row: str) -> list[float]:
            return [np.mean([p["psnr_y"] for p in results["seeds"][s]["scores"][row].values()])
                    for s in seeds]

        base = np.mean(means("c-pool"))
        for row in ["c-pool", *shares, "f-pool-on-the-fly"]:
            row_means = means(row)
            share = row.split("@")[1] if "@" in row else ("1 (pairs)" if row == "c-pool"
                                                          else "1 (on the fly)")
            lines.append(f"| {row} | {share} | " + " | ".join(f"{m:.3f}" for m in row_means)
                         + f" | {np.mean(row_means):.3f} | {np.mean(row_means) - base:+.3f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo_dir", nargs="?", type=Path,
                        default=HERE.parent.parent / "shared" / "data" / "photos")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--patch", type=int, default=96)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--user-photos", type=int, default=20)
    parser.add_argument("--train-photos", type=int, default=40)
    parser.add_argument("--rows", nargs="+", default=None, choices=ROWS)
    parser.add_argument("--development", action="store_true",
                        help="the development camera and photos, (d) at each --pool-shares")
    parser.add_argument("--pool-shares", type=float, nargs="+", default=[0.25, 0.5, 0.75, 0.9])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--weights", type=Path, default=HERE.parent / "srkit" / "weights")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    name = "camera_workflow" + ("_development" if args.development else "")
    args.work = args.work or HERE / ".camera-workflow-cache" / ("development" if args.development
                                                                else "")
    args.out = args.out or HERE / "results" / name
    if args.rows is None:
        args.rows = (["c-pool", *(f"d-pool+random@{share:g}" for share in args.pool_shares),
                      "e-true-camera", "f-pool-on-the-fly"] if args.development else list(ROWS))
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    test, user, train = (development_split if args.development else split)(
        args.photo_dir, args.user_photos, args.train_photos)
    law = DEV_CAMERA if args.development else REPORT_CAMERA
    results = {"command": "python benchmarks/camera_workflow.py " + " ".join(sys.argv[1:]),
               "settings": {"iters": args.iters, "batch": args.batch, "patch": args.patch,
                            "learning_rate": args.learning_rate, "test_photos": len(test),
                            "user_photos": len(user), "train_photos": len(train),
                            "rows": args.rows, "development": args.development},
               "seeds": {}}
    start = time.perf_counter()
    for seed in args.seeds:
        folders = write_sets(test, user, train, args.work, seed, law)
        pool = build_pool(folders, args.work, seed)
        models = {row: train_row(row, folders, pool, args.work, seed, args)
                  for row in args.rows}
        quality.log(f"seed {seed}: scoring")
        results["seeds"][str(seed)] = {"scores": score_rows(folders, models, args)}
    results["seconds"] = time.perf_counter() - start
    text = summarise(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
