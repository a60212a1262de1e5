"""IMU2CLIP: align an IMU encoder with frozen text/video embeddings by symmetric InfoNCE (L_MM only).

Moon et al., "IMU2CLIP: Multimodal Contrastive Learning for IMU Motion Sensors from Egocentric Videos and
Text", 2022, https://arxiv.org/abs/2210.14395. The baseline PRIMUS compares against.

No projection head: the encoder's output is the embedding compared with the targets and the one kept
(as IMU2CLIP, whose 512-d GRU output lives directly in CLIP space). Targets of another size than the encoder
(e.g. 384-d MiniLM text) go through a bias-free linear map that is trained and not kept; with 512-d targets
on ``cnn_gru`` there is none. Losses are summed over target modalities, one learnable temperature (from
``primus.init_temperature``), windows lacking a modality are masked.
"""

from __future__ import annotations

from typing import Any

import torch

from wearfm.config import PretrainConfig
from wearfm.methods._paired import PairedMethod, make_adapters
from wearfm.methods.base import MethodContext, register_method
from wearfm.models.saved import EncoderSpec, build_model
from wearfm.objectives.infonce import InfoNCELoss

__all__ = ["IMU2CLIP"]


@register_method("imu2clip")
class IMU2CLIP(PairedMethod):
    """Encoder output vs. each paired target, symmetric InfoNCE, summed over modalities.

    Args:
        cfg: run settings (``cfg.primus``: ``init_temperature``, ``learnable_temperature``, ``modalities``,
            ``aligned_fraction``).
        spec: the encoder (``cnn_gru`` unless ``--encoder`` names another).
        ctx: training context on a paired dataset.
    """

    def __init__(self, cfg: PretrainConfig, spec: EncoderSpec, ctx: MethodContext) -> None:
        super().__init__(cfg, spec, ctx)
        pc = cfg.primus
        self._setup_pairs(ctx, (), pc.modalities, pc.aligned_fraction)
        self.model = build_model(spec)
        self.spec = self.model.spec
        self.adapters = make_adapters(self.model.embed_dim, self.target_dims)
        self.loss_fn = InfoNCELoss(pc.init_temperature, learnable=pc.learnable_temperature)

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """One IMU2CLIP step: ``sum_m InfoNCE(adapter_m(f(x)), target_m)`` over valid rows."""
        z = self.model.forward_features(batch["x"]).float()  # (B, D)
        targets, masks = self._batch_targets(batch)
        loss = z.sum() * 0.0
        extra: dict[str, Any] = {}
        for m in self.targets:
            part = self.loss_fn(self.adapters[m](z), targets[m], masks[m])
            extra[f"loss_{m}"] = part.detach()
            loss = loss + part
        extra["temperature"] = self.loss_fn.temperature.detach()
        return loss, extra
