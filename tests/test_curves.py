"""Training curves: the plot helpers, reading train-sr / train-dsn CSV logs, the PNG, and the
hooks in the training loops."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from srkit.errors import SrkitError
from srkit.ops.plot import COLOURS, draw_panel, log_range, log_ticks, nice_range
from srkit.stages.curves import (
    PANEL_SIZE,
    _binned,
    curves_path,
    plot_training_log,
    read_training_log,
    update_curves,
)


def _colour_mask(image: Image.Image, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(np.asarray(image.convert("RGB")) == colour, axis=2)


def _write_sr_log(path: Path, rows: int = 60, val_every: int = 20) -> None:
    """A train-sr log written by the real writer: losses decaying 10× per 100 iterations."""
    from srkit.training.log import CsvLog

    log = CsvLog(path)
    for i in range(1, rows + 1):
        iteration = 10 * i
        loss = 0.1 * 10 ** (-iteration / 100)
        log.write({"iteration": iteration, "loss_total": loss, "loss_pixel": loss,
                   "learning_rate": 2e-4, "data_wait_s": 0.01, "step_s": 0.1,
                   "val_psnr_y": 25 + iteration / 100 if iteration % (10 * val_every) == 0
                   else None, "elapsed_s": iteration * 0.11})


def test_log_ticks_and_ranges() -> None:
    assert log_ticks(1e-3, 1e-1) == pytest.approx([1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1])
    assert log_ticks(1e-6, 1.0) == pytest.approx([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert log_ticks(3.0, 4.0) == [3.0, 4.0]  # nothing nice inside: the ends
    low, high = log_range([0.01, 0.1, -1.0])  # non-positive values are ignored
    assert low < 0.01 and 0.1 < high and math.log10(0.01 / low) == pytest.approx(
        math.log10(high / 0.1))
    assert nice_range([2.0, 2.0]) == pytest.approx((1 - 0.12, 3 + 0.12))


def test_log_axis_maps_decades_linearly() -> None:
    """Three points one decade apart lie on a straight line on a log axis: the middle one is
    at the plot's vertical centre (on a linear axis it would be near the bottom)."""
    image = Image.new("RGB", (440, 300), (255, 255, 255))
    colour = COLOURS[2]
    draw_panel(ImageDraw.Draw(image), (0, 0), "", "", "", (0.0, 1.0), (1e-3, 1e-1),
               [([0.0, 0.5, 1.0], [1e-3, 1e-2, 1e-1], colour)], log_y=True)
    margin, width, height = 56, 440 - 56 - 10, 300 - 2 * 56 + 10
    centre = (round(margin + width / 2), round(margin + height / 2))
    mask = _colour_mask(image, colour)
    assert mask[centre[1] - 2:centre[1] + 3, centre[0] - 2:centre[0] + 3].any()
    linear_y = round(margin + height - (1e-2 - 1e-3) / (1e-1 - 1e-3) * height)
    assert not mask[linear_y - 2:linear_y + 3, centre[0] - 1:centre[0] + 2].any()


def test_read_training_log_keeps_gaps(tmp_path: Path) -> None:
    path = tmp_path / "model.train.csv"
    _write_sr_log(path, rows=60)
    log = read_training_log(path)
    assert log.iterations == list(range(10, 610, 10))
    assert log.series("loss_total")[0] == pytest.approx(0.1 * 10 ** -0.1, rel=1e-5)
    psnr = log.series("val_psnr_y")
    assert [v is not None for v in psnr].count(True) == 3 and psnr[19] == pytest.approx(27.0)
    assert not log.has_values("loss_gan") and log.has_values("loss_pixel")
    assert curves_path(path) == tmp_path / "model.curves.png"
    assert curves_path(tmp_path / "run.csv") == tmp_path / "run.curves.png"


def test_binning_averages_long_logs() -> None:
    xs = list(range(1000))
    ys = [float(x % 2) for x in xs]  # alternating 0/1: every bin of two averages to 0.5
    bx, by = _binned(xs, ys, max_points=500)
    assert len(bx) == 500 and by == pytest.approx([0.5] * 500) and bx[0] == 0.5
    gx, gy = _binned([1, 2, 3], [1.0, None, 3.0])
    assert gx == [1.0, 3.0] and gy == [1.0, 3.0]


