"""One source file -> canonical recording files: order, duplicates, gaps, resampling, atomic writes."""

from __future__ import annotations

import functools
import hashlib
import logging
import time as _time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wearfm import __version__
from wearfm.config import IngestConfig, to_dict
from wearfm.errors import ConfigError, DataError
from wearfm.io._arrow import from_numpy, mask, to_numpy
from wearfm.io.annotations import Annotations
from wearfm.io.manifest import RecordingEntry
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader
from wearfm.io.schema import ACC, GYR, SCHEMA_VERSION, schema_for
from wearfm.io.textutil import id_from_spec
from wearfm.io.writer import RecordingWriter

__all__ = ["ConvertResult", "convert_file", "sha256_of"]

log = logging.getLogger(__name__)

_RUN_OPTIONS = ("jobs", "overwrite", "on_error", "chunk_rows", "shard")  # not recorded: outputs do not depend on them
_READ_WHOLE_BYTES = 8 << 20  # sources up to this size are read into memory once, then hashed and parsed from there


@dataclass
class ConvertResult:
    """What converting one source produced (entries are relative to the output folder)."""

    source: str
    entries: list[RecordingEntry] = field(default_factory=list)
    rows: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # the reader's (e.g. a missing sensor file)


def sha256_of(paths: list[Path], first: bytes = b"") -> str:
    """SHA-256 of the concatenated bytes of ``paths`` (one file: the file's own hash).

    ``first``: bytes hashed before the files (the first source when its bytes were already read).
    """
    h = hashlib.sha256(first)
    for p in paths:
        with open(p, "rb") as f:
            while block := f.read(1 << 24):
                h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=16)
def _options(cfg: IngestConfig) -> dict[str, Any]:
    return {k: v for k, v in to_dict(cfg).items() if k not in _RUN_OPTIONS}


def _ingest_options(cfg: IngestConfig) -> dict[str, Any]:
    """``cfg`` as recorded in the metadata (without run options); computed once per config, not per file."""
    return dict(_options(cfg))


class _Segment:
    """One gap-free run being written, with the statistics its manifest entry needs."""

    def __init__(self, writer: RecordingWriter) -> None:
        self.writer = writer
        self.start = -1
        self.end = -1
        self.rows = 0
        self.labels: dict[str, int] = {}

    def add(self, table: pa.Table, t: np.ndarray) -> None:
        if self.start < 0:
            self.start = int(t[0])
        self.end = int(t[-1])
        self.rows += len(t)
        if "label" in table.column_names:
            for chunk in table.column("label").chunks:  # count dictionary indices, not decoded strings
                ind = chunk.indices
                idx = to_numpy(ind.drop_null() if ind.null_count else ind)
                if not len(idx):
                    continue
                names = chunk.dictionary.to_pylist()
                for name, k in zip(names, np.bincount(idx, minlength=len(names)).tolist(), strict=True):
                    if k and name is not None:
                        self.labels[name] = self.labels.get(name, 0) + k
        self.writer.write(table)

    def rate(self) -> float:
        """Mean rate of the gap-free segment, (samples - 1) / duration: robust to jittery, coarse clocks."""
        return (self.rows - 1) / self.duration_s if self.rows > 1 and self.duration_s > 0 else 0.0

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / 1e9 if self.rows else 0.0


