"""ActiGraph GT3X reader: current ``log.bin`` format and the older NHANES-era ``activity.bin`` format.

Written from the public specifications (actigraph/GT3X-File-Format, actigraph/NHANES-GT3X-File-Format, MIT).
A ``.gt3x`` is a zip, opened through :mod:`wearfm.io._zipsafe` (no traversal members, no zip bombs).

``log.bin`` is a sequence of records ``0x1E, type, uint32 seconds, uint16 size, payload, checksum``; records
are scanned in order and the samples of many ACTIVITY (0x00, 12-bit packed Y,X,Z), ACTIVITY2 (0x1A, int16
X,Y,Z) and ACTIVITY3 (0x1B, 12-bit packed X,Y,Z) records are decoded at once with numpy. Sample ``k`` of a
record stamped ``s`` is at ``s + k / rate``. Records with a bad checksum are skipped and counted.

Idle-sleep mode: the device stops logging while still (EVENT records 0x08 enter / 0x09 exit). With
``opts.idle_sleep == "fill"`` (the default, as ActiLife and pygt3x do) each missing second of a sleep period is
filled by repeating the last sample; a file that ends asleep is filled up to info.txt's Last Sample Time.
With ``"gap"`` the gap is left (the pipeline then splits the recording). Either way
``info['counters']['idle_sleep_samples']`` counts the samples concerned.

Times are the device clock (``time_reference='local'``); info.txt's TimeZone goes to ``timezone``.
"""

from __future__ import annotations

import json
import logging
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from wearfm.config import IngestConfig
from wearfm.errors import ConfigError, FormatError
from wearfm.io._devutil import NS, base_info, make_table, read_all_with
from wearfm.io._zipsafe import member_errors, open_zip, read_member
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader

__all__ = ["sniff", "read", "read_all", "parse_info_txt", "decode_12bit", "decode_ssp_float"]

log = logging.getLogger(__name__)

SEP = 0x1E
ACTIVITY, EVENT, PARAMETERS, ACTIVITY2, ACTIVITY3 = 0x00, 0x03, 0x15, 0x1A, 0x1B
_SLEEP_ENTER, _SLEEP_EXIT = 0x08, 0x09
READ_BYTES = 4 << 20  # log.bin read granularity
FILL_PIECE = 1 << 20  # samples per emitted table while filling a long idle-sleep gap
_TICKS_1970 = 621_355_968_000_000_000  # .NET ticks (100 ns since 0001-01-01) at 1970-01-01
_MAX_NS = 2**62  # latest time accepted (year 2116), leaving room for a recording's length in int64 ns
_MAX_RATE_HZ = 10_000.0  # ActiGraph devices log at 30-100 Hz; anything far above is a damaged info.txt
_MAX_SCALE = 1e6
_LATE_S = 2  # seconds an idle-sleep fill may reach past info.txt's Last Sample Time
_MAX_FILL_S = 31 * 86400  # longest idle-sleep gap filled when info.txt has no Last Sample Time
_DEVICE_NAMES = {
    "GT3XPlus": "GT3X+",
    "wGT3XPlus": "wGT3X+",
    "wGT3XBT": "wGT3X-BT",
    "Link": "GT9X Link",
    "ActiSleepPlus": "ActiSleep+",
    "wActiSleepPlus": "wActiSleep+",
    "wActiSleepBT": "wActiSleep-BT",
}


def sniff(head: bytes, path: Path) -> bool:
    """True for a zip holding ``log.bin``/``info.txt`` or ``activity.bin`` (checked in the central directory)."""
    if head[:4] != b"PK\x03\x04":
        return False
    if any(n in head for n in (b"log.bin", b"info.txt", b"activity.bin")):
        return True
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names & {"log.bin", "activity.bin"})


