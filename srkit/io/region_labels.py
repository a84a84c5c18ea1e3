"""Reading a ``--region-labels`` folder: one PNG label map per training HR image.

``DIR/STEM.png`` belongs to the HR image ``STEM.*`` (a pair folder's ``hr/STEM.png`` or a
photo of ``--hr``); it is a single-channel PNG (greyscale or palette: the palette *index* is
the value) of the HR image's size, with 0 background, 1 object and 2 boundary
(:mod:`srkit.ops.regions`). A map without any 2 is taken as a two-class segmentation and its
boundary is made from the edges of its objects (:func:`srkit.ops.regions
.boundary_from_classes`, done by the caller). Anything else is an :class:`SrkitError` naming
the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from srkit.errors import SrkitError

LABEL_VALUES = "0 (background), 1 (object) or 2 (boundary)"


def region_label_paths(folder: str | Path, stems: Sequence[str]) -> list[Path]:
    """``folder/STEM.png`` for every stem; a missing folder or file raises SrkitError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SrkitError(f"--region-labels {folder}: no such folder")
    paths = [folder / f"{stem}.png" for stem in stems]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise SrkitError(f"{folder}: no label map {missing[0].name} for the HR image "
                         f"{Path(missing[0]).stem} ({len(missing)} HR image(s) without one)")
    return paths


def read_region_labels(path: str | Path, hr_shape: tuple[int, ...],
                       trailing: int = 0) -> np.ndarray:
    """The label map of ``path`` as ``(H, W)`` uint8, checked against the HR image's
    ``(H, W)`` and the allowed values. ``trailing``: how many more rows and columns the map
    may have (a pair's HR cut to a multiple of the scale); they are cut off the same way."""
    path = Path(path)
    try:
        with Image.open(path) as pil:
            mode = pil.mode
            labels = np.asarray(pil)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise SrkitError(f"{path}: not a readable PNG label map ({type(error).__name__})"
                         ) from None
    if labels.ndim != 2:
        raise SrkitError(f"{path}: a label map must have one channel (greyscale or palette "
                         f"PNG), not {mode}")
    height, width = hr_shape[:2]
    if not (0 <= labels.shape[0] - height <= trailing
            and 0 <= labels.shape[1] - width <= trailing):
        raise SrkitError(f"{path}: the label map is {labels.shape[1]}×{labels.shape[0]}, its "
                         f"HR image {width}×{height}")
    labels = labels[:height, :width]
    bad = np.setdiff1d(np.unique(labels), (0, 1, 2))
    if bad.size:
        raise SrkitError(f"{path}: label values must be {LABEL_VALUES}; found "
                         f"{', '.join(str(int(v)) for v in bad[:5])}")
    return labels.astype(np.uint8)
