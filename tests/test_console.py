"""Output in scripts and logs: plain progress lines at an interval, whole table cells, clean
--json stdout, silence with -q, counts that say what they count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from srkit.console import LogProgress, plural
from srkit.io.images import write_image


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_log_progress_prints_at_the_interval_and_at_the_end() -> None:
    clock, lines = FakeClock(), []
    with LogProgress("img", interval=30, write=lines.append, clock=clock, thread=False) as bar:
        task = bar.add_task("degrade pool x4", total=40, status="")
        assert lines == ["degrade pool x4: 0/40 images, 0:00:00 elapsed"]  # it has begun
        clock.now += 10
        bar.advance(task, 4)
        assert len(lines) == 1  # not before the interval
        clock.now += 60
        bar.advance(task, 8)  # 12 done in 70 s: 28 to go take 163 s
        assert lines[-1] == "degrade pool x4: 12/40 images, 0:01:10 elapsed, eta 0:02:43"
        clock.now += 5
        bar.update(task, status="c.png")
        assert len(lines) == 2
        hidden = bar.add_task("", total=1, visible=False)
        bar.update(hidden, completed=1)
        clock.now += 30
        bar.tick()  # nothing moved, but the log still hears from the work
        assert lines[-1].startswith("degrade pool x4: 12/40 images, 0:01:45 elapsed")
        assert lines[-1].endswith("; c.png")
        clock.now += 1
        bar.advance(task, 28)
    assert lines[-1] == "degrade pool x4: 40/40 images, 0:01:46 elapsed; c.png"
    assert len(lines) == 4 and not any(line.startswith(": ") for line in lines)


def test_log_progress_counts_its_own_units_and_a_resumed_rate() -> None:
    clock, lines = FakeClock(), []
    with LogProgress("it", interval=5, write=lines.append, clock=clock, thread=False) as bar:
        task = bar.add_task("train-sr", total=1000, completed=900, status="")
        tiles = bar.add_task("  tiles", total=None, unit="tiles")
        clock.now += 10
        bar.update(tiles, completed=1)
        bar.update(task, completed=950)  # 50 in 10 s: 50 more take 10 s
    assert "train-sr: 950/1000 iterations, 0:00:10 elapsed, eta 0:00:10" in lines
    assert "tiles: 1 tile, 0:00:10 elapsed" in lines


def test_plural() -> None:
    assert (plural(1, "pair"), plural(2, "pair"), plural(0, "patch", "patches")) == \
        ("1 pair", "2 pairs", "0 patches")


def _srkit(*args: str, cwd: Path, interval: str = "0.05") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["SRKIT_PROGRESS_INTERVAL"] = interval
    return subprocess.run([sys.executable, "-m", "srkit", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def test_in_a_log_progress_lines_appear_and_tables_are_whole(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "a folder with a rather long name for its photos" / "in"
    folder.mkdir(parents=True)
    for name in ("a", "b", "c"):
        write_image(folder / f"{name}.png", rng.random((24, 24, 3)))
    out = tmp_path / "an output folder whose path is longer than eighty columns" / "x2"
    done = _srkit("upscale", str(folder), "--method", "bicubic", "-x", "2", "-o", str(out),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "upscale: 0/3 images, 0:00:00 elapsed" in lines
    assert any(line.startswith("upscale: 3/3 images, ") for line in lines)
    assert not any("━" in line or "\x1b" in line for line in lines)  # no bar, no colours
    assert lines[-1].startswith("3 images ×2 with bicubic in ")
    assert done.stdout.splitlines() == [str(out / f"{n}.png") for n in "abc"]  # whole paths

    models = _srkit("models", cwd=tmp_path)
    assert "examples/train_default_models.sh" in models.stdout  # the cell is not cut
    assert "…" not in models.stdout


def test_json_stays_clean_and_quiet_is_silent(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", np.full((16, 16, 3), 0.5))
    as_json = _srkit("upscale", "a.png", "--method", "bicubic", "-x", "2", "-o", "j.png",
                     "--json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["outputs"] == ["j.png"]
    assert "1 image ×2 with bicubic" in as_json.stderr  # "1 image", not "1 image(s)"
    quiet = _srkit("upscale", "a.png", "--method", "bicubic", "-x", "2", "-o", "q.png", "-q",
                   cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == "q.png\n"
