"""Helpers shared by the text readers: line normalising, id sources, time parsing, canonical chunks."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wearfm.errors import ConfigError, DataError
from wearfm.io._arrow import from_numpy, mask
from wearfm.io.options import ReadOptions
from wearfm.io.schema import ACC, GYR, STANDARD_GRAVITY, schema_for

__all__ = [
    "WhitespaceReader",
    "id_from_spec",
    "to_ns",
    "all_finite",
    "start_ns",
    "parse_iso",
    "canonical_chunk",
    "UNIT_NS",
]

UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


class WhitespaceReader(io.RawIOBase):
    """File wrapper turning runs of blanks into commas (and dropping ``;`` line ends) for the CSV parser."""

    def __init__(self, raw: IO[bytes], blanks: bool, semicolons: bool) -> None:
        self._raw, self._blanks, self._semi, self._buf, self._carry = raw, blanks, semicolons, b"", b""

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, b: Any) -> int:
        """Fill ``b`` with normalised bytes; cut at line ends so a run of blanks is never split."""
        while not self._buf:
            block = self._raw.read(1 << 22)
            if not block:
                if not self._carry:
                    return 0
                block, self._carry = self._carry + b"\n", b""
            else:
                block = self._carry + block
                cut = block.rfind(b"\n") + 1
                block, self._carry = block[:cut], block[cut:]
            if self._semi:
                block = block.replace(b";", b"")
            if self._blanks:
                block = re.sub(rb"(?m)^[ \t]+|[ \t]+(?=\r?$)", b"", block)
                block = re.sub(rb"[ \t]+", b",", block)
            self._buf = block
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        """Close the wrapped file too."""
        self._raw.close()
        super().close()


def id_from_spec(spec: str | None, path: Path, column_value: str | None = None) -> str | None:
    """Resolve an id source into an identifier.

    Sources: ``path:N`` (component N of the path as given; negative counts from the end, -2 is the folder),
    ``name:REGEX`` (first group, or the match, in the file name), ``column:NAME`` (``column_value``) and
    ``value:ID``.
    """
    if spec is None:
        return None
    kind, _, arg = spec.partition(":")
    if kind == "value":
        return arg
    if kind == "column":
        return column_value
    if kind == "path":
        try:
            parts = path.parts
            return parts[int(arg)]
        except (ValueError, IndexError):
            raise ConfigError(f"{spec!r}: {path} has no path component {arg} (it has {list(path.parts)})") from None
    if kind == "name":
        name = path.name
        m = re.search(arg, name)
        if not m:
            raise DataError(f"{path}: the pattern {arg!r} (from {spec!r}) does not match the file name")
        return m.group(1) if m.groups() else m.group(0)
    raise ConfigError(f"bad id source {spec!r}; use path:N, name:REGEX, column:NAME or value:ID")


_MAX_NS = 2**62  # about year 2116 after 1970: larger times are damaged values (int64 ns ends in 2262)


def to_ns(values: np.ndarray, unit_ns: int, path: Path | None = None, line0: int = 1) -> np.ndarray:
    """Numbers in a unit -> int64 ns, exact for whole numbers (no float rounding of epoch milliseconds).

    Raises:
        DataError: a time beyond about 146 years from 0 in that unit (it would not fit int64 nanoseconds);
            ``line0`` is the line of ``values[0]``, for the message.
    """
    if len(values):
        with np.errstate(invalid="ignore"):
            far = ~(np.abs(values) < _MAX_NS / unit_ns)
        if far.any():
            i = int(np.argmax(far))
            raise DataError(
                f"{path or 'input'}: line {line0 + i}: time value {values[i]!r} is out of range for the time unit "
                f"({unit_ns} ns); fix the line or pass the right --time-unit"
            )
    whole = np.floor(values)
    frac = values - whole
    if not frac.any():  # whole numbers (e.g. epoch ms): skip the rounding passes
        return np.asarray(whole.astype(np.int64) * unit_ns, dtype=np.int64)
    frac = np.round(frac * unit_ns).astype(np.int64)
    return np.asarray(whole.astype(np.int64) * unit_ns + frac, dtype=np.int64)


def all_finite(*values: np.ndarray) -> bool:
    """Whether every value of every array is finite; one summing pass each (a NaN or inf makes a sum non-finite)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if all(np.isfinite(v.sum()) for v in values):
            return True
    return all(bool(np.isfinite(v).all()) for v in values)  # a sum may overflow on finite values: check exactly


def start_ns(opts: ReadOptions, path: Path) -> int:
    """``opts.start_time`` (ISO) in ns since 1970, 0 when unset, for files without a time column."""
    if not opts.start_time:
        return 0
    try:
        return int(pc.cast(pa.array([opts.start_time]), pa.timestamp("ns")).cast(pa.int64())[0].as_py())
    except pa.ArrowInvalid:
        raise ConfigError(f"--start-time {opts.start_time!r} is not an ISO time like 2024-05-01T08:00:00") from None


