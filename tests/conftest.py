"""Shared fixtures: small real photos from scikit-image (bundled, offline) and helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest


def pytest_configure(config) -> None:
    """Under pytest-xdist (``-n``, pyproject's default) each worker's PyTorch, and what its
    tests start, gets an equal share of the CPUs instead of all of them (two workers on this
    2-core machine, with another job holding one core: 718 s for the suite with a thread
    each, 764 s with two each)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3].astype(np.float32) / 255.0


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """512×512 RGB photo, float32 [0, 1]."""
    return _skimage("astronaut")


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    """300×451 RGB photo (a cat), float32 [0, 1]."""
    return _skimage("chelsea")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """400×600 RGB photo, float32 [0, 1]."""
    return _skimage("coffee")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def photo_dir(tmp_path: Path, astronaut, chelsea, coffee) -> Path:
    """A folder of three small PNG photos (crops of scikit-image's)."""
    from srkit.io.images import write_image

    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut[:256, :256])
    write_image(folder / "chelsea.png", chelsea[:240, :320])
    write_image(folder / "coffee.png", coffee[:200, :288])
    return folder


@pytest.fixture
def run_main(monkeypatch, capsys):
    """``run_main(args) -> (exit code, stderr)``: the console script's entry point,
    ``srkit.cli.main``, with ``sys.argv = ["srkit", *args]``, in this process (the same error
    handling as the installed command, without a second torch import)."""
    from srkit.cli import main

    def run(args: list[str]) -> tuple[int, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["srkit", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        return exit_info.value.code, capsys.readouterr().err

    return run


@pytest.fixture
def one_torch_thread():
    """Tiny convolutions run faster on one thread, above all on a shared CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _isolated_user_models(tmp_path_factory, monkeypatch) -> None:
    """Tests never see (or write to) the real user's models folder."""
    monkeypatch.setenv("SRKIT_MODELS", str(tmp_path_factory.mktemp("user-models")))


@pytest.fixture
def no_spandrel_handoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A layout srkit refuses is not handed to spandrel: the refusal is srkit's own, whether
    spandrel is installed or not (the SPAN / SwinIR / HAT refusal tests)."""
    def refuse(state: dict, refusal: Exception, name: str) -> None:
        raise refusal

    monkeypatch.setattr("srkit.io.checkpoints.load_with_spandrel", refuse)
