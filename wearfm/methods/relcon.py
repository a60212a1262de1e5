"""RelCon (Xu et al., ICLR 2025, arXiv 2411.18822): a learnable motif distance, then relative contrast.

Two methods, run one after the other::

    wearfm pretrain DATA --method relcon-distance --out runs/dist                # stage 1
    wearfm pretrain DATA --method relcon --distance runs/dist --out runs/relcon   # stage 2

Stage 1 (``relcon-distance``) trains :class:`~wearfm.models.motif_distance.MotifDistance` to rebuild each
window from an augmented copy of itself (two distinct augmentations out of eight, 3-D rotation among them)
and saves ``distance.pt``. Stage 2 (``relcon``) freezes it, ranks the candidates of each anchor (the other
anchors of the batch plus ``within_candidates`` windows of the same subject and time bucket) and trains the
encoder with :class:`~wearfm.objectives.relcon.RelConLoss` on its pooled embedding (no projection head).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from wearfm.config import PretrainConfig
from wearfm.data.windows import WindowSet
from wearfm.errors import ConfigError, DataError
from wearfm.methods.base import Method, MethodContext, register_method
from wearfm.models.motif_distance import MotifDistance, load_distance_model, save_distance_model
from wearfm.models.saved import EncoderSpec, build_model
from wearfm.objectives.relcon import RelConLoss

__all__ = ["RelConDistance", "RelCon", "CandidateItems", "candidate_pairs"]

log = logging.getLogger(__name__)


# --- stage 1: the distance network ---------------------------------------------------------------------


@register_method("relcon-distance")
class RelConDistance(Method):
    """Stage 1: train the motif distance network to rebuild a window from an augmented copy of itself.

    Each window gets ``motif.augmentations_per_sample`` (2) distinct augmentations out of the eight of
    ``wearfm.data.augment.RELCON_AUGMENTATIONS`` (3-D rotation among them); the query is the
    original, the key/value the augmented copy; the loss is the summed squared reconstruction error per
    window, averaged over the batch. ``save_artifacts`` writes ``distance.pt`` (no encoder).

    Args:
        cfg: run settings (``cfg.motif``: architecture and attention normalisation).
        spec: the loop's encoder spec; only its channels are used.
        ctx: training context.
    """

    def __init__(self, cfg: PretrainConfig, spec: EncoderSpec, ctx: MethodContext) -> None:
        super().__init__(cfg, spec, ctx)
        from wearfm.data.augment import RELCON_AUGMENTATIONS, Augmenter

        m = cfg.motif
        self.net = MotifDistance(
            in_channels=len(spec.channels),
            embed_dim=m.embed_dim,
            kernel_size=m.kernel_size,
            double_receptive_field=m.double_receptive_field,
            attention=m.attention,
            dropout=m.dropout,
            center=m.center,
        )
        if len(spec.channels) % 3:
            raise ConfigError(
                f"relcon-distance augments 3-axis sensors (rotation, axis permutation); got channels "
                f"{list(spec.channels)}; use --channels acc (or acc+gyr)"
            )
        # Augmentations are drawn from torch's global generator: checkpoints restore it on resume.
        self.augment = Augmenter(RELCON_AUGMENTATIONS, n_select=m.augmentations_per_sample)

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Rebuild ``batch["x"]`` (B, C, T) from its augmented copy; summed squared error per window."""
        x = batch["x"]
        with torch.no_grad():
            x_aug = self.augment(x)  # (B, C, T)
        rec = self.net(x, x_aug)  # (B, C, T)
        loss = (rec.float() - self.net.prepare(x).float()).pow(2).sum(dim=(1, 2)).mean()
        return loss, {}

    def embedding_model(self) -> nn.Module:  # type: ignore[override]
        """The distance network: this stage keeps no encoder."""
        return self.net

    def save_artifacts(self, out_dir: Path, config: dict[str, Any]) -> dict[str, Path]:
        """Write ``distance.pt`` with the data contract (rate, window, channels) and architecture."""
        path = save_distance_model(
            self.net,
            out_dir,
            rate_hz=self.spec.rate_hz,
            window_samples=self.spec.window_samples,
            channels=self.spec.channels,
            config=config,
        )
        return {"distance": path}


# --- stage 2: the encoder --------------------------------------------------------------------------------


