"""DSN files: a trained down-sampling network and its discriminator in one safetensors file.

Written by ``srkit train-dsn``, read by ``srkit degrade --dsn`` and DASR training. The
generator's tensors are stored under ``generator.``, the discriminator's under
``discriminator.`` (key names of :mod:`srkit.models.dsn`), with string metadata
``srkit_arch="dsn"``, ``srkit_arch_args`` (JSON), ``srkit_scale`` (the down-scaling factor),
``srkit_version`` (as SR model files, :mod:`srkit.io.checkpoints`),
``srkit_discriminator_arch`` / ``srkit_discriminator_args`` and ``srkit_freq`` (the frequency
separation the discriminator was trained on), plus training details.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srkit.errors import SrkitError
from srkit.io.checkpoints import architecture_metadata, read_srkit_file, write_safetensors
from srkit.models.dsn import DownSamplingNetwork, build_discriminator

DSN_ARCH = "dsn"


@dataclass(frozen=True)
class LoadedDsn:
    """A trained DSN and its discriminator, in eval mode.

    Attributes:
        generator: the :class:`~srkit.models.dsn.DownSamplingNetwork`.
        discriminator: scores high-frequency bands (``freq``) of LR images.
        freq: frequency separation the discriminator sees (wavelet, gaussian, rgb).
        scale: down-scaling factor.
        metadata: the file's safetensors metadata.
    """

    generator: DownSamplingNetwork
    discriminator: nn.Module
    freq: str
    scale: int
    metadata: dict[str, str] = field(default_factory=dict)


def dsn_metadata(generator: DownSamplingNetwork, arch_args: dict[str, Any], d_arch: str,
                 d_args: dict[str, Any], freq: str, extra: dict[str, str] | None = None
                 ) -> dict[str, str]:
    """The metadata block of a DSN file (see the module docstring)."""
    return {**(extra or {}), **architecture_metadata(DSN_ARCH, arch_args, generator.scale),
            "srkit_discriminator_arch": d_arch,
            "srkit_discriminator_args": json.dumps(d_args, sort_keys=True),
            "srkit_freq": freq}


def save_dsn(path: str | Path, generator: DownSamplingNetwork, discriminator: nn.Module,
             metadata: dict[str, str]) -> Path:
    """Write both networks into one safetensors file, atomically."""
    tensors = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    tensors.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
    return write_safetensors(path, tensors, metadata)


def load_dsn(path: str | Path, device: str | torch.device = "cpu") -> LoadedDsn:
    """Read a DSN file written by ``srkit train-dsn``; errors name the file."""
    from srkit.device import resolve_device

    path = Path(path)
    tensors, metadata = read_srkit_file(path, DSN_ARCH, "DSN", "make one with srkit train-dsn")
    try:
        arch_args = json.loads(metadata["srkit_arch_args"])
        d_arch = metadata.get("srkit_discriminator_arch", "fsd")
        d_args = json.loads(metadata.get("srkit_discriminator_args", "{}"))
        freq = metadata.get("srkit_freq", "wavelet")
        generator = DownSamplingNetwork(**arch_args)
        discriminator = build_discriminator(d_arch, **d_args)
    except (KeyError, TypeError, ValueError) as error:
        raise SrkitError(f"{path}: bad DSN metadata ({error})") from None
    for prefix, net in (("generator.", generator), ("discriminator.", discriminator)):
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise SrkitError(f"{path}: {prefix.rstrip('.')} weights do not match ({first})"
                             ) from None
    target = resolve_device(device)
    return LoadedDsn(generator.eval().to(target), discriminator.eval().to(target), freq,
                     generator.scale, metadata)
