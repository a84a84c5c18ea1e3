"""Kernel estimation on a DIV2KRK-like benchmark: ``edge-gauss`` vs KernelGAN vs baselines.

Cases (DIV2KRK's recipe, Bell-Kligler et al. 2019, on this project's photos):

* HR: a photo downscaled ×2 with MATLAB bicubic (cleans compression and noise), centre crop
  of at most 960×640 px, trimmed to a multiple of 4.
* Kernel: an 11×11 anisotropic Gaussian, eigenvalue variances λ1, λ2 ~ U[0.6, 5] HR px²,
  angle ~ U[0, π), times (1 + U[-0.25, 0.25]) per tap, re-centred, sum 1; ×4 applies the ×2
  kernel twice (the analytic 31×31 composition). One kernel per photo and scale.
* LR: ``srkit.ops.kernels.blur_downsample`` (block-centre grid), 8-bit rounded; "noisy" adds
  Gaussian noise of σ = 2.55/255 before rounding.

Scores: kernel PSNR (estimate vs truth, both centred and zero-padded to one size, best
sub-pixel alignment within ±1 px, peak of the true kernel as the signal), LR re-synthesis
PSNR (``blur_downsample(hr, estimate)`` vs the noise-free LR, RGB, 8-px border dropped;
``imresize`` for the bicubic row), seconds and peak memory per image. Each estimator run is a
fresh subprocess (``ru_maxrss``); ``edge-gauss`` and ``kernelgan`` alternate photo by photo
so that both see the same machine load, which is recorded.

    python benchmarks/kernels_div2krk.py [PHOTO_DIR] [--kernelgan-photos 4] [--iters 3000]
    python benchmarks/kernels_div2krk.py [PHOTO_DIR] --calibrate   # fit edge-gauss on DEV

The benchmark photos (BENCH) and the development photos the edge-gauss constants were fitted
on (DEV) are fixed lists, disjoint, drawn from every group of photos.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BENCH = [  # KernelGAN runs on the first --kernelgan-photos: big enough for its ×4 crops
    "gcompris_erase_013_1920x1080.webp", "palapeli_cincinnati-bridge.jpg",
    "gcompris_explore_world_animals_004_1024x731.webp", "tuxpaint_cliff.jpg",
    "gcompris_explore_monuments_017_1024x578.webp", "gcompris_clickgame_003_1603x1080.webp",
    "gcompris_erase_001_1920x1080.webp", "gcompris_explore_monuments_005_1024x769.webp",
    "gcompris_explore_monuments_029_1024x683.webp",
    "gcompris_explore_farm_animals_005_1024x683.webp",
    "gcompris_explore_world_music_003_1024x683.webp", "gcompris_erase_025_1920x1080.webp",
]
DEV = [
    "gcompris_erase_000_1920x1080.webp", "gcompris_erase_011_1920x1080.webp",
    "gcompris_erase_019_1920x1080.webp", "gcompris_erase_027_1920x1080.webp",
    "gcompris_explore_monuments_000_1024x682.webp", "gcompris_explore_monuments_008_1024x576.webp",
    "gcompris_explore_monuments_012_1024x768.webp", "gcompris_explore_monuments_020_1024x768.webp",
    "gcompris_explore_monuments_024_1024x451.webp", "gcompris_explore_monuments_033_1024x626.webp",
    "gcompris_explore_monuments_045_1024x569.webp",
    "gcompris_explore_world_animals_001_1024x683.webp",
    "gcompris_explore_world_animals_009_1024x768.webp",
    "gcompris_explore_farm_animals_001_1024x768.webp",
    "gcompris_explore_world_music_000_1024x613.webp", "palapeli_citrus-fruits.jpg",
    "palapeli_european-honey-bee.jpg", "tuxpaint_rocks.jpg", "tuxpaint_sun_behind_clouds.jpg",
    "tuxpaint_jellyfish.jpg", "gcompris_clickgame_000_1440x1080.webp",
]
NOISE_SIGMA = 2.55 / 255
PRIOR_VARIANCE = 2.8  # mean of U[0.6, 5]: the trivial isotropic baseline


# --------------------------------------------------------------------------- cases


def make_hr(path: Path, max_size: tuple[int, int] = (640, 960)) -> np.ndarray:
    """Photo → MATLAB bicubic ×½ → centre crop ≤ 640×960 (rows×cols) → multiple of 4."""
    from srkit.io.images import read_image
    from srkit.ops.resize import imresize

    hr = np.clip(imresize(read_image(path).rgb, 0.5), 0, 1)
    rows, cols = (min(n, m) // 4 * 4 for n, m in zip(hr.shape[:2], max_size, strict=True))
    top, left = (hr.shape[0] - rows) // 2, (hr.shape[1] - cols) // 2
    return np.ascontiguousarray(hr[top:top + rows, left:left + cols], dtype=np.float32)


def random_kernel_x2(rng: np.random.Generator, size: int = 11, variances=(0.6, 5.0),
                     shape_noise: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """DIV2KRK's ×2 kernel: ``(kernel, covariance)``; the kernel centred, sum 1."""
    from srkit.ops.kernels import centre_kernel, gaussian_from_covariance

    lambdas = rng.uniform(*variances, size=2)
    theta = rng.uniform(0, np.pi)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    covariance = rotation @ np.diag(lambdas) @ rotation.T
    kernel = gaussian_from_covariance(size, covariance)
    kernel = kernel * (1 + rng.uniform(-shape_noise, shape_noise, kernel.shape))
    return centre_kernel(kernel), covariance


