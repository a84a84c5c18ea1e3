"""Concurrent pool writers take turns (srkit.io.locks): every entry is kept exactly once."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from srkit.errors import SrkitError
from srkit.io.locks import file_lock, lock_path
from srkit.io.pool_writer import append_kernels, pool_writer
from srkit.io.pools import KernelEntry, NoiseEntry, known_kernel_sources, read_pool

PHOTOS = [f"{i:064x}" for i in range(6)]


def _patch(seed: int) -> np.ndarray:
    patch = np.random.default_rng(seed).normal(0, 0.01, (8, 8, 3)).astype(np.float32)
    return patch - patch.mean(axis=(0, 1))


def _kernel() -> np.ndarray:
    kernel = np.ones((5, 5), np.float32)
    return kernel / kernel.sum()


def _collect_noise(pool: str, photos: list[str], barrier) -> None:
    barrier.wait()
    for n, sha in enumerate(photos):
        with pool_writer(pool) as writer:
            writer.append_noise([NoiseEntry(_patch(n * 10 + k), f"{sha[-4:]}.png", sha, (k, 0))
                                 for k in range(3)])
            time.sleep(0.02)  # a photo takes a while: the other writer tries meanwhile


def _estimate_kernels(pool: str, photos: list[str], barrier) -> None:
    known = known_kernel_sources(pool, 2, "test")  # as the stage does, before any work
    barrier.wait()
    for sha in photos:
        if sha in known:
            continue
        time.sleep(0.02)
        append_kernels(pool, [KernelEntry(_kernel(), 2, f"{sha[-4:]}.png", sha, "test")])


def _run_two(target, pool: Path, first: list[str], second: list[str]) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=target, args=(str(pool), photos, barrier))
               for photos in (first, second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0


def test_two_noise_writers_keep_every_photo(tmp_path: Path) -> None:
    pool = tmp_path / "pool.h5"
    _run_two(_collect_noise, pool, PHOTOS[:3], PHOTOS[3:])
    loaded = read_pool(pool)
    assert loaded.noise_count == 3 * len(PHOTOS)
    assert sorted(set(loaded.noise_source_sha256)) == PHOTOS


def test_two_noise_writers_of_the_same_photos_add_them_once(tmp_path: Path) -> None:
    pool = tmp_path / "pool.h5"
    _run_two(_collect_noise, pool, PHOTOS[:4], PHOTOS[:4])
    shas = read_pool(pool).noise_source_sha256
    assert sorted(shas) == sorted(PHOTOS[:4] * 3)


def test_two_kernel_runs_on_the_same_photos_add_each_once(tmp_path: Path) -> None:
    pool = tmp_path / "pool.h5"
    append_kernels(pool, [KernelEntry(_kernel(), 2, "old.png", PHOTOS[0], "test")])
    _run_two(_estimate_kernels, pool, PHOTOS, PHOTOS)
    assert sorted(read_pool(pool).kernels(2).source_sha256) == PHOTOS


def test_a_photo_estimated_again_in_this_process_gets_a_second_kernel(tmp_path) -> None:
    pool = tmp_path / "pool.h5"
    append_kernels(pool, [KernelEntry(_kernel(), 2, "a.png", PHOTOS[0], "test")])
    append_kernels(pool, [KernelEntry(_kernel(), 2, "a.png", PHOTOS[0], "test")])  # --redo
    assert read_pool(pool).kernels(2).source_sha256 == [PHOTOS[0]] * 2


def _hold(path: str, ready, crash: bool) -> None:
    with file_lock(path):
        ready.set()
        if crash:
            os._exit(3)  # dies holding the lock: no clean-up runs
        time.sleep(60)


def _holder(path: Path, crash: bool):
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    process = ctx.Process(target=_hold, args=(str(path), ready, crash))
    process.start()
    assert ready.wait(60)
    return process


def test_a_dead_holder_blocks_nobody(tmp_path: Path) -> None:
    pool = tmp_path / "pool.h5"
    process = _holder(pool, crash=True)
    process.join(60)
    assert process.exitcode == 3 and lock_path(pool).exists()  # the stale lock file stays
    start = time.monotonic()
    append_kernels(pool, [KernelEntry(_kernel(), 2, "a.png", PHOTOS[0], "test")])
    assert time.monotonic() - start < 5
    lock_path(pool).write_bytes(b"\x00not json")  # whatever is in it
    append_kernels(pool, [KernelEntry(_kernel(), 2, "b.png", PHOTOS[1], "test")])
    assert len(read_pool(pool).kernels(2)) == 2


def test_a_live_holder_is_named_while_waiting_and_on_timeout(tmp_path: Path, capsys) -> None:
    pool = tmp_path / "pool.h5"
    process = _holder(pool, crash=False)
    try:
        with pytest.raises(SrkitError, match=f"still in use by pid {process.pid} on "):
            with file_lock(pool, timeout=0.3):
                pass
        assert f"waiting for {pool} (held by pid {process.pid}" in capsys.readouterr().err
    finally:
        process.kill()
        process.join(60)
    with file_lock(pool, timeout=5):  # free again once its holder is gone
        pass
