"""Export of encoders to ONNX, int8 quantisation, and window embeddings from ONNX or PyTorch models.

Attributes are resolved lazily so that ``from wearfm.export import embed`` with an ``.onnx`` model never
imports torch (the on-device path needs only onnxruntime, numpy and pyarrow).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ExportResult",
    "export_onnx",
    "verify_onnx",
    "describe_onnx",
    "read_onnx_metadata",
    "export",
    "quantize_onnx",
    "embed",
]

_LAZY = {
    "ExportResult": "wearfm.export.onnx",
    "export_onnx": "wearfm.export.onnx",
    "verify_onnx": "wearfm.export.onnx",
    "describe_onnx": "wearfm.export.meta",
    "read_onnx_metadata": "wearfm.export.meta",
    "export": "wearfm.export.run",
    "quantize_onnx": "wearfm.export.quantize",
    "embed": "wearfm.export.embed",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # the function, not the same-named submodule the import just bound
        return value
    raise AttributeError(f"module 'wearfm.export' has no attribute {name!r}")