def make_case(hr: np.ndarray, name: str, scale: int, noisy: bool, seed: int) -> dict:
    """One benchmark case: the true kernel, its covariance, the LR (8-bit) and the clean LR."""
    from srkit.kernels_est.common import compose_x2
    from srkit.ops.kernels import blur_downsample, centre_kernel

    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), scale])
    kernel_x2, covariance = random_kernel_x2(rng)
    kernel = kernel_x2 if scale == 2 else centre_kernel(compose_x2(kernel_x2))
    lr_clean = blur_downsample(hr, kernel, scale)
    noise_rng = np.random.default_rng([seed, zlib.crc32(name.encode()), scale, 1])
    lr = lr_clean + (noise_rng.normal(0, NOISE_SIGMA, lr_clean.shape) if noisy else 0)
    lr = (np.round(np.clip(lr, 0, 1) * 255) / 255).astype(np.float32)
    return {"kernel": kernel, "kernel_x2": kernel_x2, "covariance": covariance, "lr": lr,
            "lr_clean": lr_clean}


# --------------------------------------------------------------------------- scores


def kernel_psnr(estimate: np.ndarray, truth: np.ndarray, search: bool = True) -> float:
    """PSNR (dB) of ``estimate`` against ``truth``: centred, padded, best shift ≤ 1 px."""
    from scipy import ndimage

    from srkit.ops.kernels import centre_kernel, pad_kernel

    size = max(estimate.shape[0], truth.shape[0])  # both odd
    est = pad_kernel(centre_kernel(estimate), size).astype(np.float64)
    true = pad_kernel(centre_kernel(truth), size).astype(np.float64)
    shifts = np.arange(-1, 1.01, 0.25) if search else [0.0]
    best = min(np.mean(((ndimage.shift(est, (dy, dx), order=3, mode="constant")
                         if dy or dx else est) - true) ** 2)
               for dy in shifts for dx in shifts)
    return float(10 * np.log10(true.max() ** 2 / best))


def image_psnr(a: np.ndarray, b: np.ndarray, border: int = 8) -> float:
    a = np.clip(a, 0, 1)[border:-border, border:-border].astype(np.float64)
    b = np.clip(b, 0, 1)[border:-border, border:-border].astype(np.float64)
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


