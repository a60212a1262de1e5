"""Reader of delimited text (CSV, TSV, semicolon, whitespace), streamed in bounded chunks.

Columns are mapped by name (or 0-based index without a header) through :class:`~wearfm.io.options.ReadOptions`:
``acc_cols``, ``gyr_cols``, ``time_col``, ``label_col``. Without options, common names are detected
(``x,y,z``, ``ax,ay,az``, ``acc_x..``, ``x_acc..``, ``time``/``timestamp``, ``label``).
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from wearfm.config import IngestConfig
from wearfm.errors import ConfigError, DataError
from wearfm.io._arrow import to_numpy
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader
from wearfm.io.sniff import (
    detect_acc_unit,
    detect_time_unit,
    has_header,
    open_binary,
    read_head,
    sniff_delimiter,
)
from wearfm.io.textutil import (
    UNIT_NS,
    WhitespaceReader,
    all_finite,
    canonical_chunk,
    id_from_spec,
    start_ns,
    to_ns,
)
from wearfm.io.timetext import parse_times

__all__ = ["sniff", "read", "canonical_chunk", "id_from_spec"]

log = logging.getLogger(__name__)

_ACC_NAMES = [
    ("acc_x", "acc_y", "acc_z"),
    ("x_acc", "y_acc", "z_acc"),
    ("ax", "ay", "az"),
    ("accx", "accy", "accz"),
    ("accel_x", "accel_y", "accel_z"),
    ("x", "y", "z"),
]
_GYR_NAMES = [
    ("gyr_x", "gyr_y", "gyr_z"),
    ("x_gyro", "y_gyro", "z_gyro"),
    ("gx", "gy", "gz"),
    ("gyro_x", "gyro_y", "gyro_z"),
]
_TIME_NAMES = ("time", "timestamp", "t", "datetime", "date_time", "unix_time", "time_s", "ts")
_LABEL_NAMES = ("label", "activity")


def sniff(head: bytes, path: Path) -> bool:
    """Whether ``head`` looks like delimited numeric text with at least three numeric fields per row."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the end of the head: binary
            return False
        text = head[: e.start].decode("utf-8")
    if not text or "\x00" in text:
        return False
    lines = [ln for ln in text.splitlines()[:-1] or text.splitlines() if ln.strip()]
    if not lines:
        return False
    d = sniff_delimiter(lines)
    row = _split(lines[-1], d)
    return sum(_isnum(f) for f in row) >= 3


def _isnum(s: str) -> bool:
    try:
        float(s.strip().strip(";"))
        return True
    except ValueError:
        return False


def _split(line: str, delimiter: str) -> list[str]:
    return line.split() if delimiter == "whitespace" else line.split(delimiter)


@dataclass
class _Plan:
    names: list[str]
    header: bool
    delimiter: str
    acc: tuple[str, ...]
    gyr: tuple[str, ...]
    time: str | None
    time_numeric: bool
    label: str | None
    subject_col: str | None
    bytes_per_row: float
    skip: int = 0  # preamble lines before the header (or the data)
    data_offset: int = 0  # byte offset of the first data line in the (uncompressed) file

    @property
    def line0(self) -> int:
        """File line (1-based) of the first data row."""
        return 1 + self.skip + self.header


def _pick(
    names: list[str], given: tuple[str, ...], candidates: Sequence[tuple[str, ...]], what: str, path: Path
) -> tuple[str, ...]:
    lower = {n.lower().strip(): n for n in names}
    if given:
        cols = tuple(lower.get(c.lower(), c) for c in given)
        missing = [c for c in cols if c not in names]
        if missing:
            raise DataError(f"{path}: {what} columns {missing} not found; the file has {names}")
        if len(cols) != 3:
            raise ConfigError(f"{what} columns must be three names (x,y,z); got {list(given)}")
        return cols
    for cand in candidates:
        if all(c in lower for c in cand):
            return tuple(lower[c] for c in cand)
    return ()


