"""`wearfm classify fit`: the probe's head on the probe's windows, kept in a classifier folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests._helpers.labelled import write_dataset, write_noisy_dataset
from wearfm.classify.fit import fit
from wearfm.classify.model import CLASSIFIER_FILE, load_classifier
from wearfm.classify.predict import predict
from wearfm.config import ClassifyConfig, ProbeConfig
from wearfm.errors import CheckpointError, ConfigError, DataError
from wearfm.probe import probe

TEST = ("s4", "s5")


@pytest.mark.parametrize("encoder", ["features", "random:resnet1d_tiny"])
@pytest.mark.parametrize("k", [2, 5])
def test_fit_predict_macro_f1_equals_probe(noisy: Path, tmp_path: Path, encoder: str, k: int) -> None:
    """Fit on the probe's train subjects with k shots and seed, predict its test subjects: the probe's figure."""
    pr = probe(
        ProbeConfig(data=str(noisy), encoders=(encoder,), shots=(k,), trials=1, out="", test_subjects=TEST, seed=3)
    )
    expected = pr.encoders[0].scores[k]["macro_f1"][0]
    assert 0.3 < expected < 1.0  # the data leave room for a different draw to score differently
    fit(
        ClassifyConfig(
            data=str(noisy),
            encoder=encoder,
            out=str(tmp_path / "clf"),
            shots=k,
            seed=3,
            subjects=tuple(pr.train_subjects),
        )
    )
    res = predict(
        ClassifyConfig(data=str(noisy), model=str(tmp_path / "clf"), out=str(tmp_path / "t.parquet"), subjects=TEST)
    )
    assert res["labelled_windows"] == pr.encoders[0].n_test_windows
    assert res["macro_f1_raw"] == pytest.approx(expected, abs=1e-12)
    assert res["macro_f1"] == res["macro_f1_raw"]  # smooth none


def test_other_seed_draws_other_shots(noisy: Path, tmp_path: Path) -> None:
    """The equality above depends on the draw: another seed fits on other windows."""
    fit(ClassifyConfig(data=str(noisy), encoder="features", out=str(tmp_path / "a"), shots=2, seed=3))
    fit(ClassifyConfig(data=str(noisy), encoder="features", out=str(tmp_path / "b"), shots=2, seed=4))
    a, b = load_classifier(tmp_path / "a"), load_classifier(tmp_path / "b")
    assert not np.allclose(a.head.mean, b.head.mean)


def test_folder_holds_contract_head_and_provenance(noisy: Path, tmp_path: Path) -> None:
    out = tmp_path / "clf"
    res = fit(ClassifyConfig(data=str(noisy), encoder="random:resnet1d_tiny", out=str(out), shots=5, seed=1))
    desc = json.loads((out / CLASSIFIER_FILE).read_text())
    assert desc["classes"] == ["lie", "run", "walk"]
    assert desc["contract"]["rate_hz"] == 30.0 and desc["contract"]["channels"] == ["acc_x", "acc_y", "acc_z"]
    assert desc["contract"]["units"] == {"acc": "g"}
    assert desc["provenance"]["shots"] == 5 and desc["provenance"]["seed"] == 1
    assert desc["provenance"]["windows_per_class"] == {"lie": 5, "run": 5, "walk": 5}
    assert (out / "encoder.pt").is_file() and desc["encoder"]["file"] == "encoder.pt"
    assert res["cv"]["macro_f1"] is not None and res["cv"]["subjects"] == 5  # five subjects: cross-validated
    clf = load_classifier(out)
    x = np.random.default_rng(0).standard_normal((4, 3, clf.window)).astype(np.float32)
    p = clf.predict_proba(x)
    assert p.shape == (4, 3) and np.allclose(p.sum(1), 1.0)


def test_all_labels_without_shots(noisy: Path, tmp_path: Path) -> None:
    res = fit(ClassifyConfig(data=str(noisy), encoder="features", out=str(tmp_path / "clf")))
    assert res["windows_per_class"] == {"lie": 25, "run": 25, "walk": 25}  # 5 subjects x 5 whole 10 s windows


def test_one_class_is_refused(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", activities=("walk",))
    with pytest.raises(DataError, match="at least 2"):
        fit(ClassifyConfig(data=str(data), encoder="features", out=str(tmp_path / "clf")))


def test_unknown_subjects_are_refused(noisy: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not in"):
        fit(ClassifyConfig(data=str(noisy), encoder="features", out=str(tmp_path / "c"), subjects=("nobody",)))


def test_folder_of_another_version_is_refused(noisy: Path, tmp_path: Path) -> None:
    out = tmp_path / "clf"
    fit(ClassifyConfig(data=str(noisy), encoder="features", out=str(out), shots=2))
    desc = json.loads((out / CLASSIFIER_FILE).read_text())
    desc["format_version"] = 99
    (out / CLASSIFIER_FILE).write_text(json.dumps(desc))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_classifier(out)
    with pytest.raises(CheckpointError, match="no classifier.json"):
        load_classifier(tmp_path)


def test_few_subjects_skip_cross_validation(tmp_path: Path) -> None:
    data = write_noisy_dataset(tmp_path / "data", subjects=("s1", "s2"), seconds=30)
    res = fit(ClassifyConfig(data=str(data), encoder="features", out=str(tmp_path / "clf")))
    assert res["cv"]["macro_f1"] is None and "needs 3" in res["cv"]["reason"]