def resynthesis_psnr(hr: np.ndarray, kernel: np.ndarray | None, scale: int,
                     lr_clean: np.ndarray) -> float:
    """PSNR of the HR degraded with ``kernel`` (MATLAB bicubic when None) vs the clean LR."""
    from srkit.ops.kernels import blur_downsample
    from srkit.ops.resize import imresize

    made = imresize(hr, 1 / scale) if kernel is None else blur_downsample(hr, kernel, scale)
    return image_psnr(made, lr_clean)


def baseline_kernels(case: dict, scale: int) -> dict[str, np.ndarray | None]:
    """Kernels that need no estimation: bicubic (None: imresize), isotropic prior, oracle."""
    from srkit.kernels_est.common import kernels_for_scale
    from srkit.ops.kernels import gaussian_from_covariance, gaussian_kernel
    from srkit.ops.resize import cubic

    taps = cubic((np.arange(4 * scale + 1) - 2 * scale) / scale) / scale
    return {
        "bicubic": None, "_bicubic_kernel": np.outer(taps, taps) / np.outer(taps, taps).sum(),
        "iso-gaussian": kernels_for_scale(gaussian_kernel(13, np.sqrt(PRIOR_VARIANCE)),
                                          scale)[scale],
        "oracle-gaussian": kernels_for_scale(gaussian_from_covariance(13, case["covariance"]),
                                             scale)[scale],
    }


# --------------------------------------------------------------------------- subprocesses


def worker(spec_path: str) -> None:
    """Run one estimator on one LR (a fresh process, so ru_maxrss is its own peak)."""
    spec = json.loads(Path(spec_path).read_text())
    if spec["method"] == "kernelgan":  # edge-gauss never imports torch
        import torch

        torch.set_num_threads(spec["threads"])
    from srkit.errors import SrkitError
    from srkit.kernels_est import estimate_kernel

    lr = np.load(spec["lr"])
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        estimate = estimate_kernel(lr, spec["scale"], spec["method"],
                                   rng=np.random.default_rng(spec["seed"]), iters=spec["iters"])
    except SrkitError as error:  # e.g. an LR too small for KernelGAN's crops
        Path(spec["out"] + ".json").write_text(json.dumps({"error": str(error)}))
        return
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(spec["out"], estimate.kernels[spec["scale"]])
    Path(spec["out"] + ".json").write_text(json.dumps({
        "seconds": wall, "cpu_seconds": cpu, "peak_mb": peak_kb / 1024,
        "baseline_mb": base_kb / 1024, "flag": estimate.flag, "info": estimate.info}))


def run_estimator(method: str, lr: np.ndarray, scale: int, seed: int, iters: int | None,
                  threads: int, tmp: Path) -> dict:
    stem = tmp / f"{method}-{time.monotonic_ns()}"
    np.save(f"{stem}-lr.npy", lr)
    spec = {"method": method, "scale": scale, "seed": seed, "iters": iters, "threads": threads,
            "lr": f"{stem}-lr.npy", "out": f"{stem}-kernel.npy"}
    Path(f"{stem}.json").write_text(json.dumps(spec))
    load = os.getloadavg()[0]
    subprocess.run([sys.executable, __file__, "--worker", f"{stem}.json"], check=True)
    result = json.loads(Path(spec["out"] + ".json").read_text())
    if "error" in result:
        return result
    result["kernel"] = np.load(spec["out"])
    result["load_before"], result["load_after"] = load, os.getloadavg()[0]
    return result


# --------------------------------------------------------------------------- benchmark


