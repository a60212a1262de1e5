"""IMU-video cross-modal pretraining with a sigmoid (SigLIP-style) pairwise loss.

Cheshmi et al., "Improving Out-of-distribution Human Activity Recognition via IMU-Video Cross-modal
Representation Learning", MLHC 2025, https://arxiv.org/abs/2507.13482.

Faithful: a PatchTST-style IMU transformer trained from scratch (``patchtst`` unless ``--encoder`` names
another; any registered encoder works), one projection head per modality
(Linear -> GELU -> Linear -> dropout, residual from the first Linear, LayerNorm), and the sigmoid pairwise
loss with learnable scale (from log 10) and bias (from -10). The kept embedding is the IMU encoder's output
(the paper probes the encoder, not the projection).

Scope: the paper fine-tunes a VideoMAE transformer end to end on raw frames. wearfm takes precomputed video
features (one vector per window: the overlap-weighted mean of the per-frame/segment vectors of
``wearfm pair --video``) and trains only the small video projection head over them. No text modality.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from wearfm.config import PretrainConfig
from wearfm.methods._paired import PairedMethod
from wearfm.methods.base import MethodContext, register_method
from wearfm.models.saved import EncoderSpec, build_model
from wearfm.objectives.siglip import SigLIPLoss

__all__ = ["IMUVideo", "ResidualProjection"]

log = logging.getLogger(__name__)


class ResidualProjection(nn.Module):
    """The IMU-video paper's projection head: ``LayerNorm(h + Dropout(Linear(GELU(h))))``, ``h = Linear(x)``.

    Shape:
        (B, in_dim) -> (B, out_dim)
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)
        self.fc = nn.Linear(out_dim, out_dim)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, out_dim)."""
        h = self.proj(x)
        return self.norm(h + self.drop(self.fc(nn.functional.gelu(h))))  # type: ignore[no-any-return]


@register_method("imu-video")
class IMUVideo(PairedMethod):
    """IMU encoder + IMU head vs. video head over precomputed video features, SigLIP loss.

    Args:
        cfg: run settings (``cfg.imu_video``: projection size, dropout, initial scale and bias;
            ``cfg.primus.aligned_fraction`` also applies).
        spec: the IMU encoder.
        ctx: training context on a dataset with video pairs (`wearfm pair --video`).

    Raises:
        DataError: the dataset has no video pairs.
    """

    default_encoder = "patchtst"

    def __init__(self, cfg: PretrainConfig, spec: EncoderSpec, ctx: MethodContext) -> None:
        super().__init__(cfg, spec, ctx)
        vc = cfg.imu_video
        self._setup_pairs(ctx, ("video",), ("video",), cfg.primus.aligned_fraction)
        self.model = build_model(spec)
        self.spec = self.model.spec
        self.imu_head = ResidualProjection(self.model.embed_dim, vc.projection_dim, vc.dropout)
        self.video_head = ResidualProjection(self.target_dims["video"], vc.projection_dim, vc.dropout)
        self.loss_fn = SigLIPLoss(vc.init_logit_scale, vc.init_logit_bias)

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """One step: SigLIP between projected IMU and projected video of the windows that have video."""
        z = self.imu_head(self.model.forward_features(batch["x"])).float()  # (B, P)
        targets, masks = self._batch_targets(batch)
        v = self.video_head(targets["video"]).float()  # (B, P)
        loss = self.loss_fn(z, v, masks["video"])
        return loss, {"logit_scale": self.loss_fn.logit_scale.detach(), "logit_bias": self.loss_fn.logit_bias.detach()}
