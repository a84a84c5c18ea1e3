"""Training data: aligned crops, on-the-fly pool degradation, determinism and sharding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from srkit.data import load_pixels, make_loader, prepare_training_data
from srkit.degradations.pool import blur_downsample_crop
from srkit.errors import SrkitError
from srkit.io.images import write_image
from srkit.io.pairs import check_pair, find_pairs
from srkit.ops.kernels import blur_downsample, gaussian_kernel, grid_kernel
from srkit.ops.pixels import to_float
from srkit.patches import PairPatches, PoolPatches, SyntheticPatches, aligned_crop, dihedral


def _uint8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(lq.clone(), gt.clone()) for lq, gt in loader]


def test_aligned_crop_takes_hr_at_scale_times_the_lr_position(rng):
    scale = 3
    hr = _uint8(rng, (60, 75, 3))
    lr = hr[::scale, ::scale]  # LR pixel (i, j) is exactly HR pixel (3i, 3j)
    for _ in range(20):
        lr_crop, hr_crop, (row, col) = aligned_crop(lr, hr, scale, 8, rng)
        assert lr_crop.shape == (8, 8, 3) and hr_crop.shape == (24, 24, 3)
        np.testing.assert_array_equal(lr_crop, lr[row:row + 8, col:col + 8])
        np.testing.assert_array_equal(hr_crop[::scale, ::scale], lr_crop)


def test_pair_patches_stay_aligned_through_flips_and_rotations(rng):
    scale = 2
    lr = _uint8(rng, (20, 24, 3))
    hr = np.kron(lr, np.ones((scale, scale, 1), np.uint8))  # block-constant: any flip keeps
    dataset = PairPatches([hr], [lr], scale, 16, seed=5)
    plain_crops = {lr[r:r + 8, c:c + 8].tobytes() for r in range(13) for c in range(17)}
    transformed = 0
    for index in range(24):
        lq, gt = dataset[index]
        assert lq.shape == (3, 8, 8) and gt.shape == (3, 16, 16)
        assert lq.dtype == torch.float32 and 0 <= float(lq.min()) and float(lq.max()) <= 1
        torch.testing.assert_close(gt[:, ::scale, ::scale], lq, rtol=0, atol=0)
        pixels = np.round(lq.numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
        transformed += pixels.tobytes() not in plain_crops
    assert transformed >= 12  # 7 of the 8 symmetries change a random crop
    plain = PairPatches([hr], [lr], scale, 16, seed=5, augment=False)
    for index in range(4):
        pixels = np.round(plain[index][0].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
        assert pixels.tobytes() in plain_crops


def test_dihedral_gives_the_eight_symmetries(rng):
    patch = rng.random((5, 5, 3)).astype(np.float32)
    results = [dihedral([patch], code)[0] for code in range(8)]
    assert len({r.tobytes() for r in results}) == 8
    np.testing.assert_array_equal(results[4], patch.transpose(1, 0, 2))
    np.testing.assert_array_equal(results[3], patch[::-1, ::-1])


@pytest.mark.parametrize("scale, kernel_size", [(1, 7), (2, 13), (3, 13), (4, 25)])
def test_blur_downsample_crop_equals_cropping_the_whole_image_result(rng, scale, kernel_size):
    image = rng.random((53, 61, 3)).astype(np.float32)
    kernel = gaussian_kernel(kernel_size, 2.0, 0.8, 0.6)
    whole = blur_downsample(image, kernel, scale)
    prepared = grid_kernel(kernel, scale)
    np.testing.assert_allclose(blur_downsample_crop(image, prepared, scale, 0, 0,
                                                    whole.shape[:2]), whole, atol=1e-5)
    # an interior crop and one touching the far corner (reflected borders)
    for row, col, h, w in [(3, 4, 5, 6), (whole.shape[0] - 4, whole.shape[1] - 5, 4, 5)]:
        crop = blur_downsample_crop(image, prepared, scale, row, col, (h, w))
        np.testing.assert_allclose(crop, whole[row:row + h, col:col + w], atol=1e-5)


def _find_position(hr: np.ndarray, gt: np.ndarray, scale: int) -> tuple[int, int]:
    size = gt.shape[0]
    for row in range(0, hr.shape[0] - size + 1, scale):
        for col in range(0, hr.shape[1] - size + 1, scale):
            if np.array_equal(hr[row:row + size, col:col + size], gt):
                return row // scale, col // scale
    raise AssertionError("HR patch not found in the image")


def test_pool_patches_blur_with_a_pool_kernel_at_the_crop_position(rng):
    scale = 2
    hr = _uint8(rng, (48, 56, 3))
    kernel = gaussian_kernel(13, 1.5, 0.7, 0.4)
    dataset = PoolPatches([hr], kernel[None], None, scale, 16, seed=1, augment=False)
    whole = blur_downsample(hr.astype(np.float32) / 255, kernel, scale)
    for index in range(5):
        lq, gt = dataset[index]
        gt_pixels = np.round(gt.numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
        row, col = _find_position(hr, gt_pixels, scale)
        np.testing.assert_allclose(lq.numpy().transpose(1, 2, 0),
                                   whole[row:row + 8, col:col + 8], atol=1e-5)


def test_pool_patches_add_pool_noise_of_the_right_strength(rng):
    scale = 4
    hr = np.full((96, 96, 3), 128, np.uint8)  # flat grey: no clipping, blur changes nothing
    noise = rng.normal(0, 0.04, size=(3, 40, 40, 3)).astype(np.float32)
    noise -= noise.mean(axis=(1, 2), keepdims=True)
    kernels = np.stack([gaussian_kernel(25, 2.0), gaussian_kernel(25, 1.0, 3.0, 0.5)])
    dataset = PoolPatches([hr], kernels, noise, scale, 64, seed=2)
    clean = PoolPatches([hr], kernels, None, scale, 64, seed=2)
    residuals = []
    for index in range(8):
        lq, gt = dataset[index]
        assert lq.shape == (3, 16, 16) and gt.shape == (3, 64, 64)
        lq_clean, _ = clean[index]
        torch.testing.assert_close(lq_clean, torch.full_like(lq_clean, 128 / 255))
        residuals.append((lq - lq_clean).numpy())
    residual = np.stack(residuals)
    assert abs(residual.std() - 0.04) < 0.006
    assert abs(residual.mean()) < 0.005


def test_synthetic_patches_have_the_lr_size(rng):
    hr = _uint8(rng, (80, 80, 3))
    lq, gt = SyntheticPatches([hr], 4, 32, seed=0)[0]
    assert lq.shape == (3, 8, 8) and gt.shape == (3, 32, 32)
    assert torch.isfinite(lq).all() and 0 <= float(lq.min()) and float(lq.max()) <= 1


def test_samples_do_not_depend_on_workers_and_resume_at_the_right_batch(rng):
    hr = [_uint8(rng, (40, 40, 3)), _uint8(rng, (36, 44, 3))]
    lr = [h[::2, ::2] for h in hr]
    dataset = PairPatches(hr, lr, 2, 16, seed=7)
    straight = _batches(make_loader(dataset, 3, 0, 4, workers=0))
    with_workers = _batches(make_loader(dataset, 3, 0, 4, workers=2))
    resumed = _batches(make_loader(dataset, 3, 2, 2, workers=0))
    for (a_lq, a_gt), (b_lq, b_gt) in zip(straight, with_workers, strict=True):
        assert torch.equal(a_lq, b_lq) and torch.equal(a_gt, b_gt)
    for (a_lq, _), (b_lq, _) in zip(straight[2:], resumed, strict=True):
        assert torch.equal(a_lq, b_lq)
    assert not torch.equal(straight[0][0], straight[1][0])


def test_ranks_share_out_one_sample_stream(rng):
    hr = [_uint8(rng, (40, 40, 3)) for _ in range(3)]
    lr = [h[::2, ::2] for h in hr]
    single = PairPatches(hr, lr, 2, 8, seed=3)
    ranks = [PairPatches(hr, lr, 2, 8, seed=3, rank=r, world_size=2) for r in range(2)]
    for index in range(6):
        for rank in range(2):
            assert torch.equal(ranks[rank][index][0], single[2 * index + rank][0])
    # each pass over the images visits every image once
    order = [single.sample_source(i)[0] for i in range(6)]
    assert sorted(order[:3]) == [0, 1, 2] and sorted(order[3:]) == [0, 1, 2]


def _pair_folder(root: Path, rng, sizes, scale=2) -> Path:
    for index, (h, w) in enumerate(sizes):
        hr = rng.random((h, w, 3)).astype(np.float32)
        write_image(root / "hr" / f"p{index}.png", hr)
        write_image(root / "lr" / f"p{index}.png", hr[::scale, ::scale])
    return root


def test_pair_folders_are_checked(tmp_path, rng):
    folder = _pair_folder(tmp_path / "pairs", rng, [(32, 32), (40, 36)])
    assert [p.name for p in find_pairs(folder)] == ["p0.png", "p1.png"]
    with pytest.raises(SrkitError, match="not a pair folder"):
        find_pairs(tmp_path / "pairs" / "hr")
    write_image(folder / "hr" / "extra.png", np.zeros((8, 8, 3), np.float32))
    with pytest.raises(SrkitError, match="extra.png has no partner in lr/"):
        find_pairs(folder)
    hr = load_pixels(folder / "hr" / "p0.png")
    with pytest.raises(SrkitError, match="not ×3"):
        check_pair(hr, hr[::2, ::2], 3, "p0")


def test_held_out_fraction_is_kept_out_of_training(tmp_path, rng):
    folder = _pair_folder(tmp_path / "pairs", rng, [(32, 32)] * 4 + [(34, 40)])
    data = prepare_training_data(scale=2, patch_size=16, seed=0, pairs=folder, val=0.4)
    assert data.dataset.count == 3 and len(data.validation) == 2
    val_lr = {pair.lr.tobytes() for pair in data.validation}
    train_lr = {(img.astype(np.float32) / 255).tobytes() for img in data.dataset.lr_images}
    assert not val_lr & train_lr
    for pair in data.validation:
        assert pair.hr.shape[:2] == (pair.lr.shape[0] * 2, pair.lr.shape[1] * 2)


def test_on_the_fly_validation_pairs_are_degraded_once_and_reproducibly(tmp_path, rng):
    photos = tmp_path / "photos"
    for index in range(3):
        write_image(photos / f"{index}.png", rng.random((40, 44, 3)).astype(np.float32))
    from srkit.io.pool_writer import append_kernels
    from srkit.io.pools import KernelEntry

    pool = tmp_path / "pool.h5"
    append_kernels(pool, [KernelEntry(gaussian_kernel(13, 1.2), 2, "a", "0" * 64, "test")])
    runs = [prepare_training_data(scale=2, patch_size=16, seed=4, hr=photos, pool=pool,
                                  val=0.3) for _ in range(2)]
    assert runs[0].dataset.count == 2 and len(runs[0].validation) == 1
    pair = runs[0].validation[0]
    assert pair.lr.shape == (20, 22, 3) and pair.hr.shape == (40, 44, 3)
    np.testing.assert_array_equal(pair.lr, runs[1].validation[0].lr)
    np.testing.assert_allclose(pair.lr, blur_downsample(pair.hr, gaussian_kernel(13, 1.2), 2),
                               atol=1e-5)


def test_pool_and_synthetic_mix_in_the_asked_share(tmp_path, rng):
    photos = tmp_path / "photos"
    for index in range(2):
        write_image(photos / f"{index}.png", rng.random((48, 48, 3)).astype(np.float32))
    from srkit.io.pool_writer import append_kernels
    from srkit.io.pools import KernelEntry

    pool = tmp_path / "pool.h5"
    kernel = gaussian_kernel(13, 1.2)
    append_kernels(pool, [KernelEntry(kernel, 2, "a", "0" * 64, "test")])
    data = prepare_training_data(scale=2, patch_size=16, seed=1, hr=photos, pool=pool,
                                 synthetic=True, pool_share=0.3)
    dataset = data.dataset
    assert "30% from the pool" in data.description
    from_pool = 0
    for index in range(200):  # a pool sample is exactly the crop of the blurred photo
        image, sample_rng = dataset.sample_source(index)
        part = dataset.part(sample_rng)
        lr, hr = part.make_pair(image, sample_rng)
        from_pool += part is dataset.pool_part
        if part is dataset.pool_part:
            expected = blur_downsample(to_float(hr), kernel, 2)
            np.testing.assert_allclose(lr[4:-4, 4:-4], expected[4:-4, 4:-4], atol=1e-5)
    assert 40 <= from_pool <= 80  # 60 expected; binomial sd 6.5
    again = prepare_training_data(scale=2, patch_size=16, seed=1, hr=photos, pool=pool,
                                  synthetic=True, pool_share=0.3).dataset
    for index in (0, 7, 33):
        np.testing.assert_array_equal(dataset[index][0].numpy(), again[index][0].numpy())
    with pytest.raises(SrkitError, match="between 0 and 1"):
        prepare_training_data(scale=2, patch_size=16, seed=1, hr=photos, pool=pool,
                              synthetic=True, pool_share=1.5)


def test_the_pool_share_default_is_one_number():
    """The CLI's --pool-share default, the library's and train_sr's are srkit.patches.POOL_SHARE
    (the CLI spells it out so that it starts without torch)."""
    import inspect

    from srkit.cli.train_sr import train_sr_cmd
    from srkit.patches import POOL_SHARE
    from srkit.stages.train_sr import train_sr

    assert 0.5 < POOL_SHARE < 1.0  # mostly the pool, some of the random pipeline
    for function in (train_sr_cmd, train_sr, prepare_training_data):
        assert inspect.signature(function).parameters["pool_share"].default == POOL_SHARE


def test_source_options_must_make_sense(tmp_path):
    with pytest.raises(SrkitError, match="either a pair folder or --hr"):
        prepare_training_data(scale=2, patch_size=16, seed=0)
    with pytest.raises(SrkitError, match="needs --pool POOL.h5, --synthetic or both"):
        prepare_training_data(scale=2, patch_size=16, seed=0, hr=tmp_path)
    with pytest.raises(SrkitError, match="not a multiple of the scale"):
        PairPatches([np.zeros((8, 8, 3), np.uint8)], [np.zeros((2, 2, 3), np.uint8)], 4, 6, 0)
