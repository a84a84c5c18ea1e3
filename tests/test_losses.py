"""Pixel, perceptual and GAN losses: known values, weights, reductions, VGG19 loading."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from srkit.errors import SrkitError
from srkit.losses import GANLoss, PerceptualLoss, PixelLoss, relativistic_average_losses
from srkit.models.vgg import VGG19_LAYERS, VGG19FeatureExtractor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_pixel_losses_known_values() -> None:
    pred = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
    target = torch.tensor([0.0, 0.0, 0.0]).view(1, 1, 1, 3)
    assert PixelLoss("l1")(pred, target).item() == pytest.approx(0.5)
    assert PixelLoss("l2")(pred, target).item() == pytest.approx((0.25 + 1) / 3)
    expected = (1e-3 + math.sqrt(0.25 + 1e-6) + math.sqrt(1 + 1e-6)) / 3
    assert PixelLoss("charbonnier")(pred, target).item() == pytest.approx(expected, rel=1e-6)
    assert PixelLoss("l1", weight=0.01)(pred, target).item() == pytest.approx(0.005)
    assert PixelLoss("l1", reduction="sum")(pred, target).item() == pytest.approx(1.5)
    assert PixelLoss("l1", reduction="none")(pred, target).shape == pred.shape


def test_pixel_loss_weight_map_is_dasr_weighted_mean() -> None:
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    weight_map = torch.rand(2, 1, 4, 5)
    loss = PixelLoss("l1")(pred, target, weight_map)
    assert loss.item() == pytest.approx((weight_map * (pred - target).abs()).mean().item())
    assert PixelLoss("l1")(pred, target, torch.zeros(2, 1, 4, 5)).item() == 0.0
    ones = PixelLoss("l2")(pred, target, torch.ones(2, 1, 4, 5))
    assert ones.item() == pytest.approx(F.mse_loss(pred, target).item())
    with pytest.raises(ValueError):
        PixelLoss()(pred, target, torch.ones(2, 2, 4, 5))
    with pytest.raises(SrkitError):
        PixelLoss("l3")


def test_gan_losses_known_values() -> None:
    zeros, halves = torch.zeros(4), torch.full((4,), 0.5)
    log2 = math.log(2)
    assert GANLoss("vanilla")(zeros, True).item() == pytest.approx(log2)
    assert GANLoss("vanilla")(zeros, False, is_discriminator=True).item() == pytest.approx(log2)
    assert GANLoss("vanilla")(torch.full((3,), 2.0), True).item() == \
        pytest.approx(math.log1p(math.exp(-2)))
    assert GANLoss("lsgan")(halves, True).item() == pytest.approx(0.25)
    assert GANLoss("lsgan")(torch.ones(4), False, True).item() == pytest.approx(1.0)
    assert GANLoss("hinge")(halves, True, is_discriminator=True).item() == pytest.approx(0.5)
    assert GANLoss("hinge")(halves, False, is_discriminator=True).item() == pytest.approx(1.5)
    assert GANLoss("hinge")(halves, True).item() == pytest.approx(-0.5)
    with pytest.raises(ValueError):
        GANLoss("hinge")(halves, False)


def test_gan_weight_scales_the_generator_loss_only() -> None:
    logits = torch.full((4,), 0.3)
    plain, weighted = GANLoss("vanilla"), GANLoss("vanilla", weight=0.005)
    assert weighted(logits, True).item() == pytest.approx(0.005 * plain(logits, True).item())
    assert weighted(logits, True, True).item() == pytest.approx(plain(logits, True, True).item())


def test_relativistic_average_gan_known_values() -> None:
    """ESRGAN eq. 1-2 with BCE: D_Ra(x_r, x_f) = C(x_r) - E[C(x_f)]."""
    same = torch.ones(5)
    g_loss, d_loss = relativistic_average_losses(same, same)
    assert g_loss.item() == pytest.approx(math.log(2)) and d_loss.item() == pytest.approx(
        math.log(2))
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([0.0, 0.0])  # real mean 2, fake mean 0
    g_loss, d_loss = relativistic_average_losses(real, fake)

    def softplus(v: float) -> float:
        return math.log1p(math.exp(v))

    # D: BCE(real - 0, 1) + BCE(fake - 2, 0), halved; G: labels swapped.
    d_expected = ((softplus(-3) + softplus(-1)) / 2 + softplus(-2)) / 2
    g_expected = ((softplus(3) + softplus(1)) / 2 + softplus(2)) / 2
    assert d_loss.item() == pytest.approx(d_expected)
    assert g_loss.item() == pytest.approx(g_expected)
    weighted_g, same_d = GANLoss("vanilla", weight=0.005).relativistic(real, fake)
    assert weighted_g.item() == pytest.approx(0.005 * g_expected)
    assert same_d.item() == pytest.approx(d_expected)


def test_relativistic_generator_loss_trains_the_generator() -> None:
    """Raising fake logits above real ones lowers the generator's loss."""
    real = torch.zeros(8)
    fake = torch.zeros(8, requires_grad=True)
    g_loss, _ = relativistic_average_losses(real, fake)
    g_loss.backward()
    assert (fake.grad < 0).all()


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VGG19 file in torchvision's key format with random (He-initialised) weights."""
    generator = torch.Generator().manual_seed(0)
    model = VGG19FeatureExtractor(["relu5_4"])
    state = {}
    for key, value in model.features.state_dict().items():
        if key.endswith("weight"):
            fan_in = value[0].numel()
            value = torch.randn(value.shape, generator=generator) * math.sqrt(2 / fan_in)
        else:
            value = torch.randn(value.shape, generator=generator) * 0.01
        state[f"features.{key}"] = value
    state["classifier.6.bias"] = torch.zeros(1000)  # extra keys of the real file are ignored
    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    return path


