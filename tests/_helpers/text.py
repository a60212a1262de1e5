"""Helpers that write small synthetic text recordings for the ingest tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests._helpers.signals import make_accel

T0_MS = 1_700_000_000_000  # a Unix time in ms (2023-11-14)


def write_csv(
    path: Path,
    seconds: float = 10.0,
    hz: float = 50.0,
    *,
    unit: str = "g",
    time: str = "ms",
    gyro: bool = False,
    labels: bool = False,
    header: bool = True,
    delimiter: str = ",",
    activity: str = "walk",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Write a recording; return (time_ns, values in g [and deg/s]) as written (before unit scaling)."""
    x = make_accel(seconds, hz, activity=activity, seed=seed, gyro=gyro).astype(np.float64)
    n = len(x)
    t_ns = T0_MS * 1_000_000 + np.round(np.arange(n) * 1e9 / hz).astype(np.int64)
    vals = x.copy()
    if unit == "m/s2":
        vals[:, :3] *= 9.80665
    if gyro:
        vals[:, 3:] = np.deg2rad(vals[:, 3:])
    cols = ["ax", "ay", "az"] + (["gx", "gy", "gz"] if gyro else [])
    if time == "ms":
        tcol = [str(int(v // 1_000_000)) for v in t_ns]
    elif time == "s":
        tcol = [f"{v / 1e9:.3f}" for v in t_ns]
    elif time == "rel_s":
        tcol = [f"{(v - t_ns[0]) / 1e9:.4f}" for v in t_ns]
    elif time == "iso":
        tcol = [np.datetime_as_string(np.datetime64(int(v), "ns"), unit="ms") for v in t_ns]
    elif time == "none":
        tcol = None
    else:
        raise ValueError(time)
    names = ([] if tcol is None else ["time"]) + cols + (["label"] if labels else [])
    sep = " " if delimiter == "whitespace" else delimiter
    lines = [sep.join(names)] if header else []
    for i in range(n):
        row = ([] if tcol is None else [tcol[i]]) + [f"{v:.6f}" for v in vals[i]]
        if labels:
            row.append("" if i < n // 4 else ("walk" if i < n // 2 else "sit"))
        lines.append(sep.join(row))
    path.write_text("\n".join(lines) + "\n")
    return t_ns, x


def write_wisdm(
    folder: Path, subject: str = "1600", seconds: float = 30.0, gyro_offset_ms: float = 3.0, extra_gyro: int = 0
) -> tuple[Path, Path]:
    """WISDM-like accel/gyro pair for two activities separated by a gap, 20 Hz, m/s^2 and rad/s."""
    (folder / "accel").mkdir(parents=True, exist_ok=True)
    (folder / "gyro").mkdir(parents=True, exist_ok=True)
    x = make_accel(seconds, 20, gyro=True)
    lines_a, lines_g = [], []
    t0 = 252207666810782
    n = len(x)
    for i in range(n):
        act = "A" if i < n // 2 else "D"
        t = t0 + i * 50_000_000 + (0 if i < n // 2 else 60_000_000_000)  # a 60 s gap between activities
        a = x[i, :3] * 9.80665
        g = np.deg2rad(x[i, 3:])
        lines_a.append(f"{subject},{act},{t},{a[0]:.6f},{a[1]:.6f},{a[2]:.6f};")
        lines_g.append(f"{subject},{act},{t + int(gyro_offset_ms * 1e6)},{g[0]:.6f},{g[1]:.6f},{g[2]:.6f};")
    for k in range(extra_gyro):  # gyroscope samples far from any accelerometer sample
        lines_g.append(f"{subject},D,{t0 + 10**13 + k * 50_000_000},0.1,0.1,0.1;")
    pa_ = folder / "accel" / f"data_{subject}_accel_phone.txt"
    pg = folder / "gyro" / f"data_{subject}_gyro_phone.txt"
    pa_.write_text("\n".join(lines_a) + "\n")
    pg.write_text("\n".join(lines_g) + "\n")
    return pa_, pg
