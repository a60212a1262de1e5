"""The ``wearfm.*`` metadata that makes an exported ONNX encoder self-describing, and reading it back.

Values are strings (ONNX ``metadata_props``): plain for scalars, JSON for lists and objects. Read them with
onnxruntime (``sess.get_modelmeta().custom_metadata_map``) or :func:`read_onnx_metadata`. Nothing here
imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wearfm.errors import CheckpointError

__all__ = [
    "ONNX_METADATA_KEYS",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "units_for",
    "decode_onnx_metadata",
    "read_onnx_metadata",
    "write_onnx_metadata",
    "describe_onnx",
    "model_contract",
]

INPUT_NAME = "x"
OUTPUT_NAME = "embedding"

#: Glossary of the ``wearfm.*`` metadata of an exported encoder (J: JSON-encoded; otherwise a plain string).
ONNX_METADATA_KEYS: dict[str, str] = {
    "wearfm.sample_rate_hz": "Sample rate the model expects, Hz (float).",
    "wearfm.window_samples": "Window length it was trained on, samples (int).",
    "wearfm.channels": "J: input channel names in input order, e.g. ['acc_x', 'acc_y', 'acc_z'].",
    "wearfm.units": "J: units of the input channel groups: {'acc': 'g', 'gyr': 'deg/s'}.",
    "wearfm.normalization": "J: {'mean', 'std', 'applied_inside_model': true}; feed raw g and deg/s.",
    "wearfm.embed_dim": "Size of the output embedding (int).",
    "wearfm.method": "Pretraining method ('random' for untrained weights).",
    "wearfm.encoder": "Registry name of the encoder architecture, e.g. 'resnet1d'.",
    "wearfm.encoder_kwargs": "J: keyword arguments of the encoder factory.",
    "wearfm.head": "J: projection head kept on top of the encoder, or null.",
    "wearfm.version": "wearfm version that exported the file.",
    "wearfm.checkpoint_sha256": "SHA-256 of the encoder.pt it was exported from ('' if exported from memory).",
    "wearfm.opset": "ONNX opset of the default domain (int).",
    "wearfm.quantization": "'none', 'int8-dynamic' or 'int8-static-qdq'.",
    "wearfm.quantization_info": "J: details of the quantisation (calibration windows, ops), or {}.",
    "wearfm.exporter": "'dynamo' (torch.export) or 'torchscript' (legacy tracer).",
    "wearfm.dynamic_axes": "J: the input's dynamic axes, e.g. {'0': 'batch', '2': 'time'}.",
    "wearfm.class_names": "J: classifiers only: class names, in the order of the 'probabilities' columns.",
    "wearfm.classifier": "J: classifiers only: head, C, outputs and how it was fitted (data, shots, seed, CV).",
}

_UNITS = {"acc": "g", "gyr": "deg/s"}


def units_for(channels: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Units of the channel groups present in ``channels`` (acc in g, gyr in deg/s)."""
    return {g: u for g, u in _UNITS.items() if any(c.startswith(g + "_") for c in channels)}


def decode_onnx_metadata(raw: dict[str, str]) -> dict[str, Any]:
    """Typed values of the ``wearfm.*`` entries of an ONNX metadata map (prefix stripped)."""
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if not k.startswith("wearfm."):
            continue
        key = k[len("wearfm.") :]
        if key in ("sample_rate_hz",):
            out[key] = float(v)
        elif key in ("window_samples", "embed_dim", "opset"):
            out[key] = int(float(v))
        elif key in (
            "channels",
            "units",
            "normalization",
            "encoder_kwargs",
            "head",
            "quantization_info",
            "dynamic_axes",
            "class_names",
            "classifier",
        ):
            try:
                out[key] = json.loads(v)
            except json.JSONDecodeError:
                out[key] = v
        else:
            out[key] = v
    return out


def open_onnx(path: str | Path) -> tuple[Any, dict[str, str]]:
    """An onnxruntime CPU session of an exported encoder and its metadata map (onnxruntime only, no torch).

    Raises:
        CheckpointError: onnxruntime cannot load the file.
    """
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - any load failure means the same to the user
        raise CheckpointError(f"{path}: onnxruntime cannot load this file ({str(e)[:200]})") from None
    return sess, dict(sess.get_modelmeta().custom_metadata_map)


