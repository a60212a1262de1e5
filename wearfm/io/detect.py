"""Detection: input expansion, file format, delimiter/header, time unit and acceleration unit."""

from __future__ import annotations

import glob
import gzip
import importlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import IO

import numpy as np

from wearfm.errors import DataError, FormatError, UnsupportedFormatError

__all__ = [
    "READERS",
    "FORMATS",
    "open_binary",
    "read_head",
    "expand_inputs",
    "reader_module",
    "detect_format",
    "sniff_delimiter",
    "has_header",
    "detect_time_unit",
    "detect_acc_unit",
]

log = logging.getLogger(__name__)

#: format name -> module implementing ``sniff``/``read`` (imported lazily: device readers may be absent).
READERS: dict[str, str] = {
    "cwa": "wearfm.io.cwa",
    "gt3x": "wearfm.io.gt3x",
    "geneactiv": "wearfm.io.geneactiv",
    "wisdm": "wearfm.io.wisdm",
    "sp-sw-har": "wearfm.io.spswhar",
    "actilife-csv": "wearfm.io.actilife_csv",
    "geneactiv-csv": "wearfm.io.geneactiv_csv",
    "omgui-csv": "wearfm.io.omgui_csv",
    "csv": "wearfm.io.csv",
}
FORMATS = ("auto", *READERS)
_EXTENSIONS = {
    ".cwa": "cwa",
    ".gt3x": "gt3x",
    ".bin": "geneactiv",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".dat": "csv",
}
_SKIP_NAMES = {"activity_key.txt", "readme.txt", "readme.md", "manifest.parquet"}


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


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files, folders (searched recursively) and glob patterns -> sorted unique files."""
    out: dict[Path, None] = {}
    for item in inputs:
        s = str(item)
        p = Path(s)
        if any(ch in s for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(s, recursive=True))]
            if not matches:
                raise FileNotFoundError(f"{s}: the pattern matches no file; check the path (and quote it)")
            for m in matches:
                if m.is_file():
                    out[m] = None
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not f.name.startswith(".") and f.name.lower() not in _SKIP_NAMES:
                    if f.suffix.lower() in (".parquet", ".md", ".json", ".pdf", ".zip"):
                        continue
                    out[f] = None
        elif p.is_file():
            out[p] = None
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return list(out)


def reader_module(fmt: str) -> ModuleType:
    """Import the reader of ``fmt``; raise ``UnsupportedFormatError`` when it is unknown or not installed."""
    if fmt not in READERS:
        raise UnsupportedFormatError(f"unknown format {fmt!r}; choose from {list(FORMATS)}")
    try:
        return importlib.import_module(READERS[fmt])
    except ModuleNotFoundError as e:
        if e.name == READERS[fmt]:
            raise UnsupportedFormatError(f"the {fmt} reader is not available in this wearfm version") from None
        raise


def _stem_ext(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).suffix


def detect_format(path: Path, head: bytes | None = None) -> str:
    """Name of the reader for ``path``: content sniffing first (device formats, presets), then extension."""
    head = read_head(path) if head is None else head
    for fmt, modname in READERS.items():
        if fmt == "csv":
            continue
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError:
            continue
        sniff = getattr(mod, "sniff", None)
        try:
            if sniff is not None and sniff(head, path):
                return fmt
        except Exception as e:  # a buggy sniffer must not hide the other formats
            log.debug("sniffer of %s failed on %s: %s", fmt, path, e)
    ext = _stem_ext(path)
    if ext in _EXTENSIONS and _EXTENSIONS[ext] != "csv":
        return _EXTENSIONS[ext]
    from wearfm.io import csv as csv_reader

    if csv_reader.sniff(head, path):
        return "csv"
    if _header_only(head):  # the message the CSV reader gives for the same file with --format csv
        raise DataError(f"{path}: no data rows; the file has only a header")
    raise UnsupportedFormatError(
        f"{path}: unknown file format; pass --format with one of {list(READERS)} "
        "or convert the file to CSV with a header"
    )


def _header_only(head: bytes) -> bool:
    """Whether ``head`` is a whole text file of one line of at least three delimited column names."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) != 1 or "\x00" in text:
        return False
    fields = [f for f in re.split(r"[,;\t]|\s+", lines[0].strip()) if f.strip()]
    return len(fields) >= 3 and has_header(fields)


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