class CandidateItems(Dataset):
    """Items ``{"x": (C, T), "within": (Cw, C, T), "index": int}``: an anchor and same-group candidates.

    Anchors are the windows of groups (same subject + same hour by default) with at least ``Cw + 1``
    windows; the ``Cw`` candidates are drawn uniformly without replacement from the anchor's group (the
    anchor excluded), afresh at every access, from torch's global generator (seeded per worker by torch).

    Args:
        windows: the window set.
        within: number of same-group candidates ``Cw`` per anchor.
        group_by: ``hour``, ``day``, ``recording`` or ``subject``.

    Raises:
        DataError: no group has ``within + 1`` windows.
    """

    def __init__(self, windows: WindowSet, within: int, group_by: str = "hour") -> None:
        from wearfm.data.dataset import group_index

        if within < 1:
            raise ConfigError(f"relcon.within_candidates must be at least 1, got {within}")
        self.windows, self.within = windows, within
        groups, members = group_index(windows, by=group_by)
        sizes = np.array([len(m) for m in members], dtype=np.int64)
        keep = sizes >= within + 1
        if not keep.any():
            raise DataError(
                f"no subject has {within + 1} windows in one {group_by} (largest group: "
                f"{int(sizes.max()) if len(sizes) else 0} windows), so no anchor has {within} same-{group_by} "
                f"candidates; lower --set relcon.within_candidates, or pool more widely with "
                f"--set relcon.group_by=day|recording|subject"
            )
        if not keep.all():
            subj = windows.subject[np.concatenate([m[:1] for m in members])]
            gone = sorted({windows.subjects[s] for s in set(subj[~keep].tolist()) - set(subj[keep].tolist())})
            log.info(
                "relcon: dropped %d of %d %s groups (%d windows) with fewer than %d windows%s",
                int((~keep).sum()), len(members), group_by, int(sizes[~keep].sum()), within + 1,
                f"; subjects left out entirely: {gone}" if gone else "",
            )  # fmt: skip
        self.members = [m for m, k in zip(members, keep, strict=True) if k]
        self.anchors = np.concatenate(self.members)  # (N,) window index of each item
        self.group = np.concatenate([np.full(len(m), g) for g, m in enumerate(self.members)])

    def __len__(self) -> int:
        return len(self.anchors)

    def _pick(self, i: int) -> np.ndarray:
        pool = self.members[int(self.group[i])]
        anchor = self.anchors[i]
        others = pool[pool != anchor]
        sel = torch.randperm(len(others))[: self.within].numpy()
        return np.concatenate([[anchor], others[sel]])  # (1 + Cw,)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.__getitems__([i])[0]

    def __getitems__(self, idx: list[int]) -> list[dict[str, Any]]:
        picks = np.stack([self._pick(int(i)) for i in idx])  # (B, 1 + Cw)
        xb = self.windows.batch(picks.reshape(-1)).reshape(len(idx), 1 + self.within, *self.windows.get(0).shape)
        return [{"x": xb[k, 0], "within": xb[k, 1:], "index": int(i)} for k, i in enumerate(idx)]


