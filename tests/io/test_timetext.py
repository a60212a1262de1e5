"""Text date-times in device exports' layouts (wearfm.io.timetext)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from wearfm.errors import DataError
from wearfm.io import timetext
from wearfm.io.timetext import parse_times


def ns(*iso: str) -> np.ndarray:
    return np.array([np.datetime64(s, "ns").astype(np.int64) for s in iso])


@pytest.mark.parametrize(
    "text,order,iso",
    [
        (["5/9/2021 23:59:59.967", "5/10/2021 00:00:00.000"], "mdy", ["2021-05-09T23:59:59.967", "2021-05-10T00:00"]),
        (
            ["9/5/2021 23:59:59.967", "10/5/2021 00:00:00.5"],
            "dmy",
            ["2021-05-09T23:59:59.967", "2021-05-10T00:00:00.5"],
        ),
        (
            ["2016-06-21 10:00:00:500", "2016-06-21 10:00:01:010"],
            "auto",
            ["2016-06-21T10:00:00.5", "2016-06-21T10:00:01.01"],
        ),
        (["2024-02-29 23:59:59", "2024-03-01 00:00:00"], "ymd", ["2024-02-29T23:59:59", "2024-03-01T00:00"]),
        (["12/31/1999 23:59:59.999999999"], "mdy", ["1999-12-31T23:59:59.999999999"]),
    ],
)
def test_layouts(text, order, iso):
    np.testing.assert_array_equal(parse_times(pa.array(text), "f", 1, order), ns(*iso))


def test_fixed_width_path_equals_regex_path(monkeypatch):
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(1_600_000_000_000, 1_700_000_000_000, 5000)) * 1_000_000  # ms, over three years
    text = []
    for v in t:
        d = np.datetime64(int(v), "ns").astype("datetime64[ms]").astype(object)
        text.append(
            f"{d.month:02d}/{d.day:02d}/{d.year} {d.hour:02d}:{d.minute:02d}:{d.second:02d}.{d.microsecond // 1000:03d}"
        )
    col = pa.array(text)
    assert timetext._fixed_width(col) is not None
    fast = parse_times(col, "f", 1, "mdy")
    monkeypatch.setattr(timetext, "_fixed_width", lambda c: None)
    np.testing.assert_array_equal(parse_times(col, "f", 1, "mdy"), fast)
    np.testing.assert_array_equal(fast, t)


def test_bad_value_names_line():
    with pytest.raises(DataError, match="line 12: cannot parse time 'soon'"):
        parse_times(pa.array(["5/9/2021 10:00:00", "soon"]), "f", 11, "mdy")
    with pytest.raises(DataError, match="line 3: .* not a valid date in mdy order"):
        parse_times(pa.array(["13/9/2021 10:00:00"]), "f", 3, "mdy")
    with pytest.raises(DataError, match="not year-first"):
        parse_times(pa.array(["5/9/2021 10:00:00"]), "f", 1)
