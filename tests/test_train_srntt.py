"""train-sr --recipe srntt: reference pairs, the texture loss, WGAN-GP, resume, bad inputs."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy.ndimage import gaussian_filter

from srkit.errors import SrkitError
from srkit.io.images import write_image
from srkit.models import build_model
from srkit.models.vgg import VGG19FeatureExtractor
from srkit.ops.resize import imresize
from srkit.patches_ref import ReferencePairPatches
from srkit.stages.train_sr import train_sr
from srkit.training.recipes import RECIPES, resolve_recipe
from srkit.training.srntt import gram_matrix, texture_loss
from srkit.training.state import load_state
from tests.interrupting import Killed, kill_at

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Torchvision's VGG19 key layout with random (He-initialised) weights."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, value in VGG19FeatureExtractor(["relu5_1"]).features.state_dict().items():
        scale = math.sqrt(2 / value[0].numel()) if key.endswith("weight") else 0.01
        state[f"features.{key}"] = torch.randn(value.shape, generator=generator) * scale
    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    return path


def _data(root: Path) -> tuple[Path, Path]:
    """A pair folder (×4) and a reference folder: each reference is its HR shifted."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        photo = gaussian_filter(rng.random((72, 72, 3)), (1, 1, 0)).astype(np.float32)
        hr = photo[:64, :48]
        write_image(root / "pairs" / "hr" / f"{name}.png", hr)
        write_image(root / "pairs" / "lr" / f"{name}.png",
                    np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32))
        write_image(root / "refs" / f"{name}.png", photo[8:, 8:])
    return root / "pairs", root / "refs"


TINY = {"arch_args": {"num_feat": 8, "num_block": 1}, "batch_size": 2, "patch_size": 32,
        "workers": 0, "device": "cpu", "log_every": 2}
SMALL_D = {"discriminator_num_feat": 8, "discriminator_num_layers": 2, "gan_weight": 0.01}


def test_srntt_recipe_is_the_papers() -> None:
    recipe = RECIPES["srntt"]
    assert (recipe.pixel_loss, recipe.pixel_weight, recipe.perceptual_layer,
            recipe.perceptual_criterion, recipe.perceptual_weight, recipe.texture_weight,
            recipe.gan_kind, recipe.gan_weight, recipe.gradient_penalty_weight) == (
        "l1", 1.0, "relu5_1", "l2", 1e-4, 1e-4, "wgan-gp", 1e-6, 10.0)
    assert (recipe.batch_size, recipe.patch_size, recipe.learning_rate) == (9, 160, 1e-4)
    with pytest.raises(SrkitError, match="texture_weight is a loss of the srntt recipe"):
        resolve_recipe("esrgan", overrides={"texture_weight": 1.0})
    with pytest.raises(SrkitError, match="wgan-gp is implemented by the srntt recipe"):
        resolve_recipe("esrgan", overrides={"gan_kind": "wgan-gp"})


def test_texture_loss_is_the_score_weighted_gram_distance() -> None:
    generator = torch.Generator().manual_seed(0)
    shapes = {"relu3_1": (2, 4, 3, 3), "relu2_1": (2, 3, 6, 6), "relu1_1": (2, 2, 12, 12)}
    sr = {k: torch.rand(s, generator=generator) for k, s in shapes.items()}
    maps = {k: torch.rand(s, generator=generator) for k, s in shapes.items()}
    scores = torch.rand(2, 1, 3, 3, generator=generator)
    expected = 0.0
    for layer, factor in (("relu3_1", 1), ("relu2_1", 2), ("relu1_1", 4)):
        weight = scores.repeat_interleave(factor, 2).repeat_interleave(factor, 3)
        a, b = (sr[layer] * weight).flatten(2), (maps[layer] * weight).flatten(2)
        difference = a @ a.transpose(1, 2) - b @ b.transpose(1, 2)
        channels, positions = shapes[layer][1], shapes[layer][2] * shapes[layer][3]
        expected += float(difference.square().mean()) / (4 * (channels * positions) ** 2) / 3
    assert float(texture_loss(sr, maps, scores)) == pytest.approx(expected, rel=1e-5)
    assert float(texture_loss(maps, maps, scores)) == 0.0
    assert torch.equal(gram_matrix(torch.ones(1, 2, 2, 2)), torch.full((1, 2, 2), 4.0))


