"""`wearfm classify predict`: every window of every recording through a fitted classifier, to a Parquet timeline.

Recordings are processed one at a time, and each in blocks of ``block_hours`` (6 h): a block is read (only its
row groups), windowed and resampled by the probe's :func:`~wearfm.data.windows.load_windows`, and embedded and
classified in chunks of ``chunk_windows`` windows. Once a recording's blocks are done, its windows are smoothed
and appended to the output file as row groups. Memory holds one block's samples and one recording's
per-window probabilities (a week of 10 s windows: 60,480 rows), never a whole recording's samples.

Output columns (one row per window): ``recording``, ``subject``, ``start`` (timestamp of the window's first
sample, in the recording's time reference), ``seconds`` (the time the window stands for in summaries: the
stride, or the window when windows do not overlap), ``label`` (the recorded label covering ``label_purity``
of the window, else null), ``nonwear`` (the window overlaps non-wear marked at ingest), ``predicted``
(smoothed; ``nonwear`` for non-wear windows), ``predicted_raw`` (the argmax before smoothing) and
``prob_<class>`` (float32; NaN for non-wear windows).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.metrics import f1_score

from wearfm.classify.model import NONWEAR_CLASS, Classifier, load_classifier
from wearfm.classify.smooth import parse_smooth, smooth
from wearfm.config import ClassifyConfig, to_dict
from wearfm.data.windows import channel_spec, load_windows, worn_mask
from wearfm.errors import ConfigError, DataError
from wearfm.io.manifest import RecordingEntry, lacking_channels, list_recordings
from wearfm.io.schema import read_metadata

__all__ = ["predict", "RATE_TOLERANCE"]

log = logging.getLogger(__name__)

RATE_TOLERANCE = 0.01  # relative difference of sample rates taken as "the same rate"


def _schema(classes: list[str]) -> pa.Schema:
    fields = [
        pa.field("recording", pa.string()),
        pa.field("subject", pa.string()),
        pa.field("start", pa.timestamp("ns")),
        pa.field("seconds", pa.float32()),
        pa.field("label", pa.string()),
        pa.field("nonwear", pa.bool_()),
        pa.field("predicted", pa.string()),
        pa.field("predicted_raw", pa.string()),
    ]
    fields += [pa.field(f"prob_{c}", pa.float32()) for c in classes]
    return pa.schema(fields)


def _check_data(clf: Classifier, entries: list[RecordingEntry], cfg: ClassifyConfig) -> None:
    missing = lacking_channels(entries, clf.channels)
    if missing:
        e = missing[0]
        raise DataError(
            f"the classifier needs channels {channel_spec(clf.channels)} ({', '.join(clf.channels)}), which "
            f"{len(missing)} recording(s) of {cfg.data} lack (e.g. {e.path}, which has "
            f"{channel_spec(e.channels) or 'no channels'}); predict on data with those channels, or fit a "
            f"classifier on channels the data has (--set channels=... with a baseline encoder)"
        )
    other = [e for e in entries if abs(e.sample_rate_hz - clf.rate_hz) > RATE_TOLERANCE * clf.rate_hz]
    if other and cfg.strict:
        e = other[0]
        raise ConfigError(
            f"{len(other)} recording(s) are not at the classifier's {clf.rate_hz:g} Hz (e.g. {e.path} at "
            f"{e.sample_rate_hz:g} Hz) and --strict is set; drop --strict to resample them"
        )
    if other:
        rates = sorted({round(e.sample_rate_hz, 2) for e in other})
        log.info("%d recording(s) at %s Hz resampled to the classifier's %g Hz", len(other), rates[:5], clf.rate_hz)


def _runs(worn: np.ndarray, start_ns: np.ndarray, step_ns: int) -> list[tuple[int, int]]:
    """[a, b) spans of consecutive worn windows with no gap between them (smoothing never crosses either)."""
    n = len(worn)
    if n == 0:
        return []
    brk = np.ones(n, dtype=bool)
    brk[1:] = (np.diff(start_ns) > 1.5 * step_ns) | (worn[1:] != worn[:-1])
    starts = np.flatnonzero(brk)
    ends = [*starts[1:], n]
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if worn[a]]


def _blocks(
    path: Path, e: RecordingEntry, clf: Classifier, cfg: ClassifyConfig, stride: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(start_ns, worn, label strings, probabilities) of the windows of one recording, ``block_hours`` at a time.

    Block ``i`` reads the samples of ``[a_i, a_{i+1} + window)`` and keeps the windows starting before
    ``a_{i+1}``, so a window is never cut by a block boundary. Blocks are a whole number of strides long, so
    the window grid of each block (from its first sample) continues the one before.
    """
    step_ns = stride * 1e9 / clf.rate_hz
    # blocks a whole number of strides long, so each block's window grid continues the one before
    block_ns = int(round(max(1, round(cfg.block_hours * 3600e9 / step_ns)) * step_ns))
    window_ns = int(np.ceil(clf.window * 1e9 / clf.rate_hz)) + 1
    end_ns = e.start_ns + int(np.ceil(e.duration_s * 1e9)) + window_ns
    a = e.start_ns
    last = -1
    while a < end_ns:
        b = a + block_ns
        try:
            ws = load_windows(
                path,
                rate_hz=clf.rate_hz,
                window=clf.window,
                channels=clf.channels,
                stride=stride,
                label_purity=cfg.label_purity,
                nonwear="keep",
                time_range=(a, b + window_ns) if e.duration_s * 1e9 > block_ns else None,
            )
        except DataError:
            a = b
            continue
        keep = (ws.start_ns < b) & (ws.start_ns > last)
        ws = ws.subset(keep)
        if len(ws):
            last = int(ws.start_ns[-1])
            worn = worn_mask(ws)
            proba = np.full((len(ws), len(clf.classes)), np.nan, dtype=np.float64)
            idx = np.flatnonzero(worn)
            for i in range(0, len(idx), cfg.chunk_windows):
                part = idx[i : i + cfg.chunk_windows]
                proba[part] = clf.predict_proba(ws.batch(part), cfg.batch_size, cfg.device)
            yield ws.start_ns, worn, ws.label_strings(), proba
        if e.duration_s * 1e9 <= block_ns:
            return
        a = b


