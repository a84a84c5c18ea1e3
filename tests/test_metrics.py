"""Metrics: BT.601 Y, PSNR/SSIM (vs analytic values, scikit-image and BasicSR numbers), NIQE
(vs BasicSR numbers and its monotonic response to blur and noise) and LPIPS (weight-file
formats, identities and wiring, with random weights)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from srkit.errors import SrkitError
from srkit.metrics import niqe, psnr, ssim
from srkit.metrics.no_reference import fit_aggd
from srkit.metrics.psnr_ssim import prepare
from srkit.ops.colour import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb


def u8(image: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(image) * 255).astype(np.uint8)


def box3(image_u8: np.ndarray) -> np.ndarray:
    """3×3 box blur in integer arithmetic (edge-replicated, rounded): an exactly reproducible
    distortion, so reference numbers computed elsewhere apply to the same pixels."""
    padded = np.pad(image_u8.astype(np.int32), ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = image_u8.shape[:2]
    total = sum(padded[i:i + h, j:j + w] for i in range(3) for j in range(3))
    return ((total + 4) // 9).astype(np.uint8)


# ------------------------------------------------------------------------------- colour ----

@pytest.mark.parametrize(("rgb", "ycbcr_255"), [
    ((1.0, 1.0, 1.0), (235.0, 128.0, 128.0)),
    ((0.0, 0.0, 0.0), (16.0, 128.0, 128.0)),
    ((1.0, 0.0, 0.0), (81.481, 90.203, 240.0)),
    ((0.0, 1.0, 0.0), (144.553, 53.797, 34.214)),
    ((0.0, 0.0, 1.0), (40.966, 240.0, 109.786)),
])
def test_ycbcr_matches_matlab_coefficients(rgb, ycbcr_255) -> None:
    got = rgb_to_ycbcr(np.array(rgb)) * 255
    np.testing.assert_allclose(got, ycbcr_255, atol=1e-9)
    assert rgb_to_y(np.array(rgb)) * 255 == pytest.approx(ycbcr_255[0], abs=1e-9)


def test_ycbcr_round_trip_and_grey_ramp(rng) -> None:
    rgb = rng.random((7, 5, 3))
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-12)
    grey = np.linspace(0, 1, 11)
    y = rgb_to_y(np.repeat(grey[:, None], 3, axis=1))
    np.testing.assert_allclose(y * 255, 16 + 219 * grey, atol=1e-9)  # studio swing 16-235


# ---------------------------------------------------------------------------- PSNR/SSIM ----

def test_psnr_analytic_values() -> None:
    ref = np.zeros((16, 16, 3))
    img = np.full((16, 16, 3), 0.1)
    # RGB: error 25.5 grey levels everywhere -> 20 log10(255 / 25.5) = 20 dB
    assert psnr(img, ref, y_channel=False) == pytest.approx(20.0, abs=1e-12)
    # Y: a grey step of 0.1 is 0.1 * 219 levels of Y
    assert psnr(img, ref) == pytest.approx(20 * math.log10(255 / 21.9), abs=1e-12)
    assert psnr(ref, ref) == math.inf


def test_border_crop_removes_only_the_border() -> None:
    ref = np.full((20, 24, 3), 0.5)
    img = ref.copy()
    img[:2] += 0.2  # an error confined to the top two rows
    expected_mse = (0.2 * 255) ** 2 * (2 * 24) / (20 * 24)
    assert psnr(img, ref, y_channel=False) == pytest.approx(
        10 * math.log10(255**2 / expected_mse), abs=1e-9)
    assert psnr(img, ref, border=1, y_channel=False) < math.inf
    assert psnr(img, ref, border=2, y_channel=False) == math.inf
    a, b = prepare(img, ref, border=3)
    assert a.shape == b.shape == (14, 18, 1)


def test_ssim_identity_and_bounds(chelsea) -> None:
    crop = chelsea[:64, :64]
    assert ssim(crop, crop) == pytest.approx(1.0, abs=1e-12)
    assert ssim(crop, crop, y_channel=False) == pytest.approx(1.0, abs=1e-12)
    noisy = np.clip(crop + np.random.default_rng(0).normal(0, 0.1, crop.shape), 0, 1)
    assert 0 < ssim(noisy, crop) < 0.9


@pytest.mark.parametrize("border", [0, 4])
def test_ssim_equals_scikit_image_on_the_same_planes(chelsea, border) -> None:
    """scikit-image filters the whole image (reflect padding) but averages only the map
    cropped by (win - 1) / 2 = 5 pixels — exactly the valid region used here — so on the
    same border-cropped Y planes the two definitions coincide."""
    from skimage.metrics import structural_similarity

    ref = chelsea[:120, :160]
    img = box3(u8(ref)) / 255.0
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                  data_range=255)
    a, b = prepare(img, ref, border=border)
    expected = structural_similarity(a[..., 0], b[..., 0], **kwargs)
    assert ssim(img, ref, border=border) == pytest.approx(expected, abs=1e-9)
    a, b = prepare(img, ref, border=border, y_channel=False)
    per_channel = [structural_similarity(a[..., c], b[..., c], **kwargs) for c in range(3)]
    assert ssim(img, ref, border=border, y_channel=False) == pytest.approx(
        np.mean(per_channel), abs=1e-9)


# BasicSR 1.4.2 calculate_psnr / calculate_ssim on scikit-image's chelsea (uint8, BGR as
# cv2 reads it) against box3(chelsea): (border, test_y_channel) -> (PSNR dB, SSIM).
BASICSR_CHELSEA_BOX3 = {
    (0, True): (35.066748, 0.9120320),
    (0, False): (33.619898, 0.8995593),
    (4, True): (34.924245, 0.9094477),
    (4, False): (33.479512, 0.8967813),
}


@pytest.mark.parametrize(("border", "y_channel"), list(BASICSR_CHELSEA_BOX3))
def test_psnr_ssim_equal_basicsr(chelsea, border, y_channel) -> None:
    hr8 = u8(chelsea)
    sr8 = box3(hr8)
    want_psnr, want_ssim = BASICSR_CHELSEA_BOX3[border, y_channel]
    got_psnr = psnr(sr8 / 255.0, hr8 / 255.0, border=border, y_channel=y_channel)
    got_ssim = ssim(sr8 / 255.0, hr8 / 255.0, border=border, y_channel=y_channel)
    assert got_psnr == pytest.approx(want_psnr, abs=1e-5)  # spec: 0.01 dB
    assert got_ssim == pytest.approx(want_ssim, abs=1e-6)  # spec: 0.001


def test_psnr_ssim_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
    with pytest.raises(ValueError, match="border"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), border=4)
    with pytest.raises(ValueError, match="11×11"):
        ssim(np.zeros((12, 12, 3)), np.zeros((12, 12, 3)), border=1)


# --------------------------------------------------------------------------------- NIQE ----

def test_aggd_fit_recovers_known_shapes(rng) -> None:
    gauss = rng.normal(0.0, 1.0, (1, 200_000))
    alpha, beta_l, beta_r = fit_aggd(gauss)
    assert alpha[0] == pytest.approx(2.0, abs=0.05)  # a Gaussian is a GGD of shape 2 ...
    assert beta_l[0] == pytest.approx(math.sqrt(2), rel=0.02)  # ... and scale σ√2
    assert beta_r[0] == pytest.approx(math.sqrt(2), rel=0.02)
    laplace = rng.laplace(0.0, 1.0, (1, 200_000))
    alpha, beta_l, beta_r = fit_aggd(laplace)
    assert alpha[0] == pytest.approx(1.0, abs=0.05)  # Laplace: shape 1, scale b
    assert beta_l[0] == pytest.approx(1.0, rel=0.03)
    skewed = np.concatenate([-np.abs(rng.normal(0, 1, 100_000)),
                             np.abs(rng.normal(0, 3, 100_000))])[None]
    _, beta_l, beta_r = fit_aggd(skewed)
    assert beta_r[0] / beta_l[0] == pytest.approx(3.0, rel=0.03)


# BasicSR 1.4.2 calculate_niqe(img, crop_border, convert_to='y') on scikit-image photos.
# BasicSR computes the MSCN maps and the ×0.5 resize in float32; srkit in float64 as the
# MATLAB original does. On these textured images the two agree to better than 1e-3 (on
# photos with large flat areas float32 rounding moves BasicSR's value by up to ~0.1).
# (times box3 was applied to chelsea, border) -> NIQE
BASICSR_NIQE = {(0, 0): 2.625524, (0, 4): 2.689313, (1, 0): 5.028705, (3, 4): 7.126312}


@pytest.mark.parametrize(("blurs", "border"), list(BASICSR_NIQE))
def test_niqe_matches_basicsr_reference_values(chelsea, blurs, border) -> None:
    image = u8(chelsea)
    for _ in range(blurs):
        image = box3(image)
    assert niqe(image / 255.0, border=border) == pytest.approx(BASICSR_NIQE[blurs, border],
                                                               abs=1e-3)


def test_niqe_of_a_grey_plane_matches_basicsr() -> None:
    from skimage import data

    camera = data.camera() / 255.0  # (512, 512) grey, used as the luma directly
    assert niqe(camera) == pytest.approx(3.096207, abs=1e-3)


def test_niqe_rises_with_blur_and_noise(astronaut) -> None:
    photo = astronaut[:192, 160:448]  # 2×3 blocks of a detailed region
    clean = niqe(photo)
    assert niqe(photo) == clean  # deterministic
    blurred = box3(box3(u8(photo))) / 255.0
    noisy = np.clip(photo + np.random.default_rng(3).normal(0, 0.08, photo.shape), 0, 1)
    assert niqe(blurred) > clean + 1.0
    assert niqe(noisy) > clean + 1.0


def test_niqe_needs_two_blocks_and_texture() -> None:
    with pytest.raises(ValueError, match="96×96"):
        niqe(np.random.default_rng(0).random((100, 150, 3)))
    with pytest.raises(ValueError, match="96×96"):
        niqe(np.random.default_rng(0).random((200, 200, 3)), border=5)
    with pytest.raises(ValueError, match="flat"):
        niqe(np.full((192, 192, 3), 0.5))


# -------------------------------------------------------------------------------- LPIPS ----

def save_random_lpips_weights(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Random weights in the two published formats: torchvision's AlexNet file (with its
    classifier keys) and LPIPS's alex.pth (non-negative 1×1 convs)."""
    from srkit.models.alexnet_lpips import CHANNELS, AlexNetFeatures

    generator = torch.Generator().manual_seed(seed)
    trunk = AlexNetFeatures()
    state = {}
    for key, value in trunk.state_dict().items():
        fan_in = value[0].numel() if value.ndim > 1 else 1
        state[key] = torch.randn(value.shape, generator=generator) * (2 / fan_in) ** 0.5
    state["classifier.1.weight"] = torch.zeros(8, 9216)  # torchvision's file has these too
    lins = {f"lin{i}.model.1.weight": torch.rand((1, c, 1, 1), generator=generator)
            for i, c in enumerate(CHANNELS)}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "alexnet-owt-7be5be79.pth")
    torch.save(lins, folder / "alex.pth")
    return folder / "alex.pth", folder / "alexnet-owt-7be5be79.pth"


