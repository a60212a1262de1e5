"""Paired modalities: text narrations and precomputed video (or other) embeddings attached to IMU windows.

A *paired dataset* is a canonical dataset (recordings + ``manifest.parquet``) with a ``pairs/`` folder:

- ``pairs/<modality>.parquet`` (``text``, ``video``): one row per span, columns ``recording`` (the
  manifest path), ``start_ns`` / ``end_ns`` (int64, same clock as the recordings' ``time``), ``vector``
  (list<float32>, one size per modality) and, for text, ``text``.
- ``pairs/pairs.json``: format marker, and per modality its size, row count and where vectors came from.

Inputs of :func:`pair_dataset`:

- narrations CSV: columns ``recording`` or ``subject``, ``start``, ``end``, ``text``;
- embeddings Parquet: columns ``recording`` or ``subject``, ``start``, ``end``, ``vector`` (list<float>).

``recording`` is a manifest path (with or without ``.parquet``) or a unique file stem; ``subject`` spreads a
span over that subject's recordings it overlaps. ``start``/``end`` are ISO date-times, or numbers in
``time_unit`` on the recordings' clock (``relative=True``: seconds from each recording's first sample).

A window takes the narration that overlaps it most, and the overlap-weighted mean of the video vectors
overlapping it; a window overlapped by no span lacks that modality (the losses mask it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from wearfm.data.windows import WindowSet
from wearfm.errors import ConfigError, DataError
from wearfm.io.manifest import MANIFEST_NAME, RecordingEntry, list_recordings, write_manifest

__all__ = ["PAIRS_DIR", "MODALITIES", "WindowPairs", "pair_dataset", "load_pairs", "has_pairs", "read_spans"]

log = logging.getLogger(__name__)

PAIRS_DIR = "pairs"
MODALITIES = ("text", "video")
_UNITS = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}
_INFO = "pairs.json"


@dataclass
class WindowPairs:
    """Per-window paired embeddings: ``vectors[m]`` (W, D_m) float32 (zeros where absent), ``present[m]`` (W,)."""

    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    present: dict[str, np.ndarray] = field(default_factory=dict)
    texts: np.ndarray | None = None  # (W,) object: the narration of each window, None where absent

    def dims(self) -> dict[str, int]:
        """Embedding size of each modality."""
        return {m: int(v.shape[1]) for m, v in self.vectors.items()}


def has_pairs(dataset: str | Path) -> bool:
    """Whether ``dataset`` is a paired dataset (has ``pairs/pairs.json``)."""
    return (Path(dataset) / PAIRS_DIR / _INFO).exists()


# --- reading span files --------------------------------------------------------------------------------


def _read_table(path: Path) -> pl.DataFrame:
    try:
        with open(path, "rb") as f:
            is_parquet = f.read(4) == b"PAR1"
        if is_parquet:
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=10000)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(f"{path}: cannot read ({str(e).splitlines()[0][:200]})") from None


def _check_columns(df: pl.DataFrame, path: Path, needed: tuple[str, ...]) -> str:
    key = "recording" if "recording" in df.columns else "subject" if "subject" in df.columns else None
    missing = [c for c in needed if c not in df.columns] + ([] if key else ["recording or subject"])
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing}; expected columns recording (or subject), {', '.join(needed)}; "
            f"found {df.columns}"
        )
    return key  # type: ignore[return-value]


def _times(col: pl.Series, path: Path, unit: str) -> np.ndarray:
    if col.null_count():
        raise DataError(f"{path}: column {col.name!r} has empty values (row {int(col.is_null().arg_max() or 0) + 2})")
    if col.dtype == pl.Utf8:
        try:
            parsed = col.str.to_datetime(time_unit="ns", strict=True)
        except pl.exceptions.PolarsError:
            try:
                return np.round(col.cast(pl.Float64, strict=True).to_numpy() * _UNITS[unit]).astype(np.int64)
            except pl.exceptions.PolarsError:
                raise DataError(
                    f"{path}: column {col.name!r} holds neither numbers nor ISO date-times (e.g. {col[0]!r})"
                ) from None
        return parsed.dt.replace_time_zone(None).cast(pl.Int64).to_numpy()
    if col.dtype.is_temporal():
        return col.cast(pl.Datetime("ns")).cast(pl.Int64).to_numpy()
    if col.dtype.is_numeric():
        return np.round(col.cast(pl.Float64).to_numpy() * _UNITS[unit]).astype(np.int64)
    raise DataError(f"{path}: column {col.name!r} has type {col.dtype}; give numbers or ISO date-times")


def _vectors(col: pl.Series, path: Path) -> np.ndarray:
    if not isinstance(col.dtype, pl.List | pl.Array):
        raise DataError(f"{path}: column 'vector' must be a list of floats, got {col.dtype}")
    lens = col.list.len().to_numpy() if isinstance(col.dtype, pl.List) else np.full(len(col), col.dtype.size)
    if len(lens) and (lens.min() != lens.max() or lens.min() == 0):
        bad = int(np.argmax(lens != lens[0])) if lens.min() != lens.max() else 0
        raise DataError(
            f"{path}: embedding vectors have inconsistent sizes ({sorted(set(lens.tolist()))[:5]}); row {bad + 1} "
            f"has {int(lens[bad])} values but row 1 has {int(lens[0])}; every vector must have the same size"
        )
    arr = np.asarray(col.to_list(), dtype=np.float32).reshape(len(col), int(lens[0]) if len(lens) else 0)
    if not np.isfinite(arr).all():
        row = int(np.argmax(~np.isfinite(arr).all(axis=1)))
        raise DataError(f"{path}: row {row + 1} of 'vector' holds NaN or infinite values")
    return arr


def read_spans(
    path: str | Path,
    entries: list[RecordingEntry],
    kind: str,
    *,
    time_unit: str = "s",
    relative: bool = False,
) -> pl.DataFrame:
    """Read a narrations CSV (``kind="text"``) or an embeddings Parquet (``kind="video"``) into resolved spans.

    Returns a DataFrame with ``recording`` (manifest path), ``start_ns``, ``end_ns`` and ``text`` or ``vector``.

    Raises:
        DataError: missing columns, unknown recordings or subjects, bad times, inconsistent vector sizes.
    """
    path = Path(path)
    if time_unit not in _UNITS:
        raise ConfigError(f"time unit {time_unit!r} is not one of {list(_UNITS)}")
    df = _read_table(path)
    payload = "text" if kind == "text" else "vector"
    key = _check_columns(df, path, ("start", "end", payload))
    if df.height == 0:
        raise DataError(f"{path}: no rows")
    start = _times(df["start"], path, time_unit)
    end = _times(df["end"], path, time_unit)
    bad = np.flatnonzero(end <= start)
    if len(bad):
        raise DataError(f"{path}: row {bad[0] + 2}: end must be after start")
    keys = df[key].cast(pl.Utf8).to_list()
    recs: list[str] = []
    rows: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    if key == "recording":
        lookup = _recording_lookup(entries)
        start_of = {e.path: e.start_ns for e in entries}
        for i, k in enumerate(keys):
            p = lookup.get(str(k))
            if p is None:
                raise DataError(
                    f"{path}: row {i + 2} references recording {k!r}, which is not in the dataset; known recordings "
                    f"(manifest paths) include {sorted(lookup)[:5]}"
                )
            off = start_of[p] if relative else 0
            recs.append(p)
            rows.append(i)
            starts.append(int(start[i]) + off)
            ends.append(int(end[i]) + off)
    else:
        if relative:
            raise ConfigError(f"{path}: relative times need a 'recording' column (a subject may have several)")
        by_subject: dict[str, list[RecordingEntry]] = {}
        for e in entries:
            by_subject.setdefault(e.subject, []).append(e)
        for i, k in enumerate(keys):
            if str(k) not in by_subject:
                raise DataError(
                    f"{path}: row {i + 2} references subject {k!r}, which is not in the dataset; "
                    f"known subjects include {sorted(by_subject)[:5]}"
                )
            for e in by_subject[str(k)]:
                if start[i] < e.start_ns + int(e.duration_s * 1e9) + 1 and end[i] > e.start_ns:
                    recs.append(e.path)
                    rows.append(i)
                    starts.append(int(start[i]))
                    ends.append(int(end[i]))
    sel = np.asarray(rows, dtype=np.int64)
    out = pl.DataFrame(
        {"recording": recs, "start_ns": np.asarray(starts, np.int64), "end_ns": np.asarray(ends, np.int64)},
        schema={"recording": pl.Utf8, "start_ns": pl.Int64, "end_ns": pl.Int64},
    )
    if kind == "text":
        texts = df["text"].cast(pl.Utf8)
        if texts.null_count():
            raise DataError(f"{path}: row {int(texts.is_null().arg_max() or 0) + 2} has an empty 'text'")
        return out.with_columns(pl.Series("text", texts.to_numpy()[sel] if len(sel) else [], dtype=pl.Utf8))
    vec = _vectors(df["vector"], path)
    return out.with_columns(pl.Series("vector", vec[sel].tolist() if len(sel) else [], dtype=pl.List(pl.Float32)))


def _recording_lookup(entries: list[RecordingEntry]) -> dict[str, str]:
    out: dict[str, str] = {}
    stems: dict[str, list[str]] = {}
    for e in entries:
        out[e.path] = e.path
        out[e.path.removesuffix(".parquet")] = e.path
        stems.setdefault(Path(e.path).stem, []).append(e.path)
    for s, paths in stems.items():
        if len(paths) == 1:
            out.setdefault(s, paths[0])
    return out


def _text_vectors(texts: list[str], text_embeddings: Path | None, cache_dir: Path | None) -> tuple[np.ndarray, str]:
    if text_embeddings is None:
        from wearfm.text import TEXT_MODEL, embed_texts

        return embed_texts(texts, cache_dir=cache_dir), TEXT_MODEL
    df = _read_table(text_embeddings)
    missing = [c for c in ("text", "vector") if c not in df.columns]
    if missing:
        raise DataError(f"{text_embeddings}: missing column(s) {missing}; expected columns text, vector")
    vec = _vectors(df["vector"], text_embeddings)
    table = dict(zip(df["text"].cast(pl.Utf8).to_list(), vec, strict=True))
    absent = sorted({t for t in texts if t not in table})
    if absent:
        raise DataError(f"{text_embeddings}: no vector for {len(absent)} narration(s), e.g. {absent[0]!r}")
    out = np.stack([table[t] for t in texts]) if texts else np.zeros((0, vec.shape[1]), np.float32)
    return out.astype(np.float32), f"precomputed:{text_embeddings.name}"


# --- writing a paired dataset ----------------------------------------------------------------------------


def pair_dataset(
    dataset: str | Path,
    out: str | Path,
    *,
    text: str | Path | None = None,
    video: str | Path | None = None,
    text_embeddings: str | Path | None = None,
    time_unit: str = "s",
    relative: bool = False,
    overwrite: bool = False,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Write a paired dataset: ``dataset``'s recordings (hard-linked, else copied), manifest, and ``pairs/``.

    Args:
        dataset: a canonical dataset folder (from `wearfm ingest`).
        out: the new folder.
        text: narrations CSV (recording or subject, start, end, text).
        video: embeddings Parquet (recording or subject, start, end, vector).
        text_embeddings: Parquet of precomputed text vectors (text, vector): no text model needed.
        time_unit: unit of numeric start/end values (s, ms, us, ns).
        relative: numeric times count from each recording's first sample.
        overwrite: replace ``out`` if it exists.
        cache_dir: text-embedding cache (default ``~/.cache/wearfm/text``).

    Returns:
        A summary: ``out``, ``recordings`` and, per modality, ``rows``, ``dim``, ``source``.

    Examples:
        >>> pair_dataset("data/ego", "data/ego-paired", text="narrations.csv")  # doctest: +SKIP
    """
    if text is None and video is None:
        raise ConfigError("nothing to pair: give --text narrations.csv and/or --video embeddings.parquet")
    if text_embeddings is not None and text is None:
        raise ConfigError("--text-embeddings gives vectors for the narrations of --text; give --text too")
    root, entries = list_recordings(dataset)
    if Path(dataset).is_file():
        raise DataError(f"{dataset}: give a dataset folder (from `wearfm ingest`), not one recording file")
    tables: dict[str, pl.DataFrame] = {}
    info: dict[str, Any] = {"format": "wearfm-pairs", "version": 1, "source": str(dataset), "modalities": {}}
    if text is not None:
        spans = read_spans(text, entries, "text", time_unit=time_unit, relative=relative)
        vecs, source = _text_vectors(
            spans["text"].to_list(),
            Path(text_embeddings) if text_embeddings else None,
            Path(cache_dir) if cache_dir else None,
        )
        tables["text"] = spans.with_columns(pl.Series("vector", vecs.tolist(), dtype=pl.List(pl.Float32)))
        info["modalities"]["text"] = {
            "dim": int(vecs.shape[1]),
            "rows": spans.height,
            "source": source,
            "file": Path(text).name,
        }
    if video is not None:
        spans = read_spans(video, entries, "video", time_unit=time_unit, relative=relative)
        dim = len(spans["vector"][0]) if spans.height else 0
        tables["video"] = spans
        info["modalities"]["video"] = {"dim": dim, "rows": spans.height, "source": Path(video).name}
    for m, t in tables.items():
        if t.height == 0:
            raise DataError(f"no {m} span overlaps any recording of {dataset}; check the times and their unit")
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise ConfigError(f"{out} already exists; pass --overwrite to replace it")
        if out.resolve() == Path(root).resolve():
            raise ConfigError(f"{out}: the output must differ from the input dataset")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    linked = 0
    for e in entries:
        dst = out / e.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(root / e.path, dst)
            linked += 1
        except OSError:
            shutil.copy2(root / e.path, dst)
    if (root / MANIFEST_NAME).exists():
        shutil.copy2(root / MANIFEST_NAME, out / MANIFEST_NAME)
    else:
        write_manifest(out, entries)
    (out / PAIRS_DIR).mkdir()
    for m, t in tables.items():
        t.sort(["recording", "start_ns"]).write_parquet(out / PAIRS_DIR / f"{m}.parquet")
    (out / PAIRS_DIR / _INFO).write_text(json.dumps(info, indent=2))
    log.info("paired %d recordings (%d hard-linked) with %s", len(entries), linked, sorted(tables))
    return {"out": str(out), "recordings": len(entries), "hard_linked": linked, **info["modalities"]}


