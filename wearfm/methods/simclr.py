"""SimCLR for IMU windows: two augmented views, encoder + projection head, NT-Xent.

Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020,
https://arxiv.org/abs/2002.05709; for wearables see Tang et al. 2020 (https://arxiv.org/abs/2011.11542).
The kept :class:`EmbeddingModel` is the encoder alone (the projection head is dropped after pretraining).
"""

from __future__ import annotations

from typing import Any

import torch

from wearfm.config import PretrainConfig
from wearfm.errors import ConfigError
from wearfm.methods.base import Method, MethodContext, register_method
from wearfm.models.heads import ProjectionHead
from wearfm.models.saved import EncoderSpec, build_model

__all__ = ["SimCLR"]


@register_method("simclr")
class SimCLR(Method):
    """Encoder -> ProjectionHead -> NT-Xent over two augmented views of each window.

    Augmentations are drawn on the training device from torch's global generator inside
    :meth:`training_step`, so a checkpoint's RNG state reproduces them exactly on resume.

    Args:
        cfg: the run settings (``cfg.simclr``: temperature, projection size, augmentations).
        spec: the encoder to train.
        ctx: training context.
    """

    min_batch_size = 2  # the other windows of the batch are the negatives

    def __init__(self, cfg: PretrainConfig, spec: EncoderSpec, ctx: MethodContext) -> None:
        super().__init__(cfg, spec, ctx)
        from wearfm.data.augment import Augmenter
        from wearfm.objectives.ntxent import NTXentLoss

        sc = cfg.simclr
        self.model = build_model(spec)
        d = self.model.embed_dim
        self.head = ProjectionHead(d, d, sc.projection_dim)
        if len(spec.channels) % 3 and {"rotation", "axis_permutation"} & set(sc.augmentations):
            raise ConfigError(
                f"simclr: rotation/axis_permutation need 3-axis channel groups, got {list(spec.channels)}; "
                "use --channels acc or acc+gyr, or --set simclr.augmentations=scaling,jitter,time_warp"
            )
        self.augment = Augmenter(sc.augmentations, p=sc.augment_p)
        # Under DDP the negatives come from every rank's views (SimCLR's global batch).
        self.loss_fn = NTXentLoss(
            temperature=sc.temperature,
            learnable_temperature=sc.learnable_temperature,
            gather_distributed=ctx.world_size > 1,
        )

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """One SimCLR step on ``batch["x"]`` (B, C, T) in g (and deg/s)."""
        x = batch["x"]  # (B, C, T)
        with torch.no_grad():
            views = torch.cat([self.augment(x), self.augment(x)])  # (2B, C, T)
        z = self.head(self.model.forward_features(views))  # (2B, P)
        z0, z1 = z.float().chunk(2)  # (B, P) each; the loss in fp32 under autocast
        loss = self.loss_fn(z0, z1)
        extra: dict[str, Any] = {}
        t = getattr(self.loss_fn, "temperature", None)
        if torch.is_tensor(t):
            extra["temperature"] = t.detach()  # converted by the loop at logging steps only
        return loss, extra  # type: ignore[return-value]
