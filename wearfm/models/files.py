"""The one guarded ``torch.load`` for wearfm's files: encoders, distance models and training checkpoints.

Every file is a dict with a ``format`` marker, loaded with ``weights_only=True`` (tensors, containers and plain
values only: a foreign pickle cannot run code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wearfm.errors import CheckpointError, describe_load_error

__all__ = ["load_marked"]


def load_marked(
    path: Path,
    marker: str,
    *,
    unreadable: str,
    unmarked: str,
    map_location: Any = "cpu",
    unreadable_hint: str = "",
    marker_hint: str = "",
) -> dict[str, Any]:
    """Load ``path`` safely and check that it is a dict whose ``format`` is ``marker``.

    Args:
        path: the file.
        marker: the expected ``format`` value.
        unreadable: the message for a file that cannot be loaded, e.g. ``not a readable wearfm encoder``.
        unmarked: the message for a file without the marker, e.g. ``not a wearfm encoder file``.
        map_location: passed to ``torch.load``.
        unreadable_hint: appended (after ``; ``) to the message for an unreadable file.
        marker_hint: appended (after ``; ``) to the message for a file without the marker.

    Raises:
        CheckpointError: the file cannot be unpickled safely, or is not a dict with the marker.
    """
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - a truncated file, a foreign pickle: all mean "not usable"
        hint = f"; {unreadable_hint}" if unreadable_hint else ""
        raise CheckpointError(f"{path}: {unreadable} ({describe_load_error(path, e)}){hint}") from None
    if not isinstance(obj, dict) or obj.get("format") != marker:
        hint = f"; {marker_hint}" if marker_hint else ""
        raise CheckpointError(f"{path}: {unmarked} (no '{marker}' marker){hint}")
    return obj
