from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from tests._helpers.paired import write_dataset, write_text_csv, write_text_embeddings, write_video_parquet
from wearfm.cli import app

runner = CliRunner()


def test_pair_help():
    r = runner.invoke(app, ["pair", "--help"])
    assert r.exit_code == 0 and "--text-embeddings" in r.output


def test_pair_json_summary(tmp_path):
    ds = write_dataset(tmp_path / "ds")
    args = [
        "pair",
        str(ds),
        "--out",
        str(tmp_path / "p"),
        "--text",
        str(write_text_csv(tmp_path / "n.csv")),
        "--text-embeddings",
        str(write_text_embeddings(tmp_path / "e.parquet")),
        "--video",
        str(write_video_parquet(tmp_path / "v.parquet")),
        "--json",
        "-q",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["recordings"] == 2 and s["video"]["dim"] == 16 and s["text"]["rows"] == 6
    assert (tmp_path / "p" / "pairs" / "video.parquet").exists()


def test_pair_bad_input_exits_nonzero_with_one_line(tmp_path):
    ds = write_dataset(tmp_path / "ds", subjects=1)
    bad = tmp_path / "bad.csv"
    bad.write_text("subject,start,text\ns0,0,hello\n")
    r = runner.invoke(app, ["pair", str(ds), "--out", str(tmp_path / "p"), "--text", str(bad)])
    assert r.exit_code == 1 and "missing column(s) ['end']" in r.output and "Traceback" not in r.output
    vid = tmp_path / "v.parquet"
    pq.write_table(
        pa.table(
            {
                "recording": ["s0", "ghost"],
                "start": [0.0, 1.0],
                "end": [1.0, 2.0],
                "vector": pa.array([[1.0], [2.0]], pa.list_(pa.float32())),
            }
        ),
        vid,
    )
    r = runner.invoke(app, ["pair", str(ds), "--out", str(tmp_path / "p"), "--video", str(vid), "--relative"])
    assert r.exit_code == 1 and "'ghost'" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["pair", str(ds), "--out", str(tmp_path / "p")])
    assert r.exit_code == 1 and "nothing to pair" in r.output


def test_pair_then_pretrain_chain_and_missing_modality(tmp_path):
    ds = write_dataset(tmp_path / "ds")
    r = runner.invoke(
        app,
        [
            "pair",
            str(ds),
            "--out",
            str(tmp_path / "p"),
            "-q",
            "--text",
            str(write_text_csv(tmp_path / "n.csv")),
            "--text-embeddings",
            str(write_text_embeddings(tmp_path / "e.parquet")),
        ],
    )
    assert r.exit_code == 0, r.output
    common = [
        "--encoder",
        "cnn_gru_tiny",
        "--rate",
        "30",
        "--window",
        "5s",
        "--channels",
        "acc+gyr",
        "--max-steps",
        "2",
        "--batch",
        "8",
        "--device",
        "cpu",
        "-q",
    ]
    r = runner.invoke(
        app,
        [
            "pretrain",
            str(tmp_path / "p"),
            "--method",
            "primus",
            "--out",
            str(tmp_path / "run"),
            "--set",
            "primus.nn_by=text",
            "--set",
            "primus.aligned_fraction=0.1",
            *common,
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "encoder.pt").exists()
    r = runner.invoke(
        app, ["pretrain", str(tmp_path / "p"), "--method", "imu-video", "--out", str(tmp_path / "r2"), *common]
    )
    assert r.exit_code == 1 and "needs ['video'] pairs" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["pretrain", str(ds), "--method", "primus", "--out", str(tmp_path / "r3"), *common])
    assert r.exit_code == 1 and "wearfm pair" in r.output
