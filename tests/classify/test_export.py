"""A classifier folder exported as one ONNX graph: raw window -> probabilities, same as the Python path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from wearfm.classify.fit import fit
from wearfm.classify.model import load_classifier
from wearfm.config import ClassifyConfig, ExportConfig
from wearfm.data.windows import load_windows
from wearfm.errors import ConfigError
from wearfm.export.meta import describe_onnx
from wearfm.export.run import export


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from tests._helpers.labelled import write_noisy_dataset

    tmp = tmp_path_factory.mktemp("export")
    data = write_noisy_dataset(tmp / "data")
    fit(ClassifyConfig(data=str(data), encoder="random:resnet1d_tiny", out=str(tmp / "clf"), shots=5))
    res = export(ExportConfig(model=str(tmp / "clf"), out=str(tmp / "har.onnx"), calibration=str(data)))
    assert res["kind"] == "classifier"
    return data, tmp / "clf", tmp / "har.onnx"


def test_onnx_matches_python_on_real_windows(exported: tuple[Path, Path, Path]) -> None:
    data, clf_dir, path = exported
    clf = load_classifier(clf_dir)
    ws = load_windows(data, rate_hz=clf.rate_hz, window=clf.window, channels=clf.channels)
    x = ws.batch(np.arange(len(ws)))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["embedding", "probabilities"]
    emb, prob = sess.run(None, {"x": x})
    ref = clf.predict_proba(x)
    assert prob.shape == (len(x), 3)
    assert np.max(np.abs(prob - ref)) < 1e-4
    assert np.mean(prob.argmax(1) == ref.argmax(1)) >= 0.999
    np.testing.assert_allclose(emb, clf.embed(x), atol=1e-4)


def test_metadata_names_the_classes(exported: tuple[Path, Path, Path]) -> None:
    _, _, path = exported
    d = describe_onnx(path)
    assert d["class_names"] == ["lie", "run", "walk"]
    m = d["metadata"]
    assert m["class_names"] == ["lie", "run", "walk"] and m["sample_rate_hz"] == 30.0
    assert m["channels"] == ["acc_x", "acc_y", "acc_z"] and m["units"] == {"acc": "g"}
    assert m["classifier"]["shots"] == 5


def test_export_check_reports_agreement(tmp_path: Path, exported: tuple[Path, Path, Path]) -> None:
    _, clf_dir, _ = exported
    res = export(ExportConfig(model=str(clf_dir), out=str(tmp_path / "h.onnx")))
    assert res["checks"] and res["max_abs_diff"] < 1e-4 and res["argmax_agreement"] == 1.0


def test_features_classifier_is_not_exportable(tmp_path: Path, exported: tuple[Path, Path, Path]) -> None:
    data, _, _ = exported
    fit(ClassifyConfig(data=str(data), encoder="features", out=str(tmp_path / "clf"), shots=2))
    with pytest.raises(ConfigError, match="run folder"):
        export(ExportConfig(model=str(tmp_path / "clf"), out=str(tmp_path / "x.onnx")))
