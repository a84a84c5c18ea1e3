"""RankSRGAN: rank data, the ranker and its training, the ranksrgan recipe."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy.ndimage import gaussian_filter

from srkit.errors import SrkitError
from srkit.io.images import read_image, write_image
from srkit.io.rank_data import RankDataWriter, read_rank_data
from srkit.io.ranker_files import load_ranker, save_ranker
from srkit.metrics import niqe
from srkit.models.ranker import Ranker
from srkit.ops.resize import imresize
from srkit.stages.rank_data import rank_data
from srkit.stages.train_ranker import settings_with, train_ranker
from srkit.stages.train_sr import train_sr
from srkit.training.ranker import pair_accuracy
from srkit.training.ranksrgan import rank_content_loss
from srkit.training.recipes import RECIPES, resolve_recipe
from srkit.training.state import load_state
from tests.interrupting import Killed, kill_at

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BLURS = (0.0, 1.5, 3.0)


def _blur_rank_data(folder: Path, photos: dict[str, np.ndarray]) -> Path:
    """Crops of each photo at three blur levels, scored by NIQE: the labels are NIQE's own
    (blur raises NIQE for most crops, so the task is learnable but not trivial)."""
    writer = RankDataWriter(folder)
    for name, photo in photos.items():
        crops = []
        for top in range(0, photo.shape[0] - 192 + 1, 96):
            for left in range(0, photo.shape[1] - 192 + 1, 192):
                crop = photo[top:top + 192, left:left + 192]
                images = {}
                for sigma in BLURS:
                    blurred = gaussian_filter(crop, (sigma, sigma, 0)) if sigma else crop
                    blurred = (np.round(np.clip(blurred, 0, 1) * 255) / 255).astype(np.float32)
                    images[f"blur{sigma}"] = (blurred, niqe(blurred))
                crops.append((f"{name}_{top}_{left}", images))
        writer.add_source(name, crops)
    return folder


@pytest.fixture(scope="module")
def blur_data(tmp_path_factory) -> Path:
    from skimage import data

    photos = {name: getattr(data, name)().astype(np.float32) / 255
              for name in ("astronaut", "coffee", "chelsea", "rocket")}
    return _blur_rank_data(tmp_path_factory.mktemp("rank") / "rd", photos)


def test_ranker_scores_any_size_with_one_set_of_weights() -> None:
    torch.manual_seed(0)
    ranker = Ranker(num_feat=4).eval()
    x = torch.rand(3, 3, 64, 80)
    scores = ranker(x)
    assert scores.shape == (3, 1)
    # a Siamese pair is one network: scoring the images alone gives the batch's scores
    alone = torch.cat([ranker(x[i:i + 1]) for i in range(3)])
    assert torch.allclose(scores, alone, atol=1e-6)
    assert ranker(torch.rand(1, 3, 296, 296)).shape == (1, 1)
    with pytest.raises(ValueError, match="at least 32"):
        ranker(torch.rand(1, 3, 16, 64))


def test_pair_accuracy_counts_pairs_apart_in_niqe() -> None:
    # crop 1: scores order NIQE (3 pairs right); crop 2: one pair wrong, one within the gap
    accuracy, pairs = pair_accuracy([[0.1, 0.5, 0.9], [1.0, 0.0, 0.3]],
                                    [[3.0, 4.0, 5.0], [4.0, 6.0, 6.05]], min_gap=0.1)
    assert pairs == 5 and accuracy == pytest.approx(3 / 5)
    assert np.isnan(pair_accuracy([[0.0, 1.0]], [[1.0, 1.05]], 0.1)[0])


def test_rank_data_folder_round_trip_and_ranks(tmp_path) -> None:
    writer = RankDataWriter(tmp_path / "rd")
    grey = np.full((40, 40, 3), 0.5, np.float32)
    writer.add_source("p", [("p_0", {"a": (grey, 5.0), "b": (grey, 3.0), "c": (grey, 4.0)})])
    with open(tmp_path / "rd" / "scores.csv") as handle:
        ranks = {row["method"]: int(row["rank"]) for row in csv.DictReader(handle)}
    assert ranks == {"b": 1, "c": 2, "a": 3}
    crops = read_rank_data(tmp_path / "rd")
    assert [(e.method, e.niqe) for e in crops[0].entries] == [("a", 5.0), ("b", 3.0),
                                                              ("c", 4.0)]
    assert RankDataWriter(tmp_path / "rd").done_sources == {"p"}
    (tmp_path / "rd" / "images" / "p_0__b.png").unlink()
    with pytest.raises(SrkitError, match="no such image images/p_0__b.png"):
        read_rank_data(tmp_path / "rd")


def test_rank_data_scores_methods_and_resumes_per_photo(tmp_path, astronaut, coffee) -> None:
    photos = tmp_path / "photos"
    write_image(photos / "a.png", astronaut[:200, :392])
    write_image(photos / "b.png", coffee[:200, :200])
    args = {"methods": ["bicubic", "hr"], "scale": 4, "crop_size": 192, "device": "cpu"}
    first = rank_data(photos, tmp_path / "rd", **args)
    assert (first.photos, first.crops) == (2, 4)  # a: left 0, 96, 192 (stride 96); b: one
    crops = {crop.crop: crop for crop in read_rank_data(tmp_path / "rd")}
    assert sorted(crops) == ["a_0000", "a_0001", "a_0002", "b_0000"]
    hr_photo = read_image(photos / "a.png").rgb
    whole = np.clip(imresize(np.clip(imresize(hr_photo, 1 / 4), 0, 1), 4), 0, 1)
    for index, left in enumerate((0, 96, 192)):
        by_method = {e.method: e for e in crops[f"a_{index:04d}"].entries}
        hr, bicubic = (read_image(by_method[m].path).rgb for m in ("hr", "bicubic"))
        assert np.array_equal(hr, hr_photo[:192, left:left + 192])
        # 16 LR pixels of context: the crop is the whole photo's bicubic upscaling, cut
        assert np.abs(bicubic - whole[:192, left:left + 192]).max() <= 1 / 255 + 1e-6
        assert by_method["bicubic"].niqe == pytest.approx(niqe(bicubic), abs=1e-5)
    again = rank_data(photos, tmp_path / "rd", **args)
    assert (again.photos, again.photos_skipped) == (0, 2)
    with pytest.raises(SrkitError, match="other settings"):
        rank_data(photos, tmp_path / "rd", **{**args, "methods": ["bicubic", "lanczos"]})
    with pytest.raises(SrkitError, match="at least 192"):
        rank_data(photos, tmp_path / "rd2", **{**args, "crop_size": 96})


@pytest.mark.slow
def test_ranker_orders_niqe_ranked_pairs_of_held_out_photos(tmp_path, blur_data) -> None:
    """Trained 150 iterations on three photos' blur levels, the ranker orders the NIQE-ranked
    pairs of the fourth photo's crops at least 75 % right (chance: 50 %)."""
    settings = settings_with(iters=150, batch_size=8)
    result = train_ranker(blur_data, tmp_path / "r.safetensors", settings=settings,
                          num_feat=8, patch_size=96, val_fraction=0.25, seed=0, device="cpu",
                          val_every=150, save_every=150, log_every=50)
    assert result.val_photos and result.val_pairs >= 20
    assert result.val_accuracy >= 0.75
    ranker, meta = load_ranker(result.output)
    assert float(meta["val_accuracy"]) == pytest.approx(result.val_accuracy, abs=1e-6)
    assert meta["srkit_ranker_sign"] == "higher-is-worse"


