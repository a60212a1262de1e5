"""Temporary files of atomic writes: naming, and removing the ones a killed process left behind."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

__all__ = ["temp_path", "remove_stale_temporaries"]

log = logging.getLogger(__name__)


def temp_path(path: Path) -> Path:
    """``.NAME.PID.tmp`` beside ``path``: written first, then renamed over ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(path: Path) -> int:
    """Delete ``.NAME.PID.tmp`` files beside ``path`` whose process is gone (killed mid-write); their count.

    A process killed with SIGKILL cannot remove its temporary file; the next write of the same file does.
    Temporaries of live processes (a concurrent writer) are left alone.
    """
    pat = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.tmp$")
    removed = 0
    try:
        names = os.listdir(path.parent)
    except OSError:
        return 0
    for name in names:
        m = pat.match(name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            try:
                (path.parent / name).unlink()
                removed += 1
            except OSError as e:
                log.debug("cannot remove stale %s: %s", name, e)
    if removed:
        log.info("removed %d temporary file(s) of an interrupted write of %s", removed, path)
    return removed
