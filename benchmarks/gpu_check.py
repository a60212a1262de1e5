"""One-command GPU verification: GPU tests, training throughput per method, the RelCon step, DDP and compile.

On a machine with CUDA (one H100/H200-class GPU: under 8 minutes, nothing to install beyond the project)::

    python benchmarks/gpu_check.py --out gpu_check.json

On any machine, the same code paths on tiny shapes in seconds (CPU; also run by the default test suite)::

    python benchmarks/gpu_check.py --dry-run

Parts (``--only`` picks some):

1. ``pytest``: runs ``pytest -m gpu`` and lists every GPU test with its outcome.
2. ``methods``: each method with its default encoder, on generated data of realistic shapes, trained for a few
   bf16-autocast steps as the loop runs them: items/s, step time, peak GPU memory, the DataLoader's items/s
   beside it, the step over a bare forward/backward of the encoder on random tensors of the same shapes, MFU.
3. ``relcon``: the batched RelCon distances + loss (and full step) against the per-candidate reference at the
   paper's shapes (64 anchors, 20 within-subject candidates + the in-batch ones, 256 samples), in fp32 with TF32
   off so that both must give the same loss.
4. ``ddp`` and ``compile``: ``wearfm.train.pretrain`` as a one-process DDP job (NCCL on CUDA) and with
   ``compile=True``, each beside the same run without it.

Writes every figure to one JSON file (after each part, so an interrupted run keeps what it measured), prints one
table on stdout (progress on stderr), and exits 1 if any check failed. Goals (step <= 2x the bare encoder, ...)
are reported beside the checks; ``--strict`` makes a missed goal fail too. See docs/gpu.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import wearfm  # noqa: E402
import wearfm.methods  # noqa: F401, E402  (registers methods)
from benchmarks._common import peak_tflops, synthetic_paired_dataset  # noqa: E402
from benchmarks.pretrain import bench_method  # noqa: E402
from benchmarks.relcon import ACC, compare_step  # noqa: E402
from wearfm.config import PretrainConfig, RelConConfig  # noqa: E402
from wearfm.data.windows import load_windows  # noqa: E402
from wearfm.methods.base import resolve_encoder  # noqa: E402
from wearfm.models.motif_distance import MotifDistance, save_distance_model  # noqa: E402

log = logging.getLogger("gpu_check")

PARTS = ("pytest", "methods", "relcon", "ddp", "compile")
STEP_OVER_PURE_GOAL = 2.0  # a training step should cost at most twice the encoder's bare forward/backward
DDP_GOAL = 0.9  # one-process DDP keeps at least 90% of the plain run's throughput
RELCON_GOAL = 5.0  # the batched RelCon step at least 5x faster than the per-candidate reference
TIME_GOAL_S = 480.0  # the whole check fits in the 8 minutes a lent GPU may give


@dataclass(frozen=True)
class MethodSetup:
    """One method x encoder at the shapes it trains on."""

    method: str
    encoder: str | None  # None: the method's default
    rate_hz: float
    window_s: float
    channels: str
    batch: int


@dataclass(frozen=True)
class Profile:
    """Sizes of a check: ``FULL`` on a GPU, ``TINY`` for ``--dry-run``."""

    subjects: int
    minutes: float
    methods: tuple[MethodSetup, ...]
    steps: int
    warmup: int
    loader_batches: int
    workers: int
    relcon: dict[str, Any] = field(default_factory=dict)  # compare_step's keyword arguments
    run: MethodSetup = MethodSetup("simclr", "resnet1d", 30.0, 10.0, "acc", 256)  # the DDP / compile runs
    run_steps: int = 30
    encoder_suffix: str = ""
    # step between windows as a share of their length: overlapping windows give each epoch many batches, so
    # DataLoader workers are not restarted every few steps (an epoch boundary) while the steps are timed
    stride_fraction: float = 1.0
    pytest_timeout_s: float = 300.0


FULL = Profile(
    subjects=8,
    minutes=30.0,
    steps=20,
    warmup=5,
    loader_batches=20,
    workers=min(8, os.cpu_count() or 1),
    stride_fraction=0.25,
    methods=(
        MethodSetup("simclr", None, 30.0, 10.0, "acc", 256),  # wearfm's defaults: 30 Hz, 10 s
        MethodSetup("relcon-distance", None, 100.0, 2.56, "acc", 64),  # RelCon paper: 100 Hz, 2.56 s, acc
        MethodSetup("relcon", None, 100.0, 2.56, "acc", 64),  # + 20 within-subject candidates per anchor
        MethodSetup("primus", None, 50.0, 5.0, "acc+gyr", 256),  # PRIMUS: 5 s at 50 Hz, 6-axis IMU
        MethodSetup("imu2clip", None, 50.0, 5.0, "acc+gyr", 256),
        MethodSetup("imu-video", None, 50.0, 5.0, "acc+gyr", 256),
    ),
    relcon={"batch": 64, "within": 20, "samples": 256, "encoder": "resnet1d", "repeats": 3},
)

TINY = Profile(
    subjects=3,
    minutes=2.0,
    steps=2,
    warmup=1,
    loader_batches=2,
    workers=0,
    encoder_suffix="_tiny",
    methods=(
        MethodSetup("simclr", None, 30.0, 2.0, "acc", 8),
        MethodSetup("relcon-distance", None, 100.0, 0.64, "acc", 4),
        MethodSetup("relcon", None, 100.0, 0.64, "acc", 4),
        MethodSetup("primus", None, 50.0, 1.0, "acc+gyr", 8),
        MethodSetup("imu2clip", None, 50.0, 1.0, "acc+gyr", 8),
        MethodSetup("imu-video", None, 50.0, 1.0, "acc+gyr", 8),
    ),
    relcon={"batch": 4, "within": 2, "samples": 64, "encoder": "resnet1d_tiny", "repeats": 1},
    run=MethodSetup("simclr", "resnet1d", 30.0, 2.0, "acc", 8),
    run_steps=4,
    pytest_timeout_s=120.0,
)


class Report:
    """Everything measured, the checks (must pass) and the goals (should be met); saved as JSON after each part."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {**meta, "checks": [], "goals": [], "parts": {}}
        self.rows: list[dict[str, Any]] = []  # the printed table

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record a pass/fail check; returns ``ok``."""
        self.data["checks"].append({"name": name, "ok": bool(ok), "detail": detail})
        if not ok:
            log.error("check failed: %s %s", name, detail)
        return bool(ok)

    def goal(self, name: str, value: float, target: float, kind: str) -> str:
        """Record a goal (``kind`` "max": value <= target; "min": value >= target); returns the table mark."""
        met = None if not math.isfinite(value) else (value <= target if kind == "max" else value >= target)
        self.data["goals"].append({"name": name, "value": value, "target": target, "kind": kind, "met": met})
        return "" if met is None else ("goal met" if met else "GOAL MISSED")

    def row(self, **cells: Any) -> None:
        """Add one line of the table."""
        self.rows.append(cells)

    def save(self) -> None:
        """Write the JSON atomically (a temporary file, then a rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(_finite_only(self.data), indent=2, default=_jsonable, allow_nan=False))
        tmp.replace(self.path)

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        """The checks that failed."""
        return [c for c in self.data["checks"] if not c["ok"]]

    @property
    def missed_goals(self) -> list[dict[str, Any]]:
        """The goals that were measured and missed."""
        return [g for g in self.data["goals"] if g["met"] is False]