def _preamble(path: Path, raw: list[str], opts: ReadOptions) -> int:
    """Lines to skip before the header (or data): ``opts.skip_rows``, or a detected preamble.

    With ``skip_rows=0`` and an automatic header, a first line with fewer fields than the data lines starts a
    preamble when a later line, with as many fields as the data, names acceleration columns (the given
    ``--acc-cols`` or common names): that line is the header. Without such a line nothing is skipped.
    """
    if opts.skip_rows < 0:
        raise ConfigError(f"skip_rows must be >= 0, got {opts.skip_rows}")
    if opts.skip_rows or opts.header != "auto" or len(raw) < 3:
        return opts.skip_rows
    body = [ln for ln in raw[-20:] if ln.strip()]
    d = sniff_delimiter(body)
    width = len(_split(body[-1], d))
    if width < 3 or len(_split(raw[0], d)) >= width:
        return 0
    wanted = {c.lower() for c in opts.acc_cols} or {c for names in _ACC_NAMES for c in names}
    for i, ln in enumerate(raw[1:], start=1):
        fields = [f.strip().strip('"') for f in _split(ln, d)]
        if len(fields) == width and has_header(fields) and {f.lower() for f in fields} & wanted:
            log.info("%s: skipping a preamble of %d line(s) before the header %r", path, i, ln[:60])
            return i
    return 0  # no header naming the columns: only --skip-rows skips lines


def _offset(head: bytes, lines: int) -> int:
    """Byte offset just after the first ``lines`` lines of ``head`` (-1 when the head holds fewer)."""
    pos = 0
    for _ in range(lines):
        nl = head.find(b"\n", pos)
        if nl < 0:
            return -1
        pos = nl + 1
    return pos


def _plan(path: Path, head: bytes, opts: ReadOptions) -> _Plan:
    text = head.decode("utf-8", errors="replace")
    raw = text.splitlines()
    if len(raw) > 1 and not head.endswith(b"\n"):
        raw = raw[:-1]
    skip = _preamble(path, raw, opts)
    if skip >= len(raw):
        raise DataError(f"{path}: --skip-rows {skip} skips every line of the first {len(head)} bytes; check the number")
    lines = list(filter(str.strip, raw[skip:]))  # the non-blank lines (filter: no Python call per line)
    if not lines:
        raise DataError(f"{path}: no data after line {skip}; check --skip-rows")
    delims = {",": ",", "\t": "\t", "tab": "\t", ";": ";", "whitespace": "whitespace", "space": "whitespace"}
    if opts.delimiter == "auto":
        d = sniff_delimiter(lines)
    elif opts.delimiter in delims:
        d = delims[opts.delimiter]
    else:
        raise ConfigError(f"unknown delimiter {opts.delimiter!r}; choose from auto, ',', tab, ';', whitespace")
    first = [f.strip().strip('"') for f in _split(lines[0], d)]
    header = has_header(first) if opts.header == "auto" else opts.header in ("yes", "true", "1")
    names = first if header else [str(i) for i in range(len(first))]
    if len(set(names)) != len(names):
        raise DataError(f"{path}: duplicate column names in the header {names}")
    acc = _pick(names, opts.acc_cols, _ACC_NAMES, "acceleration", path)
    gyr = _pick(names, opts.gyr_cols, _GYR_NAMES, "gyroscope", path)
    time = opts.time_col
    if time is not None and time not in names:
        raise DataError(f"{path}: time column {time!r} not found; the file has {names}")
    if time is None and opts.rate_hz is None:
        time = next((n for n in names if n.lower().strip() in _TIME_NAMES), None)
        if time is None and not header and len(names) >= 4 and not opts.acc_cols:
            time = names[0]
    if not acc:
        if not header:
            rest = [n for n in names if n != time]
            acc = tuple(rest[:3]) if len(rest) >= 3 else ()
        if not acc:
            raise DataError(
                f"{path}: cannot find acceleration columns among {names}; pass --acc-cols X,Y,Z (names, or 0-based "
                "indices for a file without header)"
            )
    if time is None and opts.rate_hz is None:
        raise DataError(
            f"{path}: no time column found among {names}; pass --time-col NAME, or --rate HZ when the "
            "file has no time column"
        )
    label = opts.label_col
    if label is not None and label not in names:
        raise DataError(f"{path}: label column {label!r} not found; the file has {names}")
    if label is None:
        label = next((n for n in names if n.lower().strip() in _LABEL_NAMES), None)
    data_line = lines[1] if header and len(lines) > 1 else lines[0]
    time_numeric = True
    if time is not None:
        fields = _split(data_line, d)
        idx = names.index(time)
        tval = fields[idx].strip().strip('"') if idx < len(fields) else ""
        time_numeric = opts.time_unit != "iso" and _isnum(tval)
    subject_col = None
    for spec in (opts.subject_from, opts.session_from):
        if spec and spec.startswith("column:"):
            c = spec.split(":", 1)[1]
            if c not in names:
                raise DataError(f"{path}: column {c!r} (from {spec!r}) not found; the file has {names}")
            subject_col = c
    bpr = max(len(head[: head.rfind(b"\n")]) / max(len(lines), 1), 8.0)
    offset = _offset(head, skip + header) if skip else 0
    return _Plan(names, header, d, acc, gyr, time, time_numeric, label, subject_col, bpr, skip, offset)


