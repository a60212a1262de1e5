from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests._helpers.text import T0_MS, write_csv
from wearfm.config import IngestConfig
from wearfm.errors import DataError
from wearfm.io import csv as csv_reader
from wearfm.io.detect import detect_acc_unit, detect_time_unit, has_header, sniff_delimiter

CFG = IngestConfig()


def read_all(path: Path, cfg: IngestConfig = CFG) -> tuple[pa.Table, dict]:
    chunks, info = csv_reader.read(path, cfg)
    return pa.concat_tables(list(chunks)), info


def acc(t: pa.Table) -> np.ndarray:
    return np.column_stack([t.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z")])


def test_header_ms_g_roundtrip(tmp_path):
    t_ns, x = write_csv(tmp_path / "a.csv")
    t, info = read_all(tmp_path / "a.csv")
    assert t.column_names == ["time", "acc_x", "acc_y", "acc_z"]
    np.testing.assert_array_equal(t.column("time").cast(pa.int64()).to_numpy(), t_ns // 1_000_000 * 1_000_000)
    np.testing.assert_allclose(acc(t), x, atol=2e-6)
    assert info["counters"]["time_unit"] == "ms" and info["counters"]["acc_unit_input"] == "g"


def test_ms2_detected_and_converted(tmp_path):
    _, x = write_csv(tmp_path / "a.csv", unit="m/s2", activity="lie")
    t, info = read_all(tmp_path / "a.csv")
    assert info["counters"]["acc_unit_input"] == "m/s2"
    np.testing.assert_allclose(acc(t), x, atol=1e-5)


def test_acc_unit_ambiguous_asks_for_option(tmp_path):
    p = tmp_path / "a.csv"
    write_csv(p, unit="g")
    text = p.read_text().splitlines()
    rows = [text[0]] + [",".join([r.split(",")[0]] + [str(float(v) * 4) for v in r.split(",")[1:]]) for r in text[1:]]
    p.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="--acc-unit"):
        read_all(p)
    t, _ = read_all(p, replace(CFG, acc_unit="g"))
    assert t.num_rows == 500


def test_gyro_rad_to_deg_and_deg_option(tmp_path):
    _, x = write_csv(tmp_path / "a.csv", gyro=True)
    t, _ = read_all(tmp_path / "a.csv")
    assert t.column_names[-3:] == ["gyr_x", "gyr_y", "gyr_z"]
    np.testing.assert_allclose(t.column("gyr_x").to_numpy(), x[:, 3], atol=1e-3)
    t2, _ = read_all(tmp_path / "a.csv", replace(CFG, gyr_unit="deg/s"))
    np.testing.assert_allclose(t2.column("gyr_x").to_numpy(), np.deg2rad(x[:, 3]), atol=1e-5)


@pytest.mark.parametrize("delimiter", ["\t", ";", "whitespace"])
def test_delimiters(tmp_path, delimiter):
    _, x = write_csv(tmp_path / "a.txt", delimiter=delimiter)
    t, _ = read_all(tmp_path / "a.txt")
    np.testing.assert_allclose(acc(t), x, atol=2e-6)


def test_whitespace_with_padding(tmp_path):
    p = tmp_path / "a.dat"
    p.write_text("  time   x  y   z\n" + "".join(f" {i * 0.02:.2f}   0.0  0.0   1.0  \n" for i in range(200)))
    t, info = read_all(p)
    assert t.num_rows == 200 and info["counters"]["time_unit"] == "s"
    assert np.allclose(t.column("acc_z").to_numpy(), 1.0)


def test_no_header_index_columns(tmp_path):
    t_ns, x = write_csv(tmp_path / "a.csv", header=False)
    t, _ = read_all(tmp_path / "a.csv")  # time first, then three acc columns, by default
    np.testing.assert_allclose(acc(t), x, atol=2e-6)
    t2, _ = read_all(tmp_path / "a.csv", replace(CFG, acc_cols=("1", "2", "3"), time_col="0"))
    assert t2.equals(t)


@pytest.mark.parametrize("time", ["s", "rel_s", "iso"])
def test_time_formats(tmp_path, time):
    t_ns, _ = write_csv(tmp_path / "a.csv", time=time)
    t, info = read_all(tmp_path / "a.csv")
    got = t.column("time").cast(pa.int64()).to_numpy()
    d = np.diff(got)
    assert np.all(np.abs(d - 20_000_000) <= 1_000), d[:5]  # 50 Hz
    if time != "rel_s":
        assert abs(int(got[0]) - int(t_ns[0])) < 1_000_000


def test_iso_with_zone_offset(tmp_path):
    p = tmp_path / "a.csv"
    rows = [f"2024-05-01T10:00:{i // 50:02d}.{(i % 50) * 20:03d}+02:00,0,0,1" for i in range(200)]
    p.write_text("time,x,y,z\n" + "\n".join(rows) + "\n")
    t, _ = read_all(p)
    first = t.column("time")[0].as_py()
    assert first.hour == 8  # converted to UTC


def test_no_time_column_with_rate_and_start(tmp_path):
    write_csv(tmp_path / "a.csv", time="none")
    t, _ = read_all(tmp_path / "a.csv", replace(CFG, rate_hz=25.0, start_time="2024-01-01T00:00:00"))
    got = t.column("time").cast(pa.int64()).to_numpy()
    assert got[0] == np.datetime64("2024-01-01T00:00:00", "ns").astype(np.int64)
    assert np.all(np.diff(got) == 40_000_000)


def test_no_time_column_needs_rate(tmp_path):
    write_csv(tmp_path / "a.csv", time="none")
    with pytest.raises(DataError, match="--rate"):
        read_all(tmp_path / "a.csv")


def test_labels_kept_and_unlabelled_null(tmp_path):
    write_csv(tmp_path / "a.csv", labels=True)
    t, _ = read_all(tmp_path / "a.csv")
    lab = t.column("label").combine_chunks().dictionary_decode().to_pylist()
    assert lab[0] is None and lab[-1] == "sit" and "walk" in lab
    assert pa.types.is_dictionary(t.schema.field("label").type)


def test_gzip_transparent(tmp_path):
    _, x = write_csv(tmp_path / "a.csv")
    gz = tmp_path / "b.csv.gz"
    gz.write_bytes(gzip.compress((tmp_path / "a.csv").read_bytes()))
    t, _ = read_all(gz)
    np.testing.assert_allclose(acc(t), x, atol=2e-6)


def test_chunks_are_bounded_and_equal_to_one_shot(tmp_path):
    write_csv(tmp_path / "a.csv", seconds=200)  # 10k rows
    chunks, _ = csv_reader.read(tmp_path / "a.csv", replace(CFG, chunk_rows=1000))
    parts = list(chunks)
    assert len(parts) > 3
    assert pa.concat_tables(parts).equals(read_all(tmp_path / "a.csv")[0])


@pytest.mark.parametrize("header", [True, False])
def test_parallel_blocks_equal_arrow_streaming(tmp_path, monkeypatch, header):
    # large plain files are cut into Arrow's own blocks and parsed on threads: same batches, same errors
    p = tmp_path / "a.csv"
    write_csv(p, seconds=400, labels=True, header=header)  # 20k rows, ~0.9 MB
    cfg = replace(CFG, chunk_rows=1000, **({} if header else {"acc_cols": ("1", "2", "3"), "time_col": "0"}))
    streamed = list(csv_reader.read(p, cfg)[0])
    monkeypatch.setattr(csv_reader, "_PARALLEL_BYTES", 0)
    blocks = list(csv_reader.read(p, cfg)[0])
    assert len(blocks) == len(streamed) > 3
    assert all(a.equals(b) for a, b in zip(blocks, streamed, strict=True))
    lines = p.read_text().splitlines()
    lines[15_000] = lines[15_000].replace(",", ",abc", 2)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as parallel:
        list(csv_reader.read(p, cfg)[0])
    monkeypatch.setattr(csv_reader, "_PARALLEL_BYTES", 1 << 40)
    with pytest.raises(DataError) as serial:
        list(csv_reader.read(p, cfg)[0])
    assert str(parallel.value) == str(serial.value)
    assert "Row #15001" in str(serial.value)  # the file line of the bad value


@pytest.mark.parametrize("header", [True, False])
def test_in_memory_parse_equals_streaming(tmp_path, header):
    # a small file whose bytes the caller already read is parsed from them: same chunks, same errors
    p = tmp_path / "a.csv"
    write_csv(p, seconds=100, labels=True, header=header)
    cfg = replace(CFG, **({} if header else {"acc_cols": ("1", "2", "3"), "time_col": "0"}))
    streamed = list(csv_reader.read(p, cfg)[0])
    in_memory = list(csv_reader.read(p, cfg, p.read_bytes())[0])
    assert len(in_memory) == len(streamed) == 1 and in_memory[0].equals(streamed[0])
    small_blocks = replace(cfg, chunk_rows=500)  # several blocks: the same batches from the bytes as from the file
    parts = list(csv_reader.read(p, small_blocks, p.read_bytes())[0])
    assert len(parts) > 1 and all(a.equals(b) for a, b in zip(parts, csv_reader.read(p, small_blocks)[0], strict=True))
    lines = p.read_text().splitlines()
    lines[300] = lines[300].replace(",", ",abc", 2)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as from_memory:
        list(csv_reader.read(p, cfg, p.read_bytes())[0])
    with pytest.raises(DataError) as from_file:
        list(csv_reader.read(p, cfg)[0])
    assert str(from_memory.value) == str(from_file.value)


def test_subject_and_session_sources(tmp_path):
    d = tmp_path / "subj7" / "day2"
    d.mkdir(parents=True)
    write_csv(d / "rec_S42.csv")
    _, info = read_all(d / "rec_S42.csv", replace(CFG, subject_from="path:-3", session_from="name:rec_(S\\d+)"))
    assert info["subject"] == "subj7" and info["session"] == "S42"
    _, info = read_all(d / "rec_S42.csv", replace(CFG, subject_from="value:P1"))
    assert info["subject"] == "P1"


def test_subject_from_column(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("who,t,x,y,z\n" + "".join(f"P9,{i * 0.02:.2f},0,0,1\n" for i in range(100)))
    chunks, info = csv_reader.read(p, replace(CFG, subject_from="column:who"))
    list(chunks)
    assert info["subject"] == "P9"


def test_missing_and_non_numeric_columns(tmp_path):
    write_csv(tmp_path / "a.csv")
    with pytest.raises(DataError, match=r"a\.csv.*not found"):
        read_all(tmp_path / "a.csv", replace(CFG, acc_cols=("u", "v", "w")))
    p = tmp_path / "b.csv"
    p.write_text("time,x,y,z\n" + "".join(f"{1000 + i * 20},0,0,1\n" for i in range(50)) + "2000,0,abc,1\n")
    with pytest.raises(DataError, match=r"b\.csv"):
        read_all(p)


def test_nan_rows_error_with_line_or_dropped(tmp_path):
    p = tmp_path / "a.csv"
    rows = [f"{1000 + i * 20},0,0,1" for i in range(100)]
    rows[10] = "1200,0,nan,1"
    p.write_text("time,x,y,z\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="line 12"):
        read_all(p)
    t, _ = read_all(p, replace(CFG, nonfinite="drop"))
    assert t.num_rows == 99


def test_bad_time_names_the_line(tmp_path):
    p = tmp_path / "a.csv"
    rows = [f"2024-05-01T10:00:{i // 50:02d}.{(i % 50) * 20:03d},0,0,1" for i in range(100)]
    rows[5] = "yesterday,0,0,1"
    p.write_text("time,x,y,z\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="line 7.*yesterday"):
        read_all(p)


def test_header_only_is_an_error(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("time,x,y,z\n")
    with pytest.raises(DataError):
        read_all(p)


def test_detection_helpers():
    assert sniff_delimiter(["a\tb\tc", "1\t2\t3"]) == "\t"
    assert sniff_delimiter(["1 2  3", "4 5 6"]) == "whitespace"
    assert has_header(["time", "x"]) and not has_header(["1.5", "2"]) and not has_header(["2024-01-01T00:00", "1"])
    p = Path("f.csv")
    assert detect_time_unit(np.array([T0_MS, T0_MS + 20.0]), p) == "ms"
    assert detect_time_unit(np.array([T0_MS * 1e6, T0_MS * 1e6 + 2e7]), p) == "ns"
    assert detect_time_unit(np.array([T0_MS / 1e3, T0_MS / 1e3 + 0.02]), p) == "s"
    assert detect_time_unit(np.arange(10) * 0.01, p) == "s"
    assert detect_time_unit(np.arange(10) * 10.0, p) == "ms"
    still = np.tile([0.0, 0.0, 9.81], (200, 1))
    assert detect_acc_unit(still, p) == "m/s2" and detect_acc_unit(still / 9.81, p) == "g"


def test_sniff():
    assert csv_reader.sniff(b"time,x,y,z\n1,2,3,4\n5,6,7,8\n", Path("a.csv"))
    assert not csv_reader.sniff(b"\x00\x01binary", Path("a.bin"))
