"""srkit degrade: pairs, manifest, reproducibility (workers, shards), resume, pool mode by hand."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from srkit.cli import app
from srkit.degradations import degrade_image
from srkit.errors import SrkitError
from srkit.io.hashing import file_sha256
from srkit.io.images import read_image, to_uint, write_image
from srkit.io.pairs import pair_names
from srkit.io.pool_writer import append_kernels, append_noise
from srkit.io.pools import KernelEntry, NoiseEntry, read_pool
from srkit.ops.kernels import blur_downsample, gaussian_kernel, pad_kernel
from srkit.ops.resize import imresize
from srkit.stages.degrade import degrade, image_seed

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, ["degrade", *map(str, args)])


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def manifest(folder: Path) -> dict[str, dict]:
    lines = (folder / "manifest.jsonl").read_text().splitlines()
    return {entry["name"]: entry for entry in map(json.loads, lines)}


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {f"{sub}/{p.name}": p.read_bytes()
            for sub in ("hr", "lr") for p in sorted((folder / sub).iterdir())}


@pytest.fixture
def hr_dir(tmp_path: Path, astronaut, chelsea, coffee) -> Path:
    """Three small photos; b is 67×90, not a multiple of 2 or 4."""
    folder = tmp_path / "clean"
    write_image(folder / "a.png", astronaut[100:164, 120:200])
    write_image(folder / "b.png", chelsea[50:117, 100:190])
    write_image(folder / "c.jpg", coffee[100:164, 200:264])
    return folder


@pytest.fixture
def pool_path(tmp_path: Path) -> Path:
    """x2 kernels (one asymmetric) and three 48×48 zero-mean noise patches."""
    rng = np.random.default_rng(5)
    path = tmp_path / "pool.h5"
    lopsided = np.zeros((7, 7), np.float32)
    lopsided[3, 3], lopsided[2, 5], lopsided[4, 2] = 0.5, 0.3, 0.2
    kernels = [gaussian_kernel(13, 2.0, 0.8, 0.3), pad_kernel(lopsided, 13),
               gaussian_kernel(13, 1.0)]
    append_kernels(path, [KernelEntry(k, 2, f"cam{i}.png", f"sha{i}", "test")
                          for i, k in enumerate(kernels)])
    patches = rng.normal(0, 0.02, (3, 48, 48, 3)).astype(np.float32)
    patches -= patches.mean(axis=(1, 2), keepdims=True)
    append_noise(path, [NoiseEntry(p, f"noisy{i}.png", f"nsha{i}", (0, 0))
                        for i, p in enumerate(patches)])
    return path


def test_bicubic_pairs_have_matching_names_and_sizes(hr_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    result = cli(hr_dir, "-o", out, "-x", 4, "--mode", "bicubic", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "hr").iterdir()) == ["a.png", "b.png", "c.png"]
    assert sorted(p.name for p in (out / "lr").iterdir()) == ["a.png", "b.png", "c.png"]
    sizes = {"a": (64, 80), "b": (64, 88), "c": (64, 64)}  # b cropped to a multiple of 4
    lines = manifest(out)
    for name, (height, width) in sizes.items():
        hr, lr = pixels(out / "hr" / f"{name}.png"), pixels(out / "lr" / f"{name}.png")
        assert hr.shape == (height, width, 3) and lr.shape == (height // 4, width // 4, 3)
        expected = to_uint(np.clip(imresize(hr / 255.0, 0.25), 0, 1), 8)
        assert np.abs(lr.astype(int) - expected).max() <= 1
        assert (lr == expected).mean() > 0.99
        entry = lines[name]
        assert entry["hr_size"] == [height, width] and entry["lr_size"] == [height // 4,
                                                                          width // 4]
        assert entry["mode"] == "bicubic" and entry["scale"] == 4 and entry["seed"] == 0
        assert entry["source_sha256"] == file_sha256(entry["source"])
        assert entry["image_seed"] == image_seed(0, name)
    # HR keeps the source pixels (top-left crop to a multiple of the scale)
    np.testing.assert_array_equal(pixels(out / "hr" / "b.png"),
                                  pixels(hr_dir / "b.png")[:64, :88])
    settings = json.loads((out / "degrade.json").read_text())
    assert settings["settings"]["mode"] == "bicubic" and settings["settings"]["scale"] == 4


def test_same_seed_same_bytes_across_workers_and_shards(hr_dir: Path, tmp_path: Path) -> None:
    common = ["-x", 2, "--mode", "random", "--seed", 11, "-q"]
    assert cli(hr_dir, "-o", tmp_path / "one", *common).exit_code == 0
    assert cli(hr_dir, "-o", tmp_path / "two", *common, "--workers", 2).exit_code == 0
    for shard in ("2/2", "1/2"):
        assert cli(hr_dir, "-o", tmp_path / "shards", *common, "--shard", shard).exit_code == 0
    again = tmp_path / "again"
    assert cli(hr_dir, "-o", again, *common).exit_code == 0
    reference = tree_bytes(tmp_path / "one")
    assert len(reference) == 6
    assert tree_bytes(tmp_path / "two") == reference
    assert tree_bytes(tmp_path / "shards") == reference
    assert tree_bytes(again) == reference
    assert (tmp_path / "two" / "manifest.jsonl").read_bytes() == \
        (tmp_path / "one" / "manifest.jsonl").read_bytes()
    assert manifest(tmp_path / "shards") == manifest(tmp_path / "one")
    record = manifest(tmp_path / "one")["a"]["synthetic"]
    assert set(record) == {"first", "second", "final"}
    other = tmp_path / "other"
    assert cli(hr_dir, "-o", other, "-x", 2, "--mode", "random", "--seed", 12, "-q"
               ).exit_code == 0
    assert tree_bytes(other)["lr/a.png"] != reference["lr/a.png"]
    assert tree_bytes(other)["hr/a.png"] == reference["hr/a.png"]
    # --synthetic-set changes the pipeline: every pair classical, recorded in its settings
    classical = tmp_path / "classical"
    assert cli(hr_dir, "-o", classical, *common, "--synthetic-set", "classical_prob=1"
               ).exit_code == 0
    assert all(e["synthetic"]["classical"] for e in manifest(classical).values())
    saved = json.loads((classical / "degrade.json").read_text())["settings"]["synthetic"]
    assert saved["classical_prob"] == 1


def test_rerun_skips_finished_pairs_and_refuses_other_settings(hr_dir: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    first = degrade(hr_dir, out, 2, mode="bicubic")
    assert (first.written, first.already_done, first.total) == (3, 0, 3)
    before = tree_bytes(out)
    second = degrade(hr_dir, out, 2, mode="bicubic")
    assert (second.written, second.already_done) == (0, 3)
    (out / "lr" / "b.png").unlink()  # an interrupted pair is redone, alone
    third = degrade(hr_dir, out, 2, mode="bicubic")
    assert (third.written, third.already_done) == (1, 2)
    assert tree_bytes(out) == before
    changed = cli(hr_dir, "-o", out, "-x", 2, "--mode", "bicubic", "--seed", 3)
    assert changed.exit_code == 1 and isinstance(changed.exception, SrkitError)
    assert "seed" in str(changed.exception) and "--overwrite" in str(changed.exception)
    replaced = cli(hr_dir, "-o", out, "-x", 2, "--mode", "random", "--overwrite", "-q")
    assert replaced.exit_code == 0
    lines = manifest(out)
    assert {e["mode"] for e in lines.values()} == {"random"} and len(lines) == 3
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 3


def test_pool_mode_equals_blur_downsample_plus_noise_by_hand(hr_dir: Path, tmp_path: Path,
                                                            pool_path: Path) -> None:
    out = tmp_path / "pairs"
    result = cli(hr_dir, "-o", out, "-x", 2, "--pool", pool_path, "--seed", 4, "-q")
    assert result.exit_code == 0, result.output
    pool = read_pool(pool_path)
    kernels = pool.kernels(2)
    lines = manifest(out)
    assert len(lines) == 3
    for name, entry in lines.items():
        assert entry["mode"] == "pool" and entry["downscale"] == "kernel"
        kernel = kernels.kernels[entry["kernel_index"]]
        assert entry["kernel_source"] == kernels.source[entry["kernel_index"]]
        patch = pool.noise_patch(entry["noise_index"])
        hr = read_image(out / "hr" / f"{name}.png").rgb
        lr = pixels(out / "lr" / f"{name}.png")
        row, col = entry["noise"]["row"], entry["noise"]["col"]
        noise = patch[row:row + lr.shape[0], col:col + lr.shape[1]]
        expected = to_uint(np.clip(blur_downsample(hr, kernel, 2) + noise, 0, 1), 8)
        np.testing.assert_array_equal(lr, expected)
    # different images draw different kernels/patches from the pool
    drawn = {(e["kernel_index"], e["noise_index"], e["noise"]["row"]) for e in lines.values()}
    assert len(drawn) > 1


def test_pool_ablations(hr_dir: Path, tmp_path: Path, pool_path: Path) -> None:
    common = [hr_dir, "-x", 2, "--pool", pool_path, "-q"]
    assert cli(*common, "-o", tmp_path / "plain", "--no-noise", "--no-kernels").exit_code == 0
    assert cli(hr_dir, "-x", 2, "--mode", "bicubic", "-o", tmp_path / "bicubic", "-q"
               ).exit_code == 0
    assert tree_bytes(tmp_path / "plain") == tree_bytes(tmp_path / "bicubic")
    assert cli(*common, "-o", tmp_path / "blur", "--no-noise").exit_code == 0
    entry = manifest(tmp_path / "blur")["a"]
    assert entry["noise_index"] is None and entry["noise"] is None
    kernel = read_pool(pool_path).kernels(2).kernels[entry["kernel_index"]]
    hr = read_image(tmp_path / "blur" / "hr" / "a.png").rgb
    np.testing.assert_array_equal(pixels(tmp_path / "blur" / "lr" / "a.png"),
                                  to_uint(np.clip(blur_downsample(hr, kernel, 2), 0, 1), 8))
    assert cli(*common, "-o", tmp_path / "noise", "--no-kernels").exit_code == 0
    entry = manifest(tmp_path / "noise")["a"]
    assert entry["downscale"] == "bicubic" and entry["kernel_index"] is None
    assert entry["noise_index"] is not None


def test_clean_up_crop_and_jpeg(hr_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cleaned"
    result = degrade(hr_dir, out, 2, mode="bicubic", clean_up=2.0)
    assert result.written == 3
    source = read_image(hr_dir / "a.png").rgb
    cleaned = to_uint(np.clip(imresize(source, 0.5), 0, 1), 8)
    np.testing.assert_array_equal(pixels(out / "hr" / "a.png"), cleaned)  # 32×40
    assert pixels(out / "lr" / "a.png").shape == (16, 20, 3)
    assert manifest(out)["a"]["clean_up"] == 2.0

    cropped = tmp_path / "cropped"
    result = degrade(hr_dir, cropped, 2, mode="bicubic", crop=66)
    assert result.written == 1 and len(result.skipped) == 2  # a and c are 64 pixels high
    assert "smaller than the 66-pixel crop" in result.skipped[0]
    top, left, height, width = manifest(cropped)["b"]["crop"]
    assert (height, width) == (66, 66) and 0 <= top <= 1 and 0 <= left <= 24
    np.testing.assert_array_equal(pixels(cropped / "hr" / "b.png"),
                                  pixels(hr_dir / "b.png")[top:top + 66, left:left + 66])
    strict = degrade(hr_dir, tmp_path / "strict", 2, mode="bicubic", crop=66, strict=True)
    assert strict.written == 1  # too small is not unreadable: skipped even with strict

    compressed = tmp_path / "jpeg"
    degrade(hr_dir, compressed, 2, mode="bicubic", jpeg_quality=20)
    plain = tmp_path / "plain"
    degrade(hr_dir, plain, 2, mode="bicubic")
    assert manifest(compressed)["a"]["jpeg"] == 20
    assert not np.array_equal(pixels(compressed / "lr" / "a.png"), pixels(plain / "lr" / "a.png"))


def test_unreadable_files_are_skipped_unless_strict(hr_dir: Path, tmp_path: Path) -> None:
    (hr_dir / "broken.png").write_bytes(b"not a png")
    result = cli(hr_dir, "-o", tmp_path / "pairs", "-x", 2, "--mode", "bicubic")
    assert result.exit_code == 0
    text = result.output.replace("\n", "")  # rich wraps long temporary paths at 80 columns
    assert "skipped" in text and "broken.png" in text
    assert "3 pairs" in text and "1 skipped" in text
    strict = cli(hr_dir, "-o", tmp_path / "strict", "-x", 2, "--mode", "bicubic", "--strict")
    assert strict.exit_code == 1 and "broken.png" in str(strict.exception)


def test_bit_depth_and_grey_are_kept(tmp_path: Path, astronaut) -> None:
    src = tmp_path / "src"
    write_image(src / "deep.png", astronaut[:40, :40], bit_depth=16)
    write_image(src / "grey.png", astronaut[:40, :40], grey=True)
    out = tmp_path / "pairs"
    degrade(src, out, 2, mode="bicubic")
    for sub in ("hr", "lr"):
        deep, grey = read_image(out / sub / "deep.png"), read_image(out / sub / "grey.png")
        assert deep.bit_depth == 16 and not deep.grey
        assert grey.bit_depth == 8 and grey.grey


@pytest.mark.parametrize("args", [
    ["missing_folder", "-x", "2", "--mode", "bicubic"],
    ["{src}", "-x", "2"],                                   # neither --pool nor --mode
    ["{src}", "-x", "2", "--mode", "nearest"],
    ["{src}", "-x", "2", "--mode", "bicubic", "--shard", "3/2"],
    ["{src}", "-x", "2", "--mode", "bicubic", "--shard", "half"],
    ["{src}", "-x", "2", "--mode", "bicubic", "--crop", "33"],
    ["{src}", "-x", "2", "--mode", "random", "--jpeg-quality", "50"],
    ["{src}", "-x", "2", "--mode", "bicubic", "--synthetic-set", "classical_prob=1"],
    ["{src}", "-x", "2", "--mode", "random", "--synthetic-set", "first.bogus=1"],
    ["{src}", "-x", "2", "--mode", "random", "--synthetic-set", "classical_prob"],
    ["{src}", "-x", "2", "--mode", "bicubic", "--pool", "{pool}"],
    ["{src}", "-x", "3", "--pool", "{pool}"],              # no x3 kernels in the pool
    ["{src}", "-x", "2", "--pool", "{src}/a.png"],          # not a pool
    ["{src}", "-x", "2", "--pool", "{src}/none.h5"],
])
def test_bad_input_exits_1_with_one_line(args, hr_dir: Path, pool_path: Path,
                                         tmp_path: Path) -> None:
    args = [a.format(src=hr_dir, pool=pool_path) for a in args]
    result = cli(*args, "-o", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SrkitError)
    assert "\n" not in str(result.exception)


def test_pool_without_noise_needs_no_noise(hr_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "kernels_only.h5"
    append_kernels(path, [KernelEntry(gaussian_kernel(9, 1.0), 2, "x.png", "s", "test")])
    result = cli(hr_dir, "-o", tmp_path / "out", "-x", 2, "--pool", path)
    assert result.exit_code == 1 and "--no-noise" in str(result.exception)
    assert cli(hr_dir, "-o", tmp_path / "out", "-x", 2, "--pool", path, "--no-noise", "-q"
               ).exit_code == 0


def test_error_is_one_line_on_stderr(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "srkit", "degrade", str(tmp_path / "none"),
                           "-o", str(tmp_path / "out"), "-x", "2", "--mode", "bicubic"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no such file or folder" in lines[0]


def test_degrade_image_is_a_pure_function(astronaut) -> None:
    hr = astronaut[:32, :48]
    rng = np.random.default_rng(0)
    plain, record = degrade_image(hr, 2, "pool", rng=rng)
    np.testing.assert_array_equal(plain, np.clip(imresize(hr, 0.5), 0, 1))
    assert record == {"downscale": "bicubic", "noise": None}
    bicubic, record = degrade_image(hr, 2, "bicubic", rng=rng)
    np.testing.assert_array_equal(bicubic, plain)
    lr, record = degrade_image(hr, 4, "random", rng=np.random.default_rng(1))
    assert lr.shape == (8, 12, 3) and "synthetic" in record
    with pytest.raises(ValueError):
        degrade_image(astronaut[:33, :48], 2, "bicubic", rng=rng)
    with pytest.raises(ValueError):
        degrade_image(hr, 2, "dsn", rng=rng)
    with pytest.raises(ValueError):
        degrade_image(hr, 2, "random", rng=rng, jpeg_quality=50)


def test_seeds_and_names_are_stable() -> None:
    # SHA-256 based: the same in every process and Python version (never hash()).
    assert image_seed(0, "a") == image_seed(0, "a") != image_seed(1, "a") != image_seed(0, "b")
    assert image_seed(0, "a") == int.from_bytes(
        hashlib.sha256(b"0\0a").digest()[:8], "little")
    names = pair_names([Path("x/img.png"), Path("y/img.jpg"), Path("y/img-2.png"),
                        Path("z/other.png")])
    assert names == ["img", "img-2", "img-2-2", "other"]