def model_contract(raw: dict[str, str], path: str | Path) -> tuple[float, int, tuple[str, ...]]:
    """(sample rate, window samples, channels) from an ONNX metadata map; CheckpointError if absent."""
    need = ("wearfm.sample_rate_hz", "wearfm.window_samples", "wearfm.channels")
    missing = [k for k in need if k not in raw]
    if missing:
        raise CheckpointError(
            f"{path}: not a wearfm encoder (ONNX metadata lacks {missing}); export it with `wearfm export`"
        )
    try:
        d = decode_onnx_metadata({k: raw[k] for k in need})
        return float(d["sample_rate_hz"]), int(d["window_samples"]), tuple(d["channels"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: unreadable wearfm metadata ({e}); re-export with `wearfm export`") from None


def merge_metadata_props(model: Any, meta: dict[str, str]) -> dict[str, str]:
    """Set (replace) ``meta`` in ``model.metadata_props`` (an ``onnx.ModelProto``), keys sorted; return them all."""
    props = {p.key: p.value for p in model.metadata_props}
    props.update(meta)
    del model.metadata_props[:]
    for k in sorted(props):
        model.metadata_props.add(key=k, value=props[k])
    return props


def write_onnx_metadata(path: str | Path, meta: dict[str, str]) -> None:
    """Set (replace) ``meta`` in the ``metadata_props`` of the ONNX file at ``path``, in place."""
    import onnx

    model = onnx.load(str(path))
    props = merge_metadata_props(model, meta)
    model.doc_string = (
        f"wearfm encoder {props.get('wearfm.encoder', '?')} ({props.get('wearfm.method', '?')}): "
        f"input '{INPUT_NAME}' (batch, channels, time) float32 in g / deg/s "
        f"at {props.get('wearfm.sample_rate_hz')} Hz; "
        f"output '{OUTPUT_NAME}' (batch, {props.get('wearfm.embed_dim')})."
    )
    tmp = Path(path).with_name(f".{Path(path).name}.meta.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The decoded ``wearfm.*`` metadata of an ONNX file (keys without the prefix).

    Raises:
        CheckpointError: the file is not a loadable ONNX model.
    """
    meta: dict[str, Any] = describe_onnx(path)["metadata"]
    return meta


def describe_onnx(path: str | Path) -> dict[str, Any]:
    """What an exported model holds: metadata, inputs, outputs, opset, size.

    Examples:
        >>> d = describe_onnx("relcon.onnx")  # doctest: +SKIP
        >>> d["inputs"][0]["name"], d["metadata"]["channels"]  # doctest: +SKIP
        ('x', ['acc_x', 'acc_y', 'acc_z'])
    """
    import onnx

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such ONNX file")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf errors vary; all mean "not an ONNX model"
        raise CheckpointError(f"{p}: not a readable ONNX model ({type(e).__name__}: {str(e)[:200]})") from None

    def io(vi: Any) -> dict[str, Any]:
        t = vi.type.tensor_type
        dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in t.shape.dim]
        return {"name": vi.name, "shape": dims, "type": onnx.TensorProto.DataType.Name(t.elem_type).lower()}

    raw = {pr.key: pr.value for pr in model.metadata_props}
    opsets = {o.domain or "ai.onnx": int(o.version) for o in model.opset_import}
    return {
        "path": str(p),
        "size_bytes": p.stat().st_size,
        "inputs": [io(i) for i in model.graph.input],
        "outputs": [io(o) for o in model.graph.output],
        "opset": opsets.get("ai.onnx"),
        "opsets": opsets,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "nodes": len(model.graph.node),
        "metadata": decode_onnx_metadata(raw),
        **({"class_names": json.loads(raw["wearfm.class_names"])} if "wearfm.class_names" in raw else {}),
        "is_wearfm": all(k in raw for k in ("wearfm.sample_rate_hz", "wearfm.window_samples", "wearfm.channels")),
    }
