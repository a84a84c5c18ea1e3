"""collect-noise: RealSR's flat-window rule (``rule="realsr"``), pool bookkeeping (skip, redo)
and the CLI. The adaptive rule: tests/test_noise_level.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.images import write_image
from srkit.io.pools import read_pool
from srkit.ops.noise_stats import grey_levels, window_grey_stats, window_positions
from srkit.stages.collect_noise import collect_noise

# Mid-range colours (0-255), far from clipping, one per 256×256 block of a 512×768 photo.
COLOURS = [(120, 80, 60), (60, 140, 200), (200, 190, 90),
           (90, 90, 90), (150, 60, 170), (70, 180, 110)]
BLOCKS = [(0, 0), (0, 256), (0, 512), (256, 0), (256, 256), (256, 512)]


def flat_photo(sigma: float, rng: np.random.Generator, colours=COLOURS) -> np.ndarray:
    """512×768 photo of six flat 256×256 blocks plus Gaussian noise of ``sigma`` grey levels
    (independent per channel), float [0, 1]."""
    image = np.zeros((512, 768, 3))
    for (row, col), colour in zip(BLOCKS, colours, strict=True):
        image[row:row + 256, col:col + 256] = colour
    image += rng.normal(0.0, sigma, image.shape)
    return np.clip(image / 255.0, 0.0, 1.0)


@pytest.mark.parametrize("sigma", [2.0, 4.0])
def test_flat_patches_have_the_noise_sigma(tmp_path: Path, rng, sigma: float) -> None:
    write_image(tmp_path / "flat.png", flat_photo(sigma, rng))
    result = collect_noise([tmp_path / "flat.png"], tmp_path / "pool.h5", rule="realsr")
    assert result.added == 6 and result.photos[0].windows == 6
    pool = read_pool(tmp_path / "pool.h5")
    patches = pool.noise_patches()
    assert patches.shape == (6, 256, 256, 3) and patches.dtype == np.float32
    std = patches.reshape(6, -1).std(axis=1) * 255.0
    assert np.all(np.abs(std / sigma - 1.0) < 0.05), std
    # The only other contribution is 8-bit rounding (variance 1/12 grey level²).
    np.testing.assert_allclose(std, np.sqrt(sigma**2 + 1 / 12), rtol=0.01)
    assert np.abs(patches.mean(axis=(1, 2))).max() < 1e-6  # zero mean per channel
    assert sorted(map(tuple, pool.noise_position.tolist())) == BLOCKS
    settings = pool.noise_settings[0]
    assert settings["window"] == 256 and settings["max_variance"] == 20.0
    assert settings["grey_variance"] < 20.0


def test_textured_windows_are_rejected(tmp_path: Path, rng, astronaut) -> None:
    image = flat_photo(2.0, rng)
    image[:, 512:] = astronaut[:512, :256]  # the right column of windows is a real photo
    write_image(tmp_path / "mixed.png", image)
    result = collect_noise([tmp_path / "mixed.png"], tmp_path / "pool.h5", rule="realsr")
    photo = result.photos[0]
    assert (photo.windows, photo.kept, photo.rejected_variance) == (6, 4, 2)
    positions = read_pool(tmp_path / "pool.h5").noise_position.tolist()
    assert sorted(map(tuple, positions)) == [(0, 0), (0, 256), (256, 0), (256, 256)]


def test_variance_is_measured_on_grey_levels(tmp_path: Path, rng) -> None:
    # σ = 6 per channel: channel variance 36 > 20, but the BT.601 grey level averages the
    # independent channel noises: variance 36 * (0.299² + 0.587² + 0.114²) ≈ 16 < 20.
    write_image(tmp_path / "noisy.png", flat_photo(6.0, rng))
    kept = collect_noise([tmp_path / "noisy.png"], tmp_path / "a.h5", rule="realsr").added
    assert kept == 6
    stricter = collect_noise([tmp_path / "noisy.png"], tmp_path / "b.h5", max_variance=12.0,
                             rule="realsr")
    assert stricter.added == 0 and stricter.photos[0].rejected_variance == 6
    # nothing kept: the pool records the photo (its compression) and no patch
    empty = read_pool(tmp_path / "b.h5")
    assert empty.noise_count == 0 and [p.source for p in empty.photos] == ["noisy.png"]


def test_dark_windows_fall_below_min_mean(tmp_path: Path, rng) -> None:
    colours = [*COLOURS[:5], (30, 30, 30)]  # one dark block, grey level 30
    write_image(tmp_path / "dark.png", flat_photo(2.0, rng, colours))
    result = collect_noise([tmp_path / "dark.png"], tmp_path / "a.h5", min_mean=50.0, rule="realsr")
    assert (result.added, result.photos[0].rejected_mean) == (5, 1)
    assert (256, 512) not in map(tuple, read_pool(tmp_path / "a.h5").noise_position.tolist())
    assert collect_noise([tmp_path / "dark.png"], tmp_path / "b.h5",
                         rule="realsr").added == 6  # default 0


def test_grey_levels_are_pillows_luma(rng) -> None:
    from PIL import Image

    pixels = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    reference = np.asarray(Image.fromarray(pixels).convert("L"), dtype=np.float64)
    ours = grey_levels(pixels.astype(np.float32) / 255.0)
    assert np.abs(ours - reference).max() <= 0.5 + 1e-4  # Pillow rounds to integers


def test_window_positions_include_the_last_full_window() -> None:
    assert window_positions(512, 768, 256, 256).tolist() == [list(b) for b in BLOCKS]
    assert window_positions(511, 768, 256, 256).tolist() == [[0, 0], [0, 256], [0, 512]]
    assert window_positions(512, 256, 256, 128)[:, 0].tolist() == [0, 128, 256]
    assert window_positions(100, 100, 256, 256).shape == (0, 2)


def test_window_stats_are_population_mean_and_variance(rng) -> None:
    grey = rng.normal(100, 3, (64, 64))
    means, variances = window_grey_stats(grey, np.array([[0, 0], [32, 16]]), 32)
    block = grey[32:64, 16:48]
    assert means[1] == pytest.approx(block.mean()) and variances[1] == pytest.approx(block.var())


def test_rerun_skips_known_photos_and_redo_replaces(tmp_path: Path, rng) -> None:
    photos = tmp_path / "photos"
    write_image(photos / "a.png", flat_photo(2.0, rng))
    write_image(photos / "b.png", flat_photo(3.0, rng))
    pool = tmp_path / "pool.h5"
    assert collect_noise([photos], pool, rule="realsr").added == 12
    before = pool.read_bytes()
    again = collect_noise([photos], pool, rule="realsr")
    assert again.added == 0 and [p.status for p in again.photos] == ["known", "known"]
    assert pool.read_bytes() == before  # untouched
    (photos / "copy.png").write_bytes((photos / "a.png").read_bytes())  # same content
    assert collect_noise([photos / "copy.png"], pool, rule="realsr").photos[0].status == "known"

    redo = collect_noise([photos / "a.png"], pool, redo=True, max_variance=10.0, rule="realsr")
    assert (redo.removed, redo.added, redo.pool_patches) == (6, 6, 12)
    after = read_pool(pool)
    by_source = {}
    for name, settings in zip(after.noise_source, after.noise_settings, strict=True):
        by_source.setdefault(name, set()).add(settings["max_variance"])
    assert by_source == {"a.png": {10.0}, "b.png": {20.0}}


def test_window_size_cannot_change_without_redo(tmp_path: Path, rng) -> None:
    write_image(tmp_path / "a.png", flat_photo(2.0, rng))
    pool = tmp_path / "pool.h5"
    collect_noise([tmp_path / "a.png"], pool, rule="realsr")
    with pytest.raises(SrkitError, match="256×256 noise patches"):
        collect_noise([tmp_path / "a.png"], pool, window=128, redo=False, stride=128, rule="realsr")
    # Re-doing every photo of the pool replaces all its patches, so a new size is fine.
    result = collect_noise([tmp_path / "a.png"], pool, window=128, stride=128, redo=True,
                           rule="realsr")
    assert result.added == 24 and read_pool(pool).noise_patch_size == 128


def test_small_unreadable_and_transparent_photos(tmp_path: Path, rng) -> None:
    photos = tmp_path / "photos"
    write_image(photos / "small.png", flat_photo(2.0, rng)[:200, :300])
    (photos / "broken.png").write_bytes(b"not a png")
    image = flat_photo(2.0, rng)
    alpha = np.ones(image.shape[:2], dtype=np.float32)
    alpha[300, 600] = 0.0  # one transparent pixel in the bottom-right window
    write_image(photos / "alpha.png", image, alpha)
    result = collect_noise([photos], tmp_path / "pool.h5", rule="realsr")
    status = {p.path.name: p for p in result.photos}
    assert status["small.png"].status == "too-small" and "200" in status["small.png"].reason
    assert status["broken.png"].status == "unreadable" and result.unreadable == 1
    assert (status["alpha.png"].kept, status["alpha.png"].rejected_alpha) == (5, 1)

    before = (tmp_path / "pool.h5").read_bytes()
    write_image(photos / "new.png", flat_photo(3.0, rng))
    with pytest.raises(SrkitError, match="broken.png"):
        collect_noise([photos], tmp_path / "pool.h5", strict=True, rule="realsr")
    assert (tmp_path / "pool.h5").read_bytes() == before  # a failed run writes nothing


def test_bad_settings_are_user_errors(tmp_path: Path, rng) -> None:
    write_image(tmp_path / "a.png", flat_photo(2.0, rng))
    for kwargs in ({"window": 1}, {"stride": 0}, {"max_variance": 0.0}, {"min_mean": 300.0}):
        with pytest.raises(SrkitError):
            collect_noise([tmp_path / "a.png"], tmp_path / "pool.h5", **kwargs, rule="realsr")


# --- CLI ----------------------------------------------------------------------------------

def test_cli_collects_and_summarises(tmp_path: Path, rng) -> None:
    write_image(tmp_path / "photos" / "a.png", flat_photo(2.0, rng))
    pool = tmp_path / "pool.h5"
    runner = CliRunner()
    result = runner.invoke(app, ["collect-noise", "--rule", "realsr",
                                 str(tmp_path / "photos"), "--pool", str(pool),
                                 "--window", "128", "--stride", "128", "--max-variance", "15",
                                 "--min-mean", "10"])
    assert result.exit_code == 0, result.output
    assert "a.png" in result.output and "added 24 patches" in result.output
    assert read_pool(pool).noise_settings[0]["max_variance"] == 15.0

    quiet = runner.invoke(app, ["collect-noise", "--rule", "realsr",
                                str(tmp_path / "photos"), "--pool", str(pool),
                                "--window", "128", "--stride", "128", "-q"])
    assert quiet.exit_code == 0 and quiet.output.strip() == ""

    as_json = runner.invoke(app, ["collect-noise", "--rule", "realsr",
                                  str(tmp_path / "photos"), "--pool",
                                  str(pool), "--window", "128", "--stride", "128", "--redo",
                                  "--json", "-q"])
    data = json.loads(as_json.output)
    assert (data["added"], data["removed"], data["photos"][0]["kept"]) == (24, 24, 24)


def test_cli_max_pixels_guard(tmp_path: Path, rng) -> None:
    from srkit.io.images import DEFAULT_MAX_PIXELS, set_max_pixels

    write_image(tmp_path / "a.png", flat_photo(2.0, rng))
    pool = str(tmp_path / "pool.h5")
    try:
        skipped = CliRunner().invoke(app, ["collect-noise", "--rule", "realsr",
                                           str(tmp_path / "a.png"), "--pool",
                                           pool, "--max-pixels", "1000"])
        assert skipped.exit_code == 1 and "1 unreadable" in skipped.output  # all skipped
        assert "--max-pixels" in str(skipped.exception)
        strict = CliRunner().invoke(app, ["collect-noise", "--rule", "realsr",
                                          str(tmp_path / "a.png"), "--pool",
                                          pool, "--max-pixels", "1000", "--strict"])
        assert strict.exit_code == 1 and "--max-pixels" in str(strict.exception)
    finally:
        set_max_pixels(DEFAULT_MAX_PIXELS)


@pytest.mark.parametrize("case", ["missing", "not-a-pool", "no-images"])
def test_cli_bad_input_exits_1(tmp_path: Path, rng, case: str) -> None:
    write_image(tmp_path / "a.png", flat_photo(2.0, rng)[:256, :256])
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.h5").write_text("hello")
    args = {"missing": [str(tmp_path / "nope.png"), "--pool", str(tmp_path / "p.h5")],
            "not-a-pool": [str(tmp_path / "a.png"), "--pool", str(tmp_path / "notes.h5")],
            "no-images": [str(tmp_path / "empty"), "--pool", str(tmp_path / "p.h5")]}[case]
    result = CliRunner().invoke(app, ["collect-noise", "--rule", "realsr", *args])
    assert result.exit_code == 1 and isinstance(result.exception, SrkitError)
    assert "\n" not in str(result.exception)
    assert (tmp_path / "notes.h5").read_text() == "hello"


def test_cli_error_is_one_line(tmp_path: Path, rng) -> None:
    write_image(tmp_path / "a.png", flat_photo(2.0, rng)[:256, :256])
    (tmp_path / "notes.h5").write_text("hello")
    out = subprocess.run([sys.executable, "-m", "srkit", "collect-noise", "--rule", "realsr",
                          str(tmp_path / "a.png"),
                          "--pool", str(tmp_path / "notes.h5")], capture_output=True, text=True)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1
    assert lines[0].startswith("error:") and "not an HDF5 file" in lines[0]
