"""Preset reader of ActiLife's RAW CSV export (ActiGraph GT3X+, wGT3X-BT, GT9X, CentrePoint files).

The export starts with a 10-line header::

    ------------ Data File Created By ActiGraph GT3X+ ActiLife v6.13.4 Firmware v1.9.2 date format M/d/yyyy at 30 Hz ...
    Serial Number: MOS2E22180349
    Start Time 10:00:00
    Start Date 5/12/2021
    Epoch Period (hh:mm:ss) 00:00:00
    Download Time 10:22:15
    Download Date 5/19/2021
    Current Memory Address: 0
    Current Battery Voltage: 4.15     Mode = 12
    --------------------------------------------------

then, optionally, a column-name line (``Timestamp,Accelerometer X,Accelerometer Y,Accelerometer Z`` or without
``Timestamp``), then the samples in g. The header gives the device type, serial number, sample rate, start date
and time, and the order of the date's fields (``date format M/d/yyyy``, ``d/M/yyyy``, ``yyyy-MM-dd``). Without
a timestamp column the times are start + i / rate; with one, the timestamps are used, and a rate they imply that
disagrees with the header's is reported with a warning. Times are the device's local clock.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from wearfm.config import IngestConfig
from wearfm.errors import FormatError
from wearfm.io import csv as csv_reader
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader
from wearfm.io.sniff import read_head
from wearfm.io.timetext import days_from_civil

__all__ = ["sniff", "read", "parse_header", "check_rate", "HEADER_LINES"]

log = logging.getLogger(__name__)

HEADER_LINES = 10
_MAGIC = b"Data File Created By ActiGraph"
_FIRST = re.compile(
    r"Created By ActiGraph\s+(?P<device>.+?)\s+ActiLife\s+v?(?P<actilife>[\w.]+)"
    r"(?:\s+Firmware\s+v?(?P<firmware>[\w.]+))?\s+date format\s+(?P<date>\S+)\s+at\s+(?P<rate>[\d.]+)\s*Hz",
    re.IGNORECASE,
)
_TIMESTAMP = "Timestamp"
_AXES = ("Accelerometer X", "Accelerometer Y", "Accelerometer Z")


def sniff(head: bytes, path: Path) -> bool:
    """An ActiLife CSV export: its first line names ActiGraph as the creator."""
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    return _MAGIC in first and first.lstrip().startswith(b"-")


def _date_order(fmt: str) -> str:
    """``M/d/yyyy`` -> ``mdy`` (the order of the date's fields as the header states it)."""
    order = "".join(ch for ch in re.sub(r"(.)\1*", r"\1", fmt.lower()) if ch in "ymd")
    if sorted(order) != ["d", "m", "y"]:
        raise ValueError(fmt)
    return order


def parse_header(lines: list[str], path: Path) -> dict[str, Any]:
    """The fields of an ActiLife header (its first 10 lines).

    Returns:
        ``device``, ``actilife``, ``firmware``, ``rate`` (Hz), ``date_order`` (``mdy``, ``dmy`` or ``ymd``),
        ``serial`` and ``start_ns`` (local clock, ns since 1970).

    Raises:
        FormatError: naming the file and the first header line that cannot be parsed.
    """

    def fail(i: int, what: str) -> FormatError:
        text = lines[i] if i < len(lines) else "<missing>"
        return FormatError(
            f"{path}: line {i + 1}: cannot parse the ActiLife header ({what}: {text.strip()[:100]!r}); re-export "
            "the file from ActiLife, or read it as plain CSV with --format csv --skip-rows 10 --rate HZ"
        )

    m = _FIRST.search(lines[0]) if lines else None
    if m is None:
        raise fail(0, "expected '... ActiGraph DEVICE ActiLife vX Firmware vY date format F at R Hz'")
    try:
        order = _date_order(m["date"])
    except ValueError:
        raise fail(0, f"unknown date format {m['date']!r}") from None
    out: dict[str, Any] = {
        "device": m["device"].strip(),
        "actilife": m["actilife"],
        "firmware": m["firmware"],
        "rate": float(m["rate"]),
        "date_order": order,
    }
    fields: dict[str, tuple[int, str]] = {}
    for i, ln in enumerate(lines[1:HEADER_LINES], start=1):
        for key in ("Serial Number", "Start Time", "Start Date"):
            if ln.startswith(key):
                fields[key] = (i, ln[len(key) :].strip().lstrip(":").strip())
    for key in ("Serial Number", "Start Time", "Start Date"):
        if key not in fields:
            raise fail(min(len(lines), HEADER_LINES) - 1, f"no {key!r} line in the first {HEADER_LINES} lines")
    out["serial"] = fields["Serial Number"][1] or None
    i, tm = fields["Start Time"]
    hms = re.fullmatch(r"(\d{1,2}):(\d{2}):(\d{2})", tm)
    if hms is None:
        raise fail(i, "expected HH:MM:SS")
    i, dt = fields["Start Date"]
    parts = re.split(r"[-/.]", dt)
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise fail(i, f"expected a date in {m['date']} order")
    vals = dict(zip(order, (int(p) for p in parts), strict=True))
    y, mo, d = vals["y"], vals["m"], vals["d"]
    if not (1 <= mo <= 12 and 1 <= d <= 31 and y >= 1000):
        raise fail(i, f"not a valid date in {m['date']} order")
    day = int(days_from_civil(np.array([y]), np.array([mo]), np.array([d]))[0])
    secs = int(hms[1]) * 3600 + int(hms[2]) * 60 + int(hms[3])
    out["start_ns"] = (day * 86_400 + secs) * 1_000_000_000
    return out


@functools.lru_cache(maxsize=64)
def _preset(opts: ReadOptions, names: bool, timestamps: bool, rate: float, start: str, order: str) -> ReadOptions:
    acc = _AXES if names else (("1", "2", "3") if timestamps else ("0", "1", "2"))
    return replace(
        opts,
        acc_cols=opts.acc_cols or acc,
        gyr_cols=(),
        time_col=(_TIMESTAMP if names else "0") if timestamps else None,
        time_unit="iso" if timestamps else "auto",
        date_format=order,
        rate_hz=None if timestamps else rate,
        start_time=None if timestamps else start,
        acc_unit=opts.acc_unit if opts.acc_unit != "auto" else "g",
        delimiter=",",
        header="yes" if names else "no",
        skip_rows=HEADER_LINES,
        label_col=None,
    )


def check_rate(
    chunks: Iterator[pa.Table], header_rate: float, path: Path, counters: dict[str, Any]
) -> Iterator[pa.Table]:
    """Pass ``chunks`` through; warn once when the first chunk's timestamps imply another rate than the header's.

    The timestamps are used either way (they are the samples' times); ``counters`` records both rates.
    """
    first = True
    for table in chunks:
        if first and table.num_rows > 2:
            first = False
            t = np.asarray(table.column("time").combine_chunks().view(pa.int64()).to_numpy(), dtype=np.int64)
            dt = np.diff(t)
            dt = dt[dt > 0]
            if len(dt):
                measured = 1e9 / float(np.median(dt[:100_000]))
                counters["header_rate_hz"] = header_rate
                counters["timestamp_rate_hz"] = round(measured, 4)
                if abs(measured - header_rate) > 0.02 * header_rate:
                    log.warning(
                        "%s: the header says %g Hz but the timestamps say %.4g Hz; using the timestamps",
                        path,
                        header_rate,
                        measured,
                    )
        yield table


def read(
    path: Path, cfg: ReadOptions | IngestConfig, data: bytes | None = None
) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    """Read one ActiLife RAW CSV export as canonical chunks (see the module docstring).

    ``data``: the file's bytes when the caller has already read them (see :func:`wearfm.io.csv.read`).

    Examples:
        >>> chunks, info = read(Path("MOS2E22180349 (2021-05-19)RAW.csv"), IngestConfig())  # doctest: +SKIP
        >>> info["device"], info["device_serial"], info["sample_rate_nominal_hz"]  # doctest: +SKIP
        ('ActiGraph GT3X+', 'MOS2E22180349', 30.0)
    """
    opts = ReadOptions.from_config(cfg)
    head = read_head(path, 1 << 14, data)
    lines = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()
    hdr = parse_header(lines, path)
    after = [ln for ln in lines[HEADER_LINES : HEADER_LINES + 2] if ln.strip()]
    if not after:
        raise FormatError(f"{path}: line {HEADER_LINES + 1}: no samples after the ActiLife header")
    names = "accelerometer" in after[0].lower()
    first = after[1] if names and len(after) > 1 else after[0]
    timestamps = (_TIMESTAMP.lower() in after[0].lower()) if names else not csv_reader._isnum(first.split(",")[0])
    start = str(np.datetime64(hdr["start_ns"], "ns"))
    pcfg = _preset(opts, names, timestamps, hdr["rate"], start, hdr["date_order"])
    chunks, info = csv_reader.read(path, pcfg, data)
    counters = info["counters"]
    counters.update(actilife_version=hdr["actilife"], firmware=hdr["firmware"], date_format=hdr["date_order"])
    info.update(
        reader="actilife-csv",
        device=opts.device or f"ActiGraph {hdr['device']}",
        device_serial=hdr["serial"],
        sample_rate_nominal_hz=hdr["rate"],
        time_reference="local",
    )
    if timestamps:
        chunks = check_rate(chunks, hdr["rate"], path, counters)
    return chunks, info


register_reader(Reader("actilife-csv", read=read, sniff=sniff, reads_bytes=True))
