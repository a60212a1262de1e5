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
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    from tests.train.toy import register_toy
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
