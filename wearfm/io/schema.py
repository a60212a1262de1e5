"""The canonical recording layout: one Parquet schema, its key-value metadata, and checks.

A *dataset* is a folder of Parquet files, one per contiguous recording (subject x device x session), plus
``manifest.parquet`` (see :mod:`wearfm.io.manifest`). Every recording file has a subset, in this order, of
the columns of :data:`SCHEMA`:

- ``time``: ``timestamp[ns]`` without time zone; what it counts from is ``wearfm.time_reference``.
- ``acc_x, acc_y, acc_z``: float32, acceleration in g (1 g = 9.80665 m/s^2). Always present.
- ``gyr_x, gyr_y, gyr_z``: float32, angular velocity in deg/s. Present for all three axes or none.
- ``label``: dictionary-encoded string; null where a sample is unlabelled.
- ``nonwear``: bool, true where the device was not worn (``wearfm ingest --nonwear mark``; schema version 2).
  Optional: files without it (all of schema version 1) carry no non-wear information.

Key-value metadata is written under the ``wearfm.`` prefix; :data:`METADATA_KEYS` is the glossary.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from wearfm.errors import ConfigError, FormatError

__all__ = [
    "SCHEMA_VERSION",
    "SCHEMA",
    "ACC",
    "GYR",
    "CHANNEL_GROUPS",
    "STANDARD_GRAVITY",
    "NON_CHANNEL_COLUMNS",
    "METADATA_KEYS",
    "PREFIX",
    "schema_for",
    "encode_metadata",
    "decode_metadata",
    "read_metadata",
    "validate_table",
    "resolve_channels",
]

SCHEMA_VERSION = "2"  # 2: optional `nonwear` column and calibration/non-wear/clipping metadata
PREFIX = "wearfm."
STANDARD_GRAVITY = 9.80665  # m/s^2 per g
ACC = ("acc_x", "acc_y", "acc_z")
GYR = ("gyr_x", "gyr_y", "gyr_z")
CHANNEL_GROUPS: dict[str, tuple[str, ...]] = {"acc": ACC, "gyr": GYR, "acc+gyr": ACC + GYR}

SCHEMA = pa.schema(
    [
        pa.field("time", pa.timestamp("ns"), nullable=False),
        *(pa.field(c, pa.float32(), nullable=False) for c in ACC),
        *(pa.field(c, pa.float32(), nullable=False) for c in GYR),
        pa.field("label", pa.dictionary(pa.int32(), pa.string()), nullable=True),
        pa.field("nonwear", pa.bool_(), nullable=False),
    ]
)

#: Glossary of the ``wearfm.*`` key-value metadata of a recording file (values are JSON-encoded).
METADATA_KEYS: dict[str, str] = {
    "schema_version": "Version of this layout (string).",
    "subject": "Subject identifier (string).",
    "subject_source": (
        "How `subject` was assigned: 'option' (--subject-from), 'reader' (the file's content or its format's "
        "naming), 'file name', 'file name minus day/part suffix', or 'folder + file name' (string)."
    ),
    "device": "Device kind or model, e.g. 'phone', 'watch', 'AX6', 'GT3X+' (string).",
    "placement": "Body location, e.g. 'wrist', 'pocket', 'unknown' (string).",
    "session": "Session or execution identifier within subject x device (string or null).",
    "sample_rate_nominal_hz": "Rate the device was configured for, or the resample rate (float or null).",
    "sample_rate_measured_hz": "Rate measured from this gap-free file's timestamps: (samples - 1) / duration (float).",
    "time_reference": "What `time` counts from: 'utc', 'local' or 'device-uptime'.",
    "timezone": "Time zone of the device clock where the source file states one (string or null).",
    "acc_unit": "Always 'g'.",
    "gyr_unit": "Always 'deg/s' (present only with gyroscope columns).",
    "source_file": "Path of the raw file this recording came from (string).",
    "source_sha256": "SHA-256 of the raw file (hex string); used to skip up-to-date outputs.",
    "reader": "Reader module that decoded the source, e.g. 'csv', 'wisdm', 'cwa' (string).",
    "wearfm_version": "Version of wearfm that wrote the file (string).",
    "ingest_options": "The ingest options in force (object).",
    "segment": "Index of this contiguous segment within its source (int); gaps split recordings.",
    "device_serial": "Serial number from the device file header (string or null).",
    "device_range_g": "Configured accelerometer range in g (float or null).",
    "info": "Reader-specific counters, e.g. corrupt blocks skipped, samples dropped (object).",
    "dropped": (
        "Samples of the source that reached no output file, by cause (object: cause -> samples; the same for "
        "every segment of a source): duplicates, out_of_order, short_segments, nonfinite, accel_unpaired, "
        "gyro_unpaired, corrupt_blocks, corrupt_pages, truncated_pages, bad_checksum, duplicate_seconds."
    ),
    "calibration": "Gravity calibration (--calibrate): offset, gain, temp_coef, temp_ref, applied, reason, "
    "still_points, error_before_g, error_after_g, iterations (object; see wearfm.signal.calibrate).",
    "nonwear": "Non-wear check (--nonwear mark|drop): mode, rule, wear_s, nonwear_s, episodes, spans_ns "
    "([start, end) ns of each episode in this file) and, for drop, dropped_s (object).",
    "clipping": "Samples at the accelerometer's range: range_g, threshold_g, samples (null: range unknown) (object).",
}

#: Columns that are neither time nor a sensor channel.
NON_CHANNEL_COLUMNS = ("time", "label", "nonwear")


def schema_for(columns: list[str] | tuple[str, ...]) -> pa.Schema:
    """The canonical schema restricted to ``columns`` (kept in canonical order)."""
    return _schema_for(tuple(columns))


@functools.lru_cache(maxsize=64)
def _schema_for(columns: tuple[str, ...]) -> pa.Schema:  # a few column sets, asked for once or twice per chunk
    unknown = [c for c in columns if c not in SCHEMA.names]
    if unknown:
        raise FormatError(f"columns {unknown} are not part of the wearfm schema {SCHEMA.names}")
    return pa.schema([SCHEMA.field(n) for n in SCHEMA.names if n in columns])


_JSON = json.JSONEncoder(default=str)  # what json.dumps(v, default=str) builds on every call


def encode_metadata(meta: Mapping[str, Any]) -> dict[bytes, bytes]:
    """JSON-encode ``meta`` under the ``wearfm.`` prefix for Parquet key-value metadata."""
    unknown = [k for k in meta if k not in METADATA_KEYS]
    if unknown:
        raise ValueError(f"unknown wearfm metadata keys {unknown}; document them in METADATA_KEYS first")
    return {(PREFIX + k).encode(): _JSON.encode(v).encode() for k, v in meta.items()}


def decode_metadata(raw: Mapping[bytes, bytes] | None) -> dict[str, Any]:
    """Inverse of :func:`encode_metadata`; keys without the prefix are ignored."""
    out: dict[str, Any] = {}
    for k, v in (raw or {}).items():
        key = k.decode()
        if key.startswith(PREFIX):
            out[key[len(PREFIX) :]] = json.loads(v.decode())
    return out


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``wearfm.*`` metadata of one recording file, plus ``rows`` and ``columns``."""
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as e:
        raise FormatError(f"{path}: not a readable Parquet file ({e})") from None
    # file-level key-value metadata (written at close by streaming writers) overrides the schema's copy
    meta = decode_metadata({**(pf.schema_arrow.metadata or {}), **(pf.metadata.metadata or {})})
    if "schema_version" not in meta:
        raise FormatError(f"{path}: not a wearfm recording (no wearfm.schema_version metadata); run `wearfm ingest`")
    meta["rows"] = pf.metadata.num_rows
    meta["columns"] = pf.schema_arrow.names
    return meta


