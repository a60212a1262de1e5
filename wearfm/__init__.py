"""wearfm: wearable motion foundation models, from raw IMU files to on-device encoders."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "create_encoder",
    "list_encoders",
    "ingest",
    "pretrain",
    "probe",
    "export_onnx",
]

_LAZY = {
    "create_encoder": "wearfm.models",
    "list_encoders": "wearfm.models",
    "ingest": "wearfm.io.ingest",
    "pretrain": "wearfm.train.loop",
    "probe": "wearfm.probe.fewshot",
    "export_onnx": "wearfm.export.onnx",
}


def __getattr__(name: str) -> Any:
    # Lazy so that `import wearfm` (and the CLI's --help) does not pay for torch.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'wearfm' has no attribute {name!r}")
