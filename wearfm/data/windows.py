"""Fixed-length windows over a canonical dataset: one contiguous array, windows as index views."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from wearfm.data.store import BuildGroup, StoreIndex, open_store, read_recording
from wearfm.errors import ConfigError, DataError
from wearfm.io.manifest import RecordingEntry, lacking_channels, list_recordings
from wearfm.io.schema import CHANNEL_GROUPS, resolve_channels

__all__ = ["WindowSet", "load_windows", "channel_stats", "channel_spec", "worn_mask"]

log = logging.getLogger(__name__)


@dataclass
class WindowSet:
    """Windows of ``window`` samples over ``data``, a (C, S) float32 array of all resampled segments.

    Window ``i`` is ``data[:, offset[i] : offset[i] + window]``; windows never cross a gap because
    segments are laid end to end and windows are cut within each segment.

    Attributes:
        data: (C, S) float32, possibly a read-only memory map (a :class:`~wearfm.data.store.ShardedArray` over
            several when the store has more than one shard).
        channels: names of the C channels, in order.
        rate_hz: sample rate of ``data``.
        window: window length in samples.
        offset: (W,) int64 start of each window in ``data``.
        recording: (W,) int32 index into ``entries``.
        subject: (W,) int32 index into ``subjects``.
        start_ns: (W,) int64 time of each window's first sample.
        label: (W,) int32 index into ``label_names``; -1 when no label covers ``label_purity`` of it.
        nonwear_skipped: windows left out because they overlap non-wear marked at ingest.
        sample_stats: per-channel (mean, std) of all samples of ``data``, float64, when the store computed them
            while building (so :func:`channel_stats` need not read the whole memory map).
        nonwear_spans: (N, 3) int64 ``(recording, start_ns, end_ns)`` of the non-wear marked at ingest.
    """

    data: np.ndarray
    channels: tuple[str, ...]
    rate_hz: float
    window: int
    offset: np.ndarray
    recording: np.ndarray
    subject: np.ndarray
    start_ns: np.ndarray
    label: np.ndarray
    entries: list[RecordingEntry]
    subjects: list[str]
    label_names: list[str]
    nonwear_skipped: int = 0
    sample_stats: tuple[np.ndarray, np.ndarray] | None = None
    nonwear_spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))

    def __len__(self) -> int:
        return len(self.offset)

    def get(self, i: int) -> np.ndarray:
        """Window ``i`` as a (C, T) view."""
        o = int(self.offset[i])
        view: np.ndarray = self.data[:, o : o + self.window]
        return view

    def batch(self, idx: np.ndarray | list[int]) -> np.ndarray:
        """Windows ``idx`` stacked into a new (B, C, T) float32 array."""
        idx = np.asarray(idx, dtype=np.int64)
        cols = self.offset[idx][:, None] + np.arange(self.window)[None, :]  # (B, T)
        return np.ascontiguousarray(self.data[:, cols].transpose(1, 0, 2), dtype=np.float32)

    def subset(self, mask: np.ndarray) -> WindowSet:
        """A WindowSet of the windows selected by a boolean mask or index array (data is shared)."""
        sel = np.asarray(mask)
        return replace(
            self,
            offset=self.offset[sel],
            recording=self.recording[sel],
            subject=self.subject[sel],
            start_ns=self.start_ns[sel],
            label=self.label[sel],
        )

    def subject_names(self) -> np.ndarray:
        """(W,) array of subject identifiers (strings)."""
        names: np.ndarray = np.asarray(self.subjects, dtype=object)[self.subject]
        return names

    def label_strings(self) -> np.ndarray:
        """(W,) array of label strings, None where unlabelled."""
        names = np.asarray(list(self.label_names) + [None], dtype=object)
        return names[np.where(self.label < 0, len(self.label_names), self.label)]


def channel_stats(ws: WindowSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over all samples of ``ws.data`` (float32, (C,))."""
    if ws.sample_stats is not None:
        mean, std = ws.sample_stats
        return np.asarray(mean, np.float32), np.maximum(std, 1e-6).astype(np.float32)
    mean = ws.data.mean(axis=1, dtype=np.float64)
    std = ws.data.std(axis=1, dtype=np.float64)
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def _lacking_message(entries: list[RecordingEntry], missing: list[RecordingEntry], cols: tuple[str, ...]) -> str:
    """Name the recordings that lack ``cols`` (with what each has) and the channels every recording shares."""
    shown = "; ".join(
        f"{e.path} (subject {e.subject}: {channel_spec(e.channels) or 'no channels'})" for e in missing[:5]
    )
    more = f"; and {len(missing) - 5} more" if len(missing) > 5 else ""
    shared = [c for c in cols if all(c in e.channels for e in entries)] or [
        c for c in entries[0].channels if all(c in e.channels for e in entries)
    ]
    advice = (
        f"every recording has {channel_spec(tuple(shared))}: use --channels {channel_spec(tuple(shared))}, or "
        "leave those recordings out of the dataset"
        if shared
        else "no channel is in every recording; leave those recordings out of the dataset"
    )
    return (
        f"{len(missing)} of {len(entries)} recording(s) lack channels {channel_spec(cols)} "
        f"({', '.join(c for c in cols)}): {shown}{more}; {advice}"
    )


