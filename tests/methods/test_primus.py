from __future__ import annotations

import numpy as np
import pytest
import torch

from tests._helpers.paired import write_dataset, write_text_csv, write_text_embeddings, write_video_parquet
from wearfm.config import PretrainConfig, apply_overrides
from wearfm.data.paired import pair_dataset
from wearfm.data.windows import load_windows
from wearfm.errors import ConfigError, DataError
from wearfm.methods import MethodContext, create_method
from wearfm.methods._paired import aligned_mask
from wearfm.methods.primus import primus_view
from wearfm.models import list_encoders
from wearfm.models.saved import EncoderSpec, load_encoder


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paired")
    ds = write_dataset(tmp / "ds", subjects=2, seconds=90)
    pair_dataset(
        ds,
        tmp / "p",
        text=write_text_csv(tmp / "n.csv", seconds=90),
        text_embeddings=write_text_embeddings(tmp / "e.parquet"),
        video=write_video_parquet(tmp / "v.parquet", seconds=90),
    )
    pair_dataset(ds, tmp / "t", text=tmp / "n.csv", text_embeddings=tmp / "e.parquet")
    return tmp


def _cfg(data, out, method, **over):
    cfg = PretrainConfig(
        data=str(data),
        out=str(out),
        method=method,
        encoder="cnn_gru_tiny",
        rate_hz=30.0,
        window_s=5.0,
        channels="acc+gyr",
        batch_size=8,
        max_steps=3,
        warmup_steps=1,
        log_every=1,
        device="cpu",
        amp="off",
    )
    return apply_overrides(cfg, over)


def _method(cfg):
    ws = load_windows(cfg.data, rate_hz=cfg.rate_hz, window=int(cfg.window_s * cfg.rate_hz), channels=cfg.channels)
    spec = EncoderSpec(
        encoder=cfg.encoder,
        encoder_kwargs={"in_channels": len(ws.channels)},
        rate_hz=cfg.rate_hz,
        window_samples=ws.window,
        channels=ws.channels,
        method=cfg.method,
    )
    from pathlib import Path

    return create_method(cfg, spec, MethodContext(Path(cfg.data), ws, torch.device("cpu"))), ws


def _collate(ds, idx):
    from torch.utils.data import default_collate

    return default_collate([ds[i] for i in idx])


@pytest.mark.parametrize("method", ["primus", "imu2clip", "imu-video"])
def test_pretrain_few_steps_and_reload(paired, tmp_path, method):
    from wearfm.train import pretrain

    cfg = _cfg(paired / "p", tmp_path / "run", method)
    res = pretrain(cfg)
    assert res.steps == 3 and np.isfinite(res.final_loss)
    model = load_encoder(tmp_path / "run")
    x = torch.randn(2, 6, 150)
    out = model.forward_features(x)
    if method == "primus":  # the multimodal head's output is kept
        assert model.spec.head == {"in_dim": 16, "hidden_dim": 0, "out_dim": 512} and out.shape == (2, 512)
        torch.testing.assert_close(out, res.method.model.eval().forward_features(x))
    else:  # the encoder's output is kept
        assert model.spec.head is None and out.shape == (2, 16)


def test_primus_step_losses_and_gradients(paired):
    m, ws = _method(_cfg(paired / "p", "unused", "primus", **{"primus.queue_size": "64", "primus.head_dim": "32"}))
    ds = m.make_dataset(ws)
    for step in range(3):
        batch = _collate(ds, list(range(8 * step, 8 * step + 8)))
        loss, extra = m.training_step(batch)
        loss.backward()
    assert float(extra["loss_ss"]) > 0 and float(extra["loss_mm"]) > 0 and float(extra["loss_nn"]) > 0
    assert m.queue.count == 24
    for p in (m.model.encoder.parameters(), m.model.head.parameters(), m.ss_head.parameters()):
        assert all(q.grad is not None for q in p)
    assert m.model.embed_dim == 32 and m.adapters["video"].weight.shape == (16, 32)


def test_aligned_fraction_masks_modalities_deterministically(paired):
    a = aligned_mask(1000, 0.1, seed=3)
    assert a.sum() == 100 and np.array_equal(a, aligned_mask(1000, 0.1, seed=3))
    assert not np.array_equal(a, aligned_mask(1000, 0.1, seed=4))
    m, ws = _method(_cfg(paired / "p", "unused", "primus", **{"primus.aligned_fraction": "0.1"}))
    ds = m.make_dataset(ws)
    has = np.array([ds[i]["video_mask"] for i in range(len(ds))])
    assert has.sum() == round(0.1 * len(ws)) and np.array_equal(has, m.aligned)
    # Windows without aligned modalities contribute no L_MM gradient to the targets' adapters.
    idx = np.flatnonzero(~has)[:8]
    batch = _collate(ds, idx)
    loss, extra = m.training_step(batch)
    assert float(extra["loss_mm"]) == 0.0
    loss.backward()
    assert m.adapters["video"].weight.grad is None or m.adapters["video"].weight.grad.abs().sum() == 0


def test_nn_by_text_without_video(paired):
    m, ws = _method(_cfg(paired / "t", "unused", "primus", **{"primus.nn_by": "text"}))
    assert m.targets == ("text",) and m.queue.nn_by == "text"
    ds = m.make_dataset(ws)
    for step in range(2):
        loss, extra = m.training_step(_collate(ds, list(range(8 * step, 8 * step + 8))))
    assert float(extra["loss_nn"]) > 0
    m2, _ = _method(_cfg(paired / "t", "unused", "primus"))  # default nn_by=video falls back to text
    assert m2.queue.nn_by == "text"