def run_benchmark(args: argparse.Namespace) -> dict:
    conditions = [(s, n) for s in args.scales for n in (False, True)]
    progress_file = args.out.with_suffix(".partial.jsonl")  # one line per finished case
    done = {}
    if args.resume and progress_file.exists():
        for line in progress_file.read_text().splitlines():
            rec = json.loads(line)
            done[(rec["photo"], rec["scale"], rec["noisy"])] = rec
    progress_file.parent.mkdir(parents=True, exist_ok=True)
    if not args.resume:
        progress_file.write_text("")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, name in enumerate(BENCH[:args.photos]):
            hr = make_hr(args.photo_dir / name)
            with_kernelgan = index < args.kernelgan_photos
            for scale, noisy in conditions:
                if (name, scale, noisy) in done:
                    records.append(done[(name, scale, noisy)])
                    continue
                case = make_case(hr, name, scale, noisy, args.seed)
                rec = {"photo": name, "scale": scale, "noisy": noisy, "hr_shape": hr.shape[:2],
                       "lr_shape": case["lr"].shape[:2],
                       "true_covariance": case["covariance"].round(4).tolist(), "methods": {}}
                baselines = baseline_kernels(case, scale)
                for method in ("bicubic", "iso-gaussian", "oracle-gaussian"):
                    kernel = baselines[method]
                    rec["methods"][method] = {
                        "kernel_psnr": kernel_psnr(baselines["_bicubic_kernel"]
                                                   if kernel is None else kernel,
                                                   case["kernel"]),
                        "resynthesis_psnr": resynthesis_psnr(hr, kernel, scale,
                                                             case["lr_clean"])}
                estimators = [("edge-gauss", "edge-gauss", None)]
                if with_kernelgan:
                    estimators += [("kernelgan", "kernelgan", args.iters)]
                    estimators += [(f"kernelgan-{n}", "kernelgan", n) for n in args.short_iters]
                if index % 2:  # alternate which one runs first
                    estimators.reverse()
                for label, method, iters in estimators:
                    out = run_estimator(method, case["lr"], scale, args.seed, iters,
                                        args.threads, Path(tmp))
                    if "error" in out:
                        rec["methods"][label] = out
                        continue
                    kernel = out.pop("kernel")
                    rec["methods"][label] = {
                        "kernel_psnr": kernel_psnr(kernel, case["kernel"]),
                        "resynthesis_psnr": resynthesis_psnr(hr, kernel, scale,
                                                             case["lr_clean"]), **out}
                records.append(rec)
                with open(progress_file, "a") as handle:
                    handle.write(json.dumps(rec, default=float) + "\n")
                print(json.dumps({k: v for k, v in rec.items() if k != "methods"}
                                 | {m: {k: round(v, 2) for k, v in r.items()
                                        if isinstance(v, float)}
                                    for m, r in rec["methods"].items()}), flush=True)
    return {"settings": vars(args) | {"photo_dir": str(args.photo_dir), "out": str(args.out)},
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "processor": platform.processor()},
            "records": records}


