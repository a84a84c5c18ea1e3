"""train-sr --recipe crossnet: the paper's objective, CLI → upscale --ref, resume, bad inputs,
and a shifted reference that a short run learns to use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy.ndimage import gaussian_filter
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.checkpoints import load_model
from srkit.io.images import read_image, write_image
from srkit.metrics import psnr
from srkit.models import build_model
from srkit.ops.resize import imresize
from srkit.patches_ref import ReferencePairPatches
from srkit.stages.train_sr import train_sr
from srkit.training.crossnet import CrossNetTrainer
from srkit.training.recipes import RECIPES, resolve_recipe
from srkit.training.state import load_state
from tests.interrupting import Killed, kill_at

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = {"arch_args": {"num_feat": 4, "flow_feat": 2}, "batch_size": 2, "patch_size": 32,
        "workers": 0, "device": "cpu", "log_every": 2}
SHIFT = 3  # HR pixels between each HR image and its reference


def _lr(hr: np.ndarray) -> np.ndarray:
    return np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32)


def _texture(rng: np.random.Generator, side: int) -> np.ndarray:
    """Fine texture (blurred noise, σ 1 HR pixel) that ×1/4 bicubic mostly removes."""
    photo = gaussian_filter(rng.random((side, side, 3)), (1, 1, 0))
    photo = (photo - photo.mean()) / photo.std() * 0.15 + 0.5
    return np.clip(photo, 0, 1).astype(np.float32)


def _shifted_views(rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray]:
    """An HR image and its reference: the same scene seen ``SHIFT`` pixels down and right
    (an overlapping crop, like a neighbouring light-field view)."""
    photo = _texture(rng, side + 2 * SHIFT)
    return photo[:side, :side], photo[SHIFT:SHIFT + side, SHIFT:SHIFT + side]


def _data(root: Path, count: int = 2, seed: int = 0, side: int = 48) -> tuple[Path, Path]:
    """A ×4 pair folder and its reference folder (``refs/STEM.png``)."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        hr, ref = _shifted_views(rng, side)
        write_image(root / "pairs" / "hr" / f"p{index}.png", hr)
        write_image(root / "pairs" / "lr" / f"p{index}.png", _lr(hr))
        write_image(root / "refs" / f"p{index}.png", ref)
    return root / "pairs", root / "refs"


def test_crossnet_recipe_is_the_papers() -> None:
    recipe = RECIPES["crossnet"]
    assert (recipe.pixel_loss, recipe.pixel_weight, recipe.perceptual_weight,
            recipe.gan_weight) == ("charbonnier", 1.0, 0.0, 0.0)
    assert (recipe.learning_rate, recipe.adam_beta1, recipe.adam_beta2) == (1e-4, 0.9, 0.999)
    assert (recipe.iters, recipe.lr_milestones, recipe.lr_gamma) == (200_000, (0.75,), 0.1)
    assert recipe.milestone_iterations() == [150_000]  # 1e-4 → 1e-5 after 150k (§4.2)
    assert recipe.batch_size == 2 and recipe.is_reference_based
    # ρ(x) = sqrt(x² + 0.001²), averaged over the pixels
    trainer = CrossNetTrainer(build_model("crossnet", num_feat=4, flow_feat=2), recipe,
                              torch.device("cpu"))
    sr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    expected = torch.sqrt((sr - hr).square() + 1e-6).mean()
    assert torch.allclose(trainer.pixel_loss(sr, hr), expected)
    with pytest.raises(SrkitError, match="texture_weight is a loss of the srntt recipe"):
        resolve_recipe("crossnet", overrides={"texture_weight": 1.0})
    with pytest.raises(SrkitError, match="rank-content loss"):
        resolve_recipe("crossnet", overrides={"rank_weight": 0.1})
    with pytest.raises(SrkitError, match="trains a reference-based network"):
        CrossNetTrainer(build_model("compact", num_feat=4, num_conv=1, upscale=4), recipe,
                        torch.device("cpu"))


def test_crossnet_references_are_cropped_at_the_hr_size() -> None:
    """A reference twice the HR's size is resized to it first (as CrossNet resizes it at
    upscaling), so its crop shows the HR crop's region; unresized it would not."""
    rng = np.random.default_rng(0)
    hr = (gaussian_filter(rng.random((64, 64, 3)), (2, 2, 0)) * 255).astype(np.uint8)
    big = hr.repeat(2, axis=0).repeat(2, axis=1)
    common = {"scale": 4, "patch_size": 16, "seed": 0, "augment": False}
    sized = ReferencePairPatches([hr], [hr[::4, ::4]], [big], hr_sized=True, **common)
    plain = ReferencePairPatches([hr], [hr[::4, ::4]], [big], **common)
    for index in range(3):
        _, gt, ref = sized[index]
        assert ref.shape == gt.shape and float((ref - gt).abs().mean()) < 0.01
        _, gt, ref = plain[index]
        assert float((ref - gt).abs().mean()) > 0.02


