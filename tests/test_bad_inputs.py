"""The reliability matrix: every command over bad images, bad pools and bad model files.

For each case: the exit status (0 when bad files were skipped with a warning among good ones,
1 when nothing could be done), at most one stderr line per bad file and no traceback, no file
that existed before changed, and no partial file left. Model files that would run code when
unpickled never do, whichever option names them.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.images import write_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# name -> whether srkit can read it (the odd but valid formats must work)
BAD_IMAGES = {
    "zero.png": False, "truncated.png": False, "cut.jpg": False, "text.png": False,
    "huge.png": False, "one_pixel.png": True, "animated.gif": True, "cmyk.jpg": True,
    "palette_alpha.png": True, "grey_alpha.png": True, "deep.png": True, "deep_tiff.tif": True,
    "rotated.jpg": True,
}
UNREADABLE = [name for name, readable in BAD_IMAGES.items() if not readable]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def make_bad_images(folder: Path, photo: np.ndarray) -> None:
    """The files of :data:`BAD_IMAGES` in ``folder``, made from a float RGB ``photo``."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb8 = np.round(photo * 255).astype(np.uint8)
    encoded = {}
    for fmt in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        Image.fromarray(rgb8).save(buffer, fmt)
        encoded[fmt] = buffer.getvalue()
    (folder / "zero.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(encoded["PNG"][: len(encoded["PNG"]) // 2])
    (folder / "cut.jpg").write_bytes(encoded["JPEG"][: len(encoded["JPEG"]) // 2])
    (folder / "text.png").write_text("this is not an image\n")
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)  # 10^10 pixels claimed
    (folder / "huge.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b""))
    Image.fromarray(rgb8[:1, :1]).save(folder / "one_pixel.png")
    frames = [Image.fromarray(rgb8), Image.fromarray(255 - rgb8)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:],
                   duration=100, loop=0)
    Image.fromarray(rgb8).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    palette = Image.fromarray(rgb8).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.save(folder / "palette_alpha.png", transparency=0)
    Image.fromarray(rgb8).convert("LA").save(folder / "grey_alpha.png")
    write_image(folder / "deep.png", photo, bit_depth=16)
    write_image(folder / "deep_tiff.tif", photo, bit_depth=16)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb8).save(folder / "rotated.jpg", exif=exif, quality=95)


# ----------------------------------------------------------------------------- running


@dataclass
class Outcome:
    code: int
    lines: list[str]   # stderr, the CLI's error line included
    traceback: str | None


def invoke(*args: object) -> Outcome:
    """Run a command in-process as ``srkit.cli.main`` would (SrkitError: one line, exit 1;
    a Python warning: the lines Python would print on stderr)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(app, [str(a) for a in args])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    for warning in caught:
        text = warnings.formatwarning(warning.message, warning.category, warning.filename,
                                      warning.lineno, warning.line)
        lines.extend(line for line in text.splitlines() if line.strip())
    error, code, traceback = result.exception, result.exit_code, None
    if isinstance(error, SrkitError):
        lines.append(f"error: {error}")
        code = 1
    elif error is not None and not isinstance(error, SystemExit):
        traceback = f"{type(error).__name__}: {error}"
    return Outcome(code, lines, traceback)


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def check(outcome: Outcome, code: int, root: Path, before: dict[str, str],
          bad_files: list[str]) -> None:
    """The matrix's promises for one run in ``root`` (``before``: its files beforehand)."""
    assert outcome.traceback is None, outcome.traceback
    assert outcome.code == code, outcome.lines
    for name in bad_files:
        about = [line for line in outcome.lines if name in line and not
                 line.startswith("error: nothing done")]
        assert len(about) <= 1, about
    assert len(outcome.lines) <= len(bad_files) + 1, outcome.lines
    after = snapshot(root)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    assert changed == [], changed
    partial = [name for name in after if ".tmp" in Path(name).name]
    assert partial == [], partial


@pytest.fixture(scope="module")
def images(tmp_path_factory, astronaut) -> Path:
    """``bad/`` (the :data:`BAD_IMAGES`) and ``good/good.png`` (a 192×192 photo)."""
    root = tmp_path_factory.mktemp("images")
    make_bad_images(root / "bad", astronaut[:96, :128])
    write_image(root / "good" / "good.png", astronaut[100:292, 100:292])
    return root


IMAGE_COMMANDS = {
    "estimate-kernels": lambda out: ["estimate-kernels", "--pool", out / "p.h5", "-x", "2",
                                     "--method", "edge-gauss"],
    "collect-noise": lambda out: ["collect-noise", "--pool", out / "p.h5"],
    "degrade": lambda out: ["degrade", "-o", out / "pairs", "-x", "2", "--mode", "bicubic"],
    "upscale": lambda out: ["upscale", "--method", "bicubic", "-x", "2", "-o", out / "sr"],
    "evaluate": lambda out: ["evaluate"],
}
# a readable file that is still nothing a command can use: exit 1 when it is alone
TOO_SMALL = {("degrade", "one_pixel.png")}


@pytest.mark.parametrize("name", list(BAD_IMAGES))
@pytest.mark.parametrize("command", list(IMAGE_COMMANDS))
def test_a_bad_image_alone(tmp_path: Path, images: Path, command: str, name: str) -> None:
    before = snapshot(images)
    outcome = invoke(*IMAGE_COMMANDS[command](tmp_path), images / "bad" / name, "-q")
    readable = BAD_IMAGES[name] and (command, name) not in TOO_SMALL
    check(outcome, 0 if readable else 1, images, before, [name])
    if not readable:
        assert outcome.lines[-1].startswith("error: nothing done"), outcome.lines
        made = [p for p in tmp_path.rglob("*") if p.suffix in (".png", ".jpg", ".h5")]
        assert made == []
    assert snapshot(tmp_path).keys() == {k for k in snapshot(tmp_path) if ".tmp" not in k}


@pytest.mark.parametrize("command", list(IMAGE_COMMANDS))
def test_bad_images_among_good_ones_are_skipped(tmp_path: Path, images: Path,
                                               command: str) -> None:
    before = snapshot(images)
    inputs = [images / "bad" / name for name in BAD_IMAGES] + [images / "good" / "good.png"]
    outcome = invoke(*IMAGE_COMMANDS[command](tmp_path), *inputs, "-q")
    check(outcome, 0, images, before, list(BAD_IMAGES))
    for name in UNREADABLE:
        assert sum(name in line for line in outcome.lines) == 1, (name, outcome.lines)
    strict = invoke(*IMAGE_COMMANDS[command](tmp_path / "strict"), *inputs, "-q", "--strict")
    assert strict.traceback is None and strict.code == 1
    assert len(strict.lines) == 1 and "zero.png" in strict.lines[0], strict.lines


# ----------------------------------------------------------------------------- train-sr --hr

TRAIN = ["train-sr", "-x", "2", "--arch", "compact", "--num-feat", "4", "--num-conv", "1",
         "--iters", "1", "--batch-size", "1", "--patch-size", "16", "--workers", "0",
         "--save-every", "1", "--log-every", "1", "--device", "cpu", "-q"]


@pytest.fixture
def hr_photos(tmp_path: Path, images: Path) -> Path:
    """Two good photos and the unreadable ones, in one folder."""
    folder = tmp_path / "hr"
    folder.mkdir()
    for name in ("good.png", "good2.png"):
        (folder / name).write_bytes((images / "good" / "good.png").read_bytes())
    for name in UNREADABLE:
        (folder / name).write_bytes((images / "bad" / name).read_bytes())
    return folder


def test_train_sr_hr_skips_unreadable_photos_with_a_warning(tmp_path: Path,
                                                            hr_photos: Path) -> None:
    before = snapshot(tmp_path)
    outcome = invoke(*TRAIN, "--hr", hr_photos, "--synthetic", "-o", tmp_path / "m.safetensors")
    check(outcome, 0, tmp_path, before, UNREADABLE)
    for name in UNREADABLE:
        assert sum(name in line for line in outcome.lines) == 1, (name, outcome.lines)
    assert (tmp_path / "m.safetensors").exists()


def test_train_sr_strict_stops_at_the_first_unreadable_photo(tmp_path: Path,
                                                             hr_photos: Path) -> None:
    before = snapshot(tmp_path)
    outcome = invoke(*TRAIN, "--hr", hr_photos, "--synthetic", "--strict",
                     "-o", tmp_path / "m.safetensors")
    assert outcome.code == 1 and outcome.lines[-1].startswith("error:")
    assert not (tmp_path / "m.safetensors").exists() and snapshot(tmp_path) == before


def test_train_sr_hr_with_nothing_readable_exits_1(tmp_path: Path, hr_photos: Path) -> None:
    for name in ("good.png", "good2.png"):
        (hr_photos / name).unlink()
    before = snapshot(tmp_path)
    outcome = invoke(*TRAIN, "--hr", hr_photos, "--synthetic", "-o", tmp_path / "m.safetensors")
    check(outcome, 1, tmp_path, before, UNREADABLE)
    assert outcome.lines[-1].startswith("error: nothing done")
    assert not (tmp_path / "m.safetensors").exists()


def test_train_sr_pairs_skip_a_pair_with_an_unreadable_image(tmp_path: Path,
                                                            images: Path) -> None:
    pairs = tmp_path / "pairs"
    assert invoke("degrade", images / "good" / "good.png", images / "bad" / "deep.png", "-o",
                  pairs, "-x", "2", "--mode", "bicubic", "-q").code == 0
    (pairs / "lr" / "deep.png").write_bytes(b"")  # a pair whose LR was lost
    before = snapshot(tmp_path)
    outcome = invoke(*TRAIN, pairs, "-o", tmp_path / "m.safetensors")
    check(outcome, 0, tmp_path, before, ["deep.png"])
    assert len(outcome.lines) == 1 and "deep.png" in outcome.lines[0]


# ----------------------------------------------------------------------------- bad pools


def _good_pool(path: Path) -> Path:
    from srkit.io.pool_writer import append_kernels, append_noise
    from srkit.io.pools import KernelEntry, NoiseEntry
    from srkit.ops.kernels import gaussian_kernel

    append_kernels(path, [KernelEntry(gaussian_kernel(13, 1.2), 2, "a.png", "sha-a", "test")])
    patch = np.random.default_rng(0).normal(0, 0.01, (32, 32, 3)).astype(np.float32)
    append_noise(path, [NoiseEntry(patch - patch.mean(axis=(0, 1)), "n.png", "sha-n",
                                   (0, 0))])
    return path


def _make_pool(kind: str, path: Path) -> Path:
    if kind == "not-hdf5":
        path.write_text("kernels: many\n")
    elif kind == "zero-bytes":
        path.write_bytes(b"")
    elif kind == "plain-hdf5":  # no format attribute
        with h5py.File(path, "w") as handle:
            handle["x"] = np.zeros(3)
    elif kind == "wrong-schema":
        _good_pool(path)
        with h5py.File(path, "a") as handle:
            handle.attrs["schema_version"] = 999
    elif kind == "missing-dataset":
        _good_pool(path)
        with h5py.File(path, "a") as handle:
            del handle["kernels/x2/flag"]
            del handle["noise/position"]
    elif kind == "bad-shape":
        _good_pool(path)
        with h5py.File(path, "a") as handle:
            del handle["kernels/x2/kernel"]
            handle["kernels/x2/kernel"] = np.zeros((1, 13, 7), np.float32)
    elif kind == "empty":  # a valid pool with nothing in it
        from srkit.io.pool_writer import stamp_new_pool

        with h5py.File(path, "w") as handle:
            stamp_new_pool(handle)
    return path


BAD_POOLS = ["not-hdf5", "zero-bytes", "plain-hdf5", "wrong-schema", "missing-dataset",
             "bad-shape", "empty"]


def _pool_commands(pool: Path, out: Path, images: Path) -> dict[str, list]:
    good = images / "good" / "good.png"
    return {
        "pool info": ["pool", "info", pool],
        "pool show": ["pool", "show", pool, "-o", out / "show.png"],
        "degrade": ["degrade", good, "-o", out / "pairs", "-x", "2", "--pool", pool, "-q"],
        "train-sr": [*TRAIN, "--hr", images / "good", "--pool", pool, "-o",
                     out / "m.safetensors"],
        "estimate-kernels": ["estimate-kernels", good, "--pool", pool, "-x", "2", "--method",
                             "edge-gauss", "-q"],
        "collect-noise": ["collect-noise", good, "--pool", pool, "-q"],
    }


# commands that may work on an empty pool: info describes it, the writers fill it (show has
# nothing to draw, degrade and train-sr nothing to degrade with: exit 1)
EMPTY_POOL_OK = {"pool info", "estimate-kernels", "collect-noise"}


@pytest.mark.parametrize("command", ["pool info", "pool show", "degrade", "train-sr",
                                     "estimate-kernels", "collect-noise"])
@pytest.mark.parametrize("kind", BAD_POOLS)
def test_bad_pools(tmp_path: Path, images: Path, kind: str, command: str) -> None:
    pool = _make_pool(kind, tmp_path / "pool.h5")
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    outcome = invoke(*_pool_commands(pool, out, images)[command])
    ok = kind == "empty" and command in EMPTY_POOL_OK
    assert outcome.traceback is None, outcome.traceback
    assert outcome.code == (0 if ok else 1), outcome.lines
    if not ok:
        assert len(outcome.lines) == 1 and "pool.h5" in outcome.lines[0], outcome.lines
        after = snapshot(tmp_path)
        assert {k: v for k, v in after.items() if k in before} == before
        assert [k for k in after if ".tmp" in k] == []
        assert not any(k.endswith((".png", ".safetensors")) for k in after if k not in before)


# ----------------------------------------------------------------------------- bad models


class _RunsCode:
    """Unpickling this calls ``open(marker, "w")``: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _evil_files(folder: Path, marker: Path) -> dict[str, Path]:
    """Model-like files that would run code if unpickled without ``weights_only``."""
    folder.mkdir(parents=True, exist_ok=True)
    zipped = folder / "evil.pth"
    torch.save({"params": _RunsCode(marker), "weight": torch.zeros(1)}, zipped)
    bare = folder / "evil_bare.pth"
    bare.write_bytes(pickle.dumps({"state_dict": _RunsCode(marker)}))
    named = folder / "evil.safetensors"
    named.write_bytes(zipped.read_bytes())
    return {"zipped": zipped, "bare": bare, "named": named}


def _model_commands(model: Path, out: Path, images: Path) -> dict[str, list]:
    good = images / "good" / "good.png"
    return {
        "upscale --model": ["upscale", good, "--model", model, "-o", out / "sr.png", "-q"],
        "train-sr --init": [*TRAIN, "--hr", images / "good", "--synthetic", "--init", model,
                            "-o", out / "m.safetensors"],
        "train-sr --vgg-weights": [*TRAIN, "--hr", images / "good", "--synthetic",
                                   "--perceptual-weight", "1", "--vgg-weights", model, "-o",
                                   out / "m.safetensors"],
        "train-dsn --vgg-weights": ["train-dsn", images / "good", images / "good", "-x", "2",
                                    "--iters", "1", "--batch-size", "1", "--patch-size", "16",
                                    "--num-feat", "4", "--num-block", "1",
                                    "--perceptual-weight", "1", "--vgg-weights", model,
                                    "--device", "cpu", "-o", out / "dsn.safetensors", "-q"],
        "degrade --dsn": ["degrade", good, "-o", out / "pairs", "-x", "2", "--mode", "dsn",
                          "--dsn", model, "--device", "cpu", "-q"],
        "evaluate --lpips-weights": ["evaluate", good, "--ref", images / "good",
                                     "--lpips-weights", model, "--alexnet-weights", model,
                                     "--device", "cpu", "-q"],
    }


MODEL_COMMANDS = list(_model_commands(Path("m"), Path("o"), Path("i")))


@pytest.mark.parametrize("kind", ["zipped", "bare", "named"])
@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_a_pickle_that_runs_code_never_runs(tmp_path: Path, images: Path, command: str,
                                            kind: str) -> None:
    marker = tmp_path / "marker"
    model = _evil_files(tmp_path / "models", marker)[kind]
    before = snapshot(tmp_path)
    outcome = invoke(*_model_commands(model, tmp_path / "out", images)[command])
    assert not marker.exists()
    assert outcome.traceback is None and outcome.code == 1, outcome
    assert model.name in outcome.lines[-1] and outcome.lines[-1].startswith("error:")
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before
    assert [k for k in after if ".tmp" in k] == []


# "bare": a pre-zip pickle, which torch refuses after a warning of its own (silenced by
# srkit.io.torch_files, so that srkit's one line is all the user sees)
ONE_LINE_CASES = [
    pytest.param(command, kind, id=f"{command}-{kind}")
    for command in MODEL_COMMANDS for kind in ("zipped", "bare", "named")]


@pytest.mark.parametrize(("command", "kind"), ONE_LINE_CASES)
def test_a_pickle_that_runs_code_is_refused_in_one_line(tmp_path: Path, images: Path,
                                                        command: str, kind: str) -> None:
    model = _evil_files(tmp_path / "models", tmp_path / "marker")[kind]
    outcome = invoke(*_model_commands(model, tmp_path / "out", images)[command])
    assert len(outcome.lines) == 1 and model.name in outcome.lines[0], outcome.lines


def _resume_with(state_kind: str, command: str, tmp_path: Path, images: Path
                 ) -> tuple[Outcome, Path, dict[str, str]]:
    """Run ``command --resume`` with its resume state replaced by an evil pickle."""
    evil = _evil_files(tmp_path / "models", tmp_path / "marker")[state_kind]
    if command == "train-sr":
        output = tmp_path / "m.safetensors"
        args = [*TRAIN, "--hr", images / "good", "--synthetic", "-o", output]
    else:
        output = tmp_path / "dsn.safetensors"
        args = ["train-dsn", images / "good", images / "good", "-x", "2", "--iters", "1",
                "--batch-size", "1", "--patch-size", "16", "--num-feat", "4", "--num-block",
                "1", "--device", "cpu", "-o", output, "-q"]
    state = output.with_suffix(".resume.pt")
    state.write_bytes(evil.read_bytes())
    before = snapshot(tmp_path)
    return invoke(*args, "--resume"), state, before


@pytest.mark.parametrize("kind", ["zipped", "bare"])
@pytest.mark.parametrize("command", ["train-sr", "train-dsn"])
def test_a_resume_state_that_runs_code_never_runs(tmp_path: Path, images: Path,
                                                  command: str, kind: str) -> None:
    outcome, state, before = _resume_with(kind, command, tmp_path, images)
    assert not (tmp_path / "marker").exists()
    assert outcome.traceback is None and outcome.code == 1, outcome
    assert state.name in outcome.lines[-1] and outcome.lines[-1].startswith("error:")
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before
    assert [k for k in after if ".tmp" in k] == []


@pytest.mark.parametrize("kind", ["zipped", "bare"])
@pytest.mark.parametrize("command", ["train-sr", "train-dsn"])
def test_a_resume_state_that_runs_code_is_refused_in_one_line(tmp_path: Path, images: Path,
                                                              command: str, kind: str) -> None:
    outcome, state, _ = _resume_with(kind, command, tmp_path, images)
    assert len(outcome.lines) == 1 and state.name in outcome.lines[0], outcome.lines


def _compact(path: Path, **changes) -> Path:
    from srkit.io.checkpoints import save_model
    from srkit.models import build_model

    torch.manual_seed(0)
    args = {"num_feat": 4, "num_conv": 1, "upscale": 2, **changes}
    return save_model(path, build_model("compact", **args), "compact", args, 2)


def _broken_models(folder: Path) -> dict[str, Path]:
    from safetensors.torch import save_file

    from srkit.io.checkpoints import read_safetensors

    folder.mkdir(parents=True, exist_ok=True)
    garbage = folder / "garbage.safetensors"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    good = _compact(folder / "good.safetensors")
    truncated = folder / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:300])
    grey = _compact(folder / "grey.safetensors", num_in_ch=1, num_out_ch=1)
    four = _compact(folder / "four.safetensors", num_in_ch=4, num_out_ch=4)
    state, metadata = read_safetensors(good)
    absurd = folder / "absurd.safetensors"
    save_file(state, str(absurd), metadata={**metadata, "srkit_scale": "100000",
                                            "srkit_arch_args": '{"num_feat": 99999999}'})
    return {"garbage": garbage, "truncated": truncated, "grey": grey, "four": four,
            "absurd": absurd}


BROKEN_MODEL_CASES = [  # 1- and 4-channel models are refused at load (srkit runs RGB models)
    pytest.param(command, kind, id=f"{command}-{kind}")
    for command in ("upscale --model", "train-sr --init", "degrade --dsn")
    for kind in ("garbage", "truncated", "grey", "four", "absurd")]


@pytest.mark.parametrize(("command", "kind"), BROKEN_MODEL_CASES)
def test_broken_model_files(tmp_path: Path, images: Path, command: str, kind: str) -> None:
    model = _broken_models(tmp_path / "models")[kind]
    before = snapshot(tmp_path)
    outcome = invoke(*_model_commands(model, tmp_path / "out", images)[command])
    check(outcome, 1, tmp_path, before, [model.name])
    assert len(outcome.lines) == 1 and model.name in outcome.lines[0], outcome.lines