def convert_file(
    source: Path,
    reader: Reader,
    out: Path,
    stem: str,
    cfg: IngestConfig,
    *,
    companions: list[Path] | None = None,
    annotations: Annotations | None = None,
    previous: list[RecordingEntry] | None = None,
    default_subject: tuple[str, str] | None = None,
) -> ConvertResult:
    """Read ``source`` with ``reader`` and write its recordings as ``out/<stem>[.segNNN].parquet``.

    Gaps longer than ``cfg.max_gap_s`` start a new segment file; segments shorter than ``cfg.min_duration_s``
    are dropped and counted. Nothing is renamed into place until the whole source has been read; on any error
    every temporary file is removed and earlier outputs stay as they were. When ``previous`` (this source's
    entries in an existing manifest) carry the same SHA-256 and their files exist, nothing is done
    (``skipped``) unless ``cfg.overwrite``.

    The subject comes from ``--subject-from`` (``cfg.subject_from``), else from the reader (the file's content or
    its format's naming), else ``default_subject`` (``(id, rule)``; by default the file name); the rule used is
    recorded as ``wearfm.subject_source``.
    """
    t0 = _time.perf_counter()
    res = ConvertResult(source=str(source))
    sources = [source, *(companions or [])]
    hasher: ThreadPoolExecutor | None = None
    sizes = [p.stat().st_size for p in sources]
    small = sum(sizes) < (32 << 20)
    data: bytes | None = None  # the source's bytes, read once to hash and to parse them
    if small or (previous and not cfg.overwrite):
        # a reader with reads_bytes takes the source's bytes (read(..., data=)) instead of reading the file
        if small and sizes[0] <= _READ_WHOLE_BYTES and reader.reads_bytes:
            data = source.read_bytes()
            digest = sha256_of(sources[1:], data)
        else:
            digest = sha256_of(sources)
        if (
            previous
            and not cfg.overwrite
            and all(e.source_sha256 == digest and (out / e.path).exists() for e in previous)
        ):
            res.entries, res.skipped = list(previous), True
            res.rows = sum(e.samples for e in previous)
            return res
    else:  # nothing to compare with: hash in a thread while converting (hashlib releases the GIL)
        hasher = ThreadPoolExecutor(max_workers=1)
        pending_digest = hasher.submit(sha256_of, sources)
        digest = ""
    opts = ReadOptions.from_config(cfg)
    chunks, info = reader.read(source, opts, data=data) if data is not None else reader.read(source, opts)
    del data  # the reader holds it as long as it needs it
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "subject": str(info.get("subject") or (default_subject or (Path(stem).name, ""))[0]),
        "device": str(info.get("device") or cfg.device or "unknown"),
        "placement": str(info.get("placement") or cfg.placement),
        "session": info.get("session"),
        "sample_rate_nominal_hz": cfg.resample_hz or info.get("sample_rate_nominal_hz"),
        "time_reference": info.get("time_reference") or cfg.time_reference,
        "timezone": info.get("timezone"),
        "acc_unit": "g",
        "source_file": str(source),
        "source_sha256": digest,  # set before the files are closed when hashed in the background
        "reader": str(info.get("reader", reader.module.rsplit(".", 1)[-1] or "?")),
        "wearfm_version": __version__,
        "ingest_options": _ingest_options(cfg),
        "device_serial": info.get("device_serial"),
        "device_range_g": info.get("device_range_g"),
    }
    dropped = {"duplicates": 0, "out_of_order": 0, "short_segments": 0}
    current: _Segment | None = None
    done: list[_Segment] = []

    def finish(seg: _Segment) -> None:
        if seg.rows < 2 or seg.duration_s < cfg.min_duration_s:
            dropped["short_segments"] += seg.rows
            seg.writer.abort()
        else:
            done.append(seg)

    try:
        for table in _events(_ordered(chunks, source, cfg, dropped, annotations, meta), cfg):
            if table is None:
                if current is not None:
                    finish(current)
                current = None
                continue
            if current is None:
                path = out / f"{stem}.seg{len(done):03d}.parquet"
                current = _Segment(RecordingWriter(path, meta, buffer_rows=min(cfg.chunk_rows, 1_000_000)))
            if "gyr_x" in table.column_names:
                current.writer.meta["gyr_unit"] = "deg/s"
            current.add(table, _times(table))
        if current is not None:
            finish(current)
            current = None
        if not done:
            raise DataError(
                f"{source}: no stretch of data lasts at least {cfg.min_duration_s:g} s "
                f"(min_duration_s) between gaps longer than {cfg.max_gap_s:g} s; check the time column, or lower "
                "--set min_duration_s / raise --max-gap"
            )
        ties = dropped.pop("tied_timestamps", 0)
        counters = {
            **info.get("counters", {}),
            "tied_timestamps": ties,
            **{f"{k}_dropped": v for k, v in dropped.items()},
        }
        info["counters"] = counters
        if hasher is not None:
            digest = pending_digest.result()
            meta["source_sha256"] = digest
            for seg in done:
                seg.writer.meta["source_sha256"] = digest
        # readers may learn the subject/session from the data itself (a column, WISDM lines)
        for key in ("subject", "session"):
            if info.get(key) is not None:
                meta[key] = str(info[key])
        meta["subject_source"] = _subject_source(source, cfg, info, meta, default_subject)
        for seg in done:
            seg.writer.meta.update(
                subject=meta["subject"], session=meta["session"], subject_source=meta["subject_source"]
            )
        names = [f"{stem}.parquet"] if len(done) == 1 else [f"{stem}.seg{i:03d}.parquet" for i in range(len(done))]
        drops = _reader_drops(info)
        for i, (s, name) in enumerate(zip(done, names, strict=True)):
            s.writer.path = out / name
            s.writer.close(
                {
                    "sample_rate_measured_hz": round(s.rate(), 4),
                    "segment": i,
                    "counters": info.get("counters", {}),
                    "dropped": drops,
                }
            )
        committed = [s.writer.commit() for s in done]
    except BaseException:
        for seg in [*done, *([current] if current is not None else [])]:
            seg.writer.abort()
        raise
    finally:
        if hasher is not None:
            hasher.shutdown(wait=True)
    stale = {e.path for e in previous or []} - set(names)
    for p in stale:
        (out / p).unlink(missing_ok=True)
    for s, path in zip(done, committed, strict=True):
        res.entries.append(
            RecordingEntry(
                path=str(path.relative_to(out)),
                subject=meta["subject"],
                subject_source=meta["subject_source"],
                device=meta["device"],
                placement=meta["placement"],
                session=None if meta["session"] is None else str(meta["session"]),
                start_ns=s.start,
                duration_s=s.duration_s,
                samples=s.rows,
                sample_rate_hz=round(s.rate(), 4),
                channels=tuple(c for c in s.writer.columns if c not in ("time", "label")),
                label_counts=dict(sorted(s.labels.items())),
                source_file=str(source),
                source_sha256=digest,
            )
        )
    res.rows = sum(s.rows for s in done)
    res.dropped = drops
    res.info = info.get("counters", {})
    res.warnings = [str(w) for w in info.get("warnings", [])]
    res.seconds = _time.perf_counter() - t0
    return res


