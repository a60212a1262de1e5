"""Device-software CSV exports (ActiLife, GENEActiv, OMGUI) and generic preambles (--skip-rows)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests._helpers.exports import START_NS, actilife_csv, geneactiv_csv, omgui_csv
from tests._helpers.text import write_csv
from wearfm.config import IngestConfig
from wearfm.errors import DataError, FormatError
from wearfm.io import actilife_csv as actilife
from wearfm.io import csv as csv_reader
from wearfm.io import geneactiv_csv as geneactiv
from wearfm.io import omgui_csv as omgui
from wearfm.io.detect import detect_format
from wearfm.io.ingest import ingest
from wearfm.io.schema import read_metadata

CFG = IngestConfig()


def read_all(mod, path: Path, cfg: IngestConfig = CFG) -> tuple[pa.Table, dict]:
    chunks, info = mod.read(path, cfg)
    return pa.concat_tables(list(chunks)), info


def times(t: pa.Table) -> np.ndarray:
    return t.column("time").cast(pa.int64()).to_numpy()


def acc(t: pa.Table) -> np.ndarray:
    return np.column_stack([t.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z")])


@pytest.mark.parametrize("hz", [30, 60, 80, 100])
@pytest.mark.parametrize("timestamps,names", [(False, True), (True, True), (False, False), (True, False)])
def test_actilife_roundtrip(tmp_path, hz, timestamps, names):
    p = tmp_path / "a.csv"
    t_ns, x = actilife_csv(p, seconds=5, hz=hz, timestamps=timestamps, names=names)
    assert detect_format(p) == "actilife-csv"
    t, info = read_all(actilife, p)
    np.testing.assert_array_equal(times(t), t_ns)
    np.testing.assert_allclose(acc(t), x, atol=1e-6)
    assert info["sample_rate_nominal_hz"] == hz
    assert info["device"] == "ActiGraph GT3X+" and info["device_serial"] == "MOS2E22180349"
    assert info["time_reference"] == "local" and info["reader"] == "actilife-csv"
    assert times(t)[0] == START_NS


@pytest.mark.parametrize("order", ["dmy", "ymd"])
def test_actilife_date_format_from_header(tmp_path, order):
    # 2021-05-12: in d/M/yyyy the day comes first; read as M/d/yyyy it would be 5 December
    p = tmp_path / "a.csv"
    t_ns, _ = actilife_csv(p, seconds=2, order=order, timestamps=True)
    t, _ = read_all(actilife, p)
    np.testing.assert_array_equal(times(t), t_ns)
    p2 = tmp_path / "b.csv"
    t_ns, _ = actilife_csv(p2, seconds=2, order=order, timestamps=False)
    assert times(read_all(actilife, p2)[0])[0] == START_NS


def test_actilife_metadata_in_dataset(tmp_path):
    (tmp_path / "raw").mkdir()
    actilife_csv(tmp_path / "raw" / "p01.csv", seconds=5)
    s = ingest([tmp_path / "raw"], tmp_path / "d")
    assert s.recordings == 1
    meta = read_metadata(tmp_path / "d" / "p01.parquet")
    assert meta["device"] == "ActiGraph GT3X+" and meta["device_serial"] == "MOS2E22180349"
    assert meta["sample_rate_nominal_hz"] == 30 and meta["reader"] == "actilife-csv"


def test_actilife_rate_mismatch_warns_and_uses_timestamps(tmp_path, caplog):
    p = tmp_path / "a.csv"
    t_ns, _ = actilife_csv(p, seconds=4, hz=50, header_rate=30, timestamps=True)
    with caplog.at_level(logging.WARNING, logger="wearfm"):
        t, info = read_all(actilife, p)
    np.testing.assert_array_equal(times(t), t_ns)
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "header says 30 Hz" in msg and "timestamps say 50 Hz" in msg and "using the timestamps" in msg
    assert info["counters"]["timestamp_rate_hz"] == pytest.approx(50, rel=1e-3)


def test_actilife_bad_header_names_file_and_line(tmp_path):
    p = tmp_path / "a.csv"
    actilife_csv(p, seconds=2)
    lines = p.read_text().splitlines()
    lines[3] = "Start Date 2021/13/45x"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"a\.csv: line 4: cannot parse the ActiLife header"):
        read_all(actilife, p)
    lines[0] = lines[0].replace("date format M/d/yyyy", "date format Q/q")
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"line 1: cannot parse the ActiLife header"):
        read_all(actilife, p)


@pytest.mark.parametrize("names", [False, True])
def test_geneactiv_csv_roundtrip(tmp_path, names):
    p = tmp_path / "g.csv"
    t_ns, x = geneactiv_csv(p, seconds=5, names=names)
    assert detect_format(p) == "geneactiv-csv"
    t, info = read_all(geneactiv, p)
    assert t.column_names == ["time", "acc_x", "acc_y", "acc_z"]  # lux, button, temperature dropped
    np.testing.assert_array_equal(times(t), t_ns)
    np.testing.assert_allclose(acc(t), x, atol=1e-6)
    assert info["sample_rate_nominal_hz"] == 100 and info["device_serial"] == "034567"
    assert info["device"] == "GENEActiv" and info["time_reference"] == "local"


def test_geneactiv_csv_bad_frequency(tmp_path):
    p = tmp_path / "g.csv"
    geneactiv_csv(p, seconds=2)
    p.write_text(p.read_text().replace("Measurement Frequency,100 Hz", "Measurement Frequency,fast"))
    with pytest.raises(FormatError, match=r"g\.csv: line 8: cannot parse the GENEActiv header"):
        read_all(geneactiv, p)


def test_geneactiv_csv_rate_mismatch(tmp_path, caplog):
    p = tmp_path / "g.csv"
    geneactiv_csv(p, seconds=3, hz=50, header_rate=100)
    with caplog.at_level(logging.WARNING, logger="wearfm"):
        read_all(geneactiv, p)
    assert "header says 100 Hz but the timestamps say 50 Hz" in caplog.text


@pytest.mark.parametrize("gyro", [False, True])
def test_omgui_roundtrip(tmp_path, gyro):
    p = tmp_path / "o.csv"
    t_ns, x = omgui_csv(p, seconds=5, gyro=gyro)
    assert detect_format(p) == "omgui-csv"
    t, info = read_all(omgui, p)
    np.testing.assert_array_equal(times(t), t_ns)
    np.testing.assert_allclose(acc(t), x[:, :3], atol=1e-6)
    if gyro:
        gyr = np.column_stack([t.column(c).to_numpy() for c in ("gyr_x", "gyr_y", "gyr_z")])
        np.testing.assert_allclose(gyr, x[:, 3:], atol=1e-4)  # deg/s, unchanged
        assert info["device"] == "Axivity AX6"
    assert info["time_reference"] == "local"


def test_omgui_iso_t_with_explicit_format(tmp_path):
    p = tmp_path / "o.csv"
    t_ns, _ = omgui_csv(p, seconds=3, iso_t=True)
    assert detect_format(p) == "csv"  # ISO with T: not claimed by content
    t, _ = read_all(omgui, p)
    np.testing.assert_array_equal(times(t), t_ns)


def test_skip_rows_generic(tmp_path):
    p = tmp_path / "odd.csv"
    write_csv(p, seconds=5, hz=50, header=False, time="none")
    body = p.read_text()
    pre = "".join(f"device note {i}: something\n" for i in range(12))
    p.write_text(pre + body)
    cfg = replace(CFG, skip_rows=12, acc_cols=("0", "1", "2"), rate_hz=50.0)
    t, _ = read_all(csv_reader, p, cfg)
    assert t.num_rows == 250
    with pytest.raises(DataError):  # without --skip-rows the preamble's text cannot be numbers
        read_all(csv_reader, p, replace(cfg, skip_rows=0, header="no"))


def test_preamble_header_detected_by_names(tmp_path):
    p = tmp_path / "pre.csv"
    t_ns, x = write_csv(p, seconds=5, hz=50)
    p.write_text("Exported by SomeApp 2.1\nSubject: 7\n\n" + p.read_text())
    t, _ = read_all(csv_reader, p)
    np.testing.assert_array_equal(times(t), t_ns // 1_000_000 * 1_000_000)
    np.testing.assert_allclose(acc(t), x, atol=2e-6)


def test_skip_rows_parallel_path_matches(tmp_path, monkeypatch):
    p = tmp_path / "big.csv"
    write_csv(p, seconds=60, hz=50)
    p.write_text("a,b\nc\n" + p.read_text())
    ref, _ = read_all(csv_reader, p, replace(CFG, skip_rows=2))
    monkeypatch.setattr(csv_reader, "_PARALLEL_BYTES", 1)
    got, _ = read_all(csv_reader, p, replace(CFG, skip_rows=2, chunk_rows=500))
    assert got.equals(ref)


def test_cli_actilife_and_skip_rows(tmp_path):
    from typer.testing import CliRunner

    from wearfm.cli import app

    actilife_csv(tmp_path / "ag.csv", seconds=5)
    r = CliRunner().invoke(app, ["ingest", str(tmp_path / "ag.csv"), "--out", str(tmp_path / "d"), "--json"])
    assert r.exit_code == 0, r.output
    p = tmp_path / "odd.csv"
    write_csv(p, seconds=5, hz=50, header=False, time="none")
    p.write_text("x\n" * 12 + p.read_text())
    args = ["ingest", str(p), "--skip-rows", "12", "--acc-cols", "0,1,2", "--rate", "50", "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output


def test_geneactiv_csv_other_header_length(tmp_path):
    p = tmp_path / "g.csv"
    t_ns, x = geneactiv_csv(p, seconds=3)
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:90] + lines[100:]) + "\n")  # 90 header lines instead of 100
    t, _ = read_all(geneactiv, p)
    np.testing.assert_array_equal(times(t), t_ns)
    np.testing.assert_allclose(acc(t), x, atol=1e-6)


def test_no_header_naming_columns_skips_nothing(tmp_path):
    p = tmp_path / "trailing.csv"
    p.write_text("a,b,c\n" + "".join(f"{i},0.1,0.2,1.0,\n" for i in range(100)))  # rows end with a delimiter
    assert csv_reader._preamble(p, p.read_text().splitlines(), CFG) == 0
