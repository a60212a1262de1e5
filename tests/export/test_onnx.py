"""ONNX export: every registered encoder, metadata contract, checks against PyTorch, exporter choice."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from wearfm.export.meta import ONNX_METADATA_KEYS, describe_onnx
from wearfm.export.onnx import VerificationError, compare_onnx, export_onnx, realistic_windows, verify_onnx
from wearfm.models import list_encoders
from wearfm.models.saved import EncoderSpec, build_model

ACC = ("acc_x", "acc_y", "acc_z")
IMU = ACC + ("gyr_x", "gyr_y", "gyr_z")
CONTRACT = [
    "wearfm.sample_rate_hz",
    "wearfm.window_samples",
    "wearfm.channels",
    "wearfm.units",
    "wearfm.normalization",
    "wearfm.embed_dim",
    "wearfm.method",
    "wearfm.encoder",
    "wearfm.encoder_kwargs",
    "wearfm.version",
    "wearfm.checkpoint_sha256",
    "wearfm.opset",
    "wearfm.quantization",
]


def _model(name: str, channels=ACC, window: int = 64, head=None) -> torch.nn.Module:
    torch.manual_seed(0)
    c = len(channels)
    norm = {"mean": [0.0] * (c - 1) + [1.0], "std": [0.5] * c}
    spec = EncoderSpec(name, {"in_channels": c}, 30.0, window, channels, normalization=norm, head=head, method="simclr")
    return build_model(spec).eval()


@pytest.mark.parametrize("name", [n for n in list_encoders("*_tiny")])
def test_every_tiny_encoder_exports_and_matches_torch(name: str, tmp_path: Path) -> None:
    # torchscript keeps the default suite fast; the dynamo path is covered below
    model = _model(name)
    res = export_onnx(model, tmp_path / "m.onnx", exporter="torchscript")
    assert res.max_abs_diff <= 1e-4
    seen = {(c["inputs"], c["batch"]) for c in res.checks}
    assert {("random", 1), ("random", 7), ("random", 64), ("realistic", 64)} <= seen
    assert res.dynamic_axes == {0: "batch", 2: "time"}
    # a fresh session gives the same embeddings as torch at an unseen batch size and length
    x = realistic_windows(5, ACC, 101, 30.0, seed=9)
    got = ort.InferenceSession(str(res.path)).run(["embedding"], {"x": x})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet1d_tiny", "patchtst_tiny"])
def test_auto_uses_dynamo_for_non_recurrent(name: str, tmp_path: Path) -> None:
    res = export_onnx(_model(name), tmp_path / "m.onnx")
    assert res.exporter == "dynamo" and res.max_abs_diff <= 1e-4 and 2 in res.dynamic_axes


def test_auto_uses_torchscript_for_gru_and_any_batch(tmp_path: Path) -> None:
    model = _model("cnn_gru_tiny", IMU)
    res = export_onnx(model, tmp_path / "m.onnx")
    assert res.exporter == "torchscript"
    ops = {n["inputs"] for n in res.checks}
    assert ops == {"random", "realistic"}
    assert verify_onnx(model, res.path) <= 1e-4


def test_metadata_contract(tmp_path: Path) -> None:
    model = _model("resnet1d_tiny", IMU, window=90)
    res = export_onnx(model, tmp_path / "m.onnx", exporter="torchscript", checkpoint_sha256="ab" * 32)
    meta = ort.InferenceSession(str(res.path)).get_modelmeta().custom_metadata_map
    for k in CONTRACT:
        assert k in meta, k
        assert k in ONNX_METADATA_KEYS
    assert float(meta["wearfm.sample_rate_hz"]) == 30.0
    assert int(meta["wearfm.window_samples"]) == 90
    assert json.loads(meta["wearfm.channels"]) == list(IMU)
    assert json.loads(meta["wearfm.units"]) == {"acc": "g", "gyr": "deg/s"}
    norm = json.loads(meta["wearfm.normalization"])
    assert norm["std"] == [0.5] * 6 and norm["applied_inside_model"] is True
    assert int(meta["wearfm.embed_dim"]) == model.embed_dim
    assert meta["wearfm.method"] == "simclr" and meta["wearfm.encoder"] == "resnet1d_tiny"
    assert json.loads(meta["wearfm.encoder_kwargs"]) == {"in_channels": 6}
    assert meta["wearfm.checkpoint_sha256"] == "ab" * 32
    assert meta["wearfm.quantization"] == "none" and meta["wearfm.opset"] == "18"
    d = describe_onnx(res.path)
    assert d["inputs"][0]["name"] == "x" and d["inputs"][0]["shape"][1] == 6
    assert d["outputs"][0]["name"] == "embedding" and d["is_wearfm"] and d["size_bytes"] > 0
    assert d["metadata"]["window_samples"] == 90


def test_normalisation_is_inside_the_graph(tmp_path: Path) -> None:
    model = _model("resnet1d_tiny")
    res = export_onnx(model, tmp_path / "m.onnx", exporter="torchscript")
    x = realistic_windows(3, ACC, 64, 30.0)
    plain = build_model(model.spec.__class__(**{**model.spec.__dict__, "normalization": None}))
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k not in ("mean", "std")}, strict=False)
    got = ort.InferenceSession(str(res.path)).run(None, {"x": x})[0]
    with torch.no_grad():
        assert np.abs(got - model(torch.from_numpy(x)).numpy()).max() <= 1e-4
        assert np.abs(got - plain.eval()(torch.from_numpy(x)).numpy()).max() > 1e-3


def test_verify_detects_a_different_model(tmp_path: Path) -> None:
    a = _model("resnet1d_tiny")
    res = export_onnx(a, tmp_path / "m.onnx", exporter="torchscript", check=False)
    assert np.isnan(res.max_abs_diff)
    torch.manual_seed(1)
    b = build_model(a.spec).eval()  # other random weights
    with pytest.raises(VerificationError, match="exceeds"):
        verify_onnx(b, res.path)
    cases = compare_onnx(a, res.path, windows=realistic_windows(3, ACC, 64, 30.0), batch_sizes=(1, 7))
    assert {c["inputs"] for c in cases} == {"random", "realistic", "real"}


def test_result_is_a_path_and_bad_exporter(tmp_path: Path) -> None:
    res = export_onnx(_model("resnet1d_tiny"), tmp_path / "sub" / "m.onnx", exporter="torchscript")
    assert Path(res) == tmp_path / "sub" / "m.onnx" and Path(res).exists()
    with pytest.raises(ValueError, match="unknown exporter"):
        export_onnx(_model("resnet1d_tiny"), tmp_path / "x.onnx", exporter="tf")


def test_describe_rejects_non_onnx(tmp_path: Path) -> None:
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        describe_onnx(p)


def test_unchecked_export_reports_no_number(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wearfm"):
        res = export_onnx(_model("resnet1d_tiny"), tmp_path / "m.onnx", exporter="torchscript", check=False)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "not compared with PyTorch" in logged and "nan" not in logged
    assert res.summary()["max_abs_diff"] is None  # JSON has no NaN
    json.dumps(res.summary(), allow_nan=False)


def test_torchvision_notices_are_dropped() -> None:
    """torch's ONNX registry notices about torchvision (absent here, unused by any encoder) are filtered out."""
    from wearfm.export.onnx import _TORCHVISION_LOGGER, _torchvision_notices_dropped

    reg = logging.getLogger(_TORCHVISION_LOGGER)
    seen: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    h = _Keep()
    reg.addHandler(h)
    try:
        with _torchvision_notices_dropped():
            reg.warning("torchvision is not installed. Skipping %s", "torchvision::nms")
            reg.warning("something else")
        reg.warning("torchvision is not installed. Skipping %s", "after")
    finally:
        reg.removeHandler(h)
    assert seen == ["something else", "torchvision is not installed. Skipping after"]