def _subject_source(
    source: Path, cfg: IngestConfig, info: dict[str, Any], meta: dict[str, Any], default: tuple[str, str] | None
) -> str:
    """How ``meta['subject']`` was assigned (set there from ``--subject-from`` when the reader did not apply it)."""
    spec = cfg.subject_from
    if spec and info.get("subject_source") != "option":  # readers that know no --subject-from (devices, WISDM)
        if spec.startswith("column:"):
            raise ConfigError(
                f"--subject-from {spec}: the {meta['reader']} reader has no named columns; use path:N, "
                "name:REGEX or value:ID"
            )
        meta["subject"] = str(id_from_spec(spec, source))
        return "option"
    if info.get("subject_source"):
        return str(info["subject_source"])
    if info.get("subject") is not None:
        return "option" if spec else "reader"
    return (default or ("", "file name"))[1] or "file name"


def _reader_drops(info: dict[str, Any]) -> dict[str, int]:
    counters = info.get("counters", {})
    return {
        k[: -len("_dropped")]: int(v)
        for k, v in counters.items()
        if k.endswith("_dropped") and isinstance(v, int) and v
    }


def _ordered(
    chunks: Iterator[pa.Table],
    source: Path,
    cfg: IngestConfig,
    dropped: dict[str, int],
    ann: Annotations | None,
    meta: dict[str, Any],
) -> Iterator[pa.Table]:
    """Chunks in strictly increasing time: sorted within a chunk (or rejected), duplicates dropped.

    Samples that go back before an earlier chunk cannot be sorted in bounded memory: they are dropped and
    counted as ``out_of_order`` (``unsorted='sort'``) or rejected.
    """
    if cfg.unsorted not in ("sort", "reject"):
        raise ConfigError(f"unsorted must be 'sort' or 'reject', got {cfg.unsorted!r}")
    last: int | None = None
    last_vals: np.ndarray | None = None
    index = 0
    for table in chunks:
        n = table.num_rows
        if ann is not None:
            ident = Path(meta["source_file"]).name.split(".")[0] if ann.key == "recording" else meta["subject"]
            table = ann.apply(table, ident, index)
        index += n
        t = _times(table)
        d = np.diff(t)
        if (d < 0).any():
            if cfg.unsorted == "reject":
                row = index - n + int(np.argmax(d < 0)) + 2
                raise DataError(
                    f"{source}: timestamps go backwards at data row {row}; sort the file or pass --unsorted sort"
                )
            order = np.argsort(t, kind="stable")
            table, t = table.take(from_numpy(order, pa.int64())), t[order]
            d = np.diff(t)
        # a duplicate repeats the previous row exactly; equal times with different values are kept (coarse
        # clocks, e.g. Android's ms timestamps, stamp several distinct samples alike) and counted as ties
        tie = np.flatnonzero(d == 0) + 1  # rows whose time equals the previous row's
        if last is not None and len(t) and t[0] == last:
            tie = np.concatenate([[0], tie])
        drop = tie[:0]
        if len(tie):
            cols = _value_cols(table)
            vals = np.column_stack([to_numpy(table.column(c)) for c in cols])
            prev = vals[np.maximum(tie - 1, 0)]
            if tie[0] == 0:
                prev[0] = last_vals if last_vals is not None else np.nan
            drop = tie[(vals[tie] == prev).all(axis=1)]
        dropped["duplicates"] += len(drop)
        dropped["tied_timestamps"] = dropped.get("tied_timestamps", 0) + len(tie) - len(drop)
        # t is sorted here, so the rows before the previous chunk's last time are a prefix
        back = int(np.searchsorted(t, last, side="left")) if last is not None else 0
        if back and cfg.unsorted == "reject":
            raise DataError(f"{source}: timestamps go backwards near data row {index - n + 1}; sort the file")
        dropped["out_of_order"] += back - int(np.count_nonzero(drop < back))
        if len(drop) or back:
            keep = np.ones(len(t), dtype=bool)
            keep[drop] = False
            keep[:back] = False
            table, t = table.filter(mask(keep)), t[keep]
        if len(t):
            last = int(t[-1])
            last_vals = np.array([table.column(c)[len(t) - 1].as_py() for c in _value_cols(table)], dtype=np.float32)
            yield table