@pytest.fixture
def lpips_model(tmp_path):
    from srkit.metrics.lpips import load_lpips

    torch.manual_seed(0)
    return load_lpips(*save_random_lpips_weights(tmp_path / "weights"))


def test_lpips_identity_symmetry_and_order(lpips_model, chelsea) -> None:
    from srkit.metrics.lpips import lpips_distance

    ref = chelsea[:64, :96]
    rng = np.random.default_rng(0)
    mild = np.clip(ref + rng.normal(0, 0.03, ref.shape), 0, 1)
    strong = np.clip(ref + rng.normal(0, 0.15, ref.shape), 0, 1)
    assert lpips_distance(ref, ref, lpips_model) == pytest.approx(0.0, abs=1e-7)
    d_mild = lpips_distance(mild, ref, lpips_model)
    assert d_mild == pytest.approx(lpips_distance(ref, mild, lpips_model), rel=1e-5)
    assert 0 < d_mild < lpips_distance(strong, ref, lpips_model)
    assert lpips_distance(mild, ref, lpips_model) == d_mild  # dropout off (eval mode)


def test_lpips_is_a_weighted_sum_of_unit_normalised_feature_differences(lpips_model) -> None:
    """Rebuild the distance by hand from the trunk's taps and the lin weights."""
    from srkit.models.alexnet_lpips import LPIPS_SCALE, LPIPS_SHIFT

    g = torch.Generator().manual_seed(1)
    x, y = torch.rand((2, 3, 48, 64), generator=g) * 2 - 1, torch.rand((2, 3, 48, 64),
                                                                         generator=g) * 2 - 1
    shift = torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1)
    scale = torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1)
    with torch.no_grad():
        fx, fy = lpips_model.net((x - shift) / scale), lpips_model.net((y - shift) / scale)
        expected = torch.zeros(2)
        for index, (a, b) in enumerate(zip(fx, fy, strict=True)):
            weight = getattr(lpips_model, f"lin{index}").model[1].weight.view(1, -1, 1, 1)
            na = a / (a.norm(dim=1, keepdim=True) + 1e-10)
            nb = b / (b.norm(dim=1, keepdim=True) + 1e-10)
            expected += ((na - nb) ** 2 * weight).sum(1).mean(dim=(1, 2))
        got = lpips_model(x, y)
    assert [tuple(f.shape[1:2]) for f in fx] == [(64,), (192,), (384,), (256,), (256,)]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


def test_lpips_weight_files_errors(tmp_path, monkeypatch) -> None:
    from srkit.metrics.lpips import default_alexnet_path, load_lpips

    lin_path, alex_path = save_random_lpips_weights(tmp_path / "w")
    with pytest.raises(SrkitError, match="--lpips-weights"):
        load_lpips(None, alex_path)
    with pytest.raises(SrkitError, match="nope.pth: LPIPS weights not found"):
        load_lpips(tmp_path / "nope.pth", alex_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert default_alexnet_path() == expected
    with pytest.raises(SrkitError, match="alexnet-owt-7be5be79.pth: AlexNet weights not found"):
        load_lpips(lin_path)
    expected.parent.mkdir(parents=True)
    expected.write_bytes(alex_path.read_bytes())
    assert load_lpips(lin_path) is not None  # found in the torch hub cache
    with pytest.raises(SrkitError, match="not LPIPS AlexNet linear weights"):
        load_lpips(alex_path, alex_path)
    with pytest.raises(SrkitError, match="not torchvision AlexNet weights"):
        load_lpips(lin_path, lin_path)
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(SrkitError, match="cannot read weights"):
        load_lpips(tmp_path / "junk.pth", alex_path)
