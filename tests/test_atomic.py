"""Atomic writes clean up after killed writers: only srkit's own stale temporaries of the
target being written are removed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from srkit.io import atomic
from srkit.io.atomic import atomic_path


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _touch(path: Path, age_seconds: float = 0.0) -> Path:
    path.write_bytes(b"partial")
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(path, (then, then))
    return path


def test_next_write_of_a_target_removes_only_its_stale_temporaries(tmp_path: Path) -> None:
    host = atomic._host_tag()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _touch(tmp_path / f".a.{_dead_pid()}@{host}.abcd1234.tmp.png")
        live = _touch(tmp_path / f".a.{sleeper.pid}@{host}.abcd1235.tmp.png")
        old_unknown = _touch(tmp_path / ".a.zz9_yy8x.tmp.png", age_seconds=7200)
        new_unknown = _touch(tmp_path / ".a.zz9_yy8w.tmp.png")
        other_host = _touch(tmp_path / f".a.{_dead_pid()}@00000000.abcd1236.tmp.png")
        other_target = _touch(tmp_path / f".b.{_dead_pid()}@{host}.abcd1237.tmp.png",
                              age_seconds=7200)
        other_suffix = _touch(tmp_path / f".a.{_dead_pid()}@{host}.abcd1238.tmp.jpg")
        longer_stem = _touch(tmp_path / f".a.b.{_dead_pid()}@{host}.abcd1239.tmp.png")
        users = _touch(tmp_path / ".a.my-notes.tmp.png", age_seconds=7200)
        with atomic_path(tmp_path / "a.png") as tmp:
            tmp.write_bytes(b"whole")
        assert (tmp_path / "a.png").read_bytes() == b"whole"
        assert not dead.exists() and not old_unknown.exists()
        for kept in (live, new_unknown, other_host, other_target, other_suffix, longer_stem,
                     users):
            assert kept.exists(), kept.name
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) \
            == ["a.png"]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_temporary_names_its_writer(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "x.y.h5") as tmp:
        assert atomic._temp_pattern(tmp_path / "x.y.h5").fullmatch(tmp.name)
        assert f".{os.getpid()}@{atomic._host_tag()}." in tmp.name
        tmp.write_bytes(b"")
    assert [p.name for p in tmp_path.iterdir()] == ["x.y.h5"]


def test_a_dead_writer_with_this_process_id_is_stale_but_not_a_live_write(
        tmp_path: Path) -> None:
    leftover = _touch(tmp_path / f".c.{os.getpid()}@{atomic._host_tag()}.abcd1240.tmp.png")
    with atomic_path(tmp_path / "c.png") as tmp:
        tmp.write_bytes(b"1")
        assert not leftover.exists()
        assert atomic.remove_stale_temporaries(tmp_path / "c.png") == []
        assert tmp.exists()
