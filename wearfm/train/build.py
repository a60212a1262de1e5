"""The parts of a pretraining run, built before the loop.

Settings, windows, method, loader, optimiser, resume, then precision / DDP / compile:
``wearfm.train.loop._setup`` calls them in that order.
"""

from __future__ import annotations

import logging
import math
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader

from wearfm.config import PretrainConfig
from wearfm.data.dataset import EpochSampler
from wearfm.data.store import BuildGroup
from wearfm.data.windows import WindowSet, channel_stats, load_windows
from wearfm.errors import ConfigError, DataError
from wearfm.models.saved import EncoderSpec
from wearfm.train import checkpoint as ckpt
from wearfm.train.distributed import DistInfo
from wearfm.train.runinfo import check_resumable
from wearfm.train.schedule import warmup_cosine

if TYPE_CHECKING:
    from wearfm.methods.base import Method

__all__ = [
    "resolve_settings",
    "validate_settings",
    "load_run_windows",
    "build_method",
    "make_loader",
    "make_optimizer",
    "load_resume_state",
    "accelerate",
]

log = logging.getLogger(__name__)


def resolve_settings(cfg: PretrainConfig, resume: bool | str | Path) -> tuple[PretrainConfig, Path | None]:
    """The settings with the method's defaults filled in and checked; the run folder or checkpoint to resume."""
    import wearfm.methods  # noqa: F401  (registers every method)
    from wearfm.methods.base import METHODS, list_methods, resolve_method_defaults
    from wearfm.models import list_encoders

    cfg = resolve_method_defaults(cfg)  # unset encoder/lr/weight decay/warmup: the method's (in run.json)
    validate_settings(cfg, list_methods(), list_encoders())
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
    return cfg, resume_from


def build_method(cfg: PretrainConfig, ws: WindowSet, dist: DistInfo) -> Method:
    """The method (encoder, heads, loss) for these windows, on the run's device."""
    from wearfm.methods.base import MethodContext, create_method

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
    ctx = MethodContext(Path(cfg.data), ws, dist.device, dist.rank, dist.world_size)
    return create_method(cfg, spec, ctx).to(dist.device)


def make_loader(
    cfg: PretrainConfig, method: Method, ws: WindowSet, dist: DistInfo
) -> tuple[EpochSampler, DataLoader[Any]]:
    """The sampler (resumable position, this rank's share of each epoch) and the loader over the method's items."""
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
        collate_fn=method.collate_fn(), pin_memory=dist.device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # keeps worker seeding off the global RNG
        persistent_workers=False, prefetch_factor=4 if cfg.num_workers > 0 else None,
    )  # fmt: skip
    return sampler, loader


def make_optimizer(
    cfg: PretrainConfig, method: Method, device: torch.device, total_steps: int
) -> tuple[torch.optim.Optimizer, LRScheduler]:
    """AdamW, no weight decay on biases / norms / tokens / temperatures (``Method.param_groups``); warmup-cosine."""
    groups = method.param_groups(float(cfg.weight_decay or 0.0))
    optimizer = torch.optim.AdamW(groups, lr=float(cfg.lr or 0.0), betas=(0.9, 0.95), fused=device.type == "cuda")
    warmup = int(cfg.warmup_steps or 0)
    if warmup >= total_steps:  # a short run would otherwise never leave warmup
        warmup = total_steps // 10
        log.warning("warmup_steps=%d >= %d total steps: using %d warmup steps", cfg.warmup_steps, total_steps, warmup)
    return optimizer, warmup_cosine(optimizer, warmup, total_steps)


def load_resume_state(
    resume_from: Path,
    cfg: PretrainConfig,
    dist: DistInfo,
    method: Method,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler,
) -> tuple[int, int, int]:
    """Load the checkpoint's weights, optimiser, schedule and RNGs; return its ``(step, epoch, batch_in_epoch)``."""
    state = ckpt.load_checkpoint(resume_from, map_location=dist.device)
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
    return step, epoch, batch_in_epoch


def accelerate(
    cfg: PretrainConfig, dist: DistInfo, method: Method
) -> tuple[str, AbstractContextManager[Any], torch.amp.GradScaler, Any]:
    """Device precision, DDP and compile, set once: ``(amp, autocast, scaler, train_model)``."""
    device = dist.device
    amp = cfg.amp if cfg.amp != "auto" else ("bf16" if device.type == "cuda" else "off")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    autocast: AbstractContextManager[Any] = (
        torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
    train_model: Any = method
    if dist.distributed:
        ids = [device.index] if device.type == "cuda" else None
        train_model = DDP(method, device_ids=ids, find_unused_parameters=method.find_unused_parameters)
    if cfg.compile:
        train_model = torch.compile(train_model)
    return amp, autocast, scaler, train_model


def validate_settings(cfg: PretrainConfig, methods: list[str], encoders: list[str]) -> None:
    """Raise ``ConfigError`` for an unknown method or encoder, or the first setting out of its range."""
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
    # finite and far beyond real use: past these, a value is a typo or a hostile config file (and 1e12 Hz would
    # ask for terabytes of resampled data)
    for name, top in (("rate_hz", 1e5), ("window_s", 1e5), ("lr", 1e3)):
        v = getattr(cfg, name)
        if not (math.isfinite(v) and 0 < v <= top):
            raise ConfigError(f"{name}={v!r} is out of range; give a positive value up to {top:g}")
    if cfg.stride_s is not None and not (math.isfinite(cfg.stride_s) and 0 < cfg.stride_s <= 1e5):
        raise ConfigError(f"stride_s={cfg.stride_s!r} is out of range; give a positive value up to 100000")


def load_run_windows(cfg: PretrainConfig, group: BuildGroup | None = None) -> WindowSet:
    """The training windows of ``cfg.data`` at ``cfg.rate_hz`` (``group``: the ranks that build a cache together)."""
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
        group=group,
        shard_mb=cfg.store.shard_mb,
    )
