"""DDP plumbing: read ``torchrun``'s environment, pick the device and backend, reduce small values."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from wearfm.data.store import BuildGroup
from wearfm.errors import ConfigError

__all__ = [
    "DistInfo",
    "init_distributed",
    "cleanup",
    "barrier",
    "resolve_device",
    "any_true",
    "mean_value",
    "build_group",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly single-process) job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that logs progress and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether a process group is initialised (launched by torchrun)."""
        return dist.is_available() and dist.is_initialized()


def resolve_device(pref: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when available, else ``cpu``; ``cuda`` -> ``cuda:<local_rank>``."""
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {pref!r} requested but CUDA is not available; use --device cpu")
        return torch.device(f"cuda:{local_rank}") if pref == "cuda" else torch.device(pref)
    if pref in ("cpu", "mps"):
        return torch.device(pref)
    raise ConfigError(f"unknown device {pref!r}; use auto, cpu, cuda or cuda:N")


def init_distributed(device_pref: str = "auto") -> DistInfo:
    """Join the process group ``torchrun`` describes (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``), if any.

    NCCL on CUDA, gloo on CPU. Without those variables this is a single process (rank 0 of 1).
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo(device=resolve_device(device_pref))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    device = resolve_device(device_pref, local)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world, **kwargs)  # type: ignore[arg-type]
        log.debug("rank %d/%d joined (%s on %s)", rank, world, backend, device)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=device)


def cleanup() -> None:
    """Leave the process group (if one was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def any_true(flag: bool, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any (e.g. a stop request seen by one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_value(value: float, device: torch.device) -> float:
    """The mean of ``value`` over ranks (``value`` itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64 if device.type == "cpu" else torch.float32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / dist.get_world_size()


def build_group(info: DistInfo) -> BuildGroup:
    """The ranks of this job as a window-store :class:`~wearfm.data.store.BuildGroup`.

    Each rank builds its share of the store's shards; a collective all-reduce of "my part went well" separates
    the steps (so one rank's failure stops every rank with an error instead of a hang).
    """
    if not info.distributed or info.world_size == 1:
        return BuildGroup(rank=info.rank, world_size=1)
    device = info.device if info.device.type == "cuda" else torch.device("cpu")
    return BuildGroup(rank=info.rank, world_size=info.world_size, all_ok=lambda ok: not any_true(not ok, device))
