"""The pair folder: what ``srkit degrade`` writes and ``srkit train-sr PAIRS`` reads.

Layout (documented in ``docs/pair-format.md``)::

    PAIRS/hr/NAME.png         HR image, at the source's bit depth
    PAIRS/lr/NAME.png         LR image, exactly HR / scale in size
    PAIRS/dist/NAME.npy       optional: domain-distance map, float32 (h, w) = LR size
    PAIRS/manifest.jsonl      one JSON line per finished pair (the last line of a name wins)
    PAIRS/degrade.json        the run's settings and their id

Every file is written atomically (a temporary file and a rename), manifest lines with one
``write`` on an ``O_APPEND`` descriptor, so concurrent shards can share one folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError
from srkit.io.images import list_images, write_image

HR_DIR = "hr"
LR_DIR = "lr"
DIST_DIR = "dist"
MANIFEST = "manifest.jsonl"
SETTINGS_FILE = "degrade.json"


def hr_relpath(name: str) -> str:
    return f"{HR_DIR}/{name}.png"


def lr_relpath(name: str) -> str:
    return f"{LR_DIR}/{name}.png"


def dist_relpath(name: str) -> str:
    return f"{DIST_DIR}/{name}.npy"


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def pair_names(paths: Sequence[Path]) -> list[str]:
    """Output names: the file stem, with ``-2``, ``-3``… for repeated stems (in input order)."""
    used: set[str] = set()
    names = []
    for path in paths:
        name, count = path.stem, 1
        while name in used:
            count += 1
            name = f"{path.stem}-{count}"
        used.add(name)
        names.append(name)
    return names


def write_pair(folder: Path, name: str, hr: np.ndarray, lr: np.ndarray, *, bit_depth: int,
               grey: bool, dist: np.ndarray | None = None) -> None:
    """Write ``hr/NAME.png``, ``lr/NAME.png`` (float ``(h, w, 3)`` in [0, 1], stored at
    ``bit_depth``) and ``dist/NAME.npy`` when ``dist`` is given. A ``grey`` source gives a grey
    HR, and a grey LR when the LR stayed grey. Without ``dist`` a map left by an earlier dsn run
    (``--overwrite``) is removed: it would not match this LR."""
    lr_grey = grey and bool(np.all(lr == lr[..., :1]))
    write_image(folder / hr_relpath(name), hr, bit_depth=bit_depth, grey=grey)
    write_image(folder / lr_relpath(name), lr, bit_depth=bit_depth, grey=lr_grey)
    dist_path = folder / dist_relpath(name)
    if dist is not None:
        _write_npy(dist_path, dist)
    else:
        dist_path.unlink(missing_ok=True)


def _write_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` through a temporary file and a rename (no half-written map on a crash)."""
    from srkit.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array, dtype=np.float32))


def pair_complete(folder: Path, name: str, with_dist: bool) -> bool:
    """Whether the HR and LR (and, ``with_dist``, the map) of ``name`` exist."""
    return ((folder / hr_relpath(name)).exists() and (folder / lr_relpath(name)).exists()
            and (not with_dist or (folder / dist_relpath(name)).exists()))


# ---------------------------------------------------------------------------------------------
# Manifest and settings
# ---------------------------------------------------------------------------------------------

def read_manifest(path: Path) -> dict[str, dict]:
    """The manifest's lines by name (the last line of a name wins; torn lines are skipped)."""
    lines: dict[str, dict] = {}
    if not path.exists():
        return lines
    with open(path, encoding="utf-8") as handle:
        for text in handle:
            try:
                entry = json.loads(text)
                lines[entry["name"]] = entry
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a torn last line from a killed run
    return lines


