"""DASR: the down-sampling network, domain-distance maps, DSN training and the SR objective."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from srkit.cli import app
from srkit.degradations.domain_distance import domain_distance_map, receptive_fields
from srkit.degradations.dsn import degrade_with_dsn, dsn_degrade
from srkit.errors import SrkitError
from srkit.io.dsn_checkpoints import dsn_metadata, load_dsn, save_dsn
from srkit.models.dsn import DownSamplingNetwork, FrequencyDiscriminator, build_discriminator
from srkit.training.dasr import (
    DasrObjective,
    DsnTrainer,
    DsnWeights,
    dsn_lr_factor,
    upsample_distance,
    weighted_l1,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _small_dsn(scale: int = 2) -> DownSamplingNetwork:
    torch.manual_seed(0)
    return DownSamplingNetwork(scale=scale, num_feat=8, num_block=2)


# --- the network --------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1, 2, 4])
def test_dsn_shape_range_and_gradients(scale: int) -> None:
    torch.manual_seed(0)
    net = DownSamplingNetwork(scale=scale, num_feat=16, num_block=2)
    x = torch.rand(2, 3, 16, 24)
    out = net(x)
    assert out.shape == (2, 3, 16 // scale, 24 // scale)
    assert out.min() > 0 and out.max() < 1
    (out - torch.rand_like(out)).square().mean().backward()
    missing = [name for name, p in net.named_parameters()
               if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


def test_dsn_layout_follows_the_reference() -> None:
    net = DownSamplingNetwork(scale=4)
    keys = set(net.state_dict())
    assert {"block_input.0.weight", "block_input.1.weight", "res_blocks.7.conv1.weight",
            "res_blocks.7.prelu.weight", "res_blocks.7.conv2.bias", "down_sample.0.weight",
            "down_sample.2.weight", "block_output.weight"} <= keys
    assert "res_blocks.8.conv1.weight" not in keys and "down_sample.4.weight" not in keys
    assert net.down_sample[0].stride == (2, 2)
    with pytest.raises(ValueError, match="multiple"):
        net(torch.rand(1, 3, 18, 16))
    with pytest.raises(ValueError, match="scale"):
        DownSamplingNetwork(scale=3)


def test_frequency_discriminator_scores_every_position() -> None:
    d = FrequencyDiscriminator(in_channels=9)
    assert d(torch.rand(2, 9, 7, 5)).shape == (2, 1, 7, 5)
    assert build_discriminator("fsd", 3)(torch.rand(1, 3, 6, 6)).shape == (1, 1, 6, 6)
    with pytest.raises(SrkitError, match="unknown discriminator"):
        build_discriminator("vgg", 3)


# --- domain-distance maps -----------------------------------------------------------------

class _OneConv(nn.Module):
    def __init__(self, in_channels: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(in_channels, 1, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _hand_spread(scores: np.ndarray, field: int, stride: int, shape: tuple[int, int]
                 ) -> np.ndarray:
    """Average of the scores whose field (top-left at stride*i, size field) holds each pixel."""
    total, count = np.zeros(shape), np.zeros(shape)
    for i in range(scores.shape[0]):
        for j in range(scores.shape[1]):
            total[stride * i:stride * i + field, stride * j:stride * j + field] += scores[i, j]
            count[stride * i:stride * i + field, stride * j:stride * j + field] += 1
    return total / count


def test_distance_map_is_the_spread_of_overlapping_scores() -> None:
    d = _OneConv(3, kernel_size=3, stride=1, padding=0)
    lr = torch.rand(3, 5, 6)
    dist = domain_distance_map(d, lr, freq="rgb")
    with torch.no_grad():
        scores = torch.sigmoid(d(0.0 + lr[None]))[0, 0].double().numpy()
    assert scores.shape == (3, 4) and dist.shape == (5, 6) and dist.dtype == np.float32
    np.testing.assert_allclose(dist, _hand_spread(scores, 3, 1, (5, 6)), atol=1e-6)
    assert dist[0, 0] == pytest.approx(scores[0, 0], abs=1e-6)  # only one field holds a corner


def test_distance_map_through_the_wavelet_covers_2x2_blocks() -> None:
    d = _OneConv(9, kernel_size=1, stride=1, padding=0)
    lr = torch.rand(1, 3, 6, 8)
    dist = domain_distance_map(d, lr, freq="wavelet")
    from srkit.ops.wavelets import high_frequency

    with torch.no_grad():
        scores = torch.sigmoid(d(high_frequency(lr, "wavelet", shifted=True)))[0, 0].numpy()
    np.testing.assert_allclose(dist, np.kron(scores, np.ones((2, 2))), atol=1e-6)


def test_receptive_fields_of_a_padded_chain() -> None:
    # two 3x3 stride-1 convs with padding 1: output i sees pixels i-2 .. i+2
    lo, hi = receptive_fields(6, [(3, 1, 1, 1), (3, 1, 1, 1)])
    assert lo.tolist() == [0, 0, 0, 1, 2, 3] and hi.tolist() == [3, 4, 5, 6, 6, 6]
    # PatchGAN first layer, 4x4 stride 2 padding 1: output i sees 2i-1 .. 2i+2
    lo, hi = receptive_fields(8, [(4, 2, 1, 1)])
    assert lo.tolist() == [0, 1, 3, 5] and hi.tolist() == [3, 5, 7, 8]


@pytest.mark.parametrize("freq", ["wavelet", "gaussian", "rgb"])
def test_distance_map_has_lr_size_for_the_dsn_discriminators(freq: str) -> None:
    from srkit.ops.wavelets import high_channels

    torch.manual_seed(0)
    for d in (FrequencyDiscriminator(high_channels(freq), num_feat=8),
              build_discriminator("patch", high_channels(freq), num_feat=8)):
        dist = domain_distance_map(d, np.random.default_rng(0).random((41, 38, 3)), freq)
        assert dist.shape == (41, 38)
        assert np.all((dist >= 0) & (dist <= 1)) and np.isfinite(dist).all()


def test_dsn_degrade_crops_to_the_scale_and_tiles_exactly(rng) -> None:
    net = _small_dsn(2)
    hr = rng.random((37, 50, 3)).astype(np.float32)
    whole = dsn_degrade(hr, net)
    assert whole.shape == (18, 25, 3) and whole.dtype == np.float32
    np.testing.assert_allclose(dsn_degrade(hr, net, tile=7), whole, atol=1e-5)
    out = degrade_with_dsn(hr, net, FrequencyDiscriminator(9, num_feat=8), "wavelet")
    assert out.dist.shape == (18, 25)


def test_dsn_file_round_trip(tmp_path: Path) -> None:
    net = _small_dsn(4)
    disc = build_discriminator("fsd", 3, num_feat=8)
    meta = dsn_metadata(net, {"scale": 4, "num_feat": 8, "num_block": 2}, "fsd",
                        {"in_channels": 3, "num_feat": 8}, "gaussian", {"note": "x"})
    save_dsn(tmp_path / "dsn.safetensors", net, disc, meta)
    loaded = load_dsn(tmp_path / "dsn.safetensors")
    assert loaded.scale == 4 and loaded.freq == "gaussian" and loaded.metadata["note"] == "x"
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(loaded.generator(x), net.eval()(x))
    y = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(loaded.discriminator(y), disc.eval()(y))
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(SrkitError, match="not a DSN file"):
        load_dsn(tmp_path / "other.safetensors")
    with pytest.raises(SrkitError, match="no such DSN file"):
        load_dsn(tmp_path / "missing.safetensors")


# --- training steps -----------------------------------------------------------------------

def test_dsn_learning_rate_schedule() -> None:
    assert dsn_lr_factor(0, 400) == 1.0 and dsn_lr_factor(249, 400) == 1.0
    assert dsn_lr_factor(250, 400) == 1.0
    assert dsn_lr_factor(325, 400) == pytest.approx(0.5)
    assert dsn_lr_factor(399, 400) == pytest.approx(1 / 150)


def test_dsn_trainer_step_updates_both_networks() -> None:
    net = _small_dsn(2)
    disc = FrequencyDiscriminator(9, num_feat=8)
    trainer = DsnTrainer(net, disc, freq="wavelet", iters=10, weights=DsnWeights())
    g_before = [p.detach().clone() for p in net.parameters()]
    d_before = [p.detach().clone() for p in disc.parameters()]
    logs = trainer.step((torch.rand(2, 3, 16, 16), torch.rand(3, 3, 8, 8)))
    assert {"total", "content", "adversarial", "discriminator", "d_real", "d_fake"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    assert logs["total"] == pytest.approx(logs["content"] + logs["adversarial"], rel=1e-5)
    assert all(not torch.equal(a, b) for a, b in zip(g_before, net.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, disc.parameters(), strict=True))
    # the content target is the clipped MATLAB bicubic
    hr = torch.rand(1, 3, 16, 16)
    from srkit.ops.resize import imresize

    expected = np.clip(imresize(hr[0].permute(1, 2, 0).numpy(), 0.5), 0, 1)
    np.testing.assert_allclose(trainer.bicubic_target(hr)[0].permute(1, 2, 0).numpy(),
                               expected, atol=1e-5)


def test_weighted_l1_and_upsampled_distance() -> None:
    pred, target = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    weights = torch.zeros(1, 1, 4, 4)
    weights[..., :2, :] = 1.0
    assert weighted_l1(pred, target, weights).item() == pytest.approx(0.5)
    up = upsample_distance(torch.full((2, 3, 5), 0.25), (12, 20))
    assert up.shape == (2, 1, 12, 20) and torch.allclose(up, torch.tensor(0.25))


def test_dasr_objective_weights_pixels_and_trains_its_discriminator() -> None:
    torch.manual_seed(0)
    sr_net = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(3, 3, 3, padding=1))
    objective = DasrObjective("wavelet", gan_weight=0.01)
    lr_gen, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
    dist = torch.zeros(2, 16, 16)
    dist[:, :, :8] = 1.0  # left half looks real, right half does not
    lr_real, hr_unpaired = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
    sr_gen, sr_real = sr_net(lr_gen), sr_net(lr_real)
    total, logs = objective.generator_loss(sr_gen, hr, dist, sr_real, hr_unpaired)
    assert set(logs) == {"pixel", "low", "gan"}
    weight_map = upsample_distance(dist, (32, 32))
    expected_pixel = (weight_map * (sr_gen - hr).abs()).mean().item()
    assert logs["pixel"] == pytest.approx(expected_pixel, rel=1e-5)
    assert total.item() == pytest.approx(logs["pixel"] + logs["low"] + logs["gan"], rel=1e-5)
    total.backward()
    assert all(p.grad is None for p in objective.discriminator.parameters())
    d_before = [p.detach().clone() for p in objective.discriminator.parameters()]
    d_logs = objective.discriminator_step(sr_real, hr_unpaired)
    assert {"discriminator", "d_real", "d_fake"} == set(d_logs)
    changed = [not torch.equal(a, b) for a, b in
               zip(d_before, objective.discriminator.parameters(), strict=True)]
    assert any(changed)
    state = objective.state_dict()
    other = DasrObjective("wavelet")
    other.load_state_dict(state)
    for a, b in zip(other.discriminator.parameters(), objective.discriminator.parameters(),
                    strict=True):
        assert torch.equal(a, b)


def test_pixel_gradient_vanishes_where_the_map_is_zero() -> None:
    objective = DasrObjective("gaussian", low_weight=0.0, gan_weight=0.0)
    sr = torch.rand(1, 3, 8, 8, requires_grad=True)
    dist = torch.zeros(1, 1, 4, 4)
    dist[..., :, :2] = 1.0
    total, logs = objective.generator_loss(sr, torch.rand(1, 3, 8, 8), dist,
                                           torch.rand(0, 3, 8, 8))
    total.backward()
    assert set(logs) == {"pixel", "low"}
    assert torch.all(sr.grad[..., :, 5:] == 0) and torch.all(sr.grad[..., :, :3] != 0)


# --- train-dsn ----------------------------------------------------------------------------

@pytest.fixture
def dsn_data(tmp_path: Path, astronaut, coffee) -> tuple[Path, Path]:
    from srkit.io.images import write_image
    from srkit.ops.resize import imresize

    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "real"
    write_image(hr_dir / "a.png", astronaut[:96, :96])
    write_image(hr_dir / "b.png", coffee[:64, :80])
    write_image(lr_dir / "c.png", imresize(astronaut[200:328, 200:328], 0.5))
    return hr_dir, lr_dir


def test_train_dsn_writes_a_loadable_file_and_resumes(tmp_path: Path, dsn_data) -> None:
    from srkit.stages.train_dsn import train_dsn

    hr_dir, lr_dir = dsn_data
    output = tmp_path / "run" / "dsn.safetensors"
    kwargs = dict(scale=2, batch_size=2, patch_size=16, num_feat=8, num_block=1,
                  sample_every=2, save_every=2, log_every=1, device="cpu", quiet=True)
    result = train_dsn(hr_dir, lr_dir, output, iters=3, **kwargs)
    assert result.iterations == 3 and len(result.history) == 3
    loaded = load_dsn(output)
    assert loaded.scale == 2 and loaded.freq == "wavelet"
    assert loaded.metadata["srkit_iterations"] == "3"
    assert sorted(p.name for p in result.samples.iterdir()) == ["iter_0000002.png",
                                                                 "iter_0000003.png"]
    assert (tmp_path / "run" / "dsn.resume.pt").exists()
    with pytest.raises(SrkitError, match="already exists"):
        train_dsn(hr_dir, lr_dir, output, iters=3, **kwargs)
    resumed = train_dsn(hr_dir, lr_dir, output, iters=5, resume=True, **kwargs)
    assert [row["iteration"] for row in resumed.history] == [4, 5]
    assert load_dsn(output).metadata["srkit_iterations"] == "5"
    rows = (tmp_path / "run" / "dsn.train.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    with pytest.raises(SrkitError, match="different settings"):
        train_dsn(hr_dir, lr_dir, output, iters=6, resume=True, **{**kwargs, "patch_size": 32})


def test_resumed_run_matches_an_uninterrupted_one(tmp_path: Path, dsn_data) -> None:
    from srkit.stages.train_dsn import train_dsn

    hr_dir, lr_dir = dsn_data
    kwargs = dict(scale=2, batch_size=2, patch_size=16, num_feat=8, num_block=1,
                  sample_every=0, save_every=2, log_every=1, device="cpu", quiet=True)
    straight = train_dsn(hr_dir, lr_dir, tmp_path / "a.safetensors", iters=4, **kwargs)
    train_dsn(hr_dir, lr_dir, tmp_path / "b.safetensors", iters=2, **kwargs)
    resumed = train_dsn(hr_dir, lr_dir, tmp_path / "b.safetensors", iters=4, resume=True,
                        **kwargs)
    assert resumed.history[-1]["loss_total"] == pytest.approx(
        straight.history[-1]["loss_total"], rel=1e-5)


def test_ctrl_c_stops_train_dsn_whole_and_resuming_continues_bit_for_bit(
        tmp_path: Path, dsn_data, monkeypatch, capsys) -> None:
    """Ctrl-C during iteration 3 of 5: the run saves at 3 (DSN file, state with the random
    states) and says how to go on; resumed from another random state, it ends with the
    weights, log and random states of a run that was never stopped."""
    import random

    from safetensors.torch import load_file

    from srkit.stages.train_dsn import train_dsn
    from srkit.training.state import load_state

    hr_dir, lr_dir = dsn_data
    kwargs = dict(scale=2, iters=5, batch_size=2, patch_size=16, num_feat=8, num_block=1,
                  sample_every=0, save_every=10, log_every=1, device="cpu", quiet=True)

    def seed_globals(seed: int) -> None:  # what the CLI's --seed does
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    seed_globals(4)
    train_dsn(hr_dir, lr_dir, tmp_path / "straight.safetensors", **kwargs)
    step = DsnTrainer.step

    def step_then_ctrl_c(trainer, batch):
        logs = step(trainer, batch)
        if trainer.g_scheduler.last_epoch == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return logs

    monkeypatch.setattr(DsnTrainer, "step", step_then_ctrl_c)
    seed_globals(4)
    stopped = tmp_path / "stopped.safetensors"
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            train_dsn(hr_dir, lr_dir, stopped, **kwargs)
    finally:
        signal.signal(signal.SIGINT, inherited)
    message = " ".join(capsys.readouterr().err.split())
    assert "stopped at iteration 3" in message and "continue with --resume" in message
    assert load_state(tmp_path / "stopped.resume.pt")["iteration"] == 3
    assert load_dsn(stopped).metadata["srkit_iterations"] == "3"
    monkeypatch.setattr(DsnTrainer, "step", step)
    seed_globals(5)  # a new process
    train_dsn(hr_dir, lr_dir, stopped, resume=True, **kwargs)

    expected, got = load_file(tmp_path / "straight.safetensors"), load_file(stopped)
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k])
                                                 for k in expected)
    rng_a = load_state(tmp_path / "straight.resume.pt")["rng"]
    rng_b = load_state(tmp_path / "stopped.resume.pt")["rng"]
    assert torch.equal(rng_a["torch"], rng_b["torch"])
    assert torch.equal(rng_a["numpy"]["keys"], rng_b["numpy"]["keys"])
    assert torch.equal(rng_a["python"]["state"], rng_b["python"]["state"])
    logs = [(tmp_path / f"{name}.train.csv").read_text().splitlines()
            for name in ("straight", "stopped")]
    assert [row.split(",")[:-1] for row in logs[0]] == [row.split(",")[:-1] for row in logs[1]]


def test_train_dsn_rejects_bad_inputs(tmp_path: Path, dsn_data) -> None:
    from srkit.stages.train_dsn import train_dsn

    hr_dir, lr_dir = dsn_data
    with pytest.raises(SrkitError, match="no HR image of at least"):
        train_dsn(hr_dir, lr_dir, tmp_path / "d.safetensors", 2, patch_size=512, quiet=True)
    with pytest.raises(SrkitError, match="safetensors"):
        train_dsn(hr_dir, lr_dir, tmp_path / "d.pt", 2, quiet=True)
    with pytest.raises(SrkitError, match="scale must be 2 or 4"):
        train_dsn(hr_dir, lr_dir, tmp_path / "d.safetensors", 3, quiet=True)
    with pytest.raises(SrkitError, match="--freq"):
        train_dsn(hr_dir, lr_dir, tmp_path / "d.safetensors", 2, freq="dct", quiet=True)


def test_train_dsn_cli(tmp_path: Path, dsn_data) -> None:
    hr_dir, lr_dir = dsn_data
    output = tmp_path / "cli.safetensors"
    result = CliRunner().invoke(app, [
        "train-dsn", str(hr_dir), str(lr_dir), "-o", str(output), "-x", "2", "--iters", "2",
        "--batch-size", "1", "--patch-size", "16", "--num-feat", "8", "--num-block", "1",
        "--freq", "gaussian", "--sample-every", "0", "--discriminator-feat", "8", "--device",
        "cpu", "--json", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["iterations"] == 2 and report["samples"] is None
    loaded = load_dsn(output)
    assert loaded.freq == "gaussian" and loaded.generator.block_input[0].out_channels == 8
    assert loaded.discriminator.net.net[0].out_channels == 8
    out = subprocess.run([sys.executable, "-m", "srkit", "train-dsn", str(tmp_path / "nope"),
                          str(lr_dir), "-o", str(tmp_path / "x.safetensors"), "-x", "2"],
                         capture_output=True, text=True)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1 and "nope" in lines[0]


# --- a DSN learns a camera's noise (the full experiment: benchmarks/dasr_camera.py) -------

def _camera_lr(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A tiny synthetic camera: anisotropic Gaussian blur, ×2, colour noise σ = 8/255, JPEG 90
    (benchmarks/dasr_camera.py's camera)."""
    from srkit.ops.jpeg import jpeg_compress
    from srkit.ops.kernels import blur_downsample, gaussian_kernel

    lr = blur_downsample(photo, gaussian_kernel(13, 1.6, 0.9, 0.5), 2)
    lr = np.clip(lr + rng.normal(0, 8 / 255, lr.shape).astype(np.float32), 0, 1)
    return jpeg_compress(lr, 90)