def summarise(results: dict) -> str:
    """benchmarks/results/kernels.md: how it was run, then the tables."""
    records = results["records"]
    settings = results["settings"]
    lines = ["# Kernel estimation on a DIV2KRK-like benchmark", "",
             "Made by `python benchmarks/kernels_div2krk.py` (see its docstring for the recipe; "
             "docs/kernel-estimation.md discusses the numbers). "
             f"{len({r['photo'] for r in records})} photos, KernelGAN on the first "
             f"{settings['kernelgan_photos']} ({settings['iters']} iterations; "
             f"`kernelgan-N`: N iterations), torch threads per run: {settings['threads']}. "
             "Means over photos; kernel PSNR against the true kernel's peak, re-synthesis PSNR "
             "against the noise-free LR; seconds and peak memory (ru_maxrss) of a fresh "
             "process per estimate.", ""]
    short = [f"kernelgan-{n}" for n in results["settings"]["short_iters"]]
    methods = ["bicubic", "iso-gaussian", "kernelgan", *short, "edge-gauss", "oracle-gaussian"]
    for subset_name, pick in (("photos with KernelGAN",
                               lambda r: "kernel_psnr" in r["methods"].get("kernelgan", {})),
                              ("all photos", lambda r: True)):
        lines += [f"\n### {subset_name}\n",
                  "| case | photos | method | kernel PSNR (dB) | re-synthesis PSNR (dB) | "
                  "s / image | peak MB |", "|---|---|---|---|---|---|---|"]
        for scale in sorted({r["scale"] for r in records}):
            for noisy in (False, True):
                rows = [r for r in records if r["scale"] == scale and r["noisy"] == noisy
                        and pick(r)]
                if not rows:
                    continue
                label = f"×{scale} {'noisy' if noisy else 'clean'}"
                for method in methods:
                    got = [r["methods"][method] for r in rows
                           if "kernel_psnr" in r["methods"].get(method, {})]
                    if len(got) < len(rows):
                        continue
                    kp = np.mean([g["kernel_psnr"] for g in got])
                    rp = np.mean([g["resynthesis_psnr"] for g in got])
                    secs = (f"{np.mean([g['seconds'] for g in got]):.1f}"
                            if "seconds" in got[0] else "–")
                    peak = f"{np.max([g['peak_mb'] for g in got]):.0f}" if "peak_mb" in got[0] \
                        else "–"
                    lines.append(f"| {label} | {len(rows)} | {method} | {kp:.2f} | {rp:.2f} | "
                                 f"{secs} | {peak} |")
    with_kg = [r for r in records if "kernel_psnr" in r["methods"].get("kernelgan", {})]
    failed = [f"{r['photo']} ×{r['scale']}: {m['error']}" for r in records
              for m in r["methods"].values() if "error" in m]
    if failed:
        lines += ["", "Failed runs (left out of the means): " + "; ".join(failed) + "."]
    if with_kg:
        shown = ["iso-gaussian", "kernelgan", *short, "edge-gauss"]
        lines += ["", "### each case with KernelGAN (kernel PSNR / re-synthesis PSNR, dB)", "",
                  "| photo | case | " + " | ".join(shown) + " |",
                  "|---|---|" + "---|" * len(shown)]
        for r in with_kg:
            cells = [f"{r['methods'][m]['kernel_psnr']:.1f} / "
                     f"{r['methods'][m]['resynthesis_psnr']:.1f}"
                     if "kernel_psnr" in r["methods"][m] else "failed" for m in shown]
            lines.append(f"| {r['photo']} | ×{r['scale']} {'noisy' if r['noisy'] else 'clean'}"
                         f" | " + " | ".join(cells) + " |")
        wins = sum(r["methods"]["edge-gauss"]["kernel_psnr"]
                   >= r["methods"]["kernelgan"]["kernel_psnr"] for r in with_kg)
        lines += ["", f"edge-gauss's kernel PSNR ≥ KernelGAN's in {wins} of {len(with_kg)} "
                  "cases."]
    timed = [(r["methods"]["edge-gauss"]["seconds"], r["methods"]["kernelgan"]["seconds"])
             for r in with_kg]
    if timed:
        ratio = np.array([k / e for e, k in timed])
        loads = [r["methods"][m][k] for r in with_kg for m in ("edge-gauss", "kernelgan")
                 for k in ("load_before", "load_after")]
        lines += ["", f"KernelGAN / edge-gauss time per image, same photos: median "
                  f"{np.median(ratio):.0f}×, min {ratio.min():.0f}× over {len(ratio)} cases; "
                  f"1-minute load average during the runs {min(loads):.1f}–{max(loads):.1f} "
                  f"on {results['machine']['cpus']} CPUs."]
    return "\n".join(lines)


# --------------------------------------------------------------------------- calibration