def append_manifest(path: Path, entry: dict) -> None:
    """Append one JSON line (keys sorted)."""
    # One os.write on an O_APPEND descriptor: lines from concurrent shards do not interleave.
    data = (json.dumps(entry, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def settings_id(settings: dict) -> str:
    """16 hex digits of the SHA-256 of the settings as sorted-key JSON."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def check_settings(folder: Path, settings: dict, overwrite: bool) -> None:
    """Refuse to mix pairs made with different settings in one folder."""
    settings_path = folder / SETTINGS_FILE
    if settings_path.exists():
        try:
            previous = json.loads(settings_path.read_text())
            old_settings, old_id = previous["settings"], previous["settings_id"]
        except (json.JSONDecodeError, KeyError, TypeError):
            old_settings, old_id = {}, None
        if old_id != settings_id(settings) and not overwrite:
            changed = sorted(k for k in set(settings) | set(old_settings)
                             if settings.get(k) != old_settings.get(k)) or ["unreadable"]
            raise SrkitError(f"{folder}: holds pairs made with other settings "
                             f"(changed: {', '.join(changed)}); pass --overwrite to replace "
                             "them or choose another output folder")
    elif not overwrite:
        for sub in (HR_DIR, LR_DIR, DIST_DIR):
            sub_folder = folder / sub
            if sub_folder.is_dir() and any(sub_folder.iterdir()):
                raise SrkitError(f"{folder}: {sub}/ already holds files not made by srkit "
                                 "degrade; pass --overwrite or choose another output folder")


def write_settings(folder: Path, settings: dict, files: dict) -> None:
    """Write ``degrade.json``: the creator's version, the settings, their id and ``files``
    (the paths the run read, which are not part of the settings)."""
    from srkit import __version__
    from srkit.io.atomic import atomic_path

    with atomic_path(folder / SETTINGS_FILE) as tmp:
        tmp.write_text(json.dumps({"srkit_version": __version__,
                                   "settings_id": settings_id(settings),
                                   "settings": settings, **files},
                                  indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PairFiles:
    """One training pair on disk."""

    name: str
    hr_path: Path
    lr_path: Path


def find_pairs(folder: str | Path) -> list[PairFiles]:
    """The pairs of a folder holding ``hr/`` and ``lr/`` with matching file names."""
    folder = Path(folder)
    hr_dir, lr_dir = folder / HR_DIR, folder / LR_DIR
    for sub in (hr_dir, lr_dir):
        if not sub.is_dir():
            raise SrkitError(f"{folder}: not a pair folder (no {sub.name}/ inside; "
                             "make one with srkit degrade)")
    hr_paths = {p.name: p for p in list_images(hr_dir)}
    lr_paths = {p.name: p for p in list_images(lr_dir)}
    missing = sorted(set(hr_paths) ^ set(lr_paths))
    if missing:
        side = "lr" if missing[0] in hr_paths else "hr"
        raise SrkitError(f"{folder}: {missing[0]} has no partner in {side}/ "
                         f"({len(missing)} unpaired file(s))")
    return [PairFiles(name, hr_paths[name], lr_paths[name]) for name in sorted(hr_paths)]


def check_pair(hr: np.ndarray, lr: np.ndarray, scale: int, name: str) -> np.ndarray:
    """Check that ``hr`` is ``lr`` × ``scale`` (a trailing remainder < scale is cut off)."""
    (h, w), (lh, lw) = hr.shape[:2], lr.shape[:2]
    if h // scale != lh or w // scale != lw:
        raise SrkitError(f"{name}: HR is {w}×{h} and LR {lw}×{lh}, which is not ×{scale}")
    return hr[:lh * scale, :lw * scale]


def find_dist_maps(folder: str | Path, pairs: Sequence[PairFiles]) -> list[Path]:
    """``PAIRS/dist/STEM.npy`` of every pair (as ``srkit degrade --dsn`` writes them)."""
    folder = Path(folder)
    hint = "the dasr recipe trains on pairs made by srkit degrade --dsn"
    if not (folder / DIST_DIR).is_dir():
        raise SrkitError(f"{folder}: no dist/ folder of domain-distance maps ({hint})")
    paths = [folder / dist_relpath(Path(pair.name).stem) for pair in pairs]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise SrkitError(f"{folder}: no domain-distance map dist/{missing[0].name} "
                         f"({len(missing)} pair(s) without one; {hint})")
    return paths


def load_dist_map(path: str | Path, lr_shape: tuple[int, ...]) -> np.ndarray:
    """A distance map ``(h, w)`` float32 in [0, 1], checked against the LR's ``(h, w)``."""
    try:
        dist = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise SrkitError(f"{path}: not a readable .npy distance map ({error})") from None
    if dist.ndim == 3 and dist.shape[0] == 1:
        dist = dist[0]
    if dist.shape != tuple(lr_shape[:2]) or not np.issubdtype(dist.dtype, np.floating):
        raise SrkitError(f"{path}: a {dist.dtype} map of shape {dist.shape}, but its LR image "
                         f"is {lr_shape[1]}×{lr_shape[0]} (expected float ({lr_shape[0]}, "
                         f"{lr_shape[1]}))")
    if not np.all(np.isfinite(dist)):
        raise SrkitError(f"{path}: the distance map has NaN or infinite values")
    return dist.astype(np.float32)
