"""Sigmoid pairwise (SigLIP-style) loss with a learnable scale and bias.

- [0] SigLIP, Zhai et al., ICCV 2023, https://arxiv.org/abs/2303.15343
- [1] Cheshmi et al., "Improving OOD HAR via IMU-video cross-modal representation learning", MLHC 2025,
  https://arxiv.org/abs/2507.13482 (uses this loss between IMU and video embeddings)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wearfm.objectives._pairs import normalized_pairs

__all__ = ["SigLIPLoss"]


class SigLIPLoss(nn.Module):
    """Every (i, j) pair is a binary problem: matching (i == j) or not.

    ``logits = cos(a_i, b_j) * exp(t) + bias``; labels are +1 on the diagonal and -1 elsewhere;
    ``loss = -sum_ij log sigmoid(label_ij * logit_ij) / n`` with ``n`` the number of valid rows.
    ``t`` starts at ``log(10)`` and the bias at ``-10`` (SigLIP, and the IMU-video paper's code). Rows
    whose ``mask`` is False are dropped from both sides, so they get no gradient.

    Args:
        init_logit_scale: starting value of ``t`` (the scale is ``exp(t)``).
        init_logit_bias: starting bias.
        learnable: train ``t`` and the bias.

    Shape:
        - a: (B, D); b: (B, D); mask: (B,) bool or None.
        - output: scalar.

    Examples:
        >>> loss = SigLIPLoss()
        >>> float(loss(torch.randn(4, 8), torch.randn(4, 8))) > 0
        True
    """

    def __init__(
        self, init_logit_scale: float = 2.302585, init_logit_bias: float = -10.0, learnable: bool = True
    ) -> None:
        super().__init__()
        t = torch.tensor(float(init_logit_scale))
        b = torch.tensor(float(init_logit_bias))
        if learnable:
            self.logit_scale = nn.Parameter(t)
            self.logit_bias = nn.Parameter(b)
        else:
            self.register_buffer("logit_scale", t)
            self.register_buffer("logit_bias", b)

    def forward(self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return the sigmoid pairwise loss between ``a`` and ``b``."""
        x, y = normalized_pairs(a, b, mask)
        n = x.shape[0]
        if n == 0:
            return (a.sum() + b.sum()) * 0.0 + (self.logit_scale + self.logit_bias) * 0.0
        logits = x @ y.T * self.logit_scale.exp() + self.logit_bias  # (n, n)
        labels = 2.0 * torch.eye(n, device=logits.device, dtype=logits.dtype) - 1.0
        return -F.logsigmoid(labels * logits).sum() / n
