"""Slow references for CWA sample times: a file's block headers, and the skdh and openmovement time rules."""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

import numpy as np


def cwa_blocks(path: Path) -> list[dict]:
    """Slow loop over a CWA file's valid data blocks: header fields needed for the time rules."""
    data = path.read_bytes()
    out = []
    for k, o in enumerate(range(1024, len(data) - 511, 512)):
        b = data[o : o + 512]
        if b[:2] != b"AX" or sum(struct.unpack("<256H", b)) & 0xFFFF:
            continue
        frac, ts, rate, tso, cnt = (
            struct.unpack_from("<H", b, 4)[0],
            *struct.unpack_from("<I", b, 14),
            b[24],
            *struct.unpack_from("<hH", b, 26),
        )
        secs = (
            datetime(2000 + (ts >> 26), (ts >> 22) & 15, (ts >> 17) & 31, (ts >> 12) & 31, (ts >> 6) & 63, ts & 63)
            - datetime(1970, 1, 1)
        ).total_seconds()
        out.append(dict(sector=k, frac=frac, secs=secs, freq=3200 / (1 << (15 - (rate & 15))), tso=tso, count=cnt))
    return out


def skdh_times(blocks: list[dict]) -> np.ndarray:
    """skdh's rule: whole-second timestamp minus offset/freq; blocks chained when within 1 s of the last."""
    t_last, out = -1000.0, []
    for b in blocks:
        t0 = b["secs"] - b["tso"] / b["freq"]
        t1 = t0 + b["count"] / b["freq"]
        if t_last > 0 and t0 - t_last < 1:
            t0 = t_last
        t_last = t1
        out.append(t0 + np.arange(b["count"]) * (t1 - t0) / b["count"])
    return np.concatenate(out)


def openmovement_times(blocks: list[dict]) -> np.ndarray:
    """openmovement's rule: fractional timestamp anchors sample (sector*count + offset); interpolate linearly."""
    anchor_i, anchor_t, idx = [], [], []
    for b in blocks:
        frac = ((b["frac"] & 0x7FFF) << 1) if b["frac"] & 0x8000 else 0
        offset = b["tso"] + ((frac * int(b["freq"])) >> 16)
        anchor_i.append(b["sector"] * b["count"] + offset)
        anchor_t.append(b["secs"] + frac / 65536)
        idx.append(b["sector"] * b["count"] + np.arange(b["count"]))
    ai, at, j = np.array(anchor_i, float), np.array(anchor_t), np.concatenate(idx).astype(float)
    t = np.interp(j, ai, at)
    lo, hi = j < ai[0], j > ai[-1]
    t[lo] = at[0] + (j[lo] - ai[0]) * (at[1] - at[0]) / (ai[1] - ai[0])
    t[hi] = at[-1] + (j[hi] - ai[-1]) * (at[-1] - at[-2]) / (ai[-1] - ai[-2])
    return t
