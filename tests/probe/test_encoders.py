import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests._helpers.onnx_files import ACC, make_onnx
from tests._helpers.probe_config import probe_config
from wearfm.errors import CheckpointError
from wearfm.probe import probe
from wearfm.probe.encoders import resolve_encoder
from wearfm.probe.heads import make_head

REPO = Path(__file__).resolve().parents[2]


def save_run(path: Path, rate=30.0, window=60, method="simclr") -> Path:
    from wearfm.models.saved import EncoderSpec, build_model, save_encoder

    spec = EncoderSpec("resnet1d_tiny", {"in_channels": 3}, rate, window, ACC, method=method)
    save_encoder(build_model(spec), path)
    return path


def test_run_folder_sets_the_contract_for_baselines(dataset, tmp_path):
    run = save_run(tmp_path / "run", rate=15.0, window=30)
    r = probe(probe_config(dataset, encoders=(str(run), "features"), window_s=None, trials=2, shots=(2,)))
    enc, feat = (e.encoder for e in r.encoders)
    assert enc["kind"] == "pretrained" and enc["method"] == "simclr" and enc["architecture"] == "resnet1d_tiny"
    assert (enc["rate_hz"], enc["window_samples"]) == (15.0, 30)
    assert (feat["rate_hz"], feat["window_samples"]) == (15.0, 30)  # features follow the first learned encoder
    assert r.encoders[0].n_test_windows == r.encoders[1].n_test_windows


def test_encoders_with_different_contracts_get_their_own_windows(dataset, tmp_path):
    run = save_run(tmp_path / "run.pt", rate=15.0, window=60)  # 4 s windows
    r = probe(probe_config(dataset, encoders=(str(run), "features"), window_s=None, rate_hz=30.0, trials=1, shots=(1,)))
    from wearfm.data.windows import load_windows

    for e, (rate, window) in zip(r.encoders, [(15.0, 60), (30.0, 120)], strict=True):
        assert (e.encoder["rate_hz"], e.encoder["window_samples"]) == (rate, window)
        ws = load_windows(dataset, rate_hz=rate, window=window)
        assert e.n_test_windows == int(np.isin(ws.subject_names(), r.test_subjects).sum())


def test_window_applies_to_learned_encoders_at_their_own_rate(dataset, tmp_path):
    run = save_run(tmp_path / "run.pt", rate=15.0, window=60)  # trained on 4 s windows
    r = probe(probe_config(dataset, encoders=(str(run), "features"), window_s=2.0, rate_hz=30.0, trials=1, shots=(1,)))
    (enc, feat) = (e.encoder for e in r.encoders)
    assert (enc["rate_hz"], enc["window_samples"]) == (15.0, 30)  # 2 s at the encoder's 15 Hz
    assert (feat["rate_hz"], feat["window_samples"]) == (30.0, 60)
    a, b = r.encoders[0].n_test_windows, r.encoders[1].n_test_windows
    assert abs(a - b) <= 0.1 * b  # same durations, about as many windows (resampling edges differ)


def test_window_too_short_for_an_encoder_is_a_clear_error(dataset, tmp_path):
    from wearfm.errors import ConfigError
    from wearfm.models.saved import EncoderSpec, build_model, save_encoder

    spec = EncoderSpec("cnn_gru_tiny", {"in_channels": 3}, 30.0, 300, ACC, method="primus")
    run = tmp_path / "gru"
    save_encoder(build_model(spec), run)
    need = build_model(spec).encoder.min_length
    assert need > 15
    with pytest.raises(ConfigError, match=r"cannot embed windows of 15 samples at 30 Hz.*--window"):
        probe(probe_config(dataset, encoders=(str(run),), window_s=0.5, trials=1, shots=(1,)))
    r = probe(probe_config(dataset, encoders=(str(run),), window_s=(need + 1) / 30.0, trials=1, shots=(1,)))
    assert r.encoders[0].encoder["window_samples"] == need + 1


