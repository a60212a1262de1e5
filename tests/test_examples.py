"""Each script in examples/ runs on tiny generated data."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

from wearfm.simulate import SimulationConfig, write_simulated_dataset

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _write_wisdm(root: Path, subjects=(1600, 1601), minutes=1.0):
    rng = np.random.default_rng(0)
    for sensor in ("accel", "gyro"):
        (root / sensor).mkdir(parents=True, exist_ok=True)
    for s in subjects:
        n = int(minutes * 60 * 20)
        t = 252207666810782 + np.arange(n) * 50_000_000
        for sensor, off in (("accel", 0), ("gyro", 3_000_000)):
            v = rng.normal(0, 1, (n, 3)) + ([0, 9.8, 0] if sensor == "accel" else 0)
            act = np.where(np.arange(n) < n // 2, "A", "D")
            lines = [
                f"{s},{a},{ts + off},{x:.5f},{y:.5f},{z:.5f};\n" for a, ts, (x, y, z) in zip(act, t, v, strict=True)
            ]
            (root / sensor / f"data_{s}_{sensor}_phone.txt").write_text("".join(lines))


def test_pretrain_wisdm_example(tmp_path):
    _write_wisdm(tmp_path / "raw")
    enc = _load("pretrain_wisdm").main(
        str(tmp_path / "raw"), str(tmp_path / "out"), steps=2, encoder="resnet1d_tiny", batch=8
    )
    assert Path(enc).exists()


def test_probe_own_csvs_and_onnx_examples(tmp_path):
    write_simulated_dataset(tmp_path / "csv", SimulationConfig(subjects=4, minutes=2))
    table = _load("probe_own_csvs").main(str(tmp_path / "csv"), str(tmp_path / "out"), ["features"])
    assert set(table) == {"features"} and all(0 <= v <= 1 for v in table["features"].values())

    from wearfm.export.onnx import export_onnx
    from wearfm.models.saved import EncoderSpec, build_model

    spec = EncoderSpec("resnet1d_tiny", {"in_channels": 3}, 25.0, 125, ("acc_x", "acc_y", "acc_z"))
    onnx_path = export_onnx(build_model(spec), tmp_path / "m.onnx", exporter="torchscript").path
    rec = next((tmp_path / "out" / "data").rglob("*.parquet"))
    if rec.name == "manifest.parquet":
        rec = sorted(p for p in (tmp_path / "out" / "data").rglob("*.parquet") if p.name != "manifest.parquet")[0]
    emb = _load("onnx_inference").main(str(onnx_path), str(rec))
    assert emb.ndim == 2 and emb.shape[0] >= 1 and np.isfinite(emb).all()


def test_onnx_classify_stream_example(tmp_path):
    from tests._helpers.labelled import write_noisy_dataset
    from wearfm.classify.fit import fit
    from wearfm.config import ClassifyConfig, ExportConfig
    from wearfm.export.run import export

    data = write_noisy_dataset(tmp_path / "data", subjects=("s1", "s2", "s3"), seconds=30, noise=0.1)
    fit(ClassifyConfig(data=str(data), encoder="random:resnet1d_tiny", out=str(tmp_path / "clf"), shots=2))
    export(ExportConfig(model=str(tmp_path / "clf"), out=str(tmp_path / "har.onnx"), check=False))
    labels = _load("onnx_classify_stream").main(str(tmp_path / "har.onnx"))
    assert len(labels) == 6 and set(labels) <= {"lie", "run", "walk"}  # 60 s in 10 s windows
