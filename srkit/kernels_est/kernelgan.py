"""KernelGAN (Bell-Kligler, Shocher & Irani, NeurIPS 2019): blind ×2 kernel estimation by
internal-GAN, as in the authors' public code (``sefibk/KernelGAN``: kernelGAN.py, learner.py,
loss.py, data.py, util.py, configs.py).

A deep linear generator G downscales 64×64 crops of the LR photo; a patch discriminator D
tells G's 26×26 outputs from 26×26 crops of the photo itself. G's loss is the GAN loss plus
constraints on the kernel G equals (sum to 1, zero boundary, centred, sparse) and, first, a
prior pulling G towards bicubic downscaling. 3000 iterations of Adam (learning rate 2e-4,
β1 0.5, divided by 10 every 750 iterations). Crops are drawn where the image has gradients.

Faithful details worth knowing (all from the reference code):

* Images are mapped to [-1, 1]; D's real crops get N(0, 1/255) noise on the [0, 1] scale and
  G's outputs N(0, 1/255) on the [-1, 1] scale before D sees them.
* The bicubic prior correlates the RGB crop with the 8×8 bicubic kernel through a 3→3
  convolution whose every output channel sums all three input channels, and compares that
  with G's per-channel output. We keep this as the reference has it: it only shapes the
  first phase, which ends once its MSE stays below 0.4 for three iterations.
* After that phase, every 200 iterations the prior's weight is divided by 100 (floor 5e-6);
  once it is below 5e-3 the centring (weight 1) and sparsity (weight 5) terms switch on.
* The noise for D is added *in place* to the image (data.py adds it to a numpy view), so it
  accumulates where D's crops fall and G's later crops see it too. ``accumulate_d_noise``
  (default True, as the reference) switches this off.
* The centring target is (6.5, 6.5) in the 13×13 kernel; post-processing re-centres anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal

from srkit.errors import SrkitError
from srkit.kernels_est.common import (
    FLAG_FLAT,
    FLAG_NEAR_BICUBIC,
    FLAG_OK,
    FLAG_SMALL,
    KernelEstimate,
    bicubic_kernel_x2,
    kernel_covariance,
    kernels_for_scale,
    zeroize_negligible,
)
from srkit.ops.resize import imresize

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class KernelGANSettings:
    """The reference configuration (configs.py and learner.py defaults)."""

    iters: int = 3000
    crop_size: int = 64
    generator_kernel_sizes: tuple[int, ...] = (7, 5, 3, 1, 1, 1)
    generator_channels: int = 64
    discriminator_channels: int = 64
    discriminator_kernel_size: int = 7
    discriminator_layers: int = 7
    learning_rate: float = 2e-4
    beta1: float = 0.5
    n_filtering: int = 40          # post-processing keeps values above 0.75 × the 41st largest
    shave: int = 10                # border pixels dropped before cropping
    accumulate_d_noise: bool = True  # the reference's in-place D noise (see module docstring)
    collapsed_generator: bool = True  # run G as its 13×13 kernel (same function, ~40× faster)
    # Schedules (learner.py).
    lr_decay_every: int = 750
    lr_decay: float = 10.0
    weight_update_every: int = 200
    bicubic_loss_threshold: float = 0.4
    bicubic_weight_decay: float = 100.0
    bicubic_weight_min: float = 5e-6
    # Constraint weights (kernelGAN.py; centring and sparsity start at 0).
    weight_bicubic: float = 5.0
    weight_sum_to_one: float = 0.5
    weight_boundaries: float = 0.5
    weight_centralized_end: float = 1.0
    weight_sparse_end: float = 5.0


# --------------------------------------------------------------------------- crop sampling


def _clip_extreme(values: np.ndarray, percent: float) -> np.ndarray:
    """util.clip_extreme: 0 below the ``percent`` quantile, a small constant above it."""
    ordered = np.sort(values.ravel())
    pivot = int(percent * len(ordered))
    v_min = ordered[pivot]
    v_max = ordered[pivot + 1] if ordered[pivot + 1] > v_min else v_min + 10e-6
    return np.clip(values, v_min, v_max) - v_min


def _zero_border(values: np.ndarray, edge: int) -> np.ndarray:
    out = np.zeros_like(values)
    out[edge:-edge, edge:-edge] = values[edge:-edge, edge:-edge]
    return out


def gradient_map(rgb: np.ndarray, window: int = 5, percent: float = 0.97) -> np.ndarray:
    """util.create_gradient_map: where the strongest 3 % of gradients are, box-blurred.

    ``rgb`` is ``(H, W, 3)`` in [0, 1]; returns ``(H, W)`` with mean 1.
    """
    grey = rgb @ np.array([0.299, 0.587, 0.114])
    grad_rows, grad_cols = np.gradient(grey)
    magnitude = np.sqrt(grad_rows**2 + grad_cols**2)
    maps = [_clip_extreme(_zero_border(m, window), percent)
            for m in (np.abs(grad_rows), np.abs(grad_cols), magnitude)]
    combined = sum(m / m.sum() if m.sum() > 0 else m for m in maps)
    blurred = signal.fftconvolve(combined, np.ones((window, window)), mode="same") / window**2
    mean = blurred.mean()
    return blurred / mean if mean > 0 else np.ones_like(blurred)


def probability_map(loss_map: np.ndarray, crop: int) -> np.ndarray:
    """util.create_probability_map: the chance of each pixel being a crop centre (flat)."""
    half = crop // 2
    blurred = signal.fftconvolve(loss_map, np.ones((half, half)), mode="same") / half**2
    prob = _zero_border(np.clip(blurred, 0.0, None), half).ravel()
    total = prob.sum()
    return prob / total if total > 0 else np.full(prob.shape, 1.0 / prob.size)


class CropSampler:
    """data.DataGenerator: crop positions for G (``crop_size``) and D (G's output size).

    G's crops are drawn by the gradients of the bicubic-×½ image (nearest-neighbour upscaled
    back), D's by the gradients of the image itself; top-left corners are made even.
    """

    def __init__(self, image: np.ndarray, crop_size: int, d_crop_size: int, iters: int,
                 rng: np.random.Generator) -> None:
        self.image = image
        self.rows, self.cols = image.shape[:2]
        self.crop_size, self.d_crop_size = crop_size, d_crop_size
        small = gradient_map(np.clip(imresize(image, 0.5), 0.0, 1.0))
        small = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)[:self.rows, :self.cols]
        prob_g = probability_map(small, crop_size)
        prob_d = probability_map(gradient_map(image), d_crop_size)
        self.centres_g = rng.choice(prob_g.size, size=iters, p=prob_g)
        self.centres_d = rng.choice(prob_d.size, size=iters, p=prob_d)

    def _top_left(self, centre: int, size: int) -> tuple[int, int]:
        row, col = divmod(int(centre), self.cols)
        top = min(max(0, row - size // 2), self.rows - size)
        left = min(max(0, col - size // 2), self.cols - size)
        return top - top % 2, left - left % 2

    def crops(self, iteration: int) -> tuple[np.ndarray, np.ndarray]:
        """G's and D's crops for ``iteration``: ``(size, size, 3)`` *views* of the image."""
        top, left = self._top_left(self.centres_g[iteration], self.crop_size)
        g_crop = self.image[top:top + self.crop_size, left:left + self.crop_size]
        top, left = self._top_left(self.centres_d[iteration], self.d_crop_size)
        d_crop = self.image[top:top + self.d_crop_size, left:left + self.d_crop_size]
        return g_crop, d_crop


# --------------------------------------------------------------------------- constraints


def boundary_mask(kernel_size: int = 13, penalty: float = 30.0) -> np.ndarray:
    """util.create_penalty_mask: weights on the outer ring, 0 in the middle."""
    z = np.arange(-kernel_size // 2 + 1, kernel_size // 2 + 1, dtype=np.float64)
    sigma = float(kernel_size)
    profile = np.exp(-z**2 / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2)
    mask = np.outer(profile, profile)
    mask = 1 - mask / mask.max()
    centre_size = kernel_size // 2 + kernel_size % 2
    margin = (kernel_size - centre_size) // 2 - 1
    mask[margin:-margin, margin:-margin] = 0
    return penalty * mask


def sum_to_one_loss(kernel):
    """|1 - Σk| (loss.SumOfWeightsLoss)."""
    return (1.0 - kernel.sum()).abs()


def boundaries_loss(kernel, mask):
    """mean |k · mask| (loss.BoundariesLoss)."""
    return (kernel * mask).abs().mean()


def centralized_loss(kernel, target: float):
    """Mean squared distance of the centre of mass from ``(target, target)``."""
    import torch

    index = torch.arange(kernel.shape[0], dtype=kernel.dtype, device=kernel.device)
    total = kernel.sum()
    com_row = (kernel.sum(dim=1) * index).sum() / total
    com_col = (kernel.sum(dim=0) * index).sum() / total
    return ((com_row - target) ** 2 + (com_col - target) ** 2) / 2


def sparsity_loss(kernel, power: float = 0.2):
    """mean |k|^0.2 (loss.SparsityLoss)."""
    return kernel.abs().pow(power).mean()


def bicubic_prior_loss(g_input, g_output, bicubic):
    """loss.DownScaleLoss: MSE between G's output and the bicubic-×½ input, shaved to fit."""
    import torch.nn.functional as F

    colours = g_input.shape[1]
    weight = bicubic.expand(colours, colours, *bicubic.shape)   # sums the colours: see above
    down = F.conv2d(g_input, weight, stride=2, padding=(bicubic.shape[-1] - 1) // 2)
    shave_r = down.shape[-2] - g_output.shape[-2]
    shave_c = down.shape[-1] - g_output.shape[-1]
    down = down[..., shave_r // 2:down.shape[-2] - shave_r // 2 - shave_r % 2,
                shave_c // 2:down.shape[-1] - shave_c // 2 - shave_c % 2]
    return F.mse_loss(g_output, down)


class ConstraintSchedule:
    """learner.Learner: learning-rate decay and the constraint weights over iterations."""

    def __init__(self, settings: KernelGANSettings) -> None:
        self.settings = settings
        self.weights = {"bicubic": settings.weight_bicubic,
                        "sum_to_one": settings.weight_sum_to_one,
                        "boundaries": settings.weight_boundaries,
                        "centralized": 0.0, "sparse": 0.0}
        self.below_count = 0
        self.left_bicubic_phase_at: int | None = None
        self.constraints_at: int | None = None

    def update(self, iteration: int, loss_bicubic: float, optimizers) -> None:
        s = self.settings
        if iteration == 0:
            return
        if iteration % s.lr_decay_every == 0:
            for optimizer in optimizers:
                for group in optimizer.param_groups:
                    group["lr"] /= s.lr_decay
        if self.left_bicubic_phase_at is None:
            if loss_bicubic < s.bicubic_loss_threshold:
                if self.below_count >= 2:
                    self.left_bicubic_phase_at = iteration
                else:
                    self.below_count += 1
            else:
                self.below_count = 0
        elif (iteration % s.weight_update_every == 0
              and self.weights["bicubic"] > s.bicubic_weight_min):
            self.weights["bicubic"] = max(self.weights["bicubic"] / s.bicubic_weight_decay,
                                          s.bicubic_weight_min)
            if self.constraints_at is None and self.weights["bicubic"] < 5e-3:
                self.weights["centralized"] = s.weight_centralized_end
                self.weights["sparse"] = s.weight_sparse_end
                self.constraints_at = iteration


# --------------------------------------------------------------------------- training


def min_image_side(settings: KernelGANSettings = KernelGANSettings()) -> int:
    """Smallest LR side KernelGAN can crop from."""
    return settings.crop_size + 2 * settings.shave


def _to_tensor(crop: np.ndarray, device):
    import torch

    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)[None] * 2 - 1)
                            ).float().to(device)