def test_train_ranker_resumes_bit_for_bit(tmp_path, blur_data) -> None:
    args = {"settings": settings_with(iters=6, batch_size=2), "num_feat": 4, "patch_size": 64,
            "val_fraction": 0.25, "device": "cpu", "save_every": 3, "log_every": 2,
            "val_every": 3}
    straight = train_ranker(blur_data, tmp_path / "a.safetensors", **args)

    with pytest.raises(Killed):
        train_ranker(blur_data, tmp_path / "b.safetensors", **args, callback=kill_at(5))
    assert load_state(tmp_path / "b.resume.pt")["iteration"] == 3
    resumed = train_ranker(blur_data, tmp_path / "b.safetensors", **args, resume=True)
    assert resumed.iterations == 6
    expected, got = load_file(straight.output), load_file(resumed.output)
    assert all(torch.equal(expected[key], got[key]) for key in expected)
    assert resumed.val_accuracy == straight.val_accuracy
    with pytest.raises(SrkitError, match="different patch_size"):
        train_ranker(blur_data, tmp_path / "b.safetensors", **{**args, "patch_size": 96},
                     resume=True)
    with pytest.raises(SrkitError, match="already exists"):
        train_ranker(blur_data, tmp_path / "a.safetensors", **args)


def test_ranker_cli_errors_are_one_line(tmp_path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "srkit", *args], capture_output=True,
                              text=True)

    missing = run("train-ranker", str(tmp_path / "none"), "-o", str(tmp_path / "r.safetensors"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().count("\n") == 0 and "no such rank-data folder" in missing.stderr
    small = run("rank-data", str(tmp_path), "-o", str(tmp_path / "rd"), "--crop-size", "64")
    assert small.returncode == 2 and small.stderr.startswith("error:")


def _pairs(root: Path, scale: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for name, (height, width) in (("a", (64, 48)), ("b", (40, 72))):
        hr = gaussian_filter(rng.random((height, width, 3)), (1, 1, 0)).astype(np.float32)
        write_image(root / "pairs" / "hr" / f"{name}.png", hr)
        write_image(root / "pairs" / "lr" / f"{name}.png", hr[::scale, ::scale])
    return root / "pairs"


@pytest.fixture
def tiny_ranker(tmp_path) -> Path:
    torch.manual_seed(1)
    ranker = Ranker(num_feat=4)
    return save_ranker(tmp_path / "ranker.safetensors", ranker,
                       {"in_channels": 3, "num_feat": 4}, {})


TINY = {"arch": "compact", "arch_args": {"num_feat": 8, "num_conv": 2}, "batch_size": 2,
        "patch_size": 32, "workers": 0, "device": "cpu", "log_every": 2}
SMALL_D = {"discriminator": "patchgan", "discriminator_num_feat": 8, "perceptual_weight": 0.0}


def test_ranksrgan_recipe_is_the_papers_and_refuses_what_it_cannot_use(tmp_path, tiny_ranker,
                                                                       monkeypatch) -> None:
    recipe = RECIPES["ranksrgan"]
    assert (recipe.pixel_weight, recipe.perceptual_weight, recipe.perceptual_layer,
            recipe.perceptual_criterion, recipe.gan_kind, recipe.gan_weight,
            recipe.rank_weight) == (0.0, 1.0, "conv5_4", "l1", "vanilla", 5e-3, 0.03)
    assert (recipe.batch_size, recipe.patch_size, recipe.adam_beta2) == (8, 296, 0.99)
    assert recipe.milestone_iterations() == [50_000, 100_000, 200_000, 300_000]
    with pytest.raises(SrkitError, match="not to dasr"):
        resolve_recipe("dasr", overrides={"rank_weight": 0.1})
    pairs = _pairs(tmp_path)
    with pytest.raises(SrkitError, match="needs a ranker: pass --ranker"):
        train_sr(pairs, tmp_path / "m.safetensors", 2, **TINY, recipe="ranksrgan",
                 overrides=SMALL_D, iters=1)
    with pytest.raises(SrkitError, match="--ranker feeds the rank-content loss"):
        train_sr(pairs, tmp_path / "m.safetensors", 2, **TINY, iters=1, ranker=tiny_ranker)
    model = tmp_path / "m.safetensors"
    train_sr(pairs, model, 2, **TINY, iters=1)
    with pytest.raises(SrkitError, match="not a ranker file"):
        train_sr(pairs, tmp_path / "n.safetensors", 2, **TINY, recipe="ranksrgan",
                 overrides=SMALL_D, iters=1, ranker=model)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(SrkitError, match="perceptual loss needs VGG19 weights"):
        train_sr(pairs, tmp_path / "n.safetensors", 2, **TINY, recipe="ranksrgan",
                 overrides={"discriminator": "patchgan"}, iters=1, ranker=tiny_ranker)


def test_rank_content_loss_is_the_weighted_sigmoid_sum_and_trains_the_generator_only():
    torch.manual_seed(0)
    ranker = Ranker(num_feat=4).eval().requires_grad_(False)
    sr = torch.rand(3, 3, 40, 40, requires_grad=True)
    loss = rank_content_loss(ranker, sr, 0.03, 0.2)
    expected = 0.03 * torch.sigmoid(ranker(sr) - 0.2).sum()
    assert torch.allclose(loss, expected)
    loss.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in ranker.parameters())


def test_ranksrgan_trains_logs_its_rank_term_and_resumes_bit_for_bit(tmp_path, tiny_ranker):
    pairs = _pairs(tmp_path)
    args = {**TINY, "recipe": "ranksrgan", "overrides": SMALL_D, "iters": 8, "seed": 3,
            "save_every": 3, "ranker": tiny_ranker}
    straight = train_sr(pairs, tmp_path / "straight.safetensors", 2, **args)
    assert straight.recipe.name == "ranksrgan" and straight.arch == "compact"

    with pytest.raises(Killed):
        train_sr(pairs, tmp_path / "killed.safetensors", 2, **args, callback=kill_at(5))
    assert load_state(tmp_path / "killed.resume.pt")["iteration"] == 3
    resumed = train_sr(pairs, tmp_path / "killed.safetensors", 2, **args, resume=True)
    expected, got = load_file(straight.output), load_file(resumed.output)
    assert all(torch.equal(expected[key], got[key]) for key in expected)
    with open(tmp_path / "straight.train.csv") as handle:
        rows = list(csv.DictReader(handle))
    with open(tmp_path / "killed.train.csv") as handle:
        resumed_rows = list(csv.DictReader(handle))
    # the rank term of the whole batch: 0.03 × Σ sigmoid(·) lies in (0, 0.03 · batch)
    assert all(0 < float(row["loss_rank"]) < 0.03 * 2 for row in rows)
    assert float(rows[0]["loss_pixel"]) == 0  # the pixel loss is off (weight 0)
    assert [row["loss_rank"] for row in rows[2:]] == [row["loss_rank"] for row in
                                                      resumed_rows[2:]]
    other = save_ranker(tmp_path / "other.safetensors", Ranker(num_feat=4),
                        {"in_channels": 3, "num_feat": 4}, {})
    with pytest.raises(SrkitError, match="different ranker"):
        train_sr(pairs, tmp_path / "killed.safetensors", 2,
                 **{**args, "ranker": other, "iters": 10}, resume=True)
    meta = json.loads(json.dumps(load_ranker(tiny_ranker)[1]))
    assert meta["srkit_arch"] == "ranker"
