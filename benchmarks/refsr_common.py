"""What benchmarks/srntt.py and benchmarks/crossnet.py share: their photos and crop size, the
LR of a crop, parameter counts, the same-size srresnet, and the scoring of a reference-based
network beside it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

TRAIN = ["burnt_bark", "mossy_log", "mudstone", "rocks", "cliff", "redwoods_above"]
TEST = ["mossy_bark", "trees_above", "spiders_web"]
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
SIDE = 128
TRAIN_ROWS = (-160, -64, 32)   # crop rows of the training photos, from their centre


def lr_x4(hr: np.ndarray) -> np.ndarray:
    """MATLAB bicubic ×¼ of ``hr``, clipped, float32."""
    from srkit.ops.resize import imresize

    return np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32)


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def same_size_srresnet(width: int, target: int) -> dict:
    """The ×4 srresnet arguments of ``width`` whose block count gives the trainable
    parameter count closest to ``target``."""
    from srkit.models import build_model

    blocks = min(range(1, 40), key=lambda n: abs(trainable(build_model(
        "srresnet", num_feat=width, num_block=n, upscale=4)) - target))
    return {"num_feat": width, "num_block": blocks}


def arms(label: str) -> tuple[str, ...]:
    """The rows of the table: bicubic, the srresnet and ``label``'s four uses."""
    return ("bicubic", "srresnet (same size)", f"{label} single-image",
            f"{label} unrelated ref", f"{label} similar ref", f"{label} HR as ref")


def score_arms(label: str, network, srresnet, tests: Sequence[tuple[np.ndarray, np.ndarray]],
               unrelated: Callable[[int], int]) -> dict[str, list[float]]:
    """PSNR-Y (border 4) of every arm on each ``(hr, similar reference)`` of ``tests``; the
    unrelated reference of test ``i`` is that of test ``unrelated(i)``."""
    import torch

    from srkit.metrics.psnr_ssim import psnr
    from srkit.ops.resize import imresize

    def tensor(rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]

    def image(out: torch.Tensor) -> np.ndarray:
        return out.clamp(0, 1)[0].permute(1, 2, 0).numpy()

    names = arms(label)
    scores: dict[str, list[float]] = {arm: [] for arm in names}
    with torch.no_grad():
        for number, (hr, ref) in enumerate(tests):
            lr = tensor(lr_x4(hr))
            outputs = dict(zip(names, (
                np.clip(imresize(lr_x4(hr), 4.0), 0, 1), image(srresnet(lr)),
                image(network(lr)), image(network(lr, tensor(tests[unrelated(number)][1]))),
                image(network(lr, tensor(ref))), image(network(lr, tensor(hr)))), strict=True))
            for arm in names:
                scores[arm].append(psnr(outputs[arm], hr, border=4))
    return scores
