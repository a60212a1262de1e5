from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests._helpers.text import write_csv
from wearfm.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help():
    assert run("ingest", "--help").exit_code == 0
    assert run("info", "--help").exit_code == 0


def test_ingest_then_info_json(tmp_path):
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "a.csv", labels=True)
    write_csv(tmp_path / "in" / "b.csv", seed=1)
    r = run("ingest", tmp_path / "in", "--out", tmp_path / "out", "--json", "--subject-from", "name:(\\w)\\.csv")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["recordings"] == 2 and s["rows"] == 1000 and s["errors"] == []
    r = run("info", tmp_path / "out", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["recordings"] == 2 and d["subjects"] == 2 and d["rate_hz"]["median"] == pytest.approx(50.0)
    assert d["labels"] == {"walk": 125, "sit": 250}
    r = run("info", tmp_path / "out" / "a.parquet")
    assert r.exit_code == 0 and "recordings" in r.stdout  # results on stdout
    r = run("info", tmp_path / "out")
    assert r.exit_code == 0 and "recordings" in r.stdout and "walk" in r.stdout
    r = run("ingest", tmp_path / "in", "--out", tmp_path / "out", "--quiet")
    assert r.exit_code == 0 and r.stdout == ""


def _one_line_error(r, *needles):
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    for n in needles:
        assert n in r.output, r.output


def test_bad_inputs_give_one_clear_line(tmp_path):
    _one_line_error(run("ingest", tmp_path / "nope.csv", "--out", tmp_path / "o"), "nope.csv", "no such file")
    (tmp_path / "empty.csv").write_text("")
    _one_line_error(run("ingest", tmp_path / "empty.csv", "--out", tmp_path / "o"), "empty.csv", "empty")
    (tmp_path / "blob.xyz").write_bytes(bytes(range(256)) * 4)
    _one_line_error(run("ingest", tmp_path / "blob.xyz", "--out", tmp_path / "o"), "blob.xyz", "--format")
    (tmp_path / "cols.csv").write_text("time,u,v\n" + "".join(f"{i},1,2\n" for i in range(100)))
    _one_line_error(run("ingest", tmp_path / "cols.csv", "--out", tmp_path / "o"), "cols.csv", "--acc-cols")
    (tmp_path / "nan.csv").write_text(
        "time,x,y,z\n" + "".join(f"{1000 + 20 * i},0,0,{'nan' if i > 50 else 1}\n" for i in range(100))
    )
    _one_line_error(run("ingest", tmp_path / "nan.csv", "--out", tmp_path / "o"), "nan.csv", "line 53")
    (tmp_path / "time.csv").write_text("time,x,y,z\n" + "".join(f"noon{i},0,0,1\n" for i in range(100)))
    _one_line_error(run("ingest", tmp_path / "time.csv", "--out", tmp_path / "o"), "time.csv", "line 2")
    (tmp_path / "short.csv").write_text("time,x,y,z\n1000,0,0,1\n1020,0,0,1\n")
    _one_line_error(run("ingest", tmp_path / "short.csv", "--out", tmp_path / "o"), "short.csv", "min_duration_s")
    _one_line_error(run("ingest", tmp_path / "short.csv", "--out", tmp_path / "o", "--format", "pdf"), "pdf")
    _one_line_error(run("ingest", tmp_path / "short.csv", "--out", tmp_path / "o", "--set", "jobs=x"), "jobs")
    # none of these inputs may leave anything behind: no recording, no manifest, no temporary file
    assert [p for p in (tmp_path / "o").rglob("*") if p.is_file()] == []


def test_on_error_skip_lists_failures_and_exits_zero(tmp_path):
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "good.csv")
    (tmp_path / "in" / "empty.csv").write_text("")
    r = run("ingest", tmp_path / "in", "--out", tmp_path / "out", "--on-error", "skip", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["recordings"] == 1 and len(s["errors"]) == 1 and "empty.csv" in s["errors"][0]["file"]
    r = run("ingest", tmp_path / "in", "--out", tmp_path / "out2", "--on-error", "skip", "--overwrite")
    assert r.exit_code == 0 and "empty.csv" in r.output and "skipped (--on-error skip)" in r.output
    # stopping at the first bad file is a failure
    assert run("ingest", tmp_path / "in", "--out", tmp_path / "out3").exit_code == 1


def test_on_error_skip_with_every_file_failing_exits_one(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.csv").write_text("")
    r = run("ingest", tmp_path / "in", "--out", tmp_path / "out", "--on-error", "skip")
    _one_line_error(r, "empty.csv", "no input could be read")


def test_named_file_is_read_with_the_stated_format(tmp_path):
    from tests._helpers.text import write_wisdm

    acc, _ = write_wisdm(tmp_path / "raw")
    renamed = tmp_path / "subj1600.txt"  # a WISDM file under a name the preset does not know
    renamed.write_bytes(acc.read_bytes())
    for fmt in ("wisdm", "auto"):
        r = run("ingest", renamed, "--format", fmt, "--out", tmp_path / f"out-{fmt}", "--json")
        assert r.exit_code == 0, r.output
        s = json.loads(r.stdout)
        assert s["ignored"] == 0 and s["recordings"] == 2 and s["rows"] > 0
    d = json.loads(run("info", tmp_path / "out-wisdm", "--json").stdout)
    assert d["subject_ids"] == ["1600"]


def test_inputs_with_no_recording_are_an_error(tmp_path):
    from tests._helpers.text import write_wisdm

    acc, _ = write_wisdm(tmp_path / "raw")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "subj1600.txt").write_bytes(acc.read_bytes())
    # found in a folder, a file the preset does not recognise is ignored; with nothing left that is an error
    r = run("ingest", tmp_path / "other", "--format", "wisdm", "--out", tmp_path / "out")
    _one_line_error(r, "subj1600.txt", "wisdm recording")


def test_header_only_csv_says_no_data_rows_with_any_format(tmp_path):
    (tmp_path / "hdr.csv").write_text("time,x,y,z\n")
    for fmt in ("auto", "csv"):
        r = run("ingest", tmp_path / "hdr.csv", "--format", fmt, "--out", tmp_path / "o")
        _one_line_error(r, "hdr.csv", "no data rows")
        assert "unknown file format" not in r.output


def test_info_on_missing_dataset(tmp_path):
    (tmp_path / "d").mkdir()
    _one_line_error(run("info", tmp_path / "d"), "no recordings")


def test_issue_example_glob_columns_subject_from_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for subj in ("p1", "p2"):
        d = tmp_path / "recordings" / subj
        d.mkdir(parents=True)
        lines = ["t;ax;ay;az;temp"] + [f"{i * 0.01:.2f};0.0;0.0;9.81;30" for i in range(300)]
        (d / "day1.csv").write_text("\n".join(lines) + "\n")
    r = run(
        "ingest",
        "recordings/**/*.csv",
        "--acc-cols",
        "ax,ay,az",
        "--time-col",
        "t",
        "--subject-from",
        "path:1",
        "--out",
        "data/mine",
        "--json",
    )
    assert r.exit_code == 0, r.output
    d = json.loads(run("info", "data/mine", "--json").stdout)
    assert d["subject_ids"] == ["p1", "p2"] and d["rate_hz"]["median"] == pytest.approx(100.0)
    assert sorted(x["path"] for x in d["recording_list"]) == ["p1/day1.parquet", "p2/day1.parquet"]


_SIGTERM_DURING_WRITE = """
import os, signal
from wearfm.io import writer
flush = writer.RecordingWriter._flush
def flush_then_term(self, background=False):
    flush(self, background)
    if self.tmp.exists():  # a temporary file is being written: SIGTERM now
        os.kill(os.getpid(), signal.SIGTERM)
writer.RecordingWriter._flush = flush_then_term
from wearfm.cli import app
app(prog_name="wearfm")
"""


def test_sigterm_removes_temporary_files_and_exits_143(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    write_csv(tmp_path / "rec.csv", seconds=60)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = ["ingest", str(tmp_path / "rec.csv"), "--out", str(tmp_path / "out"), "--set", "chunk_rows=200"]
    r = subprocess.run([sys.executable, "-c", _SIGTERM_DURING_WRITE, *args], env=env, capture_output=True, text=True)
    assert r.returncode == 143, r.stderr
    assert "terminated" in r.stderr and "Traceback" not in r.stderr
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


def test_summary_and_info_say_how_subjects_were_assigned(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("P01_day1", "P01_day2"):
        write_csv(tmp_path / "in" / f"{name}.csv")
    r = run("ingest", tmp_path / "in", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    text = _flat(r.output)
    assert "subjects 1 (from file name minus day/part suffix: 2 recordings)" in text
    assert "look like one person's days" in text
    s = json.loads(run("ingest", tmp_path / "in", "--out", tmp_path / "out", "--json").stdout)
    assert s["subjects"] == 1 and s["subject_source"] == {"file name minus day/part suffix": 2}
    d = json.loads(run("info", tmp_path / "out", "--json").stdout)
    assert d["subject_ids"] == ["P01"] and d["subject_source"] == {"file name minus day/part suffix": 2}
    assert "subjects 1 (from file name minus day/part suffix: 2 recordings)" in _flat(
        run("info", tmp_path / "out").output
    )


def _flat(output):
    """Console output as one line: table borders and line wrapping removed."""
    return " ".join(output.replace("│", " ").split())


def test_summary_tables_go_to_stdout(tmp_path):
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "a.csv")
    r = run("ingest", tmp_path / "in", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "ingest ->" in r.stdout and "ingest ->" not in r.stderr
    r = run("ingest", tmp_path / "in", "--out", tmp_path / "sharded", "--shard", "1/1", "-q")
    assert r.exit_code == 0, r.output
    r = run("manifest", tmp_path / "sharded")
    assert r.exit_code == 0, r.output
    assert "manifest" in r.stdout and "1 of 1 parts" in _flat(r.stdout) and "parts" not in r.stderr
