"""Symmetric InfoNCE between two aligned batches of embeddings, with a learnable temperature and row masks.

- [0] CLIP, Radford et al., 2021, https://arxiv.org/abs/2103.00020
- [1] PRIMUS, Das et al., ICASSP 2025, https://arxiv.org/abs/2411.15127 (eqs. 1, 2, 4)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wearfm.objectives._pairs import normalized_pairs

__all__ = ["InfoNCELoss"]


class InfoNCELoss(nn.Module):
    """InfoNCE with in-batch negatives: row ``i`` of ``query`` should match row ``i`` of ``key``.

    Both inputs are L2-normalised; ``logits = q @ k.T / temperature``. The symmetric loss is the mean of
    the query->key and key->query cross-entropies (CLIP). Rows whose ``mask`` is False take no part at
    all: they are neither anchors nor negatives, so a masked modality receives no gradient. The loss is
    averaged over valid rows (PRIMUS writes sums; a mean keeps the scale independent of batch size) and
    is exactly zero (still differentiable) when fewer than two rows are valid.

    The temperature is learnable by default, stored as its logarithm so it stays positive (PRIMUS's code
    keeps a raw, unclamped scalar initialised to 0.1; this is the same quantity with a safer
    parameterisation) and clamped to ``[min_temperature, 100]`` when used.

    Args:
        init_temperature: starting temperature (PRIMUS: 0.1).
        learnable: whether the temperature is trained.
        symmetric: average both directions (True) or use query->key only (as the paper's equations).
        min_temperature: lower bound applied in the forward pass.

    Shape:
        - query: (B, D); key: (B, D); mask: (B,) bool or None (all valid).
        - output: scalar.

    Examples:
        >>> loss = InfoNCELoss(init_temperature=0.1)
        >>> q, k = torch.randn(8, 16), torch.randn(8, 16)
        >>> float(loss(q, k)) > 0
        True
    """

    def __init__(
        self,
        init_temperature: float = 0.1,
        learnable: bool = True,
        symmetric: bool = True,
        min_temperature: float = 1e-3,
    ) -> None:
        super().__init__()
        if not init_temperature > min_temperature:
            raise ValueError(f"init_temperature must be > {min_temperature}, got {init_temperature}")
        log_t = torch.tensor(math.log(init_temperature), dtype=torch.float32)
        if learnable:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)
        self.symmetric = symmetric
        self.min_temperature = min_temperature

    @property
    def temperature(self) -> torch.Tensor:
        """The current temperature (a scalar tensor)."""
        return self.log_temperature.exp().clamp(self.min_temperature, 100.0)

    def forward(self, query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return the (masked) InfoNCE loss between ``query`` and ``key``."""
        q, k = normalized_pairs(query, key, mask, ("query", "key"))
        n = q.shape[0]
        if n < 2:
            # No negatives: nothing to contrast. Zero that keeps the graph (and the temperature) attached.
            return (query.sum() + key.sum()) * 0.0 + self.log_temperature * 0.0
        logits = q @ k.T / self.temperature  # (n, n)
        target = torch.arange(n, device=logits.device)
        loss = F.cross_entropy(logits, target)
        if self.symmetric:
            loss = 0.5 * (loss + F.cross_entropy(logits.T, target))
        return loss
