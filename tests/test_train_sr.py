"""train-sr: beats bicubic, resumes bit for bit, recipes and configs, CLI, several processes."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from srkit.cli import app
from srkit.errors import SrkitError
from srkit.io.checkpoints import read_safetensors
from srkit.io.images import write_image
from srkit.modelzoo import resolve_model
from srkit.stages.train_sr import train_sr
from srkit.training.ema import ModelEMA
from srkit.training.recipes import (
    DISCRIMINATOR_KINDS,
    RECIPES,
    parse_assignment,
    read_config,
    resolve_recipe,
)
from srkit.training.state import load_state
from tests.interrupting import Killed, kill_at

TINY = {"arch": "compact", "arch_args": {"num_feat": 8, "num_conv": 2}, "batch_size": 4,
        "patch_size": 32, "workers": 0, "device": "cpu", "log_every": 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _photos(root: Path, astronaut, chelsea, coffee) -> tuple[Path, Path]:
    """Training photos and one held-out photo (a different scene)."""
    from skimage import data

    rocket = data.rocket()[100:300, :300].astype(np.float32) / 255
    write_image(root / "train" / "astronaut.png", astronaut[:256, :256])
    write_image(root / "train" / "coffee.png", coffee[:200, :288])
    write_image(root / "train" / "rocket.png", rocket)
    write_image(root / "held_out" / "chelsea.png", chelsea[:240, :320])
    return root / "train", root / "held_out"


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, astronaut, chelsea, coffee) -> Path:
    """A small ×2 bicubic pair folder made by srkit degrade."""
    from srkit.stages.degrade import degrade

    root = tmp_path_factory.mktemp("pairs")
    train, _ = _photos(root, astronaut, chelsea, coffee)
    degrade(train, root / "pairs", 2, mode="bicubic", seed=0)
    return root / "pairs"


def _psnr_vs_bicubic(model_path: Path, val_pairs: Path) -> tuple[float, float]:
    """Independent check: PSNR-Y (border = scale) of the saved model and of bicubic."""
    from srkit.data import load_pixels, to_float
    from srkit.io.checkpoints import load_model
    from srkit.io.pairs import find_pairs
    from srkit.metrics import psnr
    from srkit.ops.resize import imresize
    from srkit.training.validation import super_resolve

    loaded = load_model(model_path)
    model_scores, bicubic_scores = [], []
    for pair in find_pairs(val_pairs):
        lr_img, hr_img = to_float(load_pixels(pair.lr_path)), to_float(load_pixels(pair.hr_path))
        sr_img = super_resolve(loaded.model, lr_img, torch.device("cpu"))
        model_scores.append(psnr(sr_img, hr_img, border=loaded.scale))
        bicubic_scores.append(psnr(np.clip(imresize(lr_img, loaded.scale), 0, 1), hr_img,
                                   border=loaded.scale))
    return float(np.mean(model_scores)), float(np.mean(bicubic_scores))


def _beats_bicubic(tmp_path, astronaut, chelsea, coffee, **degrade_args) -> None:
    from srkit.stages.degrade import degrade

    train, held_out = _photos(tmp_path, astronaut, chelsea, coffee)
    degrade(train, tmp_path / "pairs", 2, seed=0, **degrade_args)
    degrade(held_out, tmp_path / "val", 2, seed=1, **degrade_args)
    model = tmp_path / "model.safetensors"
    # A small compact net, a constant high learning rate and EMA: 300 iterations on CPU.
    result = train_sr(tmp_path / "pairs", model, 2, arch="compact",
                      arch_args={"num_feat": 16, "num_conv": 2}, iters=300, batch_size=8,
                      patch_size=64, learning_rate=3e-3, overrides={"lr_milestones": []},
                      seed=0, workers=0, device="cpu", val=tmp_path / "val", val_every=300,
                      log_every=50)
    model_psnr, bicubic_psnr = _psnr_vs_bicubic(model, tmp_path / "val")
    assert model_psnr > bicubic_psnr + 0.25, (model_psnr, bicubic_psnr)
    assert result.val_psnr_y == pytest.approx(model_psnr, abs=1e-6)
    assert result.bicubic_psnr_y == pytest.approx(bicubic_psnr, abs=1e-6)


def test_model_trained_on_bicubic_pairs_beats_bicubic(tmp_path, astronaut, chelsea, coffee):
    _beats_bicubic(tmp_path, astronaut, chelsea, coffee, mode="bicubic")


@pytest.mark.slow
def test_model_trained_on_pool_pairs_beats_bicubic(tmp_path, astronaut, chelsea, coffee):
    from srkit.io.pool_writer import append_kernels, append_noise
    from srkit.io.pools import KernelEntry, NoiseEntry
    from srkit.ops.kernels import gaussian_kernel

    pool = tmp_path / "pool.h5"
    append_kernels(pool, [KernelEntry(gaussian_kernel(13, 1.0, 0.7, 0.5), 2, "a", "0" * 64, "t"),
                          KernelEntry(gaussian_kernel(13, 1.3), 2, "b", "1" * 64, "t")])
    rng = np.random.default_rng(0)
    patches = rng.normal(0, 0.01, (3, 64, 64, 3)).astype(np.float32)
    patches -= patches.mean(axis=(1, 2), keepdims=True)
    append_noise(pool, [NoiseEntry(p, f"n{i}", str(i) * 64, (0, 0)) for i, p in enumerate(patches)])
    _beats_bicubic(tmp_path, astronaut, chelsea, coffee, mode="pool", pool=pool)


def _with_distance_maps(pairs: Path, root: Path) -> Path:
    """A copy of ``pairs`` with random LR-size distance maps in dist/ (as degrade --dsn)."""
    from srkit.data import load_pixels
    from srkit.io.pairs import find_pairs

    copy = root / "dasr_pairs"
    shutil.copytree(pairs, copy)
    (copy / "dist").mkdir()
    rng = np.random.default_rng(0)
    for pair in find_pairs(copy):
        shape = load_pixels(pair.lr_path).shape[:2]
        np.save(copy / "dist" / f"{Path(pair.name).stem}.npy",
                rng.random(shape).astype(np.float32))
    return copy


@pytest.mark.parametrize("recipe_args", [
    {"recipe": "psnr"},
    {"recipe": "realsr",  # PatchGAN + RaGAN, small D
     "overrides": {"perceptual_weight": 0.0, "discriminator_num_feat": 8}},
    {"recipe": "dasr",  # generated + real LR, band discriminator inside the objective
     "overrides": {"perceptual_weight": 0.0, "discriminator_num_feat": 8}},
], ids=["psnr", "realsr-gan", "dasr"])
def test_resume_after_a_kill_continues_bit_for_bit(tmp_path, pairs, recipe_args):
    if recipe_args["recipe"] == "dasr":
        pairs = _with_distance_maps(pairs, tmp_path)
        recipe_args = {**recipe_args, "real_lr": pairs / "lr"}
    args = {**TINY, **recipe_args, "iters": 12, "seed": 3, "save_every": 5}
    straight = tmp_path / "straight.safetensors"
    train_sr(pairs, straight, 2, **args)
    killed = tmp_path / "killed.safetensors"
    with pytest.raises(Killed):  # dies at 7: the work after the save at 5 is lost
        train_sr(pairs, killed, 2, **args, callback=kill_at(7))
    assert load_state(tmp_path / "killed.resume.pt")["iteration"] == 5
    with pytest.raises(SrkitError, match="already exists"):
        train_sr(pairs, killed, 2, **args)
    result = train_sr(pairs, killed, 2, **args, resume=True)
    assert (result.start_iteration, result.iterations) == (5, 12)

    expected, got = load_file(straight), load_file(killed)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    state_a = load_state(tmp_path / "straight.resume.pt")["trainer"]
    state_b = load_state(tmp_path / "killed.resume.pt")["trainer"]
    for part in ("generator", "discriminator"):
        for key, value in state_a.get(part, {}).items():
            assert torch.equal(value, state_b[part][key]), (part, key)
    if "dasr" in state_a:  # the objective's discriminator (BatchNorm statistics included)
        dasr_a, dasr_b = state_a["dasr"], state_b["dasr"]
        for key, value in dasr_a["discriminator"].items():
            assert torch.equal(value, dasr_b["discriminator"][key]), key
        for index, moments in dasr_a["optimizer"]["state"].items():
            for name, value in moments.items():
                assert torch.equal(value, dasr_b["optimizer"]["state"][index][name])
        assert dasr_a["scheduler"] == dasr_b["scheduler"]
    rows = {}
    for name in ("straight", "killed"):
        with open(tmp_path / f"{name}.train.csv") as handle:
            rows[name] = list(csv.DictReader(handle))
    iterations = [int(row["iteration"]) for row in rows["killed"]]
    assert iterations == [2, 4, 6, 8, 10, 12]  # the killed run's rows 6 were replaced
    losses = [key for key in rows["straight"][0] if key.startswith(("loss_", "d_"))]
    for row_a, row_b in zip(rows["straight"][3:], rows["killed"][3:], strict=True):
        assert [row_a[k] for k in losses] == [row_b[k] for k in losses]  # 8, 10, 12


def test_saved_model_carries_metadata_and_ema_weights(tmp_path, pairs):
    output = tmp_path / "m.safetensors"
    result = train_sr(pairs, output, 2, **TINY, iters=6, seed=1, save_every=100,
                      description="a tiny test model")
    with safe_open(str(output), "pt") as handle:
        meta = handle.metadata()
        saved = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    assert meta["srkit_arch"] == "compact" and meta["srkit_scale"] == "2"
    assert json.loads(meta["srkit_arch_args"]) == {"num_feat": 8, "num_conv": 2, "upscale": 2}
    assert (meta["recipe"], meta["iterations"], meta["seed"], meta["weights"]) == (
        "psnr", "6", "1", "ema")
    assert meta["description"] == "a tiny test model"
    assert "pairs from" in meta["training_data"]
    assert json.loads(meta["recipe_settings"])["learning_rate"] == 2e-4
    raw = load_state(result.resume_state)["trainer"]["generator"]
    assert any(not torch.equal(raw[k], saved[k]) for k in saved)  # EMA, not the raw weights
    no_ema = train_sr(pairs, tmp_path / "raw.safetensors", 2, **TINY, iters=6, seed=1,
                      ema_decay=0.0)
    raw = load_state(no_ema.resume_state)["trainer"]["generator"]
    assert all(torch.equal(raw[k], v) for k, v in load_file(no_ema.output).items())


def test_ema_decay_warms_up_then_averages():
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = ModelEMA(model, decay=0.999)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    assert float(ema.model.weight) == pytest.approx(0.9)
    ema.updates = 100_000
    assert ema.current_decay() == 0.999


def test_recipes_hold_the_papers_settings():
    realsr, esrgan, psnr = RECIPES["realsr"], RECIPES["esrgan"], RECIPES["psnr"]
    assert realsr.milestone_iterations() == [5000, 10000, 20000, 30000]
    assert esrgan.milestone_iterations() == [50000, 100000, 200000, 300000]
    assert psnr.milestone_iterations() == [200000, 400000, 600000, 800000]
    for recipe in (realsr, esrgan):
        assert (recipe.pixel_weight, recipe.perceptual_weight, recipe.gan_weight) == (
            0.01, 1.0, 0.005)
        assert recipe.perceptual_layer == "conv5_4" and recipe.perceptual_before_activation
        assert recipe.learning_rate == 1e-4 and recipe.gan_kind == "ragan"
    assert (realsr.discriminator, esrgan.discriminator) == ("patchgan", "vgg")
    assert not psnr.uses_gan and not psnr.uses_perceptual and psnr.learning_rate == 2e-4
    from srkit.models.discriminators import DISCRIMINATORS

    assert set(DISCRIMINATOR_KINDS) == {"none", *DISCRIMINATORS}


def test_config_file_and_overrides_layer_on_the_recipe(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('recipe = "realsr"\narch = "compact"\ngan_weight = 0.01\n'
                      'lr_milestones = [0.5]\n[arch_args]\nnum_feat = 16\n')
    parsed = read_config(config)
    assert (parsed.recipe, parsed.arch, parsed.arch_args) == ("realsr", "compact",
                                                              {"num_feat": 16})
    recipe = resolve_recipe("psnr", parsed, {"gan_weight": 0.02, "iters": 100})
    assert recipe.name == "realsr" and recipe.gan_weight == 0.02 and recipe.iters == 100
    assert recipe.lr_milestones == (0.5,) and recipe.pixel_weight == 0.01
    assert parse_assignment("lr-gamma=0.25") == ("lr_gamma", 0.25)


@pytest.mark.parametrize("text, message", [
    ('pixel_wieght = 1.0\nbatch_size = 4\nfoo = 1\n', "unknown key(s) foo, pixel_wieght"),
    ('batch_size = "16"\n', "batch_size must be int"),
    ('discriminator = "resnet"\n', "discriminator must be one of none, vgg, patchgan, unet"),
    ('recipe = 3\n', "recipe must be a string"),
    ('iters = \n', "not valid TOML"),
])
def test_bad_config_files_are_named_not_swallowed(tmp_path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(SrkitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_config(config)


def test_unknown_override_and_gan_without_discriminator_are_errors():
    with pytest.raises(SrkitError, match="unknown setting.*learningrate"):
        resolve_recipe("psnr", overrides={"learningrate": 1e-3})
    with pytest.raises(SrkitError, match="needs a discriminator"):
        resolve_recipe("psnr", overrides={"gan_weight": 0.1})


def test_perceptual_recipe_without_vgg_weights_says_what_to_do(tmp_path, pairs, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(SrkitError) as error:
        train_sr(pairs, tmp_path / "m.safetensors", 2, **TINY, recipe="realsr", iters=2)
    message = str(error.value)
    assert str(tmp_path / "torch_home") in message and "vgg19-dcbb9e9d.pth" in message
    assert "--vgg-weights" in message and "--perceptual-weight 0" in message


def test_amp_is_a_warned_no_op_on_cpu_and_channels_last_runs(tmp_path, pairs, capsys):
    result = train_sr(pairs, tmp_path / "m.safetensors", 2, **TINY, iters=2, amp="bf16",
                      channels_last=True)
    assert "--amp bf16 only applies to CUDA devices" in capsys.readouterr().err
    assert all(torch.isfinite(v).all() for v in load_file(result.output).values())


def test_cli_trains_and_refuses_to_overwrite(tmp_path, pairs, run_main):
    runner = CliRunner()
    output = tmp_path / "cli.safetensors"
    config = tmp_path / "c.toml"
    config.write_text("batch_size = 2\npatch_size = 16\n")
    args = ["train-sr", str(pairs), "-o", str(output), "-x", "2", "--arch", "compact",
            "--num-feat", "8", "--arch-arg", "num_conv=1", "--iters", "3", "--config",
            str(config), "--set", "lr_gamma=0.25", "--workers", "0", "--device", "cpu",
            "--val", "0.34", "--json", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["iterations"] == 3 and summary["arch_args"] == {
        "num_feat": 8, "num_conv": 1, "upscale": 2}
    assert summary["val_psnr_y"] > 10 and summary["bicubic_psnr_y"] > 10
    state = load_state(tmp_path / "cli.resume.pt")
    assert state["settings"]["recipe"]["batch_size"] == 2
    assert state["settings"]["recipe"]["lr_gamma"] == 0.25
    assert (tmp_path / "cli.train.csv").exists()

    code, stderr = run_main(args)  # as the console script does
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("error:") and "already exists" in lines[0]

    # resuming a finished run trains nothing and says so (no "0.00 it/s")
    finished = [a for a in args if a not in ("--json", "-q")] + ["--resume"]
    result = runner.invoke(app, finished)
    assert result.exit_code == 0, result.output
    assert "3 iterations (already complete" in " ".join(result.output.split())


@pytest.mark.parametrize("extra, message", [
    (["--config", "missing.toml"], "no such config file"),
    (["--val", "1.5"], "held-out fraction"),
    (["--amp", "fp8"], "--amp fp8"),
    (["--arch", "vdsr"], "unknown architecture"),
])
def test_cli_bad_options_give_one_line(tmp_path, pairs, extra, message):
    result = CliRunner().invoke(app, ["train-sr", str(pairs), "-o",
                                      str(tmp_path / "m.safetensors"), "-x", "2", "--iters",
                                      "1", "--device", "cpu", *extra])
    assert result.exit_code == 1
    assert isinstance(result.exception, SrkitError) and message in str(result.exception)


def test_resume_with_a_different_network_is_refused(tmp_path, pairs):
    output = tmp_path / "m.safetensors"
    train_sr(pairs, output, 2, **TINY, iters=2)
    with pytest.raises(SrkitError, match="cannot resume with different arch_args.num_feat"):
        train_sr(pairs, output, 2, **{**TINY, "arch_args": {"num_feat": 4, "num_conv": 2}},
                 iters=4, resume=True)


@pytest.mark.slow
def test_two_processes_under_torchrun_match_one_process_with_twice_the_batch(tmp_path, pairs):
    """DDP on CPU (gloo): rank r takes samples r, r+2, ... so 2 × batch 2 = 1 × batch 4."""
    common = ["-x", "2", "--arch", "compact", "--num-feat", "8", "--num-conv", "2",  # = TINY
              "--patch-size", "32", "--iters", "4", "--workers", "0", "--device", "cpu",
              "--log-every", "1", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = tmp_path / "ddp.safetensors"
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "srkit", "train-sr", str(pairs), "-o", str(two),
         "--batch-size", "2", *common],
        capture_output=True, text=True, env=env, timeout=180)
    assert completed.returncode == 0, completed.stderr[-2000:]
    one = tmp_path / "single.safetensors"
    train_sr(pairs, one, 2, **{**TINY, "batch_size": 4, "log_every": 1}, iters=4)
    expected, got = load_file(one), load_file(two)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-6)
    assert load_state(tmp_path / "ddp.resume.pt")["world_size"] == 2
    with open(tmp_path / "ddp.train.csv") as handle:
        assert len(handle.readlines()) == 5  # header + 4 rows: rank 1 wrote nothing
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ddp")) == [
        "ddp.curves.png", "ddp.resume.pt", "ddp.safetensors", "ddp.train.csv"]
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_ctrl_c_saves_a_whole_state_that_resumes_exactly(tmp_path, pairs):
    import signal

    args = {**TINY, "iters": 8, "seed": 2, "save_every": 100}
    train_sr(pairs, tmp_path / "straight.safetensors", 2, **args)

    def interrupt(iteration: int) -> None:
        if iteration == 3:
            os.kill(os.getpid(), signal.SIGINT)  # handled between iterations

    # Python's own handler, whatever this process inherited (SIG_IGN under nohup or `&`)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            train_sr(pairs, tmp_path / "stopped.safetensors", 2, **args, callback=interrupt)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert load_state(tmp_path / "stopped.resume.pt")["iteration"] == 3
    train_sr(pairs, tmp_path / "stopped.safetensors", 2, **args, resume=True)
    expected, got = load_file(tmp_path / "straight.safetensors"), load_file(
        tmp_path / "stopped.safetensors")
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_trains_on_the_fly_from_a_pool_and_from_the_random_pipeline(tmp_path, astronaut):
    from srkit.io.pool_writer import append_kernels, append_noise
    from srkit.io.pools import KernelEntry, NoiseEntry
    from srkit.ops.kernels import gaussian_kernel

    write_image(tmp_path / "hr" / "a.png", astronaut[:96, :96])
    write_image(tmp_path / "hr" / "b.png", astronaut[200:296, 100:196])
    pool = tmp_path / "pool.h5"
    append_kernels(pool, [KernelEntry(gaussian_kernel(13, 1.2), 2, "k", "0" * 64, "t")])
    append_noise(pool, [NoiseEntry(np.zeros((16, 16, 3), np.float32), "n", "1" * 64, (0, 0))])
    for name, source in (("pool", {"pool": pool}), ("synthetic", {"synthetic": True})):
        result = train_sr(output=tmp_path / f"{name}.safetensors", scale=2, hr=tmp_path / "hr",
                          **source, **TINY, iters=2, val=0.5)
        assert result.iterations == 2 and result.val_psnr_y is not None
        assert "1 HR photos" in result.data
    with pytest.raises(SrkitError, match="smaller than the 128×128 patch"):
        train_sr(output=tmp_path / "big.safetensors", scale=2, hr=tmp_path / "hr", pool=pool,
                 **{**TINY, "patch_size": 128}, iters=1)

    # --synthetic-set reaches the pipeline, and the model's metadata says what was changed
    runner = CliRunner()
    base = ["train-sr", "--hr", str(tmp_path / "hr"), "-o", str(tmp_path / "mild.safetensors"),
            "-x", "2", "--arch", "compact", "--num-feat", "8", "--num-conv", "2", "--iters", "1",
            "--batch-size", "2", "--patch-size", "32", "--workers", "0", "--device", "cpu",
            "-q"]
    result = runner.invoke(app, [*base, "--synthetic", "--synthetic-set",
                                 "second_order_prob=0", "--synthetic-set",
                                 "first.noise_sigma=[1, 5]"])
    assert result.exit_code == 0, result.output
    described = read_safetensors(tmp_path / "mild.safetensors")[1]["training_data"]
    assert "(first.noise_sigma=(1, 5), second_order_prob=0)" in described
    for extra, message in ((["--synthetic-set", "second_order_prob=0"], "add --synthetic"),
                           (["--synthetic", "--synthetic-set", "first.bogus=1"],
                            "unknown synthetic setting 'first.bogus'")):
        result = runner.invoke(app, [*base, "--overwrite", *extra])
        assert result.exit_code == 1 and message in str(result.exception)


def test_init_starts_from_a_model_and_must_match_it(tmp_path, pairs):
    first = train_sr(pairs, tmp_path / "first.safetensors", 2, **TINY, iters=3)
    frozen = train_sr(pairs, tmp_path / "frozen.safetensors", 2, **TINY, iters=2,
                      init=first.output, learning_rate=1e-12)  # steps of ~1e-12
    expected, got = load_file(first.output), load_file(frozen.output)
    assert max(float((expected[k] - got[k]).abs().max()) for k in expected) < 1e-9
    # the provenance: the init file and the iterations from scratch, chained over fine-tunes
    meta = read_safetensors(frozen.output)[1]
    assert (meta["init"], meta["iterations"], meta["total_iterations"]) == \
        ("first.safetensors", "2", "5")
    again = train_sr(pairs, tmp_path / "again.safetensors", 2, **TINY, iters=1,
                     init=frozen.output)
    assert read_safetensors(again.output)[1]["total_iterations"] == "6"
    assert "init" not in read_safetensors(first.output)[1]
    # a model trained from scratch also passes on its recipe, iterations and seed
    first_meta = read_safetensors(first.output)[1]
    assert (meta["init_iterations"], meta["init_seed"], meta["init_recipe_settings"]) == \
        ("3", first_meta["seed"], first_meta["recipe_settings"])
    assert "init_recipe_settings" not in read_safetensors(again.output)[1]  # two stages back
    # ... and every earlier stage, earliest first, however long the chain
    stages = json.loads(read_safetensors(again.output)[1]["init_stages"])
    assert [(st["iterations"], st["recipe_settings"]["learning_rate"]) for st in stages] == \
        [(3, json.loads(first_meta["recipe_settings"])["learning_rate"]), (2, 1e-12)]
    assert stages[0]["recipe_settings"] == json.loads(first_meta["recipe_settings"])
    assert json.loads(meta["init_stages"]) == stages[:1]
    with pytest.raises(SrkitError, match="is a compact with"):
        train_sr(pairs, tmp_path / "other.safetensors", 2,
                 **{**TINY, "arch_args": {"num_feat": 4, "num_conv": 2}}, iters=1,
                 init=first.output)


@pytest.mark.parametrize("arch, arch_args", [
    ("rrdbnet", {"num_feat": 4, "num_block": 1, "num_grow_ch": 4}),
    ("da-sr", {"num_feat": 4, "num_block": 1, "decoder_block": 0})])
def test_init_from_a_net_whose_factor_is_called_scale(tmp_path, pairs, arch, arch_args):
    """RRDBNet's and da-sr's factor argument is ``scale``, the name of arch_args_for_scale's
    own parameter: an --init model of theirs (its arguments hold ``scale``) once failed with a
    TypeError."""
    first = train_sr(pairs, tmp_path / "first.safetensors", 2,
                     **{**TINY, "arch": arch, "arch_args": arch_args}, iters=1)
    again = train_sr(pairs, tmp_path / "again.safetensors", 2,
                     **{**TINY, "arch": None, "arch_args": None}, iters=1, init=first.output)
    from srkit.io.checkpoints import load_model

    loaded = load_model(again.output)
    assert (loaded.arch, loaded.arch_args) == (arch, {**arch_args, "scale": 2})
    assert read_safetensors(again.output)[1]["init"] == "first.safetensors"


def test_init_takes_a_model_name_and_its_architecture(tmp_path, pairs, monkeypatch):
    """--init general_x2 (the name the below-bicubic warning suggests) works as written: the
    run takes the model's architecture and arguments unless told otherwise, and a different
    width is still refused."""
    from srkit.io.checkpoints import load_model

    monkeypatch.setenv("SRKIT_MODELS", str(tmp_path / "no-user-models"))
    shipped = load_model(resolve_model("general_x2"))
    result = CliRunner().invoke(app, [
        "train-sr", str(pairs), "-o", str(tmp_path / "ft.safetensors"), "-x", "2", "--init",
        "general_x2", "--iters", "1", "--batch-size", "1", "--patch-size", "32",
        "--learning-rate", "1e-12", "--set", "ema_decay=0", "--workers", "0", "--device",
        "cpu", "-q"])
    assert result.exit_code == 0, result.output
    tuned = load_model(tmp_path / "ft.safetensors")
    assert (tuned.arch, tuned.arch_args) == (shipped.arch, shipped.arch_args)
    expected, got = shipped.model.state_dict(), tuned.model.state_dict()
    assert max(float((expected[k] - got[k]).abs().max()) for k in expected) < 1e-6
    narrower = CliRunner().invoke(app, [
        "train-sr", str(pairs), "-o", str(tmp_path / "n.safetensors"), "-x", "2", "--init",
        "general_x2", "--num-feat", "8", "--iters", "1", "--workers", "0", "--device", "cpu"])
    assert narrower.exit_code == 1 and "is a compact with" in str(narrower.exception)


def test_a_state_saved_before_a_recipe_setting_existed_still_resumes(tmp_path) -> None:
    """A resume state from an srkit without ``param_weight`` (added with the blind recipe)
    counts it at its default instead of refusing the run."""
    from srkit.stages.train_sr import _FIXED_ON_RESUME, _restore
    from srkit.training.recipes import resolve_recipe
    from srkit.training.state import load_state, save_state

    recipe = resolve_recipe("psnr")
    fixed = {key: None for key in _FIXED_ON_RESUME}
    fixed["recipe"] = {k: v for k, v in recipe.to_dict().items() if k != "iters"}
    older = {**fixed, "recipe": {k: v for k, v in fixed["recipe"].items()
                                 if k != "param_weight"}}

    class Trainer:
        def load_state_dict(self, state) -> None:
            self.state = state

    path = tmp_path / "m.resume.pt"
    save_state(path, {"settings": older, "iters": recipe.iters, "world_size": 1,
                      "iteration": 3, "trainer": {}})
    assert "param_weight" not in load_state(path)["settings"]["recipe"]
    assert _restore(path, Trainer(), fixed, recipe, 1) == 3


def test_a_run_that_ends_below_bicubic_says_so(tmp_path, astronaut, chelsea, coffee,
                                               capsys) -> None:
    """Two iterations of a fresh compact net are far below bicubic: the run warns."""
    from srkit.stages.degrade import degrade

    train, held_out = _photos(tmp_path, astronaut, chelsea, coffee)
    degrade(train, tmp_path / "pairs", 2, mode="bicubic", seed=0)
    degrade(held_out, tmp_path / "val", 2, mode="bicubic", seed=1)
    result = train_sr(tmp_path / "pairs", tmp_path / "m.safetensors", 2, arch="compact",
                      arch_args={"num_feat": 8, "num_conv": 1}, iters=2, batch_size=2,
                      patch_size=32, seed=0, workers=0, device="cpu", val=tmp_path / "val",
                      val_every=2)
    assert result.val_psnr_y < result.bicubic_psnr_y
    err = capsys.readouterr().err
    assert "below bicubic upscaling on the validation pairs" in err
    assert "--init general_x2" in err  # the shipped compact model of that scale


@pytest.mark.parametrize("text, message", [
    ("learning_rate = -1e-4\n", r"learning_rate must be positive, got -0.0001"),
    ("lr_gamma = 2.0\n", r"lr_gamma must lie in \(0, 1\]"),
    ("perceptual_weight = -1.0\n", "perceptual_weight must be 0 or more"),
    ("lr_milestones = [0.5, 1.5]\n", "lr_milestones must be fractions"),
    ("adam_beta1 = 1.0\n", r"adam_beta1 must lie in \[0, 1\)"),
    ("discriminator_num_feat = 0\n", "discriminator_num_feat must be at least 1"),
])
def test_a_config_file_value_out_of_range_is_refused_before_training(tmp_path, text, message):
    """Ranges hold however a value arrives: the options' own bounds, --set (exit 2, in
    test_bad_options.py) and a TOML file (resolved here)."""
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(SrkitError, match=message):
        resolve_recipe("esrgan", read_config(config))


@pytest.mark.slow  # about 25 s: a pool from the bundled photos and 50 iterations at ×4
def test_a_short_compact_run_at_its_defaults_beats_bicubic(tmp_path) -> None:
    """What docs/cli/train-sr.md ("Short runs") suggests: `--arch compact` with every other
    option at its default, on pairs made like the camera from the bundled photos (the
    quickstart's split at ×4), ends above bicubic on the held-out photo. From scratch such a
    run stays below it (the issue: 23.25 against 23.43 dB), so a short run starts from the
    shipped model of its scale. 50 iterations keep the test short: measured 23.88 dB against
    23.56 for bicubic, where the shipped model after a single iteration scores 23.58, so the
    margin asked for is the short run's own gain (100 / 150 iterations: 23.83 / 23.81)."""
    from srkit.stages.collect_noise import collect_noise
    from srkit.stages.degrade import degrade
    from srkit.stages.estimate_kernels import estimate_kernels

    photos = Path(__file__).resolve().parents[1] / "examples" / "photos"
    names = sorted(photos.glob("*.jpg"))
    held_out = [p for p in names if p.stem == "tuxpaint_trees_above"]
    train = [p for p in names if p not in held_out]
    pool = tmp_path / "pool.h5"
    estimate_kernels([photos], pool, 4)
    collect_noise([photos], pool)
    degrade(train, tmp_path / "pairs", 4, pool=pool, clean_up=2, seed=0)
    degrade(held_out, tmp_path / "test", 4, pool=pool, clean_up=2, seed=7)
    result = CliRunner().invoke(app, [
        "train-sr", str(tmp_path / "pairs"), "-o", str(tmp_path / "m.safetensors"), "-x", "4",
        "--arch", "compact", "--iters", "50", "--val", str(tmp_path / "test"),
        "--val-every", "50", "--json", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["val_psnr_y"] > summary["bicubic_psnr_y"] + 0.15, summary
    assert read_safetensors(tmp_path / "m.safetensors")[1]["init"] == "general_x4.safetensors"


def test_trains_span_and_writes_its_official_keys(tmp_path, pairs):
    """SPAN trains like any srkit network; the file's fused eval_conv is that of the saved
    (EMA) branches, as an official SPAN file's is."""
    from srkit.io.checkpoints import load_model

    args = {**TINY, "arch": "span", "arch_args": {"feature_channels": 4}}
    result = train_sr(pairs, tmp_path / "span.safetensors", 2, **args, iters=4, seed=0)
    loaded = load_model(result.output)
    assert (loaded.arch, loaded.scale) == ("span", 2)
    assert loaded.arch_args == {"feature_channels": 4, "upscale": 2}
    saved = load_file(result.output)
    rebuilt = loaded.model.state_dict()
    assert all(torch.equal(saved[k], v) for k, v in rebuilt.items())
    assert "block_6.c3_r.eval_conv.weight" in saved and "conv_cat.weight" in saved


def test_trains_a_tiny_swinir(tmp_path, pairs):
    """SwinIR builds and trains through the registry (list arguments from the config);
    a few iterations only: a CPU cannot train a useful one."""
    from srkit.io.checkpoints import load_model

    arch_args = {"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4,
                 "img_size": 16}
    args = {**TINY, "arch": "swinir", "arch_args": arch_args}
    result = train_sr(pairs, tmp_path / "swinir.safetensors", 2, **args, iters=4, seed=0)
    loaded = load_model(result.output)
    assert (loaded.arch, loaded.scale) == ("swinir", 2)
    assert loaded.arch_args == {**arch_args, "upscale": 2}
    assert "layers.0.residual_group.blocks.1.attn_mask" in load_file(result.output)
