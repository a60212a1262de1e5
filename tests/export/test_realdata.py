"""Export checked on real sp-sw-har watch windows, and embeddings of that data (skipped without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from wearfm.config import IngestConfig
from wearfm.data.windows import load_windows
from wearfm.export.embed import embed
from wearfm.export.onnx import export_onnx
from wearfm.io.ingest import ingest
from wearfm.models.saved import EncoderSpec, build_model

IMU = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")


def test_export_and_embed_real_watch_data(real_data: Path, tmp_path: Path) -> None:
    files = sorted((real_data / "sp-sw-har" / "DATA" / "s01").glob("s01_0[1-3]_sw.csv"))
    assert files
    ingest(files, tmp_path / "ds", IngestConfig(format="sp-sw-har"))
    ws = load_windows(tmp_path / "ds", rate_hz=30.0, window=60, channels=IMU)
    real = ws.batch(range(min(len(ws), 64)))
    for name in ("cnn_gru_tiny", "resnet1d_tiny"):
        model = build_model(EncoderSpec(name, {"in_channels": 6}, 30.0, 60, IMU)).eval()
        res = export_onnx(model, tmp_path / f"{name}.onnx", windows=real, exporter="torchscript")
        assert res.max_abs_diff <= 1e-4
        assert {c["inputs"] for c in res.checks} == {"random", "realistic", "real"}
    # the watch records at ~104 Hz: resampled to the model's 30 Hz by default
    r = embed(tmp_path / "ds", tmp_path / "resnet1d_tiny.onnx", tmp_path / "e.parquet")
    assert r["resampled_recordings"] == len(files) and r["windows"] == len(ws)
    t = pq.read_table(tmp_path / "e.parquet")
    assert t.num_rows == len(ws) and t.column("label").null_count < t.num_rows
