"""Ingest-time signal checks over a written recording, streamed: calibration, non-wear and clipping.

Two passes over the file's row groups keep memory flat in the recording's length: pass 1 accumulates
10 s epoch statistics (:class:`wearfm.signal.EpochAccumulator`), from which the calibration is fitted and
non-wear is found; pass 2 rewrites the file atomically with calibrated values, a ``nonwear`` column
(``mark``) or only the worn stretches (``drop``, one file per stretch, like a gap), and the results in the
``wearfm.calibration``, ``wearfm.nonwear`` and ``wearfm.clipping`` metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wearfm.config import IngestConfig
from wearfm.errors import ConfigError
from wearfm.io.manifest import RecordingEntry
from wearfm.io.schema import ACC, SCHEMA_VERSION, read_metadata, schema_for
from wearfm.io.writer import RecordingWriter
from wearfm.signal.calibrate import CalibrationFit, fit_gravity, still_points
from wearfm.signal.clipping import clip_threshold
from wearfm.signal.epochs import EpochAccumulator, EpochStats
from wearfm.signal.nonwear import nonwear_epochs, runs_of, spans_ns

__all__ = ["NONWEAR_MODES", "check_signal_options", "needs_signal_pass", "preprocess_recording"]

log = logging.getLogger(__name__)

NONWEAR_MODES = ("keep", "mark", "drop")
_BATCH_ROWS = 1_000_000


def check_signal_options(cfg: IngestConfig) -> None:
    """Raise ``ConfigError`` for an unknown ``--nonwear`` mode or a non-positive threshold."""
    if cfg.nonwear not in NONWEAR_MODES:
        raise ConfigError(f"nonwear must be one of {list(NONWEAR_MODES)}, got {cfg.nonwear!r}")
    s = cfg.signal
    for name in ("epoch_s", "calib_sd_g", "calib_sphere_g", "calib_max_error_g", "nonwear_sd_g", "clip_fraction"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"signal.{name} must be positive, got {getattr(s, name)}")
    if s.nonwear_min_minutes * 60 < s.epoch_s:
        raise ConfigError(f"signal.nonwear_min_minutes must cover at least one epoch ({s.epoch_s:g} s)")


def needs_signal_pass(cfg: IngestConfig) -> bool:
    """Whether ingest runs :func:`preprocess_recording` on its outputs."""
    return cfg.calibrate or cfg.nonwear != "keep"


def _times(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(arr.cast(pa.int64()).to_numpy(), dtype=np.int64)


def _batches(pf: pq.ParquetFile, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The file's rows in batches of at most ``_BATCH_ROWS``, one row group in memory at a time.

    (``ParquetFile.iter_batches`` keeps the buffers of row groups already read: memory grows with the file.)
    """
    for i in range(pf.metadata.num_row_groups):
        yield from pf.read_row_group(i, columns=columns).to_batches(max_chunksize=_BATCH_ROWS)


def _pass1(pf: pq.ParquetFile, epoch_s: float) -> tuple[EpochStats, int]:
    acc: EpochAccumulator | None = None
    last = 0
    for batch in _batches(pf, ["time", *ACC]):
        t = _times(batch.column(0))
        if acc is None:
            acc = EpochAccumulator(int(t[0]), epoch_s)
        acc.add(t, np.column_stack([batch.column(i).to_numpy() for i in (1, 2, 3)]))
        last = int(t[-1])
    if acc is None:
        return EpochAccumulator(0, epoch_s).result(), 0
    return acc.result(), last


def _scaled(stats: EpochStats, fit: CalibrationFit | None) -> EpochStats:
    """Epoch SDs and ranges as the calibrated data would have them (offsets do not change them)."""
    if fit is None or not fit.applied:
        return stats
    g = np.abs(np.asarray(fit.gain))
    return replace(stats, sd=stats.sd * g, range=stats.range * g)


