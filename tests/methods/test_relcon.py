"""RelCon's two methods on tiny synthetic data: both stages through the Python API and the CLI, the fast
training step against the straightforward reference, candidate sampling, and bad-input messages."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests._helpers.relcon_reference import reference_step
from tests._helpers.synth import write_dataset
from wearfm.config import MotifDistanceConfig, PretrainConfig, RelConConfig
from wearfm.data.windows import load_windows
from wearfm.errors import CheckpointError, ConfigError, DataError
from wearfm.methods import MethodContext, create_method
from wearfm.methods.relcon import CandidateItems, candidate_pairs
from wearfm.models.motif_distance import MotifDistance, load_distance_model, save_distance_model
from wearfm.models.saved import EncoderSpec, load_encoder
from wearfm.train import pretrain

ACC = ("acc_x", "acc_y", "acc_z")
SMALL_MOTIF = MotifDistanceConfig(embed_dim=16, kernel_size=7)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 subjects x 120 s at 30 Hz: 60 windows of 2 s each."""
    return write_dataset(tmp_path_factory.mktemp("relcon"), subjects=3, seconds=120)


def _cfg(data: Path, out: Path, **kw: object) -> PretrainConfig:
    base = PretrainConfig(
        data=str(data), out=str(out), encoder="resnet1d_tiny", window_s=2.0, batch_size=8, max_steps=2,
        warmup_steps=1, log_every=1, motif=SMALL_MOTIF, relcon=RelConConfig(within_candidates=4),
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dist_run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "run"
    pretrain(_cfg(data, out, method="relcon-distance", max_steps=3))
    return out


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_stage1_writes_distance_model(dist_run: Path) -> None:
    assert (dist_run / "distance.pt").exists() and not (dist_run / "encoder.pt").exists()
    net, spec = load_distance_model(dist_run)
    assert spec["channels"] == ACC and spec["rate_hz"] == 30.0 and spec["window_samples"] == 60
    assert net.embed_dim == 16 and net.attention == "softmax" and not net.training
    assert all(np.isfinite(_losses(dist_run)))
    assert net.center is False  # the paper's distance sees raw windows


def test_centred_distance_trains_saves_and_ranks_for_stage2(data: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    pretrain(_cfg(data, dist, method="relcon-distance", max_steps=2, motif=replace(SMALL_MOTIF, center=True)))
    net, spec = load_distance_model(dist)
    assert net.center and spec["center"] is True
    rc = RelConConfig(distance=str(dist), within_candidates=4)
    res = pretrain(_cfg(data, tmp_path / "enc", method="relcon", relcon=rc))
    assert res.steps == 2 and math.isfinite(res.final_loss) and (tmp_path / "enc" / "encoder.pt").exists()


def test_stage2_trains_encoder(data: Path, dist_run: Path, tmp_path: Path) -> None:
    cfg = _cfg(
        data, tmp_path / "enc", method="relcon", relcon=RelConConfig(distance=str(dist_run), within_candidates=4)
    )
    res = pretrain(cfg)
    model = load_encoder(res.out_dir)
    assert model.spec.method == "relcon" and model.spec.head is None  # the pooled embedding, no projection head
    assert model.forward_features(torch.randn(2, 3, 60)).shape == (2, model.encoder.embed_dim)
    # the frozen distance network is neither trained nor checkpointed
    ckpt = torch.load(res.out_dir / "checkpoint.pt", weights_only=True)
    assert not any("distance" in k or k.startswith("f_q") for k in ckpt["model"])
    assert all(np.isfinite(_losses(res.out_dir)))


def _train(method: torch.nn.Module, items: object, steps: int, batch: int, lr: float, seed: int = 0) -> None:
    opt = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=lr)
    method.train()
    g = np.random.default_rng(seed)
    for _ in range(steps):
        idx = g.choice(len(items), batch, replace=False).tolist()  # type: ignore[arg-type]
        got = items.__getitems__(idx)  # type: ignore[attr-defined]
        b = {k: torch.as_tensor(np.stack([it[k] for it in got])) for k in got[0] if k != "index"}
        loss, _ = method.training_step(b)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_short_pretraining_decreases_both_losses(data: Path, tmp_path: Path) -> None:
    """Stage 1: loss on a fixed held-out batch and augmentation; stage 2: loss on a fixed batch of anchors and
    candidates (K = 15 + 4; log(19!) = 39.3 for an uninformative encoder); before and after a few steps."""
    torch.manual_seed(0)
    ws = load_windows(data, rate_hz=30.0, window=60)
    train, held = ws.subset(ws.subject != 2), ws.subset(ws.subject == 2)
    spec = EncoderSpec("resnet1d_tiny", {"in_channels": 3}, 30.0, 60, ACC)
    ctx = MethodContext(data, train, torch.device("cpu"))
    stage1 = create_method(_cfg(data, tmp_path, method="relcon-distance"), spec, ctx)
    xh = torch.as_tensor(held.batch(np.arange(32)))

    def held_loss1() -> float:
        stage1.eval()
        with torch.no_grad():
            aug = stage1.augment(xh, generator=torch.Generator().manual_seed(5))
            return float((stage1.net(xh, aug) - xh).pow(2).sum(dim=(1, 2)).mean())

    before = held_loss1()
    _train(stage1, stage1.make_dataset(train), steps=100, batch=16, lr=3e-3)
    after = held_loss1()
    assert after < 0.85 * before, (before, after)
    stage1.save_artifacts(tmp_path / "dist", {})

    cfg = _cfg(
        data, tmp_path, method="relcon", relcon=RelConConfig(distance=str(tmp_path / "dist"), within_candidates=4)
    )
    stage2 = create_method(cfg, spec, ctx)
    items = stage2.make_dataset(train)
    torch.manual_seed(1)
    fixed = items.__getitems__(list(range(0, 112, 7)))  # type: ignore[attr-defined]
    hb = {k: torch.as_tensor(np.stack([it[k] for it in fixed])) for k in ("x", "within")}

    def fixed_loss2() -> float:
        with torch.no_grad():
            return float(stage2.training_step(hb)[0])

    before = fixed_loss2()
    _train(stage2, items, steps=40, batch=16, lr=1e-3, seed=1)
    after = fixed_loss2()
    assert after < before - 1.0, (before, after)


@pytest.mark.parametrize("attention", ["softmax", "sparsemax"])
def test_fast_step_equals_reference(data: Path, tmp_path: Path, attention: str) -> None:
    torch.manual_seed(0)
    net = MotifDistance(3, embed_dim=16, kernel_size=7, attention=attention)
    save_distance_model(net, tmp_path, rate_hz=30.0, window_samples=60, channels=ACC)
    ws = load_windows(data, rate_hz=30.0, window=60)
    spec = EncoderSpec("resnet1d_tiny", {"in_channels": 3}, 30.0, 60, ACC, method="relcon")
    cfg = _cfg(data, tmp_path, method="relcon", relcon=RelConConfig(distance=str(tmp_path), distance_chunk=7))
    method = create_method(cfg, spec, MethodContext(data, ws, torch.device("cpu")))
    method.train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, 60, generator=g) + torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1)
    within = torch.randn(6, 4, 3, 60, generator=g)
    loss, _ = method.training_step({"x": x, "within": within})
    ref = reference_step(method.distance_net, method.model, x, within, tau=0.1)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    grads = torch.autograd.grad(loss, list(method.model.parameters()))
    ref_grads = torch.autograd.grad(ref, list(method.model.parameters()))
    ga, gb = torch.cat([g.flatten() for g in grads]), torch.cat([g.flatten() for g in ref_grads])
    assert torch.allclose(ga, gb, rtol=1e-3, atol=1e-4 * gb.abs().max().item())


