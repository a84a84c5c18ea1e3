"""``srkit pool merge``: several pools into one, duplicates left out (see :mod:`srkit.io.pools`)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from srkit.errors import SrkitError
from srkit.io.atomic import atomic_path
from srkit.io.pool_writer import PoolWriter, stamp_new_pool
from srkit.io.pools import Pool, read_pool


@dataclass
class MergeResult:
    """What :func:`merge_pools` wrote."""

    output: Path
    kernels: dict[int, int]  # scale -> kernels written
    noise: int  # noise patches written
    duplicate_kernels: int  # left out: same (source_sha256, scale, method) seen before
    duplicate_noise: int  # left out: same (source_sha256, position) seen before


def _kernel_sizes(pools: Sequence[Pool]) -> dict[int, int]:
    """The common kernel size per scale (the largest); odd and even sizes cannot be mixed."""
    sizes: dict[int, dict[int, Path]] = {}
    for pool in pools:
        for scale, kernel_set in pool.kernel_sets.items():
            if len(kernel_set):
                sizes.setdefault(scale, {}).setdefault(kernel_set.kernels.shape[1], pool.path)
    target = {}
    for scale, by_size in sizes.items():
        if len({k % 2 for k in by_size}) > 1:
            (a, path_a), (b, path_b) = sorted(by_size.items())[:2]
            raise SrkitError(f"cannot merge x{scale} kernels of {a}×{a} ({path_a}) and {b}×{b} "
                             f"({path_b}): odd and even sizes do not share a centre")
        target[scale] = max(by_size)
    return target


def merge_pools(inputs: Sequence[str | Path], output: str | Path, *,
                overwrite: bool = False) -> MergeResult:
    """Merge pools into a new pool ``output``, leaving out duplicates.

    Kernels are the same when their (source_sha256, scale, method) are; noise patches when
    their (source_sha256, position) are; the first one met (in input order) is kept. Kernels
    of one scale but different sizes are zero-padded to the largest (exact for a centred
    kernel). Noise patches of different sizes cannot share a pool: that is an error. The
    output is written atomically and may not be one of the inputs.
    """
    from srkit.ops.kernels import pad_kernel

    output = Path(output)
    paths = [Path(p) for p in inputs]
    if not paths:
        raise SrkitError("pool merge: give at least one input pool")
    for path in paths:
        if output.exists() and path.exists() and os.path.samefile(path, output):
            raise SrkitError(f"{output}: is also an input; merge into a new file")
    pools = [read_pool(p) for p in paths]
    if output.exists() and not overwrite:
        raise SrkitError(f"{output}: already exists (pass --overwrite to replace it)")
    if output.exists():
        read_pool(output)  # never overwrite something that is not a pool
    noise_sizes = {p.noise_patch_size: p.path for p in pools if p.noise_count}
    if len(noise_sizes) > 1:
        desc = ", ".join(f"{size}×{size} in {path}" for size, path in sorted(noise_sizes.items()))
        raise SrkitError(f"cannot merge noise patches of different sizes ({desc}); a pool holds "
                         "one patch size: collect them again with the same --window")
    kernel_size = _kernel_sizes(pools)

    seen_kernels: set[tuple[str, int, str]] = set()
    seen_noise: set[tuple[str, int, int]] = set()
    duplicate_kernels = duplicate_noise = 0
    with atomic_path(output) as tmp:
        with h5py.File(tmp, "w") as handle:
            stamp_new_pool(handle)
            writer = PoolWriter(handle, output)
            for pool in pools:
                for scale, kernel_set in sorted(pool.kernel_sets.items()):
                    rows = []
                    for i, (sha, method) in enumerate(zip(kernel_set.source_sha256,
                                                          kernel_set.method, strict=True)):
                        key = (sha, scale, method)
                        if key in seen_kernels:
                            duplicate_kernels += 1
                            continue
                        seen_kernels.add(key)
                        rows.append(i)
                    if not rows:
                        continue
                    kernels = np.stack([pad_kernel(kernel_set.kernels[i], kernel_size[scale])
                                        for i in rows])
                    meta = {"source": kernel_set.source, "source_sha256": kernel_set.source_sha256,
                            "method": kernel_set.method, "flag": kernel_set.flag,
                            "settings": [json.dumps(s, sort_keys=True)
                                         for s in kernel_set.settings]}
                    writer.append_kernel_arrays(scale, kernels,
                                                 {k: [v[i] for i in rows] for k, v in meta.items()})
                rows = []
                for i, (sha, pos) in enumerate(zip(pool.noise_source_sha256,
                                                   pool.noise_position.tolist(), strict=True)):
                    key = (sha, int(pos[0]), int(pos[1]))
                    if key in seen_noise:
                        duplicate_noise += 1
                        continue
                    seen_noise.add(key)
                    rows.append(i)
                settings = [json.dumps(s, sort_keys=True) for s in pool.noise_settings]
                with h5py.File(pool.path, "r") as src:
                    for start in range(0, len(rows), 64):
                        block = rows[start:start + 64]
                        writer.append_noise_arrays(
                            np.asarray(src["noise/patch"][block], dtype=np.float32),
                            pool.noise_position[block],
                            {"source": [pool.noise_source[i] for i in block],
                             "source_sha256": [pool.noise_source_sha256[i] for i in block],
                             "settings": [settings[i] for i in block]})
            photos = {}  # one entry per photo: the first pool's, as for kernels and noise
            for pool in pools:
                for photo in pool.photos:
                    photos.setdefault(photo.source_sha256, photo)
            writer.append_photos(list(photos.values()))
    written = read_pool(output)
    return MergeResult(output, {s: len(k) for s, k in sorted(written.kernel_sets.items())},
                       written.noise_count, duplicate_kernels, duplicate_noise)
