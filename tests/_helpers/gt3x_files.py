"""Synthetic ActiGraph ``.gt3x`` files: log records, packed 12-bit samples, ``info.txt`` and the zip."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

T0 = 1_600_000_000  # record seconds of the first activity record
TICKS_1970 = 621_355_968_000_000_000


def ticks(unix_s: int) -> int:
    return unix_s * 10_000_000 + TICKS_1970


def log_record(typ: int, ts: int, payload: bytes, corrupt: bool = False) -> bytes:
    head = struct.pack("<BBIH", 0x1E, typ, ts, len(payload)) + payload
    x = 0
    for c in head:
        x ^= c
    return head + bytes([(~x & 0xFF) ^ (1 if corrupt else 0)])


def pack12(samples: np.ndarray) -> bytes:
    """Slow reference packer: 12-bit two's complement values, most significant nibble first."""
    nibbles: list[int] = []
    for v in samples.reshape(-1):
        u = int(v) & 0xFFF
        nibbles += [u >> 8, (u >> 4) & 0xF, u & 0xF]
    if len(nibbles) % 2:
        nibbles.append(0)
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def info_txt(rate: int = 30, scale: str = "256,0", last: int | None = None, serial: str = "TAS1E000000") -> str:
    lines = [
        f"Serial Number: {serial}",
        "Device Type: Link",
        "Firmware: 1.7.2",
        f"Sample Rate: {rate}",
        f"Start Date: {ticks(T0)}",
        f"Last Sample Time: {ticks(last or T0)}",
        "TimeZone: -05:00:00",
        f"Acceleration Scale: {scale}",
        "Acceleration Max: 8,0",
    ]
    return "\ufeff" + "\r\n".join(lines) + "\r\n"


def write_gt3x(path: Path, records: bytes, info: str, extra: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("info.txt", info.encode("utf-8"))
        zf.writestr("log.bin", records)
        for k, v in (extra or {}).items():
            zf.writestr(k, v)
