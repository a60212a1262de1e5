"""Preset reader of Axivity OMGUI's CSV export (AX3 ``time,x,y,z``; AX6 ``time,x,y,z,gx,gy,gz``).

OMGUI writes no header: each row is the sample's time, on the device's local clock, as
``yyyy-mm-dd HH:MM:SS.fff`` (or ISO 8601 with ``T``), then the acceleration in g and, for an AX6, the
gyroscope in deg/s.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from wearfm.config import IngestConfig
from wearfm.io import csv as csv_reader
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader
from wearfm.io.sniff import read_head

__all__ = ["sniff", "read"]

_ROW = re.compile(
    rb"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}((?:,\s*-?[\d.]+(?:[eE][-+]?\d+)?){3}|"
    rb"(?:,\s*-?[\d.]+(?:[eE][-+]?\d+)?){6})\s*$"
)


def sniff(head: bytes, path: Path) -> bool:
    """OMGUI CSV: no header; rows of ``yyyy-mm-dd HH:MM:SS.fff`` and three (or six) numbers.

    ISO times with ``T`` are not taken by content (other exports write them too): pass ``--format omgui-csv``.
    """
    lines = [ln for ln in head.lstrip(b"\xef\xbb\xbf").splitlines()[:5] if ln.strip()]
    return len(lines) >= 2 and all(_ROW.match(ln) for ln in lines[:-1] or lines)


@functools.lru_cache(maxsize=16)
def _preset(opts: ReadOptions, gyro: bool) -> ReadOptions:
    return replace(
        opts,
        acc_cols=opts.acc_cols or ("1", "2", "3"),
        gyr_cols=opts.gyr_cols or (("4", "5", "6") if gyro else ()),
        time_col="0",
        time_unit="iso",
        date_format="ymd",
        rate_hz=None,
        acc_unit=opts.acc_unit if opts.acc_unit != "auto" else "g",
        gyr_unit="deg/s",
        delimiter=",",
        header="no",
        label_col=None,
    )


def read(
    path: Path, cfg: ReadOptions | IngestConfig, data: bytes | None = None
) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    """Read one OMGUI CSV export as canonical chunks (see the module docstring).

    Examples:
        >>> chunks, info = read(Path("ax3_export.csv"), IngestConfig())  # doctest: +SKIP
        >>> info["reader"], info["time_reference"]  # doctest: +SKIP
        ('omgui-csv', 'local')
    """
    opts = ReadOptions.from_config(cfg)
    head = read_head(path, 4096, data)
    first = next(ln for ln in head.lstrip(b"\xef\xbb\xbf").splitlines() if ln.strip())
    gyro = first.count(b",") >= 6
    chunks, info = csv_reader.read(path, _preset(opts, gyro), data)
    info.update(
        reader="omgui-csv", device=opts.device or ("Axivity AX6" if gyro else "Axivity AX3"), time_reference="local"
    )
    return chunks, info


register_reader(Reader("omgui-csv", read=read, sniff=sniff, reads_bytes=True))