def _jsonable(x: Any) -> Any:
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, torch.device | torch.dtype):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _finite_only(x: Any) -> Any:
    """``x`` with every NaN or infinity (in nested dicts, lists and tuples) replaced by None (JSON null)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite_only(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite_only(v) for v in x]
    return x


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


# --- 1. pytest -m gpu -----------------------------------------------------------------------------------------


def run_gpu_tests(report: Report, paths: list[str], timeout_s: float, cuda: bool) -> None:
    """Run ``pytest -m gpu`` in a subprocess; record each GPU test and its outcome from the JUnit XML."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "gpu.xml"
        cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *paths]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
            rc, tail = p.returncode, (p.stdout + p.stderr)[-3000:]
        except subprocess.TimeoutExpired as e:
            rc, tail = -1, f"timed out after {timeout_s:.0f} s: {str(e.stdout or '')[-2000:]}"
        tests = _junit_tests(xml) if xml.exists() else []
    counts = {o: sum(t["outcome"] == o for t in tests) for o in ("passed", "failed", "error", "skipped")}
    for t in tests:
        log.info("  gpu test %-8s %s", t["outcome"], t["name"])
    report.data["parts"]["pytest"] = {
        "command": " ".join(cmd[1:]),
        "returncode": rc,
        "tests": tests,
        "counts": counts,
        "wall_s": time.perf_counter() - t0,
        "output_tail": tail,
    }
    ok = rc == 0 and bool(tests) and (counts["passed"] > 0 or not cuda)
    detail = ", ".join(f"{n} {o}" for o, n in counts.items() if n) or f"no GPU tests ran (exit {rc})"
    report.check("pytest -m gpu", ok, detail if ok else f"{detail}; exit {rc}; see parts.pytest.output_tail")
    report.row(part="pytest -m gpu", shapes=f"{len(tests)} GPU tests", result=detail)


