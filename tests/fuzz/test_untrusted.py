"""Untrusted inputs: model files load without running code, hostile values are refused, outputs stay in --out."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from wearfm.cli import app
from wearfm.config import IngestConfig
from wearfm.errors import CheckpointError, ConfigError, DataError
from wearfm.io.ingest import ingest
from wearfm.io.manifest import MANIFEST_NAME, list_recordings, read_manifest

ROOT = Path(__file__).resolve().parents[2]


class _Payload:
    """Unpickling this creates ``marker``: the proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.mkdir, (str(self.marker),))


def _hostile_pt(path: Path, marker: Path) -> Path:
    import torch

    torch.save({"format": "wearfm-encoder", "state_dict": _Payload(marker)}, path)
    return path


def test_every_torch_load_in_the_package_is_weights_only() -> None:
    calls = []
    for f in sorted((ROOT / "wearfm").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
                base = node.func.value
                if isinstance(base, ast.Name) and base.id == "torch":
                    kw = {k.arg: k.value for k in node.keywords}
                    ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                    calls.append((f"{f.relative_to(ROOT)}:{node.lineno}", ok))
                if isinstance(base, ast.Name) and base.id in ("pickle", "dill", "joblib"):
                    calls.append((f"{f.relative_to(ROOT)}:{node.lineno}", False))
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                calls.append((f"{f.relative_to(ROOT)}:{node.value.lineno} allow_pickle", False))
    assert calls, "no torch.load found: the scan is broken"
    assert all(ok for _, ok in calls), [c for c, ok in calls if not ok]


@pytest.mark.parametrize("kind", ["encoder", "checkpoint", "distance"])
def test_hostile_pickle_is_refused_without_running_code(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "pwned"
    if kind == "encoder":
        from wearfm.models.saved import load_encoder

        p = _hostile_pt(tmp_path / "encoder.pt", marker)
        with pytest.raises(CheckpointError):
            load_encoder(p)
    elif kind == "checkpoint":
        from wearfm.train.checkpoint import load_checkpoint

        p = _hostile_pt(tmp_path / "checkpoint.pt", marker)
        with pytest.raises(CheckpointError):
            load_checkpoint(p)
    else:
        from wearfm.models.motif_distance import load_distance_model

        p = _hostile_pt(tmp_path / "distance.pt", marker)
        with pytest.raises(CheckpointError):
            load_distance_model(p)
    assert not marker.exists()
    import torch

    torch.load(p, weights_only=False)  # the file is really hostile: a plain unpickling runs its code
    assert marker.exists()


def test_cli_export_of_a_hostile_encoder_is_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    _hostile_pt(run / "encoder.pt", marker)
    r = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "m.onnx")])
    assert r.exit_code == 1 and "error" in r.output and not marker.exists()
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("content", [b"", b"\x08\x01garbage", b"PK\x03\x04" + bytes(64)])
def test_damaged_onnx_is_described_or_one_line(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "m.onnx"
    p.write_bytes(content)
    r = CliRunner().invoke(app, ["info", str(p)])
    # an empty protobuf is a valid (empty, non-wearfm) model; anything unparseable is a one-line error
    assert r.exit_code in (0, 1), r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    if r.exit_code == 0:
        assert "is_wearfm" in r.output and "True" not in r.output


# --------------------------------------------------------------------------- hostile annotations, settings
def _recording(folder: Path, n: int = 200) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "rec.csv"
    p.write_text("time,ax,ay,az\n" + "".join(f"{1_700_000_000_000 + 20 * i},0,0,1\n" for i in range(n)))
    return p


@pytest.mark.parametrize(
    ("start", "end", "units"),
    [("1700000000", "1e300", "time"), ("1700000000", "inf", "time"), ("-1e20", "1700000001", "time"),
     ("1700000000", "", "time"), ("0", "", "samples")],
)  # fmt: skip
def test_hostile_annotation_times_are_refused(tmp_path: Path, start: str, end: str, units: str) -> None:
    src = _recording(tmp_path / "in")
    ann = tmp_path / "ann.csv"
    ann.write_text(f"recording,start,end,label\nrec,{start},{end},walk\n")
    with pytest.raises(DataError, match="line 2"):
        ingest([src], tmp_path / "out", IngestConfig(format="csv", annotations=str(ann), annotation_units=units))
    assert not list((tmp_path / "out").glob("rec*.parquet"))


@pytest.mark.parametrize(
    "setting",
    [{"resample_hz": 1e12}, {"resample_hz": float("nan")}, {"max_gap_s": 1e308}, {"max_gap_s": float("nan")},
     {"merge_tolerance_s": float("inf")}, {"rate_hz": -5.0}],
)  # fmt: skip
def test_hostile_ingest_settings_are_refused(tmp_path: Path, setting: dict[str, float]) -> None:
    src = _recording(tmp_path / "in")
    with pytest.raises(ConfigError, match="out of range|must be positive"):
        ingest([src], tmp_path / "out", IngestConfig(format="csv", **setting))


@pytest.mark.parametrize("setting", ["rate_hz=1e12", "lr=nan", "window_s=inf", "stride_s=-1"])
def test_hostile_pretrain_settings_are_refused(tmp_path: Path, setting: str) -> None:
    out = tmp_path / "data"
    ingest([_recording(tmp_path / "in", 3000)], out, IngestConfig(format="csv"))
    r = CliRunner().invoke(
        app, ["pretrain", str(out), "--set", setting, "--device", "cpu", "--out", str(tmp_path / "r")]
    )
    assert r.exit_code == 1 and "out of range" in r.output, r.output
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


# ------------------------------------------------------------------------------------- paths and --out
@pytest.mark.parametrize("bad", ["../outside.parquet", "/etc/passwd", "a/../../b.parquet", "C:\\x.parquet", ""])
def test_manifest_paths_outside_the_dataset_are_refused(tmp_path: Path, bad: str) -> None:
    out = tmp_path / "data"
    ingest([_recording(tmp_path / "in")], out, IngestConfig(format="csv"))
    t = pq.read_table(out / MANIFEST_NAME)
    t = t.set_column(t.column_names.index("path"), "path", pa.array([bad] * t.num_rows))
    pq.write_table(t, out / MANIFEST_NAME)
    with pytest.raises(DataError, match="outside the dataset"):
        read_manifest(out)
    with pytest.raises(DataError, match="outside the dataset"):
        list_recordings(out)
    r = CliRunner().invoke(app, ["pair", str(out), "--out", str(tmp_path / "paired")])
    assert r.exit_code != 0
    assert not (tmp_path / "outside.parquet").exists() and not (tmp_path / "b.parquet").exists()


def test_ingest_writes_only_inside_out(tmp_path: Path) -> None:
    inputs = tmp_path / "src"
    for rel in ["a/rec.csv", "b/c/rec.csv", "..dots/rec.csv", "x/..rec..csv", "sp ace/r e c.csv"]:
        p = inputs / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("time,ax,ay,az\n" + "".join(f"{1_700_000_000_000 + 20 * i},0,0,1\n" for i in range(200)))
    link = inputs / "link.csv"
    link.symlink_to(inputs / "a" / "rec.csv")
    before = {p for p in tmp_path.rglob("*")}
    out = tmp_path / "deep" / "out"
    s = ingest([inputs / "a" / "rec.csv", inputs / "b", inputs / "..dots", inputs / "x", inputs / "sp ace", link], out,
               IngestConfig(format="csv"))  # fmt: skip
    assert s.recordings == 5  # the link is a/rec.csv again, taken once
    new = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in new if out not in p.parents and p not in (out, out.parent)]
    assert not outside, outside
    for e in read_manifest(out):
        assert (out / e.path).resolve().is_relative_to(out.resolve())
    assert np.all([not p.name.endswith(".tmp") for p in out.rglob("*")])
