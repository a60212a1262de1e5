"""Multi-file recordings (``--concat``): files of one subject, device and session read as one stream.

Cohorts often ship one participant as many files (NHANES 2011-14 raw data: hourly files). With ``--concat``
the files whose reader reports the same subject, session, device and device serial form one group; the group
is read in the order of the files' first timestamps, as one recording. Consecutive files join when the gap
between them is at most ``--max-gap`` (a longer gap starts a new segment file, as within a file); a file that
starts before the previous one ends is an error naming both files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from wearfm.errors import DataError
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader

__all__ = ["group_key", "ConcatReader"]

log = logging.getLogger(__name__)

_PROBE_ROWS = 1024  # rows read from each file to learn its first timestamp


def group_key(path: Path, reader: Reader, opts: ReadOptions) -> tuple[str, ...] | None:
    """(subject, session, device, serial) of a file as its reader reports it before reading samples.

    ``None`` when the reader knows no subject (the file then stays a recording of its own).
    """
    chunks, info = reader.read(path, opts)
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
    if info.get("subject") is None:
        return None
    return tuple(str(info.get(k) or "") for k in ("subject", "session", "device", "device_serial"))


def _first_time(path: Path, reader: Reader, opts: ReadOptions) -> int:
    chunks, _ = reader.read(path, replace(opts, chunk_rows=_PROBE_ROWS))
    try:
        for table in chunks:
            if table.num_rows:
                return int(table.column("time").combine_chunks().view(pa.int64())[0].as_py())
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    raise DataError(f"{path}: no samples; remove it from the inputs")


class ConcatReader:
    """A reader (``read(source, opts)``) over the files of one group, in the order of their first timestamps."""

    def __init__(self, files: list[Path], reader: Reader) -> None:
        self.files = files
        self.reader = reader

    def as_reader(self) -> Reader:
        """The group as a :class:`Reader` of the files' format (it reads paths, never ``data=`` bytes)."""
        return replace(self.reader, read=self.read, reads_bytes=False)

    def read(self, source: Path, opts: ReadOptions) -> tuple[Iterator[pa.Table], dict[str, Any]]:
        """Chunks of every file of the group in time order; ``info`` is the first file's, counters summed.

        Raises:
            DataError: two files overlap in time (the message names both).
        """
        starts = sorted((_first_time(f, self.reader, opts), str(f), f) for f in self.files)
        order = [f for _, _, f in starts]
        chunks0, info0 = self.reader.read(order[0], opts)
        info = dict(info0)
        counters: dict[str, Any] = {"files": len(order)}
        info["counters"] = counters

        def merge(finfo: dict[str, Any]) -> None:
            for k, v in (finfo.get("counters") or {}).items():
                if k not in counters:
                    counters[k] = v
                elif isinstance(v, int) and not isinstance(v, bool) and isinstance(counters[k], int):
                    counters[k] += v
            for k in ("subject", "session"):  # readers may learn these from the data
                if info.get(k) is None and finfo.get(k) is not None:
                    info[k] = finfo[k]

        def stream() -> Iterator[pa.Table]:
            prev: Path | None = None
            last: int | None = None
            for i, f in enumerate(order):
                chunks, finfo = (chunks0, info0) if i == 0 else self.reader.read(f, opts)
                first = True
                for table in chunks:
                    if not table.num_rows:
                        continue
                    t = np.asarray(table.column("time").combine_chunks().view(pa.int64()).to_numpy(), dtype=np.int64)
                    if first and last is not None and prev is not None and int(t[0]) <= last:
                        raise DataError(
                            f"{f} starts at {np.datetime64(int(t[0]), 'ns')}, before {prev} ends at "
                            f"{np.datetime64(last, 'ns')}: the files overlap; remove the duplicate or ingest "
                            "them without --concat"
                        )
                    first = False
                    last = int(t[-1])
                    yield table
                merge(finfo)
                prev = f
            log.info("%s: %d files joined in time order", order[0], len(order))

        return stream(), info
