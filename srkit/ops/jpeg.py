"""JPEG compression artefacts through an in-memory Pillow round trip."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def jpeg_compress(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode ``img`` as a JPEG of ``quality`` (1–100).

    ``img`` is float ``(H, W, 3)`` or ``(H, W)`` in [0, 1] (clipped, then rounded to 8 bits);
    returns float32 of the same shape in [0, 1]. Colour images use Pillow's default 4:2:0
    chroma subsampling, like OpenCV's encoder and Real-ESRGAN's DiffJPEG.
    """
    quality = int(quality)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    array = np.asarray(img, dtype=np.float32)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"image must be (H, W) or (H, W, 3), got {array.shape}")
    samples = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(samples).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        out = np.asarray(decoded.convert("L" if array.ndim == 2 else "RGB"), dtype=np.float32)
    return out / 255.0
