"""Arrow <-> NumPy for plain numeric columns without pyarrow's pandas shim.

``pa.array()``, ``Array.to_numpy()`` and ``pa.scalar()`` import pandas on their first call (about half a
second on a cold start: a tenth of ingesting a few hundred small files). The ingest path only moves
fixed-width numbers and masks, so these helpers wrap and view the Arrow buffers directly (zero-copy where the
layout allows) and fall back to Arrow's conversion only for arrays with nulls or other types.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["from_numpy", "to_numpy", "mask", "strings"]

_NUMPY: dict[pa.DataType, type[np.generic]] = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def from_numpy(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    """A 1-D array of ``dtype`` (int, float or timestamp) over the bytes of ``values``, without nulls.

    ``values`` must already have the width of ``dtype`` (e.g. int64 for ``timestamp[ns]``); zero-copy when it
    is contiguous.
    """
    values = np.ascontiguousarray(values)
    if values.ndim != 1 or values.dtype.itemsize * 8 != dtype.bit_width:
        raise TypeError(f"cannot view {values.dtype} values of shape {values.shape} as {dtype}")
    return pa.Array.from_buffers(dtype, len(values), [None, pa.py_buffer(values)])


def to_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of a numeric array as a (read-only, where zero-copy) NumPy array.

    Same result as ``arr.to_numpy(zero_copy_only=False)``: arrays with nulls (NaN for floats) and types
    without a plain fixed-width layout go through Arrow's conversion.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    dt = _NUMPY.get(arr.type)
    if dt is None or arr.null_count:
        return np.asarray(arr.to_numpy(zero_copy_only=False))
    if len(arr) == 0:
        return np.empty(0, dtype=dt)
    return np.frombuffer(arr.buffers()[1], dtype=dt, count=arr.offset + len(arr))[arr.offset :]


def mask(keep: np.ndarray) -> pa.Array:
    """A boolean Arrow array (for ``filter``) from a NumPy boolean array."""
    keep = np.asarray(keep, dtype=bool)
    return pa.Array.from_buffers(pa.bool_(), len(keep), [None, pa.py_buffer(np.packbits(keep, bitorder="little"))])


def strings(values: list[str | None]) -> pa.Array:
    """A UTF-8 string array from Python strings (``None`` becomes null)."""
    raw = [b"" if v is None else v.encode() for v in values]
    offsets = np.zeros(len(raw) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum(np.fromiter(map(len, raw), dtype=np.int64, count=len(raw)))
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    nulls = len(values) - int(valid.sum())
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(
        pa.string(), len(raw), [bitmap, pa.py_buffer(offsets), pa.py_buffer(b"".join(raw))], null_count=nulls
    )