def channel_spec(cols: tuple[str, ...]) -> str:
    """The shortest ``--channels`` value for ``cols``: 'acc', 'gyr', 'acc+gyr', else a comma list."""
    for name, group in CHANNEL_GROUPS.items():
        if set(cols) == set(group):
            return name
    return ",".join(cols)


def load_windows(
    dataset: str | Path,
    *,
    rate_hz: float,
    window: int,
    channels: str | tuple[str, ...] = "acc",
    stride: int | None = None,
    label_purity: float = 1.0,
    max_gap_s: float = 1.0,
    cache_dir: str | Path | None = None,
    nonwear: str = "skip",
    group: BuildGroup | None = None,
    shard_mb: float | None = None,
    time_range: tuple[int, int] | None = None,
) -> WindowSet:
    """Load a dataset (folder or one file), resample to ``rate_hz`` and cut windows of ``window`` samples.

    Args:
        dataset: a dataset folder written by `wearfm ingest`, or one recording file.
        rate_hz: the model's sample rate; every recording is resampled to it.
        window: window length in samples.
        channels: 'acc', 'acc+gyr', 'gyr' or explicit column names.
        stride: samples between window starts (default: ``window``, no overlap).
        label_purity: a window is labelled only if one label covers at least this share of its samples.
        max_gap_s: gaps longer than this split segments (windows never cross them).
        cache_dir: if given, recordings are resampled one at a time into an on-disk window store there (built
            once, memory-mapped afterwards; see :mod:`wearfm.data.store`), so memory does not grow with the
            dataset. Without it the whole resampled dataset is held in memory.
        nonwear: 'skip' leaves out windows that overlap non-wear marked in the recordings (``wearfm.nonwear``
            metadata spans, or a boolean ``nonwear`` column); 'keep' keeps them.
        group: the ranks that build the store together (:func:`wearfm.train.distributed.build_group`);
            every rank of it must call this. Default: this process alone.
        shard_mb: store shard size in MB (default: ``StoreConfig.shard_mb``).
        time_range: if given, (start, end) ns: only samples with ``start <= time < end`` are read (only the row
            groups that hold them), so a long recording can be windowed one block at a time; not with
            ``cache_dir``.

    Raises:
        DataError: no recording has the channels, or none is long enough for one window.
        ConfigError: ``nonwear`` is neither 'skip' nor 'keep'.
    """
    if window < 1:
        raise DataError(f"window must be at least 1 sample, got {window}")
    if nonwear not in ("skip", "keep"):
        raise ConfigError(f"nonwear must be 'skip' or 'keep', got {nonwear!r}")
    if time_range is not None and cache_dir:
        raise ConfigError("time_range reads part of each recording; it cannot be combined with a cache_dir store")
    stride = stride or window
    cols = resolve_channels(channels)
    root, entries = list_recordings(dataset)
    missing = lacking_channels(entries, cols)
    if missing:
        raise DataError(_lacking_message(entries, missing, cols))
    stats: tuple[np.ndarray, np.ndarray] | None = None
    if cache_dir:
        index, data, labels = open_store(
            cache_dir, root, entries, rate_hz, cols, max_gap_s, group=group, shard_mb=shard_mb
        )
        if index.mean is not None and index.std is not None:
            stats = (index.mean, index.std)
    else:
        index, data, labels = _build(root, entries, rate_hz, cols, max_gap_s, time_range)

    offset, recording, start_ns = _cut(index, window, stride, rate_hz)
    if len(offset) == 0:
        longest = max((int(n) for n in index.seg_len), default=0) / rate_hz
        raise DataError(
            f"{dataset}: no recording is long enough for a {window / rate_hz:g} s window "
            f"(longest gap-free stretch: {longest:.1f} s); use a shorter --window"
        )
    subjects = sorted({e.subject for e in entries})
    subj_code = {s: i for i, s in enumerate(subjects)}
    per_rec = np.array([subj_code[e.subject] for e in entries], dtype=np.int32)
    label = np.full(len(offset), -1, dtype=np.int32)
    if labels is not None:
        for k, lab in enumerate(labels):  # per shard: memory bounded by one shard's labels
            lo, hi = np.searchsorted(offset, index.bounds[k : k + 2])
            if hi > lo:
                local = offset[lo:hi] - index.bounds[k]
                label[lo:hi] = _window_labels(lab, local, window, len(index.label_names), label_purity)
    skipped = 0
    if nonwear == "skip" and len(index.nonwear):
        worn = _worn(index.nonwear, recording, start_ns, round(window * 1e9 / rate_hz))
        skipped = int(len(worn) - np.count_nonzero(worn))
        if skipped == len(worn):
            raise DataError(f"{dataset}: all {skipped} windows overlap non-wear; use nonwear=keep to keep them")
        if skipped:
            offset, recording, start_ns, label = offset[worn], recording[worn], start_ns[worn], label[worn]
            log.info("%d windows overlapping non-wear skipped", skipped)
    log.info("%d windows of %d samples from %d recordings", len(offset), window, len(entries))
    return WindowSet(
        data=data,  # type: ignore[arg-type]  # a ShardedArray offers the indexing windows use
        channels=cols,
        rate_hz=float(rate_hz),
        window=int(window),
        offset=offset,
        recording=recording,
        subject=per_rec[recording],
        start_ns=start_ns,
        label=label,
        entries=entries,
        subjects=subjects,
        label_names=list(index.label_names),
        nonwear_skipped=skipped,
        nonwear_spans=np.asarray(index.nonwear, np.int64).reshape(-1, 3),
        sample_stats=stats,
    )


