"""Pools: HDF5 round trip, atomic appends, validation, merge, info and the contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io import pool_writer as writing
from srkit.io.pool_merge import merge_pools
from srkit.io.pool_writer import append_kernels, append_noise, pool_writer, remove_noise
from srkit.io.pools import (
    KernelEntry,
    NoiseEntry,
    known_kernel_sources,
    known_noise_sources,
    read_pool,
)
from srkit.ops.kernels import gaussian_kernel
from srkit.stages.pool_tools import kernel_sigma, pool_info, pool_sheet


def kernels(n: int, scale: int = 2, size: int = 13, method: str = "kernelgan",
            first: int = 0) -> list[KernelEntry]:
    """Gaussian kernels of σ = 1.0, 1.2, ... from photos named p{i}.png."""
    return [KernelEntry(gaussian_kernel(size, 1.0 + 0.2 * i), scale, f"p{i}.png", f"{i:064x}",
                        method, {"iters": 10 + i}, "ok" if i % 2 == 0 else "flat image")
            for i in range(first, first + n)]


def noise(n: int, size: int = 16, source: int = 0, seed: int = 0,
          level: float = 2.0) -> list[NoiseEntry]:
    """Zero-mean noise patches of ``level`` grey levels from photo n{source}.png."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        patch = rng.normal(0, level / 255, (size, size, 3)).astype(np.float32)
        patch -= patch.mean(axis=(0, 1), keepdims=True)
        out.append(NoiseEntry(patch, f"n{source}.png", f"{source + 100:064x}", (0, i * size),
                              {"window": size}))
    return out


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".tmp" in p.name]


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "pool.h5"
    written_k = kernels(3)
    written_n = noise(4)
    assert append_kernels(path, written_k) == 3 and append_noise(path, written_n) == 4
    pool = read_pool(path)
    assert pool.schema_version == 2 and pool.creator.startswith("srkit ")
    kset = pool.kernels(2)
    np.testing.assert_array_equal(kset.kernels, np.stack([e.kernel for e in written_k]))
    assert kset.source == ["p0.png", "p1.png", "p2.png"]
    assert kset.flag == ["ok", "flat image", "ok"] and kset.settings[1] == {"iters": 11}
    assert pool.noise_count == 4 and pool.noise_patch_size == 16
    np.testing.assert_array_equal(pool.noise_patch(2), written_n[2].patch)
    picked = pool.noise_patches([3, 0, 3])
    np.testing.assert_array_equal(picked, np.stack([written_n[i].patch for i in (3, 0, 3)]))
    assert pool.noise_position.tolist() == [[0, 0], [0, 16], [0, 32], [0, 48]]
    assert pool.noise_settings[0] == {"window": 16}
    blocks = list(pool.iter_noise(3))
    assert [start for start, _ in blocks] == [0, 3] and blocks[1][1].shape == (1, 16, 16, 3)
    with pytest.raises(SrkitError, match="no x4 kernels"):
        pool.kernels(4)


def test_other_tools_read_it_with_plain_h5py(tmp_path: Path) -> None:
    """The snippet of docs/pool-format.md."""
    path = tmp_path / "pool.h5"
    append_kernels(path, kernels(2))
    append_noise(path, noise(2))
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "srkit-pool" and f.attrs["schema_version"] == 2
        k = f["kernels/x2/kernel"][...]
        sources = f["kernels/x2/source"].asstr()[...]
        patches = f["noise/patch"][...]
        settings = [json.loads(s) for s in f["noise/settings"].asstr()[...]]
    assert k.shape == (2, 13, 13) and np.allclose(k.sum(axis=(1, 2)), 1.0, atol=1e-5)
    assert list(sources) == ["p0.png", "p1.png"] and patches.shape == (2, 16, 16, 3)
    assert settings[0]["window"] == 16


