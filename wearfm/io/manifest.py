"""The dataset manifest: one row per recording file, written next to the recordings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wearfm.errors import DataError
from wearfm.io._arrow import from_numpy, strings
from wearfm.io.schema import GYR, read_metadata

__all__ = [
    "MANIFEST_NAME", "RecordingEntry", "read_manifest", "write_manifest", "entry_from_file", "list_recordings",
    "lacking_channels",
]  # fmt: skip

MANIFEST_NAME = "manifest.parquet"


@dataclass(frozen=True)
class RecordingEntry:
    """One recording of a dataset, as listed in ``manifest.parquet``.

    ``path`` is relative to the dataset folder; ``start_ns`` is the first timestamp (ns, same reference as
    the file's ``time`` column); ``label_counts`` maps label -> number of samples.
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
    ]
)


def write_manifest(root: str | Path, entries: list[RecordingEntry]) -> Path:
    """Write ``manifest.parquet`` atomically in ``root``; entries are sorted by path."""
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
        elif any(v is None for v in values):  # nulls: only Arrow's converter keeps them
            arrays.append(pa.array(values, f.type))
        else:
            arrays.append(from_numpy(np.array(values, dtype=np.int64 if f.type == pa.int64() else np.float64), f.type))
    table = pa.Table.from_arrays(arrays, schema=_MANIFEST_SCHEMA)
    out = root / MANIFEST_NAME
    tmp = root / f".{MANIFEST_NAME}.tmp"
    pq.write_table(table, tmp)
    tmp.replace(out)
    return out


def _check_inside(rel: str, manifest: Path) -> None:
    """Refuse a recording path that is empty, absolute or climbs out of the dataset folder (``..``)."""
    p = PurePosixPath(rel.replace("\\", "/"))
    if not rel or p.is_absolute() or ".." in p.parts or (len(rel) > 1 and rel[1] == ":"):
        raise DataError(
            f"{manifest}: recording path {rel!r} points outside the dataset folder; a manifest written by "
            "`wearfm ingest` holds only relative paths inside it (re-run the ingest to rebuild it)"
        )


def read_manifest(root: str | Path) -> list[RecordingEntry]:
    """Read a dataset's manifest; raise ``DataError`` if there is none."""
    path = Path(root) / MANIFEST_NAME
    if not path.exists():
        raise DataError(f"{root}: no {MANIFEST_NAME}; is this a dataset written by `wearfm ingest`?")
    out = []
    for r in pq.ParquetFile(path).read().to_pylist():  # not read_table: it imports pyarrow.dataset and pandas
        _check_inside(str(r.get("path") or ""), path)
        r["channels"] = tuple(c for c in r["channels"].split(",") if c)
        r["label_counts"] = json.loads(r["label_counts"] or "{}")
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
        channels=tuple(c for c in meta["columns"] if c not in ("time", "label")),
        label_counts=counts,
        source_file=str(meta.get("source_file", "")),
        source_sha256=str(meta.get("source_sha256", "")),
    )


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
    files = sorted(f for f in p.rglob("*.parquet") if f.name != MANIFEST_NAME and not f.name.startswith("."))
    if not files:
        raise DataError(f"{p}: no recordings (.parquet files) found; create a dataset with `wearfm ingest`")
    return p, [entry_from_file(f, p) for f in files]


def lacking_channels(entries: list[RecordingEntry], channels: tuple[str, ...] | list[str]) -> list[RecordingEntry]:
    """The recordings of ``entries`` that lack any of ``channels`` (in manifest order)."""
    return [e for e in entries if not all(c in e.channels for c in channels)]
