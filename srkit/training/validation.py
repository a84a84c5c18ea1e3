"""Validation during training: PSNR on the Y channel of held-out pairs, border = scale.

The convention of SR papers (BasicSR's ``calculate_psnr`` with ``test_y_channel``), computed
by :func:`srkit.metrics.psnr`, so training logs and ``srkit evaluate`` agree. Bicubic
interpolation of the same LR images (MATLAB ``imresize``) is the reference a model must beat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from srkit.data import ValidationPair


@torch.no_grad()
def super_resolve(model: nn.Module, lr_img: np.ndarray, device: torch.device,
                  channels_last: bool = False, ref: np.ndarray | None = None) -> np.ndarray:
    """Run ``model`` on one LR image ``(h, w, 3)`` [0, 1]; returns ``(h*s, w*s, 3)`` [0, 1].

    The input is reflect-padded to the model's ``size_multiple`` and the output cropped back.
    ``ref`` ``(H_r, W_r, 3)`` [0, 1]: the reference of a reference-based network (whole).
    """
    multiple = int(getattr(model, "size_multiple", 1))
    scale = int(model.scale)
    height, width = lr_img.shape[:2]
    tensor = torch.from_numpy(np.ascontiguousarray(lr_img.transpose(2, 0, 1)))[None]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        tensor = F.pad(tensor, (0, pad_w, 0, pad_h), mode="reflect")
    tensor = tensor.to(device)
    if channels_last:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    if ref is None:
        output = model(tensor)
    else:
        reference = torch.from_numpy(np.ascontiguousarray(ref.transpose(2, 0, 1)))[None]
        output = model(tensor, reference.to(device))
    output = output[0, :, :height * scale, :width * scale]
    return output.float().clamp_(0, 1).permute(1, 2, 0).cpu().numpy()


def validate(model: nn.Module, pairs: Sequence[ValidationPair], device: torch.device,
             channels_last: bool = False) -> float:
    """Mean PSNR-Y (dB, border = scale) of ``model``'s output on ``pairs`` (with a pair's
    reference where it carries one)."""
    from srkit.metrics import psnr

    was_training = model.training
    model.eval()
    try:
        scores = [psnr(super_resolve(model, pair.lr, device, channels_last, pair.ref), pair.hr,
                       border=int(model.scale), y_channel=True) for pair in pairs]
    finally:
        model.train(was_training)
    return float(np.mean(scores))


def bicubic_psnr(pairs: Sequence[ValidationPair], scale: int) -> float:
    """Mean PSNR-Y (dB, border = scale) of MATLAB-bicubic upscaling on ``pairs``."""
    from srkit.metrics import psnr
    from srkit.ops.resize import imresize

    scores = [psnr(np.clip(imresize(pair.lr, scale), 0, 1), pair.hr, border=scale,
                   y_channel=True) for pair in pairs]
    return float(np.mean(scores))