def test_appends_accumulate_and_known_sources(tmp_path: Path) -> None:
    path = tmp_path / "pool.h5"
    assert known_noise_sources(path) == set() and known_kernel_sources(path, 2) == set()
    append_kernels(path, kernels(2))
    append_kernels(path, kernels(1, first=2, method="fast") + kernels(1, scale=4, size=25))
    pool = read_pool(path)
    assert len(pool.kernels(2)) == 3 and len(pool.kernels(4)) == 1
    assert known_kernel_sources(path, 2) == {f"{i:064x}" for i in range(3)}
    assert known_kernel_sources(path, 2, "fast") == {f"{2:064x}"}
    append_noise(path, noise(2, source=0))
    append_noise(path, noise(1, source=1))
    assert known_noise_sources(path) == {f"{100:064x}", f"{101:064x}"}
    with pytest.raises(SrkitError, match="16×16 noise patches"):
        append_noise(path, noise(1, size=8))
    with pytest.raises(SrkitError, match="13×13 x2 kernels"):
        append_kernels(path, kernels(1, size=15))
    assert read_pool(path).noise_count == 3  # failed appends changed nothing


def test_crash_mid_write_leaves_the_old_pool(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "pool.h5"
    append_noise(path, noise(2))
    before = path.read_bytes()
    real_append = writing._append

    def crash_on_position(group, name, values):
        if name == "position":
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C halfway through
        real_append(group, name, values)

    monkeypatch.setattr(writing, "_append", crash_on_position)
    with pytest.raises(KeyboardInterrupt):
        append_noise(path, noise(3, source=1))
    assert path.read_bytes() == before and temp_files(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):
        append_noise(tmp_path / "new.h5", noise(1))
    assert not (tmp_path / "new.h5").exists() and temp_files(tmp_path) == []
    monkeypatch.undo()

    with pytest.raises(RuntimeError), pool_writer(path) as writer:
        writer.append_noise(noise(3, source=1))
        raise RuntimeError("crash after writing")
    assert path.read_bytes() == before and read_pool(path).noise_count == 2


def test_writer_that_writes_nothing_touches_nothing(tmp_path: Path) -> None:
    with pool_writer(tmp_path / "new.h5"):
        pass
    assert not (tmp_path / "new.h5").exists()
    path = tmp_path / "pool.h5"
    append_noise(path, noise(1))
    before = path.stat().st_mtime_ns
    with pool_writer(path):
        pass
    assert path.stat().st_mtime_ns == before


@pytest.mark.parametrize("case", ["text", "plain-hdf5", "schema-3", "missing-dataset",
                                  "missing-file", "folder"])
def test_validation_explains_in_one_line(tmp_path: Path, case: str) -> None:
    path = tmp_path / "pool.h5"
    if case == "text":
        path.write_text("not hdf5")
        expected = "not an HDF5 file"
    elif case == "plain-hdf5":
        with h5py.File(path, "w") as f:
            f["data"] = np.zeros(3)
        expected = "not an srkit pool"
    elif case == "schema-3":
        append_noise(path, noise(1))
        with h5py.File(path, "a") as f:
            f.attrs["schema_version"] = 3
        expected = "schema version 3, but this srkit reads versions 1, 2"
    elif case == "missing-dataset":
        append_noise(path, noise(1))
        with h5py.File(path, "a") as f:
            del f["noise/position"]
        expected = "missing the dataset /noise/position"
    elif case == "missing-file":
        expected = "no such pool file"
    else:
        path.mkdir()
        expected = "is a folder"
    with pytest.raises(SrkitError, match=expected) as error:
        read_pool(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    if case != "missing-file":
        with pytest.raises(SrkitError):  # writers refuse to touch it
            append_noise(path, noise(1))


def test_patches_of_8_bit_photos_are_stored_compressed_and_exact(tmp_path: Path) -> None:
    """Mean-removed patches of 8-bit pixels take few distinct values, so gzip (lossless)
    shrinks them (white noise of 1 grey level: 2.7×; real flat regions more), and a compacted
    copy keeps the compression."""
    rng = np.random.default_rng(0)
    entries = []
    for i in range(8):
        grey = np.clip(np.round(120 + 10 * i + rng.normal(0, 1, (64, 64, 3))), 0, 255)
        patch = (grey / 255).astype(np.float32)
        patch -= patch.mean(axis=(0, 1), keepdims=True)
        entries.append(NoiseEntry(patch, f"n{i % 2}.png", f"{100 + i % 2:064x}", (0, 0),
                                  {"window": 64}))
    path = tmp_path / "pool.h5"
    append_noise(path, entries)
    raw = 8 * 64 * 64 * 3 * 4
    assert path.stat().st_size < raw / 2
    with h5py.File(path, "r") as f:
        assert f["noise/patch"].compression == "gzip"
    np.testing.assert_array_equal(read_pool(path).noise_patches(list(range(8))),
                                  np.stack([e.patch for e in entries]))
    remove_noise(path, {f"{100:064x}"})
    with h5py.File(path, "r") as f:
        assert f["noise/patch"].compression == "gzip" and f["noise/patch"].shape[0] == 4
    np.testing.assert_array_equal(read_pool(path).noise_patch(1), entries[3].patch)


def test_remove_noise_compacts_and_frees_the_patch_size(tmp_path: Path) -> None:
    path = tmp_path / "pool.h5"
    append_kernels(path, kernels(2))
    append_noise(path, noise(30, size=32, source=0))
    append_noise(path, noise(2, size=32, source=1, seed=1))
    size_before = path.stat().st_size
    assert remove_noise(path, {f"{100:064x}"}) == 30
    pool = read_pool(path)
    assert pool.noise_source == ["n1.png", "n1.png"] and len(pool.kernels(2)) == 2
    np.testing.assert_array_equal(pool.noise_patch(1), noise(2, 32, 1, seed=1)[1].patch)
    assert path.stat().st_size < size_before / 4
    assert remove_noise(path, {f"{101:064x}"}) == 2
    assert read_pool(path).noise_count == 0
    append_noise(path, noise(1, size=8))  # an emptied pool takes a new patch size
    assert read_pool(path).noise_patch_size == 8


def test_merge_drops_duplicates_and_pads_kernels(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    append_kernels(a, kernels(3))
    append_noise(a, noise(2))
    append_kernels(b, kernels(2, first=2, size=15) + kernels(1, size=15, method="fast"))
    append_noise(b, noise(3))  # same photo and positions as a's two, plus one more
    result = merge_pools([a, b], out)
    assert result.kernels == {2: 5} and result.noise == 3
    assert (result.duplicate_kernels, result.duplicate_noise) == (1, 2)
    merged = read_pool(out).kernels(2)
    assert merged.kernels.shape == (5, 15, 15)
    assert merged.method == ["kernelgan"] * 4 + ["fast"]
    np.testing.assert_array_equal(merged.kernels[0, 1:-1, 1:-1], read_pool(a).kernels(2).kernels[0])
    assert np.allclose(merged.kernels.sum(axis=(1, 2)), 1.0, atol=1e-5)
    assert merged.source[3] == "p3.png" and merged.settings[3] == {"iters": 13}

    with pytest.raises(SrkitError, match="also an input"):
        merge_pools([a, b], a)
    with pytest.raises(SrkitError, match="already exists"):
        merge_pools([a, b], out)
    assert merge_pools([b], out, overwrite=True).noise == 3


def test_merge_refuses_mixed_noise_sizes_and_kernel_parity(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    append_noise(a, noise(1, size=16))
    append_noise(b, noise(1, size=32))
    with pytest.raises(SrkitError, match="16×16 in .*a.h5, 32×32 in .*b.h5.*--window"):
        merge_pools([a, b], tmp_path / "out.h5")
    append_kernels(c, kernels(1, size=14))
    append_kernels(tmp_path / "d.h5", kernels(1, size=13))
    with pytest.raises(SrkitError, match="odd and even"):
        merge_pools([c, tmp_path / "d.h5"], tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_kernel_sigma_is_the_gaussian_sigma() -> None:
    assert kernel_sigma(gaussian_kernel(31, 2.0)) == pytest.approx(2.0, rel=1e-3)
    # Anisotropic: the mean of the two variances.
    assert kernel_sigma(gaussian_kernel(41, 3.0, 1.0, 0.7)) == pytest.approx(np.sqrt(5), rel=1e-3)


def test_pool_info_numbers(tmp_path: Path) -> None:
    path = tmp_path / "pool.h5"
    append_kernels(path, kernels(5, size=21))  # σ = 1.0 ... 1.8
    append_noise(path, noise(1, level=1.0) + noise(1, level=3.0, seed=1, source=1))
    info = pool_info(path)
    (k,) = info.kernels
    assert (k.scale, k.count, k.size, k.sources) == (2, 5, 21, 5)
    assert k.sigma["min"] == pytest.approx(1.0, rel=1e-3)
    assert k.sigma["median"] == pytest.approx(1.4, rel=1e-3)
    assert k.flags == {"ok": 3, "flat image": 2} and k.methods == {"kernelgan": 5}
    assert info.noise.count == 2 and info.noise.patch_size == 16
    assert info.noise.std["p0"] == pytest.approx(1.0, rel=0.1)
    assert info.noise.std["p100"] == pytest.approx(3.0, rel=0.1)
    assert info.noise.std["p50"] == pytest.approx((info.noise.std["p0"]
                                                   + info.noise.std["p100"]) / 2)
    assert [s.name for s in info.sources] == ["n0.png", "n1.png", *[f"p{i}.png" for i in range(5)]]
    assert json.loads(json.dumps(info.to_dict()))["sources"][2]["kernels"] == {"x2": 1}


def test_contact_sheet(tmp_path: Path) -> None:
    path = tmp_path / "pool.h5"
    append_kernels(path, kernels(3) + kernels(2, scale=4, size=25))
    append_noise(path, noise(12, size=32))
    result = pool_sheet(path, tmp_path / "sheet.png", max_items=10, cell=32, columns=4)
    assert result.kernels == {2: 3, 4: 2} and result.noise == 10
    sheet = np.asarray(Image.open(tmp_path / "sheet.png").convert("RGB"), dtype=np.float64)
    assert sheet.shape == (result.height, result.width, 3) and result.width == 4 * 36 + 4
    # Each kernel is scaled to its max: pure white at its peak. Noise sits around mid grey.
    assert sheet.max() == 255
    noise_rows = sheet[-36:-4, 4:36]
    assert abs(noise_rows.mean() - 127.5) < 8 and noise_rows.std() > 5
    append_noise(tmp_path / "empty.h5", noise(1))
    remove_noise(tmp_path / "empty.h5", {f"{100:064x}"})
    with pytest.raises(SrkitError, match="empty"):
        pool_sheet(tmp_path / "empty.h5", tmp_path / "empty.png")


# --- CLI ----------------------------------------------------------------------------------

def test_cli_info_merge_show(tmp_path: Path) -> None:
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    append_kernels(a, kernels(2))
    append_noise(b, noise(3))
    runner = CliRunner()
    merged = runner.invoke(app, ["pool", "merge", str(a), str(b), "-o", str(tmp_path / "c.h5")])
    assert merged.exit_code == 0, merged.output
    assert "x2: 2" in merged.output and "3 noise patches" in merged.output

    shown = runner.invoke(app, ["pool", "info", str(tmp_path / "c.h5")])
    assert shown.exit_code == 0
    for text in ("x2", "13×13", "kernelgan", "3 patches of 16×16", "p0.png", "n0.png"):
        assert text in shown.output, text
    data = json.loads(runner.invoke(app, ["pool", "info", str(tmp_path / "c.h5"),
                                          "--json"]).output)
    assert data["noise"]["count"] == 3 and data["kernels"][0]["count"] == 2

    sheet = runner.invoke(app, ["pool", "show", str(tmp_path / "c.h5"), "-o",
                                str(tmp_path / "sheet.png"), "--max", "2", "-q"])
    assert sheet.exit_code == 0 and sheet.output.strip() == ""
    assert Image.open(tmp_path / "sheet.png").size[0] == 8 * 100 + 4

    # -o FOLDER (existing, or a name without extension): the sheet goes in as POOL_sheet.png.
    (tmp_path / "sheets").mkdir()
    for folder in ("sheets", "new"):
        shown = runner.invoke(app, ["pool", "show", str(tmp_path / "c.h5"), "-o",
                                    str(tmp_path / folder), "--max", "2", "-q"])
        assert shown.exit_code == 0, shown.output
        assert Image.open(tmp_path / folder / "c_sheet.png").size[0] == 8 * 100 + 4
    again = runner.invoke(app, ["pool", "show", str(tmp_path / "c.h5"), "-o",
                                str(tmp_path / "sheets"), "-q"])
    assert again.exit_code == 1 and "already exists" in str(again.exception)


@pytest.mark.parametrize("command", ["info", "show", "merge"])
def test_cli_bad_pool_exits_1(tmp_path: Path, command: str) -> None:
    bad = tmp_path / "photo.h5"
    bad.write_bytes(b"\x89PNG not hdf5")
    args = {"info": [str(bad)], "show": [str(bad), "-o", str(tmp_path / "s.png")],
            "merge": [str(bad), "-o", str(tmp_path / "m.h5")]}[command]
    result = CliRunner().invoke(app, ["pool", command, *args])
    assert result.exit_code == 1 and isinstance(result.exception, SrkitError)
    assert "not an HDF5 file" in str(result.exception) and "\n" not in str(result.exception)


def test_cli_show_refuses_to_replace_a_file_without_overwrite(tmp_path: Path) -> None:
    pool = tmp_path / "pool.h5"
    append_kernels(pool, kernels(2))
    existing = tmp_path / "sheet.png"
    existing.write_bytes(b"keep me")
    runner = CliRunner()
    refused = runner.invoke(app, ["pool", "show", str(pool), "-o", str(existing), "-q"])
    assert refused.exit_code == 1 and "--overwrite" in str(refused.exception)
    assert existing.read_bytes() == b"keep me"
    replaced = runner.invoke(app, ["pool", "show", str(pool), "-o", str(existing), "-q",
                                   "--overwrite"])
    assert replaced.exit_code == 0 and Image.open(existing).format == "PNG"


def test_photos_record_compression_and_version_1_pools_still_read(tmp_path: Path) -> None:
    from srkit.io.pools import PhotoEntry

    old = tmp_path / "old.h5"
    append_noise(old, noise(2))
    with h5py.File(old, "a") as f:  # a pool as srkit wrote them before /photos existed
        f.attrs["schema_version"] = 1
    legacy = read_pool(old)
    assert legacy.schema_version == 1 and legacy.photos == [] and legacy.jpeg_qualities() == []
    with pool_writer(old) as writer:
        writer.append_photos([PhotoEntry("a.jpg", "aa", 85, "tables"),
                              PhotoEntry("b.png", "bb", None, "none")])
    with pool_writer(old) as writer:  # the same photo again: the newer entry wins
        writer.append_photos([PhotoEntry("a.jpg", "aa", 80, "ghost")])
    upgraded = read_pool(old)
    assert upgraded.schema_version == 2 and upgraded.noise_count == 2
    assert upgraded.jpeg_qualities() == [80]
    assert {p.source: p.jpeg_method for p in upgraded.photos} == {"a.jpg": "ghost", "b.png": "none"}
    other = tmp_path / "other.h5"
    with pool_writer(other) as writer:
        writer.append_photos([PhotoEntry("c.jpg", "cc", 90, "tables"),
                              PhotoEntry("a.jpg", "aa", 70, "tables")])
    merged = merge_pools([old, other], tmp_path / "merged.h5")
    assert sorted(read_pool(merged.output).jpeg_qualities()) == [80, 90]  # first pool's a.jpg
