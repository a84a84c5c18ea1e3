"""Contract tests over every SR architecture and scale, discriminators and VGG19 features."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from srkit.errors import SrkitError
from srkit.models import ARCHITECTURES, architecture_arguments, build_model
from srkit.models.discriminators import (
    DISCRIMINATORS,
    PatchDiscriminator,
    UNetDiscriminatorSN,
    VGGStyleDiscriminator,
)

# Small configurations of every architecture at every scale it supports.
CONFIGS = [
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 1}),
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2}),
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 4}),
    ("srresnet", {"num_feat": 8, "num_block": 2, "upscale": 2}),
    ("srresnet", {"num_feat": 8, "num_block": 1, "upscale": 3}),
    ("srresnet", {"num_feat": 8, "num_block": 1, "upscale": 4}),
    ("compact", {"num_feat": 8, "num_conv": 2, "upscale": 1}),
    ("compact", {"num_feat": 8, "num_conv": 2, "upscale": 2}),
    ("compact", {"num_feat": 8, "num_conv": 2, "upscale": 3}),
    ("compact", {"num_feat": 8, "num_conv": 3, "upscale": 4}),
    ("unet-blind", {"num_feat": 4, "depth": 2, "head_feat": 8, "scale": 1}),
    ("da-sr", {"num_feat": 8, "num_block": 1, "decoder_block": 1, "scale": 1}),
    ("da-sr", {"num_feat": 8, "num_block": 1, "decoder_block": 1, "scale": 2}),
    ("da-sr", {"num_feat": 8, "num_block": 1, "decoder_block": 0, "scale": 3}),
    ("da-sr", {"num_feat": 8, "num_block": 2, "decoder_block": 1, "scale": 4}),
    ("span", {"feature_channels": 6, "upscale": 2}),
    ("span", {"feature_channels": 6, "upscale": 3, "norm": False}),
    ("span", {"feature_channels": 6, "upscale": 4}),
    ("swinir", {"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4,
                "img_size": 8, "upscale": 2}),
    ("swinir", {"embed_dim": 8, "depths": [1, 2], "num_heads": [2, 1], "window_size": 4,
                "img_size": 8, "upscale": 3, "upsampler": "pixelshuffledirect"}),
    ("swinir", {"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4,
                "img_size": 8, "upscale": 4, "upsampler": "nearest+conv",
                "resi_connection": "3conv"}),
    # HAT with squeeze_factor 1: a narrower channel attention's ReLUs are all off at seed 0.
    ("hat", {"embed_dim": 12, "depths": [2], "num_heads": [2], "window_size": 4,
             "squeeze_factor": 1, "upscale": 2}),
    ("hat", {"embed_dim": 12, "depths": [1, 2], "num_heads": [2, 1], "window_size": 4,
             "squeeze_factor": 1, "upscale": 3, "resi_connection": "identity"}),
]
IDS = [f"{arch}-x{args.get('scale', args.get('upscale'))}" for arch, args in CONFIGS]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize(("arch", "args"), CONFIGS, ids=IDS)
def test_output_is_input_times_scale_and_finite(arch: str, args: dict) -> None:
    model = build_model(arch, **args)
    scale = args.get("scale", args.get("upscale"))
    assert model.scale == scale
    out = model(torch.rand(2, 3, 12, 16))
    assert out.shape == (2, 3, 12 * scale, 16 * scale)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("arch", "args"), CONFIGS, ids=IDS)
def test_gradients_reach_every_parameter(arch: str, args: dict) -> None:
    model = build_model(arch, **args)
    x = torch.rand(2, 3, 8, 8)
    target = torch.rand(2, 3, 8 * model.scale, 8 * model.scale)
    if hasattr(model, "denormalise"):  # unet-blind: its parameter head is trained too
        image, params = model(x, with_params=True)
        ((image - target).square().mean() + params.square().mean()).backward()
    else:
        (model(x) - target).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_residual_nets_start_near_their_skip_connection() -> None:
    """ESRGAN's 0.1-scaled init: a fresh SRResNet is close to bilinear upsampling."""
    model = build_model("srresnet", num_feat=16, num_block=4, upscale=2)
    x = torch.rand(1, 3, 16, 16)
    base = nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert (model(x) - base).abs().max() < 0.05


def test_compact_adds_nearest_upsampled_input() -> None:
    model = build_model("compact", num_feat=4, num_conv=1, upscale=2)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    x = torch.rand(1, 3, 5, 6)
    assert torch.equal(model(x), x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))


@pytest.mark.parametrize("act_type", ["prelu", "relu", "leakyrelu"])
@pytest.mark.parametrize("num_conv", [2, 16, 32])
def test_a_fresh_compact_net_keeps_its_signal_through_the_body(act_type, num_conv) -> None:
    """He init with the activation's gain: a fresh net's residual over nearest upsampling is
    small but alive at any depth (PyTorch's default init left ~1e-4 after 16 convs, so short
    runs stayed at nearest-neighbour blocks), and not so large that it starts far off."""
    torch.manual_seed(0)
    model = build_model("compact", num_conv=num_conv, upscale=4, act_type=act_type)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        residual = model(x) - nn.functional.interpolate(x, scale_factor=4, mode="nearest")
    assert 5e-3 < float(residual.abs().mean()) < 0.2


