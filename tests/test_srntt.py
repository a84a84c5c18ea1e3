"""SRNTT: the texture swap (matching, correlation, swapping) and the network."""

from __future__ import annotations

import pytest
import torch

import srkit.ops.texture_swap as texture_swap
from srkit.errors import SrkitError
from srkit.models import build_model
from srkit.ops.resize_torch import bicubic_resize
from srkit.ops.texture_swap import (
    extract_patches,
    match_patches,
    pad_scores,
    patch_correlation,
    swap_patches,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _brute_force_cosines(content: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """cos(content patch at (i, j), reference patch k) by explicit loops: (K, h, w)."""
    channels, height, width = content.shape
    ref_patches = [reference[:, y:y + 3, x:x + 3].flatten()
                   for y in range(reference.shape[1] - 2) for x in range(reference.shape[2] - 2)]
    out = torch.zeros(len(ref_patches), height - 2, width - 2, dtype=torch.float64)
    for i in range(height - 2):
        for j in range(width - 2):
            patch = content[:, i:i + 3, j:j + 3].flatten()
            for k, ref_patch in enumerate(ref_patches):
                out[k, i, j] = (patch @ ref_patch) / (patch.norm() * ref_patch.norm())
    return out


def test_correlation_and_match_equal_a_brute_force_patch_comparison(monkeypatch) -> None:
    generator = torch.Generator().manual_seed(0)
    content = torch.rand(4, 6, 7, generator=generator, dtype=torch.float64)
    reference = torch.rand(4, 5, 6, generator=generator, dtype=torch.float64)
    expected = _brute_force_cosines(content, reference)
    assert torch.allclose(patch_correlation(content, reference), expected, atol=1e-6)
    index, score = match_patches(content, reference)
    assert torch.equal(index, expected.argmax(0))
    assert torch.allclose(score, expected.max(0).values, atol=1e-6)
    monkeypatch.setattr(texture_swap, "_CHUNK_ELEMENTS", 7)  # one band of rows at a time
    chunked_index, chunked_score = match_patches(content, reference)
    assert torch.equal(chunked_index, index) and torch.allclose(chunked_score, score)


def _copied_region_example() -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Content features and a blurred-reference map holding content[:, 1:8, 1:8] at a shift."""
    generator = torch.Generator().manual_seed(1)
    content = torch.rand(5, 9, 9, generator=generator)
    blurred = torch.rand(5, 12, 13, generator=generator)
    shift = (3, 4)
    blurred[:, 1 + shift[0]:8 + shift[0], 1 + shift[1]:8 + shift[1]] = content[:, 1:8, 1:8]
    return content, blurred, shift


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_swap_takes_the_reference_texture_where_it_matches_exactly(factor: int) -> None:
    content, blurred, (dy, dx) = _copied_region_example()
    index, score = match_patches(content, blurred)
    grid_width = blurred.shape[2] - 2
    for i in range(1, 6):  # patches lying inside the copied region
        for j in range(1, 6):
            assert int(index[i, j]) == (i + dy) * grid_width + (j + dx)
            assert float(score[i, j]) == pytest.approx(1.0, abs=1e-5)
    assert float(score.min()) < 0.99  # elsewhere no exact match
    sharp = torch.rand(3, factor * 12, factor * 13, generator=torch.Generator().manual_seed(2))
    swapped = swap_patches(index, sharp, factor)
    assert swapped.shape == (3, factor * 9, factor * 9)
    # pixels covered only by exactly matched patches carry the reference's texture there
    rows = slice(factor * 3, factor * 6)
    shifted = sharp[:, factor * (3 + dy):factor * (6 + dy), factor * (3 + dx):factor * (6 + dx)]
    assert torch.allclose(swapped[:, rows, rows], shifted, atol=1e-6)


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_swap_averages_overlapping_patches(factor: int) -> None:
    reference = torch.arange(2 * 16 * factor * factor, dtype=torch.float32).view(
        2, 4 * factor, 4 * factor)
    index = torch.tensor([[0, 3], [1, 2], [3, 3]])  # on the 2×2 grid of 3×3 patches
    swapped = swap_patches(index, reference, factor)
    patches = extract_patches(reference, 3 * factor, factor)
    side = 3 * factor
    total = torch.zeros(2, 5 * factor, 4 * factor)
    count = torch.zeros(1, 5 * factor, 4 * factor)
    for (i, j), k in zip([(i, j) for i in range(3) for j in range(2)], index.flatten(),
                         strict=True):
        total[:, factor * i:factor * i + side, factor * j:factor * j + side] += patches[k]
        count[:, factor * i:factor * i + side, factor * j:factor * j + side] += 1
    assert torch.allclose(swapped, total / count)


def test_scores_are_padded_by_their_edges() -> None:
    assert torch.equal(pad_scores(torch.tensor([[1.0, 2.0], [3.0, 4.0]])),
                       torch.tensor([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]))


def test_the_network_matches_a_shifted_copy_of_the_photo_through_vgg() -> None:
    torch.manual_seed(0)
    model = build_model("srntt", num_feat=8, num_block=1)
    hr = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 72, 72), 3, 1, 1)
    lr = bicubic_resize(hr, 0.25)  # 18×18: relu3_1 maps of 18×18
    ref = hr[..., 16:, 8:]  # the photo shifted by (4, 2) relu3_1 pixels
    maps, scores = model.texture_maps(lr, ref)
    assert maps["relu3_1"].shape == (1, 256, 18, 18)
    assert maps["relu2_1"].shape == (1, 128, 36, 36)
    assert maps["relu1_1"].shape == (1, 64, 72, 72)
    assert scores.shape == (1, 1, 18, 18)
    index, score = match_patches(model.vgg(bicubic_resize(lr, 4.0))["relu3_1"][0],
                                 model.vgg(bicubic_resize(bicubic_resize(ref, 0.25), 4.0))
                                 ["relu3_1"][0])
    grid_width = 64 // 4 - 2  # the reference is 56×64: a 14×16 relu3_1 map
    interior = [(i, j) for i in range(8, 12) for j in range(6, 12)]  # away from borders
    for i, j in interior:
        assert int(index[i, j]) == (i - 4) * grid_width + (j - 2)
        assert float(score[i, j]) > 0.99


def test_network_sizes_single_image_mode_and_bad_references() -> None:
    torch.manual_seed(0)
    model = build_model("srntt", num_feat=8, num_block=2)
    x = torch.rand(2, 3, 10, 12)
    with torch.no_grad():
        with_ref = model(x, torch.rand(1, 3, 50, 45))
        alone = model(x)
    assert with_ref.shape == alone.shape == (2, 3, 40, 48)
    assert torch.isfinite(with_ref).all() and not torch.allclose(with_ref, alone)
    assert model(x, torch.rand(2, 3, 16, 16)).shape == (2, 3, 40, 48)
    with pytest.raises(SrkitError, match="too small for the texture swap"):
        model(x, torch.rand(1, 3, 11, 40))
    with pytest.raises(SrkitError, match="3 references for 2 images"):
        model(x, torch.rand(3, 3, 16, 16))
    with pytest.raises(SrkitError, match="×4 network"):
        build_model("srntt", upscale=2)


def test_gradients_reach_the_trainable_parameters_and_not_the_vgg() -> None:
    torch.manual_seed(0)
    model = build_model("srntt", num_feat=8, num_block=1)
    x = torch.rand(1, 3, 6, 6)
    maps, _ = model.texture_maps(x, torch.rand(1, 3, 24, 24))
    sr_plain, features = model.content(x)
    (model.transfer(x, features, maps).square().mean() + sr_plain.square().mean()).backward()
    for name, parameter in model.named_parameters():
        if name.startswith("vgg."):
            assert parameter.grad is None and not parameter.requires_grad, name
        else:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