def _cut(index: StoreIndex, window: int, stride: int, rate_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W,) window offsets, recordings and start times over the segments, in store order (no per-window objects)."""
    seg_len = np.asarray(index.seg_len, dtype=np.int64)
    counts = np.where(seg_len >= window, (seg_len - window) // stride + 1, 0)
    seg_of = np.repeat(np.arange(len(seg_len)), counts)  # (W,) segment of each window
    first = np.concatenate([[0], np.cumsum(counts)])[:-1]
    k = (np.arange(len(seg_of), dtype=np.int64) - first[seg_of]) * stride  # (W,) start within its segment
    offset = np.asarray(index.seg_start, dtype=np.int64)[seg_of] + k
    recording = np.asarray(index.seg_rec, dtype=np.int32)[seg_of]
    start_ns = np.asarray(index.seg_t0, dtype=np.int64)[seg_of] + np.round(k * 1e9 / rate_hz).astype(np.int64)
    return offset, recording, start_ns


def worn_mask(ws: WindowSet) -> np.ndarray:
    """(W,) bool: the windows of ``ws`` that overlap no non-wear marked at ingest (all True when none is)."""
    if not len(ws.nonwear_spans):
        return np.ones(len(ws), dtype=bool)
    return _worn(ws.nonwear_spans, ws.recording, ws.start_ns, round(ws.window * 1e9 / ws.rate_hz))


def _worn(spans: np.ndarray, recording: np.ndarray, start_ns: np.ndarray, length_ns: int) -> np.ndarray:
    """(W,) bool: windows that overlap no ``(recording, start_ns, end_ns)`` non-wear span."""
    worn = np.ones(len(recording), dtype=bool)
    order = np.argsort(recording, kind="stable")
    bounds = np.searchsorted(recording[order], np.arange(int(recording.max(initial=0)) + 2))
    for r, s, end in spans:
        if r + 1 >= len(bounds):
            continue
        sel = order[bounds[r] : bounds[r + 1]]
        hit = (start_ns[sel] < end) & (start_ns[sel] + length_ns > s)
        worn[sel[hit]] = False
    return worn


def _window_labels(labels: np.ndarray, offset: np.ndarray, window: int, n_labels: int, purity: float) -> np.ndarray:
    out = np.full(len(offset), -1, dtype=np.int32)
    if n_labels == 0:
        return out
    need = int(np.ceil(purity * window - 1e-9))
    best = np.zeros(len(offset), dtype=np.int64)
    for k in range(n_labels):
        cs = np.concatenate([[0], np.cumsum(labels == k, dtype=np.int64)])
        cnt = cs[offset + window] - cs[offset]
        better = cnt > best
        best[better] = cnt[better]
        out[better] = k
    out[best < max(need, 1)] = -1
    return out


def _build(
    root: Path,
    entries: list[RecordingEntry],
    rate_hz: float,
    cols: tuple[str, ...],
    max_gap_s: float,
    time_range: tuple[int, int] | None = None,
) -> tuple[StoreIndex, np.ndarray, list[np.ndarray] | None]:
    """The in-memory path (no cache): every recording resampled and concatenated into one (C, S) array."""
    label_names: list[str] = sorted({k for e in entries for k in e.label_counts})
    code = {n: i for i, n in enumerate(label_names)}
    parts, labs, seg_rec, seg_start, seg_t0, seg_len = [], [], [], [], [], []
    spans: list[tuple[int, int, int]] = []
    pos = 0
    for r, e in enumerate(entries):
        segs, nw = read_recording(root, e, rate_hz, cols, max_gap_s, code, time_range)
        spans.extend((r, a, b) for a, b in nw)
        for s in segs:
            parts.append(s.values.T)
            labs.append(s.labels if s.labels is not None else np.full(len(s), -1, np.int32))
            seg_rec.append(r)
            seg_start.append(pos)
            seg_t0.append(int(s.time_ns[0]))
            seg_len.append(len(s))
            pos += len(s)
    if not parts:
        raise DataError(f"{root}: the dataset holds no usable samples")
    data = np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)
    index = StoreIndex(
        seg_rec=np.array(seg_rec, np.int32),
        seg_start=np.array(seg_start, np.int64),
        seg_t0=np.array(seg_t0, np.int64),
        seg_len=np.array(seg_len, np.int64),
        bounds=np.array([0, pos], np.int64),
        label_names=label_names,
        nonwear=np.array(spans, np.int64).reshape(-1, 3),
    )
    return index, data, ([np.concatenate(labs).astype(np.int32)] if label_names else None)
