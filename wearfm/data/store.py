"""Out-of-core window store: recordings resampled one at a time into memory-mappable shard files plus an index.

Layout of a store folder ``<cache>/<dataset name>-<slot>/``::

    store.json          format version, key (source hashes, rate, channels, gap rule), shards, label names
    index.npz           segments (recording, first sample, first time, length), non-wear spans, channel statistics
    shard-00000.f32     (S_k, C) float32 little-endian samples of the shard's recordings, end to end
    shard-00000.lab     (S_k,) int16 per-sample label codes (only when the dataset has labels)

A build writes into ``<slot>.building/`` and renames it to ``<slot>/`` only once complete, so an interrupted build
is never used (its finished shards are reused by the next build). Shards are groups of consecutive recordings of
about ``shard_mb`` MB; which rank builds a shard does not change its content, so a store built by N ranks is
byte-identical to one built by one process. Peak memory is that of the largest recording, not of the dataset.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wearfm.config import StoreConfig
from wearfm.data.resample import Segment, resample
from wearfm.errors import DataError
from wearfm.io.manifest import RecordingEntry
from wearfm.io.schema import decode_metadata

__all__ = ["BuildGroup", "ShardedArray", "StoreIndex", "open_store", "read_recording", "plan_shards", "STORE_VERSION"]

log = logging.getLogger(__name__)

STORE_VERSION = 1
_STORE_FILE = "store.json"
_INDEX_FILE = "index.npz"


@dataclass(frozen=True)
class BuildGroup:
    """The processes that build one store together: the ranks of a ``torchrun`` job, or one process.

    Attributes:
        rank: this process's rank.
        world_size: number of processes.
        all_ok: collective called by every rank with its own flag; returns True on every rank only if every
            rank passed True (see :func:`wearfm.train.distributed.build_group`). None for one process.
    """

    rank: int = 0
    world_size: int = 1
    all_ok: Callable[[bool], bool] | None = None

    def agree(self, ok: bool) -> bool:
        """True on every rank iff ``ok`` is true on every rank (also acts as a barrier)."""
        return ok if self.all_ok is None or self.world_size == 1 else self.all_ok(ok)


@dataclass
class StoreIndex:
    """Everything but the samples: segments in store order, shard bounds, labels, non-wear, statistics.

    Attributes:
        seg_rec: (G,) int32 recording of each segment.
        seg_start: (G,) int64 first sample of each segment in the concatenated data.
        seg_t0: (G,) int64 time of each segment's first sample.
        seg_len: (G,) int64 samples in each segment.
        bounds: (K+1,) int64 first sample of each shard, then the total.
        label_names: label of each code.
        nonwear: (N, 3) int64 rows ``(recording, start_ns, end_ns)`` of non-wear spans.
        mean: (C,) float64 per-channel mean of all samples (None when not computed).
        std: (C,) float64 per-channel (population) standard deviation of all samples.
    """

    seg_rec: np.ndarray
    seg_start: np.ndarray
    seg_t0: np.ndarray
    seg_len: np.ndarray
    bounds: np.ndarray
    label_names: list[str]
    nonwear: np.ndarray
    mean: np.ndarray | None = None
    std: np.ndarray | None = None


class ShardedArray:
    """A read-only ``(C, S)`` view over shard memory maps of shape ``(S_k, C)``, laid end to end.

    Supports what windows need: ``a[:, i:j]`` within one shard and ``a[:, cols]`` with an integer array.
    ``np.asarray(a)`` materialises the whole array (only for small data).
    """

    def __init__(self, shards: list[np.ndarray], bounds: np.ndarray) -> None:
        self.shards, self.bounds = shards, np.asarray(bounds, dtype=np.int64)
        self.dtype = np.dtype(np.float32)
        self.shape: tuple[int, int] = (int(shards[0].shape[1]), int(self.bounds[-1]))
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None)):
            raise TypeError("ShardedArray supports a[:, i:j] and a[:, index_array] only")
        cols = key[1]
        if isinstance(cols, slice):
            start, stop, step = cols.indices(self.shape[1])
            k = int(np.searchsorted(self.bounds, start, side="right")) - 1
            if step == 1 and stop <= self.bounds[k + 1]:
                b = int(self.bounds[k])
                view: np.ndarray = self.shards[k][start - b : stop - b].T
                return view
            cols = np.arange(start, stop, step)
        cols = np.asarray(cols, dtype=np.int64)
        out = np.empty((self.shape[0], *cols.shape), dtype=np.float32)
        shard = np.searchsorted(self.bounds, cols, side="right") - 1
        for k in np.unique(shard):
            m = shard == k
            out[:, m] = self.shards[int(k)][cols[m] - self.bounds[k]].T
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = np.concatenate([np.asarray(s).T for s in self.shards], axis=1)
        return whole if dtype is None else whole.astype(dtype)


def read_recording(
    root: Path,
    entry: RecordingEntry,
    rate_hz: float,
    cols: tuple[str, ...],
    max_gap_s: float,
    code: dict[str, int],
    time_range: tuple[int, int] | None = None,
) -> tuple[list[Segment], list[tuple[int, int]]]:
    """Read one recording, resample it to ``rate_hz`` and return its segments and non-wear spans.

    Non-wear spans ``[start_ns, end_ns)`` come from the recording's ``wearfm.nonwear`` metadata
    (``spans_ns``) when present, else from runs of true values in a boolean ``nonwear`` column. With
    ``time_range`` = (start, end) ns only the samples with ``start <= time < end`` are read (only the row groups
    that hold them); fewer than two of them give no segment.
    """
    pf = pq.ParquetFile(root / entry.path)
    names = pf.schema_arrow.names
    want = ["time", *cols] + (["label"] if entry.label_counts else []) + (["nonwear"] if "nonwear" in names else [])
    if time_range is None:
        table = pf.read(columns=want)
    else:
        lo, hi = (pa.scalar(int(v), pa.timestamp("ns")) for v in time_range)
        table = pq.read_table(root / entry.path, columns=want, filters=[("time", ">=", lo), ("time", "<", hi)])
    t = table.column("time").cast(pa.int64()).to_numpy()
    v = np.stack([table.column(c).to_numpy() for c in cols], axis=1)
    lab = None
    if "label" in table.column_names:
        arr = table.column("label").combine_chunks()
        if isinstance(arr.type, pa.DictionaryType):
            arr = arr.dictionary_decode()
        lab = _map_labels(arr.to_numpy(zero_copy_only=False), code)
    meta = decode_metadata({**(pf.schema_arrow.metadata or {}), **(pf.metadata.metadata or {})})
    spans_meta = (meta.get("nonwear") or {}).get("spans_ns") if isinstance(meta.get("nonwear"), dict) else None
    if spans_meta:
        spans = [(int(s), int(e)) for s, e in spans_meta]
    elif "nonwear" in table.column_names:
        spans = _runs_ns(t, table.column("nonwear").fill_null(False).to_numpy(zero_copy_only=False).astype(bool))
    else:
        spans = []
    del table
    if len(t) < 2:
        return [], spans
    segs, _ = resample(t, v, rate_hz, labels=lab, max_gap_s=max_gap_s)
    return segs, spans


def _runs_ns(t: np.ndarray, flag: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` times of runs of flagged samples; a run ends at the next sample's time (or last + 1 ns)."""
    if not flag.any():
        return []
    edges = np.diff(np.concatenate([[0], flag.astype(np.int8), [0]]))
    a, b = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    ends = np.where(b < len(t), t[np.minimum(b, len(t) - 1)], t[-1] + 1)
    return [(int(t[i]), int(e)) for i, e in zip(a, ends, strict=True)]


