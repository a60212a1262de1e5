"""Small layers shared by the encoders."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MaxPool1d"]


class MaxPool1d(nn.Module):
    """``nn.MaxPool1d`` (no padding, floor mode) computed as a 2-D pool over a unit height.

    Same numbers as ``nn.MaxPool1d``, but ``torch.export`` keeps the time axis dynamic (its 1-D max-pool
    lowering specialises the length), so encoders using it export to ONNX with a dynamic time axis.

    Args:
        kernel_size: pooling window.
        stride: step (default ``kernel_size``).
    """

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> (B, C, (L - kernel_size) // stride + 1)."""
        return F.max_pool2d(x.unsqueeze(2), (1, self.kernel_size), (1, self.stride)).squeeze(2)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
