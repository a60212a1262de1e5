"""Preset reader of the SP-SW-HAR layout: ``DATA/sNN/sNN_EE_{sp|sw}.csv`` (phone in pocket, watch on wrist).

Columns ``x_acc,y_acc,z_acc`` (m/s^2), ``x_gyro,y_gyro,z_gyro`` (rad/s), ``timestamp`` (Unix ms), ``label``.
Subject ``sNN``, session ``EE``, device ``phone``/``watch``, placement ``pocket``/``wrist``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from wearfm.config import IngestConfig
from wearfm.io import csv as csv_reader
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader

__all__ = ["sniff", "accepts", "read"]

_NAME = re.compile(r"^(s\d+)_(\d+)_(sp|sw)\.csv(\.gz)?$", re.IGNORECASE)
_HEADER = b"x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp"
_DEVICE = {"sp": ("phone", "pocket"), "sw": ("watch", "wrist")}


def sniff(head: bytes, path: Path) -> bool:
    """An SP-SW-HAR file: its name pattern and its header."""
    return bool(_NAME.match(path.name)) and head.lstrip().startswith(_HEADER)


def accepts(path: Path) -> bool:
    """Whether ``path`` is a recording of the layout (``subjects_info.csv`` and the like are not)."""
    return bool(_NAME.match(path.name))


@functools.lru_cache(maxsize=16)
def _preset(opts: ReadOptions) -> ReadOptions:
    """The CSV options of the layout (built once per config, not per file)."""
    return replace(
        opts,
        acc_cols=("x_acc", "y_acc", "z_acc"),
        gyr_cols=("x_gyro", "y_gyro", "z_gyro"),
        time_col="timestamp",
        time_unit="ms",
        acc_unit=opts.acc_unit if opts.acc_unit != "auto" else "m/s2",
        gyr_unit="rad/s",
        label_col="label",
        delimiter=",",
        header="yes",
        rate_hz=None,
    )


def read(
    path: Path, cfg: ReadOptions | IngestConfig, data: bytes | None = None
) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    """Read one execution file as canonical chunks (units converted to g and deg/s).

    ``data``: the file's bytes when the caller has already read them (see :func:`wearfm.io.csv.read`).

    Examples:
        >>> chunks, info = read(Path("DATA/s01/s01_01_sp.csv"), IngestConfig())  # doctest: +SKIP
        >>> info["subject"], info["device"], info["placement"]  # doctest: +SKIP
        ('s01', 'phone', 'pocket')
    """
    opts = ReadOptions.from_config(cfg)
    m = _NAME.match(path.name)
    chunks, info = csv_reader.read(path, _preset(opts), data)
    info["reader"] = "sp-sw-har"
    info["time_reference"] = "utc"
    if m:
        device, placement = _DEVICE[m.group(3).lower()]
        # the file name knows these; explicit options still win
        info["subject"] = info["subject"] if opts.subject_from else m.group(1)
        info["subject_source"] = "option" if opts.subject_from else "reader"
        info["session"] = info["session"] if opts.session_from else m.group(2)
        info["device"] = opts.device or device
        info["placement"] = opts.placement if opts.placement != "unknown" else placement
    return chunks, info


register_reader(Reader("sp-sw-har", read=read, sniff=sniff, accepts=accepts, reads_bytes=True))
