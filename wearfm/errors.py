"""Exceptions for mistakes a user can fix; the CLI shows their message as one line and exits non-zero.

Each subclasses a built-in (``ValueError``, ``FileNotFoundError``) so callers of the Python API can catch
either. Messages name the file (and line where known) and say what to do.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = [
    "WearfmError",
    "DataError",
    "FormatError",
    "ConfigError",
    "CheckpointError",
    "UnsupportedFormatError",
    "describe_load_error",
]


class WearfmError(Exception):
    """Base class of every error wearfm raises on purpose."""

    exit_code = 1


class DataError(WearfmError, ValueError):
    """Input data is unusable: missing columns, unparseable values, too short, no labels..."""


class FormatError(WearfmError, ValueError):
    """A file is not of the format it claims to be, or is truncated or corrupt beyond repair."""


class UnsupportedFormatError(FormatError):
    """A file of a format (or device) wearfm does not read."""


class ConfigError(WearfmError, ValueError):
    """An option or configuration value is invalid; the message lists the valid choices."""


class CheckpointError(WearfmError, ValueError):
    """A checkpoint or model file is missing, corrupt, or not a wearfm encoder."""


def describe_load_error(path: str | Path, exc: BaseException) -> str:
    """Why ``torch.load`` could not read ``path``, in a few whole words (for a one-line message).

    PyTorch's own messages run to several sentences (and an IndexError for a text file); this names the cause
    the user can act on: a text file, a truncated file, or a pickle of other objects.

    Examples:
        >>> describe_load_error("missing.pt", FileNotFoundError("x"))
        'cannot be opened (FileNotFoundError)'
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(512)
    except OSError:
        return f"cannot be opened ({type(exc).__name__})"
    if head.startswith(b"PK") and not zipfile.is_zipfile(p):
        return "truncated or damaged: the file ends before the end of its archive (copy or save it again)"
    if not head.startswith((b"PK", b"\x80")):
        kind = "a text file" if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "not a PyTorch file"
        return f"{kind}, not a file written by torch.save"
    if "weights only" in str(exc).lower() or "weights_only" in str(exc):
        return "it holds Python objects other than tensors and plain values, which are not loaded (weights only)"
    first = str(exc).split("\n")[0].split(". ")[0].strip()
    if len(first) > 100:
        first = first[:100].rsplit(" ", 1)[0] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
