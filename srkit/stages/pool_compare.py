"""``srkit pool compare``: how close synthetic LR images are to a camera's real LR photos.

Before training on pairs made by a pool, a DSN or the random pipeline, a user can check
which degradation source looks most like their camera. Three aspects are measured on the
grey level (BT.601 luma, 0–255) of every image of each folder:

noise
    Robust noise σ as a function of brightness: the image is filtered with Immerkær's
    Laplacian-difference mask ``[[1,-2,1],[-2,4,-2],[1,-2,1]]`` (which cancels planes and
    gradients; for white noise σ its output has σ·6), the 20 % of pixels with the strongest
    Sobel gradient (edges) are dropped, and in each brightness bin (3×3 local mean, 8 bins of
    32 levels) σ = 1.4826 · MAD / 6. Distance: mean |Δσ| over bins both sets fill (8-bit
    levels).
spectrum
    Radially averaged power spectrum: 64×64 tiles, mean removed, Hann window, |FFT|², binned
    by radius into 32 bins of 1/64 cycle/pixel; each image's spectrum is normalised to total
    power 1 and the images are averaged; reported in dB. Blur lowers the high-frequency end,
    noise lifts it, JPEG adds bumps at multiples of 1/8. Distance: mean |Δ dB| over the bins
    above the lowest. ``sharpness_db`` is the share of power at ≥ 0.25 cycle/pixel, in dB.
blockiness
    JPEG blocking: mean absolute difference across 8×8 block boundaries divided by that
    inside blocks (rows and columns, grid anchored at the top-left); about 1 without
    blocking. Distance: |Δ ratio|.

The report is numbers (:meth:`CompareResult.to_dict`) and, optionally, a PNG with the spectra
and the noise-vs-brightness curves of all sets, drawn with Pillow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError

NUM_BRIGHTNESS_BINS = 8
MIN_BIN_PIXELS = 200
TILE = 64
EDGE_FRACTION = 0.2
MAX_SAMPLES_PER_IMAGE = 200_000
_BINOMIAL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0
_LAPLACE_DIFF = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


@dataclass(frozen=True)
class DegradationStats:
    """Degradation statistics of one folder of LR images (grey levels 0–255)."""

    name: str
    images: int
    brightness: list[float]            # bin centres, 0–255
    noise_sigma: list[float | None]    # robust σ per brightness bin (None: too few pixels)
    noise_pixels: list[int]
    noise_overall: float               # σ over all kept pixels
    frequencies: list[float]           # cycles/pixel, bin centres
    spectrum_db: list[float]           # normalised radial power, dB
    sharpness_db: float                # share of power at ≥ 0.25 cycle/pixel, dB
    blockiness: float                  # boundary / interior difference ratio


@dataclass(frozen=True)
class Distances:
    """Distances of a generated set to the real set, one per aspect (0 = identical)."""

    noise: float        # mean |Δσ| over shared brightness bins, 8-bit levels
    spectrum: float     # mean |Δ| of the spectra, dB
    blockiness: float   # |Δ blockiness ratio|


@dataclass(frozen=True)
class CompareResult:
    """The real set's statistics, each generated set's and its distances to the real one."""

    real: DegradationStats
    generated: list[DegradationStats]
    distances: list[Distances]
    report: Path | None = None

    def to_dict(self) -> dict:
        return {"real": asdict(self.real),
                "generated": [{**asdict(s), "distance": asdict(d)}
                              for s, d in zip(self.generated, self.distances, strict=True)],
                "report": str(self.report) if self.report else None}


# --- measurements on one image -----------------------------------------------------------

def _grey(rgb: np.ndarray) -> np.ndarray:
    from srkit.ops.noise_stats import grey_levels

    return grey_levels(rgb)


def _valid_filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view

    windows = sliding_window_view(image, kernel.shape)
    return np.einsum("ijkl,kl->ij", windows, kernel)


def noise_residuals(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Laplacian-difference residuals (÷ 6, so σ-scaled) and local brightness of the pixels
    away from edges: two 1-D arrays. ``grey`` ``(H, W)`` at least 5×5."""
    if min(grey.shape) < 7:
        return np.empty(0), np.empty(0)
    residual = _valid_filter(grey, _LAPLACE_DIFF)[2:-2, 2:-2] / 6.0
    brightness = _valid_filter(grey, np.full((3, 3), 1 / 9))[2:-2, 2:-2]
    # edges are found on a blurred copy, so that noise itself does not decide what is dropped
    smooth = _valid_filter(grey, _BINOMIAL)
    gx = _valid_filter(smooth, np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float))
    gy = _valid_filter(smooth, np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], float))
    gradient = np.hypot(gx, gy)
    keep = gradient <= np.quantile(gradient, 1 - EDGE_FRACTION)
    return residual[keep], brightness[keep]


def robust_sigma(residuals: np.ndarray) -> float:
    """σ of Gaussian noise from its (σ-scaled) residuals: 1.4826 × median absolute deviation."""
    return float(1.4826 * np.median(np.abs(residuals - np.median(residuals))))


