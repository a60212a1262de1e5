"""The dataset manifest: one row per recording file, written next to the recordings."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wearfm.errors import DataError
from wearfm.io._arrow import from_numpy, strings
from wearfm.io.schema import GYR, NON_CHANNEL_COLUMNS, read_metadata

__all__ = [
    "MANIFEST_NAME", "RecordingEntry", "read_manifest", "write_manifest", "entry_from_file", "list_recordings",
    "lacking_channels", "part_name", "is_manifest_file",
]  # fmt: skip

MANIFEST_NAME = "manifest.parquet"
_PART = re.compile(r"^manifest\.shard-(\d+)-of-(\d+)\.parquet$")


def part_name(k: int, n: int) -> str:
    """File name of shard ``k`` of ``n``'s manifest part, e.g. ``manifest.shard-003-of-064.parquet``."""
    return f"manifest.shard-{k:03d}-of-{n:03d}.parquet"


def is_manifest_file(name: str) -> bool:
    """Whether a file name is the manifest or a shard's manifest part (not a recording)."""
    return name == MANIFEST_NAME or bool(_PART.match(name))


@dataclass(frozen=True)
class RecordingEntry:
    """One recording of a dataset, as listed in ``manifest.parquet``.

    ``path`` is relative to the dataset folder; ``start_ns`` is the first timestamp (ns, same reference as
    the file's ``time`` column); ``label_counts`` maps label -> number of samples. ``wear_s`` and
    ``nonwear_s`` are set when ingest checked for non-wear (``--nonwear mark|drop``), else None.
    """

    path: str
    subject: str
    device: str
    placement: str
    session: str | None
    start_ns: int
    duration_s: float
    samples: int
    sample_rate_hz: float
    channels: tuple[str, ...]
    label_counts: dict[str, int] = field(default_factory=dict)
    source_file: str = ""
    source_sha256: str = ""
    subject_source: str = ""  # how `subject` was assigned (see wearfm.io.schema.METADATA_KEYS); "" if unknown
    wear_s: float | None = None
    nonwear_s: float | None = None

    @property
    def has_gyr(self) -> bool:
        """Whether the recording carries gyroscope columns."""
        return all(c in self.channels for c in GYR)


_FIELDS = fields(RecordingEntry)
_MANIFEST_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("subject", pa.string()),
        ("device", pa.string()),
        ("placement", pa.string()),
        ("session", pa.string()),
        ("start_ns", pa.int64()),
        ("duration_s", pa.float64()),
        ("samples", pa.int64()),
        ("sample_rate_hz", pa.float64()),
        ("channels", pa.string()),
        ("label_counts", pa.string()),
        ("source_file", pa.string()),
        ("source_sha256", pa.string()),
        ("subject_source", pa.string()),
        ("wear_s", pa.float64()),
        ("nonwear_s", pa.float64()),
    ]
)