def calibrate(args: argparse.Namespace) -> dict:
    """Fit edge-gauss's hr_variance / trust_* per scale on DEV, with a cross-validated score.

    The fit maximises the mean kernel PSNR (no shift search) of the Gaussian estimate; at ×4
    it scores the Gaussian of covariance 5Σ (what two ×2 steps make) for speed.
    """
    from scipy.optimize import minimize

    from srkit.kernels_est.edge_gauss import (
        EdgeGaussSettings,
        kernel_covariance_from_lr,
        measure_lr_blur,
    )
    from srkit.ops.kernels import gaussian_from_covariance

    cache = args.measurements
    if cache is not None and cache.exists():
        cases = json.loads(cache.read_text())
    else:
        cases = []
        for name in DEV:
            hr = make_hr(args.photo_dir / name)
            for scale in args.scales:
                for repeat in range(args.dev_kernels):
                    for noisy in (False, True):
                        case = make_case(hr, name, scale, noisy, 1000 + repeat)
                        lr_blur, edges = measure_lr_blur(case["lr"])
                        cases.append({"photo": name, "scale": scale, "noisy": noisy,
                                      "lr_blur": None if lr_blur is None else lr_blur.tolist(),
                                      "edges": edges, "kernel": case["kernel"].tolist()})
            print(f"measured {name}", flush=True)
        if cache is not None:
            cache.write_text(json.dumps(cases))
    for case in cases:
        case["lr_blur"] = None if case["lr_blur"] is None else np.array(case["lr_blur"])
        case["kernel"] = np.array(case["kernel"])

    def estimate(case: dict, scale: int, p: np.ndarray) -> np.ndarray:
        settings = EdgeGaussSettings(hr_variance={scale: p[0]}, trust_variance={scale: p[1]},
                                     trust_anisotropy={scale: p[2]})
        cov = kernel_covariance_from_lr(case["lr_blur"], scale, settings)
        return gaussian_from_covariance(13, cov) if scale == 2 else gaussian_from_covariance(
            25, 5 * cov)

    def score(p: np.ndarray, subset: list[dict], scale: int) -> float:
        return float(np.mean([kernel_psnr(estimate(c, scale, p), c["kernel"], search=False)
                              for c in subset]))

    def fit(subset: list[dict], scale: int, starts) -> np.ndarray:
        runs = [minimize(lambda p: -score(p, subset, scale), x0, method="Nelder-Mead",
                         options={"maxiter": 80, "xatol": 0.02, "fatol": 0.002})
                for x0 in starts]
        return min(runs, key=lambda r: r.fun).x

    out = {}
    for scale in args.scales:
        subset = [c for c in cases if c["scale"] == scale]
        params = fit(subset, scale, ([0.0, 0.5, 0.5], [1.0, 0.3, 0.3], [-1.0, 0.8, 0.8]))
        held_out = []  # 7-fold cross-validation, grouped by photo
        for fold in range(7):
            names = set(DEV[fold::7])
            train = [c for c in subset if c["photo"] not in names]
            test = [c for c in subset if c["photo"] in names]
            held_out += [score(fit(train, scale, [params]), [c], scale) for c in test]
        out[scale] = {"hr_variance": round(float(params[0]), 3),
                      "trust_variance": round(float(params[1]), 3),
                      "trust_anisotropy": round(float(params[2]), 3),
                      "dev_kernel_psnr_fitted": score(params, subset, scale),
                      "dev_kernel_psnr_cross_validated": float(np.mean(held_out)),
                      "dev_kernel_psnr_isotropic_prior": score(np.zeros(3), subset, scale),
                      "dev_kernel_psnr_uncalibrated": score(np.array([0.0, 1.0, 1.0]), subset,
                                                            scale),
                      "cases": len(subset)}
        print(json.dumps({scale: out[scale]}), flush=True)
    return out


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo_dir", nargs="?", type=Path,
                        default=HERE.parent.parent / "shared" / "data" / "photos")
    parser.add_argument("--photos", type=int, default=len(BENCH))
    parser.add_argument("--kernelgan-photos", type=int, default=4)
    parser.add_argument("--iters", type=int, default=3000)
    parser.add_argument("--short-iters", type=int, nargs="*", default=[300],
                        help="also run KernelGAN with these (fewer) iterations")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per estimator run (1: see the results notes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev-kernels", type=int, default=4)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--measurements", type=Path, default=None,
                        help="--calibrate: cache of the DEV edge measurements (JSON)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "kernels")
    parser.add_argument("--resume", action="store_true",
                        help="keep the finished cases of an interrupted run (OUT.partial.jsonl)")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="rewrite the tables from an earlier run's JSON")
    args = parser.parse_args()
    if not args.photo_dir.is_dir():
        parser.error(f"{args.photo_dir}: no such folder")
    if args.calibrate:
        result = calibrate(args)
        path = args.out.with_name(args.out.name + "_calibration.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
        return
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
    else:
        results = run_benchmark(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=float))
    table = summarise(results)
    args.out.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
