"""Export of a classifier folder (`wearfm classify fit`) as one ONNX graph: raw window -> class probabilities.

The encoder is exported (or, for an ONNX encoder, copied) as for `wearfm export`, then the head is appended
to its graph: ``probabilities = softmax(((embedding - mean) / scale) @ coef + intercept)``. The graph takes
``x`` (batch, channels, time) float32 in g and deg/s at the model's rate and has two outputs, ``embedding``
(batch, D) (first, so encoder consumers keep working) and ``probabilities`` (batch, K). The metadata holds the
encoder's contract plus ``wearfm.class_names`` and ``wearfm.classifier``. The check compares onnxruntime with
the Python path of :class:`~wearfm.classify.model.Classifier` (PyTorch or onnxruntime encoder + NumPy head).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from wearfm import __version__
from wearfm.classify.model import Classifier, load_classifier
from wearfm.config import ExportConfig
from wearfm.errors import ConfigError
from wearfm.export.meta import INPUT_NAME, OUTPUT_NAME, merge_metadata_props, units_for

__all__ = ["export_classifier", "compare_classifier", "PROBA_NAME", "BATCH_SIZES"]

log = logging.getLogger(__name__)

PROBA_NAME = "probabilities"
BATCH_SIZES = (1, 7, 64)
_NEG = -1e30  # logit of a class the head never saw (the head's -inf), finite for int8 tools


def _append_head(src: Path, dst: Path, clf: Classifier, meta: dict[str, str]) -> None:
    """Write ``src`` (an encoder graph with output ``embedding``) plus the head and ``meta`` to ``dst``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    outs = [o.name for o in g.output]
    if OUTPUT_NAME not in outs:
        raise ConfigError(f"{src}: the encoder graph has no '{OUTPUT_NAME}' output (outputs {outs}); re-export it")
    h = clf.head
    icpt = np.where(np.isfinite(h.intercept), h.intercept, _NEG)
    inits = {
        "clf_mean": h.mean.astype(np.float32),
        "clf_scale": h.scale.astype(np.float32),
        "clf_coef": h.coef.astype(np.float32),
        "clf_intercept": icpt.astype(np.float32),
    }
    g.initializer.extend(numpy_helper.from_array(v, name=k) for k, v in inits.items())
    g.node.extend(
        [
            helper.make_node("Sub", [OUTPUT_NAME, "clf_mean"], ["clf_centred"], name="clf_sub_mean"),
            helper.make_node("Div", ["clf_centred", "clf_scale"], ["clf_standardised"], name="clf_div_scale"),
            helper.make_node("MatMul", ["clf_standardised", "clf_coef"], ["clf_linear"], name="clf_matmul"),
            helper.make_node("Add", ["clf_linear", "clf_intercept"], ["logits"], name="clf_add_intercept"),
            helper.make_node("Softmax", ["logits"], [PROBA_NAME], name="clf_softmax", axis=-1),
        ]
    )
    batch = g.output[outs.index(OUTPUT_NAME)].type.tensor_type.shape.dim[0]
    b_dim: Any = batch.dim_param or (batch.dim_value if batch.HasField("dim_value") else "batch")
    g.output.append(helper.make_tensor_value_info(PROBA_NAME, TensorProto.FLOAT, [b_dim, len(clf.classes)]))
    merge_metadata_props(model, meta)
    model.doc_string = (
        f"wearfm activity classifier ({', '.join(clf.classes)}): input '{INPUT_NAME}' (batch, channels, time) "
        f"float32 in g / deg/s at {clf.rate_hz:g} Hz, {clf.window} samples; outputs '{PROBA_NAME}' "
        f"(batch, {len(clf.classes)}) and '{OUTPUT_NAME}' (batch, {h.coef.shape[0]})."
    )
    onnx.checker.check_model(model)
    tmp = dst.with_name(f".{dst.name}.head.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dst)


def classifier_metadata(clf: Classifier) -> dict[str, str]:
    """The metadata a classifier adds to its encoder's (contract of the classifier, class names, provenance)."""
    prov = clf.provenance
    return {
        "wearfm.sample_rate_hz": repr(float(clf.rate_hz)),
        "wearfm.window_samples": str(int(clf.window)),
        "wearfm.channels": json.dumps(list(clf.channels)),
        "wearfm.units": json.dumps(units_for(clf.channels)),
        "wearfm.embed_dim": str(int(clf.head.coef.shape[0])),
        "wearfm.class_names": json.dumps(list(clf.classes)),
        "wearfm.classifier": json.dumps(
            {
                "head": "logreg",
                "c": float(clf.head.c),
                "outputs": {PROBA_NAME: "(batch, classes) softmax probabilities", OUTPUT_NAME: "(batch, D)"},
                "encoder": clf.encoder.get("source"),
                "data": prov.get("data"),
                "shots": prov.get("shots"),
                "seed": prov.get("seed"),
                "cv_macro_f1": (prov.get("cv") or {}).get("macro_f1"),
                "wearfm_version": __version__,
            },
            default=str,
        ),
    }


def compare_classifier(clf: Classifier, path: str | Path, windows: np.ndarray) -> dict[str, Any]:
    """Onnxruntime vs the Python path on ``windows``: max |probability difference| and argmax agreement."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(windows, dtype=np.float32)
    got = np.concatenate([sess.run([PROBA_NAME], {INPUT_NAME: x[i : i + 64]})[0] for i in range(0, len(x), 64)])
    ref = clf.predict_proba(x, batch_size=64, device="cpu")
    return {
        "windows": int(len(x)),
        "max_abs_diff": float(np.max(np.abs(got - ref))) if np.isfinite(got).all() else float("inf"),
        "argmax_agreement": float(np.mean(got.argmax(1) == ref.argmax(1))),
    }


def _check_windows(clf: Classifier, cfg: ExportConfig) -> tuple[np.ndarray, np.ndarray | None]:
    from wearfm.export.onnx import realistic_windows

    synth = np.concatenate([realistic_windows(b, clf.channels, clf.window, clf.rate_hz, seed=b) for b in BATCH_SIZES])
    real = None
    if cfg.calibration:
        from wearfm.data.windows import load_windows

        ws = load_windows(cfg.calibration, rate_hz=clf.rate_hz, window=clf.window, channels=clf.channels)
        idx = np.random.default_rng(0).permutation(len(ws))[: cfg.calibration_windows]
        real = ws.batch(np.sort(idx))
    return synth, real


def export_classifier(cfg: ExportConfig) -> dict[str, Any]:
    """Export the classifier folder ``cfg.model`` to ``cfg.out`` (and an int8 copy with ``quantize="int8"``).

    Raises:
        ConfigError: a ``features`` classifier (no graph to export) or bad options.
        CheckpointError: an unreadable classifier folder.
        VerificationError: onnxruntime and the Python path differ by more than ``cfg.atol``.
    """
    from wearfm.export.onnx import VerificationError

    t0 = time.perf_counter()
    clf = load_classifier(cfg.model)
    if cfg.quantize not in ("none", "int8"):
        raise ConfigError(f"--quantize {cfg.quantize!r}: choose none or int8")
    if not clf.encoder.get("file"):
        raise ConfigError(
            f"{cfg.model}: its encoder ({clf.encoder.get('source')}) is computed in Python, not a network; fit the "
            "classifier with a run folder, model.onnx or random:<name> encoder to export it"
        )
    assert clf.path is not None
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    int8 = cfg.quantize == "int8"
    fp32_path = out.with_name(out.stem + ".fp32.onnx") if int8 else out
    synth, real = _check_windows(clf, cfg)
    summary: dict[str, Any] = {"model": str(cfg.model), "kind": "classifier", "classes": clf.classes}
    with tempfile.TemporaryDirectory(prefix="wearfm-export-") as tmp:
        enc_onnx = Path(tmp) / "encoder.onnx"
        src = clf.path / clf.encoder["file"]
        if src.suffix == ".onnx":
            shutil.copyfile(src, enc_onnx)
            summary.update(exporter="copied", opset=None)
        else:
            from wearfm.export.onnx import export_onnx
            from wearfm.models.saved import file_sha256, load_encoder

            res = export_onnx(
                load_encoder(src),
                enc_onnx,
                opset=cfg.opset,
                exporter=cfg.exporter,
                check=cfg.check,
                atol=cfg.atol,
                windows=None if real is None else real[:64],
                checkpoint_sha256=file_sha256(src),
            )
            summary.update(exporter=res.exporter, opset=res.opset, encoder_max_abs_diff=res.max_abs_diff)
        _append_head(enc_onnx, fp32_path, clf, classifier_metadata(clf))
    checks: list[dict[str, Any]] = []
    if cfg.check:
        checks.append({"inputs": "realistic", **compare_classifier(clf, fp32_path, synth)})
        if real is not None:
            checks.append({"inputs": "real", **compare_classifier(clf, fp32_path, real)})
        worst = max(c["max_abs_diff"] for c in checks)
        if not worst <= cfg.atol:
            fp32_path.unlink(missing_ok=True)
            raise VerificationError(
                f"{out}: max |onnx - python| probability difference {worst:.2e} exceeds {cfg.atol:g} ({checks})"
            )
    summary.update(
        path=str(fp32_path),
        size_bytes=fp32_path.stat().st_size,
        checks=checks,
        max_abs_diff=max((c["max_abs_diff"] for c in checks), default=None),
        argmax_agreement=min((c["argmax_agreement"] for c in checks), default=None),
        quantization="none",
    )
    if int8:
        import onnxruntime as ort

        from wearfm.export.quantize import quantize_onnx, resolve_mode

        calib = real if real is not None else None
        resolve_mode(fp32_path, cfg.quant_mode, calib is not None, name=cfg.model)
        info = quantize_onnx(fp32_path, out, mode=cfg.quant_mode, calibration=calib)
        x = real if real is not None else synth
        a = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"]).run([PROBA_NAME], {"x": x})[0]
        b = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run([PROBA_NAME], {"x": x})[0]
        summary.update(
            path=str(out),
            fp32_path=str(fp32_path),
            fp32_size_bytes=fp32_path.stat().st_size,
            size_bytes=out.stat().st_size,
            quantization=info["quantization"],
            quantization_info=info,
            int8_max_abs_diff=float(np.abs(a - b).max()),
            int8_argmax_agreement=float(np.mean(a.argmax(1) == b.argmax(1))),
        )
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    log.info("exported classifier %s (%d classes) to %s", cfg.model, len(clf.classes), summary["path"])
    return summary
