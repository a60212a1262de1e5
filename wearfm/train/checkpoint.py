"""Training checkpoints: atomic writes, ``weights_only`` loads, and every RNG state needed for exact resume.

A checkpoint (``checkpoint.pt`` in a run folder) is a plain dict of tensors, numbers, strings, lists and dicts::

    {"format": "wearfm-checkpoint", "format_version": 1, "model": method.state_dict(),
     "optimizer": ..., "scheduler": ..., "step": int, "epoch": int, "batch_in_epoch": int,
     "rng": {"python": [...], "numpy": {...}, "torch": ByteTensor, "cuda": [ByteTensor, ...]},
     "config": {...}, "wearfm_version": "..."}
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wearfm import __version__
from wearfm.errors import CheckpointError, describe_load_error

__all__ = ["CHECKPOINT_FILE", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state"]

CHECKPOINT_FILE = "checkpoint.pt"
_FORMAT = "wearfm-checkpoint"
_REQUIRED = ("model", "optimizer", "scheduler", "step", "epoch", "batch_in_epoch", "rng", "config")


def rng_state() -> dict[str, Any]:
    """The python, numpy, torch and CUDA generator states, as types ``torch.load(weights_only=True)`` accepts."""
    version, internal, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    return {
        "python": [version, list(internal), gauss],
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only where devices exist)."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, int(n["pos"]), int(n["has_gauss"]), float(n["gauss"])))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (see module docstring) atomically: a temporary file, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {"format": _FORMAT, "format_version": 1, "wearfm_version": __version__, **state}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a training checkpoint without unpickling arbitrary objects.

    Args:
        path: a ``checkpoint.pt`` file or the run folder holding one.
        map_location: where tensors are loaded.

    Raises:
        CheckpointError: missing, unreadable/corrupt, or not a wearfm training checkpoint.
    """
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT_FILE
    if not p.exists():
        raise CheckpointError(f"{p}: no checkpoint to resume from; run `wearfm pretrain` without --resume first")
    try:
        obj = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - a truncated file, a foreign pickle: all mean "not usable"
        raise CheckpointError(
            f"{p}: corrupt or not a wearfm checkpoint ({describe_load_error(p, e)}); "
            "delete it to start over, or point --resume at another run"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
        raise CheckpointError(f"{p}: not a wearfm training checkpoint (no '{_FORMAT}' marker)")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise CheckpointError(f"{p}: incomplete checkpoint, missing {missing}")
    return obj
