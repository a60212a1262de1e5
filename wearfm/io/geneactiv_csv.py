"""Preset reader of the GENEActiv PC software's CSV export (calibrated data, one row per sample).

The export starts with a header (100 lines) of ``key,value`` lines (``Device Type,GENEActiv``, ``Device Unique
Serial Code``, ``Measurement Frequency,100 Hz``, ``Start Time,2016-06-21 10:00:00:000``, calibration and
subject fields), then rows ``timestamp,x,y,z,lux,button,temperature``: the time as ``yyyy-MM-dd
HH:mm:ss:SSS`` (milliseconds after a colon, device local clock) and the acceleration already calibrated, in g.
Light, button and temperature are not part of the canonical schema and are dropped. A column-name line after
the header, if an export has one, is recognised.
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
from wearfm.errors import FormatError
from wearfm.io import csv as csv_reader
from wearfm.io.actilife_csv import check_rate
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader
from wearfm.io.sniff import read_head

__all__ = ["sniff", "read", "parse_header", "HEADER_LINES"]

HEADER_LINES = 100
_RATE = re.compile(r"^\s*([\d.]+)\s*(?:Hz)?\s*$", re.IGNORECASE)


def sniff(head: bytes, path: Path) -> bool:
    """A GENEActiv CSV export: a ``Device Type,GENEActiv`` style header with the serial and the frequency."""
    h = head.lstrip(b"\xef\xbb\xbf")
    return (
        not h.startswith(b"Device Identity")  # the .bin format
        and b"GENEActiv" in h[:2048]
        and b"Device Unique Serial Code," in h
        and b"Measurement Frequency," in h
    )


def parse_header(lines: list[str], path: Path) -> dict[str, Any]:
    """The ``key,value`` fields of the 100-line header, with ``rate`` (Hz) and ``serial`` parsed.

    Raises:
        FormatError: naming the file and the line (or missing field) that cannot be parsed.
    """
    fields: dict[str, tuple[int, str]] = {}
    for i, ln in enumerate(lines[:HEADER_LINES]):
        key, sep, value = ln.partition(",")
        if sep and key.strip():
            fields.setdefault(key.strip(), (i + 1, value.strip().strip('"')))
    hint = "re-export the file from the GENEActiv PC software, or read it with --format csv --skip-rows 100"
    if "Measurement Frequency" not in fields:
        raise FormatError(f"{path}: no 'Measurement Frequency' line in the first {HEADER_LINES} lines; {hint}")
    line, value = fields["Measurement Frequency"]
    m = _RATE.match(value)
    if m is None or float(m[1]) <= 0:
        raise FormatError(
            f"{path}: line {line}: cannot parse the GENEActiv header (Measurement Frequency {value!r}); {hint}"
        )
    return {
        "rate": float(m[1]),
        "serial": fields.get("Device Unique Serial Code", (0, ""))[1] or None,
        "device": fields.get("Device Type", (0, "GENEActiv"))[1] or "GENEActiv",
        "start": fields.get("Start Time", (0, ""))[1] or None,
        "firmware": fields.get("Device Firmware Version", (0, ""))[1] or None,
    }


_DATA_ROW = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}[ T]\d")


@functools.lru_cache(maxsize=16)
def _preset(opts: ReadOptions, names: tuple[str, ...] | None, skip: int) -> ReadOptions:
    acc: tuple[str, ...]
    if names is None:
        acc, time = ("1", "2", "3"), "0"
    else:
        lower = [n.lower() for n in names]
        acc = tuple(names[lower.index(a)] if a in lower else names[i + 1] for i, a in enumerate(("x", "y", "z")))
        time = names[lower.index("timestamp")] if "timestamp" in lower else names[0]
    return replace(
        opts,
        acc_cols=opts.acc_cols or acc,
        gyr_cols=(),
        time_col=time,
        time_unit="iso",
        date_format="ymd",
        rate_hz=None,
        acc_unit=opts.acc_unit if opts.acc_unit != "auto" else "g",
        delimiter=",",
        header="no" if names is None else "yes",
        skip_rows=skip,
        label_col=None,
    )


def read(
    path: Path, cfg: ReadOptions | IngestConfig, data: bytes | None = None
) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    """Read one GENEActiv CSV export as canonical chunks (see the module docstring).

    Examples:
        >>> chunks, info = read(Path("left_wrist_012345_2016-06-21.csv"), IngestConfig())  # doctest: +SKIP
        >>> info["sample_rate_nominal_hz"], info["device_serial"]  # doctest: +SKIP
        (100.0, '012345')
    """
    opts = ReadOptions.from_config(cfg)
    head = read_head(path, 1 << 15, data)
    lines = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()
    hdr = parse_header(lines, path)
    # the header has 100 lines; an export with another count is found by its first data row
    start = next((i for i, ln in enumerate(lines[: len(lines) - 1]) if _DATA_ROW.match(ln)), None)
    if start is None:
        raise FormatError(f"{path}: line {HEADER_LINES + 1}: no samples after the GENEActiv header")
    first = [f.strip().strip('"') for f in lines[start - 1].split(",")] if start else []
    names = tuple(first) if "x" in [f.lower() for f in first] else None
    skip = start - (names is not None)
    chunks, info = csv_reader.read(path, _preset(opts, names, skip), data)
    counters = info["counters"]
    counters["firmware"] = hdr["firmware"]
    info.update(
        reader="geneactiv-csv",
        device=opts.device or hdr["device"],
        device_serial=hdr["serial"],
        sample_rate_nominal_hz=hdr["rate"],
        time_reference="local",
    )
    return check_rate(chunks, hdr["rate"], path, counters), info


register_reader(Reader("geneactiv-csv", read=read, sniff=sniff, reads_bytes=True))
