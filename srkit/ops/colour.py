"""BT.601 YCbCr as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` define it (studio swing).

SR papers report PSNR and SSIM on the Y channel of this conversion: for RGB in [0, 1],

    Y  = (16  +  65.481 R + 128.553 G +  24.966 B) / 255      in [16/255, 235/255]
    Cb = (128 -  37.797 R -  74.203 G + 112.000 B) / 255      in [16/255, 240/255]
    Cr = (128 + 112.000 R -  93.786 G -  18.214 B) / 255      in [16/255, 240/255]

(the ITU-R BT.601 matrix scaled to the 8-bit ranges [16, 235] and [16, 240]). This is not
the full-range JPEG YCbCr of OpenCV or Pillow. Functions take and return floats on the
[0, 1] scale, channels last.
"""

from __future__ import annotations

import numpy as np

# Rows: Y, Cb, Cr; columns: R, G, B (MATLAB's rgb2ycbcr, on the 0-255 output scale).
_RGB_TO_YCBCR = np.array([[65.481, 128.553, 24.966],
                          [-37.797, -74.203, 112.0],
                          [112.0, -93.786, -18.214]], dtype=np.float64)
_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64)
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def _check_rgb(img: np.ndarray, name: str = "img") -> np.ndarray:
    array = np.asarray(img)
    if array.ndim < 1 or array.shape[-1] != 3:
        raise ValueError(f"{name} must have 3 channels last, got shape {array.shape}")
    return array.astype(np.float64, copy=False)


def rgb_to_ycbcr(img: np.ndarray) -> np.ndarray:
    """RGB ``(..., 3)`` in [0, 1] → YCbCr ``(..., 3)`` on [0, 1] (Y in [16/255, 235/255]).

    Same numbers as MATLAB ``rgb2ycbcr`` on a double image. Returns float64.
    """
    rgb = _check_rgb(img)
    return (rgb @ _RGB_TO_YCBCR.T + _OFFSET) / 255.0


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """RGB ``(..., 3)`` in [0, 1] → the Y (luma) plane ``(...)`` on [16/255, 235/255], float64."""
    rgb = _check_rgb(img)
    return (rgb @ _RGB_TO_YCBCR[0] + _OFFSET[0]) / 255.0


def ycbcr_to_rgb(img: np.ndarray) -> np.ndarray:
    """YCbCr ``(..., 3)`` on [0, 1] (as :func:`rgb_to_ycbcr` gives) → RGB on [0, 1], float64.

    The exact inverse of :func:`rgb_to_ycbcr` (MATLAB ``ycbcr2rgb``); values are not clipped,
    so YCbCr triples outside the RGB gamut give RGB outside [0, 1].
    """
    ycbcr = _check_rgb(img)
    return (ycbcr * 255.0 - _OFFSET) @ _YCBCR_TO_RGB.T
