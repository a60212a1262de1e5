"""CLI: `wearfm export` and `wearfm embed` in-process, including bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests._helpers.labelled import write_dataset
from wearfm.cli import app
from wearfm.models.saved import EncoderSpec, build_model, save_encoder

ACC = ("acc_x", "acc_y", "acc_z")
runner = CliRunner()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_export")
    write_dataset(root / "data", subjects=("s1", "s2"), seconds=20)
    save_encoder(
        build_model(EncoderSpec("cnn_gru_tiny", {"in_channels": 3}, 30.0, 60, ACC, method="simclr")), root / "run"
    )
    save_encoder(build_model(EncoderSpec("resnet1d_tiny", {"in_channels": 3}, 30.0, 60, ACC)), root / "conv")
    return root


def test_help() -> None:
    for cmd in ("export", "embed"):
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0 and "--out" in r.output


def test_export_embed_chain(work: Path) -> None:
    r = runner.invoke(app, ["export", str(work / "run"), "--out", str(work / "m.onnx"), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["max_abs_diff"] <= 1e-4 and s["exporter"] == "torchscript" and s["quantization"] == "none"
    assert {c["batch"] for c in s["checks"]} == {1, 7, 64}
    r = runner.invoke(app, ["info", str(work / "m.onnx"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["metadata"]["method"] == "simclr"
    r = runner.invoke(
        app, ["embed", str(work / "data"), "--model", str(work / "m.onnx"), "--out", str(work / "e.parquet"), "--json"]
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert pq.read_table(work / "e.parquet").num_rows == s["windows"] > 0


def test_export_summary_table_goes_to_stdout(work: Path) -> None:
    r = runner.invoke(app, ["export", str(work / "conv"), "--out", str(work / "table.onnx")])
    assert r.exit_code == 0, r.output
    assert "exporter / opset" in r.stdout and "exporter / opset" not in r.stderr  # the table, not the log line


def test_export_int8_static_with_calibration(work: Path) -> None:
    out = work / "q.onnx"
    r = runner.invoke(
        app,
        [
            "export",
            str(work / "conv"),
            "--out",
            str(out),
            "--quantize",
            "int8",
            "--calibration",
            str(work / "data"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["quantization"] == "int8-static-qdq" and Path(s["fp32_path"]).exists() and out.exists()
    assert s["quantization_info"]["calibration_windows"] > 0 and s["int8_mean_cosine"] > 0.9
    assert {c["inputs"] for c in s["checks"]} == {"random", "realistic", "real"}


def test_bad_inputs(work: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["export", str(work / "data"), "--out", str(tmp_path / "x.onnx")])
    assert r.exit_code == 1 and "no saved encoder" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    r = runner.invoke(app, ["export", str(bad), "--out", str(tmp_path / "x.onnx")])
    assert r.exit_code == 1 and "not a readable wearfm encoder" in r.output
    r = runner.invoke(app, ["export", str(work / "conv"), "--out", str(tmp_path / "x.onnx"), "--quantize", "int8"])
    assert r.exit_code == 1 and "calibration" in r.output
    (tmp_path / "f").write_text("x")
    r = runner.invoke(
        app, ["embed", str(work / "data"), "--model", str(work / "run"), "--out", str(tmp_path / "f" / "e.parquet")]
    )
    assert r.exit_code == 1 and "cannot create the output folder" in r.output
    d50 = write_dataset(tmp_path / "d50", subjects=("s1",), activities=("walk",), seconds=20, hz=50.0)
    r = runner.invoke(
        app, ["embed", str(d50), "--model", str(work / "run"), "--out", str(tmp_path / "e.parquet"), "--strict"]
    )
    assert r.exit_code == 1 and "30 Hz" in r.output and "Traceback" not in r.output


def test_int8_without_calibration_is_refused_before_writing(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "q" / "q.onnx"
    r = runner.invoke(app, ["export", str(work / "conv"), "--out", str(out), "--quantize", "int8", "-q"])
    assert r.exit_code == 1
    assert "needs calibration windows: pass --calibration DATA" in r.output and str(work / "conv") in r.output
    assert not out.parent.exists() or not list(out.parent.iterdir())
    r = runner.invoke(
        app, ["export", str(work / "conv"), "--out", str(out), "--quantize", "int8", "--set", "quant_mode=static"]
    )
    assert r.exit_code == 1 and "--calibration DATA" in r.output
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_export_of_a_data_file_says_what_it_is(tmp_path: Path) -> None:
    csv = tmp_path / "rec.csv"
    csv.write_text("t,ax,ay,az\n0,0,0,1\n")
    r = runner.invoke(app, ["export", str(csv), "--out", str(tmp_path / "m.onnx")])
    assert r.exit_code == 1
    assert "a text file, not a file written by torch.save" in r.output and "IndexError" not in r.output


def test_json_export_without_check_is_quiet_and_valid_json(work: Path, tmp_path: Path) -> None:
    """No torchvision notices from torch's exporter on stderr, and no NaN in the JSON (a real process)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, "-m", "wearfm", "export", str(work / "conv"), "--out", str(tmp_path / "m.onnx"),
         "--exporter", "dynamo", "--no-check", "--json"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "torchvision" not in r.stderr, r.stderr
    s = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert s["max_abs_diff"] is None and s["checks"] == []
