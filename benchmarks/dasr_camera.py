"""DASR on a synthetic camera: does a learned down-sampler (DSN) imitate the camera, and does a
``--recipe dasr`` model trained on its pairs beat one trained on bicubic pairs?

    python benchmarks/dasr_camera.py [--experiment dasr dsn] [--seeds 0 1 2 3]
                                     [--dsn-iters 3000] [--sr-iters 600] [--dsn-freq gaussian]
                                     [--dsn-content 10] [--train-photos NAME ...]
                                     [--device cuda]
                                     [--out benchmarks/results/dasr_camera_latest]

The camera (``camera_lr``): an anisotropic Gaussian blur (σ = 1.6 / 0.9 HR px, major axis at
0.5 rad, 13×13), ×2 block-centre subsampling, colour noise σ = 8/255 and JPEG 90. Two
experiments (docs/dasr.md has the story and the GPU results):

* ``dsn`` ("How long a DSN needs"): the camera's LR of the left halves of astronaut, chelsea
  and coffee is the real LR; a reduced DSN (32 features, 4 blocks, 32-feature FSD, batches of 8
  HR crops of 48, Adam 2e-4, content ×1, adversarial ×0.5, wavelet separation by default for
  this experiment: ``--dsn-freq``) learns from the clean right halves. Its LR of those halves
  is compared with the camera by ``pool compare`` (Δ noise in 8-bit levels, Δ spectrum in dB),
  beside MATLAB-bicubic downscaling. The claim: the DSN is closer in both.
* ``dasr`` ("Does it pay off?", ``run_camera_experiment``): the DSN (Gaussian separation,
  content ×10, adversarial ×0.5) learns the camera from six photos (astronaut, coffee, rocket
  and three of ``examples/photos``); ``degrade --dsn`` makes pairs with distance maps; a compact
  net (32 features, 4 convs, ×2; 8 HR patches of 64, Adam 1e-3, no decay, EMA) trains with
  ``--recipe dasr --real-lr`` on them (no perceptual term, 32-feature discriminator), and the
  same net with the same budget with ``--recipe psnr`` on bicubic pairs of the same HR. Both,
  and bicubic upscaling, are scored in PSNR-Y (border 2) on camera pairs of three photos no
  network saw (chelsea, the stereo motorcycle's left view, the wool mill machine). The claim:
  a mean margin of 0.4 dB or more over the bicubic-trained model, ahead on two photos of
  three, and above bicubic upscaling.

A seed draws the camera's noise, the crops and the initial weights. At the defaults one seed
takes 2–6 minutes on a GPU and about 15 (dsn) or 28 (dasr) minutes on a 2-core CPU; use
``--dsn-iters``/``--sr-iters`` for a quick smoke run. Results: OUT.json (every number and the
settings) and OUT.md (the tables in docs/dasr.md's form), also printed; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXAMPLE_PHOTOS = REPO / "examples" / "photos"
DSN_PHOTOS = ("astronaut", "chelsea", "coffee")
CAMERA_TRAIN = ("astronaut", "coffee", "rocket", "tuxpaint_lighthouse", "tuxpaint_mossy_bark",
                "tuxpaint_trees_above")
CAMERA_HELD_OUT = ("chelsea", "stereo_motorcycle", "tuxpaint_wool_mill_machine")
STARTED = time.perf_counter()


def log(message: str) -> None:
    """One progress line on stderr with the elapsed time."""
    elapsed = time.perf_counter() - STARTED
    print(f"[dasr_camera {elapsed:7.0f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the camera


def camera_lr(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The synthetic camera on an ``(H, W, 3)`` float [0, 1] photo (H, W even): anisotropic
    Gaussian blur, ×2 subsampling, colour noise σ = 8/255, JPEG 90. Float32 ``(H/2, W/2, 3)``."""
    from srkit.ops.jpeg import jpeg_compress
    from srkit.ops.kernels import blur_downsample, gaussian_kernel

    lr = blur_downsample(photo, gaussian_kernel(13, 1.6, 0.9, 0.5), 2)
    lr = np.clip(lr + rng.normal(0, 8 / 255, lr.shape).astype(np.float32), 0, 1)
    return jpeg_compress(lr, 90)