def test_vgg_layer_numbering_matches_torchvision() -> None:
    assert VGG19_LAYERS[0] == "conv1_1" and VGG19_LAYERS[4] == "pool1"
    assert VGG19_LAYERS[34] == "conv5_4" and VGG19_LAYERS[35] == "relu5_4"
    # only the layers up to the deepest one asked for are built
    assert len(VGG19FeatureExtractor(["conv5_4"]).features) == 35
    assert len(VGG19FeatureExtractor(["relu2_2", "conv1_1"]).features) == 9


def test_vgg_features_are_the_torchvision_convolutions(vgg_file: Path) -> None:
    extractor = VGG19FeatureExtractor(["conv1_1", "relu1_2"])
    extractor.load_torchvision_weights(vgg_file)
    state = torch.load(vgg_file, weights_only=True)
    x = torch.rand(1, 3, 8, 8)
    normed = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    conv1 = F.conv2d(normed, state["features.0.weight"], state["features.0.bias"], padding=1)
    relu2 = F.relu(F.conv2d(F.relu(conv1), state["features.2.weight"],
                            state["features.2.bias"], padding=1))
    feats = extractor(x)
    torch.testing.assert_close(feats["conv1_1"], conv1)
    torch.testing.assert_close(feats["relu1_2"], relu2)
    assert (feats["conv1_1"] < 0).any()  # taken before the ReLU


def test_perceptual_loss_zero_for_identical_and_positive_otherwise(vgg_file: Path) -> None:
    torch.manual_seed(0)
    loss = PerceptualLoss(vgg_file)
    target = torch.rand(1, 3, 32, 32)
    pred = (target + 0.1 * torch.randn_like(target)).clamp(0, 1).requires_grad_()
    assert loss(target.clone(), target).item() == 0.0
    value = loss(pred, target)
    assert value.item() > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())  # VGG stays frozen
    loss.train()
    assert not loss.vgg.training
    half = PerceptualLoss(vgg_file, layer_weights={"conv5_4": 1.0}, weight=0.5)
    assert half(pred, target).item() == pytest.approx(0.5 * value.item(), rel=1e-5)


def test_perceptual_loss_after_activation_uses_relu_outputs(vgg_file: Path) -> None:
    torch.manual_seed(1)
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    before = PerceptualLoss(vgg_file, {"conv2_2": 1.0}, before_activation=True)
    after = PerceptualLoss(vgg_file, {"conv2_2": 1.0}, before_activation=False)
    assert after.layer_map == {"conv2_2": "relu2_2"}
    expected = F.l1_loss(F.relu(before.vgg(a)["conv2_2"]), F.relu(before.vgg(b)["conv2_2"]))
    assert after(a, b).item() == pytest.approx(expected.item(), rel=1e-5)


def test_missing_vgg_file_names_the_expected_path(tmp_path: Path, monkeypatch) -> None:
    # TORCH_HOME rather than torch.hub.set_dir, which would pin the hub dir for later tests
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(SrkitError) as error:
        PerceptualLoss()
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert str(expected) in str(error.value)


def test_wrong_vgg_file_is_refused(tmp_path: Path) -> None:
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(SrkitError, match="features.0.bias"):
        PerceptualLoss(tmp_path / "partial.pth", {"conv1_1": 1.0})
    with pytest.raises(SrkitError, match="unknown VGG19 layer"):
        PerceptualLoss(tmp_path / "partial.pth", {"conv6_1": 1.0})
