"""``srkit rank-data``: RankSRGAN's rank dataset — the same crops super-resolved by several
methods, each image scored by NIQE and the methods ranked per crop (lower NIQE = better).

For each photo (an HR photo, downscaled by MATLAB bicubic ×1/``scale`` to make its LR; or a
pair of a pair folder, whose LR is used as it is) HR-grid crops of ``crop_size`` are cut
every ``stride`` pixels (at most ``max_crops`` per photo, drawn from ``(seed, photo name)``);
every method enlarges the crop's LR window plus ``margin`` LR pixels of context on each side
(so borders look as inside a whole photo) and the crop is cut out of its output. Methods are
``bicubic`` and ``lanczos`` (interpolation), ``hr`` (the HR crop itself) and any number of SR
models. The crops go into a rank-data folder (:mod:`srkit.io.rank_data`) with their NIQE
(:func:`srkit.metrics.niqe`, computed on the 8-bit image as stored). NIQE needs two whole
96×96 blocks, so ``crop_size`` is at least 192 (the paper's 296 holds nine); a crop where
NIQE is undefined for some method (a flat crop) is left out and counted.

The run is resumable: photos already in the folder's ``scores.csv`` are skipped when the
settings are the same; different settings need ``overwrite``.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srkit.errors import SrkitError

INTERPOLATIONS = ("bicubic", "lanczos", "hr")
MIN_CROP = 192  # two whole NIQE blocks of 96 side by side need 192×96; crops are square


@dataclass
class RankDataResult:
    """What a run wrote: photos done now and before, crops and per-method mean NIQE."""

    output: Path
    methods: list[str]
    photos: int
    photos_skipped: int
    crops: int
    crops_undefined: int
    seconds: float
    mean_niqe: dict[str, float] = field(default_factory=dict)
    best_share: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Method:
    tag: str
    kind: str  # bicubic, lanczos, hr, model
    model: object = None


def _method_tags(methods: list[str], models: list[str | Path]) -> list[tuple[str, str, str]]:
    """``(tag, kind, model path)`` for each method; model tags are the file stems."""
    from srkit.modelzoo import resolve_model

    out, used = [], set()
    for method in methods:
        if method not in INTERPOLATIONS:
            raise SrkitError(f"--method {method}: use one of {', '.join(INTERPOLATIONS)} "
                             "(models go with --model)")
        if method in used:
            raise SrkitError(f"--method {method} is given twice")
        used.add(method)
        out.append((method, method, ""))
    for model in models:
        path = resolve_model(model)
        tag, count = path.stem.replace("__", "_"), 1
        while tag in used:
            count += 1
            tag = f"{path.stem}-{count}"
        used.add(tag)
        out.append((tag, "model", str(path)))
    if len(out) < 2:
        raise SrkitError("a rank dataset needs at least two methods to rank (--method, --model)")
    return out


def _photo_files(inputs: Path) -> list[tuple[str, Path, Path | None]]:
    """``(name, HR file, LR file or None)`` of an HR folder or of a pair folder."""
    from srkit.io.images import list_images
    from srkit.io.pairs import LR_DIR, find_pairs

    if not inputs.is_dir():
        raise SrkitError(f"{inputs}: not a folder of HR photos or a pair folder")
    if (inputs / LR_DIR).is_dir():
        return [(Path(pair.name).stem, pair.hr_path, pair.lr_path) for pair in find_pairs(inputs)]
    paths = list_images([inputs])
    if not paths:
        raise SrkitError(f"{inputs}: no images")
    return [(path.stem, path, None) for path in paths]


def _read_photo(skip, name: str, hr_path: Path, lr_path: Path | None, scale: int):
    """``(hr, lr or None)`` as floats, or None for an unreadable file (skipped)."""
    from srkit.io.pairs import check_pair

    hr = skip.read(hr_path)
    lr = skip.read(lr_path) if lr_path is not None else None
    if hr is None or (lr_path is not None and lr is None):
        return None
    if lr is None:
        return hr.rgb, None
    return check_pair(hr.rgb, lr.rgb, scale, name), lr.rgb


def rank_data(inputs: str | Path, output: str | Path, *, methods: list[str] | None = None,
              models: list[str | Path] | None = None, scale: int = 4, crop_size: int = 296,
              stride: int | None = None, max_crops: int = 0, margin: int = 16, seed: int = 0,
              device: str = "auto", overwrite: bool = False, strict: bool = False
              ) -> RankDataResult:
    """Make (or continue) a rank-data folder; see the module doc and
    ``docs/cli/rank-data.md``. ``stride`` None is half the crop (the paper's 148 for 296)."""
    from srkit.console import info, track
    from srkit.io import rank_data as rank_io
    from srkit.io.hashing import file_sha256
    from srkit.io.images import SkipLog

    started = time.perf_counter()
    inputs, output = Path(inputs), Path(output)
    stride = stride if stride is not None else crop_size // 2
    if scale < 1:
        raise SrkitError(f"scale must be at least 1, got {scale}")
    if crop_size < MIN_CROP:
        raise SrkitError(f"--crop-size {crop_size}: NIQE needs two whole 96×96 blocks, so crops "
                         f"are at least {MIN_CROP} pixels")
    for name, value in (("--crop-size", crop_size), ("--stride", stride)):
        if value % scale:
            raise SrkitError(f"{name} {value} must be a multiple of the scale {scale}")
    if stride < 1 or max_crops < 0 or margin < 0:
        raise SrkitError("--stride must be at least 1, --max-crops and --margin 0 or more")
    tags = _method_tags(list(methods or []), list(models or []))
    settings = {"methods": [tag for tag, _, _ in tags],
                "models": {tag: file_sha256(path) for tag, kind, path in tags if path},
                "scale": scale, "crop_size": crop_size, "stride": stride,
                "max_crops": max_crops, "margin": margin, "seed": seed}
    _prepare_folder(output, settings, overwrite)
    loaded = _load_methods(tags, scale, device)
    writer = rank_io.RankDataWriter(output)
    done = writer.done_sources
    photos = skipped = crops_made = undefined = 0
    skip = SkipLog(strict=strict)
    for name, hr_path, lr_path in track(_photo_files(inputs), "rank data"):
        if name in done:
            skipped += 1
            continue
        photo = _read_photo(skip, name, hr_path, lr_path, scale)
        if photo is None:
            continue
        crops, flat = _photo_crops(name, *photo, loaded, settings)
        writer.add_source(name, crops)
        photos, crops_made, undefined = photos + 1, crops_made + len(crops), undefined + flat
    if photos + skipped == 0:
        raise SrkitError(f"{inputs}: no readable photo")
    if not writer.rows:
        raise SrkitError(f"{inputs}: no photo is at least {crop_size}×{crop_size} with a crop "
                         "NIQE can score")
    result = RankDataResult(output, settings["methods"], photos, skipped, crops_made, undefined,
                            time.perf_counter() - started)
    for tag in settings["methods"]:
        rows = [row for row in rank_io.with_ranks(writer.rows) if row["method"] == tag]
        result.mean_niqe[tag] = float(np.mean([float(row["niqe"]) for row in rows]))
        result.best_share[tag] = float(np.mean([row["rank"] == 1 for row in rows]))
    if undefined:
        info(f"{undefined} crop(s) left out: NIQE is undefined on a flat crop")
    return result


def _prepare_folder(output: Path, settings: dict, overwrite: bool) -> None:
    """Same settings: continue; other settings: refuse, or with ``overwrite`` start anew
    (removing the images the old scores file lists)."""
    from srkit.io import rank_data as rank_io

    before = rank_io.read_settings(output) if output.is_dir() else None
    scores = output / rank_io.SCORES_FILE
    same = before is not None and before.get("settings_id") == rank_io.settings_id(settings)
    if not overwrite and (same or not scores.exists()):
        if before is None and output.is_dir() and any(output.iterdir()) and not scores.exists():
            raise SrkitError(f"{output}: exists and is not a rank-data folder; choose another "
                             "output or pass --overwrite")
        rank_io.write_settings(output, settings)
        return
    if not overwrite:
        raise SrkitError(f"{output}: holds rank data made with other settings; pass "
                         "--overwrite to replace it, or choose another output folder")
    if scores.exists():
        for row in rank_io._read_rows(output):
            (output / row["file"]).unlink(missing_ok=True)
        scores.unlink()
    rank_io.write_settings(output, settings)


def _load_methods(tags, scale: int, device: str) -> list[_Method]:
    from srkit.io.checkpoints import load_model

    out = []
    for tag, kind, path in tags:
        model = None
        if kind == "model":
            model = load_model(path, device)
            if model.scale != scale:
                raise SrkitError(f"{path}: is a ×{model.scale} model, the rank data is ×{scale}")
        out.append(_Method(tag, kind, model))
    return out


def _crop_positions(name: str, height: int, width: int, settings: dict) -> list[tuple[int, int]]:
    size, stride = settings["crop_size"], settings["stride"]
    positions = [(top, left) for top in range(0, height - size + 1, stride)
                 for left in range(0, width - size + 1, stride)]
    limit = settings["max_crops"]
    if limit and len(positions) > limit:
        rng = np.random.default_rng([settings["seed"], zlib.crc32(name.encode())])
        chosen = np.sort(rng.choice(len(positions), limit, replace=False))
        positions = [positions[i] for i in chosen]
    return positions


def _photo_crops(name: str, hr: np.ndarray, lr: np.ndarray | None, methods: list[_Method],
                 settings: dict):
    """The scored crops of one photo and the number left out (NIQE undefined)."""
    from srkit.metrics import niqe
    from srkit.ops.resize import imresize

    scale, size, margin = settings["scale"], settings["crop_size"], settings["margin"]
    height, width = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
    hr = hr[:height, :width]
    if lr is None:
        lr = np.clip(imresize(hr, 1 / scale), 0, 1)
    crops, flat = [], 0
    for index, (top, left) in enumerate(_crop_positions(name, height, width, settings)):
        lr_box = (top // scale, left // scale, size // scale)
        images = {}
        try:
            for method in methods:
                rgb = _enlarge_crop(method, hr, lr, lr_box, scale, margin)
                rgb = np.round(np.clip(rgb, 0, 1) * 255) / 255  # the 8-bit image as stored
                images[method.tag] = (rgb.astype(np.float32), niqe(rgb))
        except ValueError:
            flat += 1
            continue
        crops.append((f"{name}_{index:04d}", images))
    return crops, flat


def _enlarge_crop(method: _Method, hr: np.ndarray, lr: np.ndarray, lr_box, scale: int,
                  margin: int) -> np.ndarray:
    """One method's HR-size crop: the LR window with ``margin`` context, enlarged, cut."""
    from srkit.io.images import LoadedImage
    from srkit.stages.upscale import enlarge_image

    top, left, side = lr_box
    if method.kind == "hr":
        return hr[top * scale:(top + side) * scale, left * scale:(left + side) * scale]
    y0, x0 = max(0, top - margin), max(0, left - margin)
    y1, x1 = min(lr.shape[0], top + side + margin), min(lr.shape[1], left + side + margin)
    window = LoadedImage(rgb=np.ascontiguousarray(lr[y0:y1, x0:x1], dtype=np.float32))
    kind = "model" if method.kind == "model" else method.kind
    rgb, _ = enlarge_image(window, method=kind, model=method.model, scale=scale)
    dy, dx = (top - y0) * scale, (left - x0) * scale
    return rgb[dy:dy + side * scale, dx:dx + side * scale]
