"""Ctrl-C: every command says it was interrupted, what it kept and how to go on; exit 130."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from srkit.cli import app
from srkit.io.images import write_image

# (stage module, function, command line, words the message must hold)
CASES = [
    ("estimate_kernels", "estimate_kernels", ["estimate-kernels", "a.png", "--pool", "p.h5"],
     "run the same command again"),
    ("collect_noise", "collect_noise", ["collect-noise", "a.png", "--pool", "p.h5"],
     "run the same command again"),
    ("degrade", "degrade", ["degrade", "a.png", "-o", "pairs", "-x", "2", "--mode", "bicubic"],
     "pairs made so far are kept"),
    ("train_sr", "train_sr", ["train-sr", "-o", "m.safetensors", "pairs"], "--resume"),
    ("train_dsn", "train_dsn", ["train-dsn", "hr", "lr"], "--resume"),
    ("upscale", "upscale", ["upscale", "a.png", "--method", "bicubic", "-x", "2"],
     "finished images are kept"),
    ("evaluate", "evaluate", ["evaluate", "sr"], "interrupted"),
    ("pool_compare", "compare_degradations", ["pool", "compare", "real", "fake"],
     "srkit pool compare"),
]


@pytest.mark.parametrize(("module", "function", "args", "words"), CASES,
                         ids=[case[2][0] if case[2][0] != "pool" else "pool-compare"
                              for case in CASES])
def test_ctrl_c_says_what_was_kept_and_exits_130(monkeypatch, module, function, args,
                                                  words) -> None:
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(f"srkit.stages.{module}"), function,
                        interrupted)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 130
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted:"), result.stderr
    assert words in lines[0] and " ".join(args[:2] if args[0] == "pool" else args[:1]) \
        in lines[0]

def test_sigint_to_a_running_upscale_prints_one_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # the shipped ×4 model on 900² in 512² tiles: seconds of work after the first progress
    # line even on a fast CPU (a bicubic run could finish before the signal arrived)
    write_image(tmp_path / "big.png", rng.random((900, 900, 3)))
    log = tmp_path / "stderr.log"
    env = {**os.environ, "SRKIT_PROGRESS_INTERVAL": "0.2"}
    with open(log, "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "srkit", "upscale", str(tmp_path / "big.png"), "-x", "4",
             "-o", str(tmp_path / "out.png")],
            stdout=subprocess.PIPE, stderr=err, env=env,
            # a shell's background job (CI under `cmd &`) ignores SIGINT, and Python keeps an
            # ignored SIGINT ignored: give the child the terminal's default, as a user has
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        while "upscale" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # the first progress line: the work has begun
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 130
    text = log.read_text()
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1].startswith("interrupted: srkit upscale: finished "
                                                    "images are kept")
    assert not (tmp_path / "out.png").exists()
