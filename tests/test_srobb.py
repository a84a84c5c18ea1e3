"""SROBB: region labels (derived and read), the targeted perceptual loss, the srobb recipe."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from srkit.data import RegionSource, prepare_training_data
from srkit.errors import SrkitError
from srkit.io.images import write_image
from srkit.losses import TargetedPerceptualLoss
from srkit.models.vgg import VGG19_LAYERS, VGG19FeatureExtractor
from srkit.ops.regions import (
    BACKGROUND,
    BOUNDARY,
    OBJECT,
    boundary_from_classes,
    derive_region_labels,
)
from srkit.stages.train_sr import train_sr
from srkit.training.recipes import RECIPES, VGG19_LAYER_NAMES, resolve_recipe
from srkit.training.state import load_state
from tests.interrupting import Killed, kill_at

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"arch": "compact", "arch_args": {"num_feat": 8, "num_conv": 2}, "batch_size": 2,
        "patch_size": 32, "workers": 0, "device": "cpu", "log_every": 2}
SMALL_D = {"discriminator": "patchgan", "discriminator_num_feat": 8}


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VGG19 file in torchvision's key format with random (He-initialised) weights."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, value in VGG19FeatureExtractor(["relu5_4"]).features.state_dict().items():
        scale = math.sqrt(2 / value[0].numel()) if key.endswith("weight") else 0.01
        state[f"features.{key}"] = torch.randn(value.shape, generator=generator) * scale
    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    return path


def _disc_on_texture(size: int = 128, radius: float = 30.0, seed: int = 0):
    """A smooth bright disc on a noisy dark texture, and each pixel's distance to the centre."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size]
    distance = np.hypot(rows - size / 2, cols - size / 2)
    grey = np.clip(0.3 + 0.08 * rng.standard_normal((size, size)), 0, 1)
    grey[distance < radius] = 0.8
    return np.repeat(grey[..., None], 3, axis=2).astype(np.float32), distance


def test_recipe_layer_names_are_vgg19s() -> None:
    assert VGG19_LAYER_NAMES == tuple(VGG19_LAYERS)


def test_derived_labels_partition_the_image_and_find_the_disc() -> None:
    image, distance = _disc_on_texture()
    labels = derive_region_labels(image)
    assert labels.shape == image.shape[:2] and labels.dtype == np.uint8
    masks = np.stack([labels == code for code in (BACKGROUND, OBJECT, BOUNDARY)])
    assert np.array_equal(masks.sum(axis=0), np.ones(labels.shape))  # exactly one label each
    assert np.all(labels[(distance > 28) & (distance < 32)] == BOUNDARY)  # the rim
    assert np.all(labels[distance < 24] == OBJECT)  # the smooth inside
    texture = labels[distance > 38]
    assert np.mean(texture == BACKGROUND) > 0.97 and not np.any(texture == OBJECT)
    boundary = distance[labels == BOUNDARY]
    assert np.mean((boundary > 24) & (boundary < 36)) > 0.95  # the boundary is the ring


def test_a_two_class_map_gets_its_boundary_from_the_object_edges() -> None:
    classes = np.zeros((20, 20), np.uint8)
    classes[5:15, 5:15] = OBJECT
    labels = boundary_from_classes(classes, 1)
    rows, cols = np.mgrid[:20, :20]
    # 4.5 on the object's rim, 5.5 on the background's side of it, each widened by 1 (a
    # disk: the band's corners stay rounded)
    inside = np.maximum(np.abs(rows - 9.5), np.abs(cols - 9.5))
    assert np.all(labels[(inside > 4) & (inside < 6)] == BOUNDARY)
    assert np.all(labels[(inside == 3.5) & (np.minimum(rows, cols) > 5)] == BOUNDARY)
    assert np.all(labels[inside < 3] == OBJECT) and np.all(labels[inside > 7] == BACKGROUND)


def test_targeted_loss_is_zero_for_identical_images_and_local_to_each_region(vgg_file):
    image, _ = _disc_on_texture(64, 15.0)
    labels = torch.from_numpy(derive_region_labels(image))[None, None]
    target = torch.from_numpy(image.transpose(2, 0, 1))[None]
    loss = TargetedPerceptualLoss(
        vgg_file, {"background": "relu4_3", "object": "conv5_4", "boundary": "relu2_2"},
        {"background": 1.0, "object": 1.0, "boundary": 1.0})
    assert all(value.item() == 0 for value in loss(target, target, labels).values())
    base = target + 0.05 * torch.randn(target.shape, generator=torch.Generator().manual_seed(1))
    before = loss(base, target, labels)
    assert all(value.item() > 0 for value in before.values())
    for code, name in ((BACKGROUND, "background"), (OBJECT, "object"), (BOUNDARY, "boundary")):
        region = (labels == code).float()
        changed = base + 0.2 * region * torch.rand(base.shape,
                                                   generator=torch.Generator().manual_seed(2))
        after = loss(changed, target, labels)
        for other, value in after.items():
            if other == name:
                assert value.item() != before[other].item(), name
            else:
                assert value.item() == before[other].item(), (name, other)
    only_boundary = TargetedPerceptualLoss(vgg_file, {"boundary": "relu2_2"}, {"boundary": 2.0})
    assert set(only_boundary(base, target, labels)) == {"boundary"}
    assert torch.allclose(only_boundary(base, target, labels)["boundary"],
                          2 * before["boundary"])