def _map_labels(strs: np.ndarray, code: dict[str, int]) -> np.ndarray:
    uniq, inv = np.unique(np.where(strs == None, "", strs).astype(str), return_inverse=True)  # noqa: E711
    lut = np.array([code.get(u, -1) if u != "" else -1 for u in uniq], dtype=np.int32)
    return lut[inv]


def plan_shards(entries: list[RecordingEntry], rate_hz: float, n_channels: int, shard_mb: float) -> list[list[int]]:
    """Consecutive recordings grouped into shards of about ``shard_mb`` MB of resampled float32 samples."""
    shards: list[list[int]] = []
    size = 0.0
    for r, e in enumerate(entries):
        est = _est_bytes(e, rate_hz, n_channels)
        if not shards or (shards[-1] and size + est > shard_mb * 1e6):
            shards.append([])
            size = 0.0
        shards[-1].append(r)
        size += est
    return shards


def _est_bytes(e: RecordingEntry, rate_hz: float, n_channels: int) -> float:
    return max(float(e.duration_s), 0.0) * rate_hz * n_channels * 4 + 1


def store_key(entries: list[RecordingEntry], rate_hz: float, cols: tuple[str, ...], max_gap_s: float) -> str:
    """Hash of everything the store's content depends on (format version, sources, rate, channels, gap rule)."""
    desc = json.dumps([STORE_VERSION, rate_hz, cols, max_gap_s, _sources(entries)])
    return hashlib.sha256(desc.encode()).hexdigest()[:16]


