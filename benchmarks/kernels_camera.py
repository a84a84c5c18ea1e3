"""Kernel estimation for a *camera*: many photos sharing one blur kernel (camera-gauss's case).

DIV2KRK (benchmarks/kernels_div2krk.py) gives every photo its own kernel; a camera-level
estimator needs a camera. Here a camera is one DIV2KRK draw of the Gaussian (eigenvalue
variances U[0.6, 5] HR px² at ×2, U[0.2, 5] at ×4, angle U[0, π); ``X2_VARIANCES``) shared
by ``--photos-per-camera`` photos, each photo with its own 25 % per-tap shape noise (small
per-photo variation), ×2 and ×4 (separate cameras), clean and noisy (σ = 2.55/255),
``--cameras`` cameras per seed. HR, LR, scores as
in kernels_div2krk.py (kernel PSNR with ±1 px shift search, re-synthesis PSNR against the
noise-free LR). Methods: the fixed isotropic Gaussian at the draw's mean variance 2.8,
edge-gauss per photo, camera-gauss (the default) over each camera's photos, an oracle (the
camera's true Gaussian), KernelGAN with few iterations on the first photo of the first
``--kernelgan-cameras`` cameras. The "div2krk" case re-scores the BENCH photos of
kernels_div2krk.py (one kernel per photo) with camera-gauss treating the 12 as one set.

Photos: those of neither list of kernels_div2krk.py are split by a hash of the name; DEV ∪
one half (``dev_photos()``, leaving out the other benchmarks' test photos of
benchmarks/quality_holdout.txt) chooses camera-gauss's settings (``--calibrate``), BENCH ∪ the
other half (``report_photos()``) is reported and was never used to choose anything.

    python benchmarks/kernels_camera.py --calibrate            # dev photos → settings (JSON)
    python benchmarks/kernels_camera.py --seeds 0 1            # report photos → results
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import kernels_div2krk as div2krk  # noqa: E402

PHOTO_DIR = HERE.parent.parent / "shared" / "data" / "photos"
METHODS = ("iso-gaussian", "edge-gauss", "camera-gauss", "oracle-gaussian")
# The cameras' ×2-kernel eigenvalue variances (HR px²): DIV2KRK's U[0.6, 5] at ×2; at ×4 down
# to 0.2, so that the ×4 kernel (5× the ×2 variance) reaches σ 1.0 HR px: real cameras at ×4
# are often sharper than DIV2KRK's ×4 kernels (σ ≥ 1.7; the camera workflow's lens is σ 2.0).
X2_VARIANCES = {2: (0.6, 5.0), 4: (0.2, 5.0)}
# How cameras are drawn (draw_cameras): DIV2KRK's law, and two lens-like laws (calibration only)
LAWS = ("div2krk", "x4-gaussian", "x4-whole")
LENS_LAWS = LAWS[1:]


def _others(photo_dir: Path) -> list[str]:
    taken = set(div2krk.BENCH) | set(div2krk.DEV)
    return sorted(p.name for p in photo_dir.iterdir() if p.is_file() and p.name not in taken)


def _holdout() -> set[str]:
    """benchmarks/quality_holdout.txt: the test photos of the quality and camera benchmarks."""
    lines = (HERE / "quality_holdout.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def dev_photos(photo_dir: Path = PHOTO_DIR) -> list[str]:
    """Photos that may choose settings: DEV and the even-hash half of the unlisted ones, never
    a photo of benchmarks/quality_holdout.txt (the other benchmarks' test photos)."""
    holdout = _holdout()
    return div2krk.DEV + [n for n in _others(photo_dir)
                          if zlib.crc32(n.encode()) % 2 == 0 and n not in holdout]


def report_photos(photo_dir: Path = PHOTO_DIR) -> list[str]:
    """Photos only ever reported on: BENCH and the odd-hash half of the unlisted ones."""
    return div2krk.BENCH + [n for n in _others(photo_dir) if zlib.crc32(n.encode()) % 2 == 1]


def draw_cameras(photos: list[str], seed: int, scale: int, cameras: int,
                 per_camera: int, law: str = "div2krk") -> list[dict]:
    """``cameras`` cameras: a covariance each and ``per_camera`` distinct photos.

    ``law``: ``div2krk``, eigenvalue variances uniform in ``X2_VARIANCES`` (DIV2KRK's draw,
    mostly wide kernels; at ×4 the kernel is the ×2 one composed with itself), or
    ``x4-gaussian``, log-uniform over the same range (as many sharp cameras as blurry ones)
    and at ×4 a Gaussian of 5× the covariance, as a lens is, or ``x4-whole``, the same on
    whole photos (not :func:`kernels_div2krk.make_hr`'s cleaned crops: what a camera sees, as
    in benchmarks/kernels_x4_width.py). The last two: calibration only.
    """
    out = []
    low, high = X2_VARIANCES[scale]
    for camera in range(cameras):
        rng = np.random.default_rng([seed, scale, camera, 7 if law == "div2krk" else 8])
        if law == "div2krk":
            lambdas = rng.uniform(low, high, size=2)
        elif law in LENS_LAWS:
            lambdas = np.exp(rng.uniform(np.log(low), np.log(high), size=2))
        else:
            raise ValueError(f"unknown camera law {law!r}")
        theta = rng.uniform(0, np.pi)
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        names = [photos[i] for i in rng.choice(len(photos), per_camera, replace=False)]
        out.append({"camera": camera, "covariance": rotation @ np.diag(lambdas) @ rotation.T,
                    "photos": names})
    return out


def photo_kernel(covariance: np.ndarray, seed: int, camera: int, name: str,
                 scale: int, law: str = "div2krk") -> np.ndarray:
    """The camera's Gaussian with this photo's shape noise, at ``scale`` (centred): 11×11 at
    ×2 (×4: composed with itself), or for a lens law (``LENS_LAWS``) at ×4 the 25×25 Gaussian
    of 5× the covariance."""
    from srkit.kernels_est.common import compose_x2
    from srkit.ops.kernels import centre_kernel, gaussian_from_covariance

    rng = np.random.default_rng([seed, scale, camera, zlib.crc32(name.encode())])
    if law in LENS_LAWS and scale == 4:
        kernel = gaussian_from_covariance(25, 5 * np.asarray(covariance))
        return centre_kernel(kernel * (1 + rng.uniform(-0.25, 0.25, kernel.shape)))
    kernel = gaussian_from_covariance(11, covariance)
    kernel_x2 = centre_kernel(kernel * (1 + rng.uniform(-0.25, 0.25, kernel.shape)))
    return kernel_x2 if scale == 2 else centre_kernel(compose_x2(kernel_x2))


def make_lr(hr: np.ndarray, kernel: np.ndarray, scale: int, noisy: bool,
            noise_seed: list[int]) -> tuple[np.ndarray, np.ndarray]:
    from srkit.ops.kernels import blur_downsample

    lr_clean = blur_downsample(hr, kernel, scale)
    noise = np.random.default_rng(noise_seed).normal(0, div2krk.NOISE_SIGMA, lr_clean.shape)
    lr = np.round(np.clip(lr_clean + (noise if noisy else 0), 0, 1) * 255) / 255
    return lr.astype(np.float32), lr_clean


def build_cases(photos: list[str], seeds: list[int], scales: list[int], cameras: int,
                per_camera: int, law: str = "div2krk") -> list[dict]:
    """Every (seed, scale, noisy, camera, photo) case, without images."""
    cases = []
    for seed in seeds:
        for scale in scales:
            for cam in draw_cameras(photos, seed, scale, cameras, per_camera, law):
                for name in cam["photos"]:
                    for noisy in (False, True):
                        cases.append({"seed": seed, "scale": scale, "noisy": noisy,
                                      "camera": cam["camera"], "photo": name,
                                      "covariance": cam["covariance"], "law": law})
    return cases


def case_images(case: dict, hr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true kernel, LR, clean LR) of one camera case."""
    kernel = photo_kernel(case["covariance"], case["seed"], case["camera"], case["photo"],
                          case["scale"], _law(case))
    noise_seed = [case["seed"], case["scale"], case["camera"],
                  zlib.crc32(case["photo"].encode()), 1]
    return (kernel, *make_lr(hr, kernel, case["scale"], case["noisy"], noise_seed))


def _law(case: dict) -> str:
    """The law a case's camera was drawn by (div2krk_cases' cases have none: DIV2KRK's)."""
    return case.get("law", LAWS[0])


def case_hr(path: Path, law: str) -> np.ndarray:
    """The HR a case's camera sees: the cleaned crop, or the whole photo (``x4-whole``)."""
    from srkit.io.images import read_image

    if law != "x4-whole":
        return div2krk.make_hr(path)
    image = read_image(path).rgb
    return np.ascontiguousarray(image[:image.shape[0] // 4 * 4, :image.shape[1] // 4 * 4])


def measure(cases: list[dict], photo_dir: Path, cache: Path | None) -> list[dict]:
    """Add the per-photo statistics (``stats``) to every case, one photo's HR at a time."""
    from srkit.kernels_est.camera_gauss import photo_stats

    done = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    for name in sorted({c["photo"] for c in cases}):
        todo = [c for c in cases if c["photo"] == name and _key(c) not in done]
        if todo:
            hr = {law: case_hr(photo_dir / name, law) for law in {_law(c) for c in todo}}
            for case in todo:
                done[_key(case)] = photo_stats(case_images(case, hr[_law(case)])[1]).to_dict()
            if cache is not None:
                cache.write_text(json.dumps(done))
            print(f"measured {name} ({len(todo)} cases)", flush=True)
    for case in cases:
        case["stats"] = done[_key(case)]
    return cases


def _key(case: dict) -> str:
    covariance = np.asarray(case["covariance"], dtype=np.float64).round(9)
    camera = f"{zlib.crc32(covariance.tobytes()):08x}"  # a redrawn camera is measured anew
    law = _law(case)  # DIV2KRK's keys as before this field existed: old caches still read
    return (f"{case['seed']}|{case['scale']}|{int(case['noisy'])}|{case['camera']}|{camera}|"
            f"{case['photo']}" + ("" if law == LAWS[0] else f"|{law}"))


def groups(cases: list[dict]) -> dict[tuple, list[dict]]:
    """Cases by camera: (seed, scale, noisy, camera, law) → its photos' cases."""
    out: dict[tuple, list[dict]] = {}
    for case in cases:
        out.setdefault((case["seed"], case["scale"], case["noisy"], case["camera"],
                        _law(case)), []).append(case)
    return out


def covariances(group: list[dict], scale: int, settings) -> dict[str, list[np.ndarray]]:
    """Each method's ×2 covariance per photo of one camera."""
    from srkit.kernels_est.camera_gauss import PhotoStats, camera_covariances
    from srkit.kernels_est.edge_gauss import kernel_covariance_from_lr

    stats = [PhotoStats.from_dict(c["stats"]) for c in group]
    return {"iso-gaussian": [div2krk.PRIOR_VARIANCE * np.eye(2)] * len(group),
            "edge-gauss": [kernel_covariance_from_lr(s.lr_blur, scale) for s in stats],
            "camera-gauss": camera_covariances(stats, scale, settings).covariances,
            "oracle-gaussian": [np.asarray(c["covariance"]) for c in group]}


# --------------------------------------------------------------------------- calibration


def calibrate(args: argparse.Namespace) -> dict:
    """Choose camera-gauss's per-scale constants on the dev photos' cameras only.

    ``scene_spread``: the robust s.d. over photos of (measured − true) mean variance and
    anisotropy around each camera's median (method of moments). ``centre_quantile``,
    ``offset`` and (×4) ``gain``, per scale: grid search on ``--objective``:

    * ``log-variance`` (the default): the mean squared log ratio of each photo's estimated
      to true mean variance. For a photo whose power spectrum falls as 1/|ω|² (natural
      images), the energy of the re-synthesis error of a Gaussian of variance r·v for one of
      v is ∝ ln((1 + r)² / 4r) ≈ (ln r)² / 4: symmetric in ln r, so this is the re-synthesis
      error, without favouring kernels that are too wide or too narrow;
    * ``kernel-psnr``: the mean kernel PSNR (no shift search; ×4 scored as the Gaussian of 5Σ),
      which penalises a kernel too narrow more than one as much too wide.

    The cameras are drawn by each law of ``--calibration-laws`` (default all three: DIV2KRK's,
    mostly wide, and the two lens-like laws, as many sharp cameras as wide ones; see
    :func:`draw_cameras`).
    """
    from srkit.kernels_est.camera_gauss import (
        CameraGaussSettings,
        PhotoStats,
        _to_parts,
        measured_parts,
    )
    from srkit.ops.kernels import gaussian_from_covariance

    cases = [case for law in args.calibration_laws
             for case in build_cases(dev_photos(args.photo_dir), args.seeds, args.scales,
                                     args.cameras, args.photos_per_camera, law)]
    cases = measure(cases, args.photo_dir, args.measurements)
    truth = {}   # the ×2 kernels, for the kernel-PSNR objective only
    for case in cases if args.objective == "kernel-psnr" else ():
        truth[_key(case)] = photo_kernel(case["covariance"], case["seed"], case["camera"],
                                         case["photo"], 2)
    out: dict = {"photos": "dev_photos()", "cases": len(cases), "objective": args.objective,
                 "laws": args.calibration_laws}
    spread = {}
    for scale in args.scales:
        residuals = []
        for group in groups([c for c in cases if c["scale"] == scale]).values():
            rows = [measured_parts(PhotoStats.from_dict(c["stats"]), scale) for c in group]
            rows = np.array([r - _to_parts(np.asarray(c["covariance"]))
                             for r, c in zip(rows, group, strict=True) if r is not None])
            residuals.append(rows - np.median(rows, axis=0))
        residuals = np.concatenate(residuals)  # robust s.d.: 1.4826 × median |deviation|
        spread[scale] = (round(float(1.4826 * np.median(np.abs(residuals[:, 0]))), 3),
                         round(float(1.4826 * np.median(np.abs(residuals[:, 1:]))), 3))
    for scale, value in CameraGaussSettings().scene_spread.items():
        spread.setdefault(scale, value)   # a scale not calibrated keeps its spread

    def score(settings: CameraGaussSettings, scale: int) -> float:
        """Higher is better: kernel PSNR, or minus the mean squared log variance ratio."""
        values = []
        for group in groups([c for c in cases if c["scale"] == scale]).values():
            for case, cov in zip(group, covariances(group, scale, settings)["camera-gauss"],
                                 strict=True):
                true_cov = np.asarray(case["covariance"])
                if args.objective == "log-variance":
                    values.append(-np.log(np.trace(cov) / np.trace(true_cov)) ** 2)
                elif scale == 2:
                    values.append(div2krk.kernel_psnr(gaussian_from_covariance(13, cov),
                                                      truth[_key(case)], search=False))
                else:
                    values.append(div2krk.kernel_psnr(gaussian_from_covariance(25, 5 * cov),
                                                      gaussian_from_covariance(25, 5 * true_cov),
                                                      search=False))
        return float(np.mean(values))

    grid = []
    for quantile in args.quantiles:
        row = {"centre_quantile": quantile}
        for scale in args.scales:
            gains = args.gains if scale == 4 else (1.0,)
            best = max((score(CameraGaussSettings(
                centre_quantile={scale: quantile}, offset={scale: off}, gain={scale: gain},
                scene_spread=spread), scale), off, gain)
                for off in np.arange(-2.0, 3.01, 0.125) for gain in gains)
            row[scale] = {"offset": round(float(best[1]), 3), "gain": round(float(best[2]), 2),
                          "dev_score": best[0]}
        grid.append(row)
        print(json.dumps(row), flush=True)
    chosen = {}  # per scale: the quantile, offset and gain of the best dev score
    for scale in args.scales:
        best = max(grid, key=lambda r, s=scale: r[s]["dev_score"])
        chosen[scale] = {"centre_quantile": best["centre_quantile"], **best[scale]}
    out.update({"scene_spread": {str(s): v for s, v in spread.items()}, "grid": grid,
                "chosen": chosen})
    return out


# --------------------------------------------------------------------------- report


def score_cases(cases: list[dict], photo_dir: Path, settings, args: argparse.Namespace,
                label: str) -> list[dict]:
    """Kernel and re-synthesis PSNR of every method on every case (one HR at a time)."""
    from srkit.kernels_est.camera_gauss import gaussian_kernels
    from srkit.kernels_est.common import kernels_for_scale
    from srkit.ops.kernels import gaussian_from_covariance

    per_case = {}
    for group in groups(cases).values():
        scale = group[0]["scale"]
        for method, covs in covariances(group, scale, settings).items():
            for case, cov in zip(group, covs, strict=True):
                if method == "camera-gauss":   # its own kernels (at ×4 the Gaussian of 5Σ)
                    kernel = gaussian_kernels(cov, scale)[scale]
                else:
                    kernel = kernels_for_scale(gaussian_from_covariance(13, cov), scale)[scale]
                per_case.setdefault(_key(case), {})[method] = kernel
    kernelgan = set()
    for key_, group in groups(cases).items():
        if key_[3] < args.kernelgan_cameras and args.kernelgan_iters:
            kernelgan.add(_key(group[0]))
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted({c["photo"] for c in cases}):
            hr = div2krk.make_hr(photo_dir / name)
            for case in [c for c in cases if c["photo"] == name]:
                true, lr, lr_clean = (case_images(case, hr) if "kernel" not in case else
                                      (case["kernel"], case["lr"], case["lr_clean"]))
                kernels = per_case[_key(case)]
                rec = {k: case[k] for k in ("seed", "scale", "noisy", "camera", "photo")}
                rec["case"], rec["methods"] = label, {}
                if _key(case) in kernelgan:
                    out = div2krk.run_estimator("kernelgan", lr, case["scale"], case["seed"],
                                                args.kernelgan_iters, 1, Path(tmp))
                    if "kernel" in out:
                        kernels = {**kernels, f"kernelgan-{args.kernelgan_iters}":
                                   out.pop("kernel")}
                        rec["kernelgan_seconds"] = out["seconds"]
                for method, kernel in kernels.items():
                    rec["methods"][method] = {
                        "kernel_psnr": div2krk.kernel_psnr(kernel, true),
                        "resynthesis_psnr": div2krk.resynthesis_psnr(hr, kernel, case["scale"],
                                                                     lr_clean)}
                records.append(rec)
            print(f"scored {name}", flush=True)
    return records


def div2krk_cases(photo_dir: Path) -> list[dict]:
    """kernels_div2krk.py's BENCH cases (seed 0), each photo its own kernel, as one 'camera'."""
    from srkit.kernels_est.camera_gauss import photo_stats

    cases = []
    for name in div2krk.BENCH:
        hr = div2krk.make_hr(photo_dir / name)
        for scale in (2, 4):
            for noisy in (False, True):
                made = div2krk.make_case(hr, name, scale, noisy, 0)
                cases.append({"seed": 0, "scale": scale, "noisy": noisy, "camera": 0,
                              "photo": name, "covariance": made["covariance"],
                              "kernel": made["kernel"], "lr": made["lr"],
                              "lr_clean": made["lr_clean"],
                              "stats": photo_stats(made["lr"]).to_dict()})
        print(f"measured {name} (div2krk)", flush=True)
    return cases


def summarise(results: dict) -> str:
    records = results["records"]
    lines = ["# Kernel estimation for a camera (photos sharing one kernel)", "",
             f"Made by `{results['command']}` (recipe in the script's docstring; "
             "docs/kernel-estimation.md discusses it). Settings of camera-gauss chosen by "
             "`python benchmarks/kernels_camera.py --calibrate` on `dev_photos()` only "
             "(kernels_div2krk.py's DEV list and the even-hash half of the photos in neither "
             "list); every number below is on `report_photos()` (kernels_div2krk.py's BENCH "
             "list and the odd-hash half), never used to choose anything. "
             f"{results['settings']['cameras']} cameras × "
             f"{results['settings']['photos_per_camera']} photos per scale and seed, seeds "
             f"{results['settings']['seeds']}; the same LR clean and noisy. Means over photos "
             "(kernel PSNR / re-synthesis PSNR, dB).", ""]
    extra = sorted({m for r in records for m in r["methods"] if m.startswith("kernelgan")})
    methods = [*METHODS[:3], *METHODS[3:]]
    for label, title in (("camera", "camera case"),
                         ("div2krk", "DIV2KRK case (kernels_div2krk.py BENCH, one kernel per "
                                     "photo; camera-gauss pools the 12 photos as one set)")):
        rows = [r for r in records if r["case"] == label]
        if not rows:
            continue
        lines += [f"\n### {title}\n", "| case | photos | " + " | ".join(methods) + " |",
                  "|---|---|" + "---|" * len(methods)]
        for scale in (2, 4):
            for noisy in (False, True):
                sel = [r for r in rows if r["scale"] == scale and r["noisy"] == noisy]
                if not sel:
                    continue
                cells = [f"{np.mean([r['methods'][m]['kernel_psnr'] for r in sel]):.2f} / "
                         f"{np.mean([r['methods'][m]['resynthesis_psnr'] for r in sel]):.2f}"
                         for m in methods]
                lines.append(f"| ×{scale} {'noisy' if noisy else 'clean'} | {len(sel)} | "
                             + " | ".join(cells) + " |")
        if label == "camera":
            lines += ["", "Per seed (camera-gauss − iso-gaussian, kernel PSNR dB, all conditions):"
                      " " + ", ".join(
                          f"seed {s} ×{sc}: "
                          f"{np.mean([r['methods']['camera-gauss']['kernel_psnr'] - r['methods']['iso-gaussian']['kernel_psnr'] for r in rows if r['seed'] == s and r['scale'] == sc]):+.2f}"  # noqa: E501
                          for s in results["settings"]["seeds"] for sc in (2, 4)) + "."]
    for method in extra:
        sel = [r for r in records if method in r["methods"]]
        lines += ["", f"### {method} (first photo of the first cameras, same cases)", "",
                  "| case | photos | " + " | ".join([*METHODS[:3], method]) + " |",
                  "|---|---|" + "---|" * 4]
        for scale in (2, 4):
            for noisy in (False, True):
                sub = [r for r in sel if r["scale"] == scale and r["noisy"] == noisy]
                if not sub:
                    continue
                cells = [f"{np.mean([r['methods'][m]['kernel_psnr'] for r in sub]):.2f} / "
                         f"{np.mean([r['methods'][m]['resynthesis_psnr'] for r in sub]):.2f}"
                         for m in [*METHODS[:3], method]]
                lines.append(f"| ×{scale} {'noisy' if noisy else 'clean'} | {len(sub)} | "
                             + " | ".join(cells) + " |")
        secs = [r["kernelgan_seconds"] for r in sel if "kernelgan_seconds" in r]
        if secs:
            lines += ["", f"{method}: {np.mean(secs):.0f} s per photo (one thread). Full "
                      "KernelGAN (3000 iterations) is in benchmarks/results/kernels.md."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo-dir", type=Path, default=PHOTO_DIR)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--cameras", type=int, default=6)
    parser.add_argument("--photos-per-camera", type=int, default=8)
    parser.add_argument("--kernelgan-cameras", type=int, default=0)
    parser.add_argument("--kernelgan-iters", type=int, default=300)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--quantiles", type=float, nargs="+", default=[0.1, 0.25, 0.5],
                        help="centre quantiles tried by --calibrate")
    parser.add_argument("--gains", type=float, nargs="+",
                        default=[round(0.8 + 0.1 * i, 1) for i in range(13)],
                        help="×4 gains tried by --calibrate")
    parser.add_argument("--objective", choices=("log-variance", "kernel-psnr"),
                        default="log-variance", help="what --calibrate optimises")
    parser.add_argument("--calibration-laws", nargs="+",
                        choices=LAWS, default=list(LAWS),
                        help="how --calibrate draws its cameras' kernels")
    parser.add_argument("--no-div2krk", action="store_true")
    parser.add_argument("--measurements", type=Path, default=None,
                        help="cache of the per-photo statistics (JSON)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "kernels_camera")
    args = parser.parse_args()
    start = time.time()
    if args.calibrate:
        result = {"command": "python benchmarks/kernels_camera.py " + " ".join(sys.argv[1:]),
                  **calibrate(args)}
        path = args.out.with_name(args.out.name + "_calibration.json")
        path.write_text(json.dumps(result, indent=1))
        print(json.dumps(result["chosen"]))
        return
    from srkit.kernels_est.camera_gauss import CameraGaussSettings

    settings = CameraGaussSettings()
    cases = build_cases(report_photos(args.photo_dir), args.seeds, args.scales, args.cameras,
                        args.photos_per_camera)
    cases = measure(cases, args.photo_dir, args.measurements)
    records = score_cases(cases, args.photo_dir, settings, args, "camera")
    if not args.no_div2krk:
        no_kg = argparse.Namespace(**{**vars(args), "kernelgan_cameras": 0})
        records += score_cases(div2krk_cases(args.photo_dir), args.photo_dir, settings, no_kg,
                               "div2krk")
    results = {"command": "python benchmarks/kernels_camera.py " + " ".join(sys.argv[1:]),
               "settings": {k: (str(v) if isinstance(v, Path) else v)
                            for k, v in vars(args).items()},
               "camera_gauss_settings": str(settings), "seconds": time.time() - start,
               "records": records}
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=float))
    table = summarise(results)
    args.out.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
