"""The smallest inputs that the reader fuzzing found defects with: each must give a clear error or clean data."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests._helpers.geneactiv_files import bin_header, bin_page
from tests._helpers.gt3x_files import T0, info_txt, log_record, ticks, write_gt3x
from wearfm.config import IngestConfig
from wearfm.errors import DataError, FormatError
from wearfm.io import csv as csv_reader
from wearfm.io import geneactiv, gt3x, wisdm
from wearfm.io.ingest import ingest

ROOT = Path(__file__).resolve().parents[2]


def _log(seconds: int = 3, rate: int = 30) -> bytes:
    """ACTIVITY2 records: ``seconds`` of ``rate`` int16 samples each."""
    xyz = np.tile(np.array([0, 0, 256], dtype="<i2"), rate)
    return b"".join(log_record(0x1A, T0 + s, xyz.tobytes()) for s in range(seconds))


def _gt3x_bytes(info: str | None = None, extra: dict[str, bytes] | None = None, tmp: Path | None = None) -> bytes:
    assert tmp is not None
    p = tmp / "src.gt3x"
    write_gt3x(p, _log(), info or info_txt(), extra)
    return p.read_bytes()


def _member_offsets(data: bytes, name: str) -> tuple[int, int, zipfile.ZipInfo]:
    """(local header offset, central directory entry offset, info) of member ``name``."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
    cd = data.find(b"PK\x01\x02")
    while cd >= 0:
        n = int.from_bytes(data[cd + 28 : cd + 30], "little")
        if data[cd + 46 : cd + 46 + n] == name.encode():
            return info.header_offset, cd, info
        cd = data.find(b"PK\x01\x02", cd + 4)
    raise AssertionError(name)


def _read(path: Path, **opts: object) -> None:
    table, _ = gt3x.read_all(path, **opts)
    assert table.num_rows > 0


# ---------------------------------------------------------------------------------- GT3X: zip members
def test_gt3x_bad_crc_of_info_txt(tmp_path: Path) -> None:
    data = bytearray(_gt3x_bytes(tmp=tmp_path))
    local, cd, _ = _member_offsets(bytes(data), "info.txt")
    for at in (local + 14, cd + 16):  # the CRC-32 in both headers: a flipped bit of the data, in effect
        data[at] ^= 0x01
    p = tmp_path / "crc.gt3x"
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="info.txt.*corrupt"):
        _read(p)


def test_gt3x_local_header_name_differs_from_directory(tmp_path: Path) -> None:
    data = bytearray(_gt3x_bytes(tmp=tmp_path))
    local, _, _ = _member_offsets(bytes(data), "log.bin")
    data[local + 30 + 2] ^= 0x01  # 'log.bin' -> 'lof.bin' in the local header only
    p = tmp_path / "name.gt3x"
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="log.bin"):
        _read(p)


def test_gt3x_bad_local_header_magic(tmp_path: Path) -> None:
    data = bytearray(_gt3x_bytes(tmp=tmp_path))
    local, _, _ = _member_offsets(bytes(data), "log.bin")
    data[local] ^= 0x01
    p = tmp_path / "magic.gt3x"
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="log.bin"):
        _read(p)


def test_gt3x_damaged_deflate_stream(tmp_path: Path) -> None:
    data = bytearray(_gt3x_bytes(tmp=tmp_path))
    local, _, info = _member_offsets(bytes(data), "log.bin")
    start = local + 30 + len(info.filename)
    data[start : start + 8] = b"\xff" * 8  # an invalid deflate block header
    p = tmp_path / "zlib.gt3x"
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="log.bin"):
        _read(p)


def test_gt3x_unknown_compression_method(tmp_path: Path) -> None:
    data = bytearray(_gt3x_bytes(tmp=tmp_path))
    _, cd, _ = _member_offsets(bytes(data), "log.bin")
    data[cd + 10 : cd + 12] = struct.pack("<H", 99)
    p = tmp_path / "method.gt3x"
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="log.bin"):
        _read(p)


