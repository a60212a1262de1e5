"""``kill -9`` at seeded random points of ingest, pretrain and export: nothing partial is ever left behind.

Each trial runs the real command in a subprocess (its own process group), sends SIGKILL to the group after a
seeded delay (or once a checkpoint exists), then checks what is on disk and reruns the command (clean runs and
reruns run in this process, through the same CLI):

- ingest (batch, ``--jobs 2``): every recording and the manifest are absent or byte-identical to a clean
  run's; the rerun completes the dataset, identical to the clean run;
- pretrain: ``--resume`` continues from the last checkpoint and ends with weights equal to an uninterrupted
  run's;
- export: no ``.onnx`` is left unless it is complete (loads in onnxruntime and gives the clean run's outputs).

The default run does one trial of each; ``--runslow`` runs ``SLOW_TRIALS`` per command.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests._helpers.signals import make_accel

ROOT = Path(__file__).resolve().parents[2]
SLOW_TRIALS = 10
TINY = ["--encoder", "resnet1d_tiny", "--rate", "30", "--window", "5s", "--batch", "4", "--device", "cpu"]
_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _wearfm(*args: object) -> list[str]:
    return [sys.executable, "-m", "wearfm", *map(str, args)]


def _run(args: list[str]) -> None:
    """Run a wearfm command in this process (the clean runs and reruns need no kill, so no start-up cost)."""
    import torch
    from typer.testing import CliRunner

    from wearfm.cli import app

    assert args[:3] == [sys.executable, "-m", "wearfm"]
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 in the killed subprocess: the same arithmetic
    try:
        r = CliRunner().invoke(app, args[3:])
    finally:
        torch.set_num_threads(n)
    assert r.exit_code == 0, (r.output[-2000:], r.exception)


def _kill_after(args: list[str], delay: float, until: Path | None = None) -> tuple[bool, float]:
    """Start ``args``; SIGKILL its process group ``delay`` s after start (after ``until`` exists, if given).

    Returns whether it was killed (False: it finished first) and when, in seconds after the start.
    """
    t0 = time.perf_counter()
    p = subprocess.Popen(
        args, cwd=ROOT, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        if until is not None:
            while not until.exists() and p.poll() is None and time.perf_counter() - t0 < 300:
                time.sleep(0.01)
            t0 = time.perf_counter()
        while p.poll() is None and time.perf_counter() - t0 < delay:
            time.sleep(0.005)
        if p.poll() is not None:
            return False, time.perf_counter() - t0
        os.killpg(p.pid, signal.SIGKILL)
        return True, time.perf_counter() - t0
    finally:
        p.wait(timeout=60)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.parquet"))
        if not p.name.startswith(".")
    }


# --------------------------------------------------------------------------------------------- ingest
def _ingest_inputs(folder: Path, n: int, seconds: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        x = make_accel(seconds, 50.0, activity=("walk", "run", "lie")[k % 3], seed=k)
        t = 1_700_000_000_000 + np.arange(len(x)) * 20
        body = "\n".join(f"{t[i]},{x[i, 0]:.5f},{x[i, 1]:.5f},{x[i, 2]:.5f}" for i in range(len(x)))
        (folder / f"rec{k:02d}.csv").write_text("time,ax,ay,az\n" + body + "\n")
    return folder


def _ingest_trials(tmp: Path, trials: int, seed: int, files: int = 24, seconds: float = 600.0) -> list[str]:
    src = _ingest_inputs(tmp / "in", files, seconds)
    ref = tmp / "ref"
    t0 = time.perf_counter()
    _run(_wearfm("ingest", src, "--out", ref, "--jobs", 2, "-q"))
    clean_s = time.perf_counter() - t0
    want = _digests(ref)
    rng = random.Random(seed)
    outcomes = []
    for k in range(trials):
        out = tmp / f"out{k}"
        killed, at = _kill_after(
            _wearfm("ingest", src, "--out", out, "--jobs", 2, "-q"), rng.uniform(0.3, 1.0) * clean_s
        )
        got = _digests(out) if out.exists() else {}
        left = len(list(out.rglob("*.tmp"))) if out.exists() else 0
        wrong = sorted(n for n, d in got.items() if want.get(n) != d)
        assert not wrong, f"trial {k}: killed at {at:.2f}s, partial or different outputs {wrong[:5]}"
        _run(_wearfm("ingest", src, "--out", out, "--jobs", 2, "-q"))
        assert _digests(out) == want, f"trial {k}: the rerun after a kill at {at:.2f}s differs from a clean run"
        stale = [p.name for p in out.rglob("*.tmp")]
        assert not stale, f"trial {k}: temporary files left after the rerun: {stale[:5]}"
        outcomes.append(
            f"{'killed' if killed else 'finished'} at {at:.2f}s: {len(got)}/{len(want)} files complete (the rest "
            f"absent), {left} temporaries left; rerun identical to the clean run"
        )
    return outcomes


def test_kill9_ingest_once(tmp_path: Path) -> None:
    _ingest_trials(tmp_path, 1, seed=0, files=8, seconds=300.0)


@pytest.mark.slow
def test_kill9_ingest_trials(tmp_path: Path) -> None:
    print("\ningest:", *_ingest_trials(tmp_path, SLOW_TRIALS, seed=1), sep="\n  ")


# ------------------------------------------------------------------------------------------- pretrain
def _weights(run: Path) -> dict[str, np.ndarray]:
    import torch

    obj = torch.load(run / "encoder.pt", map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in obj["state_dict"].items()}


def _pretrain_trials(tmp: Path, trials: int, seed: int, steps: int = 24, every: int = 4) -> list[str]:
    from tests._helpers.synth import write_dataset

    data = write_dataset(tmp / "data", subjects=2, seconds=60)
    args = [*TINY, "--max-steps", steps, "--set", f"ckpt_every={every}", "--set", "log_every=1", "-q"]
    ref = tmp / "ref"
    _run(_wearfm("pretrain", data, *args, "--out", ref))
    want = _weights(ref)
    rng = random.Random(seed)
    outcomes = []
    for k in range(trials):
        out = tmp / f"run{k}"
        # the kill comes after the first checkpoint, at a random point of the rest of the run
        killed, at = _kill_after(
            _wearfm("pretrain", data, *args, "--out", out), rng.uniform(0.0, 2.0), until=out / "checkpoint.pt"
        )
        assert not [p.name for p in out.glob("*.pt") if p.name not in ("checkpoint.pt", "encoder.pt")]
        import torch

        step = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)["step"]
        _run(_wearfm("pretrain", data, *args, "--out", out, "--resume", out))
        got = _weights(out)
        assert got.keys() == want.keys()
        diff = [n for n in want if not np.array_equal(got[n], want[n])]
        assert not diff, f"trial {k}: resumed from step {step} after a kill, weights differ in {diff[:5]}"
        outcomes.append(f"{'killed' if killed else 'finished'} {at:.2f}s after the first checkpoint; resumed at {step}")
    return outcomes


def test_kill9_pretrain_then_resume_once(tmp_path: Path) -> None:
    _pretrain_trials(tmp_path, 1, seed=0, steps=8, every=2)


@pytest.mark.slow
def test_kill9_pretrain_then_resume_trials(tmp_path: Path) -> None:
    print("\npretrain:", *_pretrain_trials(tmp_path, SLOW_TRIALS, seed=1), sep="\n  ")


# --------------------------------------------------------------------------------------------- export
def _export_trials(tmp: Path, trials: int, seed: int, check: bool = True, timed_subprocess: bool = False) -> list[str]:
    import onnxruntime as ort
    import torch

    from wearfm.models.saved import EncoderSpec, build_model, save_encoder

    torch.manual_seed(0)
    spec = EncoderSpec(
        encoder="resnet1d_tiny",
        encoder_kwargs={"in_channels": 3},
        rate_hz=30.0,
        window_samples=150,
        channels=("acc_x", "acc_y", "acc_z"),
    )
    run = tmp / "run"
    save_encoder(build_model(spec), run)
    ref = tmp / "ref.onnx"
    t0 = time.perf_counter()
    opts = [] if check else ["--no-check"]
    _run(_wearfm("export", run, "--out", ref, "-q", *opts))
    clean_s = time.perf_counter() - t0
    if timed_subprocess:  # kill points spread over a whole subprocess run, start-up included
        t0 = time.perf_counter()
        subprocess.run(_wearfm("export", run, "--out", tmp / "timed.onnx", "-q", *opts), env=_ENV, cwd=ROOT, check=True)
        clean_s = time.perf_counter() - t0
    x = np.random.default_rng(0).standard_normal((2, 3, 150)).astype(np.float32)

    def outputs(p: Path) -> np.ndarray:
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        return np.asarray(s.run(None, {s.get_inputs()[0].name: x})[0])

    want = outputs(ref)
    rng = random.Random(seed)
    outcomes = []
    for k in range(trials):
        out = tmp / f"e{k}" / "model.onnx"
        out.parent.mkdir()
        killed, at = _kill_after(_wearfm("export", run, "--out", out, "-q", *opts), rng.uniform(0.3, 1.0) * clean_s)
        onnx_files = sorted(p.name for p in out.parent.iterdir() if p.suffix == ".onnx")
        left = len([p for p in out.parent.iterdir() if p.name.endswith(".tmp")])
        if onnx_files:
            assert onnx_files == ["model.onnx"]
            np.testing.assert_allclose(outputs(out), want, rtol=1e-5, atol=1e-6)
        _run(_wearfm("export", run, "--out", out, "-q", *opts))
        np.testing.assert_allclose(outputs(out), want, rtol=1e-5, atol=1e-6)
        stale = [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")]
        assert not stale, f"trial {k}: temporary files left after the rerun: {stale}"
        outcomes.append(
            f"{'killed' if killed else 'finished'} at {at:.2f}s: .onnx {'complete' if onnx_files else 'absent'}, "
            f"{left} temporaries left; rerun correct"
        )
    return outcomes


def test_kill9_export_once(tmp_path: Path) -> None:
    _export_trials(tmp_path, 1, seed=0, check=False)


@pytest.mark.slow
def test_kill9_export_trials(tmp_path: Path) -> None:
    print("\nexport:", *_export_trials(tmp_path, SLOW_TRIALS, seed=1, timed_subprocess=True), sep="\n  ")