def _times(table: pa.Table) -> np.ndarray:
    """The ``time`` column as int64 ns (a zero-copy view for a single-chunk column)."""
    col = table.column("time")
    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return np.asarray(to_numpy(arr.view(pa.int64())), dtype=np.int64)


def _value_cols(table: pa.Table) -> list[str]:
    names = table.schema.names
    return [c for c in (*ACC, *GYR) if c in names]


def _events(tables: Iterator[pa.Table], cfg: IngestConfig) -> Iterator[pa.Table | None]:
    """Ordered chunks -> pieces of gap-free runs, with ``None`` between runs (resampled if asked).

    Without resampling, pieces stream through (bounded memory). With ``cfg.resample_hz`` one run is held in
    memory, resampled, then emitted.
    """
    gap = int(cfg.max_gap_s * 1e9)
    rate = cfg.resample_hz
    if rate is not None and rate <= 0:
        raise ConfigError(f"resample_hz must be positive, got {rate}")
    pending: list[pa.Table] = []
    last: int | None = None
    for table in tables:
        t = _times(table)
        edges = [0, *(np.flatnonzero(np.diff(t) > gap) + 1).tolist(), len(t)]
        for j, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            if j > 0 or (last is not None and t[a] - last > gap):
                if rate is not None:
                    yield from _resampled(pending, rate, cfg.max_gap_s)
                    pending = []
                yield None
            piece = table.slice(a, b - a)
            if rate is None:
                yield piece
            else:
                pending.append(piece)
        last = int(t[-1])
    if rate is not None and pending:
        yield from _resampled(pending, rate, cfg.max_gap_s)


def _resampled(pending: list[pa.Table], rate: float, max_gap_s: float) -> Iterator[pa.Table | None]:
    table = pa.concat_tables(pending)
    cols = [c for c in (*ACC, *GYR) if c in table.column_names]
    t = _times(table)
    vals = np.column_stack([table.column(c).to_numpy() for c in cols])
    labels = None
    names: list[str] = []
    if "label" in table.column_names:
        enc = pc.dictionary_encode(table.column("label").combine_chunks().dictionary_decode())
        names = enc.dictionary.to_pylist()
        labels = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    from wearfm.resample import resample  # scipy costs ~0.5-2 s to import: only when resampling

    segs, _ = resample(t, vals, float(rate), labels=labels, max_gap_s=max_gap_s)
    for k, s in enumerate(segs):
        if k:
            yield None
        out: dict[str, Any] = {"time": pa.array(s.time_ns).cast(pa.timestamp("ns"))}
        for i, c in enumerate(cols):
            out[c] = pa.array(s.values[:, i])
        if s.labels is not None:
            idx = pa.array(s.labels, pa.int32(), mask=s.labels < 0)
            out["label"] = pa.DictionaryArray.from_arrays(idx, pa.array(names, pa.string()))
        yield pa.table(out, schema=schema_for(list(out)))
