"""Additive noise: RealSR's injection of real noise patches, and Real-ESRGAN's synthetic noise.

All images are float ``(H, W, 3)`` in [0, 1]; results are clipped back to [0, 1] and float32.
Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np

# ITU-R BT.601 luma weights (what OpenCV's RGB→grey and torchvision's rgb_to_grayscale use).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def dihedral(image: np.ndarray, code: int) -> np.ndarray:
    """One of the 8 flips/rotations of an ``(h, w, C)`` image, as a view (``code`` bits:
    vflip, hflip, transpose; 0 = unchanged)."""
    if code & 1:
        image = image[::-1]
    if code & 2:
        image = image[:, ::-1]
    if code & 4:
        image = image.transpose(1, 0, 2)
    return image


def noise_field(shape: tuple[int, int], patch: np.ndarray, rng: np.random.Generator
                ) -> tuple[np.ndarray, dict]:
    """A ``(h, w, C)`` piece of real noise cut from a noise patch ``(p, p, C)``.

    When ``h, w <= p`` it is a random crop of the patch (RealSR's rule). A larger image gets a
    canvas tiled with randomly flipped/transposed copies of the patch (zero mean and the
    patch's spread are kept; flips make the seams less regular), then a random crop of it.
    Returns the field and a JSON-able record of where it came from
    (``{"row", "col"}``, plus ``"tiles"``: the flip code of each tile, row-major, when tiled).
    """
    patch = np.asarray(patch, dtype=np.float32)
    if patch.ndim != 3 or patch.shape[0] != patch.shape[1]:
        raise ValueError(f"noise patch must be (p, p, C), got {patch.shape}")
    height, width = int(shape[0]), int(shape[1])
    size = patch.shape[0]
    if height <= size and width <= size:
        row = int(rng.integers(0, size - height + 1))
        col = int(rng.integers(0, size - width + 1))
        return patch[row:row + height, col:col + width].copy(), {"row": row, "col": col}
    rows = -(-height // size) + 1
    cols = -(-width // size) + 1
    codes = rng.integers(0, 8, size=rows * cols)
    canvas = np.empty((rows * size, cols * size, patch.shape[2]), dtype=np.float32)
    for index, code in enumerate(codes):
        r, c = divmod(index, cols)
        canvas[r * size:(r + 1) * size, c * size:(c + 1) * size] = dihedral(patch, int(code))
    row = int(rng.integers(0, canvas.shape[0] - height + 1))
    col = int(rng.integers(0, canvas.shape[1] - width + 1))
    record = {"row": row, "col": col, "tiles": [int(c) for c in codes]}
    return canvas[row:row + height, col:col + width].copy(), record


def inject_noise_patch(lr_img: np.ndarray, patch: np.ndarray, rng: np.random.Generator
                       ) -> np.ndarray:
    """RealSR noise injection: add a random piece of a zero-mean noise patch, clip to [0, 1].

    ``lr_img`` is ``(h, w, 3)`` in [0, 1], ``patch`` ``(p, p, 3)`` zero mean (any ``h, w``:
    see :func:`noise_field`). Returns float32 ``(h, w, 3)``.
    """
    lr_img = np.asarray(lr_img, dtype=np.float32)
    field, _ = noise_field(lr_img.shape[:2], patch, rng)
    return np.clip(lr_img + field, 0.0, 1.0)


def gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator,
                   grey: bool = False) -> np.ndarray:
    """Add Gaussian noise with std ``sigma`` on the 0–255 scale, clip to [0, 1].

    ``grey=True`` adds the same noise to every channel (Real-ESRGAN's "gray noise"),
    otherwise each channel gets its own.
    """
    img = np.asarray(img, dtype=np.float32)
    if grey:
        plane = rng.standard_normal(img.shape[:2], dtype=np.float32)
        noise = np.repeat(plane[..., None], img.shape[2], axis=2)
    else:
        noise = rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img + noise * np.float32(sigma / 255.0), 0.0, 1.0)


def poisson_noise(img: np.ndarray, scale: float, rng: np.random.Generator,
                  grey: bool = False) -> np.ndarray:
    """Add Poisson (shot) noise scaled by ``scale``, clip to [0, 1] (Real-ESRGAN's definition).

    The image is quantised to 8 bits, the number of distinct levels ``v`` rounded up to a
    power of two sets the photon count: ``noise = Poisson(img * v) / v - img``, multiplied by
    ``scale``. ``grey=True`` draws the noise on the BT.601 luma and adds it to every channel.
    """
    img = np.asarray(img, dtype=np.float32)
    base = img.astype(np.float64) @ _LUMA if grey else img.astype(np.float64)
    base = np.clip(np.round(base * 255.0), 0, 255) / 255.0
    levels = 2.0 ** np.ceil(np.log2(max(len(np.unique(base)), 1)))
    noise = rng.poisson(base * levels) / levels - base
    if grey:
        noise = np.repeat(noise[..., None], img.shape[2], axis=2)
    return np.clip(img + (noise * scale).astype(np.float32), 0.0, 1.0)
