"""The pretraining loop: no framework (nanoGPT's ``train.py`` shape), on CPU, GPU or under DDP.

Order of business: join the process group -> ``_setup`` (seed once, cut windows, build the method, the loader and
the optimiser, resume, then device precision / DDP / compile; the parts come from :mod:`wearfm.train.build`) ->
loop over batches (``_step``: autocast forward, backward, clip, step, schedule; ``_record``: a metrics line every
``log_every`` steps; ``_snapshot``: a checkpoint every ``ckpt_every`` steps and the method's outputs every
``snapshot_every``) -> ``_finish``: the final checkpoint and the run folder (rank 0 only). SIGINT/SIGTERM ask the
loop to stop after the current step (:mod:`wearfm.train.stop`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader

from wearfm.config import PretrainConfig, to_dict
from wearfm.data.dataset import EpochSampler
from wearfm.data.windows import WindowSet
from wearfm.errors import DataError
from wearfm.train import checkpoint as ckpt
from wearfm.train.build import (
    accelerate,
    build_method,
    load_resume_state,
    load_run_windows,
    make_loader,
    make_optimizer,
    resolve_settings,
)
from wearfm.train.distributed import (
    DistInfo,
    any_true,
    barrier,
    build_group,
    cleanup,
    init_distributed,
    mean_value,
)
from wearfm.train.runinfo import PretrainResult, gather_rng, write_run_files
from wearfm.train.stop import StopRequest, stop_signals

if TYPE_CHECKING:
    from wearfm.methods.base import Method

__all__ = ["pretrain", "PretrainResult"]

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"  # run folder subfolder of the snapshot_every outputs: snapshots/step000100/encoder.pt
METRICS_FILE = "metrics.jsonl"  # run folder file: one JSON record per logged step

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


@dataclass
class _Run:
    """Everything one pretraining run holds between steps; ``step``/``epoch``/``batch_in_epoch`` move on."""

    cfg: PretrainConfig
    dist: DistInfo
    out: Path
    resume_from: Path | None  # the run folder or checkpoint continued, else None
    ws: WindowSet
    method: Method
    train_model: Any  # the method, wrapped by DDP and/or torch.compile when asked
    params: list[torch.nn.Parameter]  # the trainable ones, for gradient clipping
    sampler: EpochSampler
    loader: DataLoader[Any]
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler
    amp: str  # "bf16", "fp16" or "off"
    autocast: AbstractContextManager[Any]
    scaler: torch.amp.GradScaler
    total_steps: int
    bpe: int  # batches per epoch, per process
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    resumed_from: int = 0  # the step the run started from (0 unless resumed)


@dataclass
class _Meter:
    """Timers and the last loss between metrics lines; lines go to ``metrics.jsonl`` (rank 0) and ``on_log``."""

    file: TextIO | None
    on_log: LogFn | None
    last_loss: float = math.nan
    t_train: float = field(default_factory=time.perf_counter)
    t_log: float = field(default_factory=time.perf_counter)
    steps_since_log: int = 0
    data_s: float = 0.0  # time spent waiting for batches since the last line


def _pretrain(
    cfg: PretrainConfig,
    dist: DistInfo,
    resume: bool | str | Path,
    cli_args: dict[str, Any],
    on_log: LogFn | None,
    stop_at: int | None,
) -> PretrainResult:
    t_start = time.perf_counter()
    run = _setup(cfg, dist, resume)
    load_s = time.perf_counter() - t_start
    with _metrics_file(run) as metrics, stop_signals() as stop:
        run.method.train()
        meter = _Meter(metrics, on_log)
        for batch in _batches(run, meter):
            loss, extra, gnorm = _step(run, batch)
            done = run.step >= run.total_steps or (stop_at is not None and run.step >= stop_at)
            _record(run, meter, loss, extra, gnorm, done)
            _snapshot(run, done)
            if any_true(done or stop.requested, run.dist.device):  # every rank stops at the same step
                break
    return _finish(run, meter, stop, cli_args, load_s)


# --- set-up: seed, data, method, loader, optimiser, resume, precision / DDP / compile ---------------------------


def _setup(cfg: PretrainConfig, dist: DistInfo, resume: bool | str | Path) -> _Run:
    """Everything the loop needs, built in a fixed order (seeding first: the method's initial weights draw on it)."""
    cfg, resume_from = resolve_settings(cfg, resume)
    # Seed once; each rank draws different augmentations (DDP copies rank 0's initial weights anyway).
    random.seed(cfg.seed + dist.rank)
    np.random.seed(cfg.seed + dist.rank)
    torch.manual_seed(cfg.seed + dist.rank)

    # with --cache, the ranks build the store's shards together, then map it
    ws = load_run_windows(cfg, build_group(dist))
    method = build_method(cfg, ws, dist)
    sampler, loader = make_loader(cfg, method, ws, dist)
    total_steps = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * sampler.batches_per_epoch
    optimizer, scheduler = make_optimizer(cfg, method, dist.device, total_steps)
    step, epoch, batch_in_epoch = 0, 0, 0
    if resume_from is not None:
        step, epoch, batch_in_epoch = load_resume_state(resume_from, cfg, dist, method, optimizer, scheduler)
    amp, autocast, scaler, train_model = accelerate(cfg, dist, method)
    run = _Run(
        cfg=cfg, dist=dist, out=Path(cfg.out), resume_from=resume_from, ws=ws, method=method, train_model=train_model,
        params=[p for p in method.parameters() if p.requires_grad], sampler=sampler, loader=loader,
        optimizer=optimizer, scheduler=scheduler, amp=amp, autocast=autocast, scaler=scaler,
        total_steps=total_steps, bpe=sampler.batches_per_epoch, step=step, epoch=epoch,
        batch_in_epoch=batch_in_epoch, resumed_from=step,
    )  # fmt: skip
    log.info(
        "%s + %s: %d windows, %d steps of %d x %d (%.2f epochs), %s, amp=%s", cfg.method, cfg.encoder, len(ws),
        total_steps, cfg.batch_size, dist.world_size, total_steps / run.bpe, dist.device, amp,
    )  # fmt: skip
    return run


# --- the loop's pieces -------------------------------------------------------------------------------------------


def _batches(run: _Run, meter: _Meter) -> Iterator[dict[str, Any]]:
    """Batches on the device from the run's position on, epoch after epoch, until ``total_steps``; time the waits."""
    while run.step < run.total_steps:
        run.sampler.set_position(run.epoch, run.batch_in_epoch * run.cfg.batch_size)
        t_data = time.perf_counter()
        for batch in run.loader:
            batch = {k: v.to(run.dist.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
            meter.data_s += time.perf_counter() - t_data
            yield batch
            t_data = time.perf_counter()


def _step(run: _Run, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor | None]:
    """One optimiser step on ``batch``; move the position on. Returns ``(loss, extra metrics, grad norm)``."""
    with run.autocast:
        loss, extra = run.train_model(batch)  # Method.forward == training_step: DDP syncs grads
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(run.optimizer)
    clip = run.cfg.grad_clip
    gnorm = torch.nn.utils.clip_grad_norm_(run.params, clip) if clip > 0 else None
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    run.method.on_step_end(run.step)
    run.step, run.batch_in_epoch = run.step + 1, run.batch_in_epoch + 1
    if run.batch_in_epoch == run.bpe:
        run.epoch, run.batch_in_epoch = run.epoch + 1, 0
    return loss, extra, gnorm


def _record(
    run: _Run, meter: _Meter, loss: torch.Tensor, extra: dict[str, Any], gnorm: torch.Tensor | None, done: bool
) -> None:
    """Every ``log_every`` steps (and the first and last): a metrics line. A non-finite loss stops the run."""
    meter.steps_since_log += 1
    if not (run.step % run.cfg.log_every == 0 or done or run.step == run.resumed_from + 1):
        return
    meter.last_loss = mean_value(float(loss.detach().float().item()), run.dist.device)  # all ranks' mean
    now = time.perf_counter()
    seen = meter.steps_since_log * run.cfg.batch_size * run.dist.world_size
    record = {
        "step": run.step, "total_steps": run.total_steps, "epoch": run.epoch + run.batch_in_epoch / run.bpe,
        "loss": meter.last_loss, "lr": run.scheduler.get_last_lr()[0],
        "grad_norm": float(gnorm) if gnorm is not None else None,
        "windows_per_s": seen / max(now - meter.t_log, 1e-9),
        "data_wait_frac": meter.data_s / max(now - meter.t_log, 1e-9), "elapsed_s": now - meter.t_train,
        **{k: float(v) for k, v in extra.items()},
    }  # fmt: skip
    meter.t_log, meter.steps_since_log, meter.data_s = now, 0, 0.0
    if meter.file is not None:
        meter.file.write(json.dumps(record) + "\n")
        meter.file.flush()
        if meter.on_log is not None:
            meter.on_log(record)
    if not math.isfinite(meter.last_loss):
        raise DataError(f"loss became {meter.last_loss} at step {run.step}; lower --set lr=... or check data")


def _snapshot(run: _Run, done: bool) -> None:
    """Periodic saves: a checkpoint every ``ckpt_every`` steps, the method's outputs every ``snapshot_every``.

    The last step's checkpoint waits for ``_finish``; snapshots go to ``snapshots/stepNNNNNN/`` (rank 0).
    """
    if run.step % run.cfg.ckpt_every == 0 and not done:
        _save(_checkpoint_state(run), run.out, run.dist)
    if run.cfg.snapshot_every and run.step % run.cfg.snapshot_every == 0 and run.dist.is_main:
        run.method.save_artifacts(run.out / SNAPSHOT_DIR / f"step{run.step:06d}", to_dict(run.cfg))


def _finish(run: _Run, meter: _Meter, stop: StopRequest, cli_args: dict[str, Any], load_s: float) -> PretrainResult:
    """The final checkpoint, the method's outputs and the run files; the result."""
    train_s = time.perf_counter() - meter.t_train
    last_loss = meter.last_loss
    metrics_path = run.out / METRICS_FILE
    if math.isnan(last_loss) and run.dist.is_main and metrics_path.exists():  # resumed a finished run: no new step
        lines = metrics_path.read_text().splitlines()
        last_loss = float(json.loads(lines[-1])["loss"]) if lines else last_loss
    if run.dist.distributed:  # DDP syncs buffers (BatchNorm statistics) at each forward: end on rank 0's, as saved
        for b in run.method.buffers():
            torch.distributed.broadcast(b.data, src=0)
    interrupted = run.step < run.total_steps
    _save(_checkpoint_state(run), run.out, run.dist)
    artifacts: dict[str, Path] = {}
    if run.dist.is_main:
        artifacts = run.method.save_artifacts(run.out, to_dict(run.cfg))
    cfg, dist, ws = run.cfg, run.dist, run.ws
    trained = run.step - run.resumed_from
    result = PretrainResult(
        out_dir=run.out, artifacts=artifacts, checkpoint=run.out / ckpt.CHECKPOINT_FILE, steps=run.step,
        total_steps=run.total_steps, epochs=run.step / run.bpe, final_loss=last_loss, windows=len(ws),
        window_samples=ws.window, windows_per_s=trained * cfg.batch_size * dist.world_size / max(train_s, 1e-9),
        load_s=load_s, train_s=train_s, interrupted=interrupted,
        resumed_from=run.resumed_from if run.resume_from else None, world_size=dist.world_size,
        device=str(dist.device), stopped_by=stop.signal if interrupted else None, method=run.method,
    )  # fmt: skip
    if dist.is_main:
        write_run_files(result, cfg, cli_args, ws, run.method)
    barrier()
    return result


def _checkpoint_state(run: _Run) -> dict[str, Any]:
    """What ``checkpoint.pt`` holds; gathers every rank's RNG (a collective: call it on every rank)."""
    rng = gather_rng(ckpt.rng_state())  # every rank's RNG: exact resume under DDP too
    return {
        "model": run.method.state_dict(), "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(), "step": run.step, "epoch": run.epoch,
        "batch_in_epoch": run.batch_in_epoch, "rng": rng, "config": to_dict(run.cfg),
    }  # fmt: skip


# --- the metrics file and saving -----------------------------------------------------------------------------------


@contextmanager
def _metrics_file(run: _Run) -> Iterator[TextIO | None]:
    """``metrics.jsonl`` open for the loop on rank 0 (appended to when resuming), None on the other ranks."""
    if not run.dist.is_main:
        yield None
        return
    run.out.mkdir(parents=True, exist_ok=True)
    with open(run.out / METRICS_FILE, "a" if run.resume_from else "w") as f:
        yield f


def _save(state: dict[str, Any], out: Path, dist: DistInfo) -> None:
    if dist.is_main:
        ckpt.save_checkpoint(out / ckpt.CHECKPOINT_FILE, state)
    barrier()