def test_candidate_pairs_layout() -> None:
    anchor_idx, cand = candidate_pairs(3, 2)
    assert cand.tolist() == [[1, 2, 3, 4], [0, 2, 5, 6], [0, 1, 7, 8]]
    assert anchor_idx.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_candidates_come_from_the_anchor_group(data: Path) -> None:
    from wearfm.data.dataset import group_index

    ws = load_windows(data, rate_hz=30.0, window=60)
    items = CandidateItems(ws, within=5, group_by="hour")
    groups, _ = group_index(ws, by="hour")
    torch.manual_seed(0)
    for i in (0, 17, len(items) - 1):
        picks = items._pick(i)
        assert picks[0] == items.anchors[i] and len(set(picks.tolist())) == 6  # anchor + 5 distinct others
        assert len(set(groups[picks].tolist())) == 1
    batch = items.__getitems__([0, 1])
    assert batch[0]["x"].shape == (3, 60) and batch[0]["within"].shape == (5, 3, 60)
    np.testing.assert_array_equal(batch[1]["x"], ws.get(int(items.anchors[1])))


def test_small_groups_are_dropped_with_a_log_line(data: Path, caplog: pytest.LogCaptureFixture) -> None:
    ws = load_windows(data, rate_hz=30.0, window=60)
    # subject 0 keeps only 3 windows: too few for 4 candidates
    keep = np.flatnonzero(ws.subject != 0).tolist() + np.flatnonzero(ws.subject == 0)[:3].tolist()
    with caplog.at_level(logging.INFO, logger="wearfm.methods.relcon"):
        items = CandidateItems(ws.subset(np.sort(keep)), within=4, group_by="subject")
    assert "S00" in caplog.text and "dropped" in caplog.text
    assert len(items) == len(keep) - 3
    with pytest.raises(DataError, match="lower --set relcon.within_candidates"):
        CandidateItems(ws, within=500, group_by="hour")