def validate_table(table: pa.Table) -> None:
    """Raise ``FormatError`` unless ``table`` has canonical columns, order and types."""
    names = table.schema.names
    expected = schema_for([n for n in names if n in SCHEMA.names])
    if "time" not in names or not all(c in names for c in ACC):
        raise FormatError(f"a recording needs 'time' and {list(ACC)}; got {names}")
    if any(c in names for c in GYR) and not all(c in names for c in GYR):
        raise FormatError(f"gyroscope columns must be all of {list(GYR)} or none; got {names}")
    if names != expected.names:
        raise FormatError(f"columns {names} are not canonical; expected {expected.names}")
    for f in expected:
        if not table.schema.field(f.name).type.equals(f.type):
            raise FormatError(f"column {f.name!r} has type {table.schema.field(f.name).type}, expected {f.type}")


def resolve_channels(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Turn 'acc', 'acc+gyr', 'gyr' or an explicit list of column names into a tuple of columns."""
    if isinstance(spec, str):
        if spec in CHANNEL_GROUPS:
            return CHANNEL_GROUPS[spec]
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    cols = tuple(spec)
    bad = [c for c in cols if c not in ACC + GYR]
    if bad or not cols:
        raise ConfigError(
            f"unknown channels {bad or spec}; use one of {list(CHANNEL_GROUPS)} or names from {ACC + GYR}"
        )
    return cols