def test_reference_crops_follow_the_hr_crop() -> None:
    rng = np.random.default_rng(0)
    hr = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    lr = hr[::4, ::4]
    dataset = ReferencePairPatches([hr], [lr], [hr.copy()], 4, 16, seed=0, augment=False)
    for index in range(4):
        _, gt, ref = dataset[index]
        assert torch.equal(gt, ref)  # the reference is the HR itself: the same crop
    with pytest.raises(SrkitError, match="smaller than the 16×16 patch"):
        ReferencePairPatches([hr], [lr], [hr[:10]], 4, 16, seed=0)


@pytest.mark.slow
def test_srntt_trains_logs_its_terms_and_resumes_bit_for_bit(tmp_path, vgg_file) -> None:
    pairs, refs = _data(tmp_path)
    args = {**TINY, "recipe": "srntt", "overrides": SMALL_D, "iters": 6, "seed": 3,
            "save_every": 2, "ref_dir": refs, "vgg_weights": vgg_file}
    straight = train_sr(pairs, tmp_path / "straight.safetensors", 4, **args)
    assert straight.arch == "srntt" and straight.recipe.name == "srntt"

    with pytest.raises(Killed):
        train_sr(pairs, tmp_path / "killed.safetensors", 4, **args, callback=kill_at(3))
    assert load_state(tmp_path / "killed.resume.pt")["iteration"] == 2
    resumed = train_sr(pairs, tmp_path / "killed.safetensors", 4, **args, resume=True)
    expected, got = load_file(straight.output), load_file(resumed.output)
    assert all(torch.equal(expected[key], got[key]) for key in expected)
    # the model file carries the VGG it matched with: the user's weights
    vgg = torch.load(vgg_file, weights_only=True)
    assert torch.equal(got["vgg.features.0.weight"], vgg["features.0.weight"])
    with open(tmp_path / "straight.train.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert all(float(row["loss_texture"]) > 0 and float(row["loss_content"]) > 0
               for row in rows)
    assert all(row["loss_discriminator"] != "" for row in rows)
    network = build_model("srntt", num_feat=8, num_block=1)
    network.load_state_dict(got)
    assert network(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_srntt_bad_inputs_are_one_line_errors(tmp_path, vgg_file, monkeypatch) -> None:
    pairs, refs = _data(tmp_path)
    out = tmp_path / "m.safetensors"
    base = {**TINY, "iters": 1, "vgg_weights": vgg_file}
    with pytest.raises(SrkitError, match="needs --ref-dir DIR"):
        train_sr(pairs, out, 4, **base, recipe="srntt")
    with pytest.raises(SrkitError, match="the psnr recipe takes none"):
        train_sr(pairs, out, 4, **{**base, "arch_args": None}, ref_dir=refs)
    with pytest.raises(SrkitError, match="--arch srntt, not compact"):
        train_sr(pairs, out, 4, **{**base, "arch_args": None}, recipe="srntt", arch="compact",
                 ref_dir=refs)
    (refs / "b.png").unlink()
    with pytest.raises(SrkitError, match="no reference for b"):
        train_sr(pairs, out, 4, **base, recipe="srntt", ref_dir=refs)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    command = [sys.executable, "-m", "srkit", "train-sr", str(pairs), "-o", str(out),
               "--recipe", "srntt", "--ref-dir", str(refs), "--iters", "1"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "texture swap matches on VGG19 features" in result.stderr
    assert not out.exists()