def _sources(entries: list[RecordingEntry]) -> list[list[Any]]:
    return [[e.path, e.source_sha256, e.samples, e.start_ns] for e in entries]


def _slot(root: Path, rate_hz: float, cols: tuple[str, ...], max_gap_s: float) -> str:
    desc = json.dumps([str(root.resolve()), rate_hz, cols, max_gap_s])
    return f"{root.resolve().name}-{hashlib.sha256(desc.encode()).hexdigest()[:12]}"


def open_store(
    cache_dir: str | Path,
    root: Path,
    entries: list[RecordingEntry],
    rate_hz: float,
    cols: tuple[str, ...],
    max_gap_s: float,
    *,
    group: BuildGroup | None = None,
    shard_mb: float | None = None,
) -> tuple[StoreIndex, np.ndarray | ShardedArray, list[np.ndarray] | None]:
    """Memory-map the store of this dataset and settings under ``cache_dir``, building it first if needed.

    Every rank of ``group`` must call this; shards are split across ranks, rank 0 writes the index.

    Returns:
        ``(index, data, labels)``: ``data`` is ``(C, S)`` (a memory map's transpose for one shard, else a
        :class:`ShardedArray`); ``labels`` holds each shard's ``(S_k,)`` label codes, or None.

    Raises:
        DataError: the cache folder is full or unwritable (nothing half-built is left in use), or no sample.
    """
    group = group or BuildGroup()
    shard_mb = shard_mb or StoreConfig().shard_mb
    cache = Path(cache_dir)
    key = store_key(entries, rate_hz, cols, max_gap_s)
    final = cache / _slot(root, rate_hz, cols, max_gap_s)
    if group.agree(_valid(final, key, entries, len(cols))):
        return _open(final, len(cols))
    building = final.with_name(final.name + ".building")
    meta = {
        "version": STORE_VERSION, "key": key, "rate_hz": rate_hz, "channels": list(cols), "max_gap_s": max_gap_s,
        "sources": _sources(entries),
    }  # fmt: skip
    label_names = sorted({k for e in entries for k in e.label_counts})
    shards = plan_shards(entries, rate_hz, len(cols), shard_mb)
    err: BaseException | None = None
    try:
        if group.rank == 0:
            _prepare(building, key, entries, rate_hz, len(cols), shards)
    except (OSError, DataError) as e:
        err = e
    _check(group, err, "preparing")
    try:
        mine = [k for k in range(len(shards)) if k % group.world_size == group.rank]
        for k in mine:
            if not (building / f"shard-{k:05d}.npz").exists():
                _build_shard(building, k, shards[k], root, entries, rate_hz, cols, max_gap_s, label_names)
            else:
                log.info("store: shard %d already built by an interrupted build; reused", k)
    except (OSError, DataError) as e:
        err = e
    _check(group, err, "building its shards of")
    try:
        if group.rank == 0:
            _finish(building, final, meta, shards, label_names, len(cols))
    except (OSError, DataError) as e:
        err = e
    _check(group, err, "indexing")
    return _open(final, len(cols))


def _check(group: BuildGroup, err: BaseException | None, what: str) -> None:
    if not group.agree(err is None):
        if isinstance(err, OSError):
            raise DataError(f"window store: {err}; check the --cache folder (writable, on a shared filesystem)")
        raise err or DataError(f"window store: another rank failed {what} the store; see that rank's log")


