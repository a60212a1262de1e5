"""Probe encoders on your own labelled CSV exports, split by subject.

Usage: python examples/probe_own_csvs.py CSV_FOLDER OUT_FOLDER [ENCODER ...]
Each CSV has columns timestamp (Unix ms), ax, ay, az (m/s^2) and activity; the subject is its folder's name
(CSV_FOLDER/<subject>/<file>.csv). ENCODER defaults to the baselines `features` and `random:resnet1d`; give run
folders from `wearfm pretrain` or exported .onnx files to compare.
"""

import sys
from pathlib import Path

from wearfm.config import IngestConfig, ProbeConfig
from wearfm.io.ingest import ingest
from wearfm.probe.fewshot import probe


def main(csvs: str, out: str, encoders: list[str] | None = None) -> dict[str, dict[int, float]]:
    dataset = Path(out) / "data"
    icfg = IngestConfig(
        format="csv",
        time_col="timestamp",
        time_unit="ms",
        acc_cols=("ax", "ay", "az"),
        label_col="activity",
        subject_from="path:-2",
    )
    ingest([csvs], dataset, icfg)
    cfg = ProbeConfig(
        data=str(dataset),
        encoders=tuple(encoders or ["features", "random:resnet1d"]),
        out=str(Path(out) / "report"),
        shots=(1, 5, 10),
        trials=5,
        rate_hz=25.0,
        window_s=5.0,
    )
    result = probe(cfg)
    table = {r.name: {k: s["macro_f1"]["mean"] for k, s in r.summary().items()} for r in result.encoders}
    for name, by_k in table.items():
        print(name, "  ".join(f"{k}-shot F1 {v:.3f}" for k, v in sorted(by_k.items())))
    return table


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:] or None)
