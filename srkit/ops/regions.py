"""Object / background / boundary ("OBB") label maps for SROBB's targeted perceptual loss.

SROBB (Rad et al., ICCV 2019, §3.1) labels every HR pixel with one of three classes, made from
a semantic segmentation: *boundary* — the edges between segmentation classes, thickened by a
dilation with a disk; *background* — the "stuff" classes (sky, plant, ground, water); *object*
— everything else. srkit has no segmentation network, so :func:`derive_region_labels` makes
the three classes from the HR image itself (docs/srobb.md says how that differs):

* *background* — textured areas: the local RMS of the fine detail ``Y − G₁(Y)`` (Y the
  luma, G_σ a Gaussian blur), averaged by a Gaussian of σ = 3 px over the pixels that are not
  near a coarse edge (a normalised convolution, so an edge's own detail does not make its
  smooth neighbourhood look textured), above ``texture_threshold``, cleaned by a
  morphological opening with a disk of radius 2;
* *boundary* — pixels within ``boundary_radius`` of a coarse edge (the Sobel gradient of
  ``G₂(Y)`` above ``edge_threshold`` per pixel) or of a change of the texture mask (the
  paper's edges between classes);
* *object* — the rest (smooth or gently shaded areas that are not edges).

:func:`boundary_from_classes` turns a two-class map (background / object, as a segmentation
gives) into the three classes as the paper does: label changes, dilated by a disk.

Label values (:data:`BACKGROUND`, :data:`OBJECT`, :data:`BOUNDARY`) are 0, 1, 2, as in a
``--region-labels`` PNG (docs/srobb.md). All functions are pure: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BACKGROUND, OBJECT, BOUNDARY = 0, 1, 2
REGION_NAMES = ("background", "object", "boundary")  # index = label value
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def disk(radius: int) -> np.ndarray:
    """A boolean disk structuring element of ``radius`` pixels (``2r+1`` square)."""
    offsets = np.arange(-radius, radius + 1)
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0 or not mask.any():
        return mask
    return ndimage.binary_dilation(mask, structure=disk(radius))


def class_changes(classes: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has another class (both sides of a change)."""
    changes = np.zeros(classes.shape, bool)
    horizontal = classes[:, 1:] != classes[:, :-1]
    vertical = classes[1:, :] != classes[:-1, :]
    changes[:, 1:] |= horizontal
    changes[:, :-1] |= horizontal
    changes[1:, :] |= vertical
    changes[:-1, :] |= vertical
    return changes


def boundary_from_classes(classes: np.ndarray, boundary_radius: int) -> np.ndarray:
    """A three-class map from a background (0) / object (1) map: every pixel within
    ``boundary_radius`` of a class change becomes boundary (2), as SROBB dilates the edges
    of its segmentation with a disk."""
    labels = np.asarray(classes, np.uint8).copy()
    labels[_dilate(class_changes(labels), boundary_radius)] = BOUNDARY
    return labels


def derive_region_labels(rgb: np.ndarray, *, edge_threshold: float = 0.03,
                         texture_threshold: float = 0.02,
                         boundary_radius: int = 2) -> np.ndarray:
    """Region labels ``(H, W)`` uint8 (0 background, 1 object, 2 boundary) of an RGB image
    ``(H, W, 3)`` float in [0, 1] (see the module doc for the rule).

    Args:
        edge_threshold: gradient magnitude (grey levels of [0, 1] per pixel) of the σ = 2 px
            smoothed luma above which a pixel is an edge; a step of height ``h`` peaks at
            ``h / 5``, so 0.03 marks steps of about 0.15 and more.
        texture_threshold: local RMS of the fine detail above which an area is textured
            (background); white noise of standard deviation ``s`` gives about ``0.9 s``.
        boundary_radius: the radius in pixels of the disk the edges are dilated with.
    """
    image = np.asarray(rgb, np.float32)
    luma = image[..., :3] @ _LUMA if image.ndim == 3 else image
    smooth = ndimage.gaussian_filter(luma, 2.0, mode="reflect")
    gradient = np.hypot(ndimage.sobel(smooth, axis=0, mode="reflect"),
                        ndimage.sobel(smooth, axis=1, mode="reflect")) / 8
    edges = gradient > edge_threshold
    # texture statistics without the edges' own detail (a normalised convolution), so that
    # a smooth object's rim is not taken for texture
    keep = (~_dilate(edges, 2)).astype(np.float32)
    detail = luma - ndimage.gaussian_filter(luma, 1.0, mode="reflect")
    weight = ndimage.gaussian_filter(keep, 3.0, mode="reflect")
    energy = np.sqrt(ndimage.gaussian_filter(detail**2 * keep, 3.0, mode="reflect")
                     / np.maximum(weight, 1e-6))
    textured = ndimage.binary_opening((energy > texture_threshold) & (weight > 0.05),
                                      structure=disk(2))
    edges |= class_changes(textured)
    labels = np.where(textured, BACKGROUND, OBJECT).astype(np.uint8)
    labels[_dilate(edges, boundary_radius)] = BOUNDARY
    return labels