def test_onnx_encoder_without_torch(dataset, tmp_path):
    path = make_onnx(tmp_path / "m.onnx")
    code = (
        "import sys\n"
        "from wearfm.config import ProbeConfig\n"
        "from wearfm.probe import probe\n"
        f"r = probe(ProbeConfig(data={str(dataset)!r}, encoders=({str(path)!r}, 'features'), shots=(1, 5), trials=2,"
        " out=''))\n"
        "assert r.encoders[0].encoder['kind'] == 'onnx' and r.encoders[0].encoder['embed_dim'] == 6\n"
        "assert r.encoders[1].encoder['window_samples'] == 60\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(r.encoders[0].summary()[5]['accuracy']['mean'])\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert float(p.stdout.strip().splitlines()[-1]) > 0.5


def test_onnx_embed_matches_numpy(tmp_path):
    enc = resolve_encoder(str(make_onnx(tmp_path / "m.onnx")), rate_hz=1, window=1, channels=ACC, batch_size=3)
    x = np.random.default_rng(0).normal(size=(7, 3, 60)).astype(np.float32)
    assert np.allclose(enc.embed(x), np.concatenate([x.mean(-1), x.max(-1)], 1), atol=1e-6)


def test_bad_model_files(tmp_path):
    with pytest.raises(CheckpointError, match="lacks"):
        resolve_encoder(str(make_onnx(tmp_path / "m.onnx", meta=False)), rate_hz=1, window=1, channels=ACC)
    bad = tmp_path / "enc.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable wearfm encoder"):
        resolve_encoder(str(bad), rate_hz=1, window=1, channels=ACC)
    with pytest.raises(CheckpointError, match="no saved encoder"):
        resolve_encoder(str(tmp_path), rate_hz=1, window=1, channels=ACC)


def test_random_encoder_is_seeded():
    x = np.random.default_rng(0).normal(size=(4, 3, 60)).astype(np.float32)
    a = resolve_encoder("random:resnet1d_tiny", rate_hz=30, window=60, channels=ACC, seed=3, device="cpu")
    b = resolve_encoder("random:resnet1d_tiny", rate_hz=30, window=60, channels=ACC, seed=3, device="cpu")
    c = resolve_encoder("random:resnet1d_tiny", rate_hz=30, window=60, channels=ACC, seed=4, device="cpu")
    assert np.allclose(a.embed(x), b.embed(x)) and not np.allclose(a.embed(x), c.embed(x))


def test_finetune_and_supervised(dataset, tmp_path):
    onnx_path = make_onnx(tmp_path / "m.onnx")
    cfg = probe_config(
        dataset,
        encoders=("random:resnet1d_tiny", "supervised:resnet1d_tiny", str(onnx_path)),
        finetune=True,
        finetune_steps=3,
        trials=1,
        shots=(2,),
    )
    r = probe(cfg)
    assert [(e.name, e.head) for e in r.encoders] == [
        ("random:resnet1d_tiny", "logreg"),
        ("random:resnet1d_tiny +finetune", "finetune"),
        ("supervised:resnet1d_tiny", "finetune"),
        (str(onnx_path), "logreg"),  # nothing to fine-tune in an ONNX file
    ]
    for e in r.encoders:
        assert 0.0 <= e.summary()[2]["macro_f1"]["mean"] <= 1.0
        assert not set(e.fit_subjects) & set(e.scored_subjects)


def test_finetune_learns_a_separable_task():
    from wearfm.probe.baselines import random_model
    from wearfm.probe.finetune import finetune_predict

    rng = np.random.default_rng(0)
    x = 0.05 * rng.normal(size=(40, 3, 60)).astype(np.float32)
    y = np.repeat([0, 1], 20)
    x[y == 1, 0] += 1.0  # class 1: gravity on x
    x[y == 0, 2] += 1.0  # class 0: gravity on z
    model = random_model("resnet1d_tiny", 30.0, 60, ACC, seed=0)
    pred = finetune_predict(model, x[::2], y[::2], x[1::2], 2, steps=30, lr=3e-3)
    assert (pred == y[1::2]).mean() > 0.9


@pytest.mark.parametrize("head", ["knn", "mlp"])
def test_other_heads(dataset, head):
    r = probe(probe_config(dataset, head=head, trials=2))
    assert r.encoders[0].head == head and r.encoders[0].summary()[5]["macro_f1"]["mean"] > 0.8


def test_logreg_uses_inner_cv_only_with_enough_shots():
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    assert isinstance(make_head("logreg-sklearn", np.repeat([0, 1], 5)), GridSearchCV)
    few = make_head("logreg-sklearn", np.repeat([0, 1], 4))
    assert isinstance(few, Pipeline) and few[-1].C == 1.0
