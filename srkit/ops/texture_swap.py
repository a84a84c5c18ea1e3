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
(memory stays bounded; time does not).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PATCH = 3  # patch side at the matching layer (relu3_1)
_EPS = 1e-5
# reference patches correlated at once (bounds the (chunk, H−2, W−2) correlation block)
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
    Computed in chunks of reference patches; ties go to the lowest index."""
    if min(reference.shape[-2:]) < size or min(content.shape[-2:]) < size:
        raise ValueError(f"feature maps smaller than a {size}×{size} patch")
    kernels = _unit_kernels(reference, size)
    out_h, out_w = content.shape[-2] - size + 1, content.shape[-1] - size + 1
    chunk = max(1, _CHUNK_ELEMENTS // (out_h * out_w))
    best_score = best_index = None
    for start in range(0, kernels.shape[0], chunk):
        block = F.conv2d(content[None], kernels[start:start + chunk])[0]
        score, index = block.max(dim=0)
        index = index + start
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
    times finer (1 for relu3_1, 2 for relu2_1, 4 for relu1_1). Patches of side
    ``factor·size`` with stride ``factor`` are taken at the matched reference positions and
    placed at ``factor·(i, j)``; returns ``(C, factor·(h + size − 1), factor·(w + size − 1))``.
    """
    side = factor * size
    patches = extract_patches(reference, side, factor)  # (N_r, C, side, side)
    chosen = patches[index.flatten()]  # (h·w, C, side, side)
    out_size = (factor * (index.shape[0] + size - 1), factor * (index.shape[1] + size - 1))
    columns = chosen.flatten(1).t()[None]  # (1, C·side², h·w)
    summed = F.fold(columns, out_size, side, stride=factor)[0]
    counts = F.fold(torch.ones_like(columns[:, :side * side]), out_size, side,
                    stride=factor)[0]
    return summed / counts


def pad_scores(score: torch.Tensor, size: int = PATCH) -> torch.Tensor:
    """The ``(h, w)`` score map of patch positions padded to the feature map's
    ``(h + size − 1, w + size − 1)`` by repeating its edges (each pixel takes the score of
    the patch it is nearest the centre of)."""
    before = (size - 1) // 2
    after = size - 1 - before
    return F.pad(score[None, None], (before, after, before, after), mode="replicate")[0, 0]