def parse_info_txt(text: str) -> dict[str, str]:
    """``Key: value`` lines of info.txt (BOM and blank lines tolerated)."""
    out: dict[str, str] = {}
    for line in text.lstrip("\ufeff").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _num(v: str | None) -> float | None:
    if v is None or not v.strip():
        return None
    try:
        return float(v.replace(",", "."))  # real files use comma decimals
    except ValueError:
        return None


def _ticks_to_unix_ns(v: str | None) -> int | None:
    t = _num(v)
    if not t or not np.isfinite(t) or t <= _TICKS_1970:
        return None
    try:
        ns = (int(v.strip()) - _TICKS_1970) * 100  # type: ignore[union-attr]
    except ValueError:
        return None
    return ns if ns < _MAX_NS else None  # past 2262 does not fit a timestamp[ns]: a damaged value


def _positive(meta: dict[str, str], key: str, limit: float, path: Path) -> float | None:
    """info.txt value ``key`` as a finite number in (0, limit]; None when absent; FormatError when damaged."""
    v = _num(meta.get(key))
    if v is None or v == 0:  # absent, or 0: the default applies, as before
        return None
    if not (np.isfinite(v) and 0 < v <= limit):
        raise FormatError(f"{path}: info.txt has an invalid {key!r} ({meta.get(key)!r}); the file is damaged")
    return v


def _timezone(v: str | None) -> str | None:
    if not v:
        return None
    sign = "-" if v.startswith("-") else "+"
    parts = v.lstrip("+-").split(":")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return v
    return f"{sign}{int(parts[0]):02d}:{int(parts[1]):02d}"


def decode_ssp_float(value: int) -> float:
    """PARAMETERS float: 24-bit two's-complement fraction (x 2^-23) times 2^(8-bit signed exponent)."""
    exp = (value >> 24) & 0xFF
    exp = exp - 256 if exp & 0x80 else exp
    frac = value & 0xFFFFFF
    frac = frac - (1 << 24) if frac & 0x800000 else frac
    return float(frac) / 8388608.0 * 2.0**exp


def decode_12bit(payload: np.ndarray, n: int) -> np.ndarray:
    """(rows, n, 3) int16 from rows of big-endian bit-packed 12-bit two's complement triples (36 bits each)."""
    nib = np.empty((payload.shape[0], payload.shape[1] * 2), dtype=np.int16)
    nib[:, 0::2] = payload >> 4
    nib[:, 1::2] = payload & 0x0F
    v = nib[:, : 9 * n].reshape(payload.shape[0], n, 3, 3)
    out = (v[..., 0] << 8) | (v[..., 1] << 4) | v[..., 2]
    out = np.where(out > 2047, out - 4096, out)
    return out.astype(np.int16)


def _scan(buf: bytes, start: int) -> tuple[list[tuple[int, int, int, int]], int, int]:
    """Records ``(type, seconds, payload_offset, size)`` in ``buf`` from ``start``; next offset; junk bytes."""
    recs: list[tuple[int, int, int, int]] = []
    i, n, junk = start, len(buf), 0
    unpack = struct.unpack_from
    while i + 8 <= n:
        if buf[i] != SEP:
            junk += buf[i] != 0  # zero padding between records is legal
            i += 1
            continue
        typ, ts, size = unpack("<BIH", buf, i + 1)
        if i + 9 + size > n:
            break
        recs.append((typ, ts, i + 8, size))
        i += 9 + size
    return recs, i, junk


