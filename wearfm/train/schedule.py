"""Learning-rate schedule: linear warmup, then cosine decay to a floor (as nanoGPT's ``get_lr``)."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["lr_factor", "warmup_cosine"]


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Linear warmup from ``1/warmup`` to 1 over ``warmup_steps``, then cosine from 1 down to ``min_ratio``
    at ``total_steps``; constant ``min_ratio`` afterwards.

    Examples:
        >>> lr_factor(0, 10, 100), lr_factor(9, 10, 100), lr_factor(100, 10, 100)
        (0.1, 1.0, 0.1)
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if step >= total_steps:
        return min_ratio
    span = max(total_steps - warmup_steps, 1)
    progress = (step - warmup_steps) / span
    return min_ratio + 0.5 * (1.0 - min_ratio) * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_ratio: float = 0.1
) -> LambdaLR:
    """A ``LambdaLR`` following :func:`lr_factor`; its ``state_dict`` is checkpointable with ``weights_only``."""
    warmup = min(warmup_steps, max(total_steps // 2, 0))  # a short run still decays
    return LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total_steps, min_ratio))
