"""A simulated wrist IMU: realistic multi-subject raw recordings for the quickstart, examples and tests.

The simulator composes, per subject, a sequence of activities (sitting, standing, lying, walking, running)
with smooth transitions. The wrist's orientation follows the posture plus a slow wander; gravity is rotated
into the sensor frame; gaits add arm swing (a pendulum at half the step frequency) and a vertical impact at the
step frequency, with per-subject cadence and amplitude; the gyroscope is the angular velocity of the simulated
orientation. Sensor noise and per-subject bias are added, and files are written as CSV exports like a phone's
(Unix ms, m/s^2, rad/s, an activity column).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wearfm.io.schema import STANDARD_GRAVITY

__all__ = ["SimulationConfig", "ACTIVITIES", "simulate_subject", "write_simulated_dataset"]

log = logging.getLogger(__name__)

ACTIVITIES = ("sitting", "standing", "lying", "walking", "running")

# Posture orientation of the wrist as (roll, pitch) in degrees: where gravity points in the sensor frame.
_POSTURE = {
    "sitting": (10.0, -70.0),  # forearm resting on the thigh, palm down-ish
    "standing": (85.0, 5.0),  # arm hanging: gravity along the forearm
    "lying": (170.0, 10.0),  # palm up, on the back
    "walking": (80.0, 10.0),
    "running": (60.0, -30.0),  # elbow bent
}


@dataclass(frozen=True)
class SimulationConfig:
    """Size and realism knobs of the simulated study.

    Attributes:
        subjects: number of subjects.
        minutes: recording length per subject.
        rate_hz: sample rate of the export.
        bout_s: (min, max) length of one activity bout in seconds.
        transition_s: length of a posture transition.
        noise_g: accelerometer white noise (g).
        seed: master seed; each subject derives its own.
    """

    subjects: int = 8
    minutes: float = 6.0
    rate_hz: float = 50.0
    bout_s: tuple[float, float] = (20.0, 60.0)
    transition_s: float = 1.5
    noise_g: float = 0.012
    seed: int = 0


def _rot(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices from roll/pitch/yaw in radians (sensor <- world)."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    r = np.empty(roll.shape + (3, 3))
    r[..., 0, 0] = cy * cp
    r[..., 0, 1] = cy * sp * sr - sy * cr
    r[..., 0, 2] = cy * sp * cr + sy * sr
    r[..., 1, 0] = sy * cp
    r[..., 1, 1] = sy * sp * sr + cy * cr
    r[..., 1, 2] = sy * sp * cr - cy * sr
    r[..., 2, 0] = -sp
    r[..., 2, 1] = cp * sr
    r[..., 2, 2] = cp * cr
    return np.swapaxes(r, -1, -2)


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1:
        return x
    k = np.hanning(n + 2)[1:-1]
    k /= k.sum()
    pad = np.pad(x, ((n, n),) + ((0, 0),) * (x.ndim - 1), mode="edge")
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, pad)[n:-n]


def simulate_subject(subject: int, cfg: SimulationConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Simulate one subject.

    Returns:
        t_s: (N,) seconds from the start; acc: (N, 3) in g; gyr: (N, 3) in deg/s; labels: N activity names.
    """
    rng = np.random.default_rng([cfg.seed, subject])
    fs = cfg.rate_hz
    n = int(cfg.minutes * 60 * fs)
    t = np.arange(n) / fs
    cadence = {"walking": rng.uniform(1.6, 2.0), "running": rng.uniform(2.5, 3.0)}  # steps per second
    swing = {"walking": rng.uniform(15, 30), "running": rng.uniform(30, 50)}  # arm swing amplitude, degrees
    impact = {"walking": rng.uniform(0.15, 0.3), "running": rng.uniform(0.6, 1.1)}  # g
    # Activity bouts: a random sequence covering every activity, no immediate repeats.
    labels: list[str] = []
    seq: list[tuple[str, int]] = []
    prev = ""
    while len(labels) < n:
        act = str(rng.choice([a for a in ACTIVITIES if a != prev]))
        length = int(rng.uniform(*cfg.bout_s) * fs)
        seq.append((act, length))
        labels.extend([act] * length)
        prev = act
    labels = labels[:n]
    roll = np.empty(n)
    pitch = np.empty(n)
    pos = 0
    for act, length in seq:
        r0, p0 = _POSTURE[act]
        jitter = rng.normal(0, 8, size=2)  # each bout sits a little differently
        roll[pos : pos + length] = r0 + jitter[0]
        pitch[pos : pos + length] = p0 + jitter[1]
        pos += length
    trans = max(int(cfg.transition_s * fs), 1)
    roll, pitch = _smooth(roll, trans), _smooth(pitch, trans)
    # Slow wander of the wrist (about a few degrees over tens of seconds).
    wander = _smooth(np.cumsum(rng.normal(0, 0.15, size=(n, 3)), axis=0), int(5 * fs))
    wander -= _smooth(wander, int(30 * fs))
    yaw = np.deg2rad(wander[:, 2] * 3)
    roll_r = np.deg2rad(roll + wander[:, 0] * 3)
    pitch_r = np.deg2rad(pitch + wander[:, 1] * 3)
    # Gaits: arm swing as a pendulum in pitch at half the step rate, impacts at the step rate.
    lab = np.asarray(labels)
    lin = np.zeros((n, 3))
    for act in ("walking", "running"):
        m = (lab == act).astype(float)
        m = _smooth(m, trans)
        phase = 2 * np.pi * cadence[act] * t
        pitch_r += m * np.deg2rad(swing[act]) * np.sin(phase / 2)
        bounce = impact[act] * (np.maximum(np.sin(phase), 0) ** 3 - 0.212)  # mean-free impacts
        lin[:, 2] += m * bounce
        lin[:, 0] += m * 0.3 * impact[act] * np.sin(phase / 2 + 0.5)
    r = _rot(roll_r, pitch_r, yaw)  # sensor <- world
    g_world = np.array([0.0, 0.0, 1.0])
    acc = np.einsum("nij,j->ni", r, g_world) + np.einsum("nij,nj->ni", r, lin)
    # Angular velocity from the orientation: omega^ = R' R^T (sensor frame), finite differences.
    dr = np.gradient(r, 1 / fs, axis=0)
    w = np.einsum("nij,nkj->nik", dr, r)
    gyr = np.rad2deg(np.stack([w[:, 2, 1], w[:, 0, 2], w[:, 1, 0]], axis=1))
    acc += rng.normal(0, cfg.noise_g, size=acc.shape) + rng.normal(0, 0.02, size=3)
    gyr += rng.normal(0, 0.8, size=gyr.shape) + rng.normal(0, 1.0, size=3)
    return t, acc.astype(np.float32), gyr.astype(np.float32), labels


