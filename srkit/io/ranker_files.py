"""Ranker files: a trained RankSRGAN ranker (:class:`srkit.models.ranker.Ranker`) as
safetensors, written by ``srkit train-ranker`` and read by ``train-sr --ranker``.

The tensors are the ranker's state dict; the metadata holds ``srkit_arch="ranker"``,
``srkit_arch_args`` (JSON: ``in_channels``, ``num_feat``), ``srkit_scale`` ("1"),
``srkit_version``, ``srkit_ranker_metric`` (the metric it learnt to order, ``niqe``) and
``srkit_ranker_sign`` (``higher-is-worse``: a higher score means a higher NIQE), plus training
details (iterations, seed, held-out pair accuracy). Loading never executes code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from srkit.errors import SrkitError
from srkit.io.checkpoints import architecture_metadata, read_srkit_file, write_safetensors
from srkit.models.ranker import Ranker

RANKER_ARCH = "ranker"
SIGN = "higher-is-worse"


def save_ranker(path: str | Path, ranker: Ranker, arch_args: dict, metadata: dict[str, str]
                ) -> Path:
    """Write ``ranker`` with its metadata, atomically."""
    meta = {**metadata, **architecture_metadata(RANKER_ARCH, arch_args, 1),
            "srkit_ranker_metric": "niqe", "srkit_ranker_sign": SIGN}
    return write_safetensors(path, ranker.state_dict(), meta)


def load_ranker(path: str | Path, device: str | torch.device = "cpu"
                ) -> tuple[Ranker, dict[str, str]]:
    """The ranker of a file written by ``srkit train-ranker``, in eval mode, and its
    metadata; SrkitError naming the file otherwise."""
    path = Path(path)
    tensors, metadata = read_srkit_file(path, RANKER_ARCH, "ranker",
                                        "train one with srkit train-ranker")
    if metadata.get("srkit_ranker_sign", SIGN) != SIGN:
        raise SrkitError(f"{path}: a ranker whose scores mean "
                         f"{metadata['srkit_ranker_sign']!r}, srkit expects {SIGN}")
    try:
        ranker = Ranker(**json.loads(metadata["srkit_arch_args"]))
        ranker.load_state_dict(tensors, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "bad metadata"
        raise SrkitError(f"{path}: ranker weights do not match its metadata ({first})") from None
    return ranker.eval().to(device), metadata
