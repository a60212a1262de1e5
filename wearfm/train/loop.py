"""The pretraining loop: one function, no framework (nanoGPT's ``train.py`` shape), on CPU, GPU or under DDP.

Order of business: join the process group -> seed once -> cut windows -> build the method -> (resume) ->
loop over batches: autocast forward, backward, clip, step, schedule -> checkpoint every ``ckpt_every``
steps and at the end (and the method's outputs every ``snapshot_every``) -> write the run folder (rank 0 only).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from wearfm.config import PretrainConfig, to_dict
from wearfm.data.dataset import EpochSampler
from wearfm.data.windows import WindowSet, channel_stats, load_windows
from wearfm.errors import ConfigError, DataError
from wearfm.models.saved import EncoderSpec
from wearfm.train import checkpoint as ckpt
from wearfm.train.distributed import DistInfo, any_true, barrier, cleanup, init_distributed, mean_value
from wearfm.train.runinfo import PretrainResult, check_resumable, gather_rng, write_run_files
from wearfm.train.schedule import warmup_cosine

__all__ = ["pretrain", "PretrainResult"]

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"  # run folder subfolder of the snapshot_every outputs: snapshots/step000100/encoder.pt

LogFn = Callable[[dict[str, Any]], None]


def pretrain(
    cfg: PretrainConfig,
    resume: bool | str | Path = False,
    *,
    cli_args: dict[str, Any] | None = None,
    on_log: LogFn | None = None,
    stop_at: int | None = None,
) -> PretrainResult:
    """Pretrain an encoder with ``cfg.method`` on the windows of ``cfg.data``; write the run folder ``cfg.out``.

    Args:
        cfg: the resolved settings.
        resume: False, True (continue from ``cfg.out``), or a run folder / ``checkpoint.pt`` to continue from.
        cli_args: the command line, recorded in ``run.json``.
        on_log: called on rank 0 with each metrics record (``step``, ``total_steps``, ``loss``, ``lr``, ...).
        stop_at: stop after this global step as an interruption would (checkpoint, artifacts, exit normally).

    Returns:
        What was trained and where it was written (see :class:`PretrainResult`).

    Raises:
        ConfigError: unknown method/encoder, bad sizes, or a checkpoint already in ``cfg.out`` without resume.
        DataError: no windows, or fewer windows than one batch.
        CheckpointError: the checkpoint to resume is missing, corrupt or from different settings.

    Examples:
        >>> from wearfm.config import PretrainConfig
        >>> cfg = PretrainConfig(data="data/sim", encoder="resnet1d_tiny", max_steps=2, out="runs/t")
        >>> pretrain(cfg).steps  # doctest: +SKIP
        2
    """
    started_group = "RANK" in os.environ and not torch.distributed.is_initialized()
    dist = init_distributed(cfg.device)
    try:
        return _pretrain(cfg, dist, resume, cli_args or {}, on_log, stop_at)
    finally:
        if started_group:
            cleanup()


def _pretrain(
    cfg: PretrainConfig,
    dist: DistInfo,
    resume: bool | str | Path,
    cli_args: dict[str, Any],
    on_log: LogFn | None,
    stop_at: int | None,
) -> PretrainResult:
    import wearfm.methods  # noqa: F401  (registers every method)
    from wearfm.methods.base import METHODS, MethodContext, create_method, list_methods, resolve_encoder
    from wearfm.models import list_encoders

    t_start = time.perf_counter()
    cfg = resolve_encoder(cfg)  # an unset encoder becomes the method's default (recorded in run.json)
    _validate(cfg, list_methods(), list_encoders())
    min_batch = int(getattr(METHODS.get(cfg.method), "min_batch_size", 1))
    if cfg.batch_size < min_batch:
        raise ConfigError(
            f"batch size {cfg.batch_size} leaves {cfg.method} without negatives (it contrasts each window with the "
            f"others of its batch); use --batch {min_batch} or more per process (64 or more learns better)"
        )
    out = Path(cfg.out)
    resume_from = (out if resume is True else Path(resume)) if resume else None
    if resume_from is None and (out / ckpt.CHECKPOINT_FILE).exists():
        raise ConfigError(
            f"{out} already holds a run (checkpoint.pt); pass --resume {out} to continue it or pick another --out"
        )
    device = dist.device
    # Seed once; each rank draws different augmentations (DDP copies rank 0's initial weights anyway).
    random.seed(cfg.seed + dist.rank)
    np.random.seed(cfg.seed + dist.rank)
    torch.manual_seed(cfg.seed + dist.rank)

    # --- data: one contiguous array, windows are index views ---------------------------------------------
    if cfg.cache_dir and not dist.is_main:
        barrier()  # rank 0 builds the memory-mapped cache first; the others then map it
    ws = _load(cfg)
    if cfg.cache_dir and dist.is_main:
        barrier()
    if cfg.normalize:
        mean, std = channel_stats(ws)
        normalization: dict[str, list[float]] | None = {"mean": mean.tolist(), "std": std.tolist()}
    else:
        normalization = None
    spec = EncoderSpec(
        encoder=str(cfg.encoder),
        encoder_kwargs={"in_channels": len(ws.channels), **cfg.encoder_kwargs},
        rate_hz=cfg.rate_hz,
        window_samples=ws.window,
        channels=tuple(ws.channels),
        normalization=normalization,
        method=cfg.method,
    )
    ctx = MethodContext(Path(cfg.data), ws, device, dist.rank, dist.world_size)
    method = create_method(cfg, spec, ctx).to(device)
    dataset = method.make_dataset(ws)
    n_items = len(dataset)  # type: ignore[arg-type]  # map-style datasets are sized
    if n_items < cfg.batch_size * dist.world_size:
        raise DataError(
            f"{cfg.data}: {n_items} training items, fewer than one batch of {cfg.batch_size} x "
            f"{dist.world_size} process(es); lower --batch or add data"
        )
    sampler = EpochSampler(n_items, cfg.batch_size, seed=cfg.seed, rank=dist.rank, world_size=dist.world_size)
    loader = DataLoader(
        dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True, num_workers=cfg.num_workers,
        collate_fn=method.collate_fn(), pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # keeps worker seeding off the global RNG
        persistent_workers=False, prefetch_factor=4 if cfg.num_workers > 0 else None,
    )  # fmt: skip
    bpe = sampler.batches_per_epoch
    total_steps = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * bpe

    # --- optimiser: AdamW, no weight decay on biases / norm parameters (nanoGPT) ---------------------------
    params = [p for p in method.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=device.type == "cuda")
    warmup = cfg.warmup_steps
    if warmup >= total_steps:  # a short run would otherwise never leave warmup
        warmup = total_steps // 10
        log.warning("warmup_steps=%d >= %d total steps: using %d warmup steps", cfg.warmup_steps, total_steps, warmup)
    scheduler = warmup_cosine(optimizer, warmup, total_steps)
    step, epoch, batch_in_epoch = 0, 0, 0
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, map_location=device)
        check_resumable(state, cfg, resume_from)
        method.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch, batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
        rngs = state["rng"]
        if len(rngs) == dist.world_size:
            ckpt.set_rng_state(rngs[dist.rank])
        else:
            log.warning("checkpoint from %d process(es), now %d: augmentation RNG reseeded", len(rngs), dist.world_size)
            torch.manual_seed(cfg.seed + dist.rank + 7919 * step)
        log.info("resuming from %s at step %d (epoch %d, batch %d)", resume_from, step, epoch, batch_in_epoch)
    resumed_from = step

    # --- device, precision, DDP, compile: set once ----------------------------------------------------------
    amp = cfg.amp if cfg.amp != "auto" else ("bf16" if device.type == "cuda" else "off")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
    train_model: Any = method
    if dist.distributed:
        ids = [device.index] if device.type == "cuda" else None
        train_model = DDP(method, device_ids=ids, find_unused_parameters=method.find_unused_parameters)
    if cfg.compile:
        train_model = torch.compile(train_model)

    def checkpoint_state() -> dict[str, Any]:
        rng = gather_rng(ckpt.rng_state())  # every rank's RNG: exact resume under DDP too
        return {
            "model": method.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "rng": rng, "config": to_dict(cfg),
        }  # fmt: skip

    stop = _StopFlag()
    metrics_path = out / "metrics.jsonl"
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        metrics_file = open(metrics_path, "a" if resume_from else "w")  # noqa: SIM115 - closed in finally
    load_s = time.perf_counter() - t_start
    log.info(
        "%s + %s: %d windows, %d steps of %d x %d (%.2f epochs), %s, amp=%s",
        cfg.method, cfg.encoder, len(ws), total_steps, cfg.batch_size, dist.world_size, total_steps / bpe, device, amp,
    )  # fmt: skip

    # --- the loop ---------------------------------------------------------------------------------------------
    method.train()
    last_loss, t_train, t_log, steps_since_log, data_s = math.nan, time.perf_counter(), time.perf_counter(), 0, 0.0
    try:
        with stop.installed():
            halt = False
            while step < total_steps and not halt:
                sampler.set_position(epoch, batch_in_epoch * cfg.batch_size)
                t_data = time.perf_counter()
                for batch in loader:
                    batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
                    data_s += time.perf_counter() - t_data
                    with autocast:
                        loss, extra = train_model(batch)  # Method.forward == training_step: DDP syncs grads
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip) if cfg.grad_clip > 0 else None
                    scaler.step(optimizer)
                    scaler.update()
                    scheduler.step()
                    method.on_step_end(step)
                    step, batch_in_epoch, steps_since_log = step + 1, batch_in_epoch + 1, steps_since_log + 1
                    if batch_in_epoch == bpe:
                        epoch, batch_in_epoch = epoch + 1, 0
                    done = step >= total_steps or (stop_at is not None and step >= stop_at)
                    if step % cfg.log_every == 0 or done or step == resumed_from + 1:
                        last_loss = mean_value(float(loss.detach().float().item()), device)
                        now = time.perf_counter()
                        seen = steps_since_log * cfg.batch_size * dist.world_size
                        record = {
                            "step": step, "total_steps": total_steps, "epoch": epoch + batch_in_epoch / bpe,
                            "loss": last_loss, "lr": scheduler.get_last_lr()[0],
                            "grad_norm": float(gnorm) if gnorm is not None else None,
                            "windows_per_s": seen / max(now - t_log, 1e-9),
                            "data_wait_frac": data_s / max(now - t_log, 1e-9), "elapsed_s": now - t_train,
                            **{k: float(v) for k, v in extra.items()},
                        }  # fmt: skip
                        t_log, steps_since_log, data_s = now, 0, 0.0
                        if dist.is_main:
                            metrics_file.write(json.dumps(record) + "\n")
                            metrics_file.flush()
                            if on_log is not None:
                                on_log(record)
                        if not math.isfinite(last_loss):
                            raise DataError(f"loss became {last_loss} at step {step}; lower --set lr=... or check data")
                    if step % cfg.ckpt_every == 0 and not done:
                        _save(checkpoint_state(), out, dist)
                    if cfg.snapshot_every and step % cfg.snapshot_every == 0 and dist.is_main:
                        method.save_artifacts(out / SNAPSHOT_DIR / f"step{step:06d}", to_dict(cfg))
                    halt = any_true(done or stop.requested, device)  # every rank stops at the same step
                    if halt:
                        break
                    t_data = time.perf_counter()
    finally:
        if dist.is_main:
            metrics_file.close()
    train_s = time.perf_counter() - t_train
    if math.isnan(last_loss) and dist.is_main and metrics_path.exists():  # resumed a finished run: no new step
        lines = metrics_path.read_text().splitlines()
        last_loss = float(json.loads(lines[-1])["loss"]) if lines else last_loss
    if dist.distributed:  # DDP syncs buffers (BatchNorm statistics) at each forward: end on rank 0's, as saved
        for b in method.buffers():
            torch.distributed.broadcast(b.data, src=0)
    interrupted = step < total_steps
    _save(checkpoint_state(), out, dist)
    artifacts: dict[str, Path] = {}
    if dist.is_main:
        artifacts = method.save_artifacts(out, to_dict(cfg))
    trained = step - resumed_from
    result = PretrainResult(
        out_dir=out, artifacts=artifacts, checkpoint=out / ckpt.CHECKPOINT_FILE, steps=step, total_steps=total_steps,
        epochs=step / bpe, final_loss=last_loss, windows=len(ws), window_samples=ws.window,
        windows_per_s=trained * cfg.batch_size * dist.world_size / max(train_s, 1e-9), load_s=load_s,
        train_s=train_s, interrupted=interrupted, resumed_from=resumed_from if resume_from else None,
        world_size=dist.world_size, device=str(device), stopped_by=stop.signal if interrupted else None,
        method=method,
    )  # fmt: skip
    if dist.is_main:
        write_run_files(result, cfg, cli_args, ws, method)
    barrier()
    return result


def _validate(cfg: PretrainConfig, methods: list[str], encoders: list[str]) -> None:
    if cfg.method not in methods:
        raise ConfigError(f"unknown method {cfg.method!r}; choose from {methods}")
    if cfg.encoder not in encoders:
        raise ConfigError(f"unknown encoder {cfg.encoder!r}; choose from {encoders}")
    for name in ("batch_size", "log_every", "ckpt_every", "epochs"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.snapshot_every is not None and cfg.snapshot_every < 1:
        raise ConfigError(f"snapshot_every must be at least 1 (or unset), got {cfg.snapshot_every}")
    if cfg.max_steps is not None and cfg.max_steps < 1:
        raise ConfigError(f"max_steps must be at least 1, got {cfg.max_steps}")
    if cfg.amp not in ("auto", "bf16", "fp16", "off"):
        raise ConfigError(f"amp {cfg.amp!r}: choose from ['auto', 'bf16', 'fp16', 'off']")
    if not cfg.data:
        raise ConfigError("no dataset given; pass DATA (a folder written by `wearfm ingest`)")


def _load(cfg: PretrainConfig) -> WindowSet:
    window = round(cfg.window_s * cfg.rate_hz)
    stride = round(cfg.stride_s * cfg.rate_hz) if cfg.stride_s else None
    if window < 1:
        raise ConfigError(f"window {cfg.window_s} s is shorter than one sample at {cfg.rate_hz:g} Hz")
    return load_windows(
        cfg.data,
        rate_hz=cfg.rate_hz,
        window=window,
        channels=cfg.channels,
        stride=stride,
        cache_dir=cfg.cache_dir,
        nonwear=cfg.nonwear,
    )


def _save(state: dict[str, Any], out: Path, dist: DistInfo) -> None:
    if dist.is_main:
        ckpt.save_checkpoint(out / ckpt.CHECKPOINT_FILE, state)
    barrier()


class _StopFlag:
    """SIGINT/SIGTERM set ``requested`` (the loop then checkpoints and returns); a second SIGINT aborts.

    ``signal`` keeps the name of the first signal received, so the command can exit 130 (SIGINT) or 143 (SIGTERM).
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal: str | None = None

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint and stopping", name)
        self.signal = self.signal or name
        self.requested = True

    def installed(self) -> Any:
        flag = self

        class _Ctx:
            def __enter__(self) -> None:
                self.prev: dict[int, Any] = {}
                if threading.current_thread() is threading.main_thread():
                    for s in (signal.SIGINT, signal.SIGTERM):
                        self.prev[s] = signal.signal(s, flag._handle)

            def __exit__(self, *exc: object) -> None:
                for s, h in self.prev.items():
                    signal.signal(s, h)

        return _Ctx()
