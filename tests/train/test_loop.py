import dataclasses
import json
import os
import signal

import numpy as np
import pytest
import torch

from tests._helpers.synth import write_dataset
from wearfm.config import PretrainConfig
from wearfm.errors import CheckpointError, ConfigError, DataError
from wearfm.models.saved import load_encoder
from wearfm.train import pretrain
from wearfm.train.checkpoint import load_checkpoint


def _cfg(data, out, method, **kw):
    base = dict(
        data=str(data),
        out=str(out),
        method=method,
        encoder="resnet1d_tiny",
        window_s=5.0,
        batch_size=4,
        max_steps=6,
        log_every=2,
        warmup_steps=2,
        ckpt_every=1000,
    )
    base.update(kw)
    return PretrainConfig(**base)


def _weights(run):
    return load_checkpoint(run)["model"]


def test_run_folder_contents(tiny_dataset, tmp_path, toy_method):
    logs = []
    r = pretrain(_cfg(tiny_dataset, tmp_path / "run", toy_method), cli_args={"argv": ["x"]}, on_log=logs.append)
    out = tmp_path / "run"
    assert {p.name for p in out.iterdir()} >= {
        "encoder.pt",
        "checkpoint.pt",
        "config.json",
        "run.json",
        "metrics.jsonl",
    }
    assert r.steps == 6 and not r.interrupted and np.isfinite(r.final_loss)
    lines = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in lines] == [1, 2, 4, 6]
    assert lines == logs
    assert {"loss", "lr", "windows_per_s", "grad_norm", "zmean", "epoch"} <= set(lines[-1])
    run = json.loads((out / "run.json").read_text())
    assert run["dataset"]["windows"] == 24 and run["dataset"]["subjects"] == 2
    assert run["final_loss"] == pytest.approx(r.final_loss)
    assert run["cli_args"] == {"argv": ["x"]} and "torch" in run["versions"]
    assert json.loads((out / "config.json").read_text())["method"] == toy_method
    enc = load_encoder(out)
    assert enc.spec.window_samples == 150 and enc.spec.channels == ("acc_x", "acc_y", "acc_z")
    for k, v in enc.state_dict().items():  # the saved encoder is the trained one
        torch.testing.assert_close(v, r.model.state_dict()[k].cpu(), rtol=0, atol=0)
    ck = load_checkpoint(out)
    assert ck["step"] == 6 and ck["epoch"] == 1 and ck["batch_in_epoch"] == 0  # 6 batches of 4 = one epoch


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_gives_exactly_the_same_weights(tiny_dataset, tmp_path, toy_method, workers):
    # 7 steps then 7 more (crossing an epoch boundary at step 6) == 14 in one go
    cfg = _cfg(tiny_dataset, tmp_path / "a", toy_method, max_steps=14, num_workers=workers)
    pretrain(cfg)
    cb = dataclasses.replace(cfg, out=str(tmp_path / "b"))
    first = pretrain(cb, stop_at=7)
    assert first.interrupted and first.steps == 7
    second = pretrain(cb, resume=True)
    assert second.steps == 14 and second.resumed_from == 7
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ma = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    mb = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    la = {json.loads(s)["step"]: json.loads(s)["loss"] for s in ma}
    lb = {json.loads(s)["step"]: json.loads(s)["loss"] for s in mb}
    assert la[14] == lb[14]


def test_resume_can_extend_a_finished_run(tiny_dataset, tmp_path, toy_method):
    cfg = _cfg(tiny_dataset, tmp_path / "r", toy_method, max_steps=4)
    pretrain(cfg)
    r = pretrain(dataclasses.replace(cfg, max_steps=8), resume=tmp_path / "r")
    assert r.steps == 8 and r.resumed_from == 4
    again = pretrain(dataclasses.replace(cfg, max_steps=8), resume=tmp_path / "r")  # nothing left to do
    assert again.steps == 8 and again.final_loss == r.final_loss


