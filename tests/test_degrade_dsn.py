"""srkit degrade --dsn: DSN-generated LR, domain-distance maps, manifest, resume, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from srkit.cli import app
from srkit.degradations.dsn import degrade_with_dsn
from srkit.errors import SrkitError
from srkit.io.dsn_checkpoints import dsn_metadata, load_dsn, save_dsn
from srkit.io.hashing import file_sha256
from srkit.io.images import read_image, to_uint, write_image
from srkit.models.dsn import DownSamplingNetwork, build_discriminator
from srkit.stages.degrade import degrade

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, ["degrade", *map(str, args)])


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def manifest(folder: Path) -> dict[str, dict]:
    lines = (folder / "manifest.jsonl").read_text().splitlines()
    return {entry["name"]: entry for entry in map(json.loads, lines)}


def make_dsn(path: Path, scale: int = 2, seed: int = 0, freq: str = "wavelet") -> Path:
    """A tiny DSN with random weights (and non-trivial BatchNorm statistics)."""
    torch.manual_seed(seed)
    generator = DownSamplingNetwork(scale=scale, num_feat=8, num_block=2)
    in_channels = 9 if freq == "wavelet" else 3
    discriminator = build_discriminator("fsd", in_channels, num_feat=8)
    for module in discriminator.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    meta = dsn_metadata(generator, {"scale": scale, "num_feat": 8, "num_block": 2}, "fsd",
                        {"in_channels": in_channels, "num_feat": 8}, freq)
    return save_dsn(path, generator, discriminator, meta)


@pytest.fixture
def hr_dir(tmp_path: Path, astronaut, chelsea) -> Path:
    """Two small photos; b is 37×50 (cropped to 36×50 at ×2)."""
    folder = tmp_path / "clean"
    write_image(folder / "a.png", astronaut[100:140, 120:168])
    write_image(folder / "b.png", chelsea[50:87, 100:150])
    return folder


@pytest.fixture
def dsn_path(tmp_path: Path) -> Path:
    return make_dsn(tmp_path / "dsn.safetensors")


def test_dsn_pairs_equal_degrade_with_dsn(hr_dir: Path, dsn_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    result = cli(hr_dir, "-o", out, "-x", 2, "--dsn", dsn_path, "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    loaded = load_dsn(dsn_path, "cpu")
    lines = manifest(out)
    sha = file_sha256(dsn_path)
    for name, (height, width) in {"a": (40, 48), "b": (36, 50)}.items():
        hr = read_image(out / "hr" / f"{name}.png").rgb
        assert hr.shape == (height, width, 3)
        lr = pixels(out / "lr" / f"{name}.png")
        dist = np.load(out / "dist" / f"{name}.npy")
        assert lr.shape == (height // 2, width // 2, 3)
        assert dist.shape == (height // 2, width // 2) and dist.dtype == np.float32
        assert 0.0 <= dist.min() and dist.max() <= 1.0
        assert dist.std() > 1e-4  # a real per-pixel map, not one constant
        expected = degrade_with_dsn(hr, loaded.generator, loaded.discriminator, loaded.freq)
        np.testing.assert_array_equal(lr, to_uint(expected.lr, 8))
        np.testing.assert_allclose(dist, expected.dist, atol=1e-6)
        entry = lines[name]
        assert entry["mode"] == "dsn" and entry["dsn_sha256"] == sha
        assert entry["dsn"] == str(dsn_path) and entry["freq"] == "wavelet"
        assert entry["dist"] == f"dist/{name}.npy" and entry["lr_size"] == list(dist.shape)
    settings = json.loads((out / "degrade.json").read_text())
    assert settings["settings"]["mode"] == "dsn" and settings["settings"]["dsn_sha256"] == sha
    assert not list((out / "dist").glob(".*"))  # no temporary files left behind

    # tiles of 16 HR pixels (8 LR) give the untiled result, to 8-bit rounding
    tiled = tmp_path / "tiled"
    assert cli(hr_dir, "-o", tiled, "-x", 2, "--dsn", dsn_path, "--tile", 16, "--device",
               "cpu", "-q").exit_code == 0
    for name in ("a", "b"):
        whole, pieces = pixels(out / "lr" / f"{name}.png"), pixels(tiled / "lr" / f"{name}.png")
        assert np.abs(whole.astype(int) - pieces).max() <= 1
        assert (whole == pieces).mean() > 0.99


def test_rerun_skips_and_checks_the_dsn(hr_dir: Path, dsn_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    first = degrade(hr_dir, out, 2, mode="dsn", dsn=dsn_path, device="cpu")
    assert (first.written, first.already_done) == (2, 0)
    before = (out / "dist" / "b.npy").read_bytes()
    second = degrade(hr_dir, out, 2, mode="dsn", dsn=dsn_path, device="cpu")
    assert (second.written, second.already_done) == (0, 2)
    (out / "dist" / "b.npy").unlink()  # a pair without its map is redone
    third = degrade(hr_dir, out, 2, mode="dsn", dsn=dsn_path, device="cpu")
    assert (third.written, third.already_done) == (1, 1)
    assert (out / "dist" / "b.npy").read_bytes() == before
    other = make_dsn(tmp_path / "other.safetensors", seed=1)
    changed = cli(hr_dir, "-o", out, "-x", 2, "--dsn", other, "--device", "cpu")
    assert changed.exit_code == 1 and isinstance(changed.exception, SrkitError)
    assert "dsn_sha256" in str(changed.exception)
    # replacing dsn pairs by bicubic ones removes the maps that no longer match
    assert cli(hr_dir, "-o", out, "-x", 2, "--mode", "bicubic", "--overwrite", "-q"
               ).exit_code == 0
    assert not list((out / "dist").iterdir())
    assert "dsn_sha256" not in json.loads((out / "degrade.json").read_text())["settings"]


def test_crop_uses_the_per_image_generator(hr_dir: Path, dsn_path: Path,
                                           tmp_path: Path) -> None:
    common = [hr_dir, "-x", 2, "--crop", 24, "--seed", 7, "-q"]
    assert cli(*common, "-o", tmp_path / "dsn", "--dsn", dsn_path, "--device", "cpu"
               ).exit_code == 0
    assert cli(*common, "-o", tmp_path / "bicubic", "--mode", "bicubic").exit_code == 0
    for name in ("a", "b"):
        dsn_entry = manifest(tmp_path / "dsn")[name]
        assert dsn_entry["crop"] == manifest(tmp_path / "bicubic")[name]["crop"]
        np.testing.assert_array_equal(pixels(tmp_path / "dsn" / "hr" / f"{name}.png"),
                                      pixels(tmp_path / "bicubic" / "hr" / f"{name}.png"))
        assert np.load(tmp_path / "dsn" / "dist" / f"{name}.npy").shape == (12, 12)


@pytest.mark.slow  # two spawned processes importing torch: about 10 s
def test_workers_load_their_own_dsn(hr_dir: Path, dsn_path: Path, tmp_path: Path) -> None:
    one = degrade(hr_dir, tmp_path / "one", 2, mode="dsn", dsn=dsn_path, device="cpu")
    two = degrade(hr_dir, tmp_path / "two", 2, mode="dsn", dsn=dsn_path, device="cpu",
                  workers=2)
    assert one.written == two.written == 2
    for sub, suffix in (("lr", "png"), ("dist", "npy")):
        for name in ("a", "b"):
            first = np.load(tmp_path / "one" / sub / f"{name}.{suffix}") if suffix == "npy" \
                else pixels(tmp_path / "one" / sub / f"{name}.{suffix}")
            second = np.load(tmp_path / "two" / sub / f"{name}.{suffix}") if suffix == "npy" \
                else pixels(tmp_path / "two" / sub / f"{name}.{suffix}")
            np.testing.assert_allclose(second, first, atol=1e-6 if suffix == "npy" else 0)


@pytest.mark.parametrize("args", [
    ["-x", "4", "--dsn", "{dsn}"],                           # a x2 DSN
    ["-x", "2", "--dsn", "{dsn}", "--pool", "{dsn}"],
    ["-x", "2", "--dsn", "{dsn}", "--mode", "bicubic"],
    ["-x", "2", "--dsn", "{dsn}", "--jpeg-quality", "80"],
    ["-x", "2", "--mode", "dsn"],                            # no --dsn
    ["-x", "2", "--dsn", "{src}/a.png"],                     # not a DSN file
    ["-x", "2", "--dsn", "{src}/none.safetensors"],
    ["-x", "2", "--dsn", "{dsn}", "--device", "tpu"],
])
def test_bad_input_exits_1_with_one_line(args, hr_dir: Path, dsn_path: Path,
                                         tmp_path: Path) -> None:
    args = [a.format(src=hr_dir, dsn=dsn_path) for a in args]
    result = cli(hr_dir, *args, "-o", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SrkitError)
    assert "\n" not in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_scale_mismatch_message(hr_dir: Path, dsn_path: Path, tmp_path: Path) -> None:
    result = cli(hr_dir, "-o", tmp_path / "out", "-x", 4, "--dsn", dsn_path)
    assert result.exit_code == 1
    assert "downscales x2, not x4" in str(result.exception)


def test_other_modes_do_not_import_torch(hr_dir: Path, tmp_path: Path) -> None:
    code = ("import sys; from srkit.cli import app; from srkit.stages.degrade import degrade; "
            f"degrade({str(hr_dir)!r}, {str(tmp_path / 'out')!r}, 2, mode='bicubic'); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "lr" / "a.png").exists()
