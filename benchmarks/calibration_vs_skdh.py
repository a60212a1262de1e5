"""wearfm's gravity calibration beside scikit-digital-health's ``CalibrateAccelerometer`` on the same samples.

Usage::

    python benchmarks/calibration_vs_skdh.py     # shared device files + a simulated week, as a Markdown table

Every shared device file is decoded by wearfm's reader (``wearfm ingest``, no calibration); both methods then
see the same (N, 3) array in g. skdh fits only with at least ``min_hours`` of data (72 by default, 12 at the
least); this script passes 12 so that the longer files get a fit. skdh writes its result as
``(a + offset) * scale``; it is shown here as wearfm's ``offset + gain * a`` (gain = scale,
offset = offset * scale). skdh stops when its weighted squared residual changes by less than ``tol``
(1e-10); the last columns rerun it with 1e-16. Where skdh fitted, wearfm is also run on the same first 12 h.
The simulated week (``wearfm.signal.simulate``, 5 Hz) has a known truth.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wearfm.config import IngestConfig
from wearfm.io.ingest import ingest
from wearfm.io.manifest import read_manifest
from wearfm.signal.calibrate import calibrate_gravity
from wearfm.signal.simulate import WeekSpec, simulate_week

ROOT = Path(__file__).resolve().parents[1]
DEVICES = ROOT.parent / "shared" / "data" / "devices"


def _skdh(t_s: np.ndarray, xyz: np.ndarray, fs: float, tol: float = 1e-10) -> dict | None:
    from skdh.preprocessing import CalibrateAccelerometer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = CalibrateAccelerometer(min_hours=12, tol=tol)
        res = cal.predict(time=t_s, accel=xyz.astype(np.float64), fs=fs, apply=False)
    if not res or "scale" not in res:
        return None
    scale, offset = np.asarray(res["scale"]), np.asarray(res["offset"])
    if np.allclose(scale, 1) and np.allclose(offset, 0):
        return None  # skdh returns the identity when its checks fail
    return {"offset": offset * scale, "gain": scale}


def _rows(name: str, hours: float, t_s: np.ndarray, xyz: np.ndarray, fs: float) -> list[dict]:
    _, ours = calibrate_gravity(xyz, fs)
    sk = _skdh(t_s, xyz, fs)
    rows = [{"file": name, "hours": hours, "ours": ours, "skdh": sk, "skdh_tight": _skdh(t_s, xyz, fs, 1e-16)}]
    n12 = int(12 * 3600 * fs)
    if sk is not None and len(xyz) > n12:  # skdh fitted the first 12 h only: the same span, like for like
        _, first = calibrate_gravity(xyz[:n12], fs)
        rows.append({"file": f"{name}, first 12 h", "hours": 12.0, "ours": first, "skdh": "", "skdh_tight": None})
    return rows


def _fmt(v: np.ndarray | tuple, digits: int = 4) -> str:
    return " ".join(f"{x:+.{digits}f}" for x in v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args()
    logging.getLogger("wearfm").setLevel(logging.ERROR)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = [p for sub in ("cwa", "geneactiv", "gt3x") for p in sorted((DEVICES / sub).iterdir())]
        ingest(files, Path(tmp) / "ds", IngestConfig(on_error="skip"))
        for e in read_manifest(Path(tmp) / "ds"):
            table = pq.read_table(Path(tmp) / "ds" / e.path, columns=["time", "acc_x", "acc_y", "acc_z"])
            t = table.column("time").cast(pa.int64()).to_numpy() / 1e9
            xyz = np.column_stack([table.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z")])
            rows += _rows(Path(e.source_file).name, e.duration_s / 3600, t, xyz, e.sample_rate_hz)
    spec = WeekSpec(days=7, rate_hz=5.0, seed=1)
    t_ns, xyz, _ = simulate_week(spec)
    rows += _rows("simulated week (truth below)", 7 * 24.0, t_ns / 1e9, xyz, spec.rate_hz)
    print(
        "| file | hours | wearfm offset (g) | wearfm gain | still | error before -> after (mg) "
        "| skdh offset (g) | skdh gain | skdh, tol=1e-16: offset (g) | gain |"
    )
    print("|" + "---|" * 10)
    for r in rows:
        o = r["ours"]
        if o["applied"]:
            ours = (_fmt(o["offset"]), _fmt(o["gain"]))
            err = f"{o['error_before_g'] * 1000:.1f} -> {o['error_after_g'] * 1000:.1f}"
        else:
            ours = (f"not applied: {o['reason']}", "")
            err = f"{o['error_before_g'] * 1000:.1f}" if o["error_before_g"] is not None else "-"
        sk = (_fmt(r["skdh"]["offset"]), _fmt(r["skdh"]["gain"])) if r["skdh"] else ("no fit" * (r["skdh"] is None), "")
        st = (_fmt(r["skdh_tight"]["offset"]), _fmt(r["skdh_tight"]["gain"])) if r["skdh_tight"] else ("", "")
        print(
            f"| {r['file']} | {r['hours']:.2f} | {ours[0]} | {ours[1]} | {o['still_points']} | {err} "
            f"| {sk[0]} | {sk[1]} | {st[0]} | {st[1]} |"
        )
    print(f"| truth of the simulated week | | {_fmt(spec.offset)} | {_fmt(spec.gain)} | | | | | | |")


if __name__ == "__main__":
    main()