def parse_iso(col: pa.Array, path: Path, line0: int) -> np.ndarray:
    """ISO 8601 strings -> int64 ns (offsets converted to UTC); names the first bad line (``line0`` is row 0's)."""
    if col.null_count:  # an empty time would become NaN, then an arbitrary int64
        line = line0 + int(np.argmax(np.asarray(col.is_null().to_numpy(zero_copy_only=False))))
        raise DataError(f"{path}: line {line}: time value is missing; fix or remove the line")
    for tp in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
        try:
            return np.asarray(pc.cast(col, tp).cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    for i, v in enumerate(col.to_pylist()):
        try:
            pc.cast(pa.array([v]), pa.timestamp("ns"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            try:
                pc.cast(pa.array([v]), pa.timestamp("ns", tz="UTC"))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise DataError(
                    f"{path}: line {line0 + i}: cannot parse time {v!r}; use ISO 8601 "
                    "(2024-05-01T08:00:00.000) or numbers with --time-unit"
                ) from None
    raise DataError(f"{path}: the time column mixes time zones and plain times; make it uniform")


def canonical_chunk(
    path: Path,
    t: np.ndarray,
    acc: np.ndarray | Sequence[np.ndarray],
    gyr: np.ndarray | Sequence[np.ndarray] | None,
    label: pa.Array | pa.ChunkedArray | None,
    acc_unit: str,
    gyr_unit: str,
    line0: int,
    opts: ReadOptions,
    counters: dict[str, Any] | None = None,
) -> pa.Table:
    """Build one canonical table (g, deg/s, float32) from raw arrays, rejecting non-finite samples.

    ``acc`` and ``gyr`` are ``(n, 3)`` arrays or three 1-D columns (columns avoid a stacking copy). With
    ``opts.nonfinite == 'drop'`` rows holding a missing, NaN or infinite sensor value are dropped and counted in
    ``counters['nonfinite_dropped']`` (the reader's ``info['counters']``).
    """
    if acc_unit not in ("g", "m/s2", "m/s^2"):
        raise ConfigError(f"unknown acceleration unit {acc_unit!r}; use g or m/s2")
    if gyr_unit not in ("rad/s", "deg/s"):
        raise ConfigError(f"unknown gyroscope unit {gyr_unit!r}; use rad/s or deg/s")
    scale = 1.0 / STANDARD_GRAVITY if acc_unit != "g" else 1.0
    gscale = 180.0 / np.pi if gyr_unit == "rad/s" else 1.0
    # converted before the finite check, so a value beyond float32's range (~3.4e38) counts as infinite
    with np.errstate(over="ignore", invalid="ignore"):
        acc_cols = [np.ascontiguousarray(v if scale == 1.0 else v * scale, np.float32) for v in _columns(acc)]
        gyr_cols = (
            [np.ascontiguousarray(v if gscale == 1.0 else v * gscale, np.float32) for v in _columns(gyr)]
            if gyr is not None
            else []
        )
    if not all_finite(*acc_cols, *gyr_cols):
        finite = np.logical_and.reduce([np.isfinite(c) for c in (*acc_cols, *gyr_cols)])
        bad = int((~finite).sum())
        if opts.nonfinite == "error":
            line = line0 + int(np.argmax(~finite))
            raise DataError(
                f"{path}: line {line}: missing, NaN, infinite or out-of-range sensor value ({bad} such rows in "
                "this chunk); fix the file or pass --set nonfinite=drop to drop those rows"
            )
        if counters is not None:
            counters["nonfinite_dropped"] = counters.get("nonfinite_dropped", 0) + bad
        t = t[finite]
        acc_cols = [c[finite] for c in acc_cols]
        gyr_cols = [c[finite] for c in gyr_cols]
        label = label.filter(mask(finite)) if label is not None else None
    if t.dtype.kind == "f" and not np.isfinite(t).all():
        line = line0 + int(np.argmax(~np.isfinite(t)))
        raise DataError(f"{path}: line {line}: time value is missing or not a number; fix or remove the line")
    # from_numpy, not pa.array(): no pandas import, no per-column type inference
    cols: dict[str, Any] = {"time": from_numpy(t.astype(np.int64, copy=False), pa.timestamp("ns"))}
    for c, v in zip(ACC, acc_cols, strict=True):
        cols[c] = from_numpy(v, pa.float32())
    if gyr_cols:
        for c, v in zip(GYR, gyr_cols, strict=True):
            cols[c] = from_numpy(v, pa.float32())
    if label is not None:
        lab = label.cast(pa.string()) if label.type != pa.string() else label
        if isinstance(lab, pa.ChunkedArray):
            lab = lab.combine_chunks()
        cols["label"] = pc.dictionary_encode(lab).cast(pa.dictionary(pa.int32(), pa.string()))
    return pa.table(cols, schema=schema_for(list(cols)))


def _columns(values: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(values, np.ndarray) and values.ndim == 2:
        return [values[:, i] for i in range(values.shape[1])]
    return list(values)
