"""Exceptions for mistakes a user can fix; the CLI shows their message as one line and exits non-zero.

Each subclasses a built-in (``ValueError``, ``FileNotFoundError``) so callers of the Python API can catch
either. Messages name the file (and line where known) and say what to do.
"""

from __future__ import annotations

__all__ = [
    "WearfmError",
    "DataError",
    "FormatError",
    "ConfigError",
    "CheckpointError",
    "UnsupportedFormatError",
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
