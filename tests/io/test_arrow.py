from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from wearfm.io._arrow import from_numpy, mask, strings, to_numpy


@pytest.mark.parametrize("dtype", [pa.int32(), pa.int64(), pa.float32(), pa.float64()])
def test_numpy_round_trip_matches_arrow(dtype):
    values = np.arange(20).astype(dtype.to_pandas_dtype())
    arr = from_numpy(values, dtype)
    assert arr.equals(pa.array(values, dtype))
    np.testing.assert_array_equal(to_numpy(arr.slice(3, 9)), values[3:12])
    np.testing.assert_array_equal(to_numpy(pa.chunked_array([arr.slice(0, 5), arr.slice(5)])), values)
    assert to_numpy(arr.slice(0, 0)).shape == (0,)


def test_to_numpy_with_nulls_and_masks_and_strings():
    np.testing.assert_array_equal(to_numpy(pa.array([1.0, None, 3.0])), [1.0, np.nan, 3.0])
    keep = np.array([True, False, True, True, False, False, True, True, True, False])
    assert mask(keep).equals(pa.array(keep))
    for values in (["walk", None, "héllo", ""], [None], []):
        got = strings(values)
        got.validate(full=True)
        assert got.equals(pa.array(values, pa.string()))
