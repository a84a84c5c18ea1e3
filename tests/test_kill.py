"""SIGKILL mid-run: nothing keeps writing, nothing half-written is taken for output, and the
same command run again gives the bytes an uninterrupted run gives."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from srkit.io.images import write_image


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _srkit(*args: str) -> list[str]:
    return [sys.executable, "-m", "srkit", *map(str, args)]


def _run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(_srkit(*args), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def _files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones included) by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killed_parallel_degrade_stops_its_workers_and_a_rerun_finishes_it(
        tmp_path: Path, astronaut) -> None:
    photos = tmp_path / "photos"
    for i in range(24):
        top, left = (i * 37) % 128, (i * 53) % 128
        write_image(photos / f"p{i:02d}.png", astronaut[top:top + 256, left:left + 256])
    args = ["degrade", photos, "-x", "2", "--mode", "random", "--seed", "3", "--workers", "2"]
    killed = tmp_path / "killed"
    process = subprocess.Popen(_srkit(*args, "-o", killed), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: len(list((killed / "lr").glob("*.png"))) > 0, 120)
        workers = _children(process.pid)
        assert workers, "no worker processes found"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        # every child (the two workers, multiprocessing's resource tracker) goes in seconds
        assert _wait_for(lambda: not any(_alive(pid) for pid in workers), 5), workers
        made = sorted((killed / "lr").glob("*.png"))
        time.sleep(1.0)
        assert sorted((killed / "lr").glob("*.png")) == made
        assert len(made) < 24, "the run finished before the kill: make it longer"
    finally:
        if process.poll() is None:
            process.kill()

    _run(*args, "-o", killed)
    straight = tmp_path / "straight"
    _run(*args, "-o", straight)
    got, expected = _files(killed), _files(straight)
    manifest_got = got.pop("manifest.jsonl").decode().splitlines()
    manifest_expected = expected.pop("manifest.jsonl").decode().splitlines()
    assert got.keys() == expected.keys()  # no temporary of a killed worker is left
    assert got == expected
    by_name = {json.loads(line)["name"]: line for line in manifest_got}  # last line wins
    assert sorted(by_name.values()) == sorted(manifest_expected)


def _kill_when(command: list, ready, seconds: float = 120) -> None:
    """Start ``command``, SIGKILL it once ``ready()`` holds, and wait for it to die."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: ready() or process.poll() is not None, seconds)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def _pool_exists(pool: Path):
    return lambda: pool.exists()


@pytest.mark.slow
def test_killed_estimate_kernels_rerun_gives_the_same_kernels_per_photo(
        tmp_path: Path, astronaut) -> None:
    from srkit.io.pools import read_pool

    photos = tmp_path / "photos"
    for i in range(6):
        top, left = (i * 37) % 200, (i * 53) % 200
        write_image(photos / f"p{i}.png", astronaut[top:top + 160, left:left + 160])
    args = ["estimate-kernels", photos, "-x", "2", "--method", "edge-gauss", "--pool"]
    killed, straight = tmp_path / "killed" / "pool.h5", tmp_path / "straight" / "pool.h5"
    _kill_when(_srkit(*args, killed), _pool_exists(killed))
    assert len(read_pool(killed).kernels(2)) < 6  # a readable pool with what was finished
    _run(*args, killed)
    _run(*args, straight)

    def per_photo(pool: Path) -> dict:
        kernels = read_pool(pool).kernels(2)
        assert len(kernels) == 6
        return {source: (kernels.kernels[i].tobytes(), kernels.method[i], kernels.flag[i])
                for i, source in enumerate(kernels.source)}

    assert per_photo(killed) == per_photo(straight)
    assert _temporaries(killed.parent) == []


@pytest.mark.slow
def test_killed_collect_noise_rerun_gives_the_same_patches(tmp_path: Path) -> None:
    from srkit.io.pools import read_pool

    photos = tmp_path / "photos"
    rng = np.random.default_rng(7)
    for i in range(12):
        image = np.full((256, 256, 3), 0.2 + 0.05 * i)
        image[:, 128:] += 0.15
        write_image(photos / f"p{i:02d}.png", image + rng.normal(0, 2 / 255, image.shape))
    args = ["collect-noise", photos, "--window", "64", "--stride", "64", "--pool"]
    killed, straight = tmp_path / "killed" / "pool.h5", tmp_path / "straight" / "pool.h5"
    _kill_when(_srkit(*args, killed), _pool_exists(killed))
    assert len(set(read_pool(killed).noise_source)) < 12
    _run(*args, killed)
    _run(*args, straight)

    def patches(pool_path: Path) -> dict:
        pool = read_pool(pool_path)
        found = {}
        for start, block in pool.iter_noise():
            for index, patch in enumerate(block, start):
                key = (pool.noise_source[index], tuple(pool.noise_position[index].tolist()))
                found[key] = patch.tobytes()
        return found

    got, expected = patches(killed), patches(straight)
    assert len({source for source, _ in expected}) == 12
    assert got == expected
    assert _temporaries(killed.parent) == []


@pytest.mark.slow
def test_killed_train_dsn_resumes_bit_for_bit(tmp_path: Path, astronaut, coffee) -> None:
    """tests/test_dsn.py covers Ctrl-C; this is SIGKILL, which saves nothing on the way out:
    the run resumes from its last periodic state (train-sr: tests/test_train_sr.py)."""
    import torch
    from safetensors.torch import load_file

    from srkit.ops.resize import imresize
    from srkit.training.state import load_state

    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "real"
    write_image(hr_dir / "a.png", astronaut[:96, :96])
    write_image(hr_dir / "b.png", coffee[:64, :80])
    write_image(lr_dir / "c.png", imresize(astronaut[200:328, 200:328], 0.5))
    args = ["train-dsn", hr_dir, lr_dir, "-x", "2", "--iters", "40", "--batch-size", "2",
            "--patch-size", "16", "--num-feat", "8", "--num-block", "1",
            "--discriminator-feat", "8", "--sample-every", "0", "--save-every", "4",
            "--log-every", "4", "--device", "cpu", "--seed", "3", "-q", "-o"]
    killed, straight = tmp_path / "killed.safetensors", tmp_path / "straight.safetensors"
    state = tmp_path / "killed.resume.pt"
    _kill_when(_srkit(*args, killed), state.exists)
    stopped_at = load_state(state)["iteration"]
    assert 0 < stopped_at < 40
    _run(*args, killed, "--resume")
    _run(*args, straight)
    expected, got = load_file(straight), load_file(killed)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []
