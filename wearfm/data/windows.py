"""Fixed-length windows over a canonical dataset: one contiguous array, windows as index views."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wearfm.data.resample import resample
from wearfm.errors import ConfigError, DataError
from wearfm.io.manifest import RecordingEntry, lacking_channels, list_recordings
from wearfm.io.schema import CHANNEL_GROUPS, read_metadata, resolve_channels

__all__ = ["WindowSet", "load_windows", "channel_stats", "worn_mask"]

log = logging.getLogger(__name__)

_CACHE_VERSION = 1


@dataclass
class WindowSet:
    """Windows of ``window`` samples over ``data``, a (C, S) float32 array of all resampled segments.

    Window ``i`` is ``data[:, offset[i] : offset[i] + window]``; windows never cross a gap because
    segments are laid end to end and windows are cut within each segment.

    Attributes:
        data: (C, S) float32, possibly a read-only memory map.
        channels: names of the C channels, in order.
        rate_hz: sample rate of ``data``.
        window: window length in samples.
        offset: (W,) int64 start of each window in ``data``.
        recording: (W,) int32 index into ``entries``.
        subject: (W,) int32 index into ``subjects``.
        start_ns: (W,) int64 time of each window's first sample.
        label: (W,) int32 index into ``label_names``; -1 when no label covers ``label_purity`` of it.
        nonwear_skipped: windows left out because they overlap non-wear marked at ingest.
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
        cache_dir: if given, the resampled array is stored there once and memory-mapped afterwards.
        nonwear: 'skip' leaves out windows that overlap non-wear found at ingest (`wearfm ingest --nonwear mark`);
            'keep' keeps them.
        time_range: if given, (start, end) ns: only samples with ``start <= time < end`` are read (only the
            row groups that hold them), so a long recording can be windowed one block at a time.

    Raises:
        DataError: no recording has the channels, or none is long enough for one window.
    """
    if window < 1:
        raise DataError(f"window must be at least 1 sample, got {window}")
    if nonwear not in ("skip", "keep"):
        raise ConfigError(f"nonwear must be 'skip' or 'keep', got {nonwear!r}")
    stride = stride or window
    cols = resolve_channels(channels)
    root, entries = list_recordings(dataset)
    missing = lacking_channels(entries, cols)
    if missing:
        raise DataError(_lacking_message(entries, missing, cols))
    key = _cache_key(entries, rate_hz, cols, max_gap_s) + (f"-{time_range[0]}-{time_range[1]}" if time_range else "")
    cached = _load_cache(cache_dir, key) if cache_dir else None
    if cached is not None:
        data, seg_rec, seg_start, seg_t0, seg_len, labels, label_names = cached
    else:
        data, seg_rec, seg_start, seg_t0, seg_len, labels, label_names = _build(
            root, entries, rate_hz, cols, max_gap_s, time_range
        )
        if cache_dir:
            _save_cache(cache_dir, key, data, seg_rec, seg_start, seg_t0, seg_len, labels, label_names)
            loaded = _load_cache(cache_dir, key)
            assert loaded is not None
            data = loaded[0]

    offs, recs, starts = [], [], []
    for r, s0, t0, n in zip(seg_rec, seg_start, seg_t0, seg_len, strict=True):
        k = np.arange(0, n - window + 1, stride, dtype=np.int64)
        offs.append(s0 + k)
        recs.append(np.full(len(k), r, dtype=np.int32))
        starts.append(t0 + np.round(k * 1e9 / rate_hz).astype(np.int64))
    offset = np.concatenate(offs) if offs else np.zeros(0, np.int64)
    if len(offset) == 0:
        longest = max((int(n) for n in seg_len), default=0) / rate_hz
        raise DataError(
            f"{dataset}: no recording is long enough for a {window / rate_hz:g} s window "
            f"(longest gap-free stretch: {longest:.1f} s); use a shorter --window"
        )
    recording = np.concatenate(recs)
    start_ns = np.concatenate(starts)
    skipped = 0
    if nonwear == "skip":
        worn = _worn(root, entries, recording, start_ns, round(window * 1e9 / rate_hz))
        skipped = int(len(worn) - np.count_nonzero(worn))
        if skipped == len(worn):
            raise DataError(f"{dataset}: all {skipped} windows overlap non-wear; use nonwear=keep to keep them")
        if skipped:
            offset, recording, start_ns = offset[worn], recording[worn], start_ns[worn]
            log.info("%d windows overlapping non-wear skipped", skipped)
    subjects = sorted({e.subject for e in entries})
    subj_code = {s: i for i, s in enumerate(subjects)}
    subject = np.array([subj_code[entries[r].subject] for r in range(len(entries))], dtype=np.int32)[recording]
    label = _window_labels(labels, offset, window, len(label_names), label_purity)
    log.info("%d windows of %d samples from %d recordings", len(offset), window, len(entries))
    return WindowSet(
        data=data,
        channels=cols,
        rate_hz=float(rate_hz),
        window=int(window),
        offset=offset,
        recording=recording,
        subject=subject,
        start_ns=start_ns,
        label=label,
        entries=entries,
        subjects=subjects,
        label_names=label_names,
        nonwear_skipped=skipped,
    )


def worn_mask(ws: WindowSet, root: str | Path) -> np.ndarray:
    """(W,) bool: the windows of ``ws`` (from dataset ``root``) that overlap no non-wear marked at ingest."""
    return _worn(Path(root), ws.entries, ws.recording, ws.start_ns, round(ws.window * 1e9 / ws.rate_hz))


def _worn(
    root: Path, entries: list[RecordingEntry], recording: np.ndarray, start_ns: np.ndarray, length_ns: int
) -> np.ndarray:
    """(W,) bool: windows that overlap no non-wear span of their recording (``wearfm.nonwear`` metadata)."""
    worn = np.ones(len(recording), dtype=bool)
    for r, e in enumerate(entries):
        if not e.nonwear_s:  # None (never checked) or 0: nothing to read
            continue
        spans = (read_metadata(root / e.path).get("nonwear") or {}).get("spans_ns") or []
        sel = np.flatnonzero(recording == r)
        for s, end in spans:
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    label_names: list[str] = sorted({k for e in entries for k in e.label_counts})
    code = {n: i for i, n in enumerate(label_names)}
    parts, labs, seg_rec, seg_start, seg_t0, seg_len = [], [], [], [], [], []
    pos = 0
    for r, e in enumerate(entries):
        want = ["time", *cols] + (["label"] if e.label_counts else [])
        filters = None
        if time_range is not None:
            lo, hi = (pa.scalar(int(v), pa.timestamp("ns")) for v in time_range)
            filters = [("time", ">=", lo), ("time", "<", hi)]
        table = pq.read_table(root / e.path, columns=want, filters=filters)
        if time_range is not None and table.num_rows < 2:
            continue
        t = table.column("time").cast(pa.int64()).to_numpy()
        v = np.stack([table.column(c).to_numpy() for c in cols], axis=1)
        lab = None
        if "label" in table.column_names:
            arr = table.column("label").combine_chunks()
            if isinstance(arr.type, pa.DictionaryType):
                arr = arr.dictionary_decode()
            strs = arr.to_numpy(zero_copy_only=False)
            lab = _map_labels(strs, code)
        segs, _ = resample(t, v, rate_hz, labels=lab, max_gap_s=max_gap_s)
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
    return (
        data,
        np.array(seg_rec, np.int32),
        np.array(seg_start, np.int64),
        np.array(seg_t0, np.int64),
        np.array(seg_len, np.int64),
        np.concatenate(labs).astype(np.int32),
        label_names,
    )


def _map_labels(strs: np.ndarray, code: dict[str, int]) -> np.ndarray:
    uniq, inv = np.unique(np.where(strs == None, "", strs).astype(str), return_inverse=True)  # noqa: E711
    lut = np.array([code.get(u, -1) if u != "" else -1 for u in uniq], dtype=np.int32)
    return lut[inv]


def _cache_key(entries: list[RecordingEntry], rate_hz: float, cols: tuple[str, ...], max_gap_s: float) -> str:
    desc = json.dumps(
        [_CACHE_VERSION, rate_hz, cols, max_gap_s, [(e.path, e.source_sha256, e.samples, e.start_ns) for e in entries]]
    )
    return hashlib.sha256(desc.encode()).hexdigest()[:16]


def _save_cache(cache_dir: str | Path, key: str, data: np.ndarray, *arrays_and_names: Any) -> None:
    d = Path(cache_dir) / key
    d.mkdir(parents=True, exist_ok=True)
    seg_rec, seg_start, seg_t0, seg_len, labels, label_names = arrays_and_names
    tmp = d / "data.npy.tmp"
    with open(tmp, "wb") as f:
        np.save(f, data)
    tmp.replace(d / "data.npy")
    np.savez(d / "index.npz", seg_rec=seg_rec, seg_start=seg_start, seg_t0=seg_t0, seg_len=seg_len, labels=labels)
    (d / "labels.json").write_text(json.dumps(label_names))


def _load_cache(cache_dir: str | Path | None, key: str) -> Any:
    if cache_dir is None:
        return None
    d = Path(cache_dir) / key
    if not (d / "labels.json").exists():
        return None
    data = np.load(d / "data.npy", mmap_mode="r")
    z = np.load(d / "index.npz")
    names = json.loads((d / "labels.json").read_text())
    return data, z["seg_rec"], z["seg_start"], z["seg_t0"], z["seg_len"], z["labels"], names