def test_method_needing_missing_modality_fails_clearly(paired, tmp_path):
    with pytest.raises(DataError, match=r"needs \['video'\] pairs"):
        _method(_cfg(paired / "t", tmp_path / "r", "imu-video"))
    with pytest.raises(DataError, match="wearfm pair"):
        _method(_cfg(paired / "ds", tmp_path / "r", "primus"))


def test_augment_scale_and_reverse():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 50)
    y = primus_view(("scaling", "time_reversal"), 0.1)(x)
    ratio = y.flip(-1) / x  # constant per sample and channel
    assert torch.allclose(ratio, ratio[..., :1].expand_as(ratio), atol=1e-5)
    z = primus_view(("segment_permutation",))(x)
    assert torch.allclose(z.sort(-1).values, x.sort(-1).values)
    assert not torch.equal(z, x)


def test_view_draws_the_scaling_factors_from_the_global_generator():
    x = torch.randn(4, 6, 50)
    torch.manual_seed(7)
    y = primus_view(("scaling", "time_reversal", "negation"), 0.1)(x)
    torch.manual_seed(7)
    expected = -(x * (1.0 + 0.1 * torch.randn(4, 6, 1))).flip(-1)  # one factor per window and channel
    assert torch.equal(y, expected)


def test_view_reads_the_old_names(caplog):
    x = torch.randn(2, 3, 40)
    torch.manual_seed(1)
    old = primus_view(("scale", "reverse", "negate"), 0.2)(x)
    assert "old names" in caplog.text
    torch.manual_seed(1)
    assert torch.equal(old, primus_view(("scaling", "time_reversal", "negation"), 0.2)(x))
    torch.manual_seed(1)
    assert torch.equal(primus_view(("permute",))(x).sort(-1).values, x.sort(-1).values)


def test_unknown_augmentation_names_the_real_ones():
    with pytest.raises(ConfigError, match=r"unknown primus.augmentations \['flip'\].*time_reversal"):
        primus_view(("scaling", "flip"))


@pytest.mark.skipif("patchtst_tiny" not in list_encoders(), reason="patchtst encoder not available")
def test_imu_video_on_patchtst(paired, tmp_path):
    from wearfm.train import pretrain

    res = pretrain(_cfg(paired / "p", tmp_path / "run", "imu-video", encoder="patchtst_tiny"))
    assert res.steps == 3 and np.isfinite(res.final_loss)


def test_encoder_default_is_the_methods_and_an_explicit_one_is_kept():
    from wearfm.methods.base import resolve_encoder

    assert resolve_encoder(PretrainConfig(method="primus")).encoder == "cnn_gru"
    assert resolve_encoder(PretrainConfig(method="imu2clip")).encoder == "cnn_gru"
    assert resolve_encoder(PretrainConfig(method="imu-video")).encoder == "patchtst"
    assert resolve_encoder(PretrainConfig(method="simclr")).encoder == "resnet1d_small"
    # an explicit choice is never swapped, even when it equals another method's default
    assert resolve_encoder(PretrainConfig(method="primus", encoder="resnet1d")).encoder == "resnet1d"
    assert resolve_encoder(PretrainConfig(method="imu-video", encoder="cnn_gru")).encoder == "cnn_gru"


def test_primus_trains_the_encoder_the_user_names(paired, tmp_path):
    from wearfm.train import pretrain

    res = pretrain(_cfg(paired / "p", tmp_path / "run", "primus", encoder="resnet1d_tiny", max_steps=1))
    assert load_encoder(tmp_path / "run").spec.encoder == "resnet1d_tiny"
    assert res.method.spec.encoder == "resnet1d_tiny"


def test_primus_resumes_exactly_with_its_queue(paired, tmp_path):
    """Stopped after 3 steps and resumed, PRIMUS ends with the weights of an uninterrupted run (queue restored)."""
    import dataclasses

    from wearfm.train import pretrain
    from wearfm.train.checkpoint import load_checkpoint

    over = {"primus.queue_size": "64", "primus.head_dim": "32", "primus.nn_by": "imu", "max_steps": "6"}
    cfg = _cfg(paired / "p", tmp_path / "a", "primus", **over)
    pretrain(cfg)
    cb = dataclasses.replace(cfg, out=str(tmp_path / "b"))
    pretrain(cb, stop_at=3)
    state = load_checkpoint(tmp_path / "b")["model"]
    assert int(state["queue.fill"][1]) == 24  # 3 batches of 8 queued, and saved
    pretrain(cb, resume=True)
    a, b = load_checkpoint(tmp_path / "a")["model"], load_checkpoint(tmp_path / "b")["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_primus_checkpoint_without_queue_loads_with_an_empty_queue(paired):
    m, _ = _method(_cfg(paired / "p", "unused", "primus", **{"primus.queue_size": "64", "primus.head_dim": "32"}))
    state = {k: v for k, v in m.state_dict().items() if not k.startswith("queue.")}
    m.load_state_dict(state)  # strict: the queue's absence is tolerated
    assert m.queue.count == 0 and m.queue.ptr == 0
