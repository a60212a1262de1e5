"""The nearest-neighbour feature queue of PRIMUS: a fixed-size FIFO of cached (IMU, video, text) embeddings.

- [0] PRIMUS, Das et al., ICASSP 2025, https://arxiv.org/abs/2411.15127 (sec. II-C, eq. 3)
- [1] NNCLR, Dwibedi et al., ICCV 2021, https://arxiv.org/abs/2104.14548
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NNQueue"]

log = logging.getLogger(__name__)


class NNQueue(nn.Module):
    """A FIFO of ``size`` detached embeddings per modality, with per-entry presence masks and window ids.

    :meth:`lookup` finds, for each query, the entry of highest cosine similarity in the ``nn_by``
    modality (eq. 3), among entries that have that modality and that do not come from the same window
    (``ids``), so a window is never its own neighbour even when the queue outlives an epoch. Look up
    *before* :meth:`push`-ing the current batch, as PRIMUS does, so the batch cannot match itself either.
    The queue starts empty (PRIMUS initialises it with zeros, which would be picked as neighbours).

    The entries, their ids and the write position are persistent buffers: they are in ``state_dict()``, so a
    training checkpoint holds the queue and a resumed run continues with the same neighbours (exact resume).
    A state dict without them (a checkpoint written before the queue was saved) loads with an empty queue.

    Args:
        size: number of entries kept.
        dims: embedding size of each modality, e.g. ``{"imu": 512, "video": 512, "text": 384}``.
        nn_by: the modality whose similarity picks the neighbour (``video`` in the paper).
        tie_tol: entries within this cosine similarity of the best are equally near; one is drawn at
            random (torch's global generator). 0 keeps the first.

    Examples:
        >>> q = NNQueue(16, {"imu": 4, "text": 3}, nn_by="text")
        >>> q.push({"imu": torch.randn(2, 4), "text": torch.randn(2, 3)}, ids=torch.tensor([0, 1]))
        >>> idx, found = q.lookup(torch.randn(1, 3), ids=torch.tensor([0]))
        >>> int(idx[0]), bool(found[0])
        (1, True)
    """

    ids: torch.Tensor
    fill: torch.Tensor

    def __init__(self, size: int, dims: dict[str, int], nn_by: str = "video", tie_tol: float = 1e-6) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"queue size must be positive, got {size}")
        if nn_by not in dims:
            raise ValueError(f"nn_by={nn_by!r} is not one of the queued modalities {sorted(dims)}")
        self.size = int(size)
        self.nn_by = nn_by
        self.tie_tol = float(tie_tol)
        self.modalities = tuple(dims)
        for m, d in dims.items():
            self.register_buffer(f"emb_{m}", torch.zeros(size, d))
            self.register_buffer(f"has_{m}", torch.zeros(size, dtype=torch.bool))
        self.register_buffer("ids", torch.full((size,), -1, dtype=torch.long))
        # [write position, number of filled entries], kept on the CPU side of the state as plain ints too
        self.register_buffer("fill", torch.zeros(2, dtype=torch.long))
        self.ptr = 0
        self.count = 0

    def _load_from_state_dict(  # type: ignore[no-untyped-def]
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        mine = [prefix + n for n, _ in self.named_buffers(recurse=False)]
        absent = [k for k in mine if k not in state_dict]
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        if absent:  # an older checkpoint without the queue: start empty, as it did then
            for k in absent:
                if k in missing_keys:
                    missing_keys.remove(k)
            log.warning("checkpoint holds no nearest-neighbour queue: it restarts empty")
            self.ids.fill_(-1)
            for m in self.modalities:
                self.present(m).zero_()
            self.fill.zero_()
        self.ptr, self.count = int(self.fill[0]), int(self.fill[1])

    def embeddings(self, modality: str) -> torch.Tensor:
        """(size, D) stored embeddings of ``modality`` (rows beyond :attr:`count` are empty)."""
        return getattr(self, f"emb_{modality}")  # type: ignore[no-any-return]

    def present(self, modality: str) -> torch.Tensor:
        """(size,) bool: which entries hold ``modality``."""
        return getattr(self, f"has_{modality}")  # type: ignore[no-any-return]

    @torch.no_grad()
    def lookup(
        self, query: torch.Tensor, ids: torch.Tensor, query_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest entry of each query by cosine similarity in the ``nn_by`` modality.

        Args:
            query: (B, D) embeddings in the ``nn_by`` space.
            ids: (B,) window ids of the queries; entries with the same id are never returned.
            query_mask: (B,) bool, False where the query lacks the ``nn_by`` modality.

        Returns:
            (B,) long index into the queue and (B,) bool ``found`` (False: no usable neighbour).
        """
        b = query.shape[0]
        usable = self.present(self.nn_by).clone()  # (K,)
        if self.count == 0 or not bool(usable.any()):
            z = torch.zeros(b, dtype=torch.long, device=query.device)
            return z, torch.zeros(b, dtype=torch.bool, device=query.device)
        keys = F.normalize(self.embeddings(self.nn_by).float(), dim=1)
        sim = F.normalize(query.detach().float(), dim=1) @ keys.T  # (B, K)
        allowed = usable[None, :] & (self.ids[None, :] != ids.to(self.ids.device)[:, None])  # (B, K)
        sim = sim.masked_fill(~allowed, float("-inf"))
        best, idx = sim.max(dim=1)
        found = torch.isfinite(best)
        if self.tie_tol > 0 and bool(found.any()):
            # Equally near entries (e.g. identical label-derived narrations) are picked at random, not
            # always the first one, so the positives stay diverse.
            ties = (sim >= (best - self.tie_tol)[:, None]) & allowed
            ties[~found] = True
            idx = torch.where(found, torch.multinomial(ties.float(), 1).squeeze(1), idx)
        if query_mask is not None:
            found &= query_mask.to(torch.bool)
        return idx, found

    def gather(self, idx: torch.Tensor, found: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The neighbours' embeddings and presence masks of every modality: ``({m: (B, D)}, {m: (B,)})``."""
        embs = {m: self.embeddings(m)[idx] for m in self.modalities}
        masks = {m: self.present(m)[idx] & found for m in self.modalities}
        return embs, masks

    @torch.no_grad()
    def push(
        self, embs: dict[str, torch.Tensor], ids: torch.Tensor, masks: dict[str, torch.Tensor] | None = None
    ) -> None:
        """Enqueue a batch (oldest entries are overwritten); missing modalities are stored as absent."""
        b = int(ids.shape[0])
        if b == 0:
            return
        if b > self.size:  # keep the newest
            embs = {m: e[-self.size :] for m, e in embs.items()}
            masks = {m: k[-self.size :] for m, k in (masks or {}).items()}
            ids, b = ids[-self.size :], self.size
        pos = (self.ptr + torch.arange(b)) % self.size
        pos = pos.to(self.ids.device)
        for m in self.modalities:
            if m in embs:
                self.embeddings(m)[pos] = embs[m].detach().to(self.embeddings(m).dtype)
                has = masks[m].to(torch.bool) if masks and m in masks else torch.ones(b, dtype=torch.bool)
                self.present(m)[pos] = has.to(self.ids.device)
            else:
                self.present(m)[pos] = False
        self.ids[pos] = ids.to(self.ids.device).long()
        self.ptr = (self.ptr + b) % self.size
        self.count = min(self.count + b, self.size)
        self.fill[0], self.fill[1] = self.ptr, self.count