def _valid(d: Path, key: str, entries: list[RecordingEntry], n_ch: int) -> bool:
    try:
        meta = json.loads((d / _STORE_FILE).read_text())
    except (OSError, ValueError):
        return False
    if meta.get("version") != STORE_VERSION:
        log.warning(
            "store %s was built by store format %s (this is %s); rebuilding", d, meta.get("version"), STORE_VERSION
        )
        return False
    if meta.get("key") != key:
        old = {p: rest for p, *rest in meta.get("sources", [])}
        new = {p: rest for p, *rest in _sources(entries)}
        changed = sum(1 for p in new if p in old and old[p] != new[p])
        log.warning(
            "store %s: the dataset changed since it was built "
            "(%d recordings added, %d removed, %d changed); rebuilding",
            d, len(new.keys() - old.keys()), len(old.keys() - new.keys()), changed,
        )  # fmt: skip
        return False
    for k, n in enumerate(meta["shard_samples"]):
        f = d / f"shard-{k:05d}.f32"
        if n and (not f.exists() or f.stat().st_size != n * n_ch * 4):
            log.warning("store %s: %s is missing or truncated; rebuilding", d, f.name)
            return False
    return True


def _prepare(
    building: Path, key: str, entries: list[RecordingEntry], rate_hz: float, n_ch: int, shards: list[list[int]]
) -> None:
    stamp = building / "building.json"
    if building.exists():
        try:
            same = json.loads(stamp.read_text()).get("key") == key
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(building)
    building.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"key": key, "shards": len(shards)}))
    done = {k for k in range(len(shards)) if (building / f"shard-{k:05d}.npz").exists()}
    need = sum(_est_bytes(entries[r], rate_hz, n_ch) for k, s in enumerate(shards) if k not in done for r in s)
    free = shutil.disk_usage(building).free
    if need > free:
        raise DataError(
            f"{building.parent}: the window store needs about {need / 1e9:.2f} GB but only {free / 1e9:.2f} GB is "
            f"free; free some space or pass --cache a folder on a larger disk"
        )


def _build_shard(
    building: Path,
    k: int,
    recs: list[int],
    root: Path,
    entries: list[RecordingEntry],
    rate_hz: float,
    cols: tuple[str, ...],
    max_gap_s: float,
    label_names: list[str],
) -> None:
    code = {n: i for i, n in enumerate(label_names)}
    lab_dtype = np.dtype("<i2") if len(label_names) < 2**15 else np.dtype("<i4")
    tag = f".part{os.getpid()}"
    data_f, lab_f = building / f"shard-{k:05d}.f32", building / f"shard-{k:05d}.lab"
    parts = [data_f.with_name(data_f.name + tag), lab_f.with_name(lab_f.name + tag)]
    seg: dict[str, list[int]] = {"rec": [], "start": [], "t0": [], "len": []}
    spans: list[tuple[int, int, int]] = []
    n, s1 = 0, np.zeros(len(cols), np.float64)
    s2 = np.zeros(len(cols), np.float64)
    try:
        with open(parts[0], "wb") as fd, open(parts[1], "wb") as fl:
            for r in recs:
                segs, nw = read_recording(root, entries[r], rate_hz, cols, max_gap_s, code)
                spans.extend((r, a, b) for a, b in nw)
                for s in segs:
                    v = np.ascontiguousarray(s.values, dtype="<f4")  # (n, C)
                    fd.write(v.data)
                    lab = s.labels if s.labels is not None else np.full(len(s), -1, np.int32)
                    if label_names:
                        fl.write(np.ascontiguousarray(lab, dtype=lab_dtype).data)
                    seg["rec"].append(r)
                    seg["start"].append(n)
                    seg["t0"].append(int(s.time_ns[0]))
                    seg["len"].append(len(s))
                    n += len(s)
                    for c in range(v.shape[1]):  # per channel: float64 moments without an (n, C) float64 copy
                        vc = v[:, c].astype(np.float64)
                        s1[c] += vc.sum()
                        s2[c] += np.dot(vc, vc)
        os.replace(parts[0], data_f)
        if label_names:
            os.replace(parts[1], lab_f)
        else:
            parts[1].unlink()
        tmp = building / f"shard-{k:05d}{tag}.npz"
        with open(tmp, "wb") as f:
            np.savez(
                f,
                seg_rec=np.array(seg["rec"], np.int32),
                seg_start=np.array(seg["start"], np.int64),
                seg_t0=np.array(seg["t0"], np.int64),
                seg_len=np.array(seg["len"], np.int64),
                nonwear=np.array(spans, np.int64).reshape(-1, 3),
                moments=np.stack([np.full(len(cols), float(n)), s1, s2]),
            )
        os.replace(tmp, building / f"shard-{k:05d}.npz")
    except OSError as e:
        for p in parts:
            p.unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DataError(
                f"{building.parent}: no space left while writing the window store (shard {k}); free some space "
                f"or pass --cache a folder on a larger disk (the half-built store is not used)"
            ) from None
        raise
    except BaseException:
        for p in parts:
            p.unlink(missing_ok=True)
        raise
    log.info("store: shard %d of %s built (%d recordings, %d samples)", k, building.name, len(recs), n)


