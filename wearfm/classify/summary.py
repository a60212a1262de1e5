"""`wearfm classify summary`: minutes per class per subject per calendar day from a predicted timeline.

Days are calendar days of the window start times as the timeline holds them, i.e. in each recording's own
time reference (``wearfm.time_reference``: local clock time for most device exports, UTC where ingest said
so); a window counts in full towards the day it starts in. Wear time is the time of every window not marked
``nonwear``; a day is ``valid`` when its wear time reaches ``min_wear_hours``. Time not covered by any window
(gaps in the recording, the tail shorter than one window) is in no column.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wearfm.classify.model import NONWEAR_CLASS
from wearfm.config import ClassifyConfig
from wearfm.errors import ConfigError, DataError

__all__ = ["summarize", "daily_table", "plot_daily"]

log = logging.getLogger(__name__)

_NEEDED = ("subject", "start", "seconds", "predicted")


def daily_table(timeline: str | Path, min_wear_hours: float) -> tuple[pa.Table, list[str]]:
    """One row per (subject, day): ``wear_min``, ``nonwear_min``, ``valid`` and ``<class>_min`` per class.

    Returns:
        (the table, the class names in column order).

    Raises:
        DataError: the file is not a timeline of `wearfm classify predict`.
    """
    try:
        pf = pq.ParquetFile(timeline)
    except (OSError, pa.ArrowInvalid) as e:
        raise DataError(f"{timeline}: not a readable Parquet file ({e})") from None
    names = pf.schema_arrow.names
    lacking = [c for c in _NEEDED if c not in names]
    if lacking:
        raise DataError(f"{timeline}: lacks columns {lacking}; give a timeline written by `wearfm classify predict`")
    meta = pf.metadata.metadata or {}
    classes = [c[len("prob_") :] for c in names if c.startswith("prob_")]
    if b"wearfm.classifier" in meta:
        classes = list(json.loads(meta[b"wearfm.classifier"])["classes"])
    # accumulate per (subject, day, class) seconds one row group at a time: memory stays per row group
    acc: dict[tuple[str, str, str], float] = {}
    for i in range(pf.num_row_groups):
        t = pf.read_row_group(i, columns=list(_NEEDED))
        day = pc.strftime(t.column("start"), format="%Y-%m-%d")
        g = (
            pa.table(
                {
                    "subject": t.column("subject"),
                    "date": day,
                    "predicted": t.column("predicted"),
                    "seconds": pc.cast(t.column("seconds"), pa.float64()),
                }
            )
            .group_by(["subject", "date", "predicted"])
            .aggregate([("seconds", "sum")])
        )
        for r in g.to_pylist():
            key = (str(r["subject"]), str(r["date"]), str(r["predicted"]))
            acc[key] = acc.get(key, 0.0) + float(r["seconds_sum"])
    extra = sorted({c for _, _, c in acc} - set(classes) - {NONWEAR_CLASS})
    classes = classes + extra
    days = sorted({(s, d) for s, d, _ in acc})
    cols: dict[str, list[Any]] = {"subject": [s for s, _ in days], "date": [d for _, d in days]}
    for c in [*classes, NONWEAR_CLASS]:
        cols[f"{c}_min"] = [acc.get((s, d, c), 0.0) / 60.0 for s, d in days]
    wear = [sum(acc.get((s, d, c), 0.0) for c in classes) / 60.0 for s, d in days]
    cols["wear_min"] = wear
    cols["valid"] = [w >= 60.0 * min_wear_hours for w in wear]
    order = ["subject", "date", "wear_min", f"{NONWEAR_CLASS}_min", "valid", *[f"{c}_min" for c in classes]]
    table = pa.table({k: cols[k] for k in order})
    return table, classes


def plot_daily(table: pa.Table, classes: list[str], path: str | Path) -> Path:
    """A stacked bar of hours per class (and non-wear) per (subject, day), written to ``path`` (e.g. PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table.to_pylist()
    labels = [f"{r['subject']}\n{r['date']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(rows) + 2), 4.5))
    bottom = np.zeros(len(rows))
    for c in [*classes, NONWEAR_CLASS]:
        h = np.array([r[f"{c}_min"] for r in rows]) / 60.0
        ax.bar(range(len(rows)), h, bottom=bottom, label=c, color="lightgrey" if c == NONWEAR_CLASS else None)
        bottom += h
    for i, r in enumerate(rows):
        if not r["valid"]:
            ax.text(i, bottom[i], "x", ha="center", va="bottom", color="red")
    ax.set_xticks(range(len(rows)), labels, rotation=90, fontsize=7)
    ax.set_ylabel("hours")
    ax.set_title("time per class per day (x: not a valid day)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def summarize(timeline: str | Path, cfg: ClassifyConfig, plot: str | Path | None = None) -> dict[str, Any]:
    """Daily minutes per class of ``timeline``; written to ``cfg.out`` (CSV or Parquet) and ``plot`` if given.

    Returns:
        JSON-friendly summary with the rows (``days``) and the files written.

    Raises:
        ConfigError: a bad ``format`` or ``min_wear_hours``.
        DataError: the input is not a timeline.
    """
    if not 0.0 <= cfg.min_wear_hours <= 24.0:
        raise ConfigError(f"--min-wear-hours must be between 0 and 24, got {cfg.min_wear_hours}")
    if cfg.format not in ("auto", "csv", "parquet"):
        raise ConfigError(f"--format {cfg.format!r}: choose auto, csv or parquet")
    table, classes = daily_table(timeline, cfg.min_wear_hours)
    files = []
    if cfg.out:
        out = Path(cfg.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fmt = cfg.format if cfg.format != "auto" else ("parquet" if out.suffix == ".parquet" else "csv")
        if fmt == "parquet":
            pq.write_table(table, out)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, out)
        files.append(str(out))
    if plot:
        files.append(str(plot_daily(table, classes, plot)))
    rows = table.to_pylist()
    return {
        "timeline": str(timeline),
        "classes": classes,
        "min_wear_hours": cfg.min_wear_hours,
        "days": rows,
        "valid_days": int(sum(r["valid"] for r in rows)),
        "files": files,
    }
