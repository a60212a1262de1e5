"""What a pretraining run reports and records: the result object, ``run.json``/``config.json``, resume checks."""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from wearfm import __version__
from wearfm.config import PretrainConfig, to_dict
from wearfm.data.windows import WindowSet
from wearfm.errors import CheckpointError

__all__ = [
    "PretrainResult",
    "check_resumable",
    "resume_changes",
    "load_run_config",
    "gather_rng",
    "write_run_files",
    "RESUME_KEYS",
]

#: Settings that must match between a checkpoint and the run resuming it (the model and the data order).
RESUME_KEYS = (
    "method", "encoder", "encoder_kwargs", "rate_hz", "window_s", "stride_s", "channels", "normalize",
    "batch_size", "seed", "lr", "weight_decay", "warmup_steps", "amp",
)  # fmt: skip


@dataclass
class PretrainResult:
    """Summary of a finished (or interrupted) pretraining run.

    Attributes:
        out_dir: the run folder.
        artifacts: name -> path of what the method saved (``encoder`` at least), rank 0 only.
        checkpoint: path of ``checkpoint.pt``.
        steps: optimiser steps done in total (including those before a resume).
        total_steps: steps the run was set to do.
        epochs: passes over the data done (fractional).
        final_loss: loss at the last logged step (averaged over ranks).
        windows: number of training windows; window_samples: their length.
        windows_per_s: training throughput of this invocation (all ranks).
        load_s / train_s: seconds spent loading data and building, and in the loop.
        interrupted: stopped by a signal or ``stop_at`` before ``total_steps``.
        stopped_by: the signal that stopped the run (``"SIGINT"`` or ``"SIGTERM"``), else None.
        resumed_from: the step resumed from, or None.
        method: the trained :class:`~wearfm.methods.base.Method` (not serialised); ``model`` its encoder.
    """

    out_dir: Path
    artifacts: dict[str, Path]
    checkpoint: Path
    steps: int
    total_steps: int
    epochs: float
    final_loss: float
    windows: int
    window_samples: int
    windows_per_s: float
    load_s: float
    train_s: float
    interrupted: bool
    resumed_from: int | None
    world_size: int = 1
    device: str = "cpu"
    stopped_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    method: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def model(self) -> nn.Module:
        """The trained :class:`EmbeddingModel` (what ``encoder.pt`` holds), on the training device."""
        assert self.method is not None, "no method attached to this result"
        return self.method.embedding_model()  # type: ignore[operator,no-any-return]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (paths as strings; the trained method left out)."""
        d = {k: v for k, v in self.__dict__.items() if k != "method"}
        d["out_dir"] = str(self.out_dir)
        d["checkpoint"] = str(self.checkpoint)
        d["artifacts"] = {k: str(v) for k, v in self.artifacts.items()}
        return d


def resume_changes(old: dict[str, Any], cfg: PretrainConfig) -> dict[str, tuple[Any, Any]]:
    """Settings of ``cfg`` that differ from a checkpoint's ``old`` config and change the model or data order.

    Returns:
        setting name -> (checkpoint's value, ``cfg``'s value); the method's own section counts as one setting.
    """
    new = to_dict(cfg)
    diff = {k: (old.get(k), new[k]) for k in RESUME_KEYS if k in old and old.get(k) != new[k]}
    sub = cfg.method if cfg.method in new and isinstance(new[cfg.method], dict) else None
    if sub and old.get(sub) != new[sub]:
        diff[sub] = (old.get(sub), new[sub])
    return diff


def load_run_config(run: str | Path) -> PretrainConfig:
    """The settings a run was trained with: its ``config.json``, else the config inside its ``checkpoint.pt``.

    Args:
        run: a run folder or its ``checkpoint.pt``.

    Raises:
        CheckpointError: neither file is there, or the settings cannot be read.
    """
    from wearfm.config import from_dict
    from wearfm.errors import ConfigError
    from wearfm.train.checkpoint import CHECKPOINT_FILE, load_checkpoint

    p = Path(run)
    folder = p.parent if p.suffix == ".pt" else p
    cfg_file = folder / "config.json"
    try:
        if cfg_file.exists():
            data = json.loads(cfg_file.read_text())
        else:
            data = load_checkpoint(p if p.suffix == ".pt" else folder / CHECKPOINT_FILE)["config"]
        return from_dict(PretrainConfig, data)
    except (json.JSONDecodeError, ConfigError) as e:
        raise CheckpointError(
            f"{cfg_file}: cannot read the run's settings ({e}); fix or delete the file to use the checkpoint's"
        ) from None


def check_resumable(state: dict[str, Any], cfg: PretrainConfig, source: str | Path) -> None:
    """Raise ``CheckpointError`` if ``state`` was trained with settings that change the model or data order."""
    diff = resume_changes(state.get("config", {}), cfg)
    if diff:
        pretty = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(
            f"{source}: checkpoint was trained with other settings ({pretty}); resume with the same settings "
            "or start a new run with another --out"
        )


def gather_rng(local: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's RNG state, in rank order (a list of one when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [local]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, local)
    return [{k: _to_cpu(v) for k, v in s.items()} for s in states]


def _to_cpu(v: Any) -> Any:
    if torch.is_tensor(v):
        return v.cpu()
    if isinstance(v, list):
        return [_to_cpu(x) for x in v]
    if isinstance(v, dict):
        return {k: _to_cpu(x) for k, x in v.items()}
    return v


def write_run_files(
    result: PretrainResult, cfg: PretrainConfig, cli_args: dict[str, Any], ws: WindowSet, method: nn.Module
) -> None:
    """Write ``config.json`` (resolved settings) and ``run.json`` (settings, command, data, timings, versions)."""
    out = result.out_dir
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
    n_params = sum(p.numel() for p in method.parameters())
    enc_params = sum(p.numel() for p in method.embedding_model().parameters())  # type: ignore[operator]
    run = {
        "command": "pretrain",
        "config": to_dict(cfg),
        "cli_args": cli_args,
        "dataset": {
            "path": str(cfg.data),
            "recordings": len(ws.entries),
            "subjects": len(ws.subjects),
            "windows": len(ws),
            "nonwear_skipped": ws.nonwear_skipped,
            "window_samples": ws.window,
            "rate_hz": ws.rate_hz,
            "channels": list(ws.channels),
            "hours": float(len(ws) * ws.window / ws.rate_hz / 3600) if cfg.stride_s is None else None,
        },
        "result": result.to_dict(),
        "timings": {"load_s": result.load_s, "train_s": result.train_s, "windows_per_s": result.windows_per_s},
        "final_loss": result.final_loss,
        "parameters": {"trained": n_params, "encoder": enc_params},
        "versions": {
            "wearfm": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cuda": torch.version.cuda,
        },
    }
    (out / "run.json").write_text(json.dumps(run, indent=2, default=str) + "\n")