def _junit_tests(xml: Path) -> list[dict[str, str]]:
    tests = []
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = "failed" if tag == "failure" else tag
                message = (el.get("message") or "")[:300]
                break
        tests.append({"name": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome, "message": message})
    return tests


# --- 2. each method x its default encoder ---------------------------------------------------------------------


def bench_methods(
    report: Report, prof: Profile, data: Path, distance: dict[tuple[float, int], Path], args: Any
) -> None:
    """Train each method for a few steps on realistic shapes; record throughput, memory, step/pure and MFU."""
    device, peak = args.device, peak_tflops(args.device, args.peak_tflops)
    results: list[dict[str, Any]] = []
    windows = {}
    report.data["parts"]["methods"] = {"peak_tflops": _finite(peak), "results": results}
    for setup in prof.methods:
        name = f"{setup.method}"
        try:
            cfg = _config(setup, data, prof)
            key = (setup.rate_hz, round(setup.window_s * setup.rate_hz), setup.channels)
            if key not in windows:
                stride = max(1, round(key[1] * prof.stride_fraction))
                windows[key] = load_windows(data, rate_hz=key[0], window=key[1], channels=key[2], stride=stride)
            ws = windows[key]
            if setup.method == "relcon":
                cfg = dataclasses.replace(
                    cfg,
                    relcon=RelConConfig(
                        distance=str(distance[(setup.rate_hz, ws.window)]), within_candidates=prof.relcon["within"]
                    ),
                )
            name = f"{cfg.method} / {cfg.encoder}"
            log.info(
                "method %s: %d windows of %d x %d, batch %d", name, len(ws), ws.window, len(ws.channels), cfg.batch_size
            )
            r = bench_method(
                cfg,
                ws,
                device,
                amp=True,
                workers=prof.workers,
                steps=prof.steps,
                warmup=prof.warmup,
                peak=peak,
                loader_batches=prof.loader_batches,
            )
        except Exception as e:  # noqa: BLE001 - a failing method is a failed check; the others still run
            report.check(f"train {name}", False, f"{type(e).__name__}: {e}")
            report.data["parts"].setdefault("methods_errors", []).append(traceback.format_exc())
            report.row(part=name, result=f"FAIL: {type(e).__name__}")
            continue
        finally:
            _free(device)
            report.save()  # a run cut short keeps the methods measured so far
        r = {k: (_finite(v) if isinstance(v, float) else v) for k, v in r.items()}
        results.append(r)
        loss = r["loss"]
        trained = report.check(f"train {name}", loss is not None, f"last loss {loss}")
        ratio = r["step_time_over_pure"]
        mark = (
            ""
            if ratio is None
            else report.goal(f"{name}: step / bare encoder fwd+bwd", ratio, STEP_OVER_PURE_GOAL, "max")
        )
        shapes = "+".join("x".join(map(str, s)) for s in r["encoder_input_per_step"]) or f"{cfg.batch_size} windows"
        report.row(
            part=name,
            shapes=shapes,
            items_s=r["step_items_per_s"],
            step_ms=r["step_ms"],
            loader_s=r["loader_items_per_s"],
            ratio=ratio,
            ratio_of=None if ratio is None else "step time/pure",  # relcon-distance: no encoder to compare with
            mfu=r["mfu"],
            peak_gib=r["peak_gib"],
            result=f"{'ok' if trained else 'FAIL: loss not finite'} {mark}".strip(),
        )


