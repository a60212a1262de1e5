"""Input expansion and format detection: which registered reader (:mod:`wearfm.io.readers`) reads a file.

The sniffing helpers the readers share (delimiter, header, time and acceleration units, reading a file's head)
live in :mod:`wearfm.io.sniff` and are re-exported here.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from wearfm.errors import DataError, UnsupportedFormatError
from wearfm.io.readers import get_reader, list_readers
from wearfm.io.sniff import (
    detect_acc_unit,
    detect_time_unit,
    has_header,
    open_binary,
    read_head,
    sniff_delimiter,
)

__all__ = [
    "FORMATS",
    "open_binary",
    "read_head",
    "expand_inputs",
    "detect_format",
    "sniff_delimiter",
    "has_header",
    "detect_time_unit",
    "detect_acc_unit",
]

log = logging.getLogger(__name__)

#: the ``--format`` choices: "auto" (detect each file's format), then every registered reader in detection order
FORMATS = ("auto", *list_readers())
_SKIP_NAMES = {"activity_key.txt", "readme.txt", "readme.md", "manifest.parquet"}


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


def _stem_ext(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).suffix


def detect_format(path: Path, head: bytes | None = None) -> str:
    """Name of the reader for ``path``: content sniffing first (device formats, presets), then extension."""
    head = read_head(path) if head is None else head
    readers = [get_reader(name) for name in list_readers()]
    for reader in readers:
        if reader.fallback:
            continue
        try:
            if reader.sniff(head, path):
                return reader.name
        except Exception as e:  # a buggy sniffer must not hide the other formats
            log.debug("sniffer of %s failed on %s: %s", reader.name, path, e)
    ext = _stem_ext(path)
    for reader in readers:
        if not reader.fallback and ext in reader.extensions:
            return reader.name
    for reader in readers:
        if reader.fallback and reader.sniff(head, path):
            return reader.name
    if _header_only(head):  # the message the CSV reader gives for the same file with --format csv
        raise DataError(f"{path}: no data rows; the file has only a header")
    raise UnsupportedFormatError(
        f"{path}: unknown file format; pass --format with one of {list_readers()} "
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