def candidate_pairs(b: int, cw: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair indices of a RelCon batch, candidate columns in the loss's order.

    Distinct windows are laid out as ``[anchors (B), within candidates (B*Cw, anchor-major)]``. Anchor ``i``'s
    K = (B-1) + Cw candidates are the other anchors in increasing order, then its own Cw within candidates.

    Returns:
        ``anchor_idx`` (B*K,) and ``cand_idx`` (B, K), both int64.
    """
    ar = torch.arange(b, device=device)
    others = ar.repeat(b, 1)[~torch.eye(b, dtype=torch.bool, device=device)].view(b, b - 1)  # (B, B-1)
    within = b + torch.arange(b * cw, device=device).view(b, cw)  # (B, Cw)
    cand = torch.cat([others, within], dim=1)  # (B, K)
    return ar.repeat_interleave(cand.shape[1]), cand


@register_method("relcon")
class RelCon(Method):
    """Stage 2: train the encoder with the relative contrastive loss ranked by a frozen distance.

    Args:
        cfg: run settings (``cfg.relcon``: distance run folder, candidates, grouping, temperature, chunk).
        spec: the encoder to train (``resnet1d`` by default); its pooled output is the kept embedding.
        ctx: training context (the windows' channels and rate must match the distance model's).

    Raises:
        ConfigError: no distance model given, or one trained for other channels or another rate.
        CheckpointError: the distance model file is missing or unreadable.
    """

    min_batch_size = 2  # the other windows of the batch are the negatives

    def __init__(self, cfg: PretrainConfig, spec: EncoderSpec, ctx: MethodContext) -> None:
        super().__init__(cfg, spec, ctx)
        rc = cfg.relcon
        if not rc.distance:
            raise ConfigError(
                "relcon needs a trained distance model: run stage 1 first, `wearfm pretrain DATA --method "
                "relcon-distance --out runs/dist`, then pass it with --distance runs/dist"
            )
        if rc.distance_chunk < 1:
            raise ConfigError(f"relcon.distance_chunk must be at least 1, got {rc.distance_chunk}")
        net, dspec = load_distance_model(rc.distance, map_location=ctx.device)
        src = Path(rc.distance)
        if tuple(dspec["channels"]) != tuple(spec.channels):
            raise ConfigError(
                f"{src}: the distance model was trained on channels {list(dspec['channels'])} but this run uses "
                f"{list(spec.channels)}; pass the same --channels or train a distance model for these channels"
            )
        if abs(float(dspec["rate_hz"]) - float(spec.rate_hz)) > 1e-6:
            raise ConfigError(
                f"{src}: the distance model was trained at {dspec['rate_hz']:g} Hz but this run uses "
                f"{spec.rate_hz:g} Hz; pass --rate {dspec['rate_hz']:g} or train a distance model at this rate"
            )
        if int(dspec["window_samples"]) != int(spec.window_samples):
            log.warning(
                "relcon: distance model trained on %d-sample windows, this run uses %d",
                dspec["window_samples"], spec.window_samples,
            )  # fmt: skip
        # Kept out of the module tree: frozen, never in state_dict/optimiser, always in eval mode.
        self._distance: list[MotifDistance] = [net]
        self.model = build_model(spec)
        self.loss_fn = RelConLoss(temperature=rc.temperature)

    @property
    def distance_net(self) -> MotifDistance:
        """The frozen distance network."""
        return self._distance[0]

    def make_dataset(self, windows: WindowSet) -> Dataset:
        """Anchors with ``within_candidates`` same-subject, same-``group_by`` candidates each."""
        return CandidateItems(windows, self.cfg.relcon.within_candidates, self.cfg.relcon.group_by)

    @torch.no_grad()
    def distances(self, x: torch.Tensor, within: torch.Tensor) -> torch.Tensor:
        """(B, K) frozen distances of each anchor to its K = (B-1) + Cw candidates (see candidate_pairs)."""
        b, cw = within.shape[:2]
        net = self.distance_net
        if next(net.parameters()).device != x.device:
            net.to(x.device)
        cands = torch.cat([x, within.flatten(0, 1)])  # (B + B*Cw, C, T) distinct windows
        anchor_idx, cand_idx = candidate_pairs(b, cw, x.device)
        d = net.pair_distances(x, cands, anchor_idx, cand_idx.reshape(-1), chunk=self.cfg.relcon.distance_chunk)
        return d.view(b, -1)

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Anchors ``x`` (B, C, T) and ``within`` (B, Cw, C, T) -> relative contrastive loss."""
        x, within = batch["x"], batch["within"]
        b, cw = within.shape[:2]
        if b < 2:
            raise DataError("relcon needs at least 2 anchors per batch (the others are between-subject candidates)")
        d = self.distances(x, within)  # (B, K)
        z = self.model.forward_features(torch.cat([x, within.flatten(0, 1)]))  # (B + B*Cw, D)
        _, cand_idx = candidate_pairs(b, cw, x.device)
        loss = self.loss_fn(z[:b], z[cand_idx], d)  # (B, D), (B, K, D), (B, K)
        with torch.no_grad():  # collapse watch: equal similarities give log K!, and a spread of 0
            zn = F.normalize(z.detach().float(), dim=-1)
            spread = torch.einsum("bd,bkd->bk", zn[:b], zn[cand_idx]).std(dim=1).mean()
        return loss, {"loss_if_collapsed": math.lgamma(cand_idx.shape[1] + 1), "sim_spread": spread}  # type: ignore[dict-item]