def estimate_kernelgan(lr_img: np.ndarray, scale: int, *, rng: np.random.Generator,
                       settings: KernelGANSettings = KernelGANSettings(), device: str = "cpu",
                       on_iteration: ProgressCallback | None = None) -> KernelEstimate:
    """Estimate the ×2 kernel of ``lr_img`` with KernelGAN; derive ×4 analytically.

    Args:
        lr_img: ``(H, W, 3)`` float in [0, 1], the photo whose blur is wanted.
        scale: 2 or 4 (×4 composes the ×2 kernel with itself, KernelGAN appendix).
        rng: drives crop positions, noise and (through a derived seed) network init.
        settings: the reference configuration; ``iters`` is the one usually changed.
        device: torch device string.
        on_iteration: called as ``on_iteration(done, total)`` after each iteration.
    """
    import torch

    s = settings
    image = np.asarray(lr_img, dtype=np.float32)
    if min(image.shape[:2]) < min_image_side(s):
        raise SrkitError(f"image is {image.shape[1]}×{image.shape[0]} px; KernelGAN needs at "
                         f"least {min_image_side(s)} px on each side")
    if s.shave:
        image = image[s.shave:-s.shave, s.shave:-s.shave]
    image = image[:image.shape[0] // 2 * 2, :image.shape[1] // 2 * 2].astype(np.float64)
    torch_seed = int(rng.integers(2**31))
    dev = torch.device(device)
    threads = torch.get_num_threads()
    if dev.type == "cpu":
        # The convolutions are tiny (26×26 crops, a 13×13 kernel): on a busy 2-core machine
        # two threads made an iteration 15-35× slower than one (docs/kernel-estimation.md).
        torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(torch_seed)
            return _train(image, lr_img, scale, rng, s, dev, on_iteration)
    finally:
        torch.set_num_threads(threads)


def _train(image: np.ndarray, lr_img: np.ndarray, scale: int, rng: np.random.Generator,
           s: KernelGANSettings, dev, on_iteration: ProgressCallback | None) -> KernelEstimate:
    """The training loop of :func:`estimate_kernelgan` (torch RNG already seeded)."""
    import torch

    from srkit.models.kernelgan import (
        KernelDiscriminator,
        KernelGenerator,
        init_discriminator,
        init_generator,
    )

    gen = init_generator(KernelGenerator(s.generator_kernel_sizes, s.generator_channels,
                                         scale=2)).to(dev)
    disc = init_discriminator(KernelDiscriminator(
        3, s.discriminator_channels, s.discriminator_kernel_size,
        s.discriminator_layers)).to(dev)
    d_size = gen.output_size(s.crop_size)
    sampler = CropSampler(image, s.crop_size, d_size, s.iters, rng)
    opt_g = torch.optim.Adam(gen.parameters(), lr=s.learning_rate, betas=(s.beta1, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=s.learning_rate, betas=(s.beta1, 0.999))
    schedule = ConstraintSchedule(s)
    bicubic = torch.from_numpy(bicubic_kernel_x2()).to(dev)
    mask = torch.from_numpy(boundary_mask(gen.kernel_size)).float().to(dev)
    centre_target = gen.kernel_size // 2 + 0.5 * (2 - gen.kernel_size % 2)
    l1 = torch.nn.functional.l1_loss
    loss_bicubic = math.inf
    for iteration in range(s.iters):
        g_crop, d_crop = sampler.crops(iteration)
        g_in = _to_tensor(g_crop, dev)  # before D's noise, as data.__getitem__ does
        noise = rng.standard_normal(d_crop.shape) / 255.0
        if s.accumulate_d_noise:
            d_crop += noise  # a view: the image itself changes
        else:
            d_crop = d_crop + noise
        d_in = _to_tensor(d_crop, dev)
        # Generator step.
        opt_g.zero_grad()
        kernel = gen.kernel()
        g_pred = gen.downscale(g_in, kernel) if s.collapsed_generator else gen(g_in)
        d_fake = disc(g_pred)
        w = schedule.weights
        bic = bicubic_prior_loss(g_in, g_pred, bicubic)
        loss_g = (l1(d_fake, torch.ones_like(d_fake)) + w["bicubic"] * bic
                  + w["sum_to_one"] * sum_to_one_loss(kernel)
                  + w["boundaries"] * boundaries_loss(kernel, mask)
                  + w["centralized"] * centralized_loss(kernel, centre_target)
                  + w["sparse"] * sparsity_loss(kernel))
        loss_g.backward()
        opt_g.step()
        # Discriminator step.
        opt_d.zero_grad()
        d_real = disc(d_in)
        with torch.no_grad():
            g_out = gen.downscale(g_in) if s.collapsed_generator else gen(g_in)
            g_out = g_out + torch.randn(g_out.shape, device=dev) / 255.0
        d_fake = disc(g_out)
        loss_d = 0.5 * (l1(d_fake, torch.zeros_like(d_fake))
                        + l1(d_real, torch.ones_like(d_real)))
        loss_d.backward()
        opt_d.step()
        loss_bicubic = float(bic.detach())
        schedule.update(iteration, loss_bicubic, (opt_g, opt_d))
        if on_iteration is not None:
            on_iteration(iteration + 1, s.iters)
    with torch.no_grad():
        raw = gen.kernel().double().cpu().numpy()
    kernel_x2 = zeroize_negligible(raw, s.n_filtering)
    kernels = kernels_for_scale(kernel_x2, scale)
    info = {"iters": s.iters, "left_bicubic_phase_at": schedule.left_bicubic_phase_at,
            "constraints_at": schedule.constraints_at, "final_bicubic_loss": loss_bicubic,
            "raw_kernel_sum": float(raw.sum()),
            "covariance_x2": kernel_covariance(kernels[2]).round(4).tolist()}
    flag = kernelgan_flag(lr_img, kernels[2], schedule.left_bicubic_phase_at)
    return KernelEstimate(kernels, flag, info)


def settings_dict(settings: KernelGANSettings) -> dict:
    """The settings as a JSON-friendly dict (for the pool)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}


# --------------------------------------------------------------------------- quality flag

# Below these, an LR photo is flagged (see docs/kernel-estimation.md for how they were chosen).
SMALL_SIDE = 192
FLAT_GRADIENT = 0.02            # 97th percentile of the grey gradient magnitude, [0, 1] scale
NEAR_BICUBIC_VARIANCE = 0.35    # mean per-axis variance (px²) of the ×2 kernel


def structure_flag(lr_img: np.ndarray) -> str:
    """``small-image`` / ``flat-image`` / ``ok`` from the photo alone."""
    if min(lr_img.shape[:2]) < SMALL_SIDE:
        return FLAG_SMALL
    grey = np.asarray(lr_img, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    grad_rows, grad_cols = np.gradient(grey)
    if np.quantile(np.hypot(grad_rows, grad_cols), 0.97) < FLAT_GRADIENT:
        return FLAG_FLAT
    return FLAG_OK


def kernelgan_flag(lr_img: np.ndarray, kernel_x2: np.ndarray,
                   left_bicubic_phase_at: int | None) -> str:
    """Why a KernelGAN estimate is doubtful, or ``ok``.

    ``near-bicubic`` when G never left the bicubic-prior phase or its kernel is about as
    sharp as bicubic downscaling (KernelGAN's fallback on flat or small photos).
    """
    flag = structure_flag(lr_img)
    if flag != FLAG_OK:
        return flag
    variance = float(np.trace(kernel_covariance(kernel_x2))) / 2
    if left_bicubic_phase_at is None or variance < NEAR_BICUBIC_VARIANCE:
        return FLAG_NEAR_BICUBIC
    return FLAG_OK
