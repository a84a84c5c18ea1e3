"""SIGKILL mid-run: nothing keeps writing, nothing half-written is taken for output, and the
same command run again gives the bytes an uninterrupted run gives."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

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
