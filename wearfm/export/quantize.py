"""int8 quantisation of an exported encoder with onnxruntime.

``mode="auto"`` picks per architecture from the graph:

* recurrent (``GRU``/``LSTM``) or MatMul-dominated (transformer) graphs use **dynamic** quantisation: int8
  weights, activations quantised on the fly per batch. Their activation ranges vary a lot with the input
  (recurrent state, attention), which a fixed calibration range fits poorly, and no calibration data is needed;
* convolutional graphs use **static** QDQ quantisation with per-channel weights and activation ranges
  calibrated on real windows: onnxruntime runs dynamically quantised ``ConvInteger`` slowly on CPU, while
  static QDQ convolutions fuse into fast int8 kernels.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from wearfm.errors import ConfigError
from wearfm.export.meta import INPUT_NAME, write_onnx_metadata

__all__ = ["quantize_onnx", "choose_mode", "resolve_mode", "MODES"]

log = logging.getLogger(__name__)

MODES = ("auto", "dynamic", "static")


def choose_mode(path: str | Path) -> str:
    """``dynamic`` for recurrent or MatMul-dominated graphs, ``static`` for convolutional ones."""
    import onnx

    ops = Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node)
    if ops["GRU"] or ops["LSTM"] or ops["RNN"] or ops["Scan"] or ops["Loop"]:
        return "dynamic"
    return "dynamic" if ops["MatMul"] + ops["Gemm"] > ops["Conv"] else "static"


def resolve_mode(src: str | Path, mode: str, has_calibration: bool, name: str | Path | None = None) -> str:
    """The quantisation ``quantize_onnx`` will use on ``src`` (``dynamic`` or ``static``), checked for data.

    ``name`` is what messages call the model (default: ``src``).

    Raises:
        ConfigError: unknown mode, or static quantisation without calibration windows.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown quantisation mode {mode!r}; choose from {list(MODES)}")
    chosen = choose_mode(src) if mode == "auto" else mode
    if chosen == "static" and not has_calibration:
        if mode == "auto":
            raise ConfigError(
                f"{name or src}: int8 for this convolutional encoder uses static quantisation, which needs calibration "
                "windows: pass --calibration DATA (a dataset), or --set quant_mode=dynamic"
            )
        raise ConfigError("static quantisation needs calibration windows (--calibration DATA)")
    return chosen


def quantize_onnx(
    src: str | Path,
    dst: str | Path,
    *,
    mode: str = "auto",
    calibration: np.ndarray | None = None,
) -> dict[str, Any]:
    """Write an int8 copy of the ONNX model ``src`` to ``dst``; returns what was done.

    Args:
        src: an fp32 model from :func:`~wearfm.export.onnx.export_onnx`.
        dst: output path.
        mode: ``auto`` (see the module docstring), ``dynamic`` or ``static``.
        calibration: (N, C, T) float32 windows for ``static`` (a few hundred real windows are plenty).

    Raises:
        ConfigError: unknown mode, or ``static`` without calibration windows.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    chosen = resolve_mode(src, mode, calibration is not None and len(calibration) > 0)
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    info: dict[str, Any] = {"mode": chosen}
    if chosen == "dynamic":
        quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8)
    else:
        assert calibration is not None
        x = np.ascontiguousarray(calibration, dtype=np.float32)

        class _Reader(CalibrationDataReader):  # type: ignore[misc]
            def __init__(self) -> None:
                self._it = iter(range(0, len(x), 32))

            def get_next(self) -> dict[str, np.ndarray] | None:
                i = next(self._it, None)
                return None if i is None else {INPUT_NAME: x[i : i + 32]}

        quantize_static(
            str(src),
            str(tmp),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        info["calibration_windows"] = int(len(x))
    label = "int8-dynamic" if chosen == "dynamic" else "int8-static-qdq"
    write_onnx_metadata(tmp, {"wearfm.quantization": label, "wearfm.quantization_info": _json(info)})
    tmp.replace(dst)
    log.info("quantised %s -> %s (%s)", src, dst, label)
    info["quantization"] = label
    return info


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj)
