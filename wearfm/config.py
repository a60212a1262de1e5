"""Frozen configuration dataclasses: the one place where defaults live.

Every command builds one of these (from defaults, an optional ``--config`` TOML/JSON file, then
``--set key=value`` overrides, then its own options) and saves it, resolved, next to its outputs.
Nested sections are addressed with dots: ``--set relcon.within_candidates=10``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from wearfm.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, packaged as tomli
    import tomli as tomllib

__all__ = [
    "SignalConfig",
    "IngestConfig",
    "SimCLRConfig",
    "RelConConfig",
    "MotifDistanceConfig",
    "PrimusConfig",
    "IMUVideoConfig",
    "StoreConfig",
    "PretrainConfig",
    "ProbeConfig",
    "ExportConfig",
    "METHOD_TRAINING_DEFAULTS",
    "training_defaults",
    "resolve_training",
    "describe_training_defaults",
    "ClassifyConfig",
    "load_config",
    "apply_overrides",
    "to_dict",
    "from_dict",
    "parse_duration",
    "DEFAULT_ENCODERS",
]

C = TypeVar("C")


@dataclass(frozen=True)
class SignalConfig:
    """Thresholds of the ingest-time signal checks (see docs/preprocessing.md for their sources)."""

    epoch_s: float = 10.0  # still/non-wear decisions are made on epochs of this length (GGIR, actipy: 10 s)
    calib_sd_g: float = 0.013  # still epoch for calibration: every axis SD below this (van Hees 2014, GGIR)
    calib_sphere_g: float = 0.3  # still means must reach beyond +-this on both sides of every axis (GGIR)
    calib_min_points: int = 50  # fewest still epochs to fit (actipy calib_min_samples)
    calib_max_error_g: float = 0.01  # refuse a fit whose error after is not below this (GGIR, actipy: 10 mg)
    calib_max_iter: int = 1000
    nonwear_sd_g: float = 0.015  # still epoch for non-wear: every axis SD below this (actipy flag_nonwear)
    nonwear_range_g: float | None = None  # also every axis range below this (GGIR-like guard; off)
    nonwear_min_minutes: float = 90.0  # still runs at least this long are non-wear (actipy: 90 min)
    clip_fraction: float = 0.99  # a sample is clipped when an axis reaches this share of device_range_g


@dataclass(frozen=True)
class IngestConfig:
    """Options of `wearfm ingest` (raw files -> canonical Parquet dataset)."""

    # auto | csv | actilife-csv | geneactiv-csv | omgui-csv | wisdm | sp-sw-har | cwa | gt3x | geneactiv
    format: str = "auto"
    acc_cols: tuple[str, ...] = ()  # e.g. ("ax", "ay", "az"); empty: detect common names
    gyr_cols: tuple[str, ...] = ()
    time_col: str | None = None  # None: detect a column named like time/timestamp
    time_unit: str = "auto"  # auto | s | ms | us | ns | iso
    rate_hz: float | None = None  # with no time column: the sample rate
    start_time: str | None = None  # with no time column: ISO start time (default 1970-01-01)
    time_reference: str = "utc"  # utc | local | device-uptime
    acc_unit: str = "auto"  # auto | g | m/s2 (auto: from gravity magnitude of still periods)
    gyr_unit: str = "rad/s"  # rad/s | deg/s (of the input; output is always deg/s)
    delimiter: str = "auto"  # auto | , | \t | whitespace | ;
    header: str = "auto"  # auto | yes | no
    skip_rows: int = 0  # preamble lines before the header (or data); 0 with auto header: detect a preamble
    date_format: str = "auto"  # auto | ymd | mdy | dmy: order of the date in text times that are not ISO 8601
    label_col: str | None = None
    annotations: str | None = None  # CSV of segments: recording or subject, start, end, label
    annotation_units: str = "time"  # time | samples
    subject_from: str | None = None  # path:N | name:REGEX | column:NAME | value:ID
    device: str | None = None
    session_from: str | None = None  # same syntax as subject_from
    placement: str = "unknown"
    resample_hz: float | None = None
    max_gap_s: float = 1.0  # gaps longer than this split a recording
    merge_tolerance_s: float = 0.025  # sensor merge: max distance between partner samples
    unsorted: str = "sort"  # sort | reject (non-monotonic timestamps)
    min_duration_s: float = 1.0  # shorter recordings are an error (or skipped with on_error=skip)
    nonfinite: str = "error"  # error | drop: rows with missing/NaN/inf sensor values
    idle_sleep: str = "fill"  # GT3X idle-sleep mode: fill (repeat last sample, as ActiLife) | gap
    chunk_rows: int = 2_000_000
    jobs: int = 1
    overwrite: bool = False
    on_error: str = "stop"  # stop | skip
    concat: bool = False  # files of one subject/device/session, in start-time order, become one recording
    shard: str | None = None  # "K/N": ingest only this worker's share of the inputs (K = 1..N)
    calibrate: bool = False  # gravity autocalibration (van Hees 2014) of each written recording
    nonwear: str = "keep"  # keep | mark (a `nonwear` column) | drop (split recordings at non-wear)
    signal: SignalConfig = field(default_factory=SignalConfig)


@dataclass(frozen=True)
class SimCLRConfig:
    """SimCLR (Chen et al., 2020) with IMU augmentations."""

    temperature: float = 0.1
    learnable_temperature: bool = False
    projection_dim: int = 128
    augmentations: tuple[str, ...] = ("scaling", "rotation", "time_warp", "jitter")  # wearfm.data.augment names
    augment_p: float = 0.8  # probability that each augmentation is applied to a view


@dataclass(frozen=True)
class MotifDistanceConfig:
    """RelCon stage 1: the learnable motif distance network (see docs/methods.md)."""

    embed_dim: int = 64
    kernel_size: int = 15
    double_receptive_field: int = 2
    attention: str = "softmax"  # softmax | sparsemax (same at training and distance time)
    dropout: float = 0.1
    augmentations_per_sample: int = 2
    center: bool = False  # remove each window's mean (orientation) before the distance network


@dataclass(frozen=True)
class RelConConfig:
    """RelCon stage 2 (Xu et al., ICLR 2025): relative contrastive loss ranked by a frozen distance."""

    distance: str | None = None  # run folder of a relcon-distance model
    within_candidates: int = 20
    group_by: str = "hour"  # hour | day | recording | subject: the within-subject candidate pool
    temperature: float = 0.1
    distance_chunk: int = 256  # pairs per batched distance call (bounds memory; 256 measured best on CPU)


@dataclass(frozen=True)
class PrimusConfig:
    """PRIMUS (Das et al., ICASSP 2025) and the IMU2CLIP baseline (``imu2clip`` uses the ``mm`` settings)."""

    weight_ss: float = 1.0  # a: L_SS (paper: 1; the code's README weights SS by 0.5)
    weight_mm: float = 1.0  # b: L_MM
    weight_nn: float = 1.0  # c: L_NN
    init_temperature: float = 0.1
    learnable_temperature: bool = True
    head_dim: int = 512  # size of the unimodal and multimodal heads (single Linear layers, as the code)
    queue_size: int = 4096  # the code keeps 8192 (per GPU)
    nn_by: str = "video"  # video | text | imu: the modality whose similarity picks the neighbour
    aligned_fraction: float = 1.0  # share of windows whose paired modalities are used (deterministic by seed)
    modalities: tuple[str, ...] = ()  # target modalities for L_MM/L_NN; empty: every one the dataset has
    augmentations: tuple[str, ...] = ("scaling", "time_reversal")  # L_SS: paper; code: scaling,segment_permutation
    scale_sigma: float = 0.1  # scaling factors ~ N(1, sigma) per sample and channel (the code: 0.25)


@dataclass(frozen=True)
class IMUVideoConfig:
    """IMU-video cross-modal pretraining (Cheshmi et al., MLHC 2025) with a SigLIP-style loss."""

    projection_dim: int = 512  # each modality's projection head output (paper's code: 512)
    dropout: float = 0.1
    init_logit_scale: float = 2.302585  # log(10), as SigLIP
    init_logit_bias: float = -10.0


#: The encoder each built-in method trains when ``encoder`` is unset (its paper's choice). The one table: method
#: resolution and ``wearfm pretrain --help`` read it (docs/methods.md shows it).
DEFAULT_ENCODERS: dict[str, str] = {
    "simclr": "resnet1d_small",  # chosen on validation subjects (recipes/01-simclr-resnet1d-small.toml)
    "relcon-distance": "resnet1d",  # stage 1 trains the motif distance network; the encoder is unused
    "relcon": "resnet1d",
    "primus": "cnn_gru",
    "imu2clip": "cnn_gru",
    "imu-video": "patchtst",
}


@dataclass(frozen=True)
class StoreConfig:
    """The on-disk window store that ``--cache`` builds (see ``docs/scaling.md``)."""

    shard_mb: float = 512.0  # resampled float32 MB per shard file; shards are the unit ranks build in parallel


@dataclass(frozen=True)
class PretrainConfig:
    """Options of `wearfm pretrain`."""

    data: str = ""
    out: str = "runs/pretrain"
    method: str = "simclr"
    encoder: str | None = None  # None: the method's default (DEFAULT_ENCODERS)
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)
    rate_hz: float = 30.0
    window_s: float = 10.0
    stride_s: float | None = None  # None: windows do not overlap
    channels: str = "acc"  # acc | acc+gyr | comma list
    normalize: bool = False  # per-channel standardisation; statistics saved in the model
    epochs: int = 1
    max_steps: int | None = None  # stop after this many optimiser steps (overrides epochs)
    batch_size: int = 64
    # None: the method's own default (METHOD_TRAINING_DEFAULTS below; `wearfm pretrain --help` lists them)
    lr: float | None = None
    weight_decay: float | None = None  # on weights only; never on biases, norms, RevIN affine, tokens, temperatures
    warmup_steps: int | None = None
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp16 | off
    compile: bool = False
    num_workers: int = 0
    cache_dir: str | None = None  # keep resampled recordings here and memory-map them (built once)
    nonwear: str = "skip"  # skip | keep: windows overlapping non-wear marked at ingest
    store: StoreConfig = field(default_factory=StoreConfig)
    ckpt_every: int = 500
    # also keep the method's outputs (encoder.pt or distance.pt) every N steps in snapshots/stepNNNNNN/, to pick
    # the number of steps on validation subjects afterwards; None: only the final ones
    snapshot_every: int | None = None
    log_every: int = 10
    simclr: SimCLRConfig = field(default_factory=SimCLRConfig)
    relcon: RelConConfig = field(default_factory=RelConConfig)
    motif: MotifDistanceConfig = field(default_factory=MotifDistanceConfig)
    primus: PrimusConfig = field(default_factory=PrimusConfig)
    imu_video: IMUVideoConfig = field(default_factory=IMUVideoConfig)


#: Training defaults of each method, used where the config leaves ``lr``/``weight_decay``/``warmup_steps`` unset.
#: AdamW (betas 0.9/0.95), linear warmup then cosine decay to 10% of the peak, for every method.
#: simclr: measured on validation subjects with resnet1d_small (docs/results.md): at 400 steps lr 1e-3 beat 3e-4,
#: 1e-4 and 3e-5 on the mean over the four shared datasets (it gains on WISDM, loses on sp-sw-har watch); the
#: larger resnet1d was not re-measured at 1e-3 (a 150-step run lost to its random init there).
#: relcon: the README's validated 1e-4 (the released code: Adam 1e-6, no weight decay).
#: relcon-distance: the released code's Adam 1e-3, no weight decay.
#: primus/imu2clip: PRIMUS's Adam 2e-4, no weight decay. imu-video: the paper's AdamW 1e-4, weight decay 0.01.
METHOD_TRAINING_DEFAULTS: dict[str, dict[str, float | int]] = {
    "simclr": {"lr": 1e-3, "weight_decay": 0.05, "warmup_steps": 20},
    "relcon-distance": {"lr": 1e-3, "weight_decay": 0.0, "warmup_steps": 20},
    "relcon": {"lr": 1e-4, "weight_decay": 0.0, "warmup_steps": 10},
    "primus": {"lr": 2e-4, "weight_decay": 0.0, "warmup_steps": 20},
    "imu2clip": {"lr": 2e-4, "weight_decay": 0.0, "warmup_steps": 20},
    "imu-video": {"lr": 1e-4, "weight_decay": 0.01, "warmup_steps": 20},
}
#: For a method registered elsewhere without an entry above.
FALLBACK_TRAINING_DEFAULTS: dict[str, float | int] = {"lr": 1e-4, "weight_decay": 0.0, "warmup_steps": 20}


def training_defaults(method: str) -> dict[str, float | int]:
    """The learning rate, weight decay and warmup steps ``method`` uses when the config leaves them unset.

    Examples:
        >>> training_defaults("relcon")["lr"]
        0.0001
    """
    return dict(METHOD_TRAINING_DEFAULTS.get(method, FALLBACK_TRAINING_DEFAULTS))


def describe_training_defaults() -> str:
    """One line per method's defaults, for ``--help``: ``simclr: lr 1e-4, weight decay 0.05, warmup 20; ...``."""
    return "; ".join(
        f"{m}: lr {d['lr']:g}, weight decay {d['weight_decay']:g}, warmup {d['warmup_steps']}"
        for m, d in METHOD_TRAINING_DEFAULTS.items()
    )


