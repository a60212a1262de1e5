"""ResNet1D: the pre-activation 1-D ResNet used as the RelCon encoder (Xu et al., ICLR 2025).

Layout (``/work/shared/methods/relcon.md`` section 4): a stem Conv1d(C->64, k7, s2, no padding) -> BN -> ReLU
-> MaxPool(k3, s2), then stages of pre-activation basic blocks (BN-ReLU-Conv, BN-ReLU-Conv, plus a 1x1
projection on the shortcut when the width changes), all with stride 1 and ``padding="same"``: 3 blocks of 64
channels (kernel 3), 4 of 128 (kernel 4), 6 of 256 (kernel 4); global average pooling gives the 256-d
embedding (no final BN/ReLU). With 3 input channels this is 3,635,840 parameters (3.64 M; convolutions
have biases, as PyTorch layers do by default).

Any input length ``T >= 11`` works (the stem needs 7 samples for its convolution and leaves 3 for the pool);
shorter inputs raise a ``ValueError`` naming the minimum. The same holds for ONNX export with a dynamic time
axis (``min_length`` is the lower bound to declare).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from wearfm.models._layers import MaxPool1d
from wearfm.models.registry import register_encoder

__all__ = ["ResNet1D", "PreActBlock1d", "resnet1d", "resnet1d_tiny"]


class _SameConv1d(nn.Conv1d):
    """Stride-1 Conv1d with PyTorch's ``padding="same"`` split (left = total // 2), padded explicitly.

    Explicit padding avoids the extra copy (and warning) PyTorch makes for even kernels and exports to ONNX
    as a plain Pad + Conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size)
        total = kernel_size - 1
        self._pad = (total // 2, total - total // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, L) -> (B, C_out, L)."""
        return super().forward(F.pad(x, self._pad))


class PreActBlock1d(nn.Module):
    """Pre-activation basic block: BN-ReLU-Conv, BN-ReLU-Conv, identity or 1x1-projected shortcut.

    Args:
        in_channels: input width.
        out_channels: output width.
        kernel_size: kernel of both convolutions (``padding="same"``, stride 1).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm1d(in_channels)
        self.conv1 = _SameConv1d(in_channels, out_channels, kernel_size)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.conv2 = _SameConv1d(out_channels, out_channels, kernel_size)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = (
            nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, L) -> (B, C_out, L)."""
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        y: torch.Tensor = out + self.shortcut(x)
        return y


class ResNet1D(nn.Module):
    """Pre-activation 1-D ResNet encoder mapping (B, C, T) to (B, widths[-1]).

    Args:
        in_channels: input channels (3 for acc, 6 for acc+gyr).
        stem_width: channels of the stem convolution.
        widths: channels of each stage.
        blocks: number of blocks in each stage.
        kernels: kernel size of each stage.

    Attributes:
        embed_dim: size of the embedding (``widths[-1]``).
        min_length: shortest input length accepted.

    Examples:
        >>> enc = ResNet1D(3, stem_width=8, widths=(8, 16), blocks=(1, 1), kernels=(3, 4))
        >>> enc.forward_features(torch.zeros(2, 3, 64)).shape
        torch.Size([2, 16])
    """

    min_length = 11

    def __init__(
        self,
        in_channels: int = 3,
        stem_width: int = 64,
        widths: Sequence[int] = (64, 128, 256),
        blocks: Sequence[int] = (3, 4, 6),
        kernels: Sequence[int] = (3, 4, 4),
    ) -> None:
        super().__init__()
        if not (len(widths) == len(blocks) == len(kernels)) or not widths:
            raise ValueError(
                f"ResNet1D: widths {tuple(widths)}, blocks {tuple(blocks)} and kernels {tuple(kernels)} "
                "must be non-empty and of equal length (one entry per stage)"
            )
        if in_channels < 1:
            raise ValueError(f"ResNet1D: in_channels must be >= 1, got {in_channels}")
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            nn.Conv1d(in_channels, stem_width, 7, stride=2),
            nn.BatchNorm1d(stem_width),
            nn.ReLU(),
            MaxPool1d(3, stride=2),
        )
        layers: list[nn.Module] = []
        c = stem_width
        for width, n, k in zip(widths, blocks, kernels, strict=True):
            for _ in range(n):
                layers.append(PreActBlock1d(c, width, k))
                c = width
        self.blocks = nn.Sequential(*layers)
        self.embed_dim = c

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) float32 -> (B, embed_dim)."""
        if x.shape[-1] < self.min_length:
            raise ValueError(
                f"ResNet1D needs inputs of at least {self.min_length} samples, got {x.shape[-1]}; "
                "use longer windows or a higher sample rate"
            )
        x = self.stem(x)  # (B, stem_width, ~T/4)
        x = self.blocks(x)  # (B, embed_dim, ~T/4)
        return x.mean(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x)


@register_encoder
def resnet1d(in_channels: int = 3, **kwargs: object) -> ResNet1D:
    """RelCon's encoder: stages of 3/4/6 blocks at 64/128/256 channels, 256-d, 3.64 M parameters (3 channels)."""
    return ResNet1D(in_channels=in_channels, **kwargs)  # type: ignore[arg-type]


@register_encoder
def resnet1d_small(in_channels: int = 3, **kwargs: object) -> ResNet1D:
    """A small, fast ResNet1D for CPU pretraining: widths 32/64/128, blocks 1/2/2, 128-d (306,368 parameters, acc)."""
    args: dict[str, object] = dict(stem_width=32, widths=(32, 64, 128), blocks=(1, 2, 2), kernels=(3, 4, 4))
    args.update(kwargs)
    return ResNet1D(in_channels=in_channels, **args)  # type: ignore[arg-type]


@register_encoder
def resnet1d_tiny(in_channels: int = 3, **kwargs: object) -> ResNet1D:
    """A tiny ResNet1D for tests: widths 8/16/32, one block per stage, 32-d."""
    args: dict[str, object] = dict(stem_width=8, widths=(8, 16, 32), blocks=(1, 1, 1), kernels=(3, 4, 4))
    args.update(kwargs)
    return ResNet1D(in_channels=in_channels, **args)  # type: ignore[arg-type]
