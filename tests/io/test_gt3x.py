"""ActiGraph GT3X reader on synthetic .gt3x files written from the GT3X-File-Format specification."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests._helpers.gt3x_files import T0, info_txt, log_record, pack12, ticks, write_gt3x
from wearfm.errors import ConfigError, FormatError
from wearfm.io import _zipsafe, gt3x


def _acc(table: pa.Table) -> np.ndarray:
    return np.c_[[table.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z")]].T


def _secs(table: pa.Table) -> np.ndarray:
    return table.column("time").cast("int64").to_numpy() / 1e9


def test_decode_12bit_matches_spec_example() -> None:
    # GT3X-File-Format Activity.md: "00 60 08 EB D0 07 00 9E BF 00 70 08 EB F0" -> Y,X,Z triples
    raw = np.frombuffer(bytes.fromhex("006008EBD007009EBF007008EBF0"), dtype=np.uint8)[None, :]
    out = gt3x.decode_12bit(raw, 3)[0]
    assert out.tolist() == [[6, 8, -323], [7, 9, -321], [7, 8, -321]]


def test_decode_ssp_float_spec_examples() -> None:
    assert gt3x.decode_ssp_float(0x09400000) == 256.0  # ACCEL_SCALE
    assert gt3x.decode_ssp_float(0x0C400000) == 2048.0  # IMU_ACCEL_SCALE
    assert round(gt3x.decode_ssp_float(0x03419581), 3) == 4.099  # BATTERY_VOLTAGE "4.1 V"


@pytest.mark.parametrize("kind", [0x00, 0x1A, 0x1B])
def test_activity_records_decode(tmp_path: Path, kind: int) -> None:
    rng = np.random.default_rng(kind)
    xyz = rng.integers(-2000, 2000, size=(5, 30, 3))
    recs = b""
    for k in range(5):
        if kind == 0x1A:
            payload = xyz[k].astype("<i2").tobytes()
        elif kind == 0x00:
            payload = pack12(xyz[k][:, [1, 0, 2]])  # stored Y, X, Z
        else:
            payload = pack12(xyz[k])
        recs += log_record(kind, T0 + k, payload)
    p = tmp_path / "a.gt3x"
    write_gt3x(p, recs, info_txt())
    table, info = gt3x.read_all(p)
    np.testing.assert_allclose(_acc(table), xyz.reshape(-1, 3) / 256.0, rtol=1e-6)
    np.testing.assert_allclose(_secs(table), T0 + np.arange(150) / 30, atol=1e-6)
    assert info["timezone"] == "-05:00" and info["device_serial"] == "TAS1E000000"
    assert info["sample_rate_nominal_hz"] == 30.0 and info["device_range_g"] == 8.0
    assert info["device"] == "GT9X Link" and info["time_reference"] == "local"


def test_odd_sample_count_ignores_trailing_nibble(tmp_path: Path) -> None:
    xyz = np.array([[1, -2, 3], [4, 5, -6], [-7, 8, 9]])
    p = tmp_path / "a.gt3x"
    write_gt3x(p, log_record(0x00, T0, pack12(xyz[:, [1, 0, 2]])), info_txt(rate=3))
    table, info = gt3x.read_all(p)
    np.testing.assert_allclose(_acc(table) * 256, xyz)


def test_checksum_failures_and_usb_records_skipped(tmp_path: Path) -> None:
    xyz = np.ones((30, 3), dtype=np.int64)
    recs = b"".join(
        [
            log_record(0x1A, T0, xyz.astype("<i2").tobytes()),
            log_record(0x1A, T0 + 1, (2 * xyz).astype("<i2").tobytes(), corrupt=True),
            b"\x00\x00",  # zero padding is legal
            log_record(0x1A, T0 + 2, (3 * xyz).astype("<i2").tobytes()),
            log_record(0x00, T0 + 3, b"\x5a"),  # USB connect
        ]
    )
    p = tmp_path / "a.gt3x"
    write_gt3x(p, recs, info_txt())
    table, info = gt3x.read_all(p, idle_sleep="gap")
    assert info["counters"]["checksum_failures"] == 1 and info["counters"]["usb_records"] == 1
    assert table.num_rows == 60 and set(np.unique(_acc(table) * 256)) == {1.0, 3.0}
    assert info["counters"]["bad_checksum_dropped"] == 30


def _sleepy_log() -> bytes:
    """Awake 2 s, asleep 3 s (enter/exit events), awake 1 s, then asleep to the end of the file."""
    rec = b""
    for k in (0, 1):
        rec += log_record(0x1A, T0 + k, np.full((30, 3), k + 1).astype("<i2").tobytes())
    rec += log_record(0x03, T0 + 2, b"\x08") + log_record(0x03, T0 + 5, b"\x09")
    rec += log_record(0x1A, T0 + 5, np.full((30, 3), 7).astype("<i2").tobytes())
    rec += log_record(0x03, T0 + 6, b"\x08")
    return rec


def test_idle_sleep_fill_repeats_last_sample_until_last_sample_time(tmp_path: Path) -> None:
    p = tmp_path / "s.gt3x"
    write_gt3x(p, _sleepy_log(), info_txt(last=T0 + 9))
    table, info = gt3x.read_all(p)  # default: fill
    v = _acc(table)[:, 0] * 256
    assert table.num_rows == 9 * 30  # seconds 0..8: last sample time (T0+9) is exclusive
    assert np.all(v[60:150] == 2) and np.all(v[150:180] == 7) and np.all(v[180:] == 7)
    np.testing.assert_allclose(_secs(table), T0 + np.arange(270) / 30, atol=1e-6)
    assert info["counters"]["idle_sleep_samples"] == 90 + 90


def test_idle_sleep_gap_leaves_gaps(tmp_path: Path) -> None:
    p = tmp_path / "s.gt3x"
    write_gt3x(p, _sleepy_log(), info_txt(last=T0 + 9))
    table, info = gt3x.read_all(p, idle_sleep="gap")
    assert table.num_rows == 90
    assert np.isclose(np.diff(_secs(table)).max(), 3 + 1 / 30)
    assert info["counters"]["idle_sleep_samples"] == 180
    with pytest.raises(ConfigError, match="idle_sleep"):
        gt3x.read_all(p, idle_sleep="zeros")


def test_parameters_accel_scale_overrides_info(tmp_path: Path) -> None:
    params = struct.pack("<HHI", 0, 55, 0x09554000)  # 341.0 in the SSP float format
    assert round(gt3x.decode_ssp_float(0x09554000), 3) == 341.0
    recs = log_record(0x15, T0, params) + log_record(0x1A, T0, np.full((30, 3), 341).astype("<i2").tobytes())
    p = tmp_path / "a.gt3x"
    write_gt3x(p, recs, info_txt(scale="256.0"))
    table, info = gt3x.read_all(p)
    np.testing.assert_allclose(_acc(table), 1.0, rtol=1e-6)
    assert info["counters"]["accel_scale"] == 341.0


def test_streaming_matches_single_pass_and_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    recs = b"".join(
        log_record(0x1A, T0 + k, rng.integers(-900, 900, (30, 3)).astype("<i2").tobytes()) for k in range(40)
    )
    p = tmp_path / "a.gt3x"
    write_gt3x(p, recs, info_txt())
    whole, _ = gt3x.read_all(p)
    monkeypatch.setattr(gt3x, "READ_BYTES", 500)  # records straddle every read boundary
    chunks, _ = gt3x.read(p, gt3x.IngestConfig())
    parts = list(chunks)
    assert len(parts) > 5 and pa.concat_tables(parts).equals(whole)
    gz = tmp_path / "a.gt3x.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert gt3x.read_all(gz)[0].equals(whole)


def test_old_activity_bin_format(tmp_path: Path) -> None:
    xyz = np.random.default_rng(3).integers(-2000, 2000, size=(61, 3))
    p = tmp_path / "old.gt3x"
    info = f"Serial Number: NEO1C00000000\nDevice Type: GT3XPlus\nSample Rate: 30\nStart Date: {ticks(T0)}\n"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("info.txt", info)
        zf.writestr("activity.bin", pack12(xyz[:, [1, 0, 2]]))
    table, meta = gt3x.read_all(p)
    assert meta["device"] == "GT3X+" and meta["device_range_g"] == 6.0 and meta["counters"]["format"] == "activity.bin"
    np.testing.assert_allclose(_acc(table), xyz / 341.0, rtol=1e-6)
    np.testing.assert_allclose(_secs(table), T0 + np.arange(61) / 30, atol=1e-6)


def test_sniff(tmp_path: Path) -> None:
    p = tmp_path / "a.gt3x"
    write_gt3x(p, log_record(0x1A, T0, bytes(180)), info_txt())
    assert gt3x.sniff(p.read_bytes()[:4096], p)
    assert not gt3x.sniff(b"Device Identity\n", p)
    q = tmp_path / "other.zip"
    with zipfile.ZipFile(q, "w") as zf:
        zf.writestr("hello.txt", "hi")
    assert not gt3x.sniff(q.read_bytes()[:4096], q)


def test_zip_path_traversal_refused(tmp_path: Path) -> None:
    p = tmp_path / "evil.gt3x"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("info.txt", info_txt())
        zf.writestr("log.bin", b"")
        zf.writestr("../../etc/evil", b"x")
    with pytest.raises(FormatError, match="refusing zip member") as e:
        gt3x.read_all(p)
    assert str(p) in str(e.value)


def test_zip_bomb_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "bomb.gt3x"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("info.txt", info_txt())
        zf.writestr("log.bin", bytes(20 * 2**20))  # 20 MiB of zeros -> ~1000:1
    with pytest.raises(FormatError, match="compression ratio"):
        gt3x.read_all(p)
    q = tmp_path / "big.gt3x"
    write_gt3x(q, log_record(0x1A, T0, bytes(180)), info_txt())
    monkeypatch.setattr(_zipsafe, "MAX_MEMBER_BYTES", 100)
    with pytest.raises(FormatError, match="zip bomb"):
        gt3x.read_all(q)


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "not a readable zip"),
        (b"Device Identity\nnot a zip\n", "not a readable zip"),
    ],
)
def test_bad_files(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "bad.gt3x"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=match) as e:
        gt3x.read_all(p)
    assert str(p) in str(e.value)


def test_truncated_zip_and_missing_members(tmp_path: Path) -> None:
    p = tmp_path / "a.gt3x"
    write_gt3x(p, b"".join(log_record(0x1A, T0 + k, bytes(180)) for k in range(50)), info_txt())
    t = tmp_path / "t.gt3x"
    t.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(FormatError, match="not a readable zip"):
        gt3x.read_all(t)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("info.txt", info_txt())
    m = tmp_path / "m.gt3x"
    m.write_bytes(buf.getvalue())
    with pytest.raises(FormatError, match="not an ActiGraph"):
        gt3x.read_all(m)


def test_log_with_no_activity_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "a.gt3x"
    write_gt3x(p, log_record(0x03, T0, b"\x05\x01\x02"), info_txt())
    with pytest.raises(FormatError, match="no activity samples"):
        gt3x.read_all(p)


def test_duplicate_seconds_dropped_and_counted_in_samples(tmp_path: Path) -> None:
    xyz = np.ones((30, 3), dtype=np.int64)
    recs = b"".join(
        log_record(0x1A, T0 + k, ((k + 1) * xyz).astype("<i2").tobytes())
        for k in (0, 1, 1, 2)  # second 1 twice
    )
    p = tmp_path / "a.gt3x"
    write_gt3x(p, recs, info_txt())
    table, info = gt3x.read_all(p, idle_sleep="gap")
    assert table.num_rows == 90
    assert info["counters"]["duplicate_seconds"] == 1 and info["counters"]["duplicate_seconds_dropped"] == 30
