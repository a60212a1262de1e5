"""Vectorised parsing of text date-times that Arrow's ISO 8601 cast does not take.

Device exports write times such as ``5/12/2021 10:00:00.033`` (ActiLife, in the date order its header
states) or ``2016-06-21 10:00:00:500`` (GENEActiv, milliseconds after a colon). :func:`parse_times` reads
ISO 8601 through Arrow and everything else through one regular expression per chunk, in C++.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wearfm.errors import ConfigError, DataError

__all__ = ["DATE_FORMATS", "parse_times", "days_from_civil"]

DATE_FORMATS = ("auto", "ymd", "mdy", "dmy")
_PATTERN = (
    r"^\s*(?P<a>\d{1,4})[-/.](?P<b>\d{1,2})[-/.](?P<c>\d{1,4})[ T]"
    r"(?P<H>\d{1,2}):(?P<M>\d{1,2}):(?P<S>\d{1,2})(?:[.:,](?P<f>\d{1,9}))?\s*$"
)
_DAY_NS = 86_400 * 1_000_000_000


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's ``days_from_civil``)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468, dtype=np.int64)


def _iso(col: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    for tp in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
        try:
            return np.asarray(pc.cast(col, tp).cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def parse_times(col: pa.Array | pa.ChunkedArray, path: object, line0: int, date_format: str = "auto") -> np.ndarray:
    """Text times -> int64 ns since 1970 (no time zone).

    Args:
        col: the time column as strings.
        path: the file, for messages.
        line0: the file line of the column's first value, for messages.
        date_format: ``auto`` (ISO 8601, else year first), ``ymd``, ``mdy`` or ``dmy``: the order of the
            date's fields in times that are not ISO 8601.

    Raises:
        DataError: naming the first line whose time does not parse.
        ConfigError: an unknown ``date_format``.
    """
    if date_format not in DATE_FORMATS:
        raise ConfigError(f"unknown date_format {date_format!r}; choose from {list(DATE_FORMATS)}")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if date_format in ("auto", "ymd"):
        out = _iso(col)
        if out is not None:
            return out
    fields = _fixed_width(col)
    parts = pc.extract_regex(col, _PATTERN) if fields is None else None
    if parts is not None and parts.null_count:
        bad = int(np.argmax(to_mask(parts.is_null())))
        raise DataError(
            f"{path}: line {line0 + bad}: cannot parse time {col[bad].as_py()!r}; use ISO 8601 "
            "(2024-05-01T08:00:00.000), or set the date order with --set date_format=ymd|mdy|dmy"
        )

    def field(name: str) -> np.ndarray:
        if fields is not None:
            return fields[name]
        assert parts is not None
        return np.asarray(pc.cast(parts.field(name), pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)

    a, b, c = field("a"), field("b"), field("c")
    order = date_format
    if order == "auto":
        if not len(a) or a[0] < 1000:
            raise DataError(
                f"{path}: line {line0}: the date {col[0].as_py()!r} is not year-first; set its order with "
                "--set date_format=mdy or --set date_format=dmy"
            )
        order = "ymd"
    y, m, d = {"ymd": (a, b, c), "mdy": (c, a, b), "dmy": (c, b, a)}[order]
    invalid = np.asarray((m < 1) | (m > 12) | (d < 1) | (d > 31) | (y < 1000), dtype=bool)
    if invalid.any():
        i = int(np.argmax(invalid))
        raise DataError(
            f"{path}: line {line0 + i}: {col[i].as_py()!r} is not a valid date in {order} order; check "
            "--set date_format"
        )
    if fields is not None:
        frac_ns = fields["f"]
    else:
        assert parts is not None
        frac = parts.field("f")
        fill = pc.if_else(pc.is_null(frac), "0", frac)
        frac_ns = np.asarray(
            pc.cast(pc.utf8_rpad(fill, 9, "0"), pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64
        )
    secs = field("H") * 3600 + field("M") * 60 + field("S")
    # the date changes rarely (once a day): convert it once per run of equal dates
    key = (y * 100 + m) * 100 + d
    starts = np.concatenate([[0], np.flatnonzero(key[1:] != key[:-1]) + 1])
    days = np.repeat(days_from_civil(y[starts], m[starts], d[starts]), np.diff(np.append(starts, len(key))))
    out = days * _DAY_NS + secs * 1_000_000_000 + frac_ns
    return np.asarray(out, dtype=np.int64)


def _fixed_width(col: pa.Array) -> dict[str, np.ndarray] | None:
    """The fields of times that all share the first one's layout (same length, separators in place).

    Device exports write one layout for a whole file (or a whole day), so each field is one fixed slice: a
    few Arrow passes instead of a regular expression per value. ``None`` when the layout varies (the caller
    then uses the regular expression).
    """
    if not len(col) or col.null_count:
        return None
    first = col[0].as_py()
    m = re.match(_PATTERN, first)
    if m is None:
        return None
    lengths = pc.min_max(pc.binary_length(col))
    if lengths["min"].as_py() != lengths["max"].as_py():
        return None
    for i, ch in enumerate(first):
        if not ch.isdigit() and not pc.all(pc.equal(pc.utf8_slice_codeunits(col, i, i + 1), ch)).as_py():
            return None
    out: dict[str, np.ndarray] = {}
    try:
        for name in ("a", "b", "c", "H", "M", "S", "f"):
            a, b = m.span(name)
            if a < 0:
                out[name] = np.zeros(len(col), dtype=np.int64)
                continue
            part = pc.cast(pc.utf8_slice_codeunits(col, a, b), pa.int64())
            vals = np.asarray(part.to_numpy(zero_copy_only=False), dtype=np.int64)
            out[name] = vals * 10 ** (9 - (b - a)) if name == "f" else vals
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return out


def to_mask(arr: pa.Array) -> np.ndarray:
    """A boolean Arrow array as a NumPy bool array."""
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)