def resolve_training(cfg: PretrainConfig) -> PretrainConfig:
    """``cfg`` with every unset training setting (``lr``, ``weight_decay``, ``warmup_steps``) set to its method's.

    Examples:
        >>> resolve_training(PretrainConfig(method="primus")).lr
        0.0002
        >>> resolve_training(PretrainConfig(method="primus", lr=1e-3)).lr
        0.001
    """
    d = training_defaults(cfg.method)
    return dataclasses.replace(
        cfg,
        lr=float(d["lr"]) if cfg.lr is None else cfg.lr,
        weight_decay=float(d["weight_decay"]) if cfg.weight_decay is None else cfg.weight_decay,
        warmup_steps=int(d["warmup_steps"]) if cfg.warmup_steps is None else cfg.warmup_steps,
    )


@dataclass(frozen=True)
class ProbeConfig:
    """Options of `wearfm probe` (few-shot evaluation split by subject)."""

    data: str = ""
    encoders: tuple[str, ...] = ()
    out: str = "reports/probe"
    shots: tuple[int, ...] = (1, 2, 5, 10, 25)
    trials: int = 10
    head: str = "logreg"  # logreg | logreg-sklearn | knn | mlp | ridge
    finetune: bool = False
    test_subjects: tuple[str, ...] = ()
    test_fraction: float = 0.3
    label_purity: float = 1.0  # share of a window one label must cover for the window to be labelled
    stride_s: float | None = None  # step between probe windows (None: the window length, no overlap)
    target: str = "label"
    few_classes: str = "use-available"  # use-available | stop
    seed: int = 0
    batch_size: int = 256
    device: str = "auto"
    rate_hz: float | None = None  # baselines (features, random:, supervised:): the rate to cut windows at
    # window length for every encoder (default: each learned encoder's own; baselines: the first's, else 10 s)
    window_s: float | None = None
    channels: str | None = None  # baselines: channels (default: the first learned encoder's, else acc)
    finetune_steps: int = 100  # --finetune and supervised:<name>: optimiser steps on the shots
    finetune_lr: float = 1e-3
    # CPU cores for fitting heads: solver threads of the batched logreg, processes of logreg-sklearn's inner CV
    jobs: int = -1  # -1: all cores; 1: one
    nonwear: str = "skip"  # skip | keep: windows overlapping non-wear marked at ingest


