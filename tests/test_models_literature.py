"""SAN, SRFBN and Meta-SR: the generator contract (as tests/test_models.py) and the behaviour
that makes each the paper's network (second-order attention, feedback steps, any scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from srkit.io.checkpoints import load_model, save_model
from srkit.models import SCALE_ARGUMENT, build_model
from srkit.models.metasr import output_size, projection
from srkit.models.san import (
    RegionNonLocal,
    SecondOrderChannelAttention,
    covariance_pool,
    newton_schulz_sqrtm,
)
from srkit.ops.tiling import upscale_tiled
from srkit.training.recipes import Recipe
from srkit.training.trainer import SRTrainer

SAN_SMALL = {"num_feat": 16, "num_group": 2, "num_block": 1, "squeeze_factor": 4}
SRFBN_SMALL = {"num_feat": 8, "num_groups": 2, "num_steps": 2}
META_SMALL = {"num_feat": 8, "num_block": 2, "num_layer": 2, "num_grow_ch": 4}
CONFIGS = [
    ("san", {**SAN_SMALL, "upscale": 2}), ("san", {**SAN_SMALL, "upscale": 3}),
    ("san", {**SAN_SMALL, "upscale": 4}),
    ("srfbn", {**SRFBN_SMALL, "upscale": 2}), ("srfbn", {**SRFBN_SMALL, "upscale": 3}),
    ("srfbn", {**SRFBN_SMALL, "upscale": 4}),
    ("metasr", {**META_SMALL, "scale": 2}), ("metasr", {**META_SMALL, "scale": 4}),
]
IDS = [f"{arch}-x{args[SCALE_ARGUMENT[arch]]}" for arch, args in CONFIGS]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _awake(model: nn.Module) -> nn.Module:
    """Give zero-initialised parameters (SAN's non-local output conv and share-source weight,
    zero at start so the blocks start as identities) small random values: with them at zero
    the gradient cannot reach the layers before them, which would hide a dead branch."""
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.abs().sum():
                parameter.normal_(0.0, 0.1)
    return model


def _he_initialised(model: nn.Module) -> nn.Module:
    """Full-strength random weights: the default init hides far-reaching dependencies."""
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight)
                nn.init.normal_(layer.bias, 0.0, 0.1)
    return _awake(model.eval())


# --- the contract every generator meets ---------------------------------------------------

@pytest.mark.parametrize(("arch", "args"), CONFIGS, ids=IDS)
def test_output_is_input_times_scale_and_finite(arch: str, args: dict) -> None:
    model = build_model(arch, **args)
    scale = args[SCALE_ARGUMENT[arch]]
    assert model.scale == scale and model.size_multiple == 1
    out = model(torch.rand(2, 3, 12, 16))
    assert out.shape == (2, 3, 12 * scale, 16 * scale)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("arch", "args"), CONFIGS, ids=IDS)
def test_gradients_reach_every_parameter(arch: str, args: dict) -> None:
    model = _awake(build_model(arch, **args))
    x = torch.rand(2, 3, 8, 8)
    target = torch.rand(2, 3, 8 * model.scale, 8 * model.scale)
    (model(x) - target).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("arch", "args"), CONFIGS, ids=IDS)
def test_save_load_gives_identical_output(tmp_path: Path, arch: str, args: dict) -> None:
    model = _awake(build_model(arch, **args)).eval()
    path = save_model(tmp_path / "m.safetensors", model, arch, args, model.scale)
    loaded = load_model(path)
    assert (loaded.arch, loaded.arch_args, loaded.scale) == (arch, args, model.scale)
    x = torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))


def _tiled_and_whole(model: nn.Module, image: torch.Tensor, tile: int, overlap: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        whole = upscale_tiled(model, image, model.scale, 0, 0)
        tiled = upscale_tiled(model, image, model.scale, tile, overlap)
    return tiled, whole


@pytest.mark.parametrize(("arch", "args", "size", "tile"), [
    ("srfbn", {**SRFBN_SMALL, "upscale": 2}, 29, 5),
    ("srfbn", {**SRFBN_SMALL, "upscale": 4}, 23, 4),
    ("srfbn", {**SRFBN_SMALL, "upscale": 3}, 27, 5),
    ("metasr", {**META_SMALL, "scale": 3}, 31, 6),
], ids=["srfbn-x2", "srfbn-x4", "srfbn-x3", "metasr-x3"])
def test_tiling_is_exact_with_the_receptive_radius(arch, args, size, tile) -> None:
    model = _he_initialised(build_model(arch, **args))
    image = torch.rand(1, 3, size, size + 3, generator=torch.Generator().manual_seed(0))
    tiled, whole = _tiled_and_whole(model, image, tile, model.receptive_radius)
    torch.testing.assert_close(tiled, whole, atol=1e-5 * whole.abs().max().item(), rtol=0)
    too_little, _ = _tiled_and_whole(model, image, tile, model.receptive_radius // 3)
    assert (too_little - whole).abs().max() > 1e-3 * whole.abs().max()


def test_san_tiling_is_approximate_with_the_convolutional_radius(astronaut) -> None:
    """SAN's field is global (region non-local + covariance pooling): tiles with the whole
    convolutional radius of context still differ from an untiled run — measured here on a
    photo with the default initialisation and awake attention."""
    model = _awake(build_model("san", **SAN_SMALL, upscale=2)).eval()
    assert model.exact_tiling is False and model.receptive_radius == 1 + 2 * 3 + 1 + 1
    image = torch.from_numpy(astronaut[200:248, 200:248].transpose(2, 0, 1).copy())[None]
    tiled, whole = _tiled_and_whole(model, image, 16, model.receptive_radius)
    difference = (tiled - whole).abs()
    assert 1e-5 < difference.max() < 0.05  # not exact, yet close
    assert difference.mean() < 5e-3
    no_context, _ = _tiled_and_whole(model, image, 16, 0)
    assert (no_context - whole).abs().mean() > difference.mean()


# --- SAN ------------------------------------------------------------------------------------

def test_covariance_pool_is_the_sample_covariance() -> None:
    feat = torch.rand(2, 5, 6, 7, dtype=torch.float64)
    expected = np.cov(feat[1].flatten(1).numpy(), bias=True)
    np.testing.assert_allclose(covariance_pool(feat)[1].numpy(), expected, rtol=1e-12)


def test_newton_schulz_square_root_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    factor = rng.standard_normal((12, 40))
    spd = factor @ factor.T / 40 + 0.05 * np.eye(12)  # condition number ~100
    matrix = torch.from_numpy(spd)[None]
    root = newton_schulz_sqrtm(matrix, num_iterations=30)[0].numpy()
    np.testing.assert_allclose(root, scipy.linalg.sqrtm(spd).real, atol=1e-8)
    np.testing.assert_allclose(root @ root, spd, atol=1e-8)
    # SAN's 5 iterations: an approximation, already within a few % of the true root.
    five = newton_schulz_sqrtm(matrix, num_iterations=5)[0].numpy()
    relative = np.abs(five - scipy.linalg.sqrtm(spd).real).max() / np.abs(root).max()
    assert 1e-6 < relative < 0.2


def test_soca_weights_depend_on_second_order_statistics() -> None:
    soca = SecondOrderChannelAttention(num_feat=8, squeeze_factor=1)
    with torch.no_grad():  # keep the hidden ReLUs alive, else the weights are sigmoid(bias)
        soca.conv_du[0].bias.fill_(1.0)
    base = torch.rand(1, 8, 10, 10)
    weights = soca.attention(base)
    assert weights.shape == (1, 8, 1, 1)
    assert ((weights > 0) & (weights < 1)).all()
    means = base.mean(dim=(2, 3), keepdim=True)
    # Same channel means, other covariance (the deviations mixed across channels): new weights.
    mixing = torch.linalg.qr(torch.randn(8, 8))[0] * 1.5
    mixed = means + torch.einsum("dc,bchw->bdhw", mixing, base - means)
    torch.testing.assert_close(mixed.mean(dim=(2, 3), keepdim=True), means)
    assert (soca.attention(mixed) - weights).abs().max() > 1e-3
    # Other channel means, same covariance: the same weights (only second order counts).
    shifted = base + torch.linspace(-1, 1, 8).view(1, 8, 1, 1)
    torch.testing.assert_close(soca.attention(shifted), weights, atol=1e-5, rtol=0)


def test_region_non_local_attends_within_each_region_only() -> None:
    block = _awake(RegionNonLocal(num_feat=4, inter_feat=2, regions=2)).eval()
    x = torch.rand(1, 4, 10, 12)
    changed = x.clone()
    changed[..., 0, 0] += 5.0  # top-left region
    with torch.no_grad():
        delta = (block(changed) - block(x)).abs().sum(1)[0]
    assert delta[4, 5] > 1e-4          # far away in the same region: non-local
    assert delta[:, 6:].max() == 0 and delta[5:, :].max() == 0  # other regions untouched


# --- SRFBN ----------------------------------------------------------------------------------

def test_srfbn_steps_share_weights_and_refine() -> None:
    one = build_model("srfbn", num_feat=8, num_groups=3, num_steps=1, upscale=2)
    four = build_model("srfbn", num_feat=8, num_groups=3, num_steps=4, upscale=2)
    assert sum(p.numel() for p in one.parameters()) == sum(p.numel() for p in four.parameters())
    four.load_state_dict(one.state_dict())
    x = torch.rand(1, 3, 9, 10)
    with torch.no_grad():
        steps = four(x, all_steps=True)
        assert len(steps) == 4 and torch.equal(four(x), steps[-1])
        torch.testing.assert_close(steps[0], one(x))  # step 1 is the T = 1 network
        assert (steps[3] - steps[0]).abs().max() > 1e-4  # later steps see the feedback


def test_srfbn_training_averages_the_pixel_loss_over_every_step() -> None:
    model = build_model("srfbn", num_feat=8, num_groups=2, num_steps=3, upscale=2)
    recipe = Recipe(name="psnr", iters=10, ema_decay=0.0)
    trainer = SRTrainer(model, recipe, torch.device("cpu"))
    lq, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        per_step = [(out - gt).abs().mean() for out in model(lq, all_steps=True)]
    logs = trainer.step((lq, gt))
    torch.testing.assert_close(logs["pixel"], torch.stack(per_step).mean())
    assert abs(logs["pixel"] - per_step[-1]) > 1e-6  # not just the last step


# --- Meta-SR --------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1.0, 1.1, 1.5, 2.3, 2.7, 3.14, 4.0])
def test_meta_sr_output_is_input_times_any_scale_rounded(scale: float) -> None:
    model = build_model("metasr", **META_SMALL)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 10, 13), scale)
    assert out.shape == (1, 3, int(np.floor(10 * scale + 0.5)), int(np.floor(13 * scale + 0.5)))
    assert torch.isfinite(out).all() and output_size(10, 2.3) == 23
    assert output_size(10, 2.35) == 24 and output_size(13, 1.5) == 20  # halves go up


def test_meta_sr_projection_puts_pixel_edges_on_their_pixel() -> None:
    """Output row i = u·r (81 at ×2.7) starts exactly at LR pixel u: it projects there with
    offset 0, even where i / r rounds below u in floating point; no row leaves the input."""
    assert 81 / 2.7 < 30  # the float rounding the projection has to absorb
    rows, offsets = projection(40, 2.7)
    assert rows[81] == 30 and offsets[81] < 1e-12 and rows[80] == 29
    assert int(rows.max()) == 39 and float(offsets.max()) < 1
    window_rows, window_offsets = projection(8, 2.7, 78, 91, origin=28)
    assert window_rows.tolist() == (rows[78:91] - 28).tolist()
    assert torch.equal(window_offsets, offsets[78:91])


def test_meta_sr_feature_mapping_is_the_predicted_filter_at_the_projected_pixel() -> None:
    model = build_model("metasr", **META_SMALL)
    x, scale = torch.rand(1, 3, 7, 9), 2.7
    with torch.no_grad():
        feat = model.features(x)
        out = model(x, scale) - model.rgb_mean
        padded = nn.functional.pad(feat, (1, 1, 1, 1))
        rows, row_offsets = projection(7, scale)
        cols, col_offsets = projection(9, scale)
        for i, j in [(0, 0), (5, 11), (17, 23), (10, 2)]:
            patch = padded[0, :, rows[i]:rows[i] + 3, cols[j]:cols[j] + 3].reshape(-1)
            offsets = torch.tensor([[row_offsets[i], col_offsets[j]]], dtype=torch.float32)
            filters = model.upsample.predict_weights(offsets, scale)[0]
            torch.testing.assert_close(out[0, :, i, j], patch @ filters, rtol=1e-4, atol=1e-5)
    assert rows[17] == 6 and abs(row_offsets[17] - (17 / 2.7 - 6)) < 1e-12


def test_meta_sr_weights_change_smoothly_with_the_scale() -> None:
    upsample = build_model("metasr", **META_SMALL).upsample
    offsets = torch.tensor([[0.25, 0.6], [0.0, 0.0], [0.9, 0.1]])
    with torch.no_grad():
        at = {r: upsample.predict_weights(offsets, r) for r in (2.0, 2.01, 3.0)}
    step = (at[2.01] - at[2.0]).abs().max()
    assert 0 < step < 0.05 * (at[3.0] - at[2.0]).abs().max()


def test_meta_sr_default_scale_is_its_integer_scale() -> None:
    model = build_model("metasr", **META_SMALL, scale=3)
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        assert torch.equal(model(x), model(x, 3.0))
        assert model(x, 1.5).shape[-2:] == (9, 8)
