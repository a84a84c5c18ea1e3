"""Visual reports: crop selection, the self-contained HTML page, the PNG grid and the
``evaluate --report/--grid`` options."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.images import write_image
from srkit.ops.crops import Crop, block_size, select_crops
from srkit.ops.resize import imresize
from srkit.stages.evaluate import evaluate
from srkit.stages.report import _nearest_tile, check_report_options, write_report
from srkit.stages.report_render import (
    CAPTION_H,
    FOOTER_H,
    HEADER_H,
    PAD,
    TITLE_H,
    format_score,
    zoom_for,
)


def _texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    return rng.uniform(0.2, 0.8, (*size, 3)).astype(np.float32)


def _covers(crop: Crop, top: int, left: int, size: int) -> bool:
    return (crop.top <= top and crop.left <= left and top + size <= crop.top + crop.size
            and left + size <= crop.left + crop.size)


# --- crop selection ------------------------------------------------------------------------

@pytest.mark.parametrize("with_reference", [False, True])
def test_crop_covers_a_planted_difference(rng, with_reference: bool) -> None:
    base = _texture(rng, (200, 260))
    changed = base.copy()
    changed[121:141, 170:190] = 1.0 - changed[121:141, 170:190]  # a 20×20 patch differs
    reference = base if with_reference else None
    crops = select_crops([base, changed], reference, crop_size=48, count=3)
    assert _covers(crops[0], 121, 170, 20)
    assert len(crops) == 3 and all(c.size == 48 for c in crops)
    assert not any(a.overlaps(b) for i, a in enumerate(crops) for b in crops[i + 1:])
    assert crops == select_crops([base, changed], reference, crop_size=48, count=3)


def test_with_a_reference_the_methods_errors_are_compared(rng) -> None:
    """Both methods are wrong in the top-left; only one is wrong at the bottom right: the
    crop goes where their errors differ, not where both are equally wrong."""
    reference = _texture(rng, (160, 160))
    a, b = reference.copy(), reference.copy()
    a[10:40, 10:40] = b[10:40, 10:40] = 0.0
    b[110:140, 110:140] = 0.0
    crop = select_crops([a, b], reference, crop_size=32, count=1)[0]
    assert _covers(crop, 110, 110, 30)
    alone = select_crops([a], reference, crop_size=32, count=1)[0]  # one method: its error
    assert _covers(alone, 10, 10, 30)


def test_one_image_without_reference_shows_the_most_detailed_region(rng) -> None:
    image = np.full((128, 128, 3), 0.5, dtype=np.float32)
    image[70:100, 20:50] = _texture(rng, (30, 30))
    crop = select_crops([image], None, crop_size=32, count=1)[0]
    assert _covers(crop, 70, 20, 30)


def test_crop_size_and_count_follow_the_image(rng) -> None:
    small = _texture(rng, (60, 80))
    crops = select_crops([small, small * 0.5], None, crop_size=96, count=3)
    assert [c.size for c in crops] == [60] and crops[0].top == 0  # one 60-px crop fits
    assert block_size(96) == 6 and block_size(97) == 1 and block_size(20) == 1


def test_lr_tiles_repeat_lr_pixels(rng) -> None:
    lr = _texture(rng, (10, 12))
    tile = _nearest_tile(lr, 4, Crop(6, 9, 16))
    expected = np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1)[6:22, 9:25]
    assert np.array_equal(tile, np.round(expected * 255).astype(np.uint8))


# --- the report ----------------------------------------------------------------------------

@pytest.fixture
def data(tmp_path: Path, astronaut, chelsea) -> Path:
    """hr/ (two 64×64 photos), lr/ (×2 bicubic), sr_a/ (bicubic back up), sr_b/ (sr_a with a
    dark 16×16 square in the same place in both)."""
    photos = {"astro": astronaut[100:164, 200:264], "cat": chelsea[60:124, 200:264]}
    for name, photo in photos.items():
        lr = np.clip(imresize(photo, 0.5), 0, 1)
        up = np.clip(imresize(lr, 2), 0, 1)
        marked = up.copy()
        marked[40:56, 8:24] = 0.05
        write_image(tmp_path / "hr" / f"{name}.png", photo)
        write_image(tmp_path / "lr" / f"{name}.png", lr)
        write_image(tmp_path / "sr_a" / f"{name}.png", up)
        write_image(tmp_path / "sr_b" / f"{name}.png", marked)
    return tmp_path


def _curves_csv(path: Path) -> Path:
    from srkit.training.log import COLUMNS

    rows = [",".join(COLUMNS)]
    for i in (10, 20, 30):
        rows.append(",".join({"iteration": str(i), "loss_total": f"{1 / i:.6g}",
                              "loss_pixel": f"{1 / i:.6g}"}.get(c, "") for c in COLUMNS))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_html_is_self_contained_with_names_scores_and_extras(data: Path, tmp_path: Path
                                                              ) -> None:
    result = evaluate([data / "sr_a", data / "sr_b"], data / "hr", scale=2,
                      metrics=["psnr", "ssim"])
    sheet = tmp_path / "pool_sheet.png"
    Image.new("RGB", (20, 10), (1, 2, 3)).save(sheet)
    log = _curves_csv(tmp_path / "model.train.csv")
    out = write_report(result, tmp_path / "out" / "report.html", lr_images=data / "lr",
                       crop_size=32, crops=1, attach=[sheet], training_logs=[log])
    page = out.html.read_text(encoding="utf-8")
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page, flags=re.I)
    assert links and all(link.startswith("data:image/png;base64,") for link in links)
    assert "<script" not in page.lower() and "url(" not in page and "@import" not in page
    assert page.count("<table") >= 4  # means, one per image, all images
    for method in result.methods:
        assert f"<td>{method.label}</td>" in page
        for row in method.images:
            assert format_score("psnr", row.scores["psnr"]) in page
            assert format_score("ssim", row.scores["ssim"]) in page
    assert "LR nearest ×2" in page and "LR bicubic ×2" in page and "reference" in page
    assert "pool_sheet.png" in page and "model.train.csv" in page
    assert out.html_images == ["astro", "cat"] and out.total_images == 2
    # the crop is on the dark square that tells the two methods apart
    assert all(_covers(crops[0], 40, 8, 16) for crops in out.crops.values())


def test_html_caps_the_images_and_says_so(data: Path, tmp_path: Path) -> None:
    result = evaluate([data / "sr_a", data / "sr_b"], data / "hr", metrics=["psnr"])
    out = write_report(result, tmp_path / "r.html", crop_size=32, max_images=1)
    page = out.html.read_text(encoding="utf-8")
    assert out.html_images == ["astro"] and out.total_images == 2
    assert "showing the first 1 of 2 images" in page and "--report-max-images" in page
    assert "<section><h3>cat</h3>" not in page and "<td>cat</td>" in page  # still in the table


@pytest.mark.parametrize("grid_max", [12, 1])
def test_grid_size(data: Path, tmp_path: Path, grid_max: int) -> None:
    result = evaluate([data / "sr_a", data / "sr_b"], data / "hr", metrics=["psnr"])
    out = write_report(result, grid=tmp_path / "grid.png", lr_images=data / "lr", crop_size=24,
                       crops=2, grid_max_images=grid_max)
    cell = 24 * zoom_for(24)
    assert cell == 192
    columns = 5  # LR, bicubic, two methods, reference
    images = min(grid_max, 2)
    width = PAD + (1 + columns) * (cell + PAD)
    height = HEADER_H + images * (TITLE_H + 2 * (cell + CAPTION_H + PAD))
    height += FOOTER_H if grid_max < 2 else 0
    with Image.open(out.grid) as image:
        assert image.format == "PNG" and image.size == (width, height)
    assert len(out.grid_images) == images and out.html is None


def test_without_reference_the_report_shows_methods_only(data: Path, tmp_path: Path) -> None:
    result = evaluate([data / "sr_a", data / "sr_b"], metrics=["niqe"])
    out = write_report(result, tmp_path / "r.html", grid=tmp_path / "g.png", crop_size=32)
    page = out.html.read_text(encoding="utf-8")
    assert "sr_a" in page and "sr_b" in page and "crop PSNR" not in page
    assert all(_covers(crops[0], 40, 8, 16) for crops in out.crops.values())


def test_report_option_errors(data: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    cases = [
        ({"grid": tmp_path / "g.jpg"}, "name it \\*.png"),
        ({"html": tmp_path / "r.txt"}, "name it \\*.html"),
        ({"html": tmp_path / "r.html", "attach": [tmp_path / "none.png"]}, "no such file"),
        ({"html": tmp_path / "r.html", "attach": [text]}, "not a PNG image"),
        ({"grid": tmp_path / "g.png", "attach": [text]}, "add --report"),
        ({"html": tmp_path / "r.html", "crops": 4}, "1 to 3"),
        ({"html": tmp_path / "r.html", "training_logs": [tmp_path / "x.csv"]},
         "no such training log"),
    ]
    for kwargs, message in cases:
        with pytest.raises(SrkitError, match=message):
            check_report_options(**kwargs)


# --- CLI -----------------------------------------------------------------------------------

def run(*args: str):
    return CliRunner().invoke(app, ["evaluate", *args])


def test_cli_report_and_grid(data: Path, tmp_path: Path) -> None:
    html, grid = tmp_path / "r.html", tmp_path / "g.png"
    log = _curves_csv(tmp_path / "m.train.csv")
    result = run(str(data / "sr_a"), str(data / "sr_b"), "--ref", str(data / "hr"), "-x", "2",
                 "--metrics", "psnr", "--lr", str(data / "lr"), "--report", str(html),
                 "--grid", str(grid), "--crop-size", "32", "--crops", "1",
                 "--training-log", str(log), "-q")
    assert result.exit_code == 0, result.output
    assert "astro" in result.stdout  # the table is still printed
    assert "sr_b" in html.read_text(encoding="utf-8") and "m.train.csv" in html.read_text()
    with Image.open(grid) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize("case", ["grid-jpg", "attach-missing", "lr-alone"])
def test_cli_bad_report_options_exit_1(data: Path, tmp_path: Path, case: str) -> None:
    extra = {"grid-jpg": ["--grid", str(tmp_path / "g.jpg")],
             "attach-missing": ["--report", str(tmp_path / "r.html"), "--attach",
                                str(tmp_path / "none.png")],
             "lr-alone": ["--lr", str(data / "lr")]}[case]
    result = run(str(data / "sr_a"), "--ref", str(data / "hr"), "--metrics", "psnr", *extra)
    assert result.exit_code == 1 and isinstance(result.exception, SrkitError)
    assert "\n" not in str(result.exception)
    assert not list(tmp_path.glob("r.html")) and not list(tmp_path.glob("g.*"))


def test_cli_crops_out_of_range_is_a_usage_error(data: Path, tmp_path: Path) -> None:
    assert run(str(data / "sr_a"), "--grid", str(tmp_path / "g.png"), "--crops", "4"
               ).exit_code == 2


def test_cli_error_is_one_line(data: Path, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "srkit", "evaluate", str(data / "sr_a"),
                          "--report", str(tmp_path / "r.html"), "--attach",
                          str(tmp_path / "missing.png")], capture_output=True, text=True)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1 and "missing.png" in lines[0]


def test_cli_grid_and_report_need_overwrite_and_never_replace_inputs(data: Path,
                                                                      tmp_path: Path) -> None:
    hr_image = data / "hr" / "astro.png"
    before = hr_image.read_bytes()
    grid, html = tmp_path / "g.png", tmp_path / "r.html"
    grid.write_bytes(b"keep me")
    html.write_text("keep me")
    base = (str(data / "sr_a"), "--ref", str(data / "hr"), "-x", "2", "--metrics", "psnr",
            "--crop-size", "32", "--crops", "1", "-q")
    for extra, message in ((["--grid", str(hr_image), "--overwrite"], "overwrite an input"),
                           (["--grid", str(grid)], "--overwrite"),
                           (["--report", str(html)], "--overwrite")):
        result = run(*base, *extra)
        assert result.exit_code == 1 and message in str(result.exception), extra
    assert hr_image.read_bytes() == before and grid.read_bytes() == b"keep me"
    assert html.read_text() == "keep me"
    result = run(*base, "--grid", str(grid), "--report", str(html), "--overwrite")
    assert result.exit_code == 0, result.output
    assert grid.read_bytes()[:4] == b"\x89PNG" and "sr_a" in html.read_text()
