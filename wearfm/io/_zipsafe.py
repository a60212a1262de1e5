"""Opening zip containers (.gt3x) defensively: no path traversal, no zip bombs, clear errors."""

from __future__ import annotations

import gzip
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from wearfm.errors import FormatError
from wearfm.io._devutil import is_gzip

__all__ = ["open_zip", "read_member", "member_errors", "MAX_MEMBER_BYTES", "MAX_RATIO"]

#: Largest uncompressed member accepted (a year of 100 Hz log.bin is ~15 GB).
MAX_MEMBER_BYTES = 64 * 2**30
#: Largest compression ratio accepted for members above ``_RATIO_FLOOR`` bytes (raw IMU compresses ~2-4x).
MAX_RATIO = 200
_RATIO_FLOOR = 16 * 2**20


#: What reading a damaged member raises: bad CRC or header (BadZipFile), a broken deflate stream (zlib.error),
#: a stream cut short (EOFError), an unknown compression method (NotImplementedError), an encrypted member
#: (RuntimeError), and OS-level read errors.
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)


@contextmanager
def member_errors(path: Path, name: str) -> Iterator[None]:
    """Turn any error of opening or reading zip member ``name`` of ``path`` into a :class:`FormatError`."""
    try:
        yield
    except ZIP_READ_ERRORS as e:
        raise FormatError(
            f"{path}: zip member {name!r} is corrupt or truncated ({type(e).__name__}: {e}); re-copy the file"
        ) from None


def read_member(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """The bytes of member ``name`` (CRC checked); a damaged member raises :class:`FormatError`."""
    with member_errors(path, name):
        return zf.read(name)


def _check_members(zf: zipfile.ZipFile, path: Path) -> None:
    for m in zf.infolist():
        name = m.filename.replace("\\", "/")
        p = PurePosixPath(name)
        if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in p.parts:
            raise FormatError(
                f"{path}: refusing zip member {m.filename!r} (absolute path or '..'); the archive is not a genuine "
                "device file"
            )
        if m.file_size > MAX_MEMBER_BYTES:
            raise FormatError(
                f"{path}: zip member {m.filename!r} declares {m.file_size} bytes uncompressed (limit "
                f"{MAX_MEMBER_BYTES}); refusing a possible zip bomb"
            )
        if m.file_size > _RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise FormatError(
                f"{path}: zip member {m.filename!r} declares a compression ratio of "
                f"{m.file_size / max(m.compress_size, 1):.0f}:1 (limit {MAX_RATIO}:1); refusing a possible zip bomb"
            )


def open_zip(path: Path) -> tuple[zipfile.ZipFile, IO[bytes] | None]:
    """Open ``path`` (a zip, or a gzip-compressed zip) after checking every member's name and size.

    Returns:
        ``(zipfile, tmp)``: ``tmp`` is the temporary file holding a decompressed ``.gz`` (close it after the
        zip), or None.

    Raises:
        FormatError: not a zip, corrupt, traversal member names, or absurd declared sizes / ratios.
    """
    path = Path(path)
    tmp: IO[bytes] | None = None
    src: Path | IO[bytes] = path
    if path.suffix.lower() == ".gz" or is_gzip(path):
        tmp = tempfile.TemporaryFile()
        try:
            with gzip.open(path, "rb") as g:
                shutil.copyfileobj(g, tmp, 1 << 20)
        except (OSError, EOFError) as e:
            tmp.close()
            raise FormatError(f"{path}: the gzip stream is damaged or truncated ({e}); re-copy the file") from None
        tmp.seek(0)
        src = tmp
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        if tmp is not None:
            tmp.close()
        raise FormatError(
            f"{path}: not a readable zip container ({e}); a .gt3x file is a zip, was it truncated or renamed?"
        ) from None
    try:
        _check_members(zf, path)
    except FormatError:
        zf.close()
        if tmp is not None:
            tmp.close()
        raise
    return zf, tmp