class _Piece:
    """One output file of pass 2 and what its manifest entry needs."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.writer = RecordingWriter(path, meta, buffer_rows=_BATCH_ROWS)
        self.start = -1
        self.end = -1
        self.rows = 0
        self.clipped = 0
        self.labels: dict[str, int] = {}

    def add(self, table: pa.Table, t: np.ndarray, clipped: int) -> None:
        if self.start < 0:
            self.start = int(t[0])
        self.end = int(t[-1])
        self.rows += len(t)
        self.clipped += clipped
        if "label" in table.column_names:
            for row in pc.value_counts(table.column("label").combine_chunks().dictionary_decode()).to_pylist():
                if row["values"] is not None:
                    self.labels[row["values"]] = self.labels.get(row["values"], 0) + int(row["counts"])
        self.writer.write(table)

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / 1e9 if self.rows else 0.0


def preprocess_recording(path: Path, cfg: IngestConfig, entry: RecordingEntry, root: Path) -> list[RecordingEntry]:
    """Apply ``cfg.calibrate`` and ``cfg.nonwear`` to the recording at ``path`` (rewritten atomically).

    Args:
        path: a recording file written by ingest.
        cfg: the ingest options (``calibrate``, ``nonwear``, ``signal`` thresholds, ``min_duration_s``).
        entry: its manifest entry.
        root: the dataset folder (entries' paths are relative to it).

    Returns:
        The manifest entries of what is now there: one (``keep``, ``mark``), or one per worn stretch of at
        least ``min_duration_s`` (``drop``; none when the device was never worn).
    """
    sc = cfg.signal
    pf = pq.ParquetFile(path)
    meta = {k: v for k, v in read_metadata(path).items() if k not in ("rows", "columns")}
    stats, last_ns = _pass1(pf, sc.epoch_s)
    fit: CalibrationFit | None = None
    if cfg.calibrate:
        fit = fit_gravity(
            stats.mean[still_points(stats, sc.calib_sd_g)],
            sphere_g=sc.calib_sphere_g,
            min_points=sc.calib_min_points,
            max_error_g=sc.calib_max_error_g,
            max_iter=sc.calib_max_iter,
        )
        if not fit.applied:
            log.warning("%s: calibration not applied: %s", path.name, fit.reason)
    flags = np.zeros(len(stats), dtype=bool)
    if cfg.nonwear != "keep":
        flags = nonwear_epochs(_scaled(stats, fit), sc.nonwear_sd_g, sc.nonwear_min_minutes, sc.nonwear_range_g)
    spans = spans_ns(flags, stats, last_ns)
    nonwear_s = sum(e - s for s, e in spans) / 1e9
    rule = {
        "method": "actipy/GGIR standard deviation",
        "epoch_s": sc.epoch_s,
        "sd_g": sc.nonwear_sd_g,
        "range_g": sc.nonwear_range_g,
        "min_minutes": sc.nonwear_min_minutes,
    }
    range_g = meta.get("device_range_g")
    threshold = clip_threshold(float(range_g), sc.clip_fraction) if range_g else None
    meta["schema_version"] = SCHEMA_VERSION
    if fit is not None:
        meta["calibration"] = fit.to_dict()
    offset = np.asarray(fit.offset) if fit is not None and fit.applied else None
    gain = np.asarray(fit.gain) if fit is not None and fit.applied else None

    stem = path.name[: -len(".parquet")] if path.name.endswith(".parquet") else path.name
    pieces: list[_Piece] = []
    current: _Piece | None = None
    drop = cfg.nonwear == "drop"
    try:
        for batch in _batches(pf):
            table = pa.Table.from_batches([batch])
            t = _times(table.column("time"))
            raw = np.column_stack([table.column(c).to_numpy() for c in ACC])
            clip = (np.abs(raw) >= threshold).any(axis=1) if threshold is not None else None
            if offset is not None and gain is not None:
                cal = (offset + gain * raw.astype(np.float64)).astype(np.float32)
                for k, c in enumerate(ACC):
                    table = table.set_column(table.column_names.index(c), c, pa.array(cal[:, k]))
            epoch = np.minimum((t - stats.origin_ns) // stats.epoch_ns, len(flags) - 1)
            nw = flags[epoch] if len(flags) else np.zeros(len(t), dtype=bool)
            if not drop:
                if cfg.nonwear == "mark":
                    table = table.drop_columns([c for c in ("nonwear",) if c in table.column_names])
                    table = table.append_column("nonwear", pa.array(nw))
                    table = table.select(schema_for(table.column_names).names)
                if current is None:
                    current = _Piece(path, meta)
                    pieces.append(current)
                current.add(table, t, int(clip.sum()) if clip is not None else 0)
                continue
            # a worn stretch continues the current piece unless non-wear came between them
            starts, ends = runs_of(~nw)
            for a, b in zip(starts, ends, strict=True):
                if a > 0 or current is None:
                    current = _Piece(path.parent / f"{stem}.part{len(pieces):03d}.parquet", meta)
                    pieces.append(current)
                current.add(table.slice(a, b - a), t[a:b], int(clip[a:b].sum()) if clip is not None else 0)
            if not len(ends) or ends[-1] < len(t):
                current = None
        return _finish(path, root, cfg, entry, meta, pieces, rule, spans, nonwear_s, range_g, threshold, drop)
    except BaseException:
        for p in pieces:
            p.writer.abort()
        raise


def _finish(
    path: Path,
    root: Path,
    cfg: IngestConfig,
    entry: RecordingEntry,
    meta: dict[str, Any],
    pieces: list[_Piece],
    rule: dict[str, Any],
    spans: list[list[int]],
    nonwear_s: float,
    range_g: Any,
    threshold: float | None,
    drop: bool,
) -> list[RecordingEntry]:
    kept = [p for p in pieces if p.rows >= 2 and p.duration_s >= cfg.min_duration_s]
    for p in pieces:
        if p not in kept:
            p.writer.abort()
    if drop and len(kept) == 1 and not spans:
        kept[0].writer.path = path  # worn throughout: the file keeps its name
    entries = []
    for i, p in enumerate(kept):
        final: dict[str, Any] = {
            "clipping": {
                "range_g": range_g,
                "threshold_g": threshold,
                "samples": p.clipped if threshold is not None else None,
            }
        }
        if drop:
            final["sample_rate_measured_hz"] = round((p.rows - 1) / p.duration_s, 4) if p.duration_s else 0.0
            final["nonwear"] = {
                "mode": "drop",
                "rule": rule,
                "wear_s": p.duration_s,
                "nonwear_s": 0.0,
                "episodes": 0,
                "spans_ns": [],
                "dropped_s": nonwear_s,
                "part_of": path.name,
                "part": i,
            }
        elif cfg.nonwear == "mark":
            final["nonwear"] = {
                "mode": "mark",
                "rule": rule,
                "wear_s": max(p.duration_s - nonwear_s, 0.0),
                "nonwear_s": nonwear_s,
                "episodes": len(spans),
                "spans_ns": spans,
            }
        p.writer.close(final)
        committed = p.writer.commit()
        nw = final.get("nonwear")
        entries.append(
            replace(
                entry,
                path=str(committed.relative_to(root)),
                start_ns=p.start,
                duration_s=p.duration_s,
                samples=p.rows,
                sample_rate_hz=final.get("sample_rate_measured_hz", entry.sample_rate_hz),
                label_counts=dict(sorted(p.labels.items())) if drop else entry.label_counts,
                wear_s=None if nw is None else nw["wear_s"],
                nonwear_s=None if nw is None else nw["nonwear_s"],
            )
        )
    if drop and not (len(kept) == 1 and kept[0].writer.path == path):
        path.unlink(missing_ok=True)
        if not kept:
            log.warning("%s: no worn stretch of at least %g s; nothing kept", path.name, cfg.min_duration_s)
    return entries