def _8bit(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0, 1) * 255) / 255


@pytest.mark.slow  # 400 steps of a tiny DSN: about 15 s on 2 CPU cores
def test_a_small_dsn_moves_the_noise_towards_the_camera(tmp_path: Path, astronaut, chelsea,
                                                        coffee) -> None:
    """The camera's LR of the left halves of three half-size photos is the real LR; a small DSN
    learns from the clean right halves (Gaussian separation, adversarial ×10 to learn in a few
    hundred steps). Its LR of those halves must have a noise σ (pool compare's estimator)
    closer to the camera's LR of them than bicubic downscaling has. A young DSN is smoother
    than bicubic (docs/dasr.md); so is one trained without its adversarial term, and the
    check then fails."""
    from srkit.io.images import write_image
    from srkit.ops.resize import imresize
    from srkit.stages.pool_compare import degradation_stats
    from srkit.stages.train_dsn import train_dsn

    rng = np.random.default_rng(0)
    right_halves = []
    for name, photo in (("astronaut", astronaut), ("chelsea", chelsea), ("coffee", coffee)):
        photo = np.clip(imresize(photo, 0.5), 0, 1)
        half = photo.shape[1] // 2 // 2 * 2
        write_image(tmp_path / "real" / f"{name}.png", _camera_lr(photo[:, :half], rng))
        right = photo[:photo.shape[0] // 2 * 2, half:half + (photo.shape[1] - half) // 2 * 2]
        write_image(tmp_path / "hr" / f"{name}.png", right)
        right_halves.append(right)
    output = tmp_path / "dsn.safetensors"
    train_dsn(tmp_path / "hr", tmp_path / "real", output, 2, iters=400, batch_size=8,
              patch_size=32, learning_rate=1e-3, freq="gaussian",
              weights=DsnWeights(content=1.0, adversarial=10.0), num_feat=16, num_block=2,
              discriminator_feat=16, sample_every=0, save_every=400, log_every=100,
              device="cpu", quiet=True)
    generator = load_dsn(output).generator
    camera_rng = np.random.default_rng(99)
    sets = {"camera": [_camera_lr(hr, camera_rng) for hr in right_halves],
            "dsn": [_8bit(dsn_degrade(hr, generator)) for hr in right_halves],
            "bicubic": [_8bit(imresize(hr, 0.5)) for hr in right_halves]}
    sigma = {name: degradation_stats(images).noise_overall for name, images in sets.items()}
    assert sigma["bicubic"] < sigma["camera"] - 2, sigma  # the camera is noisy
    assert abs(sigma["dsn"] - sigma["camera"]) < abs(sigma["bicubic"] - sigma["camera"]), sigma
