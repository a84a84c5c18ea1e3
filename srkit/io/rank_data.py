"""The rank-data folder: SR crops of several methods scored by NIQE, for ``srkit
train-ranker`` (RankSRGAN's rank dataset; docs/ranksrgan.md, "The rank-data folder").

Layout::

    RANKDATA/images/CROP__METHOD.png   one RGB crop per crop and method (8-bit PNG)
    RANKDATA/scores.csv                one row per image: crop, source, method, file, niqe, rank
    RANKDATA/rankdata.json             how it was made (settings, their id); optional to read

``crop`` names the crop (every method's image of one crop shows the same HR region),
``source`` the photo it was cut from (held-out pairs are split by source, so overlapping
crops of one photo never sit on both sides), ``file`` the image's path relative to the
folder, ``niqe`` its NIQE (lower = better) and ``rank`` its place among the crop's images
(1 = lowest NIQE). Another tool can write this folder: ``scores.csv`` with ``crop``,
``method``, ``file`` and ``niqe`` is enough (``source`` defaults to the crop, ``rank`` is
recomputed).

Every file is written atomically; ``scores.csv`` is rewritten after each finished photo, so
an interrupted run leaves whole photos in it and the next run skips them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError
from srkit.io.atomic import atomic_path
from srkit.io.images import write_image

IMAGES_DIR = "images"
SCORES_FILE = "scores.csv"
SETTINGS_FILE = "rankdata.json"
COLUMNS = ("crop", "source", "method", "file", "niqe", "rank")
FORMAT = "srkit-rank-data"


@dataclass(frozen=True)
class RankEntry:
    """One scored image of a crop."""

    method: str
    path: Path
    niqe: float


@dataclass(frozen=True)
class RankCrop:
    """Every method's image of one crop."""

    crop: str
    source: str
    entries: tuple[RankEntry, ...]


def image_relpath(crop: str, method: str) -> str:
    return f"{IMAGES_DIR}/{crop}__{method}.png"


def settings_id(settings: Mapping) -> str:
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_settings(folder: Path) -> dict | None:
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SrkitError(f"{path}: not readable JSON ({error})") from None


def write_settings(folder: Path, settings: Mapping) -> None:
    from srkit import __version__

    with atomic_path(folder / SETTINGS_FILE) as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, "srkit_version": __version__,
                                   "settings_id": settings_id(settings),
                                   "settings": dict(settings)}, indent=2, sort_keys=True)
                       + "\n")


def _read_rows(folder: Path) -> list[dict[str, str]]:
    path = folder / SCORES_FILE
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"crop", "method", "file", "niqe"} - set(reader.fieldnames or ())
        if missing:
            raise SrkitError(f"{path}: no column(s) {', '.join(sorted(missing))} "
                             f"(expected {', '.join(COLUMNS)})")
        return list(reader)


def with_ranks(rows: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """``rows`` with each one's ``rank`` among its crop's images (1 = lowest NIQE; ties share
    the better rank)."""
    by_crop: dict[str, list[float]] = {}
    for row in rows:
        by_crop.setdefault(str(row["crop"]), []).append(float(row["niqe"]))  # type: ignore[arg-type]
    out = []
    for row in rows:
        scores = by_crop[str(row["crop"])]
        rank = 1 + sum(score < float(row["niqe"]) for score in scores)  # type: ignore[arg-type]
        out.append({**row, "rank": rank})
    return out


class RankDataWriter:
    """Adds photos' scored crops to a rank-data folder; ``done_sources`` are skipped."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.rows: list[dict[str, object]] = list(_read_rows(self.folder))

    @property
    def done_sources(self) -> set[str]:
        return {str(row.get("source") or row["crop"]) for row in self.rows}

    def add_source(self, source: str,
                   crops: Sequence[tuple[str, Mapping[str, tuple[np.ndarray, float]]]]) -> None:
        """Write ``crops`` of photo ``source`` — ``(crop id, {method: (rgb, niqe)})`` — and
        then the scores file with them (a photo without usable crops is recorded as done
        by no rows; it is simply tried again)."""
        new = []
        for crop, images in crops:
            for method, (rgb, score) in images.items():
                rel = image_relpath(crop, method)
                write_image(self.folder / rel, rgb)
                new.append({"crop": crop, "source": source, "method": method, "file": rel,
                            "niqe": f"{score:.6f}"})
        self.rows = [row for row in self.rows if row.get("source") != source] + new
        with atomic_path(self.folder / SCORES_FILE) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(with_ranks(self.rows))


def read_rank_data(folder: str | Path) -> list[RankCrop]:
    """The crops of a rank-data folder with at least two scored images each, in file order;
    SrkitError naming the file for anything unusable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SrkitError(f"{folder}: no such rank-data folder (make one with srkit rank-data)")
    if not (folder / SCORES_FILE).is_file():
        raise SrkitError(f"{folder}: not a rank-data folder (no {SCORES_FILE}; make one with "
                         "srkit rank-data)")
    grouped: dict[str, tuple[str, list[RankEntry]]] = {}
    for line, row in enumerate(_read_rows(folder), start=2):
        try:
            score = float(row["niqe"])
        except (TypeError, ValueError):
            score = math.nan
        if not math.isfinite(score):
            raise SrkitError(f"{folder / SCORES_FILE}: line {line}: niqe {row['niqe']!r} is not "
                             "a number")
        path = folder / row["file"]
        if not path.is_file():
            raise SrkitError(f"{folder / SCORES_FILE}: line {line}: no such image {row['file']}")
        source = row.get("source") or row["crop"]
        grouped.setdefault(row["crop"], (source, []))[1].append(
            RankEntry(row["method"], path, score))
    crops = [RankCrop(crop, source, tuple(entries))
             for crop, (source, entries) in grouped.items() if len(entries) >= 2]
    if not crops:
        raise SrkitError(f"{folder}: no crop with two or more scored images to rank")
    return crops
