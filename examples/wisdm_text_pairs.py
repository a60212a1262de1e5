"""Weak text narrations for WISDM from its activity names, then a paired dataset for PRIMUS.

The narrations are LABEL-DERIVED: every labelled span of a recording becomes one sentence such as "the
person is walking". They stand in for the free-text narrations of egocentric datasets, which we do not
have, so a PRIMUS run on them (L_MM on text, L_SS, L_NN by text similarity) is weakly supervised by the
activity labels; report it as such. Give the probe's test subjects to ``--holdout`` so their labels never
reach pretraining (their windows stay in, unpaired: L_MM masks them), then probe with ``--test-subjects``.

    wearfm ingest ../shared/data/wisdm-phone/raw/phone --format wisdm --out data/wisdm  # 20 Hz; 5 s windows at 50 Hz
    #   give cnn_gru the 250 samples PRIMUS used (it needs at least 141)
    python examples/wisdm_text_pairs.py data/wisdm data/wisdm-paired --holdout 1600_phone,1611_phone,...
    wearfm pretrain data/wisdm-paired --method primus --encoder cnn_gru --channels acc --rate 50 \
        --window 5s --set primus.nn_by=text --out runs/primus-wisdm
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wearfm.data.paired import pair_dataset
from wearfm.io.manifest import list_recordings

# WISDM-51 activity names (activity_key.txt) -> what a narrator would say (Weiss 2019's activity list).
NARRATIONS = {
    "walking": "the person is walking",
    "jogging": "the person is jogging",
    "stairs": "the person is walking up and down stairs",
    "sitting": "the person is sitting",
    "standing": "the person is standing",
    "typing": "the person is typing on a keyboard",
    "teeth": "the person is brushing their teeth",
    "soup": "the person is eating soup",
    "chips": "the person is eating chips",
    "pasta": "the person is eating pasta",
    "drinking": "the person is drinking from a cup",
    "sandwich": "the person is eating a sandwich",
    "kicking": "the person is kicking a soccer ball",
    "catch": "the person is playing catch with a tennis ball",
    "dribbling": "the person is dribbling a basketball",
    "writing": "the person is writing",
    "clapping": "the person is clapping",
    "folding": "the person is folding clothes",
}


def activity_key(path: Path) -> dict[str, str]:
    """Code letter -> activity name from ``activity_key.txt`` (lines ``walking = A``)."""
    pairs = (line.split("=") for line in path.read_text().splitlines() if "=" in line)
    return {code.strip(): name.strip() for name, code in pairs}


def narration_rows(dataset: Path, key: dict[str, str], holdout: set[str]) -> list[tuple[str, int, int, str]]:
    """(recording, start_ns, end_ns, sentence) for every contiguous labelled span, except ``holdout`` subjects."""
    root, entries = list_recordings(dataset)
    rows = []
    for e in entries:
        if e.subject in holdout:
            continue
        t = pq.read_table(root / e.path, columns=["time", "label"])
        ns = t.column("time").cast(pa.int64()).to_numpy()
        lab = t.column("label").combine_chunks().dictionary_decode().to_numpy(zero_copy_only=False)
        lab = np.array([key.get(x, x) if x is not None else "" for x in lab], dtype=object)
        cuts = np.flatnonzero(lab[1:] != lab[:-1]) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(lab)], strict=True):
            name = lab[a]
            if name in NARRATIONS and b - a > 1:
                rows.append((e.path, int(ns[a]), int(ns[b - 1]), NARRATIONS[name]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path, help="canonical WISDM dataset (wearfm ingest --format wisdm)")
    ap.add_argument("out", type=Path, help="paired dataset to write")
    ap.add_argument("--key", type=Path, default=Path("../shared/data/wisdm-phone/activity_key.txt"))
    ap.add_argument("--holdout", default="", help="comma-separated subjects given no narrations (probe test set)")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args()
    key = activity_key(args.key) if args.key.exists() else {}
    holdout = {s for s in args.holdout.split(",") if s}
    rows = narration_rows(args.dataset, key, holdout)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = args.out.with_name(args.out.name + "-narrations.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["recording", "start", "end", "text"])
        w.writerows(rows)
    print(f"{len(rows)} label-derived narrations ({len({r[3] for r in rows})} distinct) -> {csv_path}")
    summary = pair_dataset(args.dataset, args.out, text=csv_path, time_unit="ns", overwrite=args.overwrite)
    print(f"paired dataset -> {summary['out']}: text {summary['text']['rows']} spans, {summary['text']['dim']}-d")


if __name__ == "__main__":
    main()
