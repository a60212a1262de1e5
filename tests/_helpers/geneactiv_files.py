"""Synthetic GENEActiv ``.bin`` text: the header and data pages, with a slow reference hex encoder."""

from __future__ import annotations

import numpy as np

GAIN = {"x": 25000, "y": 26000, "z": 24000}
OFFSET = {"x": 300, "y": -1100, "z": 50}


def bin_header(freq: str = "50 Hz", pages: int = 2) -> str:
    cal = "".join(f"{a} gain:{GAIN[a]}\r\n{a} offset:{OFFSET[a]}\r\n" for a in "xyz")
    return (
        "Device Identity\r\nDevice Unique Serial Code:012345\r\nDevice Type:GENEActiv\r\n\r\n"
        "Device Capabilities\r\nAccelerometer Range:-8 to 8\r\n\r\n"
        f"Configuration Info\r\nMeasurement Frequency:{freq}\r\nStart Time:2020-01-02 03:04:05:000\r\n"
        "Time Zone:GMT +01:00\r\n\r\nCalibration Data\r\n" + cal + "Volts:300\r\nLux:800\r\n\r\n"
        f"Memory Status\r\nNumber of Pages:{pages}\r\n\r\n"
    )


def hex_line(xyz: np.ndarray, light: np.ndarray) -> str:
    """Slow reference encoder: per sample 12-bit x, y, z, 10-bit light, button, reserved -> 12 hex digits."""
    out = []
    for (x, y, z), lx in zip(xyz.tolist(), light.tolist(), strict=True):
        bits = ((x & 0xFFF) << 36) | ((y & 0xFFF) << 24) | ((z & 0xFFF) << 12) | ((lx & 0x3FF) << 2)
        out.append(f"{bits:012X}")
    return "".join(out)


def bin_page(seq: int, time: str, xyz: np.ndarray, freq: str = "50.0") -> str:
    return (
        f"Recorded Data\r\nDevice Unique Serial Code:012345\r\nSequence Number:{seq}\r\nPage Time:{time}\r\n"
        f"Unassigned:\r\nTemperature:25.0\r\nBattery voltage:4.0\r\nDevice Status:Recording\r\n"
        f"Measurement Frequency:{freq}\r\n{hex_line(xyz, np.arange(300) % 1024)}\r\n"
    )
