"""Development check: how camera-gauss and the raw edge measurement follow a ×4 camera's width.

    python benchmarks/kernels_x4_width.py [PHOTO_DIR]

12 photos of the DEV list of ``benchmarks/kernels_div2krk.py`` (default
``../shared/data/photos``), three single anisotropic Gaussian cameras at ×4 (σ 1.5/1.0,
2.4/1.5, 3.2/2.0 HR px at 0.5 rad), clean LR and LR with Poisson–Gaussian noise (σ 4 → 12 grey
levels) and JPEG 85: the camera-gauss estimate's width (median over the photos), and the width
``16 · S`` of the LR edges (S the mean edge variance of edge-gauss's measurement, LR px²,
median over the photos). Widths are ``sqrt((var_rows + var_cols) / 2)`` in HR pixels.
Results: docs/kernel-estimation.md, "Known weakness".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import kernels_div2krk  # noqa: E402  (its DEV list)


def main(argv: list[str] | None = None) -> None:
    from srkit.io.images import read_image
    from srkit.kernels_est.camera_gauss import estimate_camera_gauss, photo_stats
    from srkit.ops.jpeg import jpeg_compress
    from srkit.ops.kernels import blur_downsample, gaussian_kernel
    from srkit.stages.pool_tools import kernel_sigma

    args = sys.argv[1:] if argv is None else argv
    photo_dir = Path(args[0]) if args else HERE.parent.parent / "shared" / "data" / "photos"
    images = []
    for name in kernels_div2krk.DEV[:12]:
        image = read_image(photo_dir / name).rgb
        images.append(image[:image.shape[0] // 4 * 4, :image.shape[1] // 4 * 4])
    rng = np.random.default_rng(0)
    print("| camera σ | LR | camera-gauss σ | 16·S of the edges, as σ |")
    print("|---|---|---|---|")
    for sigma_x, sigma_y in ((1.5, 1.0), (2.4, 1.5), (3.2, 2.0)):
        kernel = gaussian_kernel(21, sigma_x, sigma_y, 0.5)
        for condition in ("clean", "noise + JPEG 85"):
            lr_imgs = []
            for image in images:
                lr_img = np.clip(blur_downsample(image, kernel, 4), 0, 1)
                if condition != "clean":
                    levels = lr_img * 255
                    levels = levels + rng.normal(size=levels.shape) * np.sqrt(
                        16 + 128 * levels / 255)
                    lr_img = jpeg_compress(np.clip(levels / 255, 0, 1), 85)
                lr_imgs.append(lr_img)
            stats = [photo_stats(lr_img) for lr_img in lr_imgs]
            estimates = estimate_camera_gauss(stats, 4)
            widths = [kernel_sigma(e.kernels[4]) for e in estimates]
            edges = [np.trace(s.lr_blur) / 2 for s in stats if s.lr_blur is not None]
            print(f"| {kernel_sigma(kernel):.2f} | {condition} | {np.median(widths):.2f} | "
                  f"{np.sqrt(16 * np.median(edges)):.2f} |", flush=True)


if __name__ == "__main__":
    main()