def radial_spectrum(grey: np.ndarray, tile: int = TILE) -> np.ndarray | None:
    """Mean radial power of ``tile``-sized tiles, ``(tile // 2,)`` normalised to sum 1, for
    radii k/tile, k = 1 … tile/2 (cycles/pixel); None when the image is smaller than a tile."""
    height, width = grey.shape
    rows, cols = height // tile, width // tile
    if rows == 0 or cols == 0:
        return None
    tiles = grey[:rows * tile, :cols * tile].reshape(rows, tile, cols, tile).swapaxes(1, 2)
    tiles = tiles.reshape(-1, tile, tile)
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    window = np.outer(np.hanning(tile), np.hanning(tile))
    power = (np.abs(np.fft.fft2(tiles * window)) ** 2).mean(axis=0)
    freq = np.fft.fftfreq(tile)
    radius = np.round(np.hypot(freq[:, None], freq[None, :]) * tile).astype(int)
    sums = np.bincount(radius.ravel(), power.ravel(), minlength=tile)
    counts = np.bincount(radius.ravel(), minlength=tile)
    radial = sums[1:tile // 2 + 1] / np.maximum(counts[1:tile // 2 + 1], 1)
    total = radial.sum()
    return radial / total if total > 0 else None


def block_differences(grey: np.ndarray) -> tuple[float, int, float, int]:
    """Sums and counts of |differences| across 8×8 block boundaries and inside blocks."""
    boundary_sum = interior_sum = 0.0
    boundary_n = interior_n = 0
    for diffs in (np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0)).T):
        at_boundary = (np.arange(diffs.shape[1]) % 8) == 7
        boundary_sum += float(diffs[:, at_boundary].sum())
        boundary_n += int(diffs[:, at_boundary].size)
        interior_sum += float(diffs[:, ~at_boundary].sum())
        interior_n += int(diffs[:, ~at_boundary].size)
    return boundary_sum, boundary_n, interior_sum, interior_n


# --- statistics of a set -----------------------------------------------------------------

