"""Reference-based training patches (SRNTT, CrossNet): pair crops with a crop of each HR's
reference.

:class:`ReferencePairPatches` is :class:`~srkit.patches.PairPatches` with one reference
photo per HR image (matched by file stem, :func:`srkit.data.reference_images`);
``dataset[i]`` is ``(lq, gt, ref)``, ``ref`` float32 ``(3, p, p)``: the ``p × p`` crop of the
reference at the HR crop's *relative* position (its centre at the same fraction of the
width and height, clipped inside), flipped / transposed with the pair. A reference of the
same scene (another crop, another shot) then offers the texture the HR crop shows; an
unrelated one offers none, which the texture swap's scores report. The LR / HR draws are
those of PairPatches, so the pairs are the same with and without references; the crop
position needs no randomness of its own.

``hr_sized=True`` (CrossNet, which warps a reference of the HR's view) first resizes each
reference to its HR image's size as :meth:`srkit.models.crossnet.CrossNet.prepare_reference`
does at upscaling (bicubic, antialiased), so that training crops and whole-image inference
see the reference at the same scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from srkit.errors import SrkitError
from srkit.patches import PairPatches, _to_tensor, dihedral


def relative_crop(image: np.ndarray, size: int, centre: tuple[float, float]) -> np.ndarray:
    """The ``size``² crop of ``image`` centred at ``centre`` (fractions of height and width),
    moved inside the image."""
    height, width = image.shape[:2]
    if height < size or width < size:
        raise SrkitError(f"a reference of {width}×{height} is smaller than the {size}×{size} "
                         "patch (lower --patch-size or use larger references)")
    row = min(max(0, round(centre[0] * height - size / 2)), height - size)
    col = min(max(0, round(centre[1] * width - size / 2)), width - size)
    return image[row:row + size, col:col + size]


def resized_like(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (uint8 / uint16 ``(H, W, 3)``) resized to ``shape`` (bicubic, antialiased,
    as CrossNet resizes its reference), in its own dtype; unchanged when already that size."""
    import torch.nn.functional as F

    from srkit.io.images import to_uint

    if tuple(image.shape[:2]) == tuple(shape):
        return image
    tensor = _to_tensor(image)[None]
    out = F.interpolate(tensor, size=tuple(shape), mode="bicubic", align_corners=False,
                        antialias=True)[0].permute(1, 2, 0).numpy()
    return to_uint(out, 16 if image.dtype == np.uint16 else 8)


class ReferencePairPatches(PairPatches):
    """Pair crops with reference crops (module doc)."""

    def __init__(self, hr_images: Sequence[np.ndarray], lr_images: Sequence[np.ndarray],
                 ref_images: Sequence[np.ndarray], scale: int, patch_size: int, seed: int,
                 hr_sized: bool = False, **kwargs) -> None:
        super().__init__(hr_images, lr_images, scale, patch_size, seed, **kwargs)
        if len(ref_images) != len(self.hr_images):
            raise ValueError(f"{len(ref_images)} references for {len(self.hr_images)} images")
        for ref in ref_images:
            relative_crop(ref, patch_size, (0.5, 0.5))  # large enough
        if hr_sized:
            ref_images = [resized_like(ref, hr.shape[:2])
                          for ref, hr in zip(ref_images, self.hr_images, strict=True)]
        self.ref_images = list(ref_images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image, rng = self.sample_source(int(index))
        lr_patch, hr_patch, (row, col) = self.make_crop(image, rng)
        hr = self.hr_images[image]
        centre = ((row + self.patch_size / 2) / hr.shape[0],
                  (col + self.patch_size / 2) / hr.shape[1])
        ref_patch = relative_crop(self.ref_images[image], self.patch_size, centre)
        if self.augment:
            lr_patch, hr_patch, ref_patch = dihedral([lr_patch, hr_patch, ref_patch],
                                                     int(rng.integers(0, 8)))
        return _to_tensor(lr_patch), _to_tensor(hr_patch), _to_tensor(ref_patch)
