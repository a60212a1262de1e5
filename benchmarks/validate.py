"""Validation harness: probe pretraining runs on the shared datasets, beside `features` and a random twin.

Each shared dataset has a fixed set of **test subjects** (``TEST_SUBJECTS``) that are never used to choose a
setting. ``--split val`` (the default) probes on the *training side only*: the dataset ingested without its
test subjects, split by subject with the probe's default seeded 30% (the held-out 30% are the validation
subjects). ``--split test`` probes once on the full dataset with the fixed test subjects held out.

For every run folder given, the run itself and each of its ``snapshots/stepNNNNNN/`` (``--set
snapshot_every=N``) is probed, so one run gives a curve over steps. Beside them: ``features`` (the handcrafted
baseline) and the run's *random twin*: the same architecture, input contract (rate, channels, normalisation)
and seed, untrained. The table shows macro-F1 mean ± standard error over trials per dataset and k, and the mean
over every dataset and k.

Prepare the data once (the folders are git-ignored), then validate::

    python benchmarks/validate.py --prepare                      # ingest the shared data into data/
    python benchmarks/validate.py runs/simclr-a runs/simclr-b    # validation table
    python benchmarks/validate.py runs/chosen --split test --shots 5,10,25 --trials 5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("validate")

#: Test subjects per dataset: never probed during validation, never in the ``*_train`` folders. The WISDM
#: phone and watch recordings come from the same people, so both hold out the same people; sp-sw-har's phone
#: and watch recordings are of the same sessions and hold out the same subjects.
WISDM_TEST = ("1606", "1609", "1612", "1622", "1626", "1634", "1638")
SPSW_TEST = ("s03", "s05", "s11", "s12", "s19", "s21", "s22")


@dataclass(frozen=True)
class Dataset:
    """One shared dataset as the harness probes it.

    Attributes:
        name: short name used in the table.
        folder: ingested dataset (all subjects) under the data root.
        glob: shared raw files (relative to the shared data folder) to ingest.
        fmt: ``wearfm ingest --format``.
        test: fixed test subjects.
        window_s: probe window (follows the dataset's label length).
        stride_s: probe stride (None: no overlap).
    """

    name: str
    folder: str
    glob: str
    fmt: str
    test: tuple[str, ...]
    window_s: float
    stride_s: float | None = None


DATASETS = (
    # 1638 has no watch recordings
    Dataset("wisdm-watch", "wisdm_watch", "wisdm-watch/raw/watch/*/*.txt", "wisdm", WISDM_TEST[:-1], 10.0),
    Dataset("wisdm-phone", "wisdm_phone", "wisdm-phone/raw/phone/*/*.txt", "wisdm", WISDM_TEST, 10.0),
    Dataset("spsw-watch", "spsw_watch", "sp-sw-har/DATA/*/*_sw.csv", "sp-sw-har", SPSW_TEST, 1.0, 0.25),
    Dataset("spsw-phone", "spsw_phone", "sp-sw-har/DATA/*/*_sp.csv", "sp-sw-har", SPSW_TEST, 1.0, 0.25),
)


def _subject_of(path: Path, ds: Dataset) -> str:
    if ds.fmt == "wisdm":
        m = re.search(r"data_(\d+)_", path.name)
    else:
        m = re.match(r"(s\d+)_", path.name)
    if m is None:
        raise ValueError(f"cannot read the subject of {path}")
    return m.group(1)


def prepare(shared: Path, root: Path, python: str = sys.executable) -> None:
    """Ingest every shared dataset twice: all subjects (``<folder>``) and without its test subjects (``_train``)."""
    for ds in DATASETS:
        files = sorted(shared.glob(ds.glob))
        if not files:
            raise SystemExit(f"no files match {shared / ds.glob}; pass --shared-data")
        train = [f for f in files if _subject_of(f, ds) not in ds.test]
        for folder, chosen in ((ds.folder, files), (ds.folder + "_train", train)):
            out = root / folder
            if (out / "manifest.parquet").exists():
                log.info("%s exists, skipped", out)
                continue
            cmd = [python, "-m", "wearfm", "ingest", *map(str, chosen), "--format", ds.fmt, "--out", str(out), "-q"]
            log.info("ingest %s (%d files)", out, len(chosen))
            subprocess.run(cmd, check=True)


def _members(run: Path, snapshots: bool) -> list[tuple[str, Path]]:
    """(label, folder) for each snapshot of ``run`` (in step order) and the run itself."""
    out: list[tuple[str, Path]] = []
    snap_dir = run / "snapshots"
    if snapshots and snap_dir.is_dir():
        for d in sorted(snap_dir.iterdir()):
            if (d / "encoder.pt").exists():
                out.append((f"{run.name}@{int(d.name.removeprefix('step'))}", d))
    if (run / "encoder.pt").exists():
        steps = _run_result(run).get("steps")
        label = f"{run.name}@{steps}" if steps is not None else run.name
        if not out or out[-1][0] != label:  # the final encoder equals the last snapshot when steps match
            out.append((label, run))
    if not out:
        raise SystemExit(f"{run}: no encoder.pt (not a run folder of `wearfm pretrain`)")
    return out


def _seed_of(run: Path) -> int:
    cfg = run / "config.json"
    return int(json.loads(cfg.read_text()).get("seed", 0)) if cfg.exists() else 0


def _run_result(run: Path) -> dict[str, Any]:
    info = run / "run.json"
    return dict(json.loads(info.read_text()).get("result", {})) if info.exists() else {}


def random_twin(run: Path, out: Path) -> Path:
    """Save the untrained twin of ``run``'s encoder (same spec and seed, method ``random``) under ``out``."""
    import torch

    from wearfm.models.saved import build_model, load_encoder, save_encoder

    spec = load_encoder(run).spec
    seed = _seed_of(run)
    torch.manual_seed(seed)
    model = build_model(dataclasses.replace(spec, method="random"))
    return save_encoder(model, out / f"twin-{run.name}", {"twin_of": str(run), "seed": seed}).parent


@dataclass(frozen=True)
class Member:
    """One encoder in the table: its label, what ``wearfm probe`` takes, and the cache key of its results."""

    label: str
    spec: str
    key: str
    rate_hz: float | None = None  # features: probed at this rate and on these channels
    channels: str | None = None


def _probe(
    ds: Dataset, root: Path, split: str, m: Member, shots: tuple[int, ...], trials: int, head: str = "logreg"
) -> Any:
    from wearfm.config import ProbeConfig
    from wearfm.probe import probe

    data = root / (ds.folder + ("_train" if split == "val" else ""))
    if not (data / "manifest.parquet").exists():
        raise SystemExit(f"{data} is missing; run `python benchmarks/validate.py --prepare` first")
    cfg = ProbeConfig(
        data=str(data),
        encoders=(m.spec,),
        out="",
        shots=shots,
        trials=trials,
        test_subjects=ds.test if split == "test" else (),
        window_s=ds.window_s,
        stride_s=ds.stride_s,
        rate_hz=m.rate_hz,
        channels=m.channels,
        head=head,
        jobs=1,
    )
    return probe(cfg)


def _encoder_key(folder: Path) -> str:
    enc = folder / "encoder.pt"
    st = enc.stat()
    return f"{enc.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _spec_of(folder: Path) -> Any:
    from wearfm.models.saved import load_encoder

    return load_encoder(folder).spec


def _fmt(mean: float, se: float | None) -> str:
    return f"{mean:.3f} ± {se:.3f}" if se is not None else f"{mean:.3f}"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path, help="run folders of `wearfm pretrain`")
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--datasets", default=",".join(d.name for d in DATASETS))
    ap.add_argument("--shots", default="5,10,25")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument(
        "--head", default="logreg", choices=("logreg", "knn"), help="probe head (knn: a fast screen, no fitting)"
    )
    ap.add_argument("--no-snapshots", action="store_true", help="probe only the final encoder of each run")
    ap.add_argument("--no-baselines", action="store_true", help="skip features and the random twins")
    ap.add_argument("--data-root", type=Path, default=Path("data"))
    ap.add_argument("--shared-data", type=Path, default=Path(os.environ.get("WEARFM_DATA", "../shared/data")))
    ap.add_argument("--prepare", action="store_true", help="ingest the shared datasets into --data-root")
    ap.add_argument("--out", type=Path, default=Path("reports/validate"), help="twins and results.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("wearfm").setLevel(logging.WARNING)
    if args.prepare:
        prepare(args.shared_data, args.data_root)
    if not args.runs:
        return 0
    shots = tuple(int(s) for s in args.shots.split(","))
    chosen = [d for d in DATASETS if d.name in args.datasets.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    members: list[Member] = []
    for run in args.runs:
        members += [Member(lab, str(f), _encoder_key(f)) for lab, f in _members(run, not args.no_snapshots)]
    if not args.no_baselines:
        feature_inputs: list[tuple[float, str]] = []
        for run in args.runs:
            twin = random_twin(run, args.out)
            s = _spec_of(twin)
            contract = {k: v for k, v in dataclasses.asdict(s).items() if k != "window_samples"}  # probe sets it
            key = json.dumps(["twin", contract, _seed_of(run)], sort_keys=True, default=str)
            if all(m.key != key for m in members):  # runs of one architecture and contract share a twin
                norm = ", normalised" if s.normalization else ""
                label = f"random twin ({s.encoder}, {','.join(s.channels)}, {s.rate_hz:g} Hz{norm})"
                members.append(Member(label, str(twin), key))
            feature_inputs.append((float(s.rate_hz), ",".join(s.channels)))
        for rate, channels in dict.fromkeys(feature_inputs):
            label = "features" if len(set(feature_inputs)) == 1 else f"features ({rate:g} Hz, {channels})"
            members.append(Member(label, "features", f"features|{rate}|{channels}", rate, channels))
    cache_path = args.out / "cache.json"
    cache: dict[str, Any] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    # rows[label][dataset][k] = (mean, se)
    rows: dict[str, dict[str, dict[int, tuple[float, float | None]]]] = {m.label: {} for m in members}
    for ds in chosen:
        for m in members:
            ckey = f"{ds.name}|{args.split}|{args.head}|{shots}|{args.trials}|{m.key}"
            if ckey not in cache:
                from wearfm.errors import DataError

                t0 = time.perf_counter()
                try:
                    enc = _probe(ds, args.data_root, args.split, m, shots, args.trials, args.head).encoders[0]
                except DataError as e:  # e.g. an acc+gyr encoder on recordings without gyroscope
                    log.warning("%s on %s: %s", m.label, ds.name, e)
                    continue
                summ = enc.summary()
                cache[ckey] = {str(k): [summ[k]["macro_f1"]["mean"], summ[k]["macro_f1"]["se"]] for k in shots}
                cache_path.write_text(json.dumps(cache, indent=0))
                log.info("%s on %s (%s): %.0f s", m.label, ds.name, args.split, time.perf_counter() - t0)
            rows[m.label][ds.name] = {k: tuple(cache[ckey][str(k)]) for k in shots}  # type: ignore[misc]
    _print_table(rows, chosen, shots, f"{args.split} {args.head}")
    print("\n| run | steps | windows/s (training) | training s | load s |\n|---|---|---|---|---|")
    for run in args.runs:
        r = _run_result(run)
        print(f"| {run.name} | {r.get('steps')} | {r.get('windows_per_s', 0):.0f} | {r.get('train_s', 0):.0f} | "
              f"{r.get('load_s', 0):.0f} |")  # fmt: skip
    (args.out / f"{args.split}.json").write_text(
        json.dumps({"split": args.split, "shots": shots, "trials": args.trials, "rows": rows})
    )
    return 0


def _print_table(
    rows: dict[str, dict[str, dict[int, tuple[float, float | None]]]],
    chosen: list[Dataset] | tuple[Dataset, ...],
    shots: tuple[int, ...],
    split: str,
) -> None:
    head = ["encoder"] + [f"{d.name} k={k}" for d in chosen for k in shots] + ["mean"]
    print(f"| {split}: macro-F1 | " + " | ".join(head[1:]) + " |")
    print("|" + "---|" * len(head))
    for lab, by_ds in rows.items():
        cells, means, ses = [], [], []
        for d in chosen:
            for k in shots:
                if d.name not in by_ds:
                    cells.append("n/a")
                    continue
                m, se = by_ds[d.name][k]
                cells.append(_fmt(m, se))
                means.append(m)
                ses.append(se or 0.0)
        mean_se = float(np.sqrt(np.sum(np.square(ses)))) / len(ses)
        print(f"| {lab} | " + " | ".join(cells) + f" | {_fmt(float(np.mean(means)), mean_se)} |")


if __name__ == "__main__":
    raise SystemExit(main())