@dataclass(frozen=True)
class ExportConfig:
    """Options of `wearfm export`."""

    model: str = ""
    out: str = "model.onnx"
    opset: int = 18
    quantize: str = "none"  # none | int8
    check: bool = True
    atol: float = 1e-4
    exporter: str = "auto"  # auto | dynamo | torchscript (see wearfm/export/onnx.py)
    quant_mode: str = "auto"  # auto | dynamic | static (int8; auto picks per architecture)
    calibration: str | None = None  # dataset for static int8 calibration and real-window checks
    calibration_windows: int = 256


# --- durations ------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(s|sec|ms|min|samples)?\s*$")
_SECONDS_PER = {None: 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "min": 60.0}


def parse_duration(spec: str | float, rate_hz: float | None = None, *, option: str = "--window") -> float:
    """Seconds from a duration as every command's ``--window`` and ``--stride`` take it.

    A bare number is seconds; ``s``, ``ms`` and ``min`` name the unit. ``256samples`` counts samples and needs
    ``rate_hz`` (the rate the windows are cut at).

    Args:
        spec: ``10``, ``10s``, ``2.56s``, ``500ms``, ``1min``, ``256samples``, or a number of seconds.
        rate_hz: the sample rate, for a duration given in samples.
        option: the option's name, for error messages.

    Raises:
        ConfigError: an unreadable or non-positive duration, or samples without a rate.

    Examples:
        >>> parse_duration("10s"), parse_duration("10"), parse_duration("500ms"), parse_duration(2.56)
        (10.0, 10.0, 0.5, 2.56)
        >>> parse_duration("256samples", rate_hz=100)
        2.56
    """
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        seconds = float(spec)
    else:
        m = _DURATION.match(str(spec))
        if not m:
            raise ConfigError(
                f"{option} {spec!r}: give a duration in seconds ('10', '10s', '2.56s', '500ms', '1min') "
                "or in samples ('256samples')"
            )
        value, unit = float(m.group(1)), m.group(2)
        if unit == "samples":
            if rate_hz is None:
                raise ConfigError(f"{option} {spec!r}: samples need a sample rate; give the duration in seconds")
            if not value.is_integer():
                raise ConfigError(f"{option} {spec!r}: a number of samples must be whole")
            seconds = value / rate_hz
        else:
            seconds = value * _SECONDS_PER[unit]
    if not seconds > 0:
        raise ConfigError(f"{option} {spec!r} must be longer than 0 s")
    return seconds