def camera_photo(name: str) -> np.ndarray:
    """A scikit-image photo by name, or one of the repository's examples/photos by stem, float32
    [0, 1], trimmed to even sides."""
    from skimage import data

    from srkit.io.images import read_image

    if hasattr(data, name):
        image = getattr(data, name)()
        image = image[0] if isinstance(image, tuple) else image  # the stereo pair's left
        image = image[..., :3].astype(np.float32) / 255
    else:
        image = read_image(EXAMPLE_PHOTOS / f"{name}.jpg").rgb
    return image[:image.shape[0] // 2 * 2, :image.shape[1] // 2 * 2]


def write_camera_photos(root: Path, names: tuple[str, ...], rng: np.random.Generator
                        ) -> dict[str, np.ndarray]:
    """Unpaired training data: the camera's LR of each photo's left half in ``root/real``, the
    clean right half in ``root/hr``. Returns the right halves by name."""
    from srkit.io.images import write_image

    right_halves = {}
    for name in names:
        image = camera_photo(name)
        half = image.shape[1] // 2 // 2 * 2
        write_image(root / "real" / f"{name}.png", camera_lr(image[:, :half], rng))
        right = image[:, half:half + (image.shape[1] - half) // 2 * 2]
        write_image(root / "hr" / f"{name}.png", right)
        right_halves[name] = right
    return right_halves


def train_camera_dsn(root: Path, iters: int, *, seed: int, device: str, freq: str,
                     content: float, adversarial: float) -> Path:
    """The reduced DSN of docs/dasr.md's "How long a DSN needs" on ``root/hr`` and
    ``root/real``, with the adversarial weight raised (0.5 rather than the paper's 0.005) to
    learn the camera in thousands rather than tens of thousands of iterations."""
    from srkit.stages.train_dsn import train_dsn
    from srkit.training.dasr import DsnWeights

    dsn = root / "dsn.safetensors"
    train_dsn(root / "hr", root / "real", dsn, 2, iters=iters, batch_size=8, patch_size=48,
              learning_rate=2e-4, freq=freq,
              weights=DsnWeights(content=content, adversarial=adversarial), num_feat=32,
              num_block=4, discriminator_feat=32, sample_every=0, save_every=iters,
              log_every=50, seed=seed, device=device, quiet=True)
    return dsn


def pool_distances(real: Path, generated: list[Path]) -> list[dict[str, float]]:
    """``pool compare``'s noise σ of each generated folder and its distances to ``real``."""
    from srkit.stages.pool_compare import compare_degradations

    result = compare_degradations(real, generated)
    return [{"noise_sigma": stats.noise_overall, "noise": dist.noise,
             "spectrum": dist.spectrum}
            for stats, dist in zip(result.generated, result.distances, strict=True)]


# --------------------------------------------------------------------------- experiments


@dataclass(frozen=True)
class DsnResult:
    seed: int
    seconds: float
    dsn: dict[str, float]      # noise_sigma, noise, spectrum (distances to the camera)
    bicubic: dict[str, float]  # the same for MATLAB-bicubic downscaling


def run_dsn_experiment(root: Path, *, iters: int, seed: int = 0, device: str = "auto",
                       freq: str = "wavelet", content: float = 1.0,
                       adversarial: float = 0.5) -> DsnResult:
    """A DSN learns the camera from the right halves of three photos (the camera's LR of their
    left halves is the real LR); its LR of the right halves against bicubic downscaling."""
    from srkit.stages.domain_distance import dsn_degrade

    from srkit.io.images import write_image
    from srkit.models.dsn import load_dsn
    from srkit.ops.resize import imresize

    began = time.perf_counter()
    right_halves = write_camera_photos(root, DSN_PHOTOS, np.random.default_rng(seed))
    dsn = load_dsn(train_camera_dsn(root, iters, seed=seed, device=device, freq=freq,
                                    content=content, adversarial=adversarial))
    for name, right in right_halves.items():
        write_image(root / "dsn" / f"{name}.png", dsn_degrade(right, dsn.generator))
        write_image(root / "bicubic" / f"{name}.png", np.clip(imresize(right, 0.5), 0, 1))
    learned, bicubic = pool_distances(root / "real", [root / "dsn", root / "bicubic"])
    return DsnResult(seed, time.perf_counter() - began, learned, bicubic)


@dataclass(frozen=True)
class CameraResult:
    seed: int
    seconds: float
    dasr_psnr: float
    bicubic_model_psnr: float
    bicubic_upscaling_psnr: float
    per_photo: dict[str, tuple[float, float, float]]  # name → (dasr, bicubic-trained, bicubic)
    dsn: dict[str, float]      # pool compare of the DSN pairs' LR against the camera
    bicubic: dict[str, float]  # and of the bicubic pairs' LR


def run_camera_experiment(root: Path, *, dsn_iters: int, sr_iters: int, seed: int = 0,
                          device: str = "auto",
                          train_photos: tuple[str, ...] = CAMERA_TRAIN,
                          held_out: tuple[str, ...] = CAMERA_HELD_OUT,
                          dsn_freq: str = "gaussian", dsn_content: float = 10.0,
                          dsn_adversarial: float = 0.5, sr_feat: int = 32, sr_conv: int = 4,
                          sr_lr: float = 1e-3) -> CameraResult:
    """The end-to-end check. A DSN learns the camera from unpaired data (clean right halves of
    the training photos, camera LR of their left halves); ``degrade --dsn`` makes pairs with
    distance maps; a ``--recipe dasr`` model trains on them with the camera's LR as
    ``--real-lr``, and a model of the same network, iterations and batch on bicubic pairs of
    the same HR. Both are scored in PSNR-Y (border 2) on held-out camera pairs of other photos,
    beside plain bicubic upscaling."""
    import torch

    from srkit.io.checkpoints import load_model
    from srkit.metrics import psnr
    from srkit.ops.resize import imresize
    from srkit.stages.degrade import degrade
    from srkit.stages.train_sr import train_sr
    from srkit.training.validation import super_resolve

    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    write_camera_photos(root, train_photos, rng)
    held = {name: camera_photo(name) for name in held_out}
    held = {name: (camera_lr(image, rng), image) for name, image in held.items()}
    log(f"seed {seed}: DSN, {dsn_iters} iterations")
    dsn = train_camera_dsn(root, dsn_iters, seed=seed, device=device, freq=dsn_freq,
                           content=dsn_content, adversarial=dsn_adversarial)
    degrade(root / "hr", root / "dsn_pairs", 2, mode="dsn", dsn=dsn, seed=seed, device=device)
    degrade(root / "hr", root / "bicubic_pairs", 2, mode="bicubic", seed=seed)
    common = {"arch": "compact", "arch_args": {"num_feat": sr_feat, "num_conv": sr_conv},
              "iters": sr_iters, "batch_size": 8, "patch_size": 64, "learning_rate": sr_lr,
              "workers": 0, "device": device, "seed": seed, "log_every": 50,
              "save_every": sr_iters}
    log(f"seed {seed}: dasr and bicubic-trained models, {sr_iters} iterations each")
    train_sr(root / "dsn_pairs", root / "dasr.safetensors", 2, recipe="dasr",
             real_lr=root / "real", overrides={"perceptual_weight": 0.0, "lr_milestones": [],
                                               "discriminator_num_feat": 32}, **common)
    train_sr(root / "bicubic_pairs", root / "bicubic.safetensors", 2, recipe="psnr",
             overrides={"lr_milestones": []}, **common)

    def score(model_path: Path | None) -> dict[str, float]:
        model = load_model(model_path).model if model_path is not None else None
        scores = {}
        for name, (lr_img, hr_img) in held.items():
            sr_img = (super_resolve(model, lr_img, torch.device("cpu")) if model is not None
                      else np.clip(imresize(lr_img, 2), 0, 1))
            scores[name] = psnr(sr_img, hr_img, border=2, y_channel=True)
        return scores

    columns = [score(root / "dasr.safetensors"), score(root / "bicubic.safetensors"),
               score(None)]
    learned, bicubic = pool_distances(root / "real", [root / "dsn_pairs" / "lr",
                                                      root / "bicubic_pairs" / "lr"])
    return CameraResult(seed, time.perf_counter() - began,
                        *(float(np.mean(list(c.values()))) for c in columns),
                        per_photo={name: tuple(c[name] for c in columns) for name in held},
                        dsn=learned, bicubic=bicubic)


# --------------------------------------------------------------------------- tables


def _range(values: list[float], fmt: str = "{:.2f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if low == high else f"{fmt.format(low)}–{fmt.format(high)}"


def dsn_table(runs: list[dict], settings: dict) -> str:
    """docs/dasr.md's "How long a DSN needs" table: one row per seed."""
    lines = [f"## DSN against the camera ({settings['freq']}, content ×{settings['content']}, "
             f"adversarial ×{settings['adversarial']}, {settings['iters']} iterations)", "",
             "`pool compare` distances to the camera's real LR; bicubic downscaling: noise "
             + _range([r["bicubic"]["noise"] for r in runs]) + ", spectrum "
             + _range([r["bicubic"]["spectrum"] for r in runs]) + " dB.", "",
             "| seed | iterations (time) | adversarial weight | LR noise σ | Δ noise | "
             "Δ spectrum dB | closer than bicubic |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        closer = (r["dsn"]["noise"] < r["bicubic"]["noise"]
                  and r["dsn"]["spectrum"] < r["bicubic"]["spectrum"])
        lines.append(f"| {r['seed']} | {settings['iters']} ({r['seconds'] / 60:.1f} min) | "
                     f"{settings['adversarial']} | {r['dsn']['noise_sigma']:.2f} | "
                     f"{r['dsn']['noise']:.2f} | {r['dsn']['spectrum']:.2f} | "
                     f"{'yes' if closer else 'no'} |")
    return "\n".join(lines) + "\n"


def dasr_table(runs: list[dict], settings: dict) -> str:
    """docs/dasr.md's seed-grid row for these settings, then one row per seed."""
    margins = [r["dasr_psnr"] - r["bicubic_model_psnr"] for r in runs]
    over = [r["dasr_psnr"] - r["bicubic_upscaling_psnr"] for r in runs]
    ahead = [sum(d > m for d, m, _ in r["per_photo"].values()) for r in runs]
    counts = ", ".join(f"{a} ({ahead.count(a)})" for a in sorted(set(ahead), reverse=True))
    label = (f"{settings['dsn_freq']}, ×{settings['dsn_content']:g}, {settings['dsn_iters']}; "
             f"SR {settings['sr_iters']} iterations")
    noise = _range([r["dsn"]["noise"] for r in runs])
    spectrum = _range([r["dsn"]["spectrum"] for r in runs])
    lines = ["## dasr model against a bicubic-trained one on the camera", "",
             "Margin: dasr model − bicubic-trained model, mean PSNR-Y (border 2) over the held-"
             "out photos; the bicubic-trained model scores "
             + _range([r["bicubic_model_psnr"] for r in runs]) + " dB, bicubic upscaling "
             + _range([r["bicubic_upscaling_psnr"] for r in runs]) + " dB. `pool compare` "
             "distances of the DSN's LR to the camera (bicubic downscaling: noise "
             + _range([r["bicubic"]["noise"] for r in runs]) + ", spectrum "
             + _range([r["bicubic"]["spectrum"] for r in runs]) + " dB).", "",
             "| DSN (separation, content weight, iterations) | seeds | margin, mean [min, max] | "
             "photos ahead | over bicubic upscaling | DSN Δ noise / Δ spectrum |",
             "|---|---|---|---|---|---|",
             f"| {label} | {len(runs)} | {np.mean(margins):+.2f} [{min(margins):+.2f}, "
             f"{max(margins):+.2f}] | {counts} | {min(over):+.2f} … {max(over):+.2f} | "
             f"{noise} / {spectrum} |", "",
             "| seed | dasr | bicubic-trained | bicubic upscaling | margin | photos ahead | "
             "passes (≥ +0.4 dB, ≥ 2 ahead, above bicubic) | time |",
             "|---|---|---|---|---|---|---|---|"]
    for r, margin, photos in zip(runs, margins, ahead, strict=True):
        passes = margin >= 0.4 and photos >= 2 and r["dasr_psnr"] > r["bicubic_upscaling_psnr"]
        lines.append(f"| {r['seed']} | {r['dasr_psnr']:.2f} | {r['bicubic_model_psnr']:.2f} | "
                     f"{r['bicubic_upscaling_psnr']:.2f} | {margin:+.2f} | {photos} of "
                     f"{len(r['per_photo'])} | {'yes' if passes else 'no'} | "
                     f"{r['seconds'] / 60:.1f} min |")
    return "\n".join(lines) + "\n"


def summarise(results: dict) -> str:
    """The markdown of a run: a header with the machine, then one table per experiment."""
    machine = results["machine"]
    parts = ["# DASR on a synthetic camera", "",
             f"Made by `python benchmarks/dasr_camera.py {' '.join(results['argv'])}` on "
             f"{machine['device']} ({machine['cpus']} CPUs, torch {machine['torch']}), "
             f"{machine['seconds'] / 60:.1f} min.", ""]
    if "dsn" in results["experiments"]:
        parts.append(dsn_table(results["experiments"]["dsn"], results["settings"]["dsn"]))
    if "dasr" in results["experiments"]:
        parts.append(dasr_table(results["experiments"]["dasr"], results["settings"]["dasr"]))
    return "\n".join(parts)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", nargs="+", choices=("dasr", "dsn"),
                        default=["dasr", "dsn"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--dsn-iters", type=int, default=3000)
    parser.add_argument("--sr-iters", type=int, default=600, help="dasr experiment only")
    parser.add_argument("--dsn-freq", default=None,
                        help="DSN separation (default: gaussian for dasr, wavelet for dsn)")
    parser.add_argument("--dsn-content", type=float, default=None,
                        help="DSN content weight (default: 10 for dasr, 1 for dsn)")
    parser.add_argument("--dsn-adversarial", type=float, default=0.5)
    parser.add_argument("--train-photos", nargs="+", default=list(CAMERA_TRAIN),
                        help="dasr experiment: the DSN's and SR models' training photos")
    parser.add_argument("--device", default="auto", help="training device")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the runs' files here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dasr_camera_latest",
                        help="writes OUT.json and OUT.md")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, work: Path) -> dict:
    import torch

    from srkit.device import resolve_device

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    settings: dict[str, dict] = {}
    experiments: dict[str, list[dict]] = {}
    if "dsn" in args.experiment:
        settings["dsn"] = {"iters": args.dsn_iters, "freq": args.dsn_freq or "wavelet",
                           "content": args.dsn_content or 1.0,
                           "adversarial": args.dsn_adversarial, "photos": list(DSN_PHOTOS)}
        experiments["dsn"] = []
        for seed in args.seeds:
            log(f"dsn experiment, seed {seed}")
            s = settings["dsn"]
            result = run_dsn_experiment(work / f"dsn-seed{seed}", iters=s["iters"], seed=seed,
                                        device=args.device, freq=s["freq"],
                                        content=s["content"], adversarial=s["adversarial"])
            experiments["dsn"].append(asdict(result))
    if "dasr" in args.experiment:
        settings["dasr"] = {"dsn_iters": args.dsn_iters, "sr_iters": args.sr_iters,
                            "dsn_freq": args.dsn_freq or "gaussian",
                            "dsn_content": args.dsn_content or 10.0,
                            "dsn_adversarial": args.dsn_adversarial,
                            "train_photos": list(args.train_photos),
                            "held_out": list(CAMERA_HELD_OUT)}
        experiments["dasr"] = []
        for seed in args.seeds:
            s = settings["dasr"]
            result = run_camera_experiment(
                work / f"dasr-seed{seed}", dsn_iters=s["dsn_iters"], sr_iters=s["sr_iters"],
                seed=seed, device=args.device, dsn_freq=s["dsn_freq"],
                dsn_content=s["dsn_content"], dsn_adversarial=s["dsn_adversarial"],
                train_photos=tuple(s["train_photos"]))
            experiments["dasr"].append(asdict(result))
    return {"argv": sys.argv[1:], "settings": settings, "experiments": experiments,
            "machine": {"device": str(resolve_device(args.device)), "cpus": os.cpu_count(),
                        "platform": platform.platform(), "torch": torch.__version__,
                        "threads": torch.get_num_threads(),
                        "seconds": time.perf_counter() - STARTED}}


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    if args.work is not None:
        results = run(args, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="dasr_camera-") as work:
            results = run(args, Path(work))
    text = summarise(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=float))
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