def predict(cfg: ClassifyConfig) -> dict[str, Any]:
    """Classify every window of ``cfg.data`` with the classifier folder ``cfg.model``; write ``cfg.out``.

    Returns:
        A JSON-friendly summary: windows, recordings, non-wear windows, windows per predicted class, and,
        where the data are labelled, window macro-F1 (over labelled worn windows of the classifier's classes,
        averaged over the classes present) before and after smoothing.

    Raises:
        CheckpointError: ``cfg.model`` is not a classifier folder of this version.
        DataError: missing channels, no recording long enough for a window.
        ConfigError: bad options, or another sample rate with ``strict``.
    """
    t0 = time.perf_counter()
    if not cfg.out:
        raise ConfigError("give --out: the Parquet timeline to write")
    if cfg.chunk_windows < 1:
        raise ConfigError(f"chunk_windows must be at least 1, got {cfg.chunk_windows}")
    if cfg.block_hours <= 0:
        raise ConfigError(f"block_hours must be positive, got {cfg.block_hours}")
    method, k = parse_smooth(cfg.smooth)
    clf = load_classifier(cfg.model)
    root, entries = list_recordings(cfg.data)
    if cfg.subjects:
        entries = [e for e in entries if e.subject in set(cfg.subjects)]
        if not entries:
            raise ConfigError(f"--subjects {list(cfg.subjects)}: no recording of {cfg.data} belongs to them")
    _check_data(clf, entries, cfg)
    stride = max(1, int(round(cfg.stride_s * clf.rate_hz))) if cfg.stride_s else clf.window
    seconds = min(stride, clf.window) / clf.rate_hz
    step_ns = int(round(stride * 1e9 / clf.rate_hz))
    classes = np.asarray(clf.classes, dtype=object)
    class_code = {c: i for i, c in enumerate(clf.classes)}
    schema = _schema(clf.classes)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    counts: dict[str, int] = {}
    truth: list[np.ndarray] = []
    raw_pred: list[np.ndarray] = []
    smooth_pred: list[np.ndarray] = []
    n_windows = n_nonwear = n_recordings = 0
    references: set[str] = set()
    clf.resolved_encoder(cfg.device, cfg.batch_size)  # load the encoder once, before any recording
    writer = pq.ParquetWriter(tmp, schema)
    try:
        for e in entries:
            path = root / e.path
            parts = list(_blocks(path, e, clf, cfg, stride))
            if not parts:
                log.warning(
                    "%s: skipped (no gap-free stretch as long as a %g s window)", e.path, clf.window / clf.rate_hz
                )
                continue
            references.add(str(read_metadata(path).get("time_reference") or "unknown"))
            start_ns = np.concatenate([p[0] for p in parts])
            worn = np.concatenate([p[1] for p in parts])
            labels = np.concatenate([p[2] for p in parts])
            proba = np.concatenate([p[3] for p in parts])
            n = len(start_ns)
            idx = np.flatnonzero(worn)
            raw = np.full(n, -1, dtype=np.int64)
            smoothed = np.full(n, -1, dtype=np.int64)
            raw[idx] = proba[idx].argmax(axis=1) if len(idx) else raw[idx]
            for a, b in _runs(worn, start_ns, step_ns):
                smoothed[a:b] = smooth(proba[a:b], method, k, clf.transitions, clf.prior)
            names_raw = np.where(raw >= 0, classes[np.maximum(raw, 0)], NONWEAR_CLASS)
            names = np.where(smoothed >= 0, classes[np.maximum(smoothed, 0)], NONWEAR_CLASS)
            for i in range(0, n, cfg.chunk_windows):
                sl = slice(i, min(n, i + cfg.chunk_windows))
                m = sl.stop - sl.start
                cols: list[Any] = [
                    pa.array([e.path] * m, pa.string()),
                    pa.array([e.subject] * m, pa.string()),
                    pa.array(start_ns[sl], pa.int64()).cast(pa.timestamp("ns")),
                    pa.array(np.full(m, seconds, np.float32)),
                    pa.array(labels[sl].tolist(), pa.string()),
                    pa.array(~worn[sl]),
                    pa.array(names[sl].tolist(), pa.string()),
                    pa.array(names_raw[sl].tolist(), pa.string()),
                ]
                cols += [pa.array(proba[sl, j].astype(np.float32)) for j in range(len(clf.classes))]
                writer.write_table(pa.Table.from_arrays(cols, schema=schema))
            for c, cnt in zip(*np.unique(names, return_counts=True), strict=True):
                counts[str(c)] = counts.get(str(c), 0) + int(cnt)
            true = np.array([class_code.get(s, -1) if s is not None else -1 for s in labels], dtype=np.int64)
            scored = worn & (true >= 0)
            truth.append(true[scored])
            raw_pred.append(raw[scored])
            smooth_pred.append(smoothed[scored])
            n_windows += n
            n_nonwear += int((~worn).sum())
            n_recordings += 1
            log.info("%s: %d windows (%d non-wear)", e.path, n, int((~worn).sum()))
        if len(references) > 1:
            log.warning("recordings have different time references %s; days in summaries mix them", sorted(references))
        meta = {
            "wearfm.classifier": json.dumps(
                {"path": str(cfg.model), "classes": clf.classes, "rate_hz": clf.rate_hz, "window": clf.window}
            ),
            "wearfm.time_reference": json.dumps(sorted(references)[0] if len(references) == 1 else "mixed"),
            "wearfm.predict_options": json.dumps(to_dict(cfg), default=str),
        }
        writer.add_key_value_metadata(meta)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    writer.close()
    if n_recordings == 0:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{cfg.data}: no recording is long enough for a {clf.window / clf.rate_hz:g} s window")
    tmp.replace(out)
    res: dict[str, Any] = {
        "out": str(out),
        "recordings": n_recordings,
        "windows": n_windows,
        "nonwear_windows": n_nonwear,
        "smooth": cfg.smooth,
        "predicted": dict(sorted(counts.items())),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    y = np.concatenate(truth) if truth else np.zeros(0, np.int64)
    if len(y):
        res["labelled_windows"] = int(len(y))
        res["macro_f1_raw"] = _macro_f1(y, np.concatenate(raw_pred))
        res["macro_f1"] = _macro_f1(y, np.concatenate(smooth_pred))
    return res


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the classes present in ``y_true`` (the probe's definition)."""
    present = np.unique(y_true)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