def read(
    path: Path, cfg: ReadOptions | IngestConfig, data: bytes | None = None
) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    """Stream ``path`` as canonical tables (see module docstring); ``info`` fills while iterating.

    ``data``, the file's bytes when the caller has already read them (e.g. to hash them), lets a small plain
    file be parsed from memory instead of being opened and read again.

    Examples:
        >>> chunks, info = read(Path("walk.csv"), IngestConfig(acc_unit="g"))  # doctest: +SKIP
        >>> table = pa.concat_tables(chunks)  # doctest: +SKIP
    """
    opts = ReadOptions.from_config(cfg)
    if data is not None and path.suffix.lower() in _COMPRESSED:
        data = None  # Arrow decompresses from the path
    head = read_head(path, 1 << 16, data)
    plan = _plan(path, head, opts)
    counters: dict[str, Any] = {"rows_read": 0, "acc_unit_input": opts.acc_unit, "time_unit": opts.time_unit}
    info: dict[str, Any] = {
        "reader": "csv",
        "device": opts.device or "unknown",
        "placement": opts.placement,
        "subject": id_from_spec(opts.subject_from, path)
        if opts.subject_from and not opts.subject_from.startswith("column:")
        else None,
        "session": id_from_spec(opts.session_from, path)
        if opts.session_from and not opts.session_from.startswith("column:")
        else None,
        "time_reference": opts.time_reference,
        "sample_rate_nominal_hz": opts.rate_hz,
        "timezone": None,
        "counters": counters,
        "subject_source": "option" if opts.subject_from else None,
    }
    return _iterate(path, opts, plan, info, head, data), info


