"""Several training processes under ``torchrun``: DDP with gloo on the CPU, NCCL on GPUs.

``torchrun --nproc_per_node N -m srkit train-sr ...`` starts N copies of the command with
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; each
copy joins the process group here. Every rank draws its own samples (the data module
interleaves sample indices by rank), gradients are averaged by DDP, and only rank 0 writes
files and shows progress.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from srkit.errors import SrkitError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the process group when started by torchrun; returns the context and this rank's
    device (``cuda:LOCAL_RANK`` on GPUs). A single process gets ``DistContext()``."""
    if not launched_by_torchrun():
        return DistContext(), device
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise SrkitError(f"rank {rank}: LOCAL_RANK {local_rank} but only "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise SrkitError(f"several processes need CPU (gloo) or CUDA (NCCL), not {device.type}")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistContext(rank, world_size, local_rank), device


def average_gradients(module: torch.nn.Module, context: DistContext) -> None:
    """Make every backward pass average ``module``'s gradients over the processes (what DDP
    does for a wrapped module), for a module that is stepped outside DDP. No-op in a single
    process."""
    if not context.enabled:
        return
    world_size = context.world_size

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad / world_size

    for param in module.parameters():
        if param.requires_grad:
            param.register_hook(hook)


def barrier(context: DistContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.barrier()


def shutdown(context: DistContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()