def test_snapshots_keep_the_encoder_at_every_n_steps(tiny_dataset, tmp_path, toy_method):
    # snapshot_every=2 over 6 steps: encoders at steps 2, 4, 6; step 4's equals a run stopped at step 4
    cfg = _cfg(tiny_dataset, tmp_path / "s", toy_method, snapshot_every=2)
    pretrain(cfg)
    snaps = tmp_path / "s" / "snapshots"
    assert sorted(p.name for p in snaps.iterdir()) == ["step000002", "step000004", "step000006"]
    stopped = pretrain(dataclasses.replace(cfg, out=str(tmp_path / "t"), snapshot_every=None), stop_at=4)
    assert stopped.steps == 4 and not (tmp_path / "t" / "snapshots").exists()
    mid, ref = load_encoder(snaps / "step000004").state_dict(), load_encoder(tmp_path / "t").state_dict()
    final, last = load_encoder(snaps / "step000006").state_dict(), load_encoder(tmp_path / "s").state_dict()
    for k in ref:
        assert torch.equal(mid[k], ref[k]), k
        assert torch.equal(final[k], last[k]), k
    assert any(not torch.equal(mid[k], last[k]) for k in ref)  # the snapshots differ from the end of training
    with pytest.raises(ConfigError, match="snapshot_every"):
        pretrain(dataclasses.replace(cfg, out=str(tmp_path / "u"), snapshot_every=0))


def test_normalization_is_saved_with_the_encoder(tiny_dataset, tmp_path, toy_method):
    pretrain(_cfg(tiny_dataset, tmp_path / "n", toy_method, normalize=True, max_steps=1))
    spec = load_encoder(tmp_path / "n").spec
    assert spec.normalization is not None
    assert spec.normalization["mean"][2] == pytest.approx(1.0, abs=0.1)  # gravity on z
    assert all(s > 0 for s in spec.normalization["std"])


def test_sigterm_saves_and_stops(tiny_dataset, tmp_path, toy_method):
    def kill_at_step_2(rec):
        if rec["step"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    r = pretrain(_cfg(tiny_dataset, tmp_path / "s", toy_method, max_steps=50), on_log=kill_at_step_2)
    assert r.interrupted and r.steps == 2
    assert load_checkpoint(tmp_path / "s")["step"] == 2
    assert (tmp_path / "s" / "encoder.pt").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


def test_refuses_to_overwrite_a_run(tiny_dataset, tmp_path, toy_method):
    cfg = _cfg(tiny_dataset, tmp_path / "o", toy_method, max_steps=1)
    pretrain(cfg)
    with pytest.raises(ConfigError, match="--resume"):
        pretrain(cfg)


def test_resume_with_other_settings_is_refused(tiny_dataset, tmp_path, toy_method):
    cfg = _cfg(tiny_dataset, tmp_path / "m", toy_method, max_steps=1)
    pretrain(cfg)
    with pytest.raises(CheckpointError, match="batch_size"):
        pretrain(dataclasses.replace(cfg, batch_size=2), resume=True)


def test_unknown_names_list_choices(tiny_dataset, tmp_path, toy_method):
    with pytest.raises(ConfigError, match="resnet1d_tiny"):
        pretrain(_cfg(tiny_dataset, tmp_path / "u", toy_method, encoder="nope"))
    with pytest.raises(ConfigError, match=toy_method):
        pretrain(_cfg(tiny_dataset, tmp_path / "u", "nope"))


def test_too_little_data(tiny_dataset, tmp_path, toy_method):
    with pytest.raises(DataError, match="long enough"):
        pretrain(_cfg(tiny_dataset, tmp_path / "w", toy_method, window_s=100.0))
    with pytest.raises(DataError, match="fewer than one batch"):
        pretrain(_cfg(tiny_dataset, tmp_path / "w", toy_method, batch_size=64))


def test_gyroscope_channels(tmp_path, toy_method):
    data = write_dataset(tmp_path / "g", subjects=2, seconds=40, gyro=True)
    r = pretrain(_cfg(data, tmp_path / "gr", toy_method, channels="acc+gyr", max_steps=2))
    assert r.model.spec.channels[3:] == ("gyr_x", "gyr_y", "gyr_z")
    assert r.model.encoder.in_channels == 6


def test_memory_mapped_cache(tiny_dataset, tmp_path, toy_method):
    cache = tmp_path / "cache"
    r = pretrain(_cfg(tiny_dataset, tmp_path / "c1", toy_method, max_steps=1, cache_dir=str(cache)))
    assert r.windows == 24 and len(list(cache.glob("*/store.json"))) == 1
    r2 = pretrain(_cfg(tiny_dataset, tmp_path / "c2", toy_method, max_steps=1, cache_dir=str(cache)))
    assert r2.windows == 24
