"""`wearfm export` as one library call: run folder -> checked ONNX file (optionally int8)."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from wearfm.config import ExportConfig
from wearfm.errors import ConfigError

__all__ = ["export"]

log = logging.getLogger(__name__)


def _calibration_windows(data: str, spec: Any, n: int) -> np.ndarray:
    from wearfm.data.windows import load_windows

    ws = load_windows(data, rate_hz=spec.rate_hz, window=int(spec.window_samples), channels=tuple(spec.channels))
    idx = np.random.default_rng(0).permutation(len(ws))[:n]
    return ws.batch(np.sort(idx))


def export(cfg: ExportConfig) -> dict[str, Any]:
    """Export the saved encoder (or classifier folder) ``cfg.model`` to ``cfg.out``; returns a JSON-friendly summary.

    A classifier folder of `wearfm classify fit` is exported by :func:`wearfm.export.classifier.export_classifier`.

    With ``cfg.quantize == "int8"`` the fp32 model is written to ``<out stem>.fp32.onnx`` and the int8 model
    to ``cfg.out``; the summary reports both sizes and how far int8 embeddings move from fp32 ones.

    Raises:
        CheckpointError: ``cfg.model`` is not a wearfm encoder.
        ConfigError: bad options (e.g. static int8 without calibration data).
        VerificationError: onnxruntime disagrees with PyTorch by more than ``cfg.atol``.
    """
    from wearfm.classify.model import is_classifier_dir

    if is_classifier_dir(cfg.model):  # a folder of `wearfm classify fit`: encoder + head as one graph
        from wearfm.export.classifier import export_classifier

        return export_classifier(cfg)
    from wearfm.export.onnx import export_onnx
    from wearfm.export.quantize import MODES, quantize_onnx, resolve_mode
    from wearfm.models.saved import ENCODER_FILE, file_sha256, load_encoder

    # every option is checked before anything is written
    if cfg.quantize not in ("none", "int8"):
        raise ConfigError(f"--quantize {cfg.quantize!r}: choose none or int8")
    int8 = cfg.quantize == "int8"
    if int8 and cfg.quant_mode not in MODES:
        raise ConfigError(f"quant_mode {cfg.quant_mode!r}: choose from {list(MODES)}")
    if int8 and cfg.quant_mode == "static" and not cfg.calibration:
        raise ConfigError("--set quant_mode=static needs calibration windows: pass --calibration DATA (a dataset)")
    t0 = time.perf_counter()
    src = Path(cfg.model)
    model = load_encoder(src)
    ckpt = src / ENCODER_FILE if src.is_dir() else src
    out = Path(cfg.out)
    windows = None
    if cfg.calibration:
        windows = _calibration_windows(cfg.calibration, model.spec, cfg.calibration_windows)
    fp32_path = out.with_name(out.stem + ".fp32.onnx") if int8 else out
    with tempfile.TemporaryDirectory(prefix="wearfm-export-") as tmp:
        # int8: the fp32 model goes to its place only once the quantisation is known to be possible (``auto``
        # chooses static quantisation, which needs --calibration, from the exported graph)
        res = export_onnx(
            model,
            Path(tmp) / fp32_path.name if int8 else fp32_path,
            opset=cfg.opset,
            exporter=cfg.exporter,
            check=cfg.check,
            atol=cfg.atol,
            windows=None if windows is None else windows[:64],
            checkpoint_sha256=file_sha256(ckpt),
        )
        if int8:
            resolve_mode(res.path, cfg.quant_mode, windows is not None, name=src)
            fp32_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(res.path, fp32_path)
            res = dataclasses.replace(res, path=fp32_path)
    summary: dict[str, Any] = {
        "model": str(src),
        "encoder": model.spec.encoder,
        "method": model.spec.method,
        **res.summary(),
        "quantization": "none",
    }
    if int8:
        import onnxruntime as ort

        info = quantize_onnx(fp32_path, out, mode=cfg.quant_mode, calibration=windows)
        probe_x = windows if windows is not None else None
        if probe_x is None:
            from wearfm.export.onnx import realistic_windows

            probe_x = realistic_windows(64, model.spec.channels, int(model.spec.window_samples), model.spec.rate_hz)
        a = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"]).run(None, {"x": probe_x})[0]
        b = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"x": probe_x})[0]
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        summary.update(
            path=str(out),
            fp32_path=str(fp32_path),
            fp32_size_bytes=res.size_bytes,
            size_bytes=out.stat().st_size,
            quantization=info["quantization"],
            quantization_info=info,
            int8_max_abs_diff=float(np.abs(a - b).max()),
            int8_mean_cosine=float(cos.mean()),
        )
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary
