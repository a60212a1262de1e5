"""int8 quantisation: mode per architecture, metadata, and the probe macro-F1 of int8 vs fp32 embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests._helpers.signals import make_accel
from wearfm.errors import ConfigError
from wearfm.export.onnx import export_onnx, realistic_windows
from wearfm.export.quantize import choose_mode, quantize_onnx
from wearfm.models.saved import EncoderSpec, build_model

ACC = ("acc_x", "acc_y", "acc_z")


def _export(name: str, tmp_path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    model = build_model(EncoderSpec(name, {"in_channels": 3}, 30.0, 60, ACC))
    return Path(export_onnx(model, tmp_path / f"{name}.onnx", exporter="torchscript"))


def _labelled_windows(n_per: int = 20) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for k, act in enumerate(("walk", "run", "lie")):
        for i in range(n_per):
            xs.append(make_accel(seconds=2, hz=30, activity=act, seed=1000 * k + i).T)
            ys.append(k)
    return np.stack(xs).astype(np.float32), np.array(ys)


def _macro_f1(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    z = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    tr = np.arange(len(y)) % 2 == 0
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(z[tr], y[tr])
    return float(f1_score(y[~tr], clf.predict(z[~tr]), average="macro"))


@pytest.mark.parametrize(
    ("name", "mode"), [("resnet1d_tiny", "static"), ("cnn_gru_tiny", "dynamic"), ("patchtst_tiny", "dynamic")]
)
def test_int8_per_architecture(name: str, mode: str, tmp_path: Path) -> None:
    fp32 = _export(name, tmp_path)
    assert choose_mode(fp32) == mode
    x, y = _labelled_windows()
    info = quantize_onnx(fp32, tmp_path / "q.onnx", calibration=x)
    assert info["mode"] == mode
    meta = ort.InferenceSession(str(tmp_path / "q.onnx")).get_modelmeta().custom_metadata_map
    assert meta["wearfm.quantization"] == f"int8-{'static-qdq' if mode == 'static' else 'dynamic'}"
    assert json.loads(meta["wearfm.quantization_info"])["mode"] == mode
    assert meta["wearfm.window_samples"] == "60"  # the rest of the contract survives
    a = ort.InferenceSession(str(fp32)).run(None, {"x": x})[0]
    b = ort.InferenceSession(str(tmp_path / "q.onnx")).run(None, {"x": x})[0]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.mean() > 0.95
    # probe macro-F1 on synthetic activities changes little
    assert abs(_macro_f1(fp32, x, y) - _macro_f1(tmp_path / "q.onnx", x, y)) <= 0.15


def test_static_needs_calibration(tmp_path: Path) -> None:
    fp32 = _export("resnet1d_tiny", tmp_path)
    with pytest.raises(ConfigError, match="calibration"):
        quantize_onnx(fp32, tmp_path / "q.onnx")
    info = quantize_onnx(fp32, tmp_path / "q.onnx", mode="dynamic")
    assert info["mode"] == "dynamic"
    with pytest.raises(ConfigError, match="unknown quantisation mode"):
        quantize_onnx(fp32, tmp_path / "q.onnx", mode="fp16", calibration=realistic_windows(4, ACC, 60, 30.0))