# --- attaching pairs to windows ---------------------------------------------------------------------------


def load_pairs(dataset: str | Path, windows: WindowSet, modalities: tuple[str, ...] | None = None) -> WindowPairs:
    """Attach each window's paired modalities (see the module docstring for the matching rule).

    Raises:
        DataError: ``dataset`` has no ``pairs/`` folder, or a requested modality is absent.
    """
    d = Path(dataset) / PAIRS_DIR
    if not (d / _INFO).exists():
        raise DataError(
            f"{dataset}: no paired modalities ({PAIRS_DIR}/{_INFO} missing); create them with "
            f"`wearfm pair {dataset} --text narrations.csv --video video.parquet --out {dataset}-paired`"
        )
    info = json.loads((d / _INFO).read_text())
    have = tuple(m for m in MODALITIES if m in info.get("modalities", {}))
    want = modalities if modalities is not None else have
    missing = [m for m in want if m not in have]
    if missing:
        raise DataError(f"{dataset}: no {missing} pairs (has {list(have)}); add them with `wearfm pair`")
    w_start = windows.start_ns.astype(np.int64)
    w_end = w_start + int(round(windows.window * 1e9 / windows.rate_hz))
    # windows grouped by recording once (flat arrays, no per-window objects); pair rows matched by path
    rec_of = {e.path: r for r, e in enumerate(windows.entries)}
    by_rec = np.argsort(np.asarray(windows.recording), kind="stable")
    rec_bounds = np.searchsorted(np.asarray(windows.recording)[by_rec], np.arange(len(windows.entries) + 1))
    out = WindowPairs()
    for m in want:
        table = pq.read_table(d / f"{m}.parquet")
        dim = int(info["modalities"][m]["dim"])
        vecs = np.zeros((len(windows), dim), np.float32)
        present = np.zeros(len(windows), bool)
        texts = np.full(len(windows), None, dtype=object) if m == "text" else None
        rec = table.column("recording").to_numpy(zero_copy_only=False).astype(str)
        starts = table.column("start_ns").to_numpy()
        ends = table.column("end_ns").to_numpy()
        flat = table.column("vector").combine_chunks()
        allv = flat.flatten().to_numpy(zero_copy_only=False).reshape(len(table), dim).astype(np.float32)
        tx = table.column("text").to_numpy(zero_copy_only=False) if m == "text" else None
        row_order = np.argsort(rec, kind="stable")
        paths, first = np.unique(rec[row_order], return_index=True)
        for path, a, b in zip(paths, first, [*first[1:], len(rec)], strict=True):
            r = rec_of.get(str(path))
            if r is None:
                continue
            rows = np.sort(row_order[a:b])
            wins = by_rec[rec_bounds[r] : rec_bounds[r + 1]]
            for chunk in np.array_split(wins, max(1, len(wins) // 2048 + 1)):
                if len(chunk) == 0:
                    continue
                ov = np.minimum(w_end[chunk, None], ends[None, rows]) - np.maximum(
                    w_start[chunk, None], starts[None, rows]
                )
                ov = np.clip(ov, 0, None).astype(np.float64)  # (w, r) overlap in ns
                hit = ov.sum(1) > 0
                if not hit.any():
                    continue
                if m == "text":
                    best = rows[np.argmax(ov, axis=1)]
                    vecs[chunk[hit]] = allv[best[hit]]
                    assert texts is not None and tx is not None
                    texts[chunk[hit]] = tx[best[hit]]
                else:
                    wts = ov[hit] / ov[hit].sum(1, keepdims=True)
                    vecs[chunk[hit]] = (wts @ allv[rows]).astype(np.float32)
                present[chunk[hit]] = True
        out.vectors[m], out.present[m] = vecs, present
        if texts is not None:
            out.texts = texts
        log.info("%s: %d of %d windows paired", m, int(present.sum()), len(windows))
    return out