def _meta(arch: str, **args) -> nn.Module:
    with torch.device("meta"):
        return build_model(arch, **args)


def test_key_names_and_sizes_match_basicsr_layouts() -> None:
    """Default configurations carry the BasicSR / Real-ESRGAN key names and shapes."""
    rrdb = _meta("rrdbnet").state_dict()
    assert {"conv_first.weight", "body.0.rdb1.conv1.weight", "body.22.rdb3.conv5.bias",
            "conv_body.weight", "conv_up1.weight", "conv_up2.weight", "conv_hr.weight",
            "conv_last.weight"} <= set(rrdb)
    assert "body.23.rdb1.conv1.weight" not in rrdb
    assert rrdb["body.0.rdb1.conv5.weight"].shape == (64, 64 + 4 * 32, 3, 3)
    # RealESRGAN_x4plus: 16,697,987 parameters (ESRGAN's "16.7M").
    assert sum(p.numel() for p in _meta("rrdbnet").parameters()) == 16_697_987
    # ×2 model: pixel-unshuffled input, 12 channels into conv_first (RealESRGAN_x2plus).
    assert _meta("rrdbnet", scale=2).state_dict()["conv_first.weight"].shape == (64, 12, 3, 3)

    general_v3 = _meta("compact", num_conv=32).state_dict()
    assert general_v3["body.0.weight"].shape == (64, 3, 3, 3)
    assert general_v3["body.1.weight"].shape == (64,)  # PReLU
    assert general_v3["body.66.weight"].shape == (48, 64, 3, 3)
    assert len(general_v3) == 2 * 34 + 33  # 34 convs (weight+bias), 33 PReLUs

    srres = _meta("srresnet").state_dict()
    assert {"conv_first.weight", "body.15.conv2.bias", "upconv1.weight", "upconv2.weight",
            "conv_hr.weight", "conv_last.weight"} <= set(srres)
    assert sum(p.numel() for p in _meta("srresnet").parameters()) == 1_517_571
    assert "upconv2.weight" not in _meta("srresnet", upscale=3).state_dict()


@pytest.mark.parametrize(("arch", "args"), [
    ("rrdbnet", {"scale": 3}), ("srresnet", {"upscale": 8}), ("compact", {"act_type": "gelu"}),
    ("compact", {"num_blocks": 4}), ("rrdbnet", {"num_feat": 8.5}), ("nope", {})])
def test_bad_architecture_or_arguments_raise_srkit_error(arch: str, args: dict) -> None:
    with pytest.raises(SrkitError):
        build_model(arch, **args)


def test_registry_is_a_plain_dict_of_classes() -> None:
    assert set(ARCHITECTURES) == {"rrdbnet", "srresnet", "compact", "san", "srfbn", "metasr",
                                  "unet-blind", "da-sr", "span", "swinir", "hat", "srntt",
                                  "crossnet"}
    assert architecture_arguments("rrdbnet")["num_block"] == 23
    assert set(DISCRIMINATORS) == {"patchgan", "vgg", "unet"}


@pytest.mark.parametrize(("disc", "size", "shape"), [
    (PatchDiscriminator(3, 8, 3), 64, (2, 1, 6, 6)),      # 64/8 - 2: pix2pix's 70×70 patches
    (PatchDiscriminator(3, 8, 2, norm="none"), 32, (2, 1, 6, 6)),
    (VGGStyleDiscriminator(3, 4, 128), 128, (2, 1)),
    (VGGStyleDiscriminator(3, 4, 256), 256, (1, 1)),
    (UNetDiscriminatorSN(3, 8), 32, (2, 1, 32, 32)),
    (UNetDiscriminatorSN(3, 8, skip_connection=False), 24, (2, 1, 24, 24)),
], ids=["patch3", "patch2-nonorm", "vgg128", "vgg256", "unet", "unet-noskip"])
def test_discriminator_output_shapes_and_gradients(disc: nn.Module, size: int,
                                                   shape: tuple) -> None:
    x = torch.rand(2 if size < 256 else 1, 3, size, size, requires_grad=True)
    out = disc(x)
    assert out.shape == shape and torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_discriminator_key_names() -> None:
    assert "model.0.weight" in PatchDiscriminator().state_dict()
    assert "model.11.weight" in PatchDiscriminator().state_dict()  # final 1-channel conv
    vgg = VGGStyleDiscriminator().state_dict()
    assert {"conv0_0.weight", "bn0_1.running_mean", "conv4_1.weight", "linear1.weight"} <= set(vgg)
    unet = UNetDiscriminatorSN().state_dict()
    assert {"conv0.weight", "conv1.weight_orig", "conv1.weight_u", "conv9.bias"} <= set(unet)


def test_vgg_discriminator_rejects_other_sizes() -> None:
    with pytest.raises(ValueError):
        VGGStyleDiscriminator(3, 4, 128)(torch.rand(1, 3, 96, 96))
    with pytest.raises(SrkitError):
        VGGStyleDiscriminator(3, 4, 96)
