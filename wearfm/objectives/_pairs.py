"""Shared input handling of the paired (cross-modal) losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["normalized_pairs"]


def normalized_pairs(
    a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None, names: tuple[str, str] = ("a", "b")
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check (B, D) shapes, L2-normalise in fp32 and keep the rows where ``mask`` is true."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"{names[0]} and {names[1]} must both be (B, D); got {tuple(a.shape)} and {tuple(b.shape)}")
    x = F.normalize(a.float(), dim=1)
    y = F.normalize(b.float(), dim=1)
    if mask is not None:
        m = mask.to(torch.bool)
        x, y = x[m], y[m]
    return x, y
