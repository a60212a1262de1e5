"""Sniffing helpers the readers share: a file's head, delimiter, header, time unit and acceleration unit.

Kept below the format registry (:mod:`wearfm.io.detect`), which imports the readers, so that a reader can use
them without importing the registry.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO

import numpy as np

from wearfm.errors import DataError, FormatError

__all__ = ["open_binary", "read_head", "sniff_delimiter", "has_header", "detect_time_unit", "detect_acc_unit"]


def open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing ``.gz`` transparently."""
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def read_head(path: Path, n: int = 4096, data: bytes | None = None) -> bytes:
    """The first ``n`` (decompressed) bytes of ``path``; raise if the file is missing or empty.

    ``data``, the whole (uncompressed) file already read by the caller, is cut instead of reading again.
    """
    if data is not None:
        head = data[:n]
    elif not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    else:
        try:
            with open_binary(path) as f:
                head = f.read(n)
        except (OSError, EOFError) as e:
            raise FormatError(f"{path}: cannot read ({e}); is the file complete?") from None
    if not head.strip():
        raise DataError(f"{path}: the file is empty; remove it from the inputs or re-export it")
    return head


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter of delimited text lines: comma, tab, semicolon or 'whitespace'."""
    body = [ln for ln in lines if ln.strip()][:20]
    if not body:
        return ","
    for d in ("\t", ",", ";"):
        counts = {ln.count(d) for ln in body[1:] or body}
        if len(counts) == 1 and counts.pop() > 0:
            return d
    if all(len(ln.split()) > 1 for ln in body):
        return "whitespace"
    return ","


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def has_header(first_fields: list[str]) -> bool:
    """A first line is a header when any of its fields is a name rather than a number or a date."""
    for f in first_fields:
        f = f.strip().strip('"')
        if not f or _is_number(f):
            continue
        if f[:1].isdigit() and ("-" in f or ":" in f):  # an ISO time in the first data row
            continue
        return True
    return False


_EPOCH_UNITS = (("ns", 1e17), ("us", 1e14), ("ms", 1e11), ("s", 1e8))
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def detect_time_unit(values: np.ndarray, path: Path) -> str:
    """Unit of numeric timestamps: Unix epoch magnitude, else the unit giving a plausible sample interval.

    Epoch times (after 1973) are recognised by size (s > 1e8, ms > 1e11, ...). Relative times (starting near
    zero) take the unit for which the median interval means a rate between 0.5 Hz and 5 kHz.
    """
    v = values[np.isfinite(values)]
    if len(v) < 2:
        raise DataError(f"{path}: too few timestamps to tell their unit; pass --time-unit s|ms|us|ns")
    first = float(np.median(np.abs(v[: min(len(v), 1000)])))
    for unit, low in _EPOCH_UNITS:
        if first >= low:
            return unit
    dt = np.diff(v)
    dt = dt[dt > 0]
    if len(dt):
        med = float(np.median(dt))
        for unit in ("s", "ms", "us", "ns"):
            rate = 1e9 / (med * _UNIT_NS[unit])
            if 0.5 <= rate <= 5000:
                return unit
    raise DataError(f"{path}: cannot tell the unit of the time column; pass --time-unit s|ms|us|ns|iso")


def detect_acc_unit(acc: np.ndarray, path: Path, window: int = 50) -> str:
    """'g' or 'm/s2' from the median magnitude of still periods (windows whose magnitude barely varies).

    Raises:
        DataError: when the magnitude is near neither 1 nor 9.81; the message asks for ``--acc-unit``.
    """
    a = np.asarray(acc, dtype=np.float64)
    a = a[np.all(np.isfinite(a), axis=1)]
    if len(a) == 0:
        raise DataError(f"{path}: no finite acceleration values to detect the unit from")
    mag = np.sqrt((a**2).sum(axis=1))
    n = len(mag) // window
    if n >= 1:
        w = mag[: n * window].reshape(n, window)
        sd = w.std(axis=1)
        still = w[sd <= max(np.quantile(sd, 0.2), 1e-9) * 1.0001]
        med = float(np.median(still)) if still.size else float(np.median(mag))
    else:
        med = float(np.median(mag))
    if 0.6 <= med <= 1.6:
        return "g"
    if 6.0 <= med <= 15.0:
        return "m/s2"
    raise DataError(
        f"{path}: cannot tell the acceleration unit (median magnitude of still periods is {med:.3g}, "
        "near neither 1 g nor 9.81 m/s^2); pass --acc-unit g or --acc-unit m/s2"
    )
