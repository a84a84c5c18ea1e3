"""The CSV log of a training run (``MODEL.train.csv``): one row per logging interval.

:data:`COLUMNS` are train-sr's; other stages pass their own column set to :class:`CsvLog`.
Losses are means over the interval (``loss_low``, ``d_real`` and ``d_fake`` — the DASR
discriminator's mean probabilities for real HR and SR(real LR) bands — only in dasr runs);
``data_wait_s`` is the time the training loop spent waiting for batches in that interval and
``step_s`` the time spent in optimisation steps, so ``data_wait_s / (data_wait_s + step_s)``
says whether the loader keeps up. A resumed run drops
the rows written after the state it resumes from, then appends.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from srkit.io.atomic import atomic_path

COLUMNS = ("iteration", "loss_total", "loss_pixel", "loss_perceptual", "loss_gan",
           "loss_discriminator", "loss_low", "d_real", "d_fake", "learning_rate", "val_psnr_y",
           "data_wait_s", "step_s", "elapsed_s")


def log_path(output: str | Path) -> Path:
    """``model.safetensors`` → ``model.train.csv``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.train.csv")


def loss_column(name: str) -> str:
    """CSV column of a logged term: ``loss_NAME``, except the discriminator's mean
    probabilities ``d_real`` / ``d_fake``."""
    return name if name.startswith("d_") else f"loss_{name}"


class CsvLog:
    """Appends rows of ``columns`` (other keys of a row are left out); ``resume_from`` keeps
    only rows up to that iteration."""

    def __init__(self, path: str | Path, resume_from: int | None = None,
                 columns: Sequence[str] = COLUMNS) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        if resume_from is not None and self.path.exists():
            with open(self.path, newline="") as handle:
                rows = [row for row in csv.DictReader(handle)
                        if row.get("iteration", "").isdigit()
                        and int(row["iteration"]) <= resume_from]
            with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, self.columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", newline="") as handle:
                csv.DictWriter(handle, self.columns).writeheader()

    def write(self, row: Mapping[str, float | int | str | None]) -> None:
        values = {key: _format(row.get(key)) for key in self.columns}
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, self.columns).writerow(values)


def _format(value: float | int | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class LossMeter:
    """Running sums of the loss terms of an interval, tensors or floats (tensors are
    synchronised with the device only when read, so logging costs nothing per step on a
    GPU)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor | float] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, losses: Mapping[str, torch.Tensor | float]) -> None:
        for name, value in losses.items():
            if name in self.sums:
                self.sums[name] = self.sums[name] + value
            else:
                self.sums[name] = value.clone() if isinstance(value, torch.Tensor) else value
            self.counts[name] += 1

    def means(self) -> dict[str, float]:
        return {name: float(total) / self.counts[name] for name, total in self.sums.items()}

    def reset(self) -> None:
        self.sums.clear()
        self.counts.clear()
