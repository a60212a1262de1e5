"""Training-side access to a :class:`WindowSet`: batched item fetch, resumable sampling, same-group indexes.

Windows are index views into one contiguous (possibly memory-mapped) ``(C, S)`` array, so a DataLoader worker
only gathers ``B x C x T`` floats per batch. :class:`EpochSampler` is a ``DistributedSampler`` that can start in
the middle of an epoch (exact resume). :func:`group_index` groups windows by subject and time bucket, which
methods that sample same-subject, same-hour candidates (RelCon) reuse.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from wearfm.config import parse_duration
from wearfm.data.windows import WindowSet
from wearfm.errors import ConfigError

__all__ = ["WindowDataset", "EpochSampler", "group_index", "group_members", "parse_window", "GROUP_BY"]

GROUP_BY = ("hour", "day", "recording", "subject")
_NS_PER = {"hour": 3600 * 10**9, "day": 86400 * 10**9}


class WindowDataset(Dataset):
    """Items ``{"x": (C, T) float32, "index": int}``; ``__getitems__`` fetches a whole batch in one gather.

    Args:
        windows: the window set (its ``data`` may be a read-only memory map shared by workers).

    Examples:
        >>> ds = WindowDataset(ws)  # doctest: +SKIP
        >>> ds[0]["x"].shape  # doctest: +SKIP
        (3, 300)
    """

    def __init__(self, windows: WindowSet) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": np.array(self.windows.get(int(i)), dtype=np.float32), "index": int(i)}

    def __getitems__(self, idx: list[int]) -> list[dict[str, Any]]:
        # torch's fetcher calls this with the whole batch of indices: one vectorised gather instead of B.
        if type(self).__getitem__ is not WindowDataset.__getitem__:  # a subclass changed the items: honour it
            return [self[int(i)] for i in idx]
        xb = self.windows.batch(np.asarray(idx, dtype=np.int64))  # (B, C, T)
        return [{"x": xb[k], "index": int(i)} for k, i in enumerate(idx)]


class EpochSampler(Sampler[int]):
    """Shuffled (or ordered) indices for one rank, reproducible from ``(seed, epoch)``, resumable mid-epoch.

    Like ``torch.utils.data.DistributedSampler``: each epoch's permutation is drawn from a generator seeded
    with ``seed + epoch``, padded (by repeating) to a multiple of ``world_size`` and split ``rank::world_size``.
    With ``drop_last`` the per-rank length is cut to whole batches of ``batch_size``. :meth:`set_position`
    makes the next iteration start at a given item of a given epoch (what a checkpoint stores).

    Args:
        n: number of items in the dataset.
        batch_size: per-rank batch size (only used to drop the last partial batch).
        seed: base seed of the permutations.
        shuffle: draw a new permutation each epoch (else 0..n-1).
        rank: this process's rank.
        world_size: number of processes.
        drop_last: drop the last partial batch on each rank.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ) -> None:
        if n < 1:
            raise ConfigError("cannot sample from an empty dataset")
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.epoch = 0
        self.start = 0
        per_rank = math.ceil(n / world_size)
        self.per_rank = (per_rank // batch_size) * batch_size if drop_last else per_rank

    @property
    def batches_per_epoch(self) -> int:
        """Number of batches each rank draws per epoch."""
        return self.per_rank // self.batch_size if self.drop_last else math.ceil(self.per_rank / self.batch_size)

    def set_position(self, epoch: int, start: int = 0) -> None:
        """Make the next ``__iter__`` yield epoch ``epoch`` from its ``start``-th (per-rank) item."""
        self.epoch, self.start = int(epoch), int(start)

    def set_epoch(self, epoch: int) -> None:
        """DistributedSampler-compatible alias of ``set_position(epoch, 0)``."""
        self.set_position(epoch, 0)

    def indices(self, epoch: int) -> np.ndarray:
        """This rank's full index order for ``epoch``."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(self.n, generator=g).numpy()
        else:
            order = np.arange(self.n)
        total = math.ceil(self.n / self.world_size) * self.world_size
        if total > self.n:  # pad by repeating so every rank gets the same number of items
            order = np.concatenate([order, np.resize(order, total - self.n)])
        return order[self.rank : total : self.world_size][: self.per_rank]

    def __iter__(self) -> Iterator[int]:
        idx = self.indices(self.epoch)[self.start :]
        # yield from the int64 array in blocks: no Python int per window held for the whole epoch
        for lo in range(0, len(idx), 65536):
            yield from idx[lo : lo + 65536].tolist()

    def __len__(self) -> int:
        return max(self.per_rank - self.start, 0)


def group_index(windows: WindowSet, by: str = "hour") -> tuple[np.ndarray, list[np.ndarray]]:
    """Group windows that share a subject and a time bucket (or a recording, or only a subject).

    For large window sets prefer :func:`group_members`, which returns the same groups as two flat arrays
    instead of one array object per group.

    Args:
        windows: the window set.
        by: ``hour`` (subject + hour of ``start_ns``), ``day`` (subject + day), ``recording`` or ``subject``.

    Returns:
        ``groups``: (W,) int64 group id of each window, ids 0..G-1 in order of first appearance in sorted
        keys; ``members``: list of G int64 arrays, the (sorted) window indices of each group.

    Examples:
        >>> groups, members = group_index(ws, by="hour")  # doctest: +SKIP
        >>> all(groups[m].tolist() == [g] * len(m) for g, m in enumerate(members))  # doctest: +SKIP
        True
    """
    groups, order, starts = group_members(windows, by)
    return groups, [order[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]


def group_members(windows: WindowSet, by: str = "hour") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`group_index` as flat arrays: 16 bytes per window and 8 per group, no per-group objects.

    Returns:
        ``groups``: (W,) int64 group id of each window (as in :func:`group_index`); ``order``: (W,) int64 window
        indices sorted by group (ascending within a group); ``starts``: (G+1,) int64, group ``g``'s members are
        ``order[starts[g]:starts[g + 1]]``.

    Examples:
        >>> groups, order, starts = group_members(ws, by="hour")  # doctest: +SKIP
        >>> order[starts[0] : starts[1]]  # doctest: +SKIP
        array([0, 1, 2])
    """
    if by not in GROUP_BY:
        raise ConfigError(f"unknown grouping {by!r}; choose from {list(GROUP_BY)}")
    w = len(windows)
    if w == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64)
    if by == "recording":
        order = np.argsort(np.asarray(windows.recording), kind="stable")
        key_sorted = [np.asarray(windows.recording)[order]]
    elif by == "subject":
        order = np.argsort(np.asarray(windows.subject), kind="stable")
        key_sorted = [np.asarray(windows.subject)[order]]
    else:
        subject = np.asarray(windows.subject, dtype=np.int64)
        bucket = np.floor_divide(np.asarray(windows.start_ns, dtype=np.int64), _NS_PER[by])
        order = np.lexsort((bucket, subject))  # stable: ties keep window order
        key_sorted = [subject[order], bucket[order]]
    new = np.zeros(w, dtype=bool)
    new[0] = True
    for k in key_sorted:
        new[1:] |= k[1:] != k[:-1]
    gid_sorted = np.cumsum(new, dtype=np.int64) - 1  # (W,) group of each sorted window
    groups = np.empty(w, dtype=np.int64)
    groups[order] = gid_sorted
    starts = np.concatenate([np.flatnonzero(new), [w]]).astype(np.int64)
    return groups, order.astype(np.int64), starts


def parse_window(spec: str | float, rate_hz: float) -> int:
    """Window length in samples at ``rate_hz`` from a duration as ``--window`` takes it (see ``parse_duration``).

    Examples:
        >>> parse_window("10s", 30), parse_window("2.56s", 100), parse_window("10", 30), parse_window("256samples", 30)
        (300, 256, 300, 256)
    """
    n = round(parse_duration(spec, rate_hz) * rate_hz)
    if n < 1:
        raise ConfigError(f"window {spec!r} is shorter than one sample at {rate_hz:g} Hz")
    return n
