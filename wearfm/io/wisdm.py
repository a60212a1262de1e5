"""Preset reader of WISDM raw files: ``data_<subject>_{accel|gyro}_{phone|watch}.txt``.

Lines are ``subject,activity,timestamp,x,y,z;`` with the timestamp in ns of a device uptime clock, the
accelerometer in m/s^2 and the gyroscope in rad/s. The accelerometer file is the primary source; its gyroscope
partner (``../gyro/data_<subject>_gyro_<device>.txt``) is merged onto the accelerometer's time base within
``merge_tolerance_s``; samples without a partner are dropped and counted. An accelerometer file without its
partner, while a ``gyro`` folder exists, is read alone with a warning (``info['warnings']``). Activity codes
become names from ``activity_key.txt`` when found in a parent folder (else the code letter stays).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pyarrow import csv as pacsv

from wearfm.config import IngestConfig
from wearfm.errors import DataError
from wearfm.io._arrow import from_numpy, strings, to_numpy
from wearfm.io.merge import pair_nearest
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader
from wearfm.io.sniff import open_binary, read_head
from wearfm.io.textutil import WhitespaceReader, canonical_chunk

__all__ = ["sniff", "accepts", "companions", "output_name", "read", "activity_names"]

_NAME = re.compile(r"^data_(\d+)_(accel|gyro)_(phone|watch)\.txt(\.gz)?$", re.IGNORECASE)
_LINE = re.compile(rb"^\d+,[A-Za-z],-?\d+,[-+0-9.eE]+,[-+0-9.eE]+,[-+0-9.eE]+;\s*$", re.MULTILINE)
_COLS = ["subject", "activity", "t", "x", "y", "z"]
_TYPES = {
    "subject": pa.string(),
    "activity": pa.string(),
    "t": pa.int64(),
    "x": pa.float64(),
    "y": pa.float64(),
    "z": pa.float64(),
}


def sniff(head: bytes, path: Path) -> bool:
    """WISDM raw lines (``subject,activity,timestamp,x,y,z;``)."""
    lines = head.splitlines()[:5]
    return bool(lines) and all(_LINE.match(ln) for ln in lines if ln.strip())


def accepts(path: Path) -> bool:
    """Only ``data_<subject>_<sensor>_<device>.txt`` files are WISDM recordings."""
    return bool(_NAME.match(path.name))


def companions(path: Path) -> list[Path]:
    """The gyroscope file that belongs to an accelerometer file (if it exists)."""
    m = _NAME.match(path.name)
    if not m or m.group(2).lower() != "accel":
        return []
    name = path.name.replace("_accel_", "_gyro_")
    for cand in (path.parent.parent / "gyro" / name, path.parent / name):
        if cand.exists():
            return [cand]
    return []


def output_name(path: Path) -> str:
    """``<subject>_<device>`` for the merged recording of an accelerometer file."""
    m = _NAME.match(path.name)
    return f"{m.group(1)}_{m.group(3)}" if m else path.name.split(".")[0]


def activity_names(path: Path, levels: int = 5) -> dict[str, str]:
    """Code -> name from the nearest ``activity_key.txt`` (lines ``walking = A``) above ``path``."""
    for parent in list(path.resolve().parents)[:levels]:
        key = parent / "activity_key.txt"
        if key.exists():
            out = {}
            for line in key.read_text().splitlines():
                if "=" in line:
                    name, code = (s.strip() for s in line.split("=", 1))
                    out[code] = name
            return out
    return {}


def _load(path: Path) -> pa.Table:
    read_head(path)
    src = io.BufferedReader(WhitespaceReader(open_binary(path), False, True), 1 << 20)
    try:
        t = pacsv.read_csv(
            src,
            read_options=pacsv.ReadOptions(column_names=_COLS),
            convert_options=pacsv.ConvertOptions(column_types=_TYPES),
        )
    except pa.ArrowInvalid as e:
        raise DataError(
            f"{path}: not WISDM lines subject,activity,timestamp,x,y,z; ({str(e).splitlines()[0]})"
        ) from None
    if t.column("t").null_count:  # an empty timestamp would otherwise become a float NaN, then garbage
        line = int(np.argmax(to_numpy(t.column("t").is_null()))) + 1
        raise DataError(f"{path}: line {line}: the timestamp is missing; fix or remove the line")
    t = t.take(from_numpy(np.argsort(to_numpy(t.column("t")), kind="stable"), pa.int64()))
    return t


def read(path: Path, cfg: ReadOptions | IngestConfig) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    """Read an accelerometer file (and its gyroscope partner) as one canonical table.

    Examples:
        >>> chunks, info = read(Path("raw/phone/accel/data_1600_accel_phone.txt"), IngestConfig())  # doctest: +SKIP
        >>> info["subject"], info["counters"]["gyro_unpaired_dropped"]  # doctest: +SKIP
        ('1600', 64)
    """
    opts = ReadOptions.from_config(cfg)
    m = _NAME.match(path.name)
    if m and m.group(2).lower() == "gyro":
        raise DataError(
            f"{path}: a WISDM gyroscope file needs its accelerometer file "
            f"({path.name.replace('_gyro_', '_accel_')}) among the inputs; add it"
        )
    counters: dict[str, Any] = {"merge_tolerance_s": opts.merge_tolerance_s}
    info: dict[str, Any] = {
        "reader": "wisdm",
        "device": opts.device or (m.group(3).lower() if m else "unknown"),
        "placement": opts.placement if opts.placement != "unknown" else "pocket",
        "subject": m.group(1) if m else None,
        "session": None,
        "time_reference": "device-uptime",
        "sample_rate_nominal_hz": 20.0,
        "timezone": None,
        "counters": counters,
    }
    return _iterate(path, opts, info), info


def _iterate(path: Path, opts: ReadOptions, info: dict[str, Any]) -> Iterator[pa.Table]:
    acc = _load(path)
    subjects = set(acc.column("subject").unique().to_pylist())
    if len(subjects) != 1:
        raise DataError(f"{path}: lines of several subjects {sorted(subjects)[:5]}; one file per subject expected")
    subject = str(subjects.pop())
    if info["subject"] is not None and info["subject"] != subject:
        raise DataError(f"{path}: lines are of subject {subject} but the file name says {info['subject']}")
    info["subject"] = subject
    counters = info["counters"]
    ta = to_numpy(acc.column("t"))
    xa = np.column_stack([to_numpy(acc.column(c)) for c in ("x", "y", "z")])
    gyr = None
    comp = companions(path)
    if comp:
        gy = _load(comp[0])
        tb = to_numpy(gy.column("t"))
        ia, ib = pair_nearest(ta, tb, int(round(opts.merge_tolerance_s * 1e9)))
        if len(ia) == 0:
            raise DataError(
                f"{path}: no accelerometer sample has a gyroscope partner in {comp[0].name} within "
                f"{opts.merge_tolerance_s} s; check the files belong together or raise --merge-tolerance"
            )
        counters["accel_unpaired_dropped"] = len(ta) - len(ia)
        counters["gyro_unpaired_dropped"] = len(tb) - len(ib)
        counters["gyro_file"] = str(comp[0])
        acc, ta, xa = acc.take(from_numpy(ia, pa.int64())), ta[ia], xa[ia]
        gyr = np.column_stack([to_numpy(gy.column(c))[ib] for c in ("x", "y", "z")])
    else:
        counters["gyro_file"] = None
        name = path.name.replace("_accel_", "_gyro_")
        if _NAME.match(path.name) and (path.parent.parent / "gyro").is_dir():  # other subjects have gyroscope files
            info.setdefault("warnings", []).append(
                f"{path}: no gyroscope file {name} in {path.parent.parent / 'gyro'}; this recording has "
                "accelerometer channels only"
            )
    names = activity_names(path)
    codes = acc.column("activity").to_pylist()
    label = strings([names.get(c, c) for c in codes])
    acc_unit = opts.acc_unit if opts.acc_unit != "auto" else "m/s2"
    yield canonical_chunk(path, ta, xa, gyr, label, acc_unit, "rad/s", 1, opts, counters)


register_reader(
    Reader("wisdm", read=read, sniff=sniff, accepts=accepts, companions=companions, output_name=output_name)
)