def test_plot_sr_log_has_loss_and_psnr_panels(tmp_path: Path) -> None:
    path = tmp_path / "model.train.csv"
    _write_sr_log(path)
    png = plot_training_log(path)
    assert png == tmp_path / "model.curves.png"
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (2 * PANEL_SIZE[0], PANEL_SIZE[1] + 24)
        image = image.convert("RGB")
    width = PANEL_SIZE[0]
    # loss_total (first colour) and loss_pixel (second) drawn in the left panel; the
    # validation PSNR (third colour) in the right one
    assert _colour_mask(image, COLOURS[1])[:, :width].sum() > 100
    psnr_mask = _colour_mask(image, COLOURS[2])
    assert psnr_mask[:, width:].sum() > 20 and psnr_mask[:, :width].sum() == 0
    assert not list(tmp_path.glob(".*"))  # atomic write left no temporary file


def test_dsn_log_draws_discriminator_panel(tmp_path: Path) -> None:
    from srkit.stages.train_dsn import LOG_COLUMNS
    from srkit.training.log import CsvLog

    path = tmp_path / "dsn.train.csv"
    log = CsvLog(path, columns=LOG_COLUMNS)
    for i in range(1, 11):
        log.write({"iteration": i, "loss_total": 1.0 / i, "loss_content": 0.5 / i,
                   "loss_adversarial": 0.7, "loss_discriminator": 1.3, "d_real": 0.6,
                   "d_fake": 0.4, "learning_rate": 1e-4, "elapsed_s": float(i)})
    assert "val_psnr_y" not in LOG_COLUMNS
    with Image.open(plot_training_log(path, tmp_path / "x.png")) as image:
        assert image.size == (2 * PANEL_SIZE[0], PANEL_SIZE[1] + 24)  # losses + D panels


def test_bad_logs_raise_one_line_errors_and_update_only_warns(tmp_path: Path, capsys) -> None:
    with pytest.raises(SrkitError, match="no such training log"):
        read_training_log(tmp_path / "none.csv")
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(SrkitError, match="no 'iteration' column"):
        plot_training_log(foreign)
    assert update_curves(foreign) is None
    assert "training curves not drawn" in capsys.readouterr().err
    header_only = tmp_path / "new.train.csv"
    header_only.write_text("iteration,loss_total\n")
    assert update_curves(header_only) is None and not curves_path(header_only).exists()
    assert "warning" not in capsys.readouterr().err
    with pytest.raises(SrkitError, match="name it"):
        plot_training_log(header_only, tmp_path / "c.jpg")


def test_train_dsn_writes_curves_at_its_saves(tmp_path: Path, astronaut, coffee,
                                              one_torch_thread) -> None:
    from srkit.io.images import write_image
    from srkit.ops.resize import imresize
    from srkit.stages.train_dsn import train_dsn

    write_image(tmp_path / "hr" / "a.png", astronaut[:64, :64])
    write_image(tmp_path / "real" / "c.png", imresize(astronaut[200:328, 200:328], 0.5))
    output = tmp_path / "dsn.safetensors"
    train_dsn(tmp_path / "hr", tmp_path / "real", output, scale=2, iters=2, batch_size=1,
              patch_size=16, num_feat=4, num_block=1, sample_every=0, save_every=2,
              log_every=1, device="cpu", quiet=True)
    with Image.open(tmp_path / "dsn.curves.png") as image:
        assert image.format == "PNG"


def test_train_sr_writes_curves_beside_its_log(tmp_path: Path, astronaut,
                                               one_torch_thread) -> None:
    from srkit.io.images import write_image
    from srkit.ops.resize import imresize
    from srkit.stages.train_sr import train_sr

    for name, (top, left) in {"a": (0, 0), "b": (200, 200)}.items():
        hr = astronaut[top:top + 64, left:left + 64]
        write_image(tmp_path / "pairs" / "hr" / f"{name}.png", hr)
        write_image(tmp_path / "pairs" / "lr" / f"{name}.png", imresize(hr, 0.5))
    result = train_sr(tmp_path / "pairs", tmp_path / "m.safetensors", 2, arch="compact",
                      arch_args={"num_feat": 4, "num_conv": 1}, iters=3, batch_size=2,
                      patch_size=32, workers=0, device="cpu", log_every=1, save_every=2)
    curves = tmp_path / "m.curves.png"
    assert result.log == tmp_path / "m.train.csv" and curves_path(result.log) == curves
    log = read_training_log(result.log)
    assert log.iterations == [1, 2, 3]
    with Image.open(curves) as image:  # redrawn at the last save, from the whole log
        assert image.size == (2 * PANEL_SIZE[0], PANEL_SIZE[1] + 24)
        drawn = np.asarray(image.convert("RGB"))
    from srkit.stages.curves import render_training_log

    assert np.array_equal(drawn, np.asarray(render_training_log(result.log)))
