"""Training speed of ``srkit train-sr`` on this machine: iterations per second and the share
of time the loop waits for data, for the compact net and a small RRDBNet.

Two data sources: a pair folder (``srkit degrade --mode bicubic``) and on-the-fly RealSR
degradation from HR photos and a pool (a random kernel and noise patch per sample). Each
configuration trains a short ``psnr``-recipe run on the CPU through the library call and reads
the speed from its :class:`~srkit.stages.train_sr.TrainResult` (the first iterations, which
include warm-up, are part of the measurement).

    python benchmarks/train_speed.py [--iters 30] [--workers 1] [--out results/train_speed.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

NETWORKS = {
    "compact (64 feat, 16 conv)": ("compact", {"num_feat": 64, "num_conv": 16}),
    "rrdbnet (32 feat, 4 blocks, grow 16)": ("rrdbnet", {"num_feat": 32, "num_block": 4,
                                                         "num_grow_ch": 16}),
}


def _make_inputs(root: Path, scale: int) -> tuple[Path, Path, Path]:
    """HR photos (scikit-image), a bicubic pair folder and a small pool."""
    from skimage import data

    from srkit.io.images import write_image
    from srkit.io.pool_writer import append_kernels, append_noise
    from srkit.io.pools import KernelEntry, NoiseEntry
    from srkit.ops.kernels import gaussian_kernel
    from srkit.stages.degrade import degrade

    photos = root / "photos"
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"):
        image = getattr(data, name)()[..., :3].astype(np.float32) / 255
        write_image(photos / f"{name}.png", image)
    degrade(photos, root / "pairs", scale, mode="bicubic", seed=0)
    pool = root / "pool.h5"
    size = 13 * scale // 2 * 2 + 1
    append_kernels(pool, [KernelEntry(gaussian_kernel(size, sigma, 0.7 * sigma, 0.4), scale,
                                      f"k{i}", str(i) * 64, "benchmark")
                          for i, sigma in enumerate((0.8, 1.2, 1.6, 2.0))])
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, (8, 128, 128, 3)).astype(np.float32)
    noise -= noise.mean(axis=(1, 2), keepdims=True)
    append_noise(pool, [NoiseEntry(p, f"n{i}", str(i) * 64, (0, 0))
                        for i, p in enumerate(noise)])
    return photos, root / "pairs", pool


def run(iters: int, workers: int, batch_size: int, patch_size: int, scale: int) -> list[dict]:
    from srkit import console
    from srkit.stages.train_sr import train_sr

    console.set_quiet(True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos, pairs, pool = _make_inputs(root, scale)
        sources = {"pair folder": {"pairs": pairs},
                   "HR + pool on the fly": {"hr": photos, "pool": pool}}
        for net_name, (arch, arch_args) in NETWORKS.items():
            for source_name, source in sources.items():
                for source_workers in sorted({0, workers}):
                    began = time.perf_counter()
                    result = train_sr(output=root / f"{arch}.safetensors", scale=scale,
                                      arch=arch, arch_args=arch_args, init="none",
                                      iters=iters,
                                      batch_size=batch_size, patch_size=patch_size, seed=0,
                                      workers=source_workers, device="cpu", overwrite=True,
                                      save_every=10 * iters, log_every=5, **source)
                    rows.append({"network": net_name, "data": source_name,
                                 "workers": source_workers,
                                 "it_per_s": result.iterations_per_second,
                                 "patches_per_s": result.iterations_per_second * batch_size,
                                 "wait": result.data_wait_fraction,
                                 "wall_s": time.perf_counter() - began})
                    print(_row(rows[-1]), flush=True)
    return rows


def _row(row: dict) -> str:
    return (f"| {row['network']} | {row['data']} | {row['workers']} | {row['it_per_s']:.2f} | "
            f"{row['patches_per_s']:.1f} | {100 * row['wait']:.1f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="write a markdown report here")
    args = parser.parse_args()
    header = ("| network | data | loader workers | it/s | HR patches/s | waiting for data |\n"
              "|---|---|---|---|---|---|")
    print(header)
    load_before = os.getloadavg()[0]
    rows = run(args.iters, args.workers, args.batch_size, args.patch_size, args.scale)
    if args.out is not None:
        machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU "
                   f"threads, torch {torch.__version__} ({torch.get_num_threads()} threads), "
                   f"load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after "
                   "the run")
        text = ["# Training speed (`benchmarks/train_speed.py`)\n",
                f"Machine: {machine}.\n",
                f"`psnr` recipe, ×{args.scale}, batch {args.batch_size}, HR patch "
                f"{args.patch_size}, {args.iters} iterations per row (warm-up included), "
                "CPU. it/s counts loader waits and optimisation steps, not validation or "
                "saving; \"waiting for data\" is the share of that time spent waiting for "
                "batches.\n", header, *(_row(r) for r in rows), ""]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(text))


if __name__ == "__main__":
    main()