def _options(path: Path, plan: _Plan, opts: ReadOptions) -> tuple[int, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """Block size and Arrow parse/convert options (explicit column types: nothing is inferred)."""
    cols = [c for c in (*plan.acc, *plan.gyr, plan.time, plan.label, plan.subject_col) if c is not None]
    types: dict[str, pa.DataType] = {c: pa.float32() for c in (*plan.acc, *plan.gyr)}
    if plan.time is not None:
        # float64 keeps ms/us exactly and ns to ~0.2 us at today's epoch, enough for sensor clocks
        types[plan.time] = pa.float64() if plan.time_numeric else pa.string()
    for c in (plan.label, plan.subject_col):
        if c is not None:
            types[c] = pa.string()
    # small blocks: Arrow's reader holds several in flight, and 4-8 MB parse fastest here (measured)
    block = int(min(max(opts.chunk_rows * plan.bytes_per_row, 1 << 16), 8 << 20))
    popts = pacsv.ParseOptions(delimiter="," if plan.delimiter == "whitespace" else plan.delimiter)
    copts = pacsv.ConvertOptions(
        column_types=types, include_columns=list(dict.fromkeys(cols)), strings_can_be_null=True
    )
    return block, popts, copts


def _open(path: Path, plan: _Plan, opts: ReadOptions, data: bytes | None = None) -> pacsv.CSVStreamingReader:
    """Arrow's streaming reader over the file, or over its bytes (``data``) when they are already in memory."""
    block, popts, copts = _options(path, plan, opts)
    size = len(data) if data is not None else path.stat().st_size
    threads = size > _PARALLEL_BYTES  # small files: thread hand-offs cost more than they save
    ropts = pacsv.ReadOptions(
        column_names=plan.names, skip_rows=plan.skip + plan.header, block_size=block, use_threads=threads
    )
    source: Any = str(path) if data is None else pa.BufferReader(data)
    if plan.delimiter == "whitespace":
        raw = open_binary(path) if data is None else io.BytesIO(data)
        source = io.BufferedReader(WhitespaceReader(raw, True, False), 1 << 20)
    try:
        return pacsv.open_csv(source, read_options=ropts, parse_options=popts, convert_options=copts)
    except pa.ArrowInvalid as e:
        raise DataError(f"{path}: cannot parse ({_clean(e)}); check the delimiter and columns") from None


_PARALLEL_BYTES = 16 << 20  # plain files larger than this are parsed block by block on several threads
_COMPRESSED = (".gz", ".bz2", ".lz4", ".zst", ".br")
_ROW = re.compile(r"Row #(\d+)")


def _batches(
    path: Path, plan: _Plan, opts: ReadOptions, head: bytes, data: bytes | None = None
) -> Iterator[pa.RecordBatch]:
    """The file's record batches in order, one per block of about ``block`` bytes.

    Arrow's streaming reader parses one block at a time on one thread. A large plain file is instead cut
    into the same blocks (at the last line end before each multiple of the block size, as Arrow cuts them),
    which a small thread pool parses ahead of the consumer: at most ``workers + 1`` blocks are held, so
    memory stays bounded by the block size, not the file size. A file the caller has already read (``data``,
    a small file) is streamed from its bytes: the same batches, without opening and reading the file again.
    """
    size = len(data) if data is not None else path.stat().st_size
    header_end = head.find(b"\n") + 1 if plan.header else 0
    if plan.skip:
        header_end = plan.data_offset
    if (
        data is not None
        or size <= _PARALLEL_BYTES
        or plan.delimiter == "whitespace"
        or path.suffix.lower() in _COMPRESSED
        or (plan.skip and header_end <= 0)  # the preamble is longer than the head
        or (not plan.skip and plan.header and (header_end == 0 or not head[:1].strip()))  # header not on line 1
    ):
        reader = _open(path, plan, opts, data)
        while True:
            try:
                yield reader.read_next_batch()
            except StopIteration:
                return
    block, popts, copts = _options(path, plan, opts)
    workers = max(min(os.cpu_count() or 1, 4), 2)
    with open(path, "rb") as f, ThreadPoolExecutor(max_workers=workers) as pool:
        fd = f.fileno()

        def parse(a: int, b: int) -> pa.Table:
            ropts = pacsv.ReadOptions(column_names=plan.names, block_size=b - a + 1, use_threads=False)
            data = pa.py_buffer(os.pread(fd, b - a, a))  # pread releases the GIL and keeps no file position
            return pacsv.read_csv(pa.BufferReader(data), read_options=ropts, parse_options=popts, convert_options=copts)

        pending: deque[Future[pa.Table]] = deque()
        rows = 0

        def take() -> list[pa.RecordBatch]:
            nonlocal rows
            try:
                table = pending.popleft().result()
            except pa.ArrowInvalid as e:  # Arrow counts rows within the block: make them file lines
                shift = rows + plan.skip + (1 if plan.header else 0)
                raise pa.ArrowInvalid(_ROW.sub(lambda m: f"Row #{int(m.group(1)) + shift}", str(e))) from None
            rows += table.num_rows
            batches: list[pa.RecordBatch] = table.to_batches()
            return batches

        try:
            for a, b in _blocks(fd, size, block, header_end):
                pending.append(pool.submit(parse, a, b))
                if len(pending) > workers:
                    yield from take()
            while pending:
                yield from take()
        finally:
            for fut in pending:
                fut.cancel()


def _blocks(fd: int, size: int, block: int, start: int) -> Iterator[tuple[int, int]]:
    """Byte ranges ``[a, b)`` of whole lines: each ends at the last line end at or before a multiple of ``block``."""
    a, k = start, 1
    while a < size:
        limit = k * block
        k += 1
        if limit >= size:
            yield a, size
            return
        if limit <= a:
            continue
        b, window = -1, 1 << 12
        while b < 0 and window < 2 * block:
            lo = max(a, limit - window)
            cut = os.pread(fd, limit - lo, lo).rfind(b"\n")
            b = lo + cut + 1 if cut >= 0 else -1
            if lo == a:
                break
            window *= 4
        if b < 0:  # a line longer than the block: it joins the next block
            continue
        yield a, b
        a = b


def _clean(e: Exception) -> str:
    return str(e).split("\n")[0]


def _iterate(
    path: Path, opts: ReadOptions, plan: _Plan, info: dict[str, Any], head: bytes, data: bytes | None
) -> Iterator[pa.Table]:
    batches = _batches(path, plan, opts, head, data)
    counters = info["counters"]
    acc_unit = opts.acc_unit if opts.acc_unit != "auto" else None
    time_unit = opts.time_unit if opts.time_unit != "auto" else None
    row0 = 0
    first_id: str | None = None
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except pa.ArrowInvalid as e:
            raise DataError(
                f"{path}: near line {row0 + plan.line0}: {_clean(e)}; check for non-numeric "
                "values and the column options"
            ) from None
        n = batch.num_rows
        if n == 0:
            continue
        # one 1-D array per axis (zero-copy views of Arrow's buffers where there are no nulls)
        acc = [to_numpy(batch.column(c)) for c in plan.acc]
        if acc_unit is None:
            # a few minutes of data are enough
            acc_unit = detect_acc_unit(np.column_stack([a[:200_000] for a in acc]), path)
            counters["acc_unit_input"] = acc_unit
        if plan.time is None:
            start = start_ns(opts, path)
            t = start + np.round((row0 + np.arange(n)) * (1e9 / float(opts.rate_hz or 1))).astype(np.int64)
        elif plan.time_numeric:
            tv = to_numpy(batch.column(plan.time))
            if time_unit is None:
                time_unit = detect_time_unit(tv, path)
                counters["time_unit"] = time_unit
            if time_unit == "iso":
                raise DataError(f"{path}: the time column is numeric; use --time-unit s|ms|us|ns")
            if not all_finite(tv):
                bad = ~np.isfinite(tv)
                line = row0 + int(np.argmax(bad)) + plan.line0
                raise DataError(f"{path}: line {line}: time value is missing or not a number; fix or remove the line")
            t = to_ns(tv, UNIT_NS[time_unit], path, row0 + 1 + plan.header)
        else:
            counters["time_unit"] = "iso" if opts.date_format in ("auto", "ymd") else f"text ({opts.date_format})"
            t = parse_times(batch.column(plan.time), path, row0 + plan.line0, opts.date_format)
        gyr = [to_numpy(batch.column(c)) for c in plan.gyr] if plan.gyr else None
        label = batch.column(plan.label) if plan.label else None
        if plan.subject_col is not None:
            vals = pc.unique(batch.column(plan.subject_col).drop_null()).to_pylist()
            if first_id is None and vals:
                first_id = str(vals[0])
                for key, spec in (("subject", opts.subject_from), ("session", opts.session_from)):
                    if spec and spec.startswith("column:"):
                        info[key] = first_id
            if len(set(map(str, vals)) | {first_id}) > 1:
                raise DataError(
                    f"{path}: column {plan.subject_col!r} holds several ids ({vals[:5]}); split the file "
                    "per subject or use --subject-from with a path or value"
                )
        yield canonical_chunk(path, t, acc, gyr, label, acc_unit, opts.gyr_unit, row0 + plan.line0, opts, counters)
        row0 += n
        counters["rows_read"] = row0
    if row0 == 0:
        raise DataError(f"{path}: no data rows; the file has only a header")


register_reader(
    Reader("csv", read=read, sniff=sniff, reads_bytes=True, extensions=(".csv", ".tsv", ".txt", ".dat"), fallback=True)
)
