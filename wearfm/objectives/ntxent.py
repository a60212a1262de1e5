"""NT-Xent, the SimCLR contrastive loss over the 2B views of a batch, with a fixed or learnable temperature.

- [0] SimCLR, Chen et al., 2020, https://arxiv.org/abs/2002.05709 (eq. 1)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import distributed as dist
from torch import nn

__all__ = ["NTXentLoss"]


def _gather(x: torch.Tensor) -> torch.Tensor:
    """All-gather (B, D) rows from every rank, keeping gradients to the local rows."""
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


class NTXentLoss(nn.Module):
    """Normalised temperature-scaled cross-entropy over two views (SimCLR).

    The 2B embeddings are L2-normalised; for each view, its pair in the other batch is the positive and the
    remaining 2B - 2 views are the negatives (the view itself is excluded):
    ``l_i = -log exp(s_ip / t) / sum_{k != i} exp(s_ik / t)``, averaged over all 2B views. The loss is computed
    in float32 (safe under autocast).

    A learnable temperature is stored as its logarithm, so it stays positive. With ``gather_distributed=True``
    and an initialised process group, negatives come from the views of every rank (gradients flow to the local
    rows only); without one it behaves as on a single process.

    Args:
        temperature: scale ``t`` of the logits (SimCLR's best setting is around 0.1-0.5).
        learnable_temperature: train ``t`` (initialised at ``temperature``).
        gather_distributed: all-gather negatives across DDP ranks.

    Shape:
        - z0: (B, D); z1: (B, D), row i of both are two views of the same window.
        - output: scalar.

    Examples:
        >>> loss = NTXentLoss(temperature=0.1)
        >>> z0, z1 = torch.randn(8, 32), torch.randn(8, 32)
        >>> float(loss(z0, z1)) > 0
        True
    """

    def __init__(
        self, temperature: float = 0.1, learnable_temperature: bool = False, gather_distributed: bool = False
    ) -> None:
        super().__init__()
        if abs(temperature) < 1e-8:
            raise ValueError(f"Illegal temperature: abs({temperature}) < 1e-8")
        if learnable_temperature and temperature <= 0:
            raise ValueError(f"a learnable temperature must start positive, got {temperature}")
        if gather_distributed and not dist.is_available():
            raise ValueError("gather_distributed=True but torch.distributed is not available in this build")
        self.learnable_temperature = learnable_temperature
        self.gather_distributed = gather_distributed
        if learnable_temperature:
            self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature), dtype=torch.float32))
        else:
            self.register_buffer("_temperature", torch.tensor(float(temperature)))

    @property
    def temperature(self) -> torch.Tensor:
        """The current temperature (a scalar tensor)."""
        t = self.log_temperature.exp() if self.learnable_temperature else self._temperature
        assert isinstance(t, torch.Tensor)
        return t

    def forward(self, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
        """Return the NT-Xent loss of the pairs ``(z0[i], z1[i])``."""
        if z0.shape != z1.shape or z0.dim() != 2:
            raise ValueError(f"z0 and z1 must both be (B, D); got {tuple(z0.shape)} and {tuple(z1.shape)}")
        b = z0.shape[0]
        z0 = F.normalize(z0.float(), dim=1)
        z1 = F.normalize(z1.float(), dim=1)
        rank = 0
        if self.gather_distributed and dist.is_initialized() and dist.get_world_size() > 1:
            rank = dist.get_rank()
            all0, all1 = _gather(z0), _gather(z1)  # (W*B, D)
        else:
            all0, all1 = z0, z1
        n = all0.shape[0]
        local = torch.cat([z0, z1], dim=0)  # (2B, D): the anchors of this rank
        everyone = torch.cat([all0, all1], dim=0)  # (2N, D): all candidate views
        logits = local @ everyone.T / self.temperature.float()  # (2B, 2N)
        rows = torch.arange(2 * b, device=z0.device)
        own = torch.where(rows < b, rows + rank * b, rows - b + n + rank * b)  # column of each anchor itself
        pos = torch.where(rows < b, own + n, own - n)  # column of its other view
        logits = logits.masked_fill(F.one_hot(own, 2 * n).bool(), float("-inf"))
        return F.cross_entropy(logits, pos)
