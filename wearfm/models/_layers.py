"""Small layers shared by the encoders."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MaxPool1d", "AdaptiveAvgPool1d"]


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

    def extra_repr(self) -> str:  # noqa: D102
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class AdaptiveAvgPool1d(nn.Module):
    """``nn.AdaptiveAvgPool1d`` computed as a matmul with a (L, size) averaging matrix built from the input length.

    Same numbers as ``nn.AdaptiveAvgPool1d`` (bin i covers ``[floor(i L / size), ceil((i + 1) L / size))``), but
    both ONNX exporters handle it for any (dynamic) length, which the built-in does not.

    Args:
        size: output length.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> (B, C, size)."""
        length = x.shape[-1]
        i = torch.arange(self.size, device=x.device)
        start = torch.div(i * length, self.size, rounding_mode="floor")
        end = torch.div((i + 1) * length + self.size - 1, self.size, rounding_mode="floor")
        pos = torch.arange(length, device=x.device).unsqueeze(1)  # (L, 1)
        inside = ((pos >= start) & (pos < end)).to(x.dtype)  # (L, size)
        return x @ (inside / (end - start).to(x.dtype))

    def extra_repr(self) -> str:  # noqa: D102
        return f"size={self.size}"