def _labelled_pairs(root: Path, scale: int = 2) -> Path:
    """A pair folder of random images whose label maps are their red value mod 3 (written
    as PNGs in ``root/labels``), so a sample's labels can be checked against its HR crop."""
    rng = np.random.default_rng(0)
    for name, (height, width) in (("a", (64, 48)), ("b", (40, 72))):
        hr = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
        write_image(root / "pairs" / "hr" / f"{name}.png", hr.astype(np.float32) / 255)
        lr = hr[::scale, ::scale].astype(np.float32) / 255
        write_image(root / "pairs" / "lr" / f"{name}.png", lr)
        (root / "labels").mkdir(exist_ok=True)
        Image.fromarray((hr[..., 0] % 3).astype(np.uint8), "L").save(root / "labels" /
                                                                      f"{name}.png")
    return root / "pairs"


def _check_labels_follow_crops(dataset, count: int = 24) -> None:
    """Every sample's labels are those of its own HR crop, whatever its flip/transpose (a
    shifted crop or another symmetry would break the red-value rule)."""
    for index in range(count):
        _, gt, labels = dataset[index]
        assert labels.shape == (1, *gt.shape[1:]) and labels.dtype == torch.uint8
        expected = (torch.round(gt[0] * 255).to(torch.int64) % 3).to(torch.uint8)
        assert torch.equal(labels[0], expected), index


def test_labels_read_from_disk_follow_the_hr_crop_under_flips(tmp_path) -> None:
    pairs = _labelled_pairs(tmp_path)
    data = prepare_training_data(scale=2, patch_size=16, seed=0, pairs=pairs,
                                 regions=RegionSource(folder=tmp_path / "labels"))
    _check_labels_follow_crops(data.dataset)
    assert "region labels from" in data.description
    # the pairs of a labelled run are those of the same run without labels
    plain = prepare_training_data(scale=2, patch_size=16, seed=0, pairs=pairs)
    for index in range(6):
        with_labels, without = data.dataset[index], plain.dataset[index]
        assert torch.equal(with_labels[0], without[0]) and torch.equal(with_labels[1],
                                                                       without[1])


def test_labels_follow_the_crops_of_hr_photos_degraded_on_the_fly(tmp_path) -> None:
    pairs = _labelled_pairs(tmp_path)
    data = prepare_training_data(scale=2, patch_size=16, seed=0, hr=pairs / "hr",
                                 synthetic=True, regions=RegionSource(tmp_path / "labels"))
    _check_labels_follow_crops(data.dataset, count=8)
    derived = prepare_training_data(scale=2, patch_size=16, seed=0, pairs=pairs,
                                    regions=RegionSource())
    assert "derived from the HR images" in derived.description
    for label_map, hr in zip(derived.dataset.region_labels, derived.dataset.hr_images,
                             strict=True):
        assert label_map.shape == hr.shape[:2] and set(np.unique(label_map)) <= {0, 1, 2}


def test_samples_that_cannot_carry_labels_refuse_them() -> None:
    from srkit.patches import BlindPatches

    blind = BlindPatches([np.zeros((32, 32, 3), np.uint8)], 16, seed=0)
    with pytest.raises(SrkitError, match="BlindPatches samples cannot carry region labels"):
        blind.attach_region_labels([np.zeros((32, 32), np.uint8)])


@pytest.mark.parametrize("damage, message", [
    ("missing", "no label map b.png for the HR image b"),
    ("size", "the label map is 10×10, its HR image 72×40"),
    ("values", "label values must be 0 (background), 1 (object) or 2 (boundary); found 7"),
    ("rgb", "a label map must have one channel"),
    ("folder", "no such folder"),
])
def test_a_bad_label_folder_is_one_error_line(tmp_path, vgg_file, run_main, damage,
                                              message):
    pairs = _labelled_pairs(tmp_path)
    labels = tmp_path / "labels"
    broken = labels / "b.png"
    if damage == "missing":
        broken.unlink()
    elif damage == "size":
        Image.fromarray(np.zeros((10, 10), np.uint8), "L").save(broken)
    elif damage == "values":
        Image.fromarray(np.full((40, 72), 7, np.uint8), "L").save(broken)
    elif damage == "rgb":
        Image.fromarray(np.zeros((40, 72, 3), np.uint8), "RGB").save(broken)
    else:
        labels = tmp_path / "nowhere"
    code, stderr = run_main(
        ["train-sr", str(pairs), "-o", str(tmp_path / "m.safetensors"), "-x", "2",
         "--recipe", "srobb", "--set", "discriminator=patchgan", "--patch-size", "16",
         "--iters", "1", "--device", "cpu", "--workers", "0", "--vgg-weights", str(vgg_file),
         "--region-labels", str(labels), "-q"])
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, stderr
    assert lines[0].startswith("error:") and message in lines[0]


