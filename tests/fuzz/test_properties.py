"""Property-based tests (Hypothesis) of the text readers and the resampler on generated inputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests._helpers.fuzz_harness import DEFECTS, Case, run_case
from wearfm.data.resample import resample

_FIELDS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", "nan", "inf", "-", "abc", "1e309", '"', "0x10", " 1.5 ", "1,5"]),
)
_TIMES = st.one_of(
    st.integers(min_value=1_600_000_000_000, max_value=1_600_000_100_000).map(str),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "2024-05-01T08:00:00", "x"]),
)


def _rows(n_min: int = 0) -> st.SearchStrategy[list[list[str]]]:
    regular = st.builds(
        lambda i, d: [str(1_600_000_000_000 + 20 * i), *d],
        st.integers(0, 500),
        st.tuples(*[st.floats(-16, 16, allow_nan=False).map(lambda v: f"{v:.4f}")] * 3).map(list),
    )
    hostile = st.builds(lambda t, v: [t, *v], _TIMES, st.lists(_FIELDS, min_size=0, max_size=5))
    return st.lists(st.one_of(regular, regular, regular, hostile), min_size=n_min, max_size=60)


def _check(reader: str, name: str, data: bytes, work: Path) -> None:
    logging.getLogger("wearfm").setLevel(logging.ERROR)
    o = run_case(Case(reader, 0, 0, name, data, "hypothesis"), work)
    assert o.kind not in DEFECTS, f"{o.kind}: {o.detail}\ninput:\n{data[:2000]!r}"


@given(rows=_rows(), header=st.booleans())
def test_csv_reader_never_crashes(
    rows: list[list[str]], header: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    text = ("time,ax,ay,az\n" if header else "") + "".join(",".join(r) + "\n" for r in rows)
    _check("csv", "rec.csv", text.encode(), tmp_path_factory.mktemp("csv"))


@given(rows=_rows())
def test_wisdm_reader_never_crashes(rows: list[list[str]], tmp_path_factory: pytest.TempPathFactory) -> None:
    text = "".join(f"1600,A,{r[0]}," + ",".join(r[1:]) + ";\n" for r in rows)
    _check("wisdm", "data_1600_accel_phone.txt", text.encode(), tmp_path_factory.mktemp("wisdm"))


@given(rows=_rows(), labels=st.lists(st.sampled_from(["SEATED", "WALKING", "", "x" * 300]), min_size=1))
def test_spswhar_reader_never_crashes(
    rows: list[list[str]], labels: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    body = "".join(",".join([*r[1:4], "0", "0", "0", r[0], labels[i % len(labels)]]) + "\n" for i, r in enumerate(rows))
    text = "x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label\n" + body
    _check("sp-sw-har", "s01_01_sw.csv", text.encode(), tmp_path_factory.mktemp("spsw"))


@st.composite
def _signal(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    steps = draw(st.lists(st.integers(1, 3_000_000_000), min_size=1, max_size=300))  # 1 ns to 3 s apart
    t = 1_700_000_000 * 10**9 + np.cumsum([0, *steps]).astype(np.int64)
    v = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=len(t) * 3, max_size=len(t) * 3))
    return t, np.asarray(v, dtype=np.float32).reshape(len(t), 3)


@given(sig=_signal(), rate=st.floats(0.5, 500), max_gap=st.floats(0.01, 5), antialias=st.booleans())
def test_resample_invariants(sig: tuple[np.ndarray, np.ndarray], rate: float, max_gap: float, antialias: bool) -> None:
    t, v = sig
    segs, info = resample(t, v, rate, max_gap_s=max_gap, antialias=antialias)
    assert info["segments"] == len(segs)
    step = 1e9 / rate
    lo, hi = float(v.min()), float(v.max())
    prev_end = None
    for s in segs:
        assert len(s) >= 1 and s.values.shape == (len(s), 3)
        assert np.isfinite(s.values).all()
        d = np.diff(s.time_ns)
        assert (d > 0).all() and (np.abs(d - step) <= 1).all()  # a uniform grid, to the rounding nanosecond
        assert s.time_ns[0] >= t[0] and s.time_ns[-1] <= t[-1]  # never extrapolated beyond the input
        if prev_end is not None:
            assert s.time_ns[0] > prev_end
        prev_end = s.time_ns[-1]
        if not antialias:  # linear interpolation stays within the input's range
            assert s.values.min() >= lo - 1e-3 * max(1.0, abs(lo)) and s.values.max() <= hi + 1e-3 * max(1.0, abs(hi))
    # no segment bridges a gap longer than max_gap_s
    gaps = np.flatnonzero(np.diff(t) > max_gap * 1e9)
    for g in gaps:
        for s in segs:
            assert not (s.time_ns[0] <= t[g] and s.time_ns[-1] >= t[g + 1])
