"""`wearfm classify summary`: minutes per class per subject per day, wear time and valid days."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from wearfm.classify.summary import summarize
from wearfm.config import ClassifyConfig
from wearfm.errors import DataError

DAY_NS = 86_400 * 10**9


def _timeline(path: Path) -> Path:
    """Subject a: day 1 from 06:00, 18 h of 'walk' then 6 h 'nonwear'; day 2: 2 h of 'lie'. Subject b: 1 h 'run'."""
    rows: list[tuple[str, int, str]] = []
    t0 = 6 * 3600 * 10**9
    for i in range(18 * 60):
        rows.append(("a", t0 + i * 60 * 10**9, "walk"))
    for i in range(6 * 60):
        rows.append(("a", t0 + (18 * 60 + i) * 60 * 10**9, "nonwear"))
    for i in range(2 * 60):
        rows.append(("a", DAY_NS + t0 + (6 * 60 + i) * 60 * 10**9, "lie"))
    for i in range(60):
        rows.append(("b", i * 60 * 10**9, "run"))
    n = len(rows)
    table = pa.table(
        {
            "recording": ["r"] * n,
            "subject": [r[0] for r in rows],
            "start": pa.array([r[1] for r in rows], pa.int64()).cast(pa.timestamp("ns")),
            "seconds": pa.array(np.full(n, 60.0, np.float32)),
            "predicted": [r[2] for r in rows],
            **{f"prob_{c}": pa.array(np.zeros(n, np.float32)) for c in ("lie", "run", "walk")},
        }
    )
    pq.write_table(table, path, row_group_size=500)
    return path


def test_minutes_per_class_per_day(tmp_path: Path) -> None:
    tl = _timeline(tmp_path / "t.parquet")
    res = summarize(tl, ClassifyConfig(out=str(tmp_path / "daily.csv")), plot=tmp_path / "daily.png")
    days = {(r["subject"], r["date"]): r for r in res["days"]}
    a1, a2, b1 = days[("a", "1970-01-01")], days[("a", "1970-01-02")], days[("b", "1970-01-01")]
    assert a1["walk_min"] == 18 * 60 and a1["nonwear_min"] == 0  # 06:00 + 18 h = midnight: non-wear is day 2
    assert a2["nonwear_min"] == 6 * 60 and a2["lie_min"] == 120 and a2["wear_min"] == 120
    assert b1["run_min"] == 60 and b1["walk_min"] == 0
    assert [a1["valid"], a2["valid"], b1["valid"]] == [True, False, False]
    assert res["valid_days"] == 1
    back = pacsv.read_csv(tmp_path / "daily.csv")
    assert back.num_rows == 3 and (tmp_path / "daily.png").stat().st_size > 0


def test_valid_day_threshold_is_an_option(tmp_path: Path) -> None:
    tl = _timeline(tmp_path / "t.parquet")
    res = summarize(tl, ClassifyConfig(min_wear_hours=1.0, out=str(tmp_path / "d.parquet")))
    assert res["valid_days"] == 3
    assert pq.read_table(tmp_path / "d.parquet").num_rows == 3


def test_not_a_timeline(tmp_path: Path) -> None:
    p = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1]}), p)
    with pytest.raises(DataError, match="classify predict"):
        summarize(p, ClassifyConfig())
