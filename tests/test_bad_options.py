"""Bad option values: one ``error:`` line naming the option, exit 2, nothing written.

Every numeric option of every command is checked before any work starts (ranges on the
Option, or a callback for open intervals and value sets), so a typo never reaches torch or
numpy as a traceback, a MemoryError, or a run that silently does nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srkit.cli import app, iter_commands

# (command line before the bad option, option, bad value); OUT stands for the output location
MATRIX = [
    (["estimate-kernels", "a.png", "--pool", "OUT"], "-x", "3"),
    (["estimate-kernels", "a.png", "--pool", "OUT"], "--iters", "0"),
    (["estimate-kernels", "a.png", "--pool", "OUT"], "--seed", "-1"),
    (["estimate-kernels", "a.png", "--pool", "OUT"], "--max-pixels", "-5"),
    (["collect-noise", "a.png", "--pool", "OUT"], "--window", "1"),
    (["collect-noise", "a.png", "--pool", "OUT"], "--stride", "0"),
    (["collect-noise", "a.png", "--pool", "OUT"], "--max-variance", "-1"),
    (["collect-noise", "a.png", "--pool", "OUT"], "--ratio", "0.5"),
    (["collect-noise", "a.png", "--pool", "OUT"], "--ratio", "nan"),
    (["collect-noise", "a.png", "--pool", "OUT"], "--min-mean", "300"),
    (["degrade", "a.png", "-o", "OUT", "-x", "2"], "-x", "5"),
    (["degrade", "a.png", "-o", "OUT", "-x", "2"], "--max-pixels", "-5"),
    (["degrade", "a.png", "-o", "OUT", "-x", "2"], "--workers", "0"),
    (["degrade", "a.png", "-o", "OUT", "-x", "2"], "--tile", "-1"),
    (["degrade", "a.png", "-o", "OUT", "-x", "2"], "--clean-up", "1"),
    (["degrade", "a.png", "-o", "OUT", "-x", "2"], "--crop", "0"),
    (["degrade", "a.png", "-o", "OUT", "-x", "2"], "--jpeg-quality", "101"),
    (["degrade", "a.png", "-o", "OUT", "-x", "2"], "--seed", "-1"),
    (["train-dsn", "hr", "lr", "-o", "OUT"], "-x", "3"),
    (["train-dsn", "hr", "lr", "-o", "OUT"], "--iters", "0"),
    (["train-dsn", "hr", "lr", "-o", "OUT"], "--batch-size", "0"),
    (["train-dsn", "hr", "lr", "-o", "OUT"], "--patch-size", "3"),
    (["train-dsn", "hr", "lr", "-o", "OUT"], "--learning-rate", "0"),
    (["train-dsn", "hr", "lr", "-o", "OUT"], "--adversarial-weight", "-1"),
    (["train-dsn", "hr", "lr", "-o", "OUT"], "--num-block", "0"),
    (["train-dsn", "hr", "lr", "-o", "OUT"], "--save-every", "0"),
    (["train-sr", "-o", "OUT", "pairs"], "--learning-rate", "-1"),
    (["train-sr", "-o", "OUT", "pairs"], "--learning-rate", "inf"),
    (["train-sr", "-o", "OUT", "pairs"], "--iters", "0"),
    (["train-sr", "-o", "OUT", "pairs"], "--batch-size", "0"),
    (["train-sr", "-o", "OUT", "pairs"], "--patch-size", "3"),
    (["train-sr", "-o", "OUT", "pairs"], "--ema-decay", "1"),
    (["train-sr", "-o", "OUT", "pairs"], "--pool-share", "1.5"),
    (["train-sr", "-o", "OUT", "pairs"], "--gan-weight", "-0.1"),
    (["train-sr", "-o", "OUT", "pairs"], "--num-feat", "0"),
    (["train-sr", "-o", "OUT", "pairs"], "-x", "0"),
    (["train-sr", "-o", "OUT", "pairs"], "--workers", "-1"),
    (["train-sr", "-o", "OUT", "pairs"], "--set", "learning_rate=-1"),
    (["train-sr", "-o", "OUT", "pairs"], "--set", "discriminator_learning_rate=0"),
    (["train-sr", "-o", "OUT", "pairs"], "-x", "5-1"),
    (["train-sr", "-o", "OUT", "pairs"], "-x", "2.7"),
    (["train-sr", "-o", "OUT", "pairs"], "-x", "1.15-4"),
    (["train-sr", "-o", "OUT", "pairs"], "--set", "lr_gamma=0"),
    (["train-sr", "-o", "OUT", "pairs"], "--set", "adam_beta2=1"),
    (["train-sr", "-o", "OUT", "pairs"], "--set", "lr_milestones=[2]"),
    (["train-sr", "-o", "OUT", "pairs"], "--set", "pixel_weight=nan"),
    (["train-sr", "-o", "OUT", "pairs"], "--set", "ema_decay=-0.5"),
    (["train-sr", "-o", "OUT", "pairs"], "--set", "batch_size=0"),
    (["train-sr", "-o", "OUT", "pairs"], "--set", "bogus=1"),
    (["upscale", "a.png", "-o", "OUT", "--method", "bicubic"], "--outscale", "200"),
    (["upscale", "a.png", "-o", "OUT", "--method", "bicubic"], "--outscale", "0"),
    (["upscale", "a.png", "-o", "OUT", "--method", "bicubic"], "-x", "100"),
    (["upscale", "a.png", "-o", "OUT", "--method", "bicubic"], "--tile", "-1"),
    (["upscale", "a.png", "-o", "OUT", "--method", "bicubic"], "--tile-overlap", "-1"),
    (["upscale", "a.png", "-o", "OUT", "--method", "bicubic"], "--max-pixels", "-5"),
    (["evaluate", "sr", "--report", "OUT"], "-x", "0"),
    (["evaluate", "sr", "--report", "OUT"], "--border", "-1"),
    (["evaluate", "sr", "--report", "OUT"], "--crop-size", "3"),
    (["evaluate", "sr", "--report", "OUT"], "--crops", "9"),
    (["evaluate", "sr", "--report", "OUT"], "--report-max-images", "0"),
    (["pool", "show", "p.h5", "-o", "OUT"], "--max", "0"),
    (["pool", "show", "p.h5", "-o", "OUT"], "--cell", "100000"),
    (["pool", "show", "p.h5", "-o", "OUT"], "--columns", "0"),
    (["pool", "show", "p.h5", "-o", "OUT"], "--gain", "-1"),
    (["pool", "compare", "real", "fake", "-o", "OUT"], "--max-images", "-1"),
    (["pool", "compare", "real", "fake", "-o", "OUT"], "--seed", "-1"),
]


def _args(before: list[str], option: str, value: str, out: Path) -> list[str]:
    return [str(out) if a == "OUT" else a for a in before] + [option, value]


def _check(code: int, stderr: str, option: str, out: Path) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:") and option in lines[0], lines[0]
    assert not out.exists()


@pytest.mark.parametrize(("before", "option", "value"), MATRIX,
                         ids=[f"{b[0]}{' ' + b[1] if b[0] == 'pool' else ''} {o} {v}"
                              for b, o, v in MATRIX])
def test_bad_value_is_one_line_and_exit_2(tmp_path, monkeypatch, before, option,
                                          value) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out" / "result.h5"
    result = CliRunner().invoke(app, _args(before, option, value, out))
    _check(result.exit_code, result.stderr, option, out)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("before", "option", "value"), [
    (["train-sr", "-o", "OUT", "pairs"], "--learning-rate", "-1"),
    (["upscale", "a.png", "-o", "OUT", "--method", "bicubic"], "--outscale", "200"),
    (["degrade", "a.png", "-o", "OUT", "-x", "2"], "--max-pixels", "-5"),
    (["pool", "compare", "real", "fake", "-o", "OUT"], "--max-images", "-1"),
])
def test_bad_value_on_the_real_stderr(tmp_path, before, option, value) -> None:
    out = tmp_path / "out" / "result.png"
    done = subprocess.run([sys.executable, "-m", "srkit", *_args(before, option, value, out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    _check(done.returncode, done.stderr, option, out)
    assert done.stdout == ""


def test_every_numeric_option_is_bounded() -> None:
    """A new int/float option without a range or a check fails here (then add one above)."""
    unchecked = []
    for name, command in iter_commands():
        for param in command.params:
            if str(param.bare_type()) not in ("int", "float"):
                continue
            if getattr(param, "min", None) is None and getattr(param, "max", None) is None \
                    and param.callback is None:
                unchecked.append(f"{name} {param.opts[-1]}")
    assert unchecked == []


def test_good_values_still_pass_the_checks(tmp_path) -> None:
    """The bounds are not too tight: the defaults and edge values are accepted (the command
    then fails for the missing input, exit 1, not 2)."""
    result = CliRunner().invoke(app, ["upscale", str(tmp_path / "none.png"), "--method",
                                      "bicubic", "--outscale", "16", "--tile", "0",
                                      "--max-pixels", "0"])
    assert result.exit_code == 1 and "none.png" in str(result.exception)
    result = CliRunner().invoke(app, ["degrade", str(tmp_path / "none"), "-o",
                                      str(tmp_path / "o"), "-x", "3", "--seed", "0",
                                      "--clean-up", "2", "--jpeg-quality", "100"])
    assert result.exit_code == 1
