from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from wearfm.cli import app
from wearfm.data.windows import load_windows
from wearfm.signal.simulate import WeekSpec, simulate_week

runner = CliRunner()
SPEC = WeekSpec(days=1, rate_hz=2.0, seed=7, nonwear_h=((10.0, 3.0),))


def run(*args: object):  # noqa: ANN201
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("raw")
    t, xyz, _ = simulate_week(SPEC)
    with open(d / "s1.csv", "w") as f:
        f.write("time,ax,ay,az\n")
        np.savetxt(f, np.column_stack([t / 1e9, xyz]), fmt=["%.3f", "%.6f", "%.6f", "%.6f"], delimiter=",")
    return d


def _ingest(raw_dir: Path, out: Path, *extra: str):  # noqa: ANN202
    return run("ingest", raw_dir, "--acc-cols", "ax,ay,az", "--time-unit", "s", "--acc-unit", "g", "--out", out, *extra)


def test_ingest_calibrate_mark_then_qc(raw_dir: Path, tmp_path: Path) -> None:
    r = _ingest(raw_dir, tmp_path / "ds", "--calibrate", "--nonwear", "mark", "--quiet")
    assert r.exit_code == 0, r.output
    r = run("qc", tmp_path / "ds", "--json", "--plot", tmp_path / "qc.png")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    (row,) = report["recordings"]
    assert row["wear_hours"] == pytest.approx(21.0, abs=0.3) and row["nonwear_hours"] == pytest.approx(3.0, abs=0.3)
    assert row["calibration_applied"] and row["calibration_error_after_mg"] < 5 < row["calibration_error_before_mg"]
    assert row["gaps"] == 0 and row["rate_measured_hz"] == pytest.approx(2.0)
    assert report["summary"]["calibrated"] == 1 and report["summary"]["nonwear_checked"] == 1
    assert (tmp_path / "qc.png").stat().st_size > 1000 and report["plot"] == str(tmp_path / "qc.png")
    r = run("qc", tmp_path / "ds")
    assert r.exit_code == 0 and "s1.parquet" in r.stdout and "1 recordings" in r.stdout
    # windows overlapping the marked non-wear are skipped by default, exactly those with a marked sample
    ws = load_windows(tmp_path / "ds", rate_hz=2.0, window=120)
    everything = load_windows(tmp_path / "ds", rate_hz=2.0, window=120, nonwear="keep")
    nw = pq.read_table(tmp_path / "ds" / "s1.parquet", columns=["nonwear"]).column(0).to_numpy()
    marked = int(sum(nw[o : o + 120].any() for o in everything.offset))
    assert ws.nonwear_skipped == marked > 0 and len(ws) + marked == len(everything)
    assert everything.nonwear_skipped == 0


def test_ingest_drop_then_qc(raw_dir: Path, tmp_path: Path) -> None:
    r = _ingest(raw_dir, tmp_path / "ds", "--nonwear", "drop", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["recordings"] == 2
    assert sorted(p.name for p in (tmp_path / "ds").glob("*.parquet")) == [
        "manifest.parquet",
        "s1.part000.parquet",
        "s1.part001.parquet",
    ]
    report = json.loads(run("qc", tmp_path / "ds", "--json").stdout)
    assert report["summary"]["nonwear_hours"] == pytest.approx(3.0, abs=0.3)
    assert report["summary"]["wear_hours"] == pytest.approx(21.0, abs=0.3)


def test_plain_ingest_has_no_checks(raw_dir: Path, tmp_path: Path) -> None:
    assert _ingest(raw_dir, tmp_path / "ds", "--quiet").exit_code == 0
    cols = pq.ParquetFile(tmp_path / "ds" / "s1.parquet").schema_arrow.names
    assert "nonwear" not in cols
    report = json.loads(run("qc", tmp_path / "ds", "--json").stdout)
    assert report["recordings"][0]["wear_hours"] is None and report["recordings"][0]["calibration_applied"] is None
    ws = load_windows(tmp_path / "ds", rate_hz=2.0, window=120)
    assert ws.nonwear_skipped == 0


def test_bad_option_values(raw_dir: Path, tmp_path: Path) -> None:
    r = _ingest(raw_dir, tmp_path / "ds", "--nonwear", "maybe")
    assert r.exit_code != 0 and "maybe" in r.output
    r = _ingest(raw_dir, tmp_path / "ds", "--set", "nonwear=maybe")
    assert r.exit_code == 1 and "nonwear must be one of ['keep', 'mark', 'drop']" in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1
    r = run("qc", tmp_path / "nothing")
    assert r.exit_code != 0
    assert pa is not None