def _finish(
    building: Path, final: Path, meta: dict[str, Any], shards: list[list[int]], label_names: list[str], n_ch: int
) -> None:
    parts = []
    for k in range(len(shards)):
        f = building / f"shard-{k:05d}.npz"
        if not f.exists():
            raise DataError(
                f"{f}: shard {k} is missing after every rank finished building; with several nodes, --cache must be "
                f"a folder every node sees (a shared filesystem)"
            )
        with np.load(f) as z:
            parts.append({name: z[name] for name in z.files})
    counts = np.array([int(p["seg_len"].sum()) for p in parts], np.int64)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    if bounds[-1] == 0:
        raise DataError(f"{building}: the dataset holds no usable samples")
    mom = np.sum([p["moments"] for p in parts], axis=0)  # (3, C): count, sum, sum of squares
    mean = mom[1] / mom[0]
    std = np.sqrt(np.maximum(mom[2] / mom[0] - mean**2, 0.0))
    with open(building / (_INDEX_FILE + ".tmp"), "wb") as out:
        np.savez(
            out,
            seg_rec=np.concatenate([p["seg_rec"] for p in parts]),
            seg_start=np.concatenate([p["seg_start"] + b for p, b in zip(parts, bounds, strict=False)]),
            seg_t0=np.concatenate([p["seg_t0"] for p in parts]),
            seg_len=np.concatenate([p["seg_len"] for p in parts]),
            bounds=bounds,
            nonwear=np.concatenate([p["nonwear"] for p in parts]),
            mean=mean,
            std=std,
        )
    os.replace(building / (_INDEX_FILE + ".tmp"), building / _INDEX_FILE)
    for k in range(len(shards)):
        (building / f"shard-{k:05d}.npz").unlink()
    (building / "building.json").unlink()
    full = {**meta, "shard_samples": counts.tolist(), "label_names": label_names}
    (building / _STORE_FILE).write_text(json.dumps(full))
    if final.exists():  # an older or other-version store of this slot: moved aside, then removed
        old = final.with_name(f"{final.name}.old{os.getpid()}")
        final.rename(old)
        shutil.rmtree(old, ignore_errors=True)
    building.rename(final)
    log.info("store %s: %d shards, %d samples x %d channels", final, len(shards), int(bounds[-1]), n_ch)


def _open(d: Path, n_ch: int) -> tuple[StoreIndex, np.ndarray | ShardedArray, list[np.ndarray] | None]:
    meta = json.loads((d / _STORE_FILE).read_text())
    with np.load(d / _INDEX_FILE) as z:
        idx = StoreIndex(
            seg_rec=z["seg_rec"], seg_start=z["seg_start"], seg_t0=z["seg_t0"], seg_len=z["seg_len"],
            bounds=z["bounds"], label_names=list(meta["label_names"]), nonwear=z["nonwear"],
            mean=z["mean"], std=z["std"],
        )  # fmt: skip
    lab_dtype = np.dtype("<i2") if len(idx.label_names) < 2**15 else np.dtype("<i4")
    shards, labels = [], []
    for k, n in enumerate(meta["shard_samples"]):
        if n == 0:
            shards.append(np.zeros((0, n_ch), np.float32))
            labels.append(np.zeros(0, lab_dtype))
            continue
        shards.append(np.memmap(d / f"shard-{k:05d}.f32", dtype="<f4", mode="r", shape=(n, n_ch)))
        if idx.label_names:
            labels.append(np.memmap(d / f"shard-{k:05d}.lab", dtype=lab_dtype, mode="r", shape=(n,)))
    data: np.ndarray | ShardedArray = shards[0].T if len(shards) == 1 else ShardedArray(shards, idx.bounds)
    return idx, data, (labels if idx.label_names else None)