def write_simulated_dataset(out: str | Path, cfg: SimulationConfig | None = None) -> list[Path]:
    """Write one CSV export per subject under ``out/subject_XX/wrist.csv``; returns the file paths.

    Columns: ``timestamp`` (Unix ms, with the clock jitter of a phone), ``ax, ay, az`` (m/s^2),
    ``gx, gy, gz`` (rad/s), ``activity``.
    """
    cfg = cfg or SimulationConfig()
    out = Path(out)
    paths = []
    start_ms = 1_700_000_000_000
    for s in range(cfg.subjects):
        t, acc, gyr, labels = simulate_subject(s, cfg)
        rng = np.random.default_rng([cfg.seed, s, 1])
        ts = start_ms + s * 86_400_000 + np.round(t * 1000 + rng.normal(0, 1.0, len(t))).astype(np.int64)
        ts = np.maximum.accumulate(ts)
        d = out / f"subject_{s + 1:02d}"
        d.mkdir(parents=True, exist_ok=True)
        path = d / "wrist.csv"
        a = acc * STANDARD_GRAVITY
        g = np.deg2rad(gyr)
        with open(path, "w") as f:
            f.write("timestamp,ax,ay,az,gx,gy,gz,activity\n")
            rows = (
                f"{ts[i]},{a[i, 0]:.5f},{a[i, 1]:.5f},{a[i, 2]:.5f},"
                f"{g[i, 0]:.5f},{g[i, 1]:.5f},{g[i, 2]:.5f},{labels[i]}\n"
                for i in range(len(ts))
            )
            f.writelines(rows)
        paths.append(path)
        log.info("simulated %s (%d samples)", path, len(ts))
    return paths
