"""Axivity CWA reader (AX3 accelerometer, AX6 accelerometer + gyroscope), streamed block by block.

Written from the public specification (openmovement ``Docs/ax3/cwa.h``, ``ax3-technical.md``). A file is a
1024-byte ``MD`` header followed by 512-byte ``AX`` data blocks; each block carries its own timestamp,
rate code, scale and a 16-bit word checksum. Blocks are decoded many at a time with numpy.

Sample times follow the openmovement reference reader: each block's timestamp (whole seconds plus the 15-bit
fraction, with the firmware's backward-compatible shift of ``timestampOffset`` undone) is the time of sample
``timestampOffset`` of that block; sample times are interpolated linearly between consecutive blocks (so the
local, measured rate is used, not the nominal one) and extrapolated at the ends and across discontinuities.
scikit-digital-health differs: it ignores the fraction and chains blocks at the nominal rate, so its times
are within about 2 sample periods of ours (see ``tests/io/test_devices_realdata.py``).

Blocks with a bad checksum, header, or a format different from the file's are skipped and counted
(``info['counters']['corrupt_blocks']``, the samples they held in ``corrupt_blocks_dropped``), never fatal;
``UB``/``SI``/erased blocks are skipped silently.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import numpy as np
import pyarrow as pa

from wearfm.config import IngestConfig
from wearfm.errors import FormatError
from wearfm.io._devutil import (
    NS,
    base_info,
    make_table_cols,
    new_array,
    open_stream,
    read_all_with,
    read_fully,
    read_into,
)
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader

__all__ = ["sniff", "read", "read_all", "parse_header", "BLOCK_DTYPE"]

log = logging.getLogger(__name__)

BLOCK = 512
HEADER = 1024
CHUNK_BLOCKS = 2048  # ~1 MB of file, ~245k samples per emitted chunk
_AX = 0x5841  # "AX" little-endian
_MD = 0x444D  # "MD"
_HOLD = 3  # blocks held back per chunk: sample times may need anchors of neighbouring blocks
_RATE_TOLERANCE = 0.1  # blocks whose measured rate is off nominal by more are a discontinuity
_ROWS = 256  # blocks decoded at a time inside a chunk (cache-sized scratch)
_KEY_BIAS = 1 << 39  # sample indices are offset by this to sort (run, index) keys as one int64

#: One 512-byte data block, field by field (cwa.h ``OM_READER_DATA_PACKET``).
BLOCK_DTYPE = np.dtype(
    [
        ("header", "<u2"),
        ("length", "<u2"),
        ("fractional", "<u2"),
        ("session", "<u4"),
        ("sequence", "<u4"),
        ("timestamp", "<u4"),
        ("light", "<u2"),
        ("temperature", "<u2"),
        ("events", "u1"),
        ("battery", "u1"),
        ("rate", "u1"),
        ("axes_bps", "u1"),
        ("ts_offset", "<i2"),
        ("count", "<u2"),
        ("data", "V480"),
        ("checksum", "<u2"),
    ]
)
assert BLOCK_DTYPE.itemsize == BLOCK


def sniff(head: bytes, path: Path) -> bool:
    """True when ``head`` starts with a CWA ``MD`` header (and, if present, an ``AX`` block at 1024)."""
    if len(head) < 64 or head[:2] != b"MD":
        return False
    length = int.from_bytes(head[2:4], "little")
    if length not in (1020, 508, 0xFFFF) and not 508 <= length <= 4092:
        return False
    if len(head) >= HEADER + 2 and head[HEADER : HEADER + 2] not in (b"AX", b"UB", b"SI", b"\xff\xff", b"\x00\x00"):
        return False
    return True


def _frequency(rate: np.ndarray | int) -> np.ndarray:
    out: np.ndarray = 3200.0 / np.left_shift(1, 15 - (np.asarray(rate, dtype=np.int64) & 0x0F))
    return out


def parse_header(hdr: bytes, path: Path) -> dict[str, Any]:
    """Fields of the 1024-byte ``MD`` header: device, serial, session, rate, range, axes, annotations."""
    if len(hdr) < 64 or hdr[:2] != b"MD":
        what = "empty" if not hdr else "not an Axivity CWA file (no 'MD' header)"
        raise FormatError(f"{path}: {what}; expected a .cwa file from an AX3/AX6 device")
    hw = hdr[4]
    device_id = int.from_bytes(hdr[5:7], "little")
    upper = int.from_bytes(hdr[11:13], "little")
    if upper != 0xFFFF:
        device_id |= upper << 16
    sensor_config = hdr[35] if len(hdr) > 35 else 0
    rate = hdr[36] if len(hdr) > 36 else 0
    axes = 3
    gyro_range = None
    if sensor_config not in (0x00, 0xFF):
        axes = 9 if (sensor_config >> 4) & 0x0F else 6
        gyro_range = 8000 / 2 ** (sensor_config & 0x0F)
    device = {0x00: "AX3", 0xFF: "AX3", 0x17: "AX3", 0x64: "AX6"}.get(hw, f"Axivity-0x{hw:02x}")
    if device.startswith("Axivity") and axes >= 6:
        device = "AX6"
    annotations: dict[str, str] = {}
    raw = hdr[64:512].rstrip(b" \x00\xff").decode("ascii", "replace")
    for pair in raw.split("&"):
        if "=" in pair:
            k, v = pair.split("=", 1)
            annotations[unquote_plus(k)] = unquote_plus(v)
    return {
        "device": device,
        "hardware_type": hw,
        "device_id": device_id,
        "session_id": int.from_bytes(hdr[7:11], "little"),
        "rate_code": rate,
        "frequency": float(_frequency(rate)),
        "range_g": float(16 >> (rate >> 6)),
        "axes": axes,
        "gyro_range_dps": gyro_range,
        "annotations": annotations,
        "data_offset": ((int.from_bytes(hdr[2:4], "little") + 4 + BLOCK - 1) // BLOCK) * BLOCK or HEADER,
    }


def _epoch_seconds(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Packed ``YYYYYYMM MMDDDDDh hhhhmmmm mmssssss`` (local time) -> seconds since 1970, validity mask."""
    ts = ts.astype(np.int64)
    y = ((ts >> 26) & 0x3F) + 2000
    m = (ts >> 22) & 0x0F
    d = (ts >> 17) & 0x1F
    hh, mm, ss = (ts >> 12) & 0x1F, (ts >> 6) & 0x3F, ts & 0x3F
    ok = (m >= 1) & (m <= 12) & (d >= 1) & (hh < 24) & (mm < 60) & (ss < 60) & (ts != 0)
    # days from civil (proleptic Gregorian), vectorised
    yy = y - (m <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + hh * 3600 + mm * 60 + ss, ok


def _decode(
    payload: np.ndarray, packed: bool, axes: int, spp: int, out: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """(axes, n, spp) raw integer samples of ``n`` 480-byte payloads (uint8 rows), and a shift still to apply.

    A packed sample is ``field << exponent``; when every exponent of the payloads is the same ``e`` (the
    usual case) the fields are returned with ``e`` (``value = field * 2**e``) for the caller to fold into
    its scale, otherwise the shifted values with 0. ``out``: int32 of shape (axes, n, spp), or (4, n, spp)
    for packed data (the last plane is scratch).
    """
    n = len(payload)
    payload = np.ascontiguousarray(payload)
    if out is None:
        out = np.empty((4 if packed else axes, n, spp), dtype=np.int32)
    if packed:
        v = payload.view("<i4").reshape(n, 120)
        u = v.view("<u4")
        e_all = int(np.bitwise_and.reduce(u, axis=None)) >> 30
        common = e_all == int(np.bitwise_or.reduce(u, axis=None)) >> 30
        e = out[3]
        if not common:
            np.right_shift(u, 30, out=e.view("<u4"))  # per-sample 2-bit exponent
        for i, up in enumerate((22, 12, 2)):  # move each 10-bit field to the top, then sign-extend down
            np.left_shift(v, up, out=out[i])
            out[i] >>= 22
            if not common:
                out[i] <<= e
        return out[:3], e_all if common else 0
    raw = payload.view("<i2")[:, : spp * axes].reshape(n, spp, axes)
    np.copyto(out, raw.transpose(2, 0, 1))
    return out, 0


class _Stream:
    """Decoding state carried across chunks: the held-back last blocks, the anchors before them, scratch."""

    def __init__(self, path: Path, hdr: dict[str, Any], counters: dict[str, Any]) -> None:
        self.path, self.hdr, self.c = path, hdr, counters
        self.axes_bps = -1  # numAxesBPS of the first valid block; later blocks must match
        self.freq = hdr["frequency"]
        self.prev_anchors: list[tuple[int, int, int]] = []  # (A, T_ns, session) of blocks before the held ones
        self._scratch: dict[str, np.ndarray] = {}

    def samples_per_block(self) -> int:
        """Samples in every data block of this file (120 packed; 480 bytes over the axes' sample size unpacked)."""
        if (self.axes_bps & 0x0F) == 0:
            return 120
        return 480 // (2 * ((self.axes_bps >> 4) & 0x0F))

    def _tmp(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        """A scratch array reused from chunk to chunk (intermediates only: never part of an emitted table).

        Reusing them keeps the allocator from returning and re-faulting megabytes of pages every chunk.
        """
        size = math.prod(shape)
        buf = self._scratch.get(name)
        if buf is None or buf.size < size:
            buf = self._scratch[name] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)

    def _times(
        self, a: np.ndarray, t: np.ndarray, session: np.ndarray, off: int, sectors: np.ndarray, spp: int
    ) -> np.ndarray:
        """(n, spp) sample times (ns): piecewise-linear through the anchors ``(a, t)`` within continuous runs.

        ``a``/``t`` hold ``off`` earlier anchors, then one per block of ``sectors`` (then held blocks). A run
        breaks where consecutive anchors imply a rate off nominal by more than 10% (pause, clock change) or
        the session changes; samples beyond a run's anchors are extrapolated with its edge slope, and an
        isolated block uses the nominal rate.

        Sample ``j`` of a run ``[lo, hi)`` lies on the line of anchor ``m``, the last anchor at or before ``j``
        (clipped to the run): ``slope_m * (j - a_m) + (t_m - t_lo)``, rounded to the nearest ns, plus ``t_lo``;
        the last anchor of a run keeps the slope before it and a lone anchor has the nominal rate. These are
        exactly the float operations of ``np.interp`` on the run (and of its extrapolation), so the times are
        those of a run-by-run ``np.interp`` to the bit. They are computed block by block: each block's last
        line over the whole block, then each earlier line (typically one, or none) over the block's first
        samples only.
        """
        n, nr = len(a), len(sectors)
        nominal = NS / self.freq
        da = np.diff(a).astype(np.float64)
        dt = np.diff(t).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = dt / da  # ns per sample between consecutive anchors
            ok = (da > 0) & (dt > 0) & (np.diff(session) == 0) & (np.abs(nominal / slope - 1) < _RATE_TOLERANCE)
        right = np.arange(n - 1) + 1 - off  # block after each segment: count each segment once
        self.c["discontinuities"] += int((~ok & (right >= 0) & (right < nr)).sum())
        start = np.concatenate([[True], ~ok])  # anchor m starts a run
        lo = np.maximum.accumulate(np.where(start, np.arange(n), 0))
        run = np.cumsum(start) - 1
        line_slope = np.empty(n)  # a run's last anchor keeps the slope before it; a lone one the nominal rate
        line_slope[:-1] = np.where(ok, slope, np.nan)
        line_slope[-1] = np.nan
        last = np.isnan(line_slope)
        line_slope[last] = np.where(start, nominal, np.concatenate([[0.0], slope]))[last]
        line_t = (t - t[lo]).astype(np.float64)  # relative ns: exact in float64
        # the line of a sample: search (run, sample index) among (run, anchor index), sorted as one int64 key
        assert n < 1 << 20 and np.abs(a).max() < _KEY_BIAS
        key = (run << 40) + a + _KEY_BIAS
        k = off + np.arange(nr)  # anchor index of each emitted block
        j0 = sectors * spp  # its first sample
        base = (run[k] << 40) + _KEY_BIAS + j0
        first = np.maximum(np.searchsorted(key, base, side="right") - 1, lo[k])
        switches = np.maximum(np.searchsorted(key, base + (spp - 1), side="right") - 1, lo[k]) - first
        ii = np.arange(spp, dtype=np.float64)

        def line(m: np.ndarray, j0: np.ndarray, out: np.ndarray) -> np.ndarray:
            np.subtract(ii[: out.shape[1]], (a[m] - j0).astype(np.float64)[:, None], out=out)  # j - a_m, exact
            out *= line_slope[m][:, None]
            out += line_t[m][:, None]
            out += 0.5  # round to the nearest ns (truncation toward zero is off by <= 1 ns before an anchor)
            return out

        out = new_array(nr * spp, np.int64).reshape(nr, spp)
        t0 = t[lo[k]]
        same_t0 = bool(np.all(t0 == t0[0]))
        for r0 in range(0, nr, _ROWS):  # a few hundred blocks at a time: the float64 scratch stays in cache
            r1 = min(nr, r0 + _ROWS)
            fb, jb, sw = first[r0:r1], j0[r0:r1], switches[r0:r1]
            rel = line(fb + sw, jb, self._tmp("rel", (r1 - r0, spp), np.float64))  # each block's last line
            for q in range(1, int(sw.max(initial=0)) + 1):  # then the line before, on the samples before its end
                m = np.maximum(fb + sw - q, fb)
                end = np.where(sw >= q, a[np.minimum(m + 1, n - 1)] - jb, 0)  # line m ends at anchor m + 1
                w = int(end.max())  # a prefix of each block: typically a few samples (AX3: up to ~20 of 120)
                on = np.less(ii[:w], end[:, None], out=self._tmp("on", (r1 - r0, w), np.bool_))
                np.copyto(rel[:, :w], line(m, jb, self._tmp("line", (r1 - r0, w), np.float64)), where=on)
            o = out[r0:r1]
            np.copyto(o, rel, casting="unsafe")  # truncates, as float -> int casts do
            o += t0[0] if same_t0 else t0[r0:r1, None]
        return out

    def process(self, raw: np.ndarray, sectors: np.ndarray, final: bool) -> tuple[pa.Table | None, np.ndarray]:
        """Decode ``raw`` blocks; return the table of all but the last valid blocks, and the rows to hold.

        The last ``_HOLD`` valid blocks are held back (unless ``final``) because sample times need later anchors.
        """
        f = raw.view(BLOCK_DTYPE).reshape(-1)
        cks = raw.view("<u2").sum(axis=1, dtype=np.uint16)
        is_ax = f["header"] == _AX
        valid = is_ax & (f["length"] == 508)
        bad_ck = valid & (cks != 0)
        valid &= cks == 0
        if self.axes_bps < 0 and valid.any():
            self.axes_bps = int(f["axes_bps"][np.argmax(valid)])
        fmt_bad = valid & (f["axes_bps"] != self.axes_bps)
        secs, ts_ok = _epoch_seconds(f["timestamp"])
        ts_bad = valid & ~fmt_bad & ~ts_ok
        valid &= ~fmt_bad & ts_ok
        self.c["checksum_failures"] += int(bad_ck.sum())
        self.c["corrupt_blocks"] += int(bad_ck.sum() + (is_ax & (f["length"] != 508)).sum() + fmt_bad.sum())
        self.c["corrupt_blocks"] += int(ts_bad.sum())
        if bad_ck.any() or fmt_bad.any() or ts_bad.any():
            bad_idx = sectors[(bad_ck | fmt_bad | ts_bad)]
            listed = self.c.setdefault("corrupt_block_indices", [])
            listed.extend(int(i) for i in bad_idx[: max(0, 1000 - len(listed))])  # first 1000 only
        self.c["other_blocks"] += int((~is_ax).sum())
        idx = np.flatnonzero(valid)
        if len(idx) == 0:
            return None, idx
        hold = np.empty(0, dtype=np.int64) if final else idx[-_HOLD:]
        emit = idx if final else idx[:-_HOLD]
        n_emit = len(emit)
        # Anchors of every valid block in this chunk (emit + held): sample index A, time T (ns), session.
        fractional = f["fractional"][idx].astype(np.int64)
        freq = _frequency(f["rate"][idx])
        packed = (self.axes_bps & 0x0F) == 0
        axes = (self.axes_bps >> 4) & 0x0F
        spp = self.samples_per_block()
        frac = np.where(fractional & 0x8000, (fractional & 0x7FFF) << 1, 0)
        offset = f["ts_offset"][idx].astype(np.int64) + ((frac * freq.astype(np.int64)) >> 16)
        anchor_a = sectors[idx].astype(np.int64) * spp + offset
        anchor_t = secs[idx] * NS + (frac * NS + 32768) // 65536
        session = f["session"][idx].astype(np.int64)
        off = len(self.prev_anchors)
        if off:
            pa_, pt_, ps_ = (np.array(v, dtype=np.int64) for v in zip(*self.prev_anchors, strict=True))
            anchor_a, anchor_t = np.concatenate([pa_, anchor_a]), np.concatenate([pt_, anchor_t])
            session = np.concatenate([ps_, session])
        if n_emit:  # the anchors before the held blocks, for the next chunk
            last = off + n_emit
            self.prev_anchors = [
                (int(anchor_a[i]), int(anchor_t[i]), int(session[i])) for i in range(max(0, last - _HOLD), last)
            ]
        if n_emit == 0:
            return None, hold
        t = self._times(anchor_a, anchor_t, session, off, sectors[emit].astype(np.int64), spp)
        light = f["light"][emit].astype(np.int64)
        count = np.minimum(f["count"][emit].astype(np.int64), spp)
        self.c["blocks"] += n_emit
        self.c["partial_blocks"] += int((count < spp).sum())
        # output columns: (source plane in the decoded blocks, per-block scale)
        acc_scale = (1.0 / np.left_shift(1, 8 + ((light >> 13) & 7))).astype(np.float32)
        planes = [((3 if axes >= 6 else 0) + c, acc_scale) for c in range(3)]
        if axes >= 6:
            g = (light >> 10) & 7
            hdr_range = self.hdr["gyro_range_dps"] or 2000.0
            gyro_scale = (np.where(g > 0, 8000.0 / np.left_shift(1, g), hdr_range) / 32768.0).astype(np.float32)
            planes += [(c, gyro_scale) for c in range(3)]
        cols = [new_array(n_emit * spp, np.float32).reshape(n_emit, spp) for _ in planes]
        uniform = [bool(np.all(sc == sc[0])) for _, sc in planes]
        contiguous = emit[-1] - emit[0] == n_emit - 1
        for r0 in range(0, n_emit, _ROWS):  # a few hundred blocks at a time: the int scratch stays in cache
            r1 = min(n_emit, r0 + _ROWS)
            payload = self._tmp("payload", (r1 - r0, 480), np.uint8)
            if contiguous:
                np.copyto(payload, raw[emit[r0] : emit[r0] + r1 - r0, 30 : 30 + 480])
            else:
                np.take(raw[:, 30 : 30 + 480], emit[r0:r1], axis=0, out=payload)
            vals, e = _decode(
                payload, packed, axes, spp, self._tmp("vals", (4 if packed else axes, r1 - r0, spp), np.int32)
            )
            for col, (plane, scale), same in zip(cols, planes, uniform, strict=True):
                x = col[r0:r1]
                np.copyto(x, vals[plane], casting="unsafe")  # exact (|v| < 2**24)
                # float32(v << e) * s == float32(v) * (s * 2**e): products by powers of two are exact
                x *= (scale[0] if same else scale[r0:r1, None]) * np.float32(1 << e)
        if np.all(count == spp):
            tt, chans = t.reshape(-1), [c.reshape(-1) for c in cols]
        else:
            keep = np.arange(spp)[None, :] < count[:, None]
            tt, chans = t[keep], [c[keep] for c in cols]
        return make_table_cols(tt, chans[:3], chans[3:] if axes >= 6 else None), hold


def read(path: Path, cfg: ReadOptions | IngestConfig) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    """Stream a CWA file (``.cwa``, ``.cwa.gz``) as canonical tables plus static ``info``.

    Args:
        path: The file; gzip-compressed content is decompressed on the fly.
        cfg: reading options (unused by this reader beyond the contract).

    Returns:
        ``(chunks, info)``: an iterator of time-ordered canonical tables (one per ~2048 blocks) and the
        metadata dict; ``info['counters']`` (corrupt_blocks, checksum_failures, ...) is complete once the
        iterator is exhausted.

    Raises:
        FormatError: empty file, no ``MD`` header, or no complete data block.

    Examples:
        >>> chunks, info = read(Path("subject01.cwa"), IngestConfig())  # doctest: +SKIP
        >>> info["device"], sum(t.num_rows for t in chunks)  # doctest: +SKIP
        ('AX3', 17400)
    """
    path = Path(path)
    f = open_stream(path)
    try:
        head = read_fully(f, HEADER, path)
        hdr = parse_header(head, path)
        if len(head) < HEADER:
            raise FormatError(f"{path}: truncated CWA header ({len(head)} of {HEADER} bytes); re-copy the file")
        skip = hdr["data_offset"] - HEADER
        if skip > 0:
            read_fully(f, skip, path)
        first = read_fully(f, BLOCK, path)
        if len(first) < BLOCK:
            raise FormatError(f"{path}: the CWA file holds no complete data block; was the device ever recording?")
    except BaseException:
        f.close()
        raise
    counters: dict[str, Any] = {
        "blocks": 0,
        "corrupt_blocks": 0,
        "checksum_failures": 0,
        "other_blocks": 0,
        "partial_blocks": 0,
        "discontinuities": 0,
        "truncated_bytes": 0,
    }
    info = base_info(
        "cwa",
        device=hdr["device"],
        device_serial=str(hdr["device_id"]),
        device_range_g=hdr["range_g"],
        sample_rate_nominal_hz=hdr["frequency"],
        time_reference="local",
        timezone=None,
    )
    info["counters"] = counters
    info["cwa_session_id"] = hdr["session_id"]
    info["annotations"] = hdr["annotations"]
    if hdr["axes"] == 9:
        log.warning("%s: magnetometer channels are not part of the wearfm schema and are dropped", path)

    def chunks() -> Iterator[pa.Table]:
        state = _Stream(path, hdr, counters)
        # one buffer for the whole file: the blocks held back from the last chunk, then CHUNK_BLOCKS read ones
        buf = np.empty((_HOLD + CHUNK_BLOCKS, BLOCK), dtype=np.uint8)
        view = buf.data.cast("B")
        buf[0] = np.frombuffer(first, dtype=np.uint8)
        n_held, pending = 0, 1
        held_sectors = np.empty(0, dtype=np.int64)
        next_sector = 0
        emitted = 0
        try:
            while True:
                lo, hi = (n_held + pending) * BLOCK, (n_held + CHUNK_BLOCKS) * BLOCK
                got = pending * BLOCK + read_into(f, view[lo:hi], path)
                pending = 0
                final = got < CHUNK_BLOCKS * BLOCK
                if final and got % BLOCK:
                    counters["truncated_bytes"] = got % BLOCK
                    log.warning("%s: file ends with a partial block (%d bytes), ignored", path, got % BLOCK)
                n = got // BLOCK
                raw = buf[: n_held + n]
                sectors = np.r_[held_sectors, np.arange(next_sector, next_sector + n, dtype=np.int64)]
                next_sector += n
                table, hold = state.process(raw, sectors, final)
                n_held, held_sectors = len(hold), sectors[hold]
                buf[:n_held] = raw[hold]  # (a copy first: rows may overlap)
                if table is not None and table.num_rows:
                    emitted += table.num_rows
                    yield table
                if final:
                    break
        finally:
            f.close()
        if counters["corrupt_blocks"]:
            log.warning("%s: skipped %d corrupt block(s)", path, counters["corrupt_blocks"])
            if state.axes_bps >= 0:  # the samples those blocks held (every data block holds the same number)
                counters["corrupt_blocks_dropped"] = counters["corrupt_blocks"] * state.samples_per_block()
        if emitted == 0:
            raise FormatError(f"{path}: no valid data block in this CWA file (all {next_sector} corrupt or empty)")

    return chunks(), info


def read_all(path: str | Path, **opts: Any) -> tuple[pa.Table, dict[str, Any]]:
    """Read a whole CWA file into one table (tests, small files); ``opts`` are ``IngestConfig`` fields."""
    return read_all_with(read, path, opts)


register_reader(Reader("cwa", read=read, sniff=sniff, extensions=(".cwa",)))
