"""Generators of device-software CSV exports, following each export's published layout.

- ActiLife RAW CSV: the 10-line header and optional ``Timestamp`` / column-name line as documented for
  ActiLife 6 exports and read by MIMS-unit's ``import_actigraph_csv`` (``has_ts``, ``header``) and by
  arus' ``ActigraphSensorFileGenerator`` (mHealth-Group), and by ``read.myacc.csv`` in GGIR.
- GENEActiv CSV: the 100-line ``key,value`` header and ``timestamp,x,y,z,lux,button,temperature`` rows with
  ``yyyy-MM-dd HH:mm:ss:SSS`` times written by the GENEActiv PC software (GENEActiv instruction manual,
  "CSV file"; GGIR's ``read.myacc.csv`` documents the same layout).
- OMGUI CSV: Axivity OMGUI's export, no header, ``yyyy-mm-dd HH:MM:SS.fff,x,y,z[,gx,gy,gz]`` (OMGUI
  documentation, "Export raw CSV").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests._helpers.signals import make_accel

START_NS = int(np.datetime64("2021-05-12T10:00:00", "ns").astype(np.int64))


def _date(ns: int, order: str, sep: str = "/", pad: bool = False) -> str:
    d = np.datetime64(ns, "ns").astype("datetime64[D]").astype(object)
    y, m, dd = d.year, d.month, d.day
    fm = f"{m:02d}" if pad else str(m)
    fd = f"{dd:02d}" if pad else str(dd)
    return {"mdy": f"{fm}{sep}{fd}{sep}{y}", "dmy": f"{fd}{sep}{fm}{sep}{y}", "ymd": f"{y}{sep}{fm}{sep}{fd}"}[order]


def _clock(ns: int, ms_sep: str = ".") -> str:
    s = str(np.datetime64(ns, "ns").astype("datetime64[ms]")).split("T")[1]
    return s.replace(".", ms_sep)


def actilife_csv(
    path: Path,
    seconds: float = 20.0,
    hz: int = 30,
    *,
    timestamps: bool = False,
    names: bool = True,
    order: str = "mdy",
    start_ns: int = START_NS,
    serial: str = "MOS2E22180349",
    device: str = "GT3X+",
    header_rate: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Write an ActiLife RAW CSV; return (times ns, values in g) as written (3 decimals)."""
    fmt = {"mdy": "M/d/yyyy", "dmy": "d/M/yyyy", "ymd": "yyyy-MM-dd"}[order]
    sep = "-" if order == "ymd" else "/"
    x = np.round(make_accel(seconds, hz, seed=seed).astype(np.float64), 3)
    t = start_ns + np.round(np.arange(len(x)) * 1e9 / hz).astype(np.int64)
    t_ms = t // 1_000_000 * 1_000_000
    lines = [
        f"------------ Data File Created By ActiGraph {device} ActiLife v6.13.4 Firmware v1.9.2 date format {fmt} "
        f"at {header_rate or hz} Hz  Filter Normal -----------",
        f"Serial Number: {serial}",
        f"Start Time {_clock(start_ns)[:8]}",
        f"Start Date {_date(start_ns, order, sep)}",
        "Epoch Period (hh:mm:ss) 00:00:00",
        "Download Time 10:22:15",
        f"Download Date {_date(start_ns + 7 * 86_400 * 10**9, order, sep)}",
        "Current Memory Address: 0",
        "Current Battery Voltage: 4.15     Mode = 12",
        "--------------------------------------------------",
    ]
    if names:
        lines.append(("Timestamp," if timestamps else "") + "Accelerometer X,Accelerometer Y,Accelerometer Z")
    for i in range(len(x)):
        row = ",".join(f"{v:.3f}" for v in x[i])
        if timestamps:
            row = f"{_date(int(t_ms[i]), order, sep)} {_clock(int(t_ms[i]))}," + row
        lines.append(row)
    path.write_text("\n".join(lines) + "\n")
    return (t_ms if timestamps else t), x


def geneactiv_csv(
    path: Path,
    seconds: float = 20.0,
    hz: int = 100,
    *,
    serial: str = "034567",
    start_ns: int = START_NS,
    names: bool = False,
    header_rate: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Write a GENEActiv CSV export; return (times ns at ms resolution, values in g, 4 decimals)."""
    x = np.round(make_accel(seconds, hz, seed=seed).astype(np.float64), 4)
    t = start_ns + np.round(np.arange(len(x)) * 1e9 / hz).astype(np.int64)
    t_ms = t // 1_000_000 * 1_000_000
    start = f"{_date(start_ns, 'ymd', '-', pad=True)} {_clock(start_ns, ':')}"
    header = [
        "Device Type,GENEActiv",
        "Device Model,1.2",
        f"Device Unique Serial Code,{serial}",
        "Device Firmware Version,Ver06.17 15June2016",
        "Calibration Date,2016-06-20 12:34:56:000",
        "Application name & version,GENEActiv PC Software Version 3.2",
        "",
        "Measurement Frequency," + f"{header_rate or hz} Hz",
        "Measurement Period,168 Hours",
        f"Start Time,{start}",
        "Study Centre,wearfm tests",
        "Study Code,T1",
        "Investigator ID,",
        "Exercise Type,",
        "Device Location Code,left wrist",
        "Subject Code,P001",
        "Date of Birth,1980-01-01",
        "Sex,female",
        "Height,170",
        "Weight,65",
        "Handedness Code,right",
        "x gain,25548",
        "x offset,-4112",
        "y gain,25701",
        "y offset,-2003",
        "z gain,25461",
        "z offset,-5224",
        "Volts,300",
        "Lux,800",
        "Number of Pages,42",
    ]
    header += [""] * (100 - len(header))
    lines = list(header)
    if names:
        lines.append("timestamp,x,y,z,lux,button,temperature")
    for i in range(len(x)):
        stamp = f"{_date(int(t_ms[i]), 'ymd', '-', pad=True)} {_clock(int(t_ms[i]), ':')}"
        lines.append(f"{stamp},{x[i, 0]:.4f},{x[i, 1]:.4f},{x[i, 2]:.4f},12.5,0,24.8")
    path.write_text("\n".join(lines) + "\n")
    return t_ms, x


def omgui_csv(
    path: Path, seconds: float = 20.0, hz: int = 100, *, gyro: bool = False, iso_t: bool = False, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Write an OMGUI CSV export; return (times ns at ms resolution, values in g [and deg/s])."""
    x = np.round(make_accel(seconds, hz, seed=seed, gyro=gyro).astype(np.float64), 6)
    t = START_NS + np.round(np.arange(len(x)) * 1e9 / hz).astype(np.int64)
    t_ms = t // 1_000_000 * 1_000_000
    lines = []
    for i in range(len(x)):
        stamp = str(np.datetime64(int(t_ms[i]), "ns").astype("datetime64[ms]"))
        lines.append(
            ("" if iso_t else "")
            + (stamp if iso_t else stamp.replace("T", " "))
            + ","
            + ",".join(f"{v:.6f}" for v in x[i])
        )
    path.write_text("\n".join(lines) + "\n")
    return t_ms, x
