"""Per-epoch statistics (count, mean, SD, range per axis) over fixed time epochs, accumulated in chunks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EpochStats", "EpochAccumulator", "epoch_stats"]


@dataclass(frozen=True)
class EpochStats:
    """Statistics of consecutive epochs ``[origin + k * epoch, origin + (k + 1) * epoch)``.

    Attributes:
        origin_ns: time of the first sample (epochs are aligned to it, as actipy's ``origin='start'``).
        epoch_ns: epoch length in ns.
        count: (E,) samples per epoch (0 for an epoch without samples).
        mean: (E, C) per-axis mean; NaN where ``count`` is 0.
        sd: (E, C) per-axis sample standard deviation; NaN where ``count`` < 2.
        range: (E, C) per-axis max - min; NaN where ``count`` is 0.
    """

    origin_ns: int
    epoch_ns: int
    count: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    range: np.ndarray

    def __len__(self) -> int:
        return len(self.count)

    def full(self, fraction: float = 0.5) -> np.ndarray:
        """(E,) bool: epochs holding at least ``fraction`` of the typical (median) number of samples."""
        present = self.count[self.count > 0]
        if not len(present):
            return np.zeros(len(self.count), dtype=bool)
        return np.asarray(self.count >= max(2.0, fraction * float(np.median(present))))


class EpochAccumulator:
    """Accumulate :class:`EpochStats` from time-ordered chunks, in memory proportional to the number of epochs.

    Examples:
        >>> acc = EpochAccumulator(origin_ns=0, epoch_s=10.0)
        >>> t = np.arange(0, 30_000_000_000, 10_000_000)  # 30 s at 100 Hz
        >>> acc.add(t, np.ones((len(t), 3)))
        >>> acc.result().count.tolist()
        [1000, 1000, 1000]
    """

    def __init__(self, origin_ns: int, epoch_s: float = 10.0, channels: int = 3) -> None:
        if epoch_s <= 0:
            raise ValueError(f"epoch_s must be positive, got {epoch_s}")
        self.origin_ns = int(origin_ns)
        self.epoch_ns = round(epoch_s * 1e9)
        self.channels = channels
        self._n = 0
        self._count = np.zeros(0, np.int64)
        self._sum = np.zeros((0, channels))
        self._sumsq = np.zeros((0, channels))
        self._min = np.zeros((0, channels))
        self._max = np.zeros((0, channels))

    def _grow(self, n: int) -> None:
        if n <= len(self._count):
            self._n = max(self._n, n)
            return
        cap = max(n, 2 * len(self._count), 64)
        extra = cap - len(self._count)
        c = self.channels
        self._count = np.concatenate([self._count, np.zeros(extra, np.int64)])
        self._sum = np.concatenate([self._sum, np.zeros((extra, c))])
        self._sumsq = np.concatenate([self._sumsq, np.zeros((extra, c))])
        self._min = np.concatenate([self._min, np.full((extra, c), np.inf)])
        self._max = np.concatenate([self._max, np.full((extra, c), -np.inf)])
        self._n = n

    def add(self, t_ns: np.ndarray, values: np.ndarray) -> None:
        """Add samples at increasing times ``t_ns`` (N,) with ``values`` (N, C); chunks must follow in time."""
        if len(t_ns) == 0:
            return
        epoch = (np.asarray(t_ns, np.int64) - self.origin_ns) // self.epoch_ns
        if epoch[0] < 0:
            raise ValueError("samples before the accumulator's origin")
        v = np.asarray(values, dtype=np.float64).reshape(len(epoch), self.channels)
        starts = np.flatnonzero(np.diff(epoch, prepend=epoch[0] - 1))  # first sample of each epoch present
        ids = epoch[starts]
        self._grow(int(ids[-1]) + 1)
        self._count[ids] += np.diff(np.append(starts, len(epoch)))
        self._sum[ids] += np.add.reduceat(v, starts, axis=0)
        self._sumsq[ids] += np.add.reduceat(v * v, starts, axis=0)
        self._min[ids] = np.minimum(self._min[ids], np.minimum.reduceat(v, starts, axis=0))
        self._max[ids] = np.maximum(self._max[ids], np.maximum.reduceat(v, starts, axis=0))

    def result(self) -> EpochStats:
        """The statistics of every epoch from the origin to the last sample added."""
        n = self._n
        count = self._count[:n].copy()
        cnt = count[:, None].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, self._sum[:n] / cnt, np.nan)
            var = np.where(cnt > 1, np.maximum(self._sumsq[:n] - self._sum[:n] * mean, 0.0) / (cnt - 1), np.nan)
        rng = np.where(cnt > 0, self._max[:n] - self._min[:n], np.nan)
        return EpochStats(self.origin_ns, self.epoch_ns, count, mean, np.sqrt(var), rng)


def epoch_stats(xyz: np.ndarray, rate_hz: float, epoch_s: float = 10.0, t_ns: np.ndarray | None = None) -> EpochStats:
    """:class:`EpochStats` of a whole (N, C) array, timed by ``t_ns`` or by ``rate_hz`` from 0.

    Examples:
        >>> epoch_stats(np.zeros((2000, 3)), rate_hz=100.0).count.tolist()
        [1000, 1000]
    """
    xyz = np.asarray(xyz)
    if t_ns is None:
        t_ns = np.round(np.arange(len(xyz)) * (1e9 / rate_hz)).astype(np.int64)
    acc = EpochAccumulator(int(t_ns[0]) if len(t_ns) else 0, epoch_s, xyz.shape[1] if xyz.ndim == 2 else 1)
    acc.add(t_ns, xyz)
    return acc.result()
