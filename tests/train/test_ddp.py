"""Two CPU processes with gloo (as `torchrun --nproc_per_node 2` would start them) end with identical weights."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from wearfm.config import PretrainConfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, out: str, method: str | None) -> None:
    # a spawned process of its own: what torchrun would set, set in this process only
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    from tests._helpers.toy import register_toy
    from wearfm.train import pretrain

    name = method or register_toy()
    cfg = PretrainConfig(
        data=data,
        out=out,
        method=name,
        encoder="resnet1d_tiny",
        window_s=5.0,
        batch_size=4,
        max_steps=4,
        log_every=1,
        warmup_steps=1,
        device="cpu",
        cache_dir=f"{out}/cache",
    )
    r = pretrain(cfg)
    torch.save({k: v.detach().cpu() for k, v in r.method.state_dict().items()}, f"{out}/rank{rank}.pt")
    torch.save({"world_size": r.world_size, "steps": r.steps}, f"{out}/result{rank}.pt")


@pytest.mark.parametrize("method", [None])
def test_two_gloo_ranks_agree(tiny_dataset, tmp_path, method):
    out = tmp_path / "ddp"
    out.mkdir()
    args = (2, _free_port(), str(tiny_dataset), str(out), method)
    mp.start_processes(_worker, args=args, nprocs=2, join=True, start_method="fork")  # fork: no re-import
    w0 = torch.load(out / "rank0.pt", weights_only=True)
    w1 = torch.load(out / "rank1.pt", weights_only=True)
    assert torch.load(out / "result0.pt")["world_size"] == 2
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    from wearfm.train.checkpoint import load_checkpoint

    ck = load_checkpoint(out)
    assert ck["step"] == 4 and len(ck["rng"]) == 2  # both ranks' RNG states kept for an exact resume
    assert not torch.equal(ck["rng"][0]["torch"], ck["rng"][1]["torch"])  # ranks draw different augmentations
    for k in w0:
        assert torch.equal(ck["model"][k], w0[k]), k
    # 2 ranks x 4 steps x batch 4 = 32 windows = 1.33 epochs of 24 windows
    assert ck["epoch"] == 1 and ck["batch_in_epoch"] == 1
    # the ranks built one window store together (one store folder, no half-built one left), then mapped it
    assert len(list((out / "cache").glob("*/store.json"))) == 1 and list((out / "cache").glob("*/shard-*.f32"))
    assert not list((out / "cache").glob("*.building"))


@pytest.mark.slow
def test_torchrun_cli_two_processes(tiny_dataset, tmp_path):
    """`torchrun --nproc_per_node 2 -m wearfm pretrain ...` (the documented multi-GPU command) on CPU/gloo."""
    import json
    import subprocess
    import sys

    out = tmp_path / "tr"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "wearfm", "pretrain",
        str(tiny_dataset), "--encoder", "resnet1d_tiny", "--window", "5s", "--batch", "4", "--max-steps", "3",
        "--out", str(out), "--device", "cpu", "--json", "-q",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    summaries = [json.loads(s) for s in p.stdout.splitlines() if s.startswith("{")]
    assert len(summaries) == 1 and summaries[0]["world_size"] == 2 and summaries[0]["steps"] == 3  # rank 0 only
    assert (out / "encoder.pt").exists()


@pytest.mark.gpu
def test_one_process_nccl(tiny_dataset, tmp_path, monkeypatch):
    """DDP with one NCCL process on a GPU (skipped without CUDA)."""
    out = tmp_path / "nccl"
    out.mkdir()
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": _free_port()}
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    from wearfm.train import pretrain

    cfg = PretrainConfig(
        data=str(tiny_dataset), out=str(out), method="simclr", encoder="resnet1d_tiny", window_s=5.0,
        batch_size=4, max_steps=3, device="cuda",
    )  # fmt: skip
    r = pretrain(cfg)
    assert r.world_size == 1 and r.device.startswith("cuda") and r.steps == 3