def test_the_cli_trains_a_model_that_upscale_ref_runs(tmp_path) -> None:
    pairs, refs = _data(tmp_path)
    model = tmp_path / "crossnet.safetensors"
    runner = CliRunner()
    result = runner.invoke(app, [
        "train-sr", str(pairs), "--recipe", "crossnet", "--ref-dir", str(refs), "-o",
        str(model), "--iters", "2", "--batch-size", "2", "--patch-size", "32", "--arch-arg",
        "num_feat=4", "--arch-arg", "flow_feat=2", "--workers", "0", "--device", "cpu",
        "--val", "0.5", "-q"])
    assert result.exit_code == 0, result.output
    loaded = load_model(model, torch.device("cpu"))
    assert loaded.arch == "crossnet" and loaded.scale == 4  # --arch crossnet by default
    assert loaded.metadata["recipe"] == "crossnet"
    out = tmp_path / "sr.png"
    result = runner.invoke(app, ["upscale", str(pairs / "lr" / "p0.png"), "--ref",
                                 str(refs / "p0.png"), "--model", str(model), "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = read_image(out).rgb
    lr_img, ref = read_image(pairs / "lr" / "p0.png").rgb, read_image(refs / "p0.png").rgb
    with torch.no_grad():
        expected = loaded.model(torch.from_numpy(lr_img.transpose(2, 0, 1))[None],
                                torch.from_numpy(ref.transpose(2, 0, 1))[None])
    expected = expected.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert written.shape == (48, 48, 3)
    assert np.abs(written - expected).max() <= 0.5 / 255 + 1e-6


def test_crossnet_training_resumes_bit_for_bit(tmp_path) -> None:
    pairs, refs = _data(tmp_path)
    args = {**TINY, "recipe": "crossnet", "iters": 6, "seed": 3, "save_every": 2,
            "ref_dir": refs, "val": 0.5}
    straight = train_sr(pairs, tmp_path / "straight.safetensors", 4, **args)
    assert straight.arch == "crossnet" and straight.val_psnr_y is not None

    with pytest.raises(Killed):
        train_sr(pairs, tmp_path / "killed.safetensors", 4, **args, callback=kill_at(3))
    assert load_state(tmp_path / "killed.resume.pt")["iteration"] == 2
    resumed = train_sr(pairs, tmp_path / "killed.safetensors", 4, **args, resume=True)
    expected, got = load_file(straight.output), load_file(resumed.output)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[key], got[key]) for key in expected)
    assert resumed.val_psnr_y == straight.val_psnr_y


def test_crossnet_bad_inputs_are_one_line_errors(tmp_path) -> None:
    pairs, refs = _data(tmp_path)
    out = tmp_path / "m.safetensors"
    base = {**TINY, "iters": 1}
    with pytest.raises(SrkitError, match="the crossnet recipe needs --ref-dir DIR"):
        train_sr(pairs, out, 4, **base, recipe="crossnet")
    with pytest.raises(SrkitError, match="--arch crossnet, not compact"):
        train_sr(pairs, out, 4, **{**base, "arch_args": None}, recipe="crossnet",
                 arch="compact", ref_dir=refs)
    with pytest.raises(SrkitError, match="--arch srntt, not crossnet"):
        train_sr(pairs, out, 4, **base, recipe="srntt", arch="crossnet", ref_dir=refs)
    with pytest.raises(SrkitError, match="the psnr recipe takes none"):
        train_sr(pairs, out, 4, **base, arch="crossnet", ref_dir=refs)
    with pytest.raises(SrkitError, match="crossnet is a ×4 network, not ×2"):
        train_sr(pairs, out, 2, **base, recipe="crossnet", ref_dir=refs)
    write_image(refs / "p1.png", np.zeros((20, 40, 3), np.float32))
    with pytest.raises(SrkitError, match="smaller than the 32×32 patch"):
        train_sr(pairs, out, 4, **base, recipe="crossnet", ref_dir=refs)
    assert not out.exists()
    (refs / "p1.png").unlink()
    runner = CliRunner()
    result = runner.invoke(app, ["train-sr", str(pairs), "-o", str(out), "--recipe",
                                 "crossnet", "--ref-dir", str(refs), "--iters", "1",
                                 "--patch-size", "32"])
    assert result.exit_code == 1 and "no reference for p1" in str(result.exception)
    command = [sys.executable, "-m", "srkit", "train-sr", str(pairs), "-o", str(out),
               "--recipe", "crossnet", "--arch", "rrdbnet", "--ref-dir", str(refs)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "--arch crossnet, not rrdbnet" in result.stderr
    assert not out.exists()


def test_a_short_run_learns_to_use_a_shifted_reference(tmp_path) -> None:
    """References 3 pixels off their HR (the whole scene shifted, as a neighbouring view):
    300 iterations make the output with the true reference beat bicubic and the same model
    with an unrelated reference (here 25.3 dB against 24.0 and 23.7; margins of 0.7–2 dB
    in trials of four other seeds)."""
    pairs, refs = _data(tmp_path, count=3, side=64)
    result = train_sr(pairs, tmp_path / "m.safetensors", 4, recipe="crossnet", ref_dir=refs,
                      arch_args={"num_feat": 8, "flow_feat": 8}, iters=300, batch_size=4,
                      patch_size=32, learning_rate=2e-3, ema_decay=0.0, workers=0,
                      device="cpu", seed=0, log_every=100, save_every=300)
    model = load_model(result.output, torch.device("cpu")).model.eval()
    rng = np.random.default_rng(1)
    tests = [_shifted_views(rng, 64) for _ in range(2)]

    def tensor(rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]

    def score(out: torch.Tensor, hr: np.ndarray) -> float:
        return psnr(out.clamp(0, 1)[0].permute(1, 2, 0).numpy(), hr, border=4)

    true, unrelated, bicubic = [], [], []
    with torch.no_grad():
        for index, (hr, ref) in enumerate(tests):
            lr_img = _lr(hr)
            true.append(score(model(tensor(lr_img), tensor(ref)), hr))
            unrelated.append(score(model(tensor(lr_img), tensor(tests[1 - index][1])), hr))
            bicubic.append(psnr(np.clip(imresize(lr_img, 4.0), 0, 1), hr, border=4))
    assert np.mean(true) > np.mean(unrelated) + 0.3
    assert np.mean(true) > np.mean(bicubic) + 0.3
