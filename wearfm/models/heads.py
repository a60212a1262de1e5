"""Projection heads put on top of an encoder during pretraining (SimCLR, PRIMUS)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ProjectionHead"]


class ProjectionHead(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Linear, or a single Linear when ``hidden_dim == 0``.

    The two-layer form is SimCLR's projection head (Chen et al. 2020, https://arxiv.org/abs/2002.05709; BatchNorm
    as in lightly's ``SimCLRProjectionHead``). BatchNorm uses batch statistics in training and its running
    statistics in eval mode, so an eval-mode head is deterministic and exports to ONNX as a fixed affine map.
    Training mode needs a batch of at least 2.

    ``hidden_dim=0`` gives the single ``Linear(in_dim, out_dim)`` PRIMUS's released code uses for both of its
    heads: two ``ProjectionHead(512, 0, 512)`` add 2 x 262,656 = 525,312 parameters, which on ``cnn_gru`` with
    6 channels (850,892) gives the paper's 1,376,204 (~1.38 M).

    Args:
        in_dim: input size (the encoder's ``embed_dim``).
        hidden_dim: hidden size, or 0 for a single linear layer.
        out_dim: output size.
        batch_norm: put a BatchNorm1d after the first linear layer (two-layer form only).

    Shape:
        (B, in_dim) -> (B, out_dim)

    Examples:
        >>> head = ProjectionHead(256, 256, 128)
        >>> head(torch.zeros(4, 256)).shape
        torch.Size([4, 128])
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, batch_norm: bool = True) -> None:
        super().__init__()
        if in_dim < 1 or out_dim < 1 or hidden_dim < 0:
            raise ValueError(
                f"ProjectionHead: need in_dim >= 1, out_dim >= 1, hidden_dim >= 0; got {in_dim}, {hidden_dim}, "
                f"{out_dim}"
            )
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden_dim, out_dim
        layers: list[nn.Module]
        if hidden_dim == 0:
            layers = [nn.Linear(in_dim, out_dim)]
        else:
            layers = [nn.Linear(in_dim, hidden_dim, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers += [nn.ReLU(), nn.Linear(hidden_dim, out_dim)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, out_dim)."""
        return self.layers(x)  # type: ignore[no-any-return]