def test_stage2_bad_inputs(data: Path, dist_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run stage 1 first"):
        pretrain(_cfg(data, tmp_path / "a", method="relcon"))
    with pytest.raises(CheckpointError, match="relcon-distance"):
        pretrain(_cfg(data, tmp_path / "b", method="relcon", relcon=RelConConfig(distance=str(tmp_path))))
    with pytest.raises(ConfigError, match="30 Hz"):
        pretrain(_cfg(data, tmp_path / "c", method="relcon", rate_hz=20.0, relcon=RelConConfig(distance=str(dist_run))))
    other = save_distance_model(MotifDistance(2, 16, 7), tmp_path / "xy", rate_hz=30, window_samples=60,
                                channels=("acc_x", "acc_y"))  # fmt: skip
    with pytest.raises(ConfigError, match=r"channels \['acc_x', 'acc_y'\]"):
        pretrain(_cfg(data, tmp_path / "d", method="relcon", relcon=RelConConfig(distance=str(other.parent))))
    with pytest.raises(DataError, match="within_candidates"):
        pretrain(
            _cfg(
                data,
                tmp_path / "e",
                method="relcon",
                relcon=RelConConfig(distance=str(dist_run), within_candidates=200),
            )
        )


def test_cli_messages(data: Path, tmp_path: Path) -> None:
    from wearfm.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["pretrain", str(data), "--method", "relcon", "--out", str(tmp_path / "r"), "-q"])
    assert res.exit_code == 1
    assert "run stage 1 first" in res.output and "Traceback" not in res.output
    res = runner.invoke(
        app,
        ["pretrain", str(data), "--method", "relcon", "--out", str(tmp_path / "s"), "-q",
         "--set", f"relcon.distance={tmp_path / 'nowhere'}"],
    )  # fmt: skip
    assert res.exit_code == 1 and "no distance model" in res.output


def test_cli_distance_and_candidate_options(data: Path, dist_run: Path, tmp_path: Path) -> None:
    """The issue's command: `--distance RUN --within-candidates N` (same as the relcon.* settings)."""
    from wearfm.cli import app

    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["pretrain", str(data), "--method", "relcon", "--distance", str(dist_run), "--within-candidates", "3",
            "--encoder", "resnet1d_tiny", "--rate", "30", "--window", "2s", "--batch", "8", "--max-steps", "1",
            "--out", str(out), "-q"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "config.json").read_text())["relcon"]
    assert saved["distance"] == str(dist_run) and saved["within_candidates"] == 3
    res = runner.invoke(app, ["pretrain", str(data), "--method", "simclr", "--distance", str(dist_run), "-q",
                              "--out", str(tmp_path / "x")])  # fmt: skip
    assert res.exit_code == 1 and "for --method relcon" in res.output and not (tmp_path / "x").exists()


def test_collapse_metrics(data: Path, tmp_path: Path) -> None:
    """Identical inputs give identical embeddings: the loss is then log K! and the similarity spread 0."""
    torch.manual_seed(0)
    save_distance_model(MotifDistance(3, embed_dim=16, kernel_size=7), tmp_path, rate_hz=30.0, window_samples=60,
                        channels=ACC)  # fmt: skip
    ws = load_windows(data, rate_hz=30.0, window=60)
    spec = EncoderSpec("resnet1d_tiny", {"in_channels": 3}, 30.0, 60, ACC, method="relcon")
    cfg = _cfg(data, tmp_path, method="relcon", relcon=RelConConfig(distance=str(tmp_path)))
    method = create_method(cfg, spec, MethodContext(data, ws, torch.device("cpu"))).eval()
    one = torch.randn(1, 3, 60)
    x, within = one.expand(6, 3, 60).clone(), one.expand(6, 4, 3, 60).clone()
    loss, m = method.training_step({"x": x, "within": within})
    k = 5 + 4
    assert m["loss_if_collapsed"] == pytest.approx(math.lgamma(k + 1))
    assert loss.item() == pytest.approx(m["loss_if_collapsed"], rel=1e-4)
    assert float(m["sim_spread"]) < 1e-3
    _, m2 = method.training_step({"x": torch.randn(6, 3, 60), "within": torch.randn(6, 4, 3, 60)})
    assert float(m2["sim_spread"]) > float(m["sim_spread"])


def test_distances_stay_fp32_under_autocast(data: Path, tmp_path: Path) -> None:
    """Under bf16 autocast the frozen distances equal the fp32 ones exactly (close candidates keep their order)."""
    torch.manual_seed(0)
    net = MotifDistance(3, embed_dim=16, kernel_size=7)
    save_distance_model(net, tmp_path, rate_hz=30.0, window_samples=60, channels=ACC)
    ws = load_windows(data, rate_hz=30.0, window=60)
    spec = EncoderSpec("resnet1d_tiny", {"in_channels": 3}, 30.0, 60, ACC, method="relcon")
    cfg = _cfg(data, tmp_path, method="relcon", relcon=RelConConfig(distance=str(tmp_path)))
    method = create_method(cfg, spec, MethodContext(data, ws, torch.device("cpu")))
    g = torch.Generator().manual_seed(1)
    x, within = torch.randn(4, 3, 60, generator=g), torch.randn(4, 4, 3, 60, generator=g)
    ref = method.distances(x, within)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = method.distances(x, within)
    assert d.dtype == torch.float32
    assert torch.equal(d, ref)