@dataclass(frozen=True)
class ClassifyConfig:
    """Options of `wearfm classify fit|predict|summary` (a few-shot classifier applied to whole recordings)."""

    data: str = ""
    encoder: str = ""  # fit: run folder, .pt, .onnx, features or random:<name> (as `wearfm probe --encoder`)
    model: str = ""  # predict: the classifier folder written by fit
    out: str = ""
    shots: int | None = None  # fit: k labelled windows per class drawn with ``seed``; None: every labelled window
    seed: int = 0
    subjects: tuple[str, ...] = ()  # fit / predict: only these subjects (empty: all)
    label_purity: float = 1.0  # as the probe: share of a window one label must cover
    stride_s: float | None = None  # seconds between window starts (None: the window, no overlap)
    nonwear: str = "skip"  # fit: skip | keep windows overlapping non-wear; predict always marks them `nonwear`
    rate_hz: float | None = None  # fit with a baseline encoder (features, random:): sample rate (default 30)
    window_s: float | None = None  # fit with a baseline encoder: window length in seconds (default 10)
    channels: str | None = None  # fit with a baseline encoder: channels (default acc)
    cv_min_subjects: int = 3  # fit: cross-validate by subject when the fitted windows span this many subjects
    smooth: str = "none"  # predict: none | median:K | hmm
    hmm_stay: float = 0.95  # sticky default: probability of staying in a class from one window to the next
    hmm_min_changes: int = 10  # fewer class changes than this in the labelled sequences: use the sticky default
    strict: bool = False  # predict: refuse data at another sample rate instead of resampling it
    batch_size: int = 256
    device: str = "auto"
    chunk_windows: int = 8192  # predict: windows embedded and written per step (bounds memory)
    block_hours: float = 6.0  # predict: a recording is read and resampled this many hours at a time
    min_wear_hours: float = 16.0  # summary: a day is valid with at least this much wear
    format: str = "auto"  # summary output: auto (from the suffix) | csv | parquet


