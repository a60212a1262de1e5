"""A tiny ONNX encoder stand-in with wearfm metadata (embedding = mean and max over time per channel)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

ACC = ("acc_x", "acc_y", "acc_z")


def make_onnx(path: Path, rate=30.0, window=60, meta=True) -> Path:
    """A tiny exported-encoder stand-in: embedding = [mean over time, max over time] per channel."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 3, "T"])
    out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["B", 6])
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2], keepdims=0),
        helper.make_node("ReduceMax", ["x"], ["M"], axes=[2], keepdims=0),
        helper.make_node("Concat", ["m", "M"], ["embedding"], axis=1),
    ]
    model = helper.make_model(helper.make_graph(nodes, "enc", [x], [out]), opset_imports=[helper.make_opsetid("", 13)])
    if meta:
        props = {
            "wearfm.sample_rate_hz": str(rate),
            "wearfm.window_samples": str(window),
            "wearfm.channels": json.dumps(list(ACC)),
            "wearfm.embed_dim": "6",
            "wearfm.method": "test",
            "wearfm.encoder": "meanmax",
            "wearfm.version": "0",
        }
        helper.set_model_props(model, props)
    onnx.save(model, path)
    return path
