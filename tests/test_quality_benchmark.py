"""benchmarks/quality.py: the fixed camera, and a tiny end-to-end run (held-out split, the
baselines' budget read from a shipped model's metadata, per-image records, the tables)."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("quality_benchmark",
                                                  ROOT / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality_benchmark"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scale", [2, 4])
def test_camera_kernel_has_the_documented_widths(quality, scale: int) -> None:
    kernel = quality.camera_kernel(scale).astype(np.float64)
    assert kernel.shape == ((13, 13) if scale == 2 else (25, 25))
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    half = kernel.shape[0] // 2
    rows, cols = np.mgrid[-half:half + 1, -half:half + 1]
    cov = np.array([[np.sum(kernel * cols * cols), np.sum(kernel * cols * rows)],
                    [np.sum(kernel * cols * rows), np.sum(kernel * rows * rows)]])
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    # σ = 0.8·s and 0.45·s HR pixels (truncation at 3.75σ shrinks them by < 1 %)
    assert np.sqrt(eigenvalues) == pytest.approx([0.45 * scale, 0.8 * scale], rel=0.02)
    major = eigenvectors[:, 1] * np.sign(eigenvectors[0, 1])
    assert np.degrees(np.arctan2(major[1], major[0])) == pytest.approx(30.0, abs=0.5)


def test_camera_degradation_is_fixed_per_photo(quality, astronaut) -> None:
    hr = astronaut[:64, :64]
    first = quality.degrade_test_image(hr, 2, "camera", "a.png", seed=0)
    assert first.shape == (32, 32, 3)
    assert np.array_equal(first, quality.degrade_test_image(hr, 2, "camera", "a.png", seed=0))
    assert not np.array_equal(first, quality.degrade_test_image(hr, 2, "camera", "b.png", 0))
    assert np.array_equal(first, np.round(first * 255) / 255)  # 8-bit values


def test_camera_pairs_are_the_training_photos_through_camera_c(quality, tmp_path: Path,
                                                             astronaut, coffee) -> None:
    """The opt-in camera-trained reference learns from training photos degraded exactly as
    the (c) test LR are (HR trimmed to the scale), cached across calls."""
    from srkit.io.images import read_image, write_image
    from srkit.io.pairs import find_pairs

    clean = tmp_path / "train" / "clean-x"
    write_image(clean / "a.png", astronaut[:67, :70])
    write_image(clean / "b.png", coffee[:64, :64])
    folder = quality.prepare_camera_pairs(clean, tmp_path, 4, seed=0)
    assert [p.name for p in find_pairs(folder)] == ["a.png", "b.png"]
    hr = read_image(folder / "hr" / "a.png").rgb
    assert hr.shape == (64, 68, 3)
    expected = quality.degrade_test_image(read_image(clean / "a.png").rgb[:64, :68], 4,
                                          "camera", "a.png", 0)
    np.testing.assert_allclose(read_image(folder / "lr" / "a.png").rgb, expected, atol=1e-6)
    stamp = (folder / "lr" / "b.png").stat().st_mtime_ns
    assert quality.prepare_camera_pairs(clean, tmp_path, 4, seed=0) == folder
    assert (folder / "lr" / "b.png").stat().st_mtime_ns == stamp


def _shipped_model(path: Path) -> None:
    """A tiny untrained compact ×2 net with the metadata train-sr writes."""
    import torch

    from srkit.io.checkpoints import save_model
    from srkit.models import build_model
    from srkit.training.recipes import RECIPES

    torch.manual_seed(0)
    arch_args = {"num_feat": 8, "num_conv": 2, "upscale": 2}
    recipe = replace(RECIPES["psnr"], iters=4, batch_size=2, patch_size=32)
    save_model(path, build_model("compact", **arch_args), "compact", arch_args, 2,
               {"recipe": "psnr", "iterations": "4", "seed": "3", "weights": "ema",
                "recipe_settings": json.dumps(recipe.to_dict())})


@pytest.mark.slow  # about 30 s: test set, pool, two 4-iteration trainings, grids, tables
def test_tiny_run_end_to_end(quality, tmp_path: Path, astronaut, chelsea, coffee) -> None:
    from srkit.io.images import write_image

    photos = tmp_path / "photos"
    write_image(photos / "astronaut.png", astronaut)          # held out
    write_image(photos / "held_copy.png", astronaut)          # same bytes: never trained on
    write_image(photos / "chelsea.png", chelsea)
    write_image(photos / "coffee.png", coffee)
    holdout = tmp_path / "holdout.txt"
    holdout.write_text("# test\nastronaut.png\n")
    weights = tmp_path / "weights"
    _shipped_model(weights / "general_x2.safetensors")
    out = tmp_path / "results" / "quality"
    quality.main([str(photos), "--scales", "2", "--holdout", str(holdout), "--weights",
                  str(weights), "--work", str(tmp_path / "work"), "--out", str(out),
                  "--model", f"extra={weights / 'general_x2.safetensors'}",
                  "--threads", "1", "--workers", "0", "--grids", str(tmp_path / "grids")])
    results = json.loads(out.with_suffix(".json").read_text())

    info = results["baselines"]["2"]
    assert info["train_photos"] == ["chelsea.png", "coffee.png"]
    assert info["budget"]["arch_args"] == {"num_feat": 8, "num_conv": 2, "upscale": 2}
    assert info["budget"]["seed"] == 3
    assert {k: info["budget"]["overrides"][k] for k in ("iters", "batch_size", "patch_size")} \
        == {"iters": 4, "batch_size": 2, "patch_size": 32}
    for kind in ("bicubic-trained", "pool-workflow"):
        assert "error" not in info["runs"][kind], info["runs"][kind]

    methods = ["bicubic", "lanczos", "general_x2", "extra", "bicubic-trained", "pool-workflow"]
    for method in methods:
        for degradation in ("bicubic", "random", "camera"):
            rows = [r for r in results["records"] if r["method"] == method
                    and r["degradation"] == degradation]
            assert len(rows) == 1 and rows[0]["photo"] == "astronaut"
            assert 10 < rows[0]["psnr_y"] < 60 and 0 < rows[0]["ssim_y"] <= 1
            assert rows[0]["niqe"] is not None and rows[0]["seconds"] > 0
    # the same file under two labels gives the same numbers
    by = {(r["method"], r["degradation"]): r for r in results["records"]}
    assert by[("extra", "camera")]["psnr_y"] == by[("general_x2", "camera")]["psnr_y"]

    # the bicubic row is MATLAB bicubic up of MATLAB bicubic down, scored with border 2
    from srkit.io.images import read_image
    from srkit.metrics.psnr_ssim import psnr
    from srkit.ops.resize import imresize

    hr = read_image(Path(results["settings"]["data_dir"]) / "hr" / "astronaut.png").rgb
    assert hr.shape == (256, 256, 3)
    lr = np.round(np.clip(imresize(hr, 0.5), 0, 1) * 255) / 255
    sr = np.round(np.clip(imresize(lr, 2.0), 0, 1) * 255) / 255
    assert by[("bicubic", "bicubic")]["psnr_y"] == pytest.approx(psnr(sr, hr, border=2),
                                                                 abs=1e-6)

    for degradation in ("bicubic", "random", "camera"):  # srkit evaluate --grid montages
        from PIL import Image

        with Image.open(tmp_path / "grids" / f"quality_x2_{degradation}.png") as grid:
            assert grid.width > 6 * 96  # LR, bicubic and five more columns of crops

    table = out.with_suffix(".md").read_text()
    assert "## ×2" in table and "| pool-workflow |" in table
    assert "**general_x2** PSNR-Y margin:" in table
    out.with_suffix(".md").unlink()
    quality.main(["--from-json", str(out.with_suffix(".json")), "--out", str(out)])
    assert out.with_suffix(".md").read_text() == table


def test_a_fine_tuned_shipped_model_gives_two_stage_baselines(quality, tmp_path: Path,
                                                              astronaut) -> None:
    """The baselines repeat both stages of a model fine-tuned with --init (each cached), and
    budget flags turn that back into one stage of all the iterations."""
    import argparse

    from srkit.io.checkpoints import read_safetensors
    from srkit.io.images import write_image
    from srkit.stages.degrade import degrade
    from srkit.stages.train_sr import train_sr

    write_image(tmp_path / "hr" / "a.png", astronaut[:128, :128])
    pairs = tmp_path / "pairs"
    degrade(tmp_path / "hr", pairs, 2, mode="bicubic")
    tiny = {"arch": "compact", "arch_args": {"num_feat": 8, "num_conv": 2}, "batch_size": 2,
            "patch_size": 32, "workers": 0, "device": "cpu"}
    first = train_sr(pairs, tmp_path / "first.safetensors", 2, **tiny, iters=3, seed=3)
    weights = tmp_path / "weights"
    train_sr(pairs, weights / "general_x2.safetensors", 2, **tiny, iters=2, seed=4,
             learning_rate=1e-4, init=first.output)

    flags = dict.fromkeys(("budget_iters", "batch_size", "patch_size", "learning_rate",
                           "arch", "num_feat", "num_conv", "num_block"))
    budget = quality.budget_for_scale(2, weights, argparse.Namespace(**flags))
    assert (budget.overrides["iters"], budget.overrides["learning_rate"], budget.seed) == \
        (2, 1e-4, 4)
    assert budget.previous["overrides"]["iters"] == 3 and budget.previous["seed"] == 3
    assert budget.previous["overrides"]["learning_rate"] != 1e-4
    assert budget.describe().startswith("3 iterations from scratch")
    one = quality.budget_for_scale(2, weights, argparse.Namespace(**{**flags,
                                                                     "batch_size": 2}))
    assert one.previous is None and one.overrides["iters"] == 5  # both stages' iterations

    work = tmp_path / "work"
    path, record = quality.train_baseline("bicubic-trained", 2, budget, {"pairs": pairs}, work,
                                          "cpu", 0)
    meta = read_safetensors(path)[1]
    assert (meta["iterations"], meta["total_iterations"], meta["seed"]) == ("2", "5", "4")
    stage1 = Path(record["previous"]["file"])
    assert meta["init"] == stage1.name and read_safetensors(stage1)[1]["iterations"] == "3"
    assert "min (" in quality._training_time(record) and " + " in quality._training_time(record)
    modified = path.stat().st_mtime_ns
    again, _ = quality.train_baseline("bicubic-trained", 2, budget, {"pairs": pairs}, work,
                                      "cpu", 0)
    assert again == path and path.stat().st_mtime_ns == modified  # reused, not retrained

    # a third stage: the baselines repeat all three, reusing the first two from the cache
    third = tmp_path / "third"
    train_sr(pairs, third / "general_x2.safetensors", 2, **tiny, iters=1, seed=5,
             learning_rate=5e-5, init=weights / "general_x2.safetensors")
    longer = quality.budget_for_scale(2, third, argparse.Namespace(**flags))
    assert [(b.overrides["iters"], b.seed) for b in longer.stages()] == [(3, 3), (2, 4), (1, 5)]
    assert [b.overrides["learning_rate"] for b in longer.stages()[1:]] == [1e-4, 5e-5]
    assert quality.Budget(**longer.previous).cache_key() == budget.cache_key()
    assert longer.describe().startswith("3 iterations from scratch (learning rate ")
    assert ", then 2 iterations (learning rate 0.0001, seed 4), then compact" in \
        longer.describe()
    path3, record3 = quality.train_baseline("bicubic-trained", 2, longer, {"pairs": pairs},
                                            work, "cpu", 0)
    meta3 = read_safetensors(path3)[1]
    assert (meta3["iterations"], meta3["total_iterations"], meta3["init"]) == \
        ("1", "6", path.name)
    assert path.stat().st_mtime_ns == modified  # the two-stage baseline was reused
    assert record3["previous"]["previous"]["file"] == str(stage1)
    assert quality._training_time(record3).count(" + ") == 2
    assert quality.budget_for_scale(2, third, argparse.Namespace(
        **{**flags, "batch_size": 2})).overrides["iters"] == 6  # flags: one stage of all


def test_margin_interval_is_the_student_t_interval_of_the_paired_differences(quality) -> None:
    from scipy import stats

    diffs = [0.1, 0.3, -0.2, 0.5, 0.4, 0.25]
    expected = stats.t.interval(0.95, len(diffs) - 1, loc=np.mean(diffs),
                                scale=stats.sem(diffs))
    np.testing.assert_allclose(quality.mean_interval(diffs), expected, rtol=1e-12)
    low, high = quality.mean_interval([1.0, 1.2, 0.8], confidence=0.5)
    assert 0.8 < low < 1.0 < high < 1.2


def test_camera_parts_splits_the_benchmark_camera(quality, tmp_path: Path, astronaut,
                                                  capsys) -> None:
    """benchmarks/camera_parts.py: all three parts are exactly the benchmark's camera (c); each
    combination gets a row with a margin on every held-out photo."""
    from srkit.io.images import write_image

    spec = importlib.util.spec_from_file_location(
        "camera_parts", ROOT / "benchmarks" / "camera_parts.py")
    parts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parts)
    hr = quality.quantise(astronaut[:96, :128])
    camera = parts.quality.camera_lr
    np.testing.assert_array_equal(camera(hr, 2, "a", 0, ("blur", "noise", "jpeg")),
                                  parts.quality.degrade_test_image(hr, 2, "camera", "a", 0))
    plain = camera(hr, 2, "a", 0, ("noise",))
    assert plain.shape == (48, 64, 3) and not np.array_equal(plain, camera(
        hr, 2, "a", 0, ("blur", "noise")))

    photos = tmp_path / "photos"
    write_image(photos / "a.png", astronaut[:160, :160])
    write_image(photos / "b.png", astronaut[200:360, 200:360])
    (tmp_path / "holdout.txt").write_text("# held out\na.png\nb.png\n")
    out = tmp_path / "parts.md"
    text = parts.main([str(photos), "--holdout", str(tmp_path / "holdout.txt"), "--scales",
                       "2", "--out", str(out)])
    assert out.read_text() == text and "| ×2 general_x2 |" in text
    rows = [line for line in text.splitlines() if line.startswith("| blur") or
            line.startswith("| noise")]
    assert len(rows) == 5 and all(row.endswith("of 2) |") for row in rows)
    assert "| blur + noise + jpeg |" in text
    assert text in capsys.readouterr().out
