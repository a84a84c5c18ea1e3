"""The shared training loop: cadence, CSV log, Ctrl-C, bit-exact resume with random states."""

from __future__ import annotations

import csv
import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from srkit.training.loop import LoopHooks, LoopPlan, restore, run_loop
from srkit.training.state import capture_rng, load_state


class _NoisyTrainer:
    """A linear model whose steps draw from the torch, NumPy and Python global generators,
    so that a resume that lost a random state would diverge."""

    def __init__(self) -> None:
        self.model = nn.Linear(4, 1)
        with torch.no_grad():
            self.model.weight.fill_(0.1)
            self.model.bias.zero_()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.05)

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, batch):
        inputs, targets = batch
        jitter = torch.randn(inputs.shape) * 0.01 + float(np.random.rand()) * 0.01
        self.optimizer.zero_grad()
        loss = ((self.model(inputs + jitter) - targets) ** 2).mean() * (1 + random.random())
        loss.backward()
        self.optimizer.step()
        return {"total": loss.detach(), "d_real": 0.5}

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def _batches(first: int):
    for iteration in range(first, 8):
        data = torch.Generator().manual_seed(iteration)  # batch i depends on i alone
        yield torch.rand(3, 4, generator=data), torch.rand(3, 1, generator=data)


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _plan(tmp_path: Path, name: str) -> LoopPlan:
    return LoopPlan(8, tmp_path / f"{name}.resume.pt", tmp_path / f"{name}.train.csv",
                    save_every=4, log_every=2, sample_every=3, run_info={"settings": "x"})


def _hooks(saved: list[int], sampled: list[int], after_step=None) -> LoopHooks:
    return LoopHooks(save=saved.append, sample=sampled.append, after_step=after_step,
                     validate=lambda: {"val_psnr_y": 30.0}, status=lambda row: "")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if not k.endswith("_s")}
                for row in csv.DictReader(handle)]


def test_cadence_log_and_state(tmp_path: Path) -> None:
    _seed(0)
    trainer, saved, sampled = _NoisyTrainer(), [], []
    plan = LoopPlan(8, tmp_path / "m.resume.pt", tmp_path / "m.train.csv", save_every=4,
                    log_every=3, val_every=6, sample_every=3, metric_names=("val_psnr_y",))
    result = run_loop(trainer, _batches, plan, _hooks(saved, sampled))
    assert (result.start, result.iteration) == (0, 8)
    assert saved == [4, 8] and sampled == [3, 6, 8]
    assert [row["iteration"] for row in result.history] == [3, 6, 8]
    assert [row["val_psnr_y"] for row in result.history] == [None, 30.0, 30.0]
    assert result.history[0]["d_real"] == 0.5 and "loss_total" in result.history[0]
    assert [row["iteration"] for row in _rows(plan.log_file)] == ["3", "6", "8"]
    state = load_state(plan.state_file)
    assert state["iteration"] == 8 and {"trainer", "rng"} <= set(state)
    with pytest.raises(ValueError, match="the loop's own"):
        run_loop(trainer, _batches, LoopPlan(8, plan.state_file, plan.log_file,
                                             run_info={"rng": 1}), _hooks([], []))


def test_ctrl_c_saves_reports_and_resumes_bit_for_bit_with_random_states(tmp_path, capsys):
    _seed(1)
    straight = _NoisyTrainer()
    run_loop(straight, _batches, _plan(tmp_path, "straight"), _hooks([], []))
    rng_straight = capture_rng()

    def interrupt(iteration: int) -> None:
        if iteration == 3:
            os.kill(os.getpid(), signal.SIGINT)  # arrives during the run; handled at its end

    _seed(1)
    stopped, saved, sampled = _NoisyTrainer(), [], []
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt, match="stopped at iteration 3"):
            run_loop(stopped, _batches, _plan(tmp_path, "stopped"),
                     _hooks(saved, sampled, interrupt))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)
    message = " ".join(capsys.readouterr().err.split())
    assert "stopped at iteration 3" in message and "continue with --resume" in message
    assert "stopped.resume.pt" in message
    assert saved == [3] and sampled == [3]
    state = load_state(tmp_path / "stopped.resume.pt")
    assert state["iteration"] == 3 and state["settings"] == "x"

    _seed(99)  # a new process: other random states until the saved ones are restored
    resumed = _NoisyTrainer()
    start = restore(state, resumed)
    result = run_loop(resumed, _batches, _plan(tmp_path, "stopped"), _hooks(saved, sampled),
                      start)
    assert (result.start, result.iteration) == (3, 8) and saved == [3, 4, 8]
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    rng_resumed = capture_rng()
    assert torch.equal(rng_straight["torch"], rng_resumed["torch"])
    assert torch.equal(rng_straight["numpy"]["keys"], rng_resumed["numpy"]["keys"])
    assert rng_straight["numpy"]["pos"] == rng_resumed["numpy"]["pos"]
    assert torch.equal(rng_straight["python"]["state"], rng_resumed["python"]["state"])
    # the row after the stop was dropped and written again; the interval straddling the
    # stop (4) averages the resumed iterations only, the others match
    rows = [_rows(tmp_path / f"{name}.train.csv") for name in ("straight", "stopped")]
    assert [r["iteration"] for r in rows[1]] == ["2", "4", "6", "8"]
    assert rows[0][:1] + rows[0][2:] == rows[1][:1] + rows[1][2:]


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    def twice(iteration: int) -> None:
        if iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    saved: list[int] = []
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt) as stop:
            run_loop(_NoisyTrainer(), _batches, _plan(tmp_path, "m"), _hooks(saved, [], twice))
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert saved == [] and "stopped at" not in str(stop.value)
