import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from tests._helpers.signals import make_windows
from tests._helpers.synth import write_dataset
from wearfm.config import PretrainConfig, SimCLRConfig
from wearfm.errors import ConfigError
from wearfm.methods import create_method, list_methods
from wearfm.methods.base import MethodContext
from wearfm.methods.simclr import SimCLR
from wearfm.models.saved import EncoderSpec, load_encoder
from wearfm.train import pretrain
from wearfm.train.checkpoint import load_checkpoint

ACC = ("acc_x", "acc_y", "acc_z")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _method(channels=ACC, **simclr):
    cfg = PretrainConfig(method="simclr", encoder="resnet1d_tiny", simclr=SimCLRConfig(**simclr))
    spec = EncoderSpec("resnet1d_tiny", {"in_channels": len(channels)}, 30.0, 150, channels)
    ctx = MethodContext(Path("."), None, torch.device("cpu"))  # type: ignore[arg-type]
    return create_method(cfg, spec, ctx)


def test_registered():
    assert "simclr" in list_methods()
    assert isinstance(_method(), SimCLR)


def test_step_gives_finite_loss_and_gradients_everywhere():
    torch.manual_seed(0)
    m = _method(learnable_temperature=True).train()
    x = torch.from_numpy(make_windows(8, 3, 150))
    loss, extra = m.training_step({"x": x})
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    assert m.loss_fn.log_temperature.grad is not None
    assert float(extra["temperature"]) == pytest.approx(0.1)
    # a batch of N windows has 2N-2 negatives per view: the loss starts near log(2N-1) for random embeddings
    assert 0.5 * np.log(15) < float(loss) < 2 * np.log(15)


def test_views_are_random_but_reproducible():
    m = _method()
    x = torch.from_numpy(make_windows(4, 3, 150))
    torch.manual_seed(1)
    a = m.augment(x)
    torch.manual_seed(1)
    b = m.augment(x)
    assert torch.equal(a, b)
    assert not torch.equal(m.augment(x), m.augment(x))


def test_kept_model_is_the_encoder_without_head(tmp_path):
    m = _method(projection_dim=16)
    assert m.model.head is None and m.model.embed_dim == m.model.encoder.embed_dim == 32
    assert m.head.out_dim == 16
    paths = m.save_artifacts(tmp_path, {})
    enc = load_encoder(paths["encoder"])
    assert enc.spec.head is None
    x = torch.from_numpy(make_windows(3, 3, 150))
    torch.testing.assert_close(enc(x), m.model.eval()(x))


def test_rotation_needs_axis_groups():
    with pytest.raises(ConfigError, match="3-axis"):
        _method(channels=("acc_x", "acc_y"))
    _method(channels=("acc_x", "acc_y"), augmentations=("scaling", "jitter"))


def test_overfits_one_batch():
    torch.manual_seed(0)
    m = _method(augmentations=("jitter",)).train()
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    x = torch.from_numpy(make_windows(16, 3, 150, seed=1))
    waves = torch.sin(torch.arange(150)[None, :] / (2 + torch.arange(16))[:, None])  # (16, 150)
    x = x + waves[:, None, :]  # make the windows distinguishable
    losses = []
    for _ in range(25):
        loss, _ = m.training_step({"x": x})
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_pretrain_simclr_resumes_exactly(tmp_path):
    data = write_dataset(tmp_path / "d", subjects=2, seconds=60)
    cfg = PretrainConfig(
        data=str(data),
        out=str(tmp_path / "a"),
        method="simclr",
        encoder="resnet1d_tiny",
        window_s=5.0,
        batch_size=4,
        max_steps=8,
        log_every=1,
        warmup_steps=2,
        normalize=True,
        simclr=SimCLRConfig(learnable_temperature=True, projection_dim=16),
    )
    full = pretrain(cfg)
    assert np.isfinite(full.final_loss)
    cb = dataclasses.replace(cfg, out=str(tmp_path / "b"))
    pretrain(cb, stop_at=3)
    pretrain(cb, resume=True)
    a, b = load_checkpoint(tmp_path / "a")["model"], load_checkpoint(tmp_path / "b")["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    enc = load_encoder(tmp_path / "a")
    assert enc.spec.method == "simclr" and enc.spec.normalization is not None
