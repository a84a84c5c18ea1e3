"""evaluate: pairing by name, size tolerance, conventions, no-reference mode, several methods,
LPIPS from weight files, and the CLI's table / JSON / CSV output and errors."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_metrics import box3, save_random_lpips_weights, u8  # tests/ is on sys.path
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.images import read_image, write_image
from srkit.metrics import niqe, psnr, ssim
from srkit.stages.evaluate import evaluate


@pytest.fixture
def pairs(tmp_path: Path, astronaut, chelsea) -> Path:
    """hr/ with two 200×200 photos; sr/ with their 3×3 box blurs; noisy/ with added noise.
    (200 px leaves two 96-px NIQE blocks per side after a border of up to 4.)"""
    rng = np.random.default_rng(5)
    photos = {"astro": astronaut[64:264, 160:360], "cat": chelsea[40:240, 100:300]}
    for name, photo in photos.items():
        write_image(tmp_path / "hr" / f"{name}.png", photo)
        write_image(tmp_path / "sr" / f"{name}.png", box3(u8(photo)) / 255.0)
        noisy = np.clip(photo + rng.normal(0, 0.05, photo.shape), 0, 1)
        write_image(tmp_path / "noisy" / f"{name}.png", noisy)
    return tmp_path


def test_scores_equal_the_metric_functions_with_border_scale(pairs: Path) -> None:
    result = evaluate([pairs / "sr"], pairs / "hr", scale=4)
    assert result.metrics == ("psnr", "ssim", "niqe")
    assert result.conventions.channel == "Y" and result.conventions.border == 4
    method = result.methods[0]
    assert method.label == "sr" and [row.name for row in method.images] == ["astro", "cat"]
    for row in method.images:
        sr, hr = read_image(row.sr_path).rgb, read_image(row.ref_path).rgb
        assert row.ref_path == pairs / "hr" / f"{row.name}.png"
        assert row.scores["psnr"] == pytest.approx(psnr(sr, hr, border=4), abs=1e-12)
        assert row.scores["ssim"] == pytest.approx(ssim(sr, hr, border=4), abs=1e-12)
        assert row.scores["niqe"] == pytest.approx(niqe(sr, border=4), abs=1e-12)
        assert row.scores["psnr"] != pytest.approx(psnr(sr, hr), abs=1e-3)  # crop mattered
    psnrs = [row.scores["psnr"] for row in method.images]
    assert method.mean("psnr") == pytest.approx(np.mean(psnrs))


def test_border_override_and_rgb(pairs: Path) -> None:
    result = evaluate(pairs / "sr", pairs / "hr", scale=4, border=0, y_channel=False,
                      metrics=["psnr"])
    assert result.metrics == ("psnr",) and result.conventions.border == 0
    assert result.conventions.channel == "RGB"
    row = result.methods[0].images[0]
    sr, hr = read_image(row.sr_path).rgb, read_image(row.ref_path).rgb
    assert row.scores["psnr"] == pytest.approx(psnr(sr, hr, y_channel=False), abs=1e-12)


def test_unmatched_and_missing_names(pairs: Path, chelsea) -> None:
    write_image(pairs / "sr" / "stranger.png", chelsea[:200, :200])
    (pairs / "hr" / "cat.png").rename(pairs / "hr" / "kitten.png")
    result = evaluate(pairs / "sr", pairs / "hr", metrics=["psnr"])
    method = result.methods[0]
    assert [row.name for row in method.images] == ["astro"]
    assert sorted(p.name for p in method.unmatched) == ["cat.png", "stranger.png"]
    assert method.missing == ["kitten"]
    with pytest.raises(SrkitError, match="2 SR image.*without a reference.*cat.png"):
        evaluate(pairs / "sr", pairs / "hr", metrics=["psnr"], strict=True)
    with pytest.raises(SrkitError, match="no SR image has a reference"):
        evaluate(pairs / "sr" / "stranger.png", pairs / "hr")


def test_size_tolerance_below_the_scale(pairs: Path, astronaut) -> None:
    hr = astronaut[:195, :198]  # not a multiple of 4
    write_image(pairs / "hr2" / "a.png", hr)
    sr = np.clip(astronaut[:196, :196] + 0.02, 0, 1)  # ×4 of a 49×49 LR: 1 px taller, 2 narrower
    write_image(pairs / "sr2" / "a.png", sr)
    result = evaluate(pairs / "sr2", pairs / "hr2", scale=4, metrics=["psnr"])
    row = result.methods[0].images[0]
    assert row.cropped_to == (195, 196)
    expected = psnr(read_image(pairs / "sr2" / "a.png").rgb[:195],
                    read_image(pairs / "hr2" / "a.png").rgb[:, :196], border=4)
    assert row.scores["psnr"] == pytest.approx(expected, abs=1e-12)
    with pytest.raises(SrkitError, match=r"a.png: size 196×196 differs .* give -x"):
        evaluate(pairs / "sr2", pairs / "hr2", metrics=["psnr"])
    with pytest.raises(SrkitError, match="more than the 1 px per side allowed at ×2"):
        evaluate(pairs / "sr2", pairs / "hr2", scale=2, metrics=["psnr"])


def test_no_reference_gives_niqe_only(pairs: Path) -> None:
    result = evaluate([pairs / "sr", pairs / "noisy"])
    assert result.metrics == ("niqe",)
    assert [m.label for m in result.methods] == ["sr", "noisy"]
    assert all(row.ref_path is None for m in result.methods for row in m.images)
    with pytest.raises(SrkitError, match="psnr, ssim compare with a reference"):
        evaluate(pairs / "sr", metrics=["psnr", "ssim", "niqe"])
    with pytest.raises(SrkitError, match="unknown metric fid"):
        evaluate(pairs / "sr", pairs / "hr", metrics=["psnr", "fid"])


def test_too_small_for_niqe_is_left_out_with_none(pairs: Path, chelsea) -> None:
    write_image(pairs / "small" / "tiny.png", chelsea[:120, :120])
    result = evaluate([pairs / "small", pairs / "sr"])
    small, big = result.methods
    assert small.images[0].scores["niqe"] is None and small.mean("niqe") is None
    assert small.count("niqe") == 0 and big.count("niqe") == 2
    with pytest.raises(SrkitError, match="tiny.png: niqe not computable"):
        evaluate(pairs / "small", strict=True)


def test_unreadable_images_are_skipped_unless_strict(pairs: Path) -> None:
    (pairs / "sr" / "broken.png").write_bytes(b"\x89PNG not really")
    (pairs / "hr" / "broken.png").write_bytes(b"\x89PNG not really")
    result = evaluate([pairs / "sr", pairs / "noisy"], pairs / "hr", metrics=["psnr"])
    assert [row.name for row in result.methods[0].images] == ["astro", "cat"]
    assert len(result.skipped) == 2 and all("broken.png" in s for s in result.skipped)
    with pytest.raises(SrkitError, match="broken.png"):
        evaluate(pairs / "sr", pairs / "hr", metrics=["psnr"], strict=True)


def test_single_reference_file_pairs_whatever_the_name(pairs: Path) -> None:
    result = evaluate(pairs / "sr" / "cat.png", pairs / "hr" / "astro.png", metrics=["psnr"])
    assert result.methods[0].images[0].ref_path == pairs / "hr" / "astro.png"


def test_duplicate_stems_are_refused(pairs: Path, chelsea) -> None:
    write_image(pairs / "hr" / "cat.jpg", chelsea[:192, :192])
    with pytest.raises(SrkitError, match="two images share the name 'cat'"):
        evaluate(pairs / "sr", pairs / "hr")


def test_lpips_through_the_stage(pairs: Path) -> None:
    lin_path, alex_path = save_random_lpips_weights(pairs / "weights")
    result = evaluate([pairs / "sr", pairs / "noisy"], pairs / "hr", scale=2,
                      lpips_weights=lin_path, alexnet_weights=alex_path, metrics=None)
    assert result.metrics == ("psnr", "ssim", "niqe", "lpips")  # lpips joins the defaults
    assert all(row.scores["lpips"] > 0 for m in result.methods for row in m.images)
    same = evaluate(pairs / "hr", pairs / "hr", metrics=["lpips", "psnr"],
                    lpips_weights=lin_path, alexnet_weights=alex_path)
    assert all(row.scores["lpips"] == pytest.approx(0, abs=1e-7)
               for row in same.methods[0].images)
    assert all(row.scores["psnr"] == math.inf for row in same.methods[0].images)


# ---------------------------------------------------------------------------------- CLI ----

def run(*args: str):
    return CliRunner().invoke(app, ["evaluate", *args])


def test_cli_table_names_conventions_and_means(pairs: Path) -> None:
    result = run(str(pairs / "sr"), str(pairs / "noisy"), "--ref", str(pairs / "hr"), "-x", "4",
                 "--metrics", "psnr,ssim", "-q")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Y of BT.601" in out and "border 4 px" in out and "data range 255" in out
    assert "astro" in out and "cat" in out and "mean (2)" in out
    assert "sr" in out and "noisy" in out and "PSNR" in out
    expected = evaluate(pairs / "sr", pairs / "hr", scale=4, metrics=["psnr"])
    assert f"{expected.methods[0].mean('psnr'):.2f}" in out


def test_cli_json(pairs: Path) -> None:
    result = run(str(pairs / "sr"), "--ref", str(pairs / "hr"), "-x", "2", "--rgb", "--json",
                 "-q", "--metrics", "psnr,niqe")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metrics"] == ["psnr", "niqe"]
    assert data["conventions"]["channel"] == "RGB" and data["conventions"]["border"] == 2
    assert data["conventions"]["data_range"] == 255
    method = data["methods"][0]
    assert [image["name"] for image in method["images"]] == ["astro", "cat"]
    mean = np.mean([image["psnr"] for image in method["images"]])
    assert method["mean"]["psnr"] == pytest.approx(mean)
    identical = run(str(pairs / "hr"), "--ref", str(pairs / "hr"), "--json", "-q",
                    "--metrics", "psnr")
    assert json.loads(identical.stdout)["methods"][0]["mean"]["psnr"] == "inf"


def test_cli_csv(pairs: Path) -> None:
    result = run(str(pairs / "sr"), "--ref", str(pairs / "hr"), "--csv", "-q",
                 "--metrics", "ssim")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["image"] for r in rows] == ["astro", "cat", "MEAN"]
    assert set(rows[0]) == {"method", "image", "sr", "ref", "ssim", "channel", "border"}
    assert rows[0]["channel"] == "Y" and rows[0]["border"] == "0"
    assert float(rows[2]["ssim"]) == pytest.approx(
        (float(rows[0]["ssim"]) + float(rows[1]["ssim"])) / 2)


@pytest.mark.parametrize("case", ["missing", "psnr-without-ref", "unknown-metric", "no-lpips"])
def test_cli_bad_input_exits_1(pairs: Path, case: str) -> None:
    args = {"missing": [str(pairs / "nowhere")],
            "psnr-without-ref": [str(pairs / "sr"), "--metrics", "psnr"],
            "unknown-metric": [str(pairs / "sr"), "--metrics", "psnr,vmaf"],
            "no-lpips": [str(pairs / "sr"), "--ref", str(pairs / "hr"), "--metrics", "lpips"]
            }[case]
    result = run(*args)
    assert result.exit_code == 1 and isinstance(result.exception, SrkitError)
    assert "\n" not in str(result.exception)


def test_cli_json_and_csv_together_is_a_usage_error(pairs: Path) -> None:
    assert run(str(pairs / "sr"), "--json", "--csv").exit_code == 2


def test_cli_error_is_one_line(pairs: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "srkit", "evaluate", str(pairs / "sr"),
                          "--ref", str(pairs / "nowhere")], capture_output=True, text=True)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1
    assert lines[0].startswith("error:") and "nowhere" in lines[0]