def write_manifest(
    root: str | Path,
    entries: list[RecordingEntry],
    name: str = MANIFEST_NAME,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``manifest.parquet`` (or the file ``name``) atomically in ``root``; entries are sorted by path.

    ``metadata``: key-value pairs stored in the Parquet schema (a shard part records its shard and state).
    """
    root = Path(root)
    # a shallow dict per entry (dataclasses.asdict deep-copies every value: slow for thousands of entries)
    rows = [{f.name: getattr(e, f.name) for f in _FIELDS} for e in sorted(entries, key=lambda e: e.path)]
    for r in rows:
        r["channels"] = ",".join(r["channels"])
        r["label_counts"] = json.dumps(r["label_counts"], sort_keys=True)
    # column by column from buffers: pa.Table.from_pylist would import pandas (half a second) on a cold start
    arrays = []
    for f in _MANIFEST_SCHEMA:
        values = [r[f.name] for r in rows]
        if f.type == pa.string():
            arrays.append(strings(values))
        elif any(v is None for v in values) and f.type == pa.float64():  # e.g. wear_s of unchecked recordings
            valid = np.array([v is not None for v in values], dtype=bool)
            nums = np.array([0.0 if v is None else v for v in values], dtype=np.float64)
            bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
            nulls = int(len(valid) - valid.sum())
            arrays.append(pa.Array.from_buffers(f.type, len(nums), [bitmap, pa.py_buffer(nums)], null_count=nulls))
        elif any(v is None for v in values):  # nulls: only Arrow's converter keeps them
            arrays.append(pa.array(values, f.type))
        else:
            arrays.append(from_numpy(np.array(values, dtype=np.int64 if f.type == pa.int64() else np.float64), f.type))
    schema = _MANIFEST_SCHEMA.with_metadata(metadata) if metadata else _MANIFEST_SCHEMA
    table = pa.Table.from_arrays(arrays, schema=schema)
    out = root / name
    tmp = root / f".{name}.tmp"
    pq.write_table(table, tmp)
    tmp.replace(out)
    return out


def read_manifest(root: str | Path, name: str = MANIFEST_NAME) -> list[RecordingEntry]:
    """Read a dataset's manifest (or the manifest file ``name``); raise ``DataError`` if there is none."""
    path = Path(root) / name
    if not path.exists():
        raise DataError(f"{root}: no {MANIFEST_NAME}; is this a dataset written by `wearfm ingest`?")
    out = []
    for r in pq.ParquetFile(path).read().to_pylist():  # not read_table: it imports pyarrow.dataset and pandas
        # manifests written before wear_s/nonwear_s existed lack them: the fields' defaults (None) apply
        r["channels"] = tuple(c for c in r["channels"].split(",") if c)
        r["label_counts"] = json.loads(r["label_counts"] or "{}")
        r["subject_source"] = r.get("subject_source") or ""  # manifests written before the column existed
        out.append(RecordingEntry(**r))
    return out


def entry_from_file(path: str | Path, root: str | Path | None = None) -> RecordingEntry:
    """Build a manifest entry from a recording file's metadata and contents."""
    path = Path(path)
    meta = read_metadata(path)
    cols = pq.read_table(path, columns=["time"] + (["label"] if "label" in meta["columns"] else []))
    t = cols.column("time").cast(pa.int64()).to_numpy()
    counts: dict[str, int] = {}
    if "label" in cols.column_names:
        vc = cols.column("label").combine_chunks().dictionary_decode().value_counts()
        counts = {str(v["values"]): int(v["counts"]) for v in vc.to_pylist() if v["values"] is not None}
    duration = float((t[-1] - t[0]) / 1e9) if len(t) else 0.0
    return RecordingEntry(
        path=str(path.relative_to(root)) if root is not None else path.name,
        subject=str(meta.get("subject", "")),
        device=str(meta.get("device", "")),
        placement=str(meta.get("placement", "unknown")),
        session=None if meta.get("session") is None else str(meta["session"]),
        start_ns=int(t[0]) if len(t) else 0,
        duration_s=duration,
        samples=int(meta["rows"]),
        sample_rate_hz=float(meta.get("sample_rate_measured_hz") or 0.0),
        channels=tuple(c for c in meta["columns"] if c not in NON_CHANNEL_COLUMNS),
        label_counts=counts,
        source_file=str(meta.get("source_file", "")),
        source_sha256=str(meta.get("source_sha256", "")),
        subject_source=str(meta.get("subject_source", "")),
        wear_s=_get(meta.get("nonwear"), "wear_s"),
        nonwear_s=_get(meta.get("nonwear"), "nonwear_s"),
    )


def _get(d: object, key: str) -> float | None:
    return float(d[key]) if isinstance(d, dict) and d.get(key) is not None else None


def list_recordings(path: str | Path) -> tuple[Path, list[RecordingEntry]]:
    """Resolve a dataset folder or a single recording file into (root, entries).

    A folder with a manifest uses it; a folder without one is scanned for ``*.parquet`` files; a single
    ``.parquet`` file is a one-recording dataset.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    if p.is_file():
        return p.parent, [entry_from_file(p, p.parent)]
    if (p / MANIFEST_NAME).exists():
        return p, read_manifest(p)
    files = sorted(f for f in p.rglob("*.parquet") if not is_manifest_file(f.name) and not f.name.startswith("."))
    if not files:
        raise DataError(f"{p}: no recordings (.parquet files) found; create a dataset with `wearfm ingest`")
    return p, [entry_from_file(f, p) for f in files]


def lacking_channels(entries: list[RecordingEntry], channels: tuple[str, ...] | list[str]) -> list[RecordingEntry]:
    """The recordings of ``entries`` that lack any of ``channels`` (in manifest order)."""
    return [e for e in entries if not all(c in e.channels for c in channels)]
