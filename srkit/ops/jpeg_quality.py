"""How strongly a photo was JPEG-compressed: its IJG quality (1–100), from the file or the pixels.

Real LR photos are JPEGs, and a pool that models a camera must know how hard it compresses.
Two estimates:

* :func:`quality_from_tables` — from the quantisation tables of a JPEG file. Encoders built on
  the IJG library (libjpeg, Pillow, OpenCV, most cameras' and phones' software) scale the
  standard tables of the JPEG specification (Annex K) by ``5000 / q`` below 50 and
  ``200 − 2q`` above; the quality is the ``q`` whose scaled luminance table is nearest to the
  file's (exact for IJG files; the nearest match for others).
* :func:`quality_from_pixels` — for a JPEG that was decoded and saved again losslessly (a PNG
  of a JPEG): the *JPEG ghost* (Farid, "Exposing digital forgeries from JPEG ghosts", 2009).
  Recompressing the luma at quality ``q`` changes it least near the quality it was first
  compressed at, because its DCT coefficients already sit on that table's grid. The estimate
  is the recompression quality whose change dips most below the trend of its neighbours; a
  photo with no such dip (never JPEG-compressed on the 8×8 grid at (0, 0), or resized since)
  has no quality. The 8×8 *blockiness* (jumps across the block grid over jumps inside it) is
  reported beside it: it grows as quality falls but, unlike the ghost, noise hides it at
  qualities of 90 and above.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# JPEG specification, Annex K, table K.1 (luminance), natural (row-major) order.
STANDARD_LUMA_TABLE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)

# Recompression qualities tried; each needs four neighbours either side, so the estimates
# run from 30 to 96.
GHOST_QUALITIES = tuple(range(26, 101))
# A dip of the log ghost curve below its neighbours' trend that marks a JPEG. Measured on 10
# development photos (downscaled ×4, noise 0–10 levels): never compressed −0.00 to −0.02;
# compressed at 70, 85 and 95: −0.27 and below.
GHOST_DIP = -0.1


@dataclass(frozen=True)
class JpegEstimate:
    """An estimated JPEG quality and how it was found.

    ``quality`` is None when the photo shows no sign of JPEG compression. ``method`` is
    ``"tables"`` (read from the file), ``"ghost"`` (from the pixels) or ``"none"``.
    """

    quality: int | None
    method: str
    blockiness: float | None = None

    def to_dict(self) -> dict:
        return {"quality": self.quality, "method": self.method,
                "blockiness": None if self.blockiness is None else round(self.blockiness, 4)}


def ijg_table(quality: int, base: np.ndarray = STANDARD_LUMA_TABLE) -> np.ndarray:
    """The IJG quantisation table of ``quality`` (1–100): libjpeg's ``jpeg_quality_scaling``."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((base * scale + 50) / 100), 1, 255)


def quality_from_tables(luma_table: np.ndarray) -> int:
    """The IJG quality whose luminance table is nearest (L1) to ``luma_table`` (64 values)."""
    table = np.asarray(luma_table, dtype=np.float64).reshape(-1)
    if table.size != 64:
        raise ValueError(f"a quantisation table has 64 entries, got {table.size}")
    errors = [np.abs(ijg_table(q) - table).sum() for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def luma(rgb: np.ndarray) -> np.ndarray:
    """JPEG's luma (ITU-R BT.601, full range) of ``(H, W, 3)`` or ``(H, W)`` in [0, 1], 0–255."""
    array = np.asarray(rgb, dtype=np.float64)
    if array.ndim == 2:
        return array * 255.0
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got {array.shape}")
    return array @ (np.array([0.299, 0.587, 0.114]) * 255.0)


def blockiness(grey: np.ndarray) -> float:
    """Mean absolute luma jump across 8-pixel block boundaries over the mean jump inside blocks.

    About 1 for a photo never JPEG-compressed on this grid; larger the harder it was.
    ``grey`` is ``(H, W)`` at least 16 pixels each way, with the JPEG grid at (0, 0).
    """
    grey = np.asarray(grey, dtype=np.float64)
    if grey.ndim != 2 or min(grey.shape) < 16:
        raise ValueError(f"need a grey image of at least 16×16 pixels, got {grey.shape}")
    ratios = []
    for jumps in (np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0)).T):
        at = np.arange(jumps.shape[1]) % 8 == 7  # the jump from column 8k+7 to 8k+8
        across, inside = jumps[:, at].mean(), jumps[:, ~at].mean()
        ratios.append(across / max(inside, 1e-6))
    return float(np.mean(ratios))


def _recompress_grey(grey_uint8: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(grey_uint8, mode="L").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded, dtype=np.float64)


def ghost_curve(grey: np.ndarray, qualities: tuple[int, ...] = GHOST_QUALITIES
                ) -> np.ndarray:
    """Mean squared change of the 8-bit luma when recompressed at each quality."""
    samples = np.round(np.clip(grey, 0, 255)).astype(np.uint8)
    reference = samples.astype(np.float64)
    return np.array([np.mean((_recompress_grey(samples, q) - reference) ** 2)
                     for q in qualities])


def quality_from_pixels(rgb: np.ndarray, max_side: int = 512) -> JpegEstimate:
    """Estimate the JPEG quality a decoded photo ``(H, W, 3)`` in [0, 1] was compressed at.

    A larger photo is measured on its central ``max_side``² crop, cut on the 8×8 grid.
    """
    grey = luma(rgb)
    top = max((grey.shape[0] - max_side) // 2 // 8 * 8, 0)
    left = max((grey.shape[1] - max_side) // 2 // 8 * 8, 0)
    grey = grey[top:top + max_side, left:left + max_side]
    block = blockiness(grey)
    dips = ghost_dips(ghost_curve(grey))
    best = int(np.argmin(dips))
    if dips[best] > GHOST_DIP:
        return JpegEstimate(None, "none", block)
    return JpegEstimate(GHOST_QUALITIES[best], "ghost", block)


def ghost_dips(curve: np.ndarray) -> np.ndarray:
    """How far the log ghost curve dips at each quality below the mean of its neighbours two
    to four steps away on either side (inf where there are not four on each side)."""
    log_curve = np.log(np.asarray(curve, dtype=np.float64) + 1e-3)
    dips = np.full(len(log_curve), np.inf)
    for i in range(4, len(log_curve) - 4):
        trend = np.mean(np.concatenate([log_curve[i - 4:i - 1], log_curve[i + 2:i + 5]]))
        dips[i] = log_curve[i] - trend
    return dips


def estimate_jpeg_quality(path: str | Path, rgb: np.ndarray) -> JpegEstimate:
    """A photo's JPEG quality: from its tables when ``path`` is a JPEG, else from ``rgb``."""
    try:
        with Image.open(path) as image:
            tables = getattr(image, "quantization", None) if image.format == "JPEG" else None
            if tables:
                grey = luma(rgb)
                block = blockiness(grey) if min(grey.shape) >= 16 else None
                return JpegEstimate(quality_from_tables(np.asarray(tables[0])), "tables", block)
    except OSError:
        pass
    if min(rgb.shape[:2]) < 16:
        return JpegEstimate(None, "none")
    return quality_from_pixels(rgb)
