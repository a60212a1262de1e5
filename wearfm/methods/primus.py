"""PRIMUS: self-supervised, multimodal and nearest-neighbour supervision of an IMU encoder.

Das, Tang, Kawsar, Malekzadeh, "PRIMUS: Pretraining IMU Encoders with Multimodal Self-Supervision",
ICASSP 2025, https://arxiv.org/abs/2411.15127.

Encoder (default ``cnn_gru``) with two single-Linear 512-d heads: the unimodal head feeds ``L_SS`` (and the
IMU part of ``L_NN``), the multimodal head feeds ``L_MM`` and the video/text parts of ``L_NN``. The kept
embedding is the multimodal head's output (``EncoderSpec.head``), so probes and ONNX export see it.

Choices where the paper and its code differ (see ``docs``/README): the augmentation is the paper's
"scaling + time reversal" (``primus.augmentations``, names of :mod:`wearfm.data.augment`; the code used
scaling + segment permutation, available as ``("scaling", "segment_permutation")``), weights a = b = c = 1
(the paper), learnable temperatures from 0.1. Targets are the paired dataset's precomputed text/video vectors
(the paper: frozen CLIP4Clip embeddings).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch

from wearfm.config import PretrainConfig
from wearfm.data.augment import TRANSFORMS, Chain
from wearfm.errors import ConfigError
from wearfm.methods._paired import PairedMethod, make_adapters
from wearfm.methods.base import MethodContext, register_method
from wearfm.models.heads import ProjectionHead
from wearfm.models.saved import EncoderSpec, build_model
from wearfm.objectives.nn_queue import NNQueue
from wearfm.objectives.primus import PrimusLoss

__all__ = ["Primus", "primus_view"]

log = logging.getLogger(__name__)

#: Names PRIMUS's config accepted before it used :mod:`wearfm.data.augment`'s; still read, mapped to those.
_OLD_NAMES = {"scale": "scaling", "reverse": "time_reversal", "permute": "segment_permutation", "negate": "negation"}


def primus_view(names: tuple[str, ...], scale_sigma: float = 0.1) -> Chain:
    """The ``L_SS`` view ``h(x)`` of (B, C, T) windows, after Tang et al. 2020 (https://arxiv.org/abs/2011.11542).

    Every named transform of :mod:`wearfm.data.augment` is applied to every window, in order; ``scaling``
    draws one factor per window and channel from N(1, ``scale_sigma``), ``segment_permutation`` cuts at 4
    random points and shuffles the 5 pieces (the released code). The names PRIMUS used before (``scale``,
    ``reverse``, ``permute``, ``negate``) are mapped to these with a warning.

    Raises:
        ConfigError: an unknown or repeated name.

    Examples:
        >>> primus_view(("scaling", "time_reversal"), 0.1)(torch.zeros(2, 3, 50)).shape
        torch.Size([2, 3, 50])
    """
    old = [n for n in names if n in _OLD_NAMES]
    if old:
        log.warning(
            "primus.augmentations %s are old names; use %s",
            old,
            [_OLD_NAMES[n] for n in old],
        )
    names = tuple(_OLD_NAMES.get(n, n) for n in names)
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise ConfigError(f"unknown primus.augmentations {unknown}; choose from {sorted(TRANSFORMS)}")
    params = {"scaling": {"sigma": scale_sigma}} if "scaling" in names else None
    return Chain(names, params)


@register_method("primus")
class Primus(PairedMethod):
    """PRIMUS: ``a * L_SS + b * L_MM + c * L_NN`` on a paired dataset (``cfg.primus``).

    Args:
        cfg: run settings; ``cfg.primus`` holds weights, temperature, head size, queue, ``nn_by``,
            ``aligned_fraction`` and the augmentations.
        spec: the encoder (``cnn_gru`` unless ``--encoder`` names another).
        ctx: training context; ``ctx.dataset_path`` must be a paired dataset (`wearfm pair`).
    """

    def __init__(self, cfg: PretrainConfig, spec: EncoderSpec, ctx: MethodContext) -> None:
        pc = cfg.primus
        view = primus_view(tuple(pc.augmentations), pc.scale_sigma)  # checks the names even when unused
        if pc.nn_by not in ("video", "text", "imu"):
            raise ConfigError(f"primus.nn_by must be video, text or imu; got {pc.nn_by!r}")
        super().__init__(cfg, spec, ctx)
        self._setup_pairs(ctx, (), pc.modalities, pc.aligned_fraction)
        self.ss_view = view
        self.nn_by = pc.nn_by
        if self.nn_by != "imu" and self.nn_by not in self.targets:
            fallback = "text" if "text" in self.targets else "video"
            log.warning("primus.nn_by=%s but the dataset has no %s pairs; neighbours are found by %s similarity",
                        self.nn_by, self.nn_by, fallback)  # fmt: skip
            self.nn_by = fallback
        base = build_model(spec)  # to read the encoder's embedding size
        d = base.embed_dim
        head = {"in_dim": d, "hidden_dim": 0, "out_dim": pc.head_dim}
        self.spec = dataclasses.replace(spec, head=head)
        self.model = build_model(self.spec)  # encoder + multimodal head: the kept embedding
        self.model.encoder.load_state_dict(base.encoder.state_dict())
        self.ss_head = ProjectionHead(d, 0, pc.head_dim)
        self.adapters = make_adapters(pc.head_dim, self.target_dims)
        self.loss_fn = PrimusLoss(
            pc.weight_ss, pc.weight_mm, pc.weight_nn, pc.init_temperature, pc.learnable_temperature
        )
        self.queue = (
            NNQueue(pc.queue_size, {"imu": pc.head_dim, **self.target_dims}, nn_by=self.nn_by)
            if pc.weight_nn > 0
            else None
        )

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """One PRIMUS step on ``batch["x"]`` (B, C, T) with its paired vectors and masks."""
        pc = self.cfg.primus
        x = batch["x"]  # (B, C, T)
        b = x.shape[0]
        with torch.no_grad():
            x_aug = self.ss_view(x) if pc.weight_ss > 0 else x[:0]
        views = torch.cat([x, x_aug])  # (B or 2B, C, T)
        m = self.model
        assert m.head is not None
        feats = m.encoder.forward_features((views - m.mean) / m.std)  # type: ignore[operator]  # (B or 2B, d)
        ss = self.ss_head(feats).float()  # (., P)
        ss_a, ss_b = ss[:b], (ss[b:] if pc.weight_ss > 0 else None)
        mm = m.head(feats[:b]).float()  # (B, P): the kept embedding
        imu_to = {k: self.adapters[k](mm) for k in self.targets}
        targets, masks = self._batch_targets(batch)
        nn_kw: dict[str, Any] = {}
        if self.queue is not None:
            ids = batch["index"].long()
            if self.nn_by == "imu":
                query, qmask = ss_a.detach(), None
            else:
                query, qmask = targets[self.nn_by], masks[self.nn_by]
            idx, found = self.queue.lookup(query, ids, qmask)  # before enqueueing this batch
            embs, have = self.queue.gather(idx, found)
            nn_kw = {
                "nn_imu": embs["imu"],
                "nn_imu_mask": have["imu"],
                "nn_targets": {k: embs[k] for k in self.targets},
                "nn_masks": {k: have[k] for k in self.targets},
            }
            self.queue.push({"imu": ss_a.detach(), **targets}, ids, masks)
        loss, parts = self.loss_fn(ss_a, ss_b, imu_to, targets, masks, **nn_kw)
        extra: dict[str, Any] = {f"loss_{k}": v for k, v in parts.items()}
        extra["temperature_ss"] = self.loss_fn.ss.temperature.detach()
        extra["temperature_mm"] = self.loss_fn.mm.temperature.detach()
        return loss, extra
