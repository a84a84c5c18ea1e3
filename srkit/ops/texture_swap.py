"""SRNTT's texture swap (Zhang et al., CVPR 2019, §3.1): match in feature space, swap patches.

Given VGG19 feature maps of the bicubic-upsampled LR image (``I^{LR↑}``) and of the reference
blurred the same way (``I^{Ref↓↑}``: ×1/4 then ×4 MATLAB bicubic), both at ``relu3_1``:

1. every 3×3 patch of the reference map is a kernel, normalised to unit length; correlating
   the LR map with these kernels (one ``conv2d``) and dividing by each LR patch's own norm
   gives the cosine similarity ``s_{i,j}`` of LR patch ``i`` and reference patch ``j``
   (:func:`patch_correlation`);
2. each LR position keeps its best reference patch ``j* = argmax_j s_{i,j}`` and the score
   ``S*_i = max_j s_{i,j}`` (:func:`match_patches`);
3. the patches at ``j*`` are taken from the *unblurred* reference's features and pasted at
   ``i``, overlaps averaged (:func:`swap_patches`): at ``relu3_1`` 3×3 patches with stride 1,
   at ``relu2_1`` (twice the resolution) 6×6 with stride 2, at ``relu1_1`` 12×12 with stride
   4, so the three swapped maps ``M_l`` cover the same image regions.

Positions are those of full 3×3 patches, ``(H − 2) × (W − 2)`` on an ``H × W`` map (no
padding); the swapped maps still cover every pixel, border pixels by fewer patches. The score
map is padded to ``H × W`` by repeating its edge.

The features come from whatever VGG19 weights the caller loaded (torchvision's for real use;
random ones in the tests: matching is then on random features, which still makes an exact
copy the unique best match). Cost: one correlation of ``(H − 2)(W − 2)`` LR patches with
``(H_r − 2)(W_r − 2)`` reference patches of ``9·C`` numbers, in chunks of reference patches
(memory stays bounded; time does not). The swap builds its maps from shifted blocks, never
from all of the reference's patches at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PATCH = 3  # patch side at the matching layer (relu3_1)
_EPS = 1e-5
# correlation values computed at once (bounds the (patches, H−2, W−2) correlation block)
_CHUNK_ELEMENTS = 1 << 25


def extract_patches(features: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """The ``size × size`` patches of ``(C, H, W)`` features with ``stride``, row-major, as
    ``(N, C, size, size)``."""
    channels = features.shape[0]
    columns = F.unfold(features[None], size, stride=stride)[0]  # (C·size², N)
    return columns.t().reshape(-1, channels, size, size)


def _patch_norms(features: torch.Tensor, size: int) -> torch.Tensor:
    """The L2 norm of every ``size × size`` patch of ``(C, H, W)`` (over all channels)."""
    energy = F.conv2d(features[None].square().sum(1, keepdim=True),
                      features.new_ones(1, 1, size, size))
    return energy[0, 0].clamp_min(0).sqrt()


def _unit_kernels(reference: torch.Tensor, size: int) -> torch.Tensor:
    """The reference's patches, each divided by its L2 norm (the correlation kernels)."""
    kernels = extract_patches(reference, size, 1)
    return kernels / (kernels.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + _EPS)


def patch_correlation(content: torch.Tensor, reference: torch.Tensor,
                      size: int = PATCH) -> torch.Tensor:
    """Cosine similarity of every ``size × size`` patch of ``content`` ``(C, H, W)`` with
    every one of ``reference`` ``(C, H_r, W_r)``: ``(N_r, H − size + 1, W − size + 1)``,
    reference patches in row-major order."""
    kernels = _unit_kernels(reference, size)
    correlation = F.conv2d(content[None], kernels)[0]
    return correlation / (_patch_norms(content, size) + _EPS)


def match_patches(content: torch.Tensor, reference: torch.Tensor, size: int = PATCH
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The best reference patch for each content patch: ``(index, score)``, both
    ``(H − size + 1, W − size + 1)``; ``index`` counts reference patches row-major (on the
    ``(H_r − size + 1) × (W_r − size + 1)`` grid), ``score`` is their cosine similarity.
    The reference's patches are made and correlated a band of rows at a time, so memory
    stays bounded whatever the reference's size; ties go to the lowest index."""
    if min(reference.shape[-2:]) < size or min(content.shape[-2:]) < size:
        raise ValueError(f"feature maps smaller than a {size}×{size} patch")
    grid_h, grid_w = reference.shape[-2] - size + 1, reference.shape[-1] - size + 1
    out_h, out_w = content.shape[-2] - size + 1, content.shape[-1] - size + 1
    rows = max(1, _CHUNK_ELEMENTS // (out_h * out_w * grid_w))
    best_score = best_index = None
    for top in range(0, grid_h, rows):
        band = reference[:, top:min(grid_h, top + rows) + size - 1]
        block = F.conv2d(content[None], _unit_kernels(band, size))[0]
        score, index = block.max(dim=0)
        index = index + top * grid_w
        if best_score is None:
            best_score, best_index = score, index
        else:
            better = score > best_score
            best_score = torch.where(better, score, best_score)
            best_index = torch.where(better, index, best_index)
    assert best_score is not None and best_index is not None
    return best_index, best_score / (_patch_norms(content, size) + _EPS)


def swap_patches(index: torch.Tensor, reference: torch.Tensor, factor: int,
                 size: int = PATCH) -> torch.Tensor:
    """Paste reference patches at the matched positions, overlaps averaged.

    ``index`` ``(h, w)`` from :func:`match_patches` on the matching layer; ``reference``
    ``(C, factor·H_r, factor·W_r)`` is the unblurred reference's map at a layer ``factor``
    times finer (1 for relu3_1, 2 for relu2_1, 4 for relu1_1). The patch of side
    ``factor·size`` at ``factor`` × the matched reference position is placed at
    ``factor·(i, j)``; returns ``(C, factor·(h + size − 1), factor·(w + size − 1))``.
    Built as ``size²`` shifted copies of ``factor × factor`` blocks, so memory is that of
    the output, never of all the reference's patches.
    """
    channels = reference.shape[0]
    blocks_h, blocks_w = reference.shape[1] // factor, reference.shape[2] // factor
    grid_w = blocks_w - size + 1
    blocks = reference[:, :blocks_h * factor, :blocks_w * factor].reshape(
        channels, blocks_h, factor, blocks_w, factor)
    rows, cols = index // grid_w, index % grid_w
    height, width = index.shape
    out = reference.new_zeros(channels, height + size - 1, factor, width + size - 1, factor)
    counts = reference.new_zeros(height + size - 1, width + size - 1)
    for dy in range(size):
        for dx in range(size):
            picked = blocks[:, rows + dy, :, cols + dx, :]  # (h, w, C, factor, factor)
            out[:, dy:dy + height, :, dx:dx + width, :] += picked.permute(2, 0, 3, 1, 4)
            counts[dy:dy + height, dx:dx + width] += 1
    out /= counts[None, :, None, :, None]
    return out.reshape(channels, factor * (height + size - 1), factor * (width + size - 1))


def pad_scores(score: torch.Tensor, size: int = PATCH) -> torch.Tensor:
    """The ``(h, w)`` score map of patch positions padded to the feature map's
    ``(h + size − 1, w + size − 1)`` by repeating its edges (each pixel takes the score of
    the patch it is nearest the centre of)."""
    before = (size - 1) // 2
    after = size - 1 - before
    return F.pad(score[None, None], (before, after, before, after), mode="replicate")[0, 0]
