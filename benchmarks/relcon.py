"""Benchmark one RelCon training step: the fast batched path vs the straightforward reference.

Fast: ``wearfm.methods.relcon.RelCon.training_step`` (all B*(B-1) + B*Cw pairs in a few batched calls, the
key/value side once per distinct window, the output layer folded into the values, vectorised loss).
Reference: ``tests/_helpers/relcon_reference.py`` (K = (B-1) + Cw sequential distance calls of batch B through
the plain cross-attention, a Python loop over anchors for the loss). Both run the same encoder forward and
backward on the same B + B*Cw windows, and must give the same loss.

Usage (from the repository root)::

    python benchmarks/relcon.py                       # B=64, Cw=20, 256 samples (2.56 s at 100 Hz), resnet1d
    python benchmarks/relcon.py --batch 16 --threads 2 --device cuda
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import best_ms  # noqa: E402
from tests._helpers.relcon_reference import reference_distances, reference_loss, reference_step  # noqa: E402
from wearfm.config import PretrainConfig, RelConConfig  # noqa: E402
from wearfm.methods import MethodContext, create_method  # noqa: E402
from wearfm.methods.relcon import candidate_pairs  # noqa: E402
from wearfm.models.motif_distance import MotifDistance, save_distance_model  # noqa: E402
from wearfm.models.saved import EncoderSpec  # noqa: E402

ACC = ("acc_x", "acc_y", "acc_z")


def compare_step(
    device: torch.device,
    *,
    batch: int = 64,
    within: int = 20,
    samples: int = 256,
    encoder: str = "resnet1d",
    chunk: int = RelConConfig().distance_chunk,
    repeats: int = 1,
    full: bool = True,
) -> dict[str, Any]:
    """Time the batched RelCon distances, loss and step against the reference on ``device``; check they agree.

    Returns the timed rows (``part``, ``fast_ms``, ``reference_ms``), the largest distance difference, whether
    every anchor ranks its candidates the same, and (with ``full``) both step losses.
    """
    b, cw, t = batch, within, samples
    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp())
    save_distance_model(MotifDistance(in_channels=3), tmp, rate_hz=100.0, window_samples=t, channels=ACC)
    cfg = PretrainConfig(
        method="relcon", encoder=encoder, rate_hz=100.0, window_s=t / 100.0,
        relcon=RelConConfig(distance=str(tmp), within_candidates=cw, distance_chunk=chunk),
    )  # fmt: skip
    spec = EncoderSpec(encoder, {"in_channels": 3}, 100.0, t, ACC, method="relcon")
    method: Any = create_method(cfg, spec, MethodContext(tmp, None, device)).to(device)  # type: ignore[arg-type]
    method.train()
    net = method.distance_net.to(device)
    g = torch.Generator().manual_seed(1)
    x = (0.3 * torch.randn(b, 3, t, generator=g) + torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1)).to(device)
    cands = (0.3 * torch.randn(b, cw, 3, t, generator=g) + torch.tensor([0.0, 0.0, 1.0]).view(1, 1, 3, 1)).to(device)

    def fast_step() -> float:
        method.zero_grad(set_to_none=True)
        loss, _ = method.training_step({"x": x, "within": cands})
        loss.backward()
        return float(loss.item())

    def ref_step() -> float:
        method.zero_grad(set_to_none=True)
        loss = reference_step(net, method.model, x, cands, tau=cfg.relcon.temperature)
        loss.backward()
        return loss.item()

    # warm-up on a small batch (allocator, oneDNN/cuDNN kernel selection)
    with torch.no_grad():
        method.distances(x[:4], cands[:4, :2])
        reference_distances(net, x[:4], cands[:4, :2])

    rows = []
    k = b - 1 + cw
    ms_fd, d_fast = best_ms(lambda: method.distances(x, cands), device, repeats)
    ms_rd, d_ref = best_ms(lambda: reference_distances(net, x, cands), device, repeats)
    rank_same = bool((d_fast.argsort(1) == d_ref.argsort(1)).all())
    rows.append((f"distances ({b}x{k} pairs)", ms_fd, ms_rd))
    with torch.no_grad():
        z = method.model.forward_features(torch.cat([x, cands.flatten(0, 1)]))
    _, cand = candidate_pairs(b, cw, device)
    za, zc = z[:b].clone().requires_grad_(), z[cand].clone().requires_grad_()
    ms_fl, _ = best_ms(lambda: method.loss_fn(za, zc, d_fast).backward(), device, max(repeats, 5))
    ms_rl, _ = best_ms(lambda: reference_loss(za, zc, d_fast, 0.1).backward(), device, max(repeats, 5))
    rows.append(("loss fwd+bwd", ms_fl, ms_rl))
    rows.append(("distances + loss", ms_fd + ms_fl, ms_rd + ms_rl))
    loss_fast = loss_ref = float("nan")
    if full:
        ms_fs, loss_fast = best_ms(fast_step, device, repeats)
        ms_rs, loss_ref = best_ms(ref_step, device, repeats)
        rows.append((f"full step ({encoder} fwd+bwd on {b + b * cw} windows)", ms_fs, ms_rs))
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "batch": b, "within": cw, "candidates": k, "samples": t, "encoder": encoder, "repeats": repeats,
        "rows": [{"part": p, "fast_ms": f, "reference_ms": r} for p, f, r in rows],
        "max_distance_diff": float((d_fast - d_ref).abs().max()), "max_distance": float(d_ref.abs().max()),
        "same_ranking": rank_same, "loss_fast": loss_fast, "loss_reference": loss_ref,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--within", type=int, default=20)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--encoder", default="resnet1d")
    ap.add_argument("--chunk", type=int, default=RelConConfig().distance_chunk)
    ap.add_argument("--repeats", type=int, default=1, help="timed repeats per measurement (best is kept)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-full", action="store_true", help="time only the parts that differ")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    r = compare_step(device, batch=args.batch, within=args.within, samples=args.samples, encoder=args.encoder,
                     chunk=args.chunk, repeats=args.repeats, full=not args.skip_full)  # fmt: skip
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"RelCon step, B={r['batch']}, Cw={r['within']}, K={r['candidates']}, T={r['samples']}, 3 channels, "
          f"{args.encoder}, full MotifDistance; {name}")  # fmt: skip
    print(
        f"torch {torch.__version__}; best of {args.repeats} run(s) per row (loss rows: best of {max(args.repeats, 5)})"
    )
    print(f"{'part':<58} {'fast ms':>10} {'reference ms':>13} {'ratio':>7}")
    for row in r["rows"]:
        f, ref = row["fast_ms"], row["reference_ms"]
        print(f"{row['part']:<58} {f:>10.1f} {ref:>13.1f} {ref / f:>6.2f}x")
    print(f"max |d_fast - d_ref| = {r['max_distance_diff']:.3g} (max d {r['max_distance']:.3g}); "
          f"same ranking: {r['same_ranking']}")  # fmt: skip
    if not args.skip_full:
        print(f"loss: fast {r['loss_fast']:.6f}  reference {r['loss_reference']:.6f}")


if __name__ == "__main__":
    main()
