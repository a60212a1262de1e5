"""The relative contrastive loss of RelCon (Xu et al., ICLR 2025, arXiv 2411.18822).

Each candidate in turn is the positive; every candidate farther from the anchor (by a frozen distance) is
a negative. Distances only rank the candidates; their magnitudes never enter the loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RelConLoss", "relative_contrastive_loss"]


def relative_contrastive_loss(
    anchor: torch.Tensor, candidates: torch.Tensor, distances: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """Vectorised RelCon loss (see :class:`RelConLoss`); always computed in float32.

    Args:
        anchor: (B, D) anchor embeddings.
        candidates: (B, K, D) candidate embeddings.
        distances: (B, K) distance of each candidate from its anchor (smaller = more similar).
        temperature: the softmax temperature tau.

    Returns:
        The scalar loss: per anchor, the sum over ranks r of ``logsumexp(s[r:]) - s[r]`` with ``s`` the
        similarities sorted by increasing distance, averaged over anchors.
    """
    with torch.autocast(device_type=anchor.device.type, enabled=False):
        a = F.normalize(anchor.float(), dim=-1)  # (B, D)
        c = F.normalize(candidates.float(), dim=-1)  # (B, K, D)
        sim = torch.einsum("bd,bkd->bk", a, c) / temperature  # (B, K)
        # Farthest first, so that a cumulative logsumexp over the row gives, at rank r, the positive r plus
        # every farther candidate. Stable sort: equal distances keep their column order (see tests).
        order = torch.argsort(distances.float(), dim=1, descending=True, stable=True)  # (B, K)
        s = torch.gather(sim, 1, order)  # (B, K), farthest ... nearest
        per_rank = torch.logcumsumexp(s, dim=1) - s  # (B, K); the farthest (column 0) contributes 0
        return per_rank.sum(dim=1).mean()


class RelConLoss(nn.Module):
    """Relative contrastive loss: InfoNCE with every candidate as positive against all farther ones.

    For an anchor with similarities ``s_j = cos(z_anchor, z_j) / tau`` and candidates sorted by increasing
    distance ``d_(1) <= ... <= d_(K)``::

        L_anchor = sum_{r=1}^{K-1} [ log sum_{m=r}^{K} exp(s_(m)) - s_(r) ]

    and the batch loss is the mean over anchors (summed over ranks, not averaged, as the reference code).
    The loss is evaluated in float32 even inside a bf16/fp16 autocast region (``exp(1/0.1) * 83`` would
    overflow fp16). Ties in distance are ordered by column index (stable sort).

    - [0] RelCon: Relative Contrastive Learning for a Motion Foundation Model for Wearable Data,
      Xu et al., ICLR 2025, https://arxiv.org/abs/2411.18822

    Args:
        temperature: tau; must be positive.

    Shape:
        - anchor: (B, D)
        - candidates: (B, K, D)
        - distances: (B, K)
        - output: scalar

    Examples:
        >>> loss_fn = RelConLoss(temperature=0.1)
        >>> loss = loss_fn(torch.randn(4, 8), torch.randn(4, 5, 8), torch.rand(4, 5))
        >>> loss.ndim
        0
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not temperature > 1e-8:
            raise ValueError(f"RelConLoss: temperature must be positive, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, anchor: torch.Tensor, candidates: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
        """Return the scalar loss (float32)."""
        if anchor.ndim != 2 or candidates.ndim != 3 or distances.ndim != 2:
            raise ValueError(
                "RelConLoss expects anchor (B, D), candidates (B, K, D), distances (B, K); got "
                f"{tuple(anchor.shape)}, {tuple(candidates.shape)}, {tuple(distances.shape)}"
            )
        b, k, d = candidates.shape
        if anchor.shape != (b, d) or distances.shape != (b, k):
            raise ValueError(
                f"RelConLoss: shapes do not agree: anchor {tuple(anchor.shape)}, candidates "
                f"{tuple(candidates.shape)}, distances {tuple(distances.shape)}"
            )
        return relative_contrastive_loss(anchor, candidates, distances, self.temperature)
