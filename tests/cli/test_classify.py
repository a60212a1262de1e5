"""`wearfm classify fit|predict|summary`, `wearfm export CLASSIFIER` and `wearfm info` on its ONNX file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wearfm.cli import app

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()


def _json(args: list[str]) -> dict:
    r = runner.invoke(app, [*map(str, args), "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_fit_predict_summary_export_info(noisy: Path, tmp_path: Path) -> None:
    clf, tl = tmp_path / "clf", tmp_path / "t.parquet"
    fitted = _json(["classify", "fit", noisy, "--encoder", "random:resnet1d_tiny", "--shots", "5", "--out", clf])
    assert fitted["classes"] == ["lie", "run", "walk"]
    pred = _json(["classify", "predict", noisy, "--model", clf, "--out", tl, "--smooth", "median:3"])
    assert pred["windows"] == 75 and 0.0 <= pred["macro_f1"] <= 1.0
    summ = _json(["classify", "summary", tl, "--out", tmp_path / "daily.csv", "--min-wear-hours", "0"])
    assert summ["valid_days"] == len(summ["days"]) >= 1
    onnx = tmp_path / "har.onnx"
    exp = _json(["export", clf, "--out", onnx])
    assert exp["kind"] == "classifier" and exp["argmax_agreement"] == 1.0
    info = _json(["info", onnx])
    assert info["class_names"] == ["lie", "run", "walk"]


def test_errors_are_one_line(noisy: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["classify", "predict", str(noisy), "--model", str(noisy), "--out", str(tmp_path / "t")])
    assert r.exit_code == 1 and "no classifier.json" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["classify", "fit", str(noisy), "--encoder", "supervised:resnet1d_tiny", "--out", "x"])
    assert r.exit_code == 1 and "frozen encoder" in r.output