def test_srobb_without_vgg_weights_says_what_to_do(tmp_path, monkeypatch) -> None:
    pairs = _labelled_pairs(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(SrkitError) as error:
        train_sr(pairs, tmp_path / "m.safetensors", 2, **TINY, recipe="srobb", iters=1,
                 overrides=SMALL_D)
    message = str(error.value)
    assert "targeted perceptual loss needs VGG19 weights" in message
    assert str(tmp_path / "torch_home") in message and "--vgg-weights" in message


def test_region_settings_belong_to_the_image_recipes(tmp_path, vgg_file) -> None:
    srobb = RECIPES["srobb"]
    assert (srobb.pixel_loss, srobb.pixel_weight, srobb.gan_kind, srobb.gan_weight) == (
        "l2", 1.0, "vanilla", 1e-3)
    assert (srobb.boundary_layer, srobb.background_layer) == ("relu2_2", "relu4_3")
    assert srobb.uses_regions and not srobb.uses_perceptual and srobb.object_weight == 0
    assert resolve_recipe("esrgan", overrides={"object_weight": 0.1}).uses_regions
    with pytest.raises(SrkitError, match="not to dasr"):
        resolve_recipe("dasr", overrides={"boundary_weight": 1.0})
    with pytest.raises(SrkitError, match="boundary_layer must be one of"):
        resolve_recipe("srobb", overrides={"boundary_layer": "relu9_9"})
    with pytest.raises(SrkitError, match="background_weight must be 0 or more"):
        resolve_recipe("srobb", overrides={"background_weight": -1.0})
    pairs = _labelled_pairs(tmp_path)
    with pytest.raises(SrkitError, match="--region-labels feeds the targeted"):
        train_sr(pairs, tmp_path / "m.safetensors", 2, **TINY, iters=1,
                 region_labels=tmp_path / "labels")


@pytest.mark.slow
def test_srobb_trains_logs_its_region_terms_and_resumes_bit_for_bit(tmp_path, vgg_file):
    pairs = _labelled_pairs(tmp_path)
    args = {**TINY, "recipe": "srobb", "overrides": {**SMALL_D, "object_weight": 0.006},
            "iters": 8, "seed": 3, "save_every": 3, "vgg_weights": vgg_file}
    straight = train_sr(pairs, tmp_path / "straight.safetensors", 2, **args)
    assert straight.recipe.name == "srobb"

    with pytest.raises(Killed):
        train_sr(pairs, tmp_path / "killed.safetensors", 2, **args, callback=kill_at(5))
    assert load_state(tmp_path / "killed.resume.pt")["iteration"] == 3
    resumed = train_sr(pairs, tmp_path / "killed.safetensors", 2, **args, resume=True)
    assert (resumed.start_iteration, resumed.iterations) == (3, 8)
    expected, got = load_file(straight.output), load_file(resumed.output)
    assert all(torch.equal(expected[key], got[key]) for key in expected)
    state_a = load_state(tmp_path / "straight.resume.pt")["trainer"]
    state_b = load_state(tmp_path / "killed.resume.pt")["trainer"]
    for key, value in state_a["discriminator"].items():
        assert torch.equal(value, state_b["discriminator"][key]), key
    with open(tmp_path / "straight.train.csv") as handle:
        rows = list(csv.DictReader(handle))
    with open(tmp_path / "killed.train.csv") as handle:
        resumed_rows = list(csv.DictReader(handle))
    assert [int(row["iteration"]) for row in resumed_rows] == [2, 4, 6, 8]
    # labels derived from random noise: texture (background) with edge speckles (boundary),
    # no smooth object
    assert all(float(row["loss_background"]) > 0 and float(row["loss_boundary"]) > 0
               and float(row["loss_object"]) == 0 for row in rows)
    for column in ("loss_boundary", "loss_background", "loss_object"):
        # the rows of whole intervals after the resumption (6, 8) are the same
        assert [row[column] for row in rows[2:]] == [row[column] for row in resumed_rows[2:]]
    # the folder's labels (a third of each class) are used instead of the derived ones
    from_folder = train_sr(pairs, tmp_path / "folder.safetensors", 2,
                           **{**args, "iters": 2}, region_labels=tmp_path / "labels")
    assert "region labels from" in from_folder.data
    with open(tmp_path / "folder.train.csv") as handle:
        folder_row = next(csv.DictReader(handle))
    assert float(folder_row["loss_object"]) > 0