@pytest.mark.parametrize("content", [b"[]", b"1e999", b"null", b'"x"'])
def test_gt3x_calibration_json_not_an_object_is_ignored(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "cal.gt3x"
    write_gt3x(p, _log(), info_txt(), {"calibration.json": content})
    _read(p)


@pytest.mark.parametrize("rate", ["nan", "inf", "-30", "1e308", "99999999999999999999999"])
def test_gt3x_damaged_sample_rate(tmp_path: Path, rate: str) -> None:
    p = tmp_path / "rate.gt3x"
    write_gt3x(p, _log(), info_txt().replace("Sample Rate: 30", f"Sample Rate: {rate}"))
    with pytest.raises(FormatError, match="Sample Rate"):
        _read(p)


@pytest.mark.parametrize("scale", ["nan", "-256", "inf"])
def test_gt3x_damaged_acceleration_scale(tmp_path: Path, scale: str) -> None:
    p = tmp_path / "scale.gt3x"
    write_gt3x(p, _log(), info_txt(scale=scale))
    with pytest.raises(FormatError, match="Acceleration Scale"):
        _read(p)


def test_gt3x_activity_bin_with_a_start_date_beyond_2262(tmp_path: Path) -> None:
    p = tmp_path / "old.gt3x"
    info = info_txt(serial="NEO1A000000").replace(f"Start Date: {ticks(T0)}", "Start Date: 99999999999999999999999")
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("info.txt", info)
        zf.writestr("activity.bin", bytes(90))
    with pytest.raises(FormatError, match="Start Date"):
        _read(p)


# ---------------------------------------------------------------------------------------- text readers
def test_wisdm_missing_timestamp(tmp_path: Path) -> None:
    p = tmp_path / "data_1600_accel_phone.txt"
    p.write_text("1600,A,252207666810782,-0.36,8.79,1.05;\n1600,A,,-0.87,9.76,1.01;\n")
    with pytest.raises(DataError, match="line 2: the timestamp is missing"):
        list(wisdm.read(p, IngestConfig())[0])


def test_wisdm_value_beyond_float32_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "data_1600_accel_phone.txt"
    big = "9" * 40
    p.write_text(f"1600,A,252207666810782,-0.36,8.79,1.05;\n1600,A,252207717164786,-0.87,{big},1.01;\n")
    with pytest.raises(DataError, match="line 2: .*out-of-range sensor value"):
        list(wisdm.read(p, IngestConfig())[0])


def test_csv_time_beyond_int64_nanoseconds_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    big = "9" * 40
    p.write_text(f"time,ax,ay,az\n1700000000000,0,0,1\n{big},0,0,1\n1700000000040,0,0,1\n")
    with pytest.raises(DataError, match="line 3: time value .* out of range"):
        list(csv_reader.read(p, IngestConfig(time_unit="ms"))[0])


# ------------------------------------------------------------------------------------------- GENEActiv
def test_geneactiv_replayed_page_time_is_dropped_and_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    raw = rng.integers(-2048, 2048, size=(3, 300, 3))
    times = ["2020-01-02 03:04:05:500", "2020-01-02 03:04:11:500", "2020-01-02 03:04:08:000"]  # page 3 overlaps 2
    p = tmp_path / "a.bin"
    p.write_text(bin_header(pages=3) + "".join(bin_page(k, times[k], raw[k]) for k in range(3)), newline="")
    table, info = geneactiv.read_all(p)
    t = table.column("time").cast("int64").to_numpy()
    assert np.all(np.diff(t) > 0)
    assert table.num_rows == 600
    assert info["counters"]["out_of_order_pages"] == 1


# --------------------------------------------------------------------------------- through the CLI
def test_cli_damaged_gt3x_is_one_red_line_and_exit_1(tmp_path: Path) -> None:
    data = bytearray(_gt3x_bytes(tmp=tmp_path))
    local, cd, _ = _member_offsets(bytes(data), "info.txt")
    for at in (local + 14, cd + 16):
        data[at] ^= 0x01
    p = tmp_path / "crc.gt3x"
    p.write_bytes(bytes(data))
    r = subprocess.run(
        [sys.executable, "-m", "wearfm", "ingest", str(p), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:") and "info.txt" in r.stderr
    assert not list((tmp_path / "out").glob("*.parquet")) or [q.name for q in (tmp_path / "out").glob("*.parquet")] == [
        "manifest.parquet"
    ]


def test_failed_ingest_keeps_earlier_recordings(tmp_path: Path) -> None:
    good = tmp_path / "in" / "good.csv"
    good.parent.mkdir()
    good.write_text("time,ax,ay,az\n" + "".join(f"{1700000000000 + 20 * i},0,0,1\n" for i in range(100)))
    out = tmp_path / "out"
    ingest([good], out, IngestConfig(format="csv"))
    before = (out / "good.parquet").read_bytes()
    bad = tmp_path / "in2" / "bad.gt3x"
    bad.parent.mkdir()
    bad.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(FormatError):
        ingest([bad], out, IngestConfig())
    assert (out / "good.parquet").read_bytes() == before
    assert pq.read_table(out / "manifest.parquet").num_rows == 1
    assert not [q for q in out.iterdir() if q.name.endswith(".tmp")]


def test_spswhar_missing_timestamp(tmp_path: Path) -> None:
    p = tmp_path / "s01_01_sw.csv"
    p.write_text("x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label\n0.0,0.0,0.0,0,0,0,,SEATED\n")
    with pytest.raises(DataError, match="line 2: time value is missing"):
        ingest([p], tmp_path / "out", IngestConfig(format="sp-sw-har"))


# ------------------------------------------------------------------- temporaries left by a kill -9
def test_ingest_removes_temporaries_left_by_a_killed_ingest(tmp_path: Path) -> None:
    src = tmp_path / "in" / "rec.csv"
    src.parent.mkdir()
    src.write_text("time,ax,ay,az\n" + "".join(f"{1700000000000 + 20 * i},0,0,1\n" for i in range(100)))
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".rec.seg000.parquet.0a1b2c3d.tmp", out / ".rec.parquet.deadbeef.tmp"]
    user = out / ".notes.tmp"  # not a name the writers use: left alone
    for p in [*stale, user]:
        p.write_bytes(b"partial")
    ingest([src], out, IngestConfig(format="csv"))
    assert not any(p.exists() for p in stale) and user.exists()


def test_atomic_write_removes_temporaries_of_dead_processes(tmp_path: Path) -> None:
    import os

    from wearfm._atomic import remove_stale_temporaries

    target = tmp_path / "model.onnx"
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    dead = tmp_path / f".model.onnx.{p.pid}.tmp"
    live = tmp_path / f".model.onnx.{os.getppid()}.tmp"  # a running process (this one's parent)
    for q in (dead, live):
        q.write_bytes(b"partial")
    assert remove_stale_temporaries(target) == 1
    assert not dead.exists() and live.exists()


def test_gt3x_sleep_gap_ending_at_a_damaged_far_future_record_is_not_filled(tmp_path: Path) -> None:
    # the fuzzing found a bit flip in log.bin whose damaged record passed the one-byte checksum and was stamped
    # far in the future: the idle-sleep fill then repeated one sample for years (a hang)
    xyz = np.full((30, 3), 1).astype("<i2").tobytes()
    log = log_record(0x1A, T0, xyz) + log_record(0x03, T0 + 1, b"\x08") + log_record(0x1A, T0 + 10**8, xyz)
    p = tmp_path / "far.gt3x"
    write_gt3x(p, log, info_txt(last=T0 + 2))
    table, info = gt3x.read_all(p)
    assert table.num_rows == 60  # the two records' samples, no fill
    assert info["counters"]["unfilled_sleep_seconds"] == 10**8 - 1
    write_gt3x(p, log, "\n".join(ln for ln in info_txt().splitlines() if not ln.startswith("Last Sample")))
    table, info = gt3x.read_all(p)  # no Last Sample Time: a gap over a month is not filled either
    assert table.num_rows == 60