def degradation_stats(images: list[np.ndarray], name: str = "",
                      rng: np.random.Generator | None = None) -> DegradationStats:
    """Statistics of a set of float ``(H, W, 3)`` [0, 1] images (see the module doc)."""
    if not images:
        raise SrkitError(f"{name or 'set'}: no images to measure")
    rng = rng or np.random.default_rng(0)
    edges = np.linspace(0, 256, NUM_BRIGHTNESS_BINS + 1)
    residual_parts: list[np.ndarray] = []
    bright_parts: list[np.ndarray] = []
    spectra: list[np.ndarray] = []
    block = np.zeros(4)
    for rgb in images:
        grey = _grey(rgb)
        residual, brightness = noise_residuals(grey)
        if residual.size > MAX_SAMPLES_PER_IMAGE:
            pick = rng.choice(residual.size, MAX_SAMPLES_PER_IMAGE, replace=False)
            residual, brightness = residual[pick], brightness[pick]
        residual_parts.append(residual)
        bright_parts.append(brightness)
        spectrum = radial_spectrum(grey)
        if spectrum is not None:
            spectra.append(spectrum)
        block += np.array(block_differences(grey))
    residuals = np.concatenate(residual_parts)
    brightness = np.concatenate(bright_parts)
    if not spectra:
        raise SrkitError(f"{name or 'set'}: every image is smaller than {TILE}×{TILE}; "
                         "the power spectrum needs bigger images")
    which = np.clip(np.digitize(brightness, edges) - 1, 0, NUM_BRIGHTNESS_BINS - 1)
    sigmas: list[float | None] = []
    counts: list[int] = []
    for b in range(NUM_BRIGHTNESS_BINS):
        members = residuals[which == b]
        counts.append(int(members.size))
        sigmas.append(robust_sigma(members) if members.size >= MIN_BIN_PIXELS else None)
    spectrum = np.mean(spectra, axis=0)
    frequencies = np.arange(1, TILE // 2 + 1) / TILE
    high = spectrum[frequencies >= 0.25].sum()
    boundary_sum, boundary_n, interior_sum, interior_n = block
    interior_mean = interior_sum / max(interior_n, 1)
    blockiness = (boundary_sum / max(boundary_n, 1)) / interior_mean if interior_mean > 0 \
        else 1.0
    return DegradationStats(
        name=name, images=len(images),
        brightness=[float(c) for c in (edges[:-1] + edges[1:]) / 2],
        noise_sigma=sigmas, noise_pixels=counts, noise_overall=robust_sigma(residuals),
        frequencies=[float(f) for f in frequencies],
        spectrum_db=[float(v) for v in 10 * np.log10(np.maximum(spectrum, 1e-12))],
        sharpness_db=float(10 * np.log10(max(high, 1e-12))), blockiness=float(blockiness))


def distances(real: DegradationStats, other: DegradationStats) -> Distances:
    """Per-aspect distances of ``other`` to ``real`` (see the module doc)."""
    shared = [abs(a - b) for a, b in zip(real.noise_sigma, other.noise_sigma, strict=True)
              if a is not None and b is not None]
    noise = float(np.mean(shared)) if shared else abs(real.noise_overall - other.noise_overall)
    spectrum = float(np.mean(np.abs(np.subtract(real.spectrum_db[1:], other.spectrum_db[1:]))))
    return Distances(noise=noise, spectrum=spectrum,
                     blockiness=abs(real.blockiness - other.blockiness))


def _read_set(folder: str | Path, max_images: int, rng: np.random.Generator
              ) -> list[np.ndarray]:
    from srkit.io.images import SkipLog, iter_readable, list_images

    paths = list_images([folder])
    if max_images and len(paths) > max_images:
        paths = [paths[i] for i in sorted(rng.choice(len(paths), max_images, replace=False))]
    images = [image.rgb for image in iter_readable(paths, SkipLog())]
    if not images:
        raise SrkitError(f"{folder}: no readable images")
    return images


def compare_degradations(real_dir: str | Path, generated_dirs: list[str | Path], *,
                         report: str | Path | None = None, max_images: int = 200,
                         seed: int = 0, overwrite: bool = False) -> CompareResult:
    """Measure the real LR folder and each generated LR folder and compare them.

    Args:
        real_dir: the camera's real LR photos.
        generated_dirs: one or more folders of synthetic LR images to rank.
        report: write a PNG plot here (spectra and noise-vs-brightness curves).
        max_images: measure at most this many images per folder (a random subset; 0 = all).
        seed: picks that subset and the pixel samples.
        overwrite: replace an existing ``report`` (an input image is never replaced).
    """
    if not generated_dirs:
        raise SrkitError("give at least one folder of generated LR images")
    if report is not None:
        from srkit.io.images import check_output

        check_output(report, overwrite=overwrite, inputs=[real_dir, *generated_dirs])
    rng = np.random.default_rng(seed)
    real = degradation_stats(_read_set(real_dir, max_images, rng), Path(real_dir).name or
                             str(real_dir), rng)
    generated = [degradation_stats(_read_set(d, max_images, rng), Path(d).name or str(d), rng)
                 for d in generated_dirs]
    result = CompareResult(real, generated, [distances(real, g) for g in generated])
    if report is not None:
        path = draw_report(result, report)
        result = CompareResult(real, generated, result.distances, path)
    return result


# --- the PNG report ----------------------------------------------------------------------

_PANEL_W, _PANEL_H, _MARGIN = 440, 300, 56  # pixels, drawn by srkit.ops.plot.draw_panel


def draw_report(result: CompareResult, path: str | Path) -> Path:
    """Spectra and noise-vs-brightness curves of every set, with the distances, as a PNG."""
    from PIL import Image, ImageDraw

    from srkit.io.atomic import atomic_path
    from srkit.ops.plot import COLOURS, draw_panel, nice_range

    sets = [result.real, *result.generated]
    colours = [COLOURS[i % len(COLOURS)] for i in range(len(sets))]
    legend_h = 18 * (len(sets) + 2)
    image = Image.new("RGB", (2 * _PANEL_W, _PANEL_H + legend_h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    spectra = [v for s in sets for v in s.spectrum_db]
    panel = {"size": (_PANEL_W, _PANEL_H), "margin": _MARGIN}
    draw_panel(draw, (0, 0), "radially averaged power spectrum", "cycles / pixel",
               "power (dB, normalised)", (0.0, 0.5), nice_range(spectra),
               [(s.frequencies, s.spectrum_db, c) for s, c in zip(sets, colours, strict=True)],
               **panel)
    sigmas = [v for s in sets for v in s.noise_sigma if v is not None] or [0.0, 1.0]
    draw_panel(draw, (_PANEL_W, 0), "noise sigma vs brightness", "brightness (0-255)",
               "sigma (8-bit levels)", (0.0, 255.0), (0.0, nice_range(sigmas)[1]),
               [(s.brightness, s.noise_sigma, c) for s, c in zip(sets, colours, strict=True)],
               **panel)
    y = _PANEL_H
    draw.text((_MARGIN, y), f"real: {result.real.name} ({result.real.images} images), "
              f"noise {result.real.noise_overall:.2f}, sharpness "
              f"{result.real.sharpness_db:.1f} dB, blockiness {result.real.blockiness:.3f}",
              fill=colours[0])
    for s, d, c in zip(result.generated, result.distances, colours[1:], strict=True):
        y += 18
        draw.text((_MARGIN, y), f"{s.name} ({s.images} images): distance noise {d.noise:.2f}, "
                  f"spectrum {d.spectrum:.2f} dB, blockiness {d.blockiness:.3f}", fill=c)
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise SrkitError(f"{path}: the report is a PNG image; name it *.png")
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path