class _LogBin:
    """Decoder of log.bin: carries the last sample, sleep state and counters across read chunks."""

    def __init__(self, path: Path, rate: float, scale: float, fill: bool, last_sample_ns: int | None, c: dict) -> None:
        self.path, self.rate, self.scale, self.fill, self.c = path, rate, scale, fill, c
        self.last_sample_ns = last_sample_ns
        self.last_ts: int | None = None
        self.last_xyz = np.zeros(3, dtype=np.float32)
        self.asleep = False  # an enter-sleep event since the last activity record
        self.swap_xy = False

    def _fill(self, first_sec: int, n_sec: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Idle-sleep fill: ``n_sec`` seconds from ``first_sec`` repeating the last sample (or count them)."""
        # a gap that ends after info.txt's Last Sample Time (or, without one, lasts over a month) ends at a
        # damaged record (its one-byte checksum passed by chance): it is left as a gap, never filled
        if (self.last_sample_ns and first_sec + n_sec > self.last_sample_ns // NS + _LATE_S) or (
            not self.last_sample_ns and n_sec > _MAX_FILL_S
        ):
            self.c["unfilled_sleep_seconds"] = self.c.get("unfilled_sleep_seconds", 0) + n_sec
            return
        n = int(round(n_sec * self.rate))
        self.c["idle_sleep_samples"] += n
        if not self.fill:
            return
        for s in range(0, n, FILL_PIECE):
            k = np.arange(s, min(n, s + FILL_PIECE), dtype=np.int64)
            t = first_sec * NS + (k * NS / self.rate).astype(np.int64)
            yield t, np.broadcast_to(self.last_xyz, (len(k), 3))

    def _batched(self, pieces: Iterator[tuple[np.ndarray, np.ndarray]]) -> Iterator[pa.Table]:
        """Concatenate consecutive pieces into tables of about ``FILL_PIECE`` rows (bounded memory)."""
        buf_t: list[np.ndarray] = []
        buf_x: list[np.ndarray] = []
        rows = 0
        for t, x in pieces:
            buf_t.append(t)
            buf_x.append(x)
            rows += len(t)
            if rows >= FILL_PIECE:
                yield make_table(np.concatenate(buf_t), np.concatenate(buf_x))
                buf_t, buf_x, rows = [], [], 0
        if rows:
            yield make_table(np.concatenate(buf_t), np.concatenate(buf_x))

    def chunk(self, buf: bytes, recs: list[tuple[int, int, int, int]]) -> Iterator[pa.Table]:
        """Decode one run of scanned records into tables (samples and idle-sleep fills, in order)."""
        yield from self._batched(self._pieces(buf, recs))

    def _pieces(self, buf: bytes, recs: list[tuple[int, int, int, int]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Samples of the records as ``(time_ns, xyz)`` pieces, with idle-sleep fills between them."""
        if not recs:
            return
        arr = np.asarray(recs, dtype=np.int64)
        typ, ts, off, size = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
        data = np.frombuffer(buf, dtype=np.uint8)
        is_act = np.isin(typ, (ACTIVITY, ACTIVITY2, ACTIVITY3))
        usb = is_act & (size == 1)
        self.c["usb_records"] += int(usb.sum())
        is_act &= size > 1
        # checksum: XOR over header, payload and checksum byte is 0xFF for a good record
        good = np.ones(len(arr), dtype=bool)
        for sz in np.unique(size[is_act]):
            rows = np.flatnonzero(is_act & (size == sz))
            span = data[(off[rows] - 8)[:, None] + np.arange(sz + 9)[None, :]]
            good[rows] = np.bitwise_xor.reduce(span, axis=1) == 0xFF
        bad = is_act & ~good
        # per activity record: samples, decoded by record kind and size
        n_samp = np.where(typ == ACTIVITY2, size // 6, (size * 2) // 9)
        self.c["checksum_failures"] += int(bad.sum())
        if bad.any():
            self.c["bad_checksum_dropped"] = self.c.get("bad_checksum_dropped", 0) + int(n_samp[bad].sum())
        is_act &= good
        for r in np.flatnonzero(typ == PARAMETERS):
            self._parameters(buf[off[r] : off[r] + size[r]])
        rows_all = np.flatnonzero(is_act)
        enter_before = np.cumsum((typ == EVENT) & (size >= 1) & (data[np.minimum(off, len(data) - 1)] == _SLEEP_ENTER))
        if len(rows_all) == 0:
            if enter_before[-1]:
                self.asleep = True
            return
        counts = n_samp[rows_all]
        xyz = np.zeros((len(rows_all), int(counts.max()), 3), dtype=np.float32)
        for kind in (ACTIVITY, ACTIVITY2, ACTIVITY3):
            for sz in np.unique(size[rows_all][typ[rows_all] == kind]):
                sel = np.flatnonzero((typ[rows_all] == kind) & (size[rows_all] == sz))
                rows = rows_all[sel]
                pay = data[off[rows][:, None] + np.arange(sz)[None, :]]
                if kind == ACTIVITY2:
                    v = pay.view("<i2").reshape(len(rows), sz // 6, 3)[:, :, :]
                else:
                    v = decode_12bit(pay, int((sz * 2) // 9))
                    if kind == ACTIVITY:  # stored Y, X, Z
                        v = v[:, :, [1, 0, 2]]
                xyz[sel, : v.shape[1]] = v / np.float32(self.scale)
        if self.swap_xy:  # wGT3X-BT firmware 1.6.0 erratum: X' = Y, Y' = -X
            xyz = np.stack([xyz[..., 1], -xyz[..., 0], xyz[..., 2]], axis=-1)
        secs = ts[rows_all]
        # duplicate or backwards seconds are dropped (pygt3x keeps the first of duplicates)
        prev = np.r_[
            self.last_ts if self.last_ts is not None else np.iinfo(np.int64).min, np.maximum.accumulate(secs)[:-1]
        ]
        keep = secs > prev
        self.c["duplicate_seconds"] += int((~keep).sum())
        if not keep.all():
            self.c["duplicate_seconds_dropped"] = self.c.get("duplicate_seconds_dropped", 0) + int(counts[~keep].sum())
        self.c["irregular_seconds"] += int((counts[keep] != int(round(self.rate))).sum())
        rows_k, secs, counts, xyz = rows_all[keep], secs[keep], counts[keep], xyz[keep]
        if len(rows_k) == 0:
            return
        # asleep across the gap before each record: an enter event after the previous activity record
        enters = enter_before[rows_k] - np.r_[0, enter_before[rows_k[:-1]]]
        prev_secs = np.r_[self.last_ts if self.last_ts is not None else secs[0] - 1, secs[:-1]]
        sleep_gap = ((enters > 0) | np.r_[self.asleep, np.zeros(len(secs) - 1, dtype=bool)]) & (secs - prev_secs > 1)
        kk = np.arange(xyz.shape[1])
        valid = kk[None, :] < counts[:, None]
        t = secs[:, None] * NS + (kk * NS / self.rate).astype(np.int64)[None, :]
        starts = np.r_[0, np.cumsum(counts)]
        flat_t, flat_xyz = t[valid], xyz[valid]
        lo = 0
        for r in np.flatnonzero(sleep_gap):
            if starts[r] > lo:
                yield flat_t[lo : starts[r]], flat_xyz[lo : starts[r]]
            if starts[r] > 0:
                self.last_xyz = flat_xyz[starts[r] - 1].copy()
            yield from self._fill(int(prev_secs[r]) + 1, int(secs[r] - prev_secs[r] - 1))
            lo = starts[r]
        if len(flat_t) > lo:
            yield flat_t[lo:], flat_xyz[lo:]
        self.last_xyz = flat_xyz[-1].copy()
        self.last_ts = int(secs[-1])
        self.asleep = bool(enter_before[-1] - enter_before[rows_k[-1]] > 0)

    def _parameters(self, p: bytes) -> None:
        for k in range(0, len(p) - 7, 8):
            space, ident, value = struct.unpack_from("<HHI", p, k)
            if (space, ident) == (0, 55) and value:
                scale = round(decode_ssp_float(value), 3)
                if not 0 < scale <= _MAX_SCALE:  # a damaged record; the scale in force is kept
                    self.c["bad_parameters"] = self.c.get("bad_parameters", 0) + 1
                    continue
                self.scale = scale
                self.c["accel_scale"] = self.scale
            elif (space, ident) == (1, 2):
                self.c["idle_sleep_mode_enabled"] = bool(value & 0x4)

    def finish(self) -> Iterator[pa.Table]:
        """A file that ends asleep is filled up to Last Sample Time."""
        if self.asleep and self.last_ts is not None and self.last_sample_ns:
            end = self.last_sample_ns // NS
            if end > self.last_ts + 1:
                yield from self._batched(self._fill(self.last_ts + 1, end - self.last_ts - 1))


def _read_log(zf: zipfile.ZipFile, path: Path, dec: _LogBin) -> Iterator[pa.Table]:
    with member_errors(path, "log.bin"):
        f = zf.open("log.bin")
    with f:
        carry = b""
        while True:
            with member_errors(path, "log.bin"):
                more = f.read(READ_BYTES)
            buf = carry + more
            recs, nxt, junk = _scan(buf, 0)
            dec.c["junk_bytes"] += junk
            yield from dec.chunk(buf, recs)
            carry = buf[nxt:]
            if not more:
                break
        if carry.strip(b"\x00"):
            dec.c["truncated_bytes"] = len(carry)
            log.warning("%s: log.bin ends with an incomplete record (%d bytes), ignored", path, len(carry))
    yield from dec.finish()


def _read_activity_bin(zf: zipfile.ZipFile, path: Path, rate: float, scale: float, start_ns: int) -> Iterator[pa.Table]:
    """Old format: one continuous 12-bit Y,X,Z stream (9 bytes = 2 samples) from Start Date at ``rate``."""
    step = 9 * (READ_BYTES // 9)
    index = 0
    with member_errors(path, "activity.bin"):
        f = zf.open("activity.bin")
    with f:
        carry = b""
        while True:
            with member_errors(path, "activity.bin"):
                more = f.read(step)
            buf = carry + more
            n = (len(buf) * 2) // 9 if not more else (len(buf) // 9) * 2
            if n:
                used = (n * 9 + 1) // 2
                row = np.frombuffer(buf[:used], dtype=np.uint8)[None, :]
                v = decode_12bit(row, n)[0][:, [1, 0, 2]] / np.float32(scale)
                k = np.arange(index, index + n, dtype=np.int64)
                yield make_table(start_ns + (k * NS / rate).astype(np.int64), v)
                index += n
                carry = buf[used:] if more else b""
            else:
                carry = buf
            if not more:
                break


def read(path: Path, cfg: ReadOptions | IngestConfig) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    """Stream a ``.gt3x`` (or ``.gt3x.gz``) file as canonical tables plus static ``info``.

    Args:
        path: The file.
        cfg: reading options; ``idle_sleep`` is ``"fill"`` (default) or ``"gap"``.

    Returns:
        ``(chunks, info)``; ``info['counters']`` (checksum_failures, idle_sleep_samples, ...) is complete once the
        iterator is exhausted.

    Raises:
        FormatError: not a zip, unsafe zip, no log.bin/activity.bin, missing sample rate.

    Examples:
        >>> chunks, info = read(Path("subject.gt3x"), IngestConfig(idle_sleep="gap"))  # doctest: +SKIP
        >>> info["timezone"]  # doctest: +SKIP
        '-05:00'
    """
    opts = ReadOptions.from_config(cfg)
    path = Path(path)
    if opts.idle_sleep not in ("fill", "gap"):
        raise ConfigError(f"idle_sleep={opts.idle_sleep!r}; choose 'fill' (repeat the last sample) or 'gap'")
    zf, tmp = open_zip(path)
    try:
        names = set(zf.namelist())
        if "info.txt" not in names or not names & {"log.bin", "activity.bin"}:
            raise FormatError(f"{path}: zip without info.txt and log.bin/activity.bin; not an ActiGraph .gt3x file")
        meta = parse_info_txt(read_member(zf, "info.txt", path).decode("utf-8", "replace"))
        rate = _positive(meta, "Sample Rate", _MAX_RATE_HZ, path)
        if not rate:
            raise FormatError(f"{path}: info.txt has no valid 'Sample Rate'; the file is incomplete")
        serial = meta.get("Serial Number") or None
        old = "log.bin" not in names
        prefix = (serial or "")[:3].upper()
        default_scale, default_range = (341.0, 6.0) if prefix in ("NEO", "CLE") else (256.0, 8.0)
        scale = default_scale if old else (_positive(meta, "Acceleration Scale", _MAX_SCALE, path) or default_scale)
        rng = _positive(meta, "Acceleration Max", _MAX_SCALE, path) or default_range
        calibration = None
        if "calibration.json" in names:
            try:
                calibration = json.loads(read_member(zf, "calibration.json", path))
            except ValueError:
                calibration = None
            if not isinstance(calibration, dict):  # damaged or foreign: ignored, as a missing one is
                calibration = None
    except BaseException:
        zf.close()
        if tmp is not None:
            tmp.close()
        raise
    dtype = meta.get("Device Type", "")
    info = base_info(
        "gt3x",
        device=_DEVICE_NAMES.get(dtype, dtype or "ActiGraph"),
        device_serial=serial,
        device_range_g=rng,
        sample_rate_nominal_hz=rate,
        time_reference="local",
        timezone=_timezone(meta.get("TimeZone")),
    )
    counters: dict[str, Any] = {
        "format": "activity.bin" if old else "log.bin",
        "checksum_failures": 0,
        "idle_sleep_samples": 0,
        "idle_sleep": opts.idle_sleep,
        "usb_records": 0,
        "duplicate_seconds": 0,
        "irregular_seconds": 0,
        "junk_bytes": 0,
        "truncated_bytes": 0,
        "accel_scale": scale,
        "firmware": meta.get("Firmware"),
    }
    if calibration is not None and not calibration.get("isCalibrated", True):
        counters["calibration"] = "device reports uncalibrated; scale only"
        log.warning("%s: calibration.json says the device is not calibrated; applying the scale only", path)
    info["counters"] = counters

    def chunks() -> Iterator[pa.Table]:
        emitted = 0
        try:
            if old:
                start_ns = _ticks_to_unix_ns(meta.get("Start Date"))
                if start_ns is None:
                    raise FormatError(f"{path}: info.txt has no valid 'Start Date'; cannot time activity.bin")
                for table in _read_activity_bin(zf, path, rate, scale, start_ns):
                    emitted += table.num_rows
                    yield table
            else:
                dec = _LogBin(
                    path,
                    rate,
                    scale,
                    opts.idle_sleep == "fill",
                    _ticks_to_unix_ns(meta.get("Last Sample Time")),
                    counters,
                )
                dec.swap_xy = dtype == "wGT3XBT" and (meta.get("Firmware") or "").startswith("1.6.0")
                for table in _read_log(zf, path, dec):
                    emitted += table.num_rows
                    yield table
        finally:
            zf.close()
            if tmp is not None:
                tmp.close()
        if counters["checksum_failures"]:
            log.warning("%s: skipped %d record(s) with a bad checksum", path, counters["checksum_failures"])
        if emitted == 0:
            raise FormatError(f"{path}: no activity samples in this .gt3x file; was the device ever recording?")

    return chunks(), info


def read_all(path: str | Path, **opts: Any) -> tuple[pa.Table, dict[str, Any]]:
    """Read a whole .gt3x file into one table (tests, small files); ``opts`` are ``IngestConfig`` fields."""
    return read_all_with(read, path, opts)


register_reader(Reader("gt3x", read=read, sniff=sniff, extensions=(".gt3x",)))