def _config(setup: MethodSetup, data: Path, prof: Profile, **over: Any) -> PretrainConfig:
    cfg = resolve_encoder(
        PretrainConfig(
            data=str(data),
            method=setup.method,
            encoder=setup.encoder,
            rate_hz=setup.rate_hz,
            window_s=setup.window_s,
            channels=setup.channels,
            batch_size=setup.batch,
            amp="bf16",
            **over,
        )
    )
    if prof.encoder_suffix and not str(cfg.encoder).endswith(prof.encoder_suffix):
        cfg = dataclasses.replace(cfg, encoder=f"{cfg.encoder}{prof.encoder_suffix}")
    return cfg


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


# --- 3. RelCon: batched step against the reference ------------------------------------------------------------


def relcon_step(report: Report, prof: Profile, args: Any) -> None:
    """Batched RelCon distances, loss and step against the per-candidate reference, fp32 with TF32 off."""
    with _strict_fp32():
        r = compare_step(args.device, **prof.relcon)
    report.data["parts"]["relcon"] = r
    tol = 1e-4 * max(1.0, abs(r["loss_reference"]))
    same_loss = report.check(
        "relcon: batched loss == reference loss",
        abs(r["loss_fast"] - r["loss_reference"]) <= tol,
        f"{r['loss_fast']:.6f} vs {r['loss_reference']:.6f}",
    )
    same_d = report.check(
        "relcon: batched distances == reference",
        r["max_distance_diff"] <= 1e-3 * max(1.0, r["max_distance"]),
        f"max |diff| {r['max_distance_diff']:.3g} of max {r['max_distance']:.3g}",
    )
    shape = f"B={r['batch']} Cw={r['within']} K={r['candidates']} T={r['samples']}"
    for row in r["rows"]:
        ratio = row["reference_ms"] / row["fast_ms"]
        full = row["part"].startswith("full step")
        mark = report.goal(f"relcon {row['part']}: reference / batched", ratio, RELCON_GOAL, "min") if full else ""
        report.row(
            part=f"relcon {row['part']}",
            shapes=shape,
            step_ms=row["fast_ms"],
            ratio=ratio,
            ratio_of="ref/batched",
            result=f"{'ok' if same_loss and same_d else 'FAIL: differs from the reference'} {mark}".strip(),
        )


@contextmanager
def _strict_fp32() -> Iterator[None]:
    """TF32 off for convolutions and matmuls, so the two RelCon paths must agree to fp32 rounding."""
    conv, mm = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, mm


# --- 4. the training loop: plain, one-process DDP, compiled ----------------------------------------------------


