"""Registry-driven encoder tests (timm style): forward, backward, shapes, lengths, sizes and ONNX round-trips."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from wearfm.errors import ConfigError
from wearfm.models import (
    EncoderSpec,
    build_model,
    create_encoder,
    list_encoders,
    load_encoder,
    save_encoder,
)

ALL = list_encoders()
TINY = list_encoders("*_tiny")


def _length(enc: torch.nn.Module) -> int:
    return max(int(enc.min_length), 64)


def test_registry_lists_the_six_encoders() -> None:
    assert set(ALL) >= {"resnet1d", "resnet1d_tiny", "cnn_gru", "cnn_gru_tiny", "patchtst", "patchtst_tiny"}


def test_unknown_encoder_lists_choices() -> None:
    with pytest.raises(ConfigError, match="resnet1d"):
        create_encoder("resnet2d")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("channels", [3, 6])
def test_forward_backward_shape_no_nan(name: str, channels: int) -> None:
    torch.manual_seed(0)
    enc = create_encoder(name, in_channels=channels)
    x = torch.randn(3, channels, _length(enc), requires_grad=True)
    z = enc.forward_features(x)
    assert z.shape == (3, enc.embed_dim)
    assert z.dtype == torch.float32
    assert torch.isfinite(z).all()
    z.square().mean().backward()
    grads = [p.grad for p in enc.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0  # type: ignore[union-attr]
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", TINY)
def test_several_input_lengths(name: str) -> None:
    enc = create_encoder(name, in_channels=3).eval()
    m = int(enc.min_length)
    for t in sorted({m, m + 1, m + 7, 2 * m + 13, 300}):
        z = enc(torch.randn(2, 3, t))
        assert z.shape == (2, enc.embed_dim), t
        assert torch.isfinite(z).all(), t


@pytest.mark.parametrize("name", ALL)
def test_batch_size_one_train_and_eval(name: str) -> None:
    enc = create_encoder(name, in_channels=3)
    x = torch.randn(1, 3, _length(enc))
    assert enc.train()(x).shape == (1, enc.embed_dim)
    z1 = enc.eval()(x)
    z2 = enc(torch.cat([x, torch.randn_like(x)]))[:1]  # eval output of a sample does not depend on the batch
    assert torch.allclose(z1, z2, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_too_short_input_is_a_clear_error(name: str) -> None:
    enc = create_encoder(name, in_channels=3)
    if enc.min_length <= 1:
        pytest.skip("accepts any length")
    with pytest.raises(ValueError, match=f"at least {enc.min_length} samples"):
        enc(torch.randn(2, 3, enc.min_length - 1))
    enc(torch.randn(2, 3, enc.min_length))  # the documented minimum itself works


def _n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_resnet1d_matches_relcon_size() -> None:
    enc = create_encoder("resnet1d", in_channels=3)
    assert enc.embed_dim == 256
    assert _n_params(enc) == pytest.approx(3.64e6, rel=0.02)
    assert enc.min_length == 11


def test_cnn_gru_matches_primus_size() -> None:
    enc = create_encoder("cnn_gru", in_channels=6)
    assert enc.embed_dim == 512
    assert _n_params(enc) == 850_892  # primus.md section 0, worked out by hand from the released layer shapes


def test_cnn_gru_runs_over_time_or_channels() -> None:
    over_time = create_encoder("cnn_gru", in_channels=6)
    over_channels = create_encoder("cnn_gru", in_channels=6, gru_over="channels")
    assert over_time.gru.input_size == 32 and over_channels.gru.input_size == 32
    # Over time the number of GRU steps follows the input length; over channels it is always 32 (the conv width).
    steps: list[int] = []
    hook = over_time.gru.register_forward_hook(lambda m, i, o: steps.append(i[0].shape[1]))
    over_time(torch.randn(1, 6, 250))
    over_time(torch.randn(1, 6, 1000))
    hook.remove()
    assert steps == [5, 32]  # 250 -> 232 -> 77 -> 69 -> 23 -> 15 -> 5, and IMU2CLIP's 1000 -> ... -> 32
    hook = over_channels.gru.register_forward_hook(lambda m, i, o: steps.append(i[0].shape[1]))
    over_channels(torch.randn(1, 6, 250))
    hook.remove()
    assert steps[-1] == 32
    with pytest.raises(ValueError, match="gru_over"):
        create_encoder("cnn_gru", gru_over="space")


def test_patchtst_paper_configuration() -> None:
    enc = create_encoder("patchtst", in_channels=6)
    assert enc.embed_dim == 6 * 128  # per-channel CLS tokens, concatenated (768-d as in the paper's code)
    assert enc.patchify(torch.zeros(1, 6, 250)).shape == (1, 6, 16, 16)  # ceil(250 / 16) patches
    assert create_encoder("patchtst", in_channels=6, pooling="cls_mean").embed_dim == 128


def test_patchtst_is_invariant_to_per_channel_offset_and_gain() -> None:
    enc = create_encoder("patchtst_tiny", in_channels=3).eval()
    x = torch.randn(2, 3, 100)
    gain = torch.tensor([2.0, 0.5, 3.0]).view(1, 3, 1)
    offset = torch.tensor([1.0, -1.0, 0.3]).view(1, 3, 1)
    assert torch.allclose(enc(x), enc(x * gain + offset), atol=1e-4)  # instance scaling


def test_patchtst_last_partial_patch_is_zero_padded() -> None:
    enc = create_encoder("patchtst_tiny", in_channels=1)
    p = enc.patchify(torch.arange(1, 21, dtype=torch.float32).view(1, 1, 20))
    assert p.shape == (1, 1, 2, 16)
    assert torch.equal(p[0, 0, 1, :4], torch.tensor([17.0, 18.0, 19.0, 20.0]))
    assert torch.equal(p[0, 0, 1, 4:], torch.zeros(12))


def test_size_overrides() -> None:
    assert create_encoder("resnet1d", widths=(16, 32), blocks=(1, 1), kernels=(3, 3)).embed_dim == 32
    assert create_encoder("cnn_gru", hidden=64).embed_dim == 64
    assert create_encoder("patchtst", d_model=32, depth=1, heads=2, in_channels=3).embed_dim == 96
    with pytest.raises(ValueError, match="equal length"):
        create_encoder("resnet1d", widths=(16, 32), blocks=(1,), kernels=(3, 3))


@pytest.mark.parametrize("name", TINY)
def test_saved_encoder_round_trip(name: str, tmp_path: Path) -> None:
    enc = create_encoder(name, in_channels=3)
    spec = EncoderSpec(
        encoder=name,
        encoder_kwargs={"in_channels": 3},
        rate_hz=30.0,
        window_samples=300,
        channels=("acc_x", "acc_y", "acc_z"),
    )
    model = build_model(spec).eval()
    assert model.embed_dim == enc.embed_dim
    loaded = load_encoder(save_encoder(model, tmp_path))
    x = torch.randn(2, 3, 300)
    assert torch.allclose(model(x), loaded(x))


def _onnx_round_trip(enc: torch.nn.Module, path: Path, length: int, dynamo: bool = False) -> float:
    """Export (dynamic batch and time), then compare onnxruntime with PyTorch; returns the max abs diff."""
    import onnxruntime as ort

    enc = enc.eval()
    x = torch.randn(2, enc.in_channels, length)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            dims = ({0: torch.export.Dim("batch", max=4096), 2: torch.export.Dim("time", min=enc.min_length)},)
            torch.onnx.export(enc, (x,), dynamo=True, dynamic_shapes=dims, input_names=["x"]).save(path)
        else:
            torch.onnx.export(
                enc,
                (x,),
                path,
                dynamo=False,
                opset_version=17,
                input_names=["x"],
                output_names=["embedding"],
                dynamic_axes={"x": {0: "batch", 2: "time"}, "embedding": {0: "batch"}},
            )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for b, t in [(1, length), (7, length), (3, length + 37)]:
        xx = torch.randn(b, enc.in_channels, t)
        with torch.no_grad():
            ref = enc(xx).numpy()
        out = sess.run(None, {"x": xx.numpy()})[0]
        assert out.shape == ref.shape
        worst = max(worst, float(np.abs(out - ref).max()))
    return worst


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [(n, {}) for n in TINY] + [("cnn_gru_tiny", {"gru_over": "channels"})],
)
def test_onnx_round_trip_tiny(name: str, kwargs: dict, tmp_path: Path) -> None:
    enc = create_encoder(name, in_channels=3, **kwargs)
    assert _onnx_round_trip(enc, tmp_path / "m.onnx", length=max(enc.min_length, 64)) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet1d_tiny", "patchtst_tiny"])
def test_onnx_round_trip_dynamo(name: str, tmp_path: Path) -> None:
    # The torch.export-based exporter keeps batch and time dynamic for the conv and transformer encoders; with
    # torch 2.13 it cannot decompose nn.GRU with a dynamic time axis, so cnn_gru uses dynamo=False (see README).
    enc = create_encoder(name, in_channels=3)
    assert _onnx_round_trip(enc, tmp_path / "m.onnx", length=64, dynamo=True) <= 1e-4


@pytest.mark.parametrize("name", TINY)
def test_bf16_autocast_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    enc = create_encoder(name, in_channels=6)
    x = torch.randn(4, 6, max(enc.min_length, 64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = enc(x)
    z.float().square().sum().backward()
    assert torch.isfinite(z).all()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in enc.parameters())
    with torch.no_grad():
        ref = enc(x)
    assert float((z.detach().float() - ref).abs().max()) <= 0.05 * float(ref.abs().max()) + 1e-3


@pytest.mark.gpu
@pytest.mark.parametrize("name", ALL)
def test_cuda_bf16_forward_backward(name: str) -> None:
    enc = create_encoder(name, in_channels=6).cuda()
    x = torch.randn(8, 6, max(enc.min_length, 250), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        z = enc(x)
    z.float().square().mean().backward()
    assert z.shape == (8, enc.embed_dim) and torch.isfinite(z).all()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in enc.parameters())
