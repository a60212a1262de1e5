"""Pretraining throughput: loader items/s, training-step windows/s, and a pure encoder forward/backward.

For every registered method x the chosen encoders: the DataLoader alone (items/s), full training steps as the
loop runs them (autocast, backward, clip, AdamW; windows/s), and the encoder's forward+backward on random
tensors of the shape it sees in a step (windows/s), so "step time / pure" (how many times longer a training
step takes than the encoder's bare forward+backward) shows the method's overhead. Methods whose
data needs are not met (a paired dataset, a distance model) are skipped with the reason.

MFU: the encoder's forward+backward FLOPs per step (counted by ``torch.utils.flop_counter`` on the shapes seen
in one step) times steps/s, over the device's peak: dense bf16 for known GPUs (H200 and H100 SXM 989 TFLOP/s,
H100 PCIe 756, A100 312), or ``--peak-tflops``. Convolutions and matmuls are counted; fused RNN kernels are not,
so ``cnn_gru``'s figure is a lower bound. Heads and losses are left out (small next to the encoder).

    python benchmarks/pretrain.py                       # synthetic data, CPU
    python benchmarks/pretrain.py --data data/wisdm --device cuda --batch 256 --workers 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import wearfm.methods  # noqa: F401, E402  (registers methods)
from benchmarks._common import peak_tflops, sync, synthetic_dataset  # noqa: E402
from wearfm.config import PretrainConfig
from wearfm.data.dataset import EpochSampler
from wearfm.data.windows import WindowSet, load_windows
from wearfm.methods.base import Method, MethodContext, create_method, list_methods
from wearfm.models import list_encoders
from wearfm.models.saved import EncoderSpec


def bench_loader(
    dataset: Any, batch: int, workers: int, n_batches: int, collate_fn: Callable[..., Any] | None = None
) -> float:
    """The DataLoader alone: items/s over ``n_batches`` batches (after the first, which starts the workers)."""
    sampler = EpochSampler(len(dataset), batch, seed=0)
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=True, num_workers=workers,
                        collate_fn=collate_fn, prefetch_factor=4 if workers else None,
                        persistent_workers=False)  # fmt: skip
    it = iter(loader)
    next(it)  # workers started
    t0, n = time.perf_counter(), 0
    for _ in range(n_batches):
        try:
            b = next(it)
        except StopIteration:
            sampler.set_epoch(sampler.epoch + 1)
            it = iter(loader)
            b = next(it)
        n += len(next(iter(b.values())))
    return n / (time.perf_counter() - t0)


def bench_steps(
    method: Method, dataset: Any, batch: int, workers: int, device: torch.device, amp: bool, steps: int,
    warmup: int,
) -> tuple[float, list[tuple[int, ...]], float]:  # fmt: skip
    """Training steps as the loop runs them.

    Returns (windows/s, encoder input shapes seen in one step, the last step's loss).
    """
    shapes: list[tuple[int, ...]] = []
    encoder = _encoder(method)
    if encoder is not None:  # record what the encoder is fed (methods call forward_features, not forward)
        inner = encoder.forward_features

        def recording(x: torch.Tensor, *a: Any, **k: Any) -> torch.Tensor:
            shapes.append(tuple(x.shape))
            out: torch.Tensor = inner(x, *a, **k)
            return out

        encoder.forward_features = recording
    params = [p for p in method.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=device.type == "cuda")
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()
    sampler = EpochSampler(len(dataset), batch, seed=0)
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=True, num_workers=workers,
                        collate_fn=method.collate_fn(), pin_memory=device.type == "cuda")  # fmt: skip
    method.train()
    it, done, t0 = iter(loader), 0, 0.0
    while done < warmup + steps:
        try:
            b = next(it)
        except StopIteration:
            sampler.set_epoch(sampler.epoch + 1)
            it = iter(loader)
            continue
        if done == warmup:
            sync(device)
            t0 = time.perf_counter()
            step_shapes = list(shapes)
        shapes.clear()
        b = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in b.items()}
        with ctx:
            loss, _ = method(b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        method.on_step_end(done)
        done += 1
    sync(device)
    if encoder is not None:
        del encoder.forward_features  # back to the class method
    return steps * batch / (time.perf_counter() - t0), step_shapes, float(loss.detach().float())


def _encoder(method: Method) -> Any:
    model = method.embedding_model()
    return getattr(model, "encoder", None)


def bench_pure(
    encoder: Any, shapes: list[tuple[int, ...]], device: torch.device, amp: bool, steps: int, warmup: int
) -> float:
    """Forward + backward of the encoder alone on random tensors of the shapes it saw in one step."""
    xs = [torch.randn(s, device=device) for s in shapes]
    opt = torch.optim.AdamW(encoder.parameters(), lr=1e-4, fused=device.type == "cuda")
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()
    encoder.train()
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            t0 = time.perf_counter()
        with ctx:
            loss = sum(encoder.forward_features(x).float().pow(2).mean() for x in xs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return steps / (time.perf_counter() - t0)


def encoder_flops(encoder: Any, shapes: list[tuple[int, ...]], device: torch.device) -> float:
    """FLOPs of one forward+backward of ``encoder`` over inputs of ``shapes`` (conv and matmul ops)."""
    from torch.utils.flop_counter import FlopCounterMode

    xs = [torch.randn(s, device=device) for s in shapes]
    with FlopCounterMode(display=False) as counter:
        loss = sum(encoder.forward_features(x).float().pow(2).mean() for x in xs)
        loss.backward()
    encoder.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def bench_method(cfg: PretrainConfig, ws: WindowSet, device: torch.device, *, amp: bool, workers: int, steps: int,
                 warmup: int, peak: float, loader_batches: int = 20) -> dict[str, Any]:  # fmt: skip
    """Every figure of one method x encoder (``cfg.method``, ``cfg.encoder``) on the windows ``ws``.

    Raises whatever building the method raises (e.g. a method that needs paired data or a distance model).
    Figures per item: an item is one window, or for ``relcon`` one anchor with its within-subject candidates.
    """
    spec = EncoderSpec(str(cfg.encoder), {"in_channels": len(ws.channels)}, cfg.rate_hz, ws.window, tuple(ws.channels),
                       method=cfg.method)  # fmt: skip
    torch.manual_seed(0)
    method = create_method(cfg, spec, MethodContext(Path(cfg.data), ws, device)).to(device)
    dataset = method.make_dataset(ws)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batch = cfg.batch_size
    loader = bench_loader(dataset, batch, workers, loader_batches, method.collate_fn())
    step, shapes, loss = bench_steps(method, dataset, batch, workers, device, amp, steps, warmup)
    encoder = _encoder(method)
    if encoder is not None and shapes:
        pure = bench_pure(encoder, shapes, device, amp, steps, warmup) * batch  # step-equivalents of windows/s
        flops = encoder_flops(encoder, shapes, device)
    else:
        pure = flops = float("nan")
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {
        "method": cfg.method, "encoder": cfg.encoder,
        "encoder_params": sum(p.numel() for p in encoder.parameters()) if encoder is not None else 0,
        "rate_hz": cfg.rate_hz, "window_samples": ws.window, "channels": len(ws.channels), "batch": batch,
        "encoder_input_per_step": [list(s) for s in shapes], "loader_items_per_s": loader,
        "step_items_per_s": step, "step_ms": 1000.0 * batch / step, "pure_items_per_s": pure,
        "step_time_over_pure": pure / step, "peak_gib": mem, "encoder_gflop_per_step": flops / 1e9,
        "mfu": flops * (step / batch) / (peak * 1e12), "loss": loss,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="canonical dataset (default: synthetic)")
    ap.add_argument("--encoders", default="resnet1d,cnn_gru", help="comma list, or 'all'")
    ap.add_argument("--methods", default="all", help="comma list, or 'all'")
    ap.add_argument("--channels", default="acc")
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--window", type=float, default=10.0, help="seconds")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (default: known GPUs)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp = device.type == "cuda"
    peak = peak_tflops(device, args.peak_tflops)
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        args.data = synthetic_dataset(Path(tmp.name), subjects=8, minutes=30, hz=args.rate)
    window = round(args.window * args.rate)
    t0 = time.perf_counter()
    ws = load_windows(args.data, rate_hz=args.rate, window=window, channels=args.channels)
    print(f"data: {args.data}  {len(ws)} windows of {window} x {len(ws.channels)}  (loaded in "
          f"{time.perf_counter() - t0:.1f}s)  device {device}  batch {args.batch}  workers {args.workers}  "
          f"torch threads {torch.get_num_threads()}  amp {'bf16' if amp else 'off'}")  # fmt: skip
    encoders = list_encoders() if args.encoders == "all" else args.encoders.split(",")
    methods = list_methods() if args.methods == "all" else args.methods.split(",")
    rows, skipped = [], []
    for method_name in methods:
        for enc in encoders:
            cfg = PretrainConfig(data=str(args.data), method=method_name, encoder=enc, rate_hz=args.rate,
                                 window_s=args.window, channels=args.channels, batch_size=args.batch)  # fmt: skip
            try:
                r = bench_method(cfg, ws, device, amp=amp, workers=args.workers, steps=args.steps,
                                 warmup=args.warmup, peak=peak)  # fmt: skip
            except Exception as e:  # noqa: BLE001 - report and go on: e.g. a method needing paired data
                skipped.append((method_name, enc, f"{type(e).__name__}: {str(e)[:140]}"))
                continue
            shapes = "+".join("x".join(map(str, s)) for s in r["encoder_input_per_step"])
            rows.append((method_name, enc, r["encoder_params"], shapes, r["loader_items_per_s"],
                         r["step_items_per_s"], r["pure_items_per_s"], r["step_time_over_pure"], r["peak_gib"],
                         r["encoder_gflop_per_step"], r["mfu"]))  # fmt: skip
            print(f"  {method_name:>16} {enc:<14} loader {r['loader_items_per_s']:9.0f} it/s  step "
                  f"{r['step_items_per_s']:7.1f} win/s  pure fwd/bwd {r['pure_items_per_s']:7.1f} win/s",
                  flush=True)  # fmt: skip
    print()
    hdr = "| method | encoder | enc. params | encoder input per step | loader items/s | step windows/s | " \
          "pure fwd+bwd windows/s | step time / pure | peak GiB | encoder GFLOP/step | MFU |"  # fmt: skip
    print(hdr)
    print("|" + "---|" * 11)
    for m, enc, n, s, lo, st, pu, ratio, mem, gf, mfu in rows:
        print(f"| {m} | {enc} | {n / 1e6:.2f} M | {s} | {lo:,.0f} | {st:,.1f} | {pu:,.1f} | {ratio:.2f} | {mem:.2f} "
              f"| {gf:,.1f} | {mfu:.2%} |")  # fmt: skip
    print(f"MFU against a peak of {peak:g} TFLOP/s" + ("" if peak == peak else " (unknown: pass --peak-tflops)"))
    for m, enc, why in skipped:
        print(f"skipped {m} x {enc}: {why}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
