"""Axivity CWA reader on synthetic files built from the cwa.h layout (see tests/io/test_devices_realdata.py)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from wearfm.errors import FormatError
from wearfm.io import cwa


def _packed_ts(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    return ((y - 2000) << 26) | (mo << 22) | (d << 17) | (h << 12) | (mi << 6) | s


def _header(hw: int = 0x00, device_id: int = 1234, rate: int = 0x4A, sensor_config: int = 0x00) -> bytes:
    h = bytearray(b"\xff" * 1024)
    h[0:2] = b"MD"
    h[2:4] = struct.pack("<H", 1020)
    h[4] = hw
    h[5:7] = struct.pack("<H", device_id)
    h[7:11] = struct.pack("<I", 99)
    h[11:13] = b"\xff\xff"
    h[35] = sensor_config
    h[36] = rate
    ann = b"_sc=7&_p=left+wrist"
    h[64 : 64 + 448] = ann + b" " * (448 - len(ann))
    return bytes(h)


def _block(
    seq: int,
    secs: float,
    raw: np.ndarray,
    *,
    rate: int = 0x4A,
    packed: bool = True,
    light: int = 0,
    ts_offset: int = 0,
    freq: float = 100.0,
) -> bytes:
    """One data block whose sample ``ts_offset`` (after undoing the firmware shim) is at ``secs``."""
    b = bytearray(512)
    whole = int(np.floor(secs))
    frac16 = int(round((secs - whole) * 65536)) & 0xFFFE
    # firmware shim: timestampOffset is stored minus the samples the fraction accounts for
    stored_offset = ts_offset - ((frac16 * int(freq)) >> 16)
    tm = np.datetime64(whole, "s").astype(object)
    struct.pack_into("<HHH", b, 0, 0x5841, 508, 0x8000 | (frac16 >> 1))
    struct.pack_into("<III", b, 6, 99, seq, _packed_ts(tm.year, tm.month, tm.day, tm.hour, tm.minute, tm.second))
    struct.pack_into("<HHBBBB", b, 18, light, 300, 0, 200, rate, 0x30 if packed else (raw.shape[1] << 4) | 2)
    struct.pack_into("<hH", b, 26, stored_offset, raw.shape[0])
    if packed:
        x, y, z = (raw[:, i].astype(np.int64) & 0x3FF for i in range(3))
        words = (x | (y << 10) | (z << 20)).astype("<u4")
        b[30 : 30 + 4 * len(words)] = words.tobytes()
    else:
        data = raw.astype("<i2").tobytes()
        b[30 : 30 + len(data)] = data
    s = np.frombuffer(bytes(b[:510]), dtype="<u2").sum(dtype=np.uint16)
    struct.pack_into("<H", b, 510, (-int(s)) & 0xFFFF)
    return bytes(b)


def _make_ax3(path: Path, n_blocks: int = 10, rate_hz: float = 100.0, start: float = 1.6e9, seed: int = 0):
    rng = np.random.default_rng(seed)
    raw = rng.integers(-500, 500, size=(n_blocks, 120, 3))
    spb = 120 / rate_hz * 1.002  # measured rate a little slower than nominal, as real clocks are
    blocks = [_block(k, start + k * spb + 0.3, raw[k], ts_offset=30) for k in range(n_blocks)]
    path.write_bytes(_header() + b"".join(blocks))
    # expected times: sample 30 of block k at start + k*spb + 0.3, linear in between and beyond
    idx = np.arange(n_blocks * 120)
    anchors_i = np.arange(n_blocks) * 120 + 30
    anchors_t = start + np.arange(n_blocks) * spb + 0.3
    t = np.interp(idx, anchors_i, anchors_t)
    slope = spb / 120
    t[idx < anchors_i[0]] = anchors_t[0] + (idx[idx < anchors_i[0]] - anchors_i[0]) * slope
    t[idx > anchors_i[-1]] = anchors_t[-1] + (idx[idx > anchors_i[-1]] - anchors_i[-1]) * slope
    return raw.reshape(-1, 3) / 256.0, t


def test_sniff(tmp_path: Path) -> None:
    assert cwa.sniff(_header() + b"AX", tmp_path / "a.cwa")
    assert not cwa.sniff(b"time,x,y,z\n1,2,3,4\n" * 10, tmp_path / "a.cwa")
    assert not cwa.sniff(b"PK\x03\x04" + b"\0" * 100, tmp_path / "a.cwa")


def test_packed_ax3_values_and_interpolated_times(tmp_path: Path) -> None:
    p = tmp_path / "a.cwa"
    acc, t = _make_ax3(p)
    table, info = cwa.read_all(p)
    assert table.column_names == ["time", "acc_x", "acc_y", "acc_z"]
    np.testing.assert_allclose(np.c_[[table.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z")]].T, acc)
    got = table.column("time").cast("int64").to_numpy() / 1e9
    assert np.abs(got - t).max() < 1e-4  # fraction stored at 1/32768 s resolution
    assert info["device"] == "AX3" and info["device_serial"] == "1234"
    assert info["sample_rate_nominal_hz"] == 100.0 and info["device_range_g"] == 8.0
    assert info["time_reference"] == "local" and info["reader"] == "cwa"
    assert info["annotations"]["_p"] == "left wrist"
    assert info["info"]["corrupt_blocks"] == 0 and info["info"]["blocks"] == 10


def test_packed_exponent() -> None:
    # x=-3 with exponent 2 -> -12; y=511, z=-512 -> 2044, -2048
    word = ((-3) & 0x3FF) | ((511 & 0x3FF) << 10) | (((-512) & 0x3FF) << 20) | (2 << 30)
    blk = np.zeros((1, 512), dtype=np.uint8)
    blk[0, 30:34] = np.frombuffer(struct.pack("<I", word), dtype=np.uint8)
    out, e = cwa._decode(blk[:, 30:510], packed=True, axes=3, spp=120)
    assert out[:, 0, 0].tolist() == [-12, 2044, -2048] and e == 0
    blk[0, 30:510] = np.frombuffer(struct.pack("<I", word) * 120, dtype=np.uint8)  # one exponent for all
    out, e = cwa._decode(blk[:, 30:510], packed=True, axes=3, spp=120)
    assert (out[:, 0, :].T << e).tolist() == [[-12, 2044, -2048]] * 120 and e == 2


def test_ax6_unpacked_gyro_and_scales(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    raw = rng.integers(-30000, 30000, size=(3, 40, 6))
    light = (3 << 13) | (3 << 10)  # accel 1/2048 g, gyro 8000/8 = 1000 dps full scale
    blocks = [_block(k, 1.6e9 + 0.4 * k, raw[k], packed=False, light=light, rate=0x8A) for k in range(3)]
    p = tmp_path / "six.cwa"
    p.write_bytes(_header(hw=0x64, sensor_config=0x03, rate=0x8A) + b"".join(blocks))
    table, info = cwa.read_all(p)
    assert info["device"] == "AX6" and info["device_range_g"] == 4.0
    flat = raw.reshape(-1, 6)
    np.testing.assert_allclose(table.column("gyr_x").to_numpy(), flat[:, 0] * 1000 / 32768, rtol=1e-6)
    np.testing.assert_allclose(table.column("acc_z").to_numpy(), flat[:, 5] / 2048, rtol=1e-6)


def test_corrupt_blocks_skipped_and_counted(tmp_path: Path) -> None:
    p = tmp_path / "a.cwa"
    acc, t = _make_ax3(p, n_blocks=8)
    data = bytearray(p.read_bytes())
    for k in (0, 3, 7):
        data[1024 + 512 * k + 100] ^= 0xFF  # flip a payload byte: checksum fails
    p.write_bytes(bytes(data))
    table, info = cwa.read_all(p)
    assert info["info"]["corrupt_blocks"] == 3 and info["info"]["checksum_failures"] == 3
    assert info["info"]["corrupt_block_indices"] == [0, 3, 7]
    assert info["info"]["corrupt_blocks_dropped"] == 3 * 120  # the samples the skipped blocks held
    keep = np.repeat(~np.isin(np.arange(8), [0, 3, 7]), 120)
    np.testing.assert_allclose(table.column("acc_y").to_numpy(), acc[keep, 1])
    got = table.column("time").cast("int64").to_numpy() / 1e9
    assert np.abs(got - t[keep]).max() < 1e-4  # the skipped blocks leave a hole, other times unchanged


def test_streaming_chunks_match_single_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "a.cwa"
    _make_ax3(p, n_blocks=23)
    whole, _ = cwa.read_all(p)
    monkeypatch.setattr(cwa, "CHUNK_BLOCKS", 4)
    chunks, info = cwa.read(p, cwa.IngestConfig())
    parts = list(chunks)
    assert len(parts) >= 5 and all(t.num_rows <= (4 + cwa._HOLD) * 120 for t in parts)
    import pyarrow as pa

    assert pa.concat_tables(parts).equals(whole)


def test_gzip_input(tmp_path: Path) -> None:
    p = tmp_path / "a.cwa"
    _make_ax3(p)
    gz = tmp_path / "a.cwa.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert cwa.read_all(gz)[0].equals(cwa.read_all(p)[0])


def test_time_discontinuity_not_interpolated(tmp_path: Path) -> None:
    raw = np.zeros((4, 120, 3), dtype=np.int64)
    starts = [1.6e9, 1.6e9 + 1.2, 1.6e9 + 3600.0, 1.6e9 + 3601.2]  # one-hour pause between blocks 1 and 2
    p = tmp_path / "gap.cwa"
    p.write_bytes(_header() + b"".join(_block(k, s, raw[k]) for k, s in enumerate(starts)))
    table, info = cwa.read_all(p)
    t = table.column("time").cast("int64").to_numpy() / 1e9
    dt = np.diff(t)
    assert info["info"]["discontinuities"] == 1
    assert np.sum(dt > 1) == 1 and np.allclose(dt[dt < 1], 0.01, atol=1e-4)


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "empty"),
        (b"time,x,y,z\n0,1,2,3\n", "not an Axivity CWA"),
        (b"MD" + b"\x00" * 500, "truncated CWA header"),
    ],
)
def test_bad_files_raise_format_error_naming_file(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "bad.cwa"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=match) as e:
        cwa.read_all(p)
    assert str(p) in str(e.value)


def test_header_only_and_truncated_tail(tmp_path: Path) -> None:
    p = tmp_path / "h.cwa"
    p.write_bytes(_header())
    with pytest.raises(FormatError, match="no complete data block"):
        cwa.read_all(p)
    q = tmp_path / "t.cwa"
    _make_ax3(q, n_blocks=5)
    q.write_bytes(q.read_bytes()[:-200])  # cut inside the last block
    table, info = cwa.read_all(q)
    assert table.num_rows == 4 * 120 and info["info"]["truncated_bytes"] == 312


def test_all_blocks_corrupt_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "a.cwa"
    _make_ax3(p, n_blocks=2)
    data = bytearray(p.read_bytes())
    data[1024 + 100] ^= 1
    data[1024 + 512 + 100] ^= 1
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="no valid data block"):
        cwa.read_all(p)


def test_nine_axis_blocks_keep_acc_and_gyro(tmp_path: Path) -> None:
    raw = np.random.default_rng(2).integers(-3000, 3000, size=(2, 26, 9))
    light = (2 << 13) | (2 << 10)  # accel 1/1024 g, gyro 2000 dps full scale
    blocks = [_block(k, 1.6e9 + 0.26 * k, raw[k], packed=False, light=light) for k in range(2)]
    p = tmp_path / "nine.cwa"
    p.write_bytes(_header(hw=0x64, sensor_config=0x12) + b"".join(blocks))
    table, info = cwa.read_all(p)
    flat = raw.reshape(-1, 9)
    assert table.num_rows == 52 and info["device"] == "AX6"
    np.testing.assert_allclose(table.column("gyr_y").to_numpy(), flat[:, 1] * 2000 / 32768, rtol=1e-6)
    np.testing.assert_allclose(table.column("acc_x").to_numpy(), flat[:, 3] / 1024, rtol=1e-6)


def _interp_times(blocks: list[tuple[int, float, int]], spp: int = 120, freq: float = 100.0) -> np.ndarray:
    """Reference: ns times by a run-by-run ``np.interp`` over the anchors (the rule ``cwa._Stream._times`` follows).

    ``blocks`` are (sector, anchor seconds, ts_offset) as written by ``_block``; runs break where the local rate
    is off nominal by more than 10%; the ends extrapolate with the edge slope; a lone anchor uses the nominal rate.
    """
    ns = 1_000_000_000
    a, t = [], []
    for sector, secs, tso in blocks:
        whole = int(np.floor(secs))
        frac = int(round((secs - whole) * 65536)) & 0xFFFE
        a.append(sector * spp + tso)  # the shim undone: stored offset + (frac * freq) >> 16
        t.append(whole * ns + (frac * ns + 32768) // 65536)
    a_, t_ = np.array(a), np.array(t)
    slope = np.diff(t_) / np.diff(a_)
    ok = (np.diff(a_) > 0) & (np.abs(ns / freq / slope - 1) < 0.1)
    brk, out = np.flatnonzero(~ok) + 1, []
    for lo, hi in zip(np.r_[0, brk], np.r_[brk, len(a_)], strict=True):
        ar, tr = a_[lo:hi], t_[lo:hi] - t_[lo]
        j = np.concatenate([s * spp + np.arange(spp) for s, _, _ in blocks[lo:hi]]).astype(np.float64)
        if hi - lo == 1:
            rel = (j - ar[0]) * (ns / freq)
        else:
            rel = np.interp(j, ar, tr)
            rel[j < ar[0]] = (j[j < ar[0]] - ar[0]) * slope[lo]
            rel[j > ar[-1]] = tr[-1] + (j[j > ar[-1]] - ar[-1]) * slope[hi - 2]
        out.append((rel + 0.5).astype(np.int64) + t_[lo])
    return np.concatenate(out)


def test_sample_times_bit_identical_to_run_by_run_interp(tmp_path: Path) -> None:
    # anchors jittered up to a block away from their own block (so a block's samples switch lines 0-2 times),
    # a one-hour pause, and a lone block between two pauses
    rng = np.random.default_rng(3)
    n = 300
    raw = np.zeros((n, 120, 3), dtype=np.int64)
    offsets = rng.integers(-50, 70, size=n)
    secs = 1.6e9 + np.arange(n) * 1.2024 + offsets / 100 * 1.002
    secs[150:] += 3600.0
    secs[151:] += 3600.0
    blocks = [(k, float(secs[k]), int(offsets[k])) for k in range(n)]
    p = tmp_path / "jitter.cwa"
    p.write_bytes(_header() + b"".join(_block(k, s, raw[k], ts_offset=o) for k, s, o in blocks))
    table, info = cwa.read_all(p)
    assert info["info"]["discontinuities"] == 2
    np.testing.assert_array_equal(table.column("time").cast("int64").to_numpy(), _interp_times(blocks))