def loop_runs(report: Report, prof: Profile, data: Path, work: Path, args: Any, parts: set[str]) -> None:
    """``pretrain`` plain, then as a one-process DDP job and/or compiled; steady-state items/s of each."""
    from wearfm.train import pretrain

    base = _config(
        prof.run,
        data,
        prof,
        max_steps=prof.run_steps,
        log_every=max(prof.run_steps // 3, 1),
        warmup_steps=1,
        stride_s=prof.run.window_s * prof.stride_fraction,
        num_workers=prof.workers,
        device=str(args.device),
    )
    runs: dict[str, dict[str, Any]] = {}

    def one(kind: str, cfg: PretrainConfig, ctx: Callable[[], Any]) -> dict[str, Any] | None:
        records: list[dict[str, Any]] = []

        def on_log(rec: dict[str, Any]) -> None:
            dist = torch.distributed
            backend = dist.get_backend() if dist.is_available() and dist.is_initialized() else None
            records.append({**rec, "backend": backend})

        t0 = time.perf_counter()
        try:
            with ctx():
                res = pretrain(dataclasses.replace(cfg, out=str(work / kind)), on_log=on_log)
        except Exception as e:  # noqa: BLE001 - recorded as a failed check
            report.check(f"pretrain {kind}", False, f"{type(e).__name__}: {e}")
            report.data["parts"].setdefault("loop_errors", []).append(traceback.format_exc())
            report.row(part=f"pretrain {kind}", result=f"FAIL: {type(e).__name__}")
            return None
        finally:
            _free(args.device)
        r = {
            "method": cfg.method,
            "encoder": cfg.encoder,
            "batch": cfg.batch_size,
            "steps": res.steps,
            "world_size": res.world_size,
            "device": res.device,
            "final_loss": _finite(res.final_loss),
            "backend": records[-1]["backend"] if records else None,
            "wall_s": time.perf_counter() - t0,
            # the last logging interval: after compilation and warm-up
            "steady_items_per_s": records[-1]["windows_per_s"] if records else float("nan"),
            "first_step_s": records[0]["elapsed_s"] if records else float("nan"),
            "records": records,
        }
        runs[kind] = r
        return r

    plain = one("plain", base, _nothing)
    ok_plain = plain is not None and report.check(
        "pretrain plain",
        plain["steps"] == prof.run_steps and plain["final_loss"] is not None,
        f"{plain['steps']} steps, loss {plain['final_loss']}",
    )
    base_ips = plain["steady_items_per_s"] if plain else float("nan")
    shapes = f"{prof.run.batch}x{round(prof.run.rate_hz * prof.run.window_s)} {base.encoder}"
    if plain is not None:
        report.row(
            part=f"pretrain {base.method} plain",
            shapes=shapes,
            items_s=base_ips,
            step_ms=1000 * base.batch_size / base_ips,
            result="ok" if ok_plain else "FAIL",
        )
    if "ddp" in parts:
        r = one("ddp", base, _one_process_group)
        if r is not None:
            want = "nccl" if args.device.type == "cuda" else "gloo"
            ok = report.check(
                "ddp: one-process job trains",
                r["world_size"] == 1
                and r["steps"] == prof.run_steps
                and r["final_loss"] is not None
                and r["backend"] == want,
                f"world {r['world_size']}, backend {r['backend']} (want {want}), {r['steps']} steps, "
                f"loss {r['final_loss']}",
            )
            ratio = r["steady_items_per_s"] / base_ips
            mark = report.goal("ddp: one-process / plain items/s", ratio, DDP_GOAL, "min")
            report.row(
                part=f"pretrain {base.method} DDP ({r['backend']}, 1 process)",
                shapes=shapes,
                items_s=r["steady_items_per_s"],
                step_ms=1000 * base.batch_size / r["steady_items_per_s"],
                ratio=ratio,
                ratio_of="DDP/plain",
                result=f"{'ok' if ok else 'FAIL'} {mark}".strip(),
            )
    if "compile" in parts:
        backend = "inductor" if args.device.type == "cuda" else args.cpu_compile_backend
        r = one("compile", dataclasses.replace(base, compile=True), lambda: _compile_backend(backend))
        if r is not None:
            r["compile_backend"] = backend
            ok = report.check(
                "compile: compiled run trains",
                r["steps"] == prof.run_steps and r["final_loss"] is not None,
                f"{r['steps']} steps, loss {r['final_loss']}, backend {backend}",
            )
            ratio = r["steady_items_per_s"] / base_ips
            mark = report.goal("compile: compiled / eager items/s", ratio, 1.0, "min")
            report.row(
                part=f"pretrain {base.method} --compile ({backend})",
                shapes=shapes,
                items_s=r["steady_items_per_s"],
                step_ms=1000 * base.batch_size / r["steady_items_per_s"],
                ratio=ratio,
                ratio_of="compiled/eager",
                result=f"{'ok' if ok else 'FAIL'} {mark}; 1st step {r['first_step_s']:.0f} s".strip(),
            )
    report.data["parts"]["loop"] = runs


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _one_process_group() -> Iterator[None]:
    """The environment ``torchrun --nproc_per_node 1`` gives its process: ``pretrain`` then joins a DDP group."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _compile_backend(backend: str) -> Iterator[None]:
    """Make the loop's ``torch.compile(model)`` use ``backend`` (the CPU dry run traces without code generation)."""
    original = torch.compile

    def compile_with(model: Any = None, **kw: Any) -> Any:
        return original(model, **{"backend": backend, **kw})

    torch.compile = compile_with  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.compile = original


# --- driver ---------------------------------------------------------------------------------------------------


def _distance_models(prof: Profile, root: Path) -> dict[tuple[float, int], Path]:
    """A (random) stage-1 distance model for each relcon setup: stage 2 needs one at its rate and length."""
    out = {}
    for s in prof.methods:
        if s.method == "relcon":
            n = round(s.rate_hz * s.window_s)
            path = root / f"distance-{s.rate_hz:g}hz-{n}"
            torch.manual_seed(0)
            save_distance_model(MotifDistance(in_channels=3), path, rate_hz=s.rate_hz, window_samples=n, channels=ACC)
            out[(s.rate_hz, n)] = path
    return out


def _meta(args: Any, prof: Profile) -> dict[str, Any]:
    dev = args.device
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {
        "dry_run": args.dry_run,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "wearfm": wearfm.__version__,
        "commit": commit,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "profile": dataclasses.asdict(prof),
        "argv": sys.argv[1:],
    }


COLUMNS = (
    ("part", "part", "{}"),
    ("shapes", "shapes", "{}"),
    ("items_s", "items/s", "{:,.1f}"),
    ("step_ms", "step ms", "{:,.2f}"),
    ("loader_s", "loader items/s", "{:,.0f}"),
    ("ratio", "ratio", "{:.2f}"),
    ("ratio_of", "ratio of", "{}"),
    ("mfu", "MFU", "{:.1%}"),
    ("peak_gib", "peak GiB", "{:.2f}"),
    ("result", "result", "{}"),
)


def format_table(rows: list[dict[str, Any]]) -> str:
    """The report's rows as one Markdown table (empty cell: not measured for that part)."""

    def cell(v: Any, fmt: str) -> str:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return ""
        return fmt.format(v)

    lines = ["| " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r.get(k), f) for k, _, f in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes and few steps (CPU unless --device)")
    ap.add_argument("--device", default=None, help="cuda (default), cuda:N or cpu; --dry-run defaults to cpu")
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="the JSON report")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma list of parts: {','.join(PARTS)}")
    ap.add_argument("--pytest-paths", default="tests", help="comma list of paths for the pytest part")
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (default: known GPUs)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--cpu-compile-backend", default="eager", help="torch.compile backend on CPU (inductor: slow)")
    ap.add_argument("--strict", action="store_true", help="a missed goal also fails the check")
    args = ap.parse_args(argv)
    args.parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = args.parts - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s) {sorted(unknown)}; choose from {','.join(PARTS)}")
    if args.device is None:
        args.device = "cpu" if args.dry_run else "cuda"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("CUDA is not available here: pass --dry-run to run the same checks on tiny shapes on the CPU")
    args.device = torch.device(args.device)
    if args.device.type == "cuda" and args.device.index is None:
        args.device = torch.device("cuda", torch.cuda.current_device())
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts; returns the exit code (0: every check passed)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    prof = TINY if args.dry_run else FULL
    t_start = time.perf_counter()
    report = Report(args.out, _meta(args, prof))
    report.save()
    cuda = args.device.type == "cuda"
    if cuda:
        torch.cuda.set_device(args.device)
    with tempfile.TemporaryDirectory(prefix="wearfm-gpu-check-") as tmp:
        work = Path(tmp)
        data = None
        steps: list[tuple[str, Callable[[], None]]] = []
        if "pytest" in args.parts:
            paths = [p for p in args.pytest_paths.split(",") if p]
            steps.append(("pytest", lambda: run_gpu_tests(report, paths, prof.pytest_timeout_s, cuda)))
        if args.parts & {"methods", "ddp", "compile"}:
            t0 = time.perf_counter()
            data = synthetic_paired_dataset(work / "data", prof.subjects, prof.minutes, hz=100.0)
            report.data["data"] = {
                "path": "generated",
                "subjects": prof.subjects,
                "minutes": prof.minutes,
                "rate_hz": 100.0,
                "seconds": time.perf_counter() - t0,
            }
            log.info("generated a paired dataset: %d subjects x %g min at 100 Hz", prof.subjects, prof.minutes)
        if "methods" in args.parts:
            assert data is not None
            dist = _distance_models(prof, work / "dist")
            steps.append(("methods", lambda: bench_methods(report, prof, data, dist, args)))
        if "relcon" in args.parts:
            steps.append(("relcon", lambda: relcon_step(report, prof, args)))
        if args.parts & {"ddp", "compile"}:
            assert data is not None
            steps.append(("loop", lambda: loop_runs(report, prof, data, work / "runs", args, args.parts)))
        for name, fn in steps:
            t0 = time.perf_counter()
            log.info("--- %s", name)
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - one broken part must not hide the others' results
                report.check(name, False, f"{type(e).__name__}: {e}")
                report.data["parts"][f"{name}_error"] = traceback.format_exc()
                report.row(part=name, result=f"FAIL: {type(e).__name__}")
            report.data.setdefault("part_seconds", {})[name] = time.perf_counter() - t0
            report.save()
    wall = time.perf_counter() - t_start
    report.data["wall_s"] = wall
    mark = report.goal("whole check wall time (s)", wall, TIME_GOAL_S, "max")
    report.row(part="whole check", result=f"{wall:.0f} s {mark}")
    failed, missed = report.failed_checks, report.missed_goals
    report.data["ok"] = not failed and not (args.strict and missed)
    report.data["table"] = format_table(report.rows)
    report.save()
    print(
        f"wearfm GPU check on {report.data['device_name']} ({args.device}); torch {torch.__version__}; "
        f"{'dry run, tiny shapes' if args.dry_run else 'full shapes'}"
    )
    print(format_table(report.rows))
    print(
        f"checks: {len(report.data['checks']) - len(failed)}/{len(report.data['checks'])} passed; goals missed: "
        f"{len(missed)}; MFU peak {peak_tflops(args.device, args.peak_tflops):g} TFLOP/s; JSON: {args.out}"
    )
    for c in failed:
        print(f"FAILED {c['name']}: {c['detail']}")
    for g in missed:
        print(
            f"goal missed: {g['name']}: {g['value']:.3g} (goal {'<=' if g['kind'] == 'max' else '>='} {g['target']:g})"
        )
    return 0 if report.data["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
