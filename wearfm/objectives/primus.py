"""The PRIMUS objective: ``a * L_SS + b * L_MM + c * L_NN``, each a (masked) symmetric InfoNCE.

- [0] PRIMUS, Das, Tang, Kawsar, Malekzadeh, ICASSP 2025, https://arxiv.org/abs/2411.15127 (eqs. 1-5)
"""

from __future__ import annotations

import torch
from torch import nn

from wearfm.objectives.infonce import InfoNCELoss

__all__ = ["PrimusLoss"]


class PrimusLoss(nn.Module):
    """PRIMUS's multi-objective loss; takes embeddings only (the method wires encoder, heads and queue).

    - ``L_SS``: InfoNCE between the unimodal-head outputs of a window and of its augmented copy.
    - ``L_MM``: sum over target modalities (video, text) of InfoNCE between the IMU multimodal embedding
      and the frozen target embedding; rows lacking the target are masked (this is how PRIMUS trains
      with only a fraction of aligned data).
    - ``L_NN``: InfoNCE between the unimodal output and the neighbour's cached IMU embedding, plus, per
      target modality, between the multimodal embedding and the neighbour's cached target (eq. 4).

    Temperatures: one learnable temperature for ``L_SS`` and one shared by the ``L_MM`` targets (as the
    released code); ``L_NN`` reuses them. Weights default to 1, 1, 1 (the paper; the code's
    ``ssl_coeff`` weighting is reproduced by ``weight_ss = c, weight_mm = weight_nn = 1 - c`` only
    approximately, since its NN-SS term is weighted by ``c``).

    Args:
        weight_ss, weight_mm, weight_nn: ``a``, ``b`` and ``c``.
        init_temperature: starting value of both temperatures.
        learnable_temperature: train the temperatures.

    Shape:
        - ss_a, ss_b: (B, D_ss) unimodal-head outputs of the two views.
        - imu_to: ``{modality: (B, D_m)}``, the IMU multimodal embedding in each target's space.
        - targets / nn_targets: ``{modality: (B, D_m)}``; masks: ``{modality: (B,) bool}``.
        - nn_imu: (B, D_ss) neighbours' cached unimodal embeddings; nn_imu_mask: (B,) bool.
        - output: (scalar loss, ``{"ss", "mm", "nn"}`` detached parts).
    """

    def __init__(
        self,
        weight_ss: float = 1.0,
        weight_mm: float = 1.0,
        weight_nn: float = 1.0,
        init_temperature: float = 0.1,
        learnable_temperature: bool = True,
    ) -> None:
        super().__init__()
        for name, w in (("weight_ss", weight_ss), ("weight_mm", weight_mm), ("weight_nn", weight_nn)):
            if w < 0:
                raise ValueError(f"{name} must be >= 0, got {w}")
        self.weight_ss, self.weight_mm, self.weight_nn = float(weight_ss), float(weight_mm), float(weight_nn)
        self.ss = InfoNCELoss(init_temperature, learnable=learnable_temperature)
        self.mm = InfoNCELoss(init_temperature, learnable=learnable_temperature)

    def forward(
        self,
        ss_a: torch.Tensor,
        ss_b: torch.Tensor | None,
        imu_to: dict[str, torch.Tensor],
        targets: dict[str, torch.Tensor],
        target_masks: dict[str, torch.Tensor],
        nn_imu: torch.Tensor | None = None,
        nn_imu_mask: torch.Tensor | None = None,
        nn_targets: dict[str, torch.Tensor] | None = None,
        nn_masks: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the weighted total and its three parts."""
        zero = ss_a.sum() * 0.0
        l_ss = self.ss(ss_a, ss_b) if ss_b is not None and self.weight_ss > 0 else zero
        l_mm = zero
        if self.weight_mm > 0:
            for m, t in targets.items():
                l_mm = l_mm + self.mm(imu_to[m], t, target_masks.get(m))
        l_nn = zero
        if self.weight_nn > 0:
            if nn_imu is not None:
                l_nn = l_nn + self.ss(ss_a, nn_imu, nn_imu_mask)
            for m, t in (nn_targets or {}).items():
                l_nn = l_nn + self.mm(imu_to[m], t, (nn_masks or {}).get(m))
        total = self.weight_ss * l_ss + self.weight_mm * l_mm + self.weight_nn * l_nn
        return total, {"ss": l_ss.detach(), "mm": l_mm.detach(), "nn": l_nn.detach()}