# --- loading and overriding -------------------------------------------------------------------------


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a (nested) config dataclass."""
    d = dataclasses.asdict(cfg)
    out: dict[str, Any] = json.loads(json.dumps(d, default=list))
    return out


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build ``cls`` from a (possibly partial) nested dict, checking names and types."""
    return apply_overrides(cls(), _flatten(data))  # type: ignore[call-arg]


def load_config(
    cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None, *, base: C | None = None
) -> C:
    """Defaults (or ``base``), then a TOML/JSON file, then ``key=value`` overrides (dotted keys for sections).

    Examples:
        >>> cfg = load_config(PretrainConfig, overrides=["batch_size=8", "relcon.within_candidates=5"])
        >>> cfg.batch_size, cfg.relcon.within_candidates
        (8, 5)
    """
    cfg = base if base is not None else cls()  # type: ignore[call-arg]
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        text = p.read_text()
        try:
            data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{p}: cannot parse config ({e})") from None
        cfg = apply_overrides(cfg, _flatten(data))
    pairs: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        k, v = item.split("=", 1)
        pairs[k.strip()] = v.strip()
    return apply_overrides(cfg, pairs)


def apply_overrides(cfg: C, pairs: dict[str, Any]) -> C:
    """Return a copy of ``cfg`` with dotted ``pairs`` applied; strings are parsed to the field's type."""
    for key, value in pairs.items():
        cfg = _set(cfg, key.split("."), value, key)
    return cfg


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and not k.endswith("kwargs"):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _set(cfg: Any, parts: list[str], value: Any, full: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    name = parts[0]
    if name not in fields:
        raise ConfigError(f"unknown setting {full!r}; valid: {sorted(fields)}")
    hints = typing.get_type_hints(type(cfg))
    if len(parts) > 1:
        sub = getattr(cfg, name)
        if not dataclasses.is_dataclass(sub):
            raise ConfigError(f"setting {full!r}: {name!r} has no sub-settings")
        return dataclasses.replace(cfg, **{name: _set(sub, parts[1:], value, full)})
    return dataclasses.replace(cfg, **{name: _coerce(value, hints[name], full)})


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"setting {key!r}: bad value {value!r}")
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if tp is float:
            return float(value)
        if tp is str:
            if not isinstance(value, str | int | float):
                raise ValueError(value)
            return str(value)
        if origin is tuple:
            items = value if isinstance(value, list | tuple) else [s for s in str(value).split(",") if s.strip()]
            return tuple(_coerce(v.strip() if isinstance(v, str) else v, args[0], key) for v in items)
        if origin is dict:
            if isinstance(value, str):
                value = json.loads(value)
            if not isinstance(value, dict):
                raise ValueError(value)
            return dict(value)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ConfigError(f"setting {key!r}: {value!r} is not a valid {getattr(tp, '__name__', tp)}") from None
    raise ConfigError(f"setting {key!r}: unsupported type {tp}")
