"""Shared plumbing of the binary device readers (CWA, GT3X, GENEActiv): opening, tables, metadata."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
from numpy.typing import DTypeLike

from wearfm.config import IngestConfig
from wearfm.errors import FormatError
from wearfm.io.options import ReadOptions
from wearfm.io.schema import ACC, GYR, schema_for

__all__ = [
    "open_stream",
    "is_gzip",
    "make_table",
    "make_table_cols",
    "base_info",
    "read_all_with",
    "read_fully",
    "read_into",
    "new_array",
]

GZIP_MAGIC = b"\x1f\x8b"
NS = 1_000_000_000


def is_gzip(path: Path) -> bool:
    """True when ``path`` starts with the gzip magic bytes (whatever its extension)."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_stream(path: Path) -> IO[bytes]:
    """Open ``path`` for streaming reads, decompressing gzip (``.gz`` or gzip content) on the fly."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".gz" or is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def read_fully(f: IO[bytes], n: int, path: Path) -> bytes:
    """Read up to ``n`` bytes (fewer only at end of file), turning gzip damage into ``FormatError``."""
    try:
        out = f.read(n)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise FormatError(f"{path}: the compressed stream is damaged or truncated ({e}); re-copy the file") from None
    return out


def read_into(f: IO[bytes], view: memoryview, path: Path) -> int:
    """Fill ``view`` from ``f`` (fewer bytes only at end of file); the byte count. Errors as :func:`read_fully`."""
    readinto = f.readinto  # type: ignore[attr-defined]  # BufferedReader and GzipFile both have it
    got = 0
    try:
        while got < len(view):
            k = readinto(view[got:])
            if not k:
                break
            got += k
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise FormatError(f"{path}: the compressed stream is damaged or truncated ({e}); re-copy the file") from None
    return got


def new_array(n: int, dtype: DTypeLike) -> np.ndarray:
    """An uninitialised 1-D array for a table column, allocated from Arrow's memory pool.

    The pool (mimalloc/jemalloc) reuses the memory of tables already consumed, where numpy's megabyte-sized
    allocations would be fresh pages every chunk (a page fault per 4 KiB: often the largest cost of a reader).
    """
    dt = np.dtype(dtype)
    if n == 0:
        return np.empty(0, dtype=dt)
    return np.frombuffer(pa.allocate_buffer(n * dt.itemsize), dtype=dt, count=n)


def _column(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    # from_buffers: zero-copy, and unlike pa.array() it never imports pandas (seconds on a cold start)
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(dtype, len(values), [None, pa.py_buffer(values)])


def make_table(time_ns: np.ndarray, acc: np.ndarray, gyr: np.ndarray | None = None) -> pa.Table:
    """A canonical chunk: ``time`` (int64 ns -> timestamp[ns]), ``acc_*`` and optional ``gyr_*`` (float32)."""
    cols = ["time", *ACC] + ([*GYR] if gyr is not None else [])
    arrays = [_column(np.asarray(time_ns, dtype=np.int64), pa.timestamp("ns"))]
    acc = np.asarray(acc, dtype=np.float32)
    arrays += [_column(acc[:, i], pa.float32()) for i in range(3)]
    if gyr is not None:
        gyr = np.asarray(gyr, dtype=np.float32)
        arrays += [_column(gyr[:, i], pa.float32()) for i in range(3)]
    return pa.Table.from_arrays(arrays, schema=schema_for(cols))


def make_table_cols(time_ns: np.ndarray, acc: list[np.ndarray], gyr: list[np.ndarray] | None = None) -> pa.Table:
    """Like :func:`make_table` from per-channel 1-D arrays (no interleaving copy)."""
    cols = ["time", *ACC] + ([*GYR] if gyr is not None else [])
    arrays = [_column(np.asarray(time_ns, dtype=np.int64), pa.timestamp("ns"))]
    arrays += [_column(np.asarray(c, dtype=np.float32), pa.float32()) for c in [*acc, *(gyr or [])]]
    return pa.Table.from_arrays(arrays, schema=schema_for(cols))


def base_info(reader: str, **kv: Any) -> dict[str, Any]:
    """The static ``info`` dict of a device reader; ``info['counters']`` holds counters filled while reading."""
    info: dict[str, Any] = {
        "device": None,
        "device_serial": None,
        "device_range_g": None,
        "sample_rate_nominal_hz": None,
        "time_reference": "local",
        "timezone": None,
        "reader": reader,
        "counters": {},
    }
    info.update(kv)
    return info


def read_all_with(
    read: Callable[[Path, ReadOptions], tuple[Iterator[pa.Table], dict[str, Any]]],
    path: str | Path,
    opts: dict[str, Any],
) -> tuple[pa.Table, dict[str, Any]]:
    """Run ``read`` with the reading options of ``IngestConfig(**opts)`` and concatenate every chunk into one table."""
    cfg = opts.pop("cfg", None) or IngestConfig(**opts)
    chunks, info = read(Path(path), ReadOptions.from_config(cfg))
    tables = list(chunks)
    if not tables:
        raise FormatError(f"{path}: no samples decoded")
    return pa.concat_tables(tables), info
