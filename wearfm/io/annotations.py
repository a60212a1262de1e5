"""Labels from a separate annotation file of segments: (recording or subject, start, end, label)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from wearfm.errors import ConfigError, DataError

__all__ = ["Annotations", "load_annotations"]

log = logging.getLogger(__name__)

_KEY_COLS = ("recording", "subject")


@dataclass
class Annotations:
    """Annotated segments, all keyed by recording name or subject.

    Attributes:
        key: 'recording' (matched against the source file's stem) or 'subject'.
        ids: (K,) identifiers; start, end: (K,) int64, ns times or sample indices (end exclusive for
            samples, inclusive for times); labels: (K,) strings.
        units: 'time' or 'samples'.
    """

    key: str
    ids: np.ndarray
    start: np.ndarray
    end: np.ndarray
    labels: np.ndarray
    units: str
    path: Path

    def apply(self, table: pa.Table, ident: str, first_index: int) -> pa.Table:
        """Set ``label`` of the rows of ``table`` that fall in a segment of ``ident``; others stay null.

        ``first_index`` is the index of the table's first sample in its source file (for sample units).
        Labels already in the table are kept where no segment covers a sample.
        """
        sel = self.ids == ident
        n = table.num_rows
        out = np.full(n, None, dtype=object)
        if "label" in table.column_names:
            out[:] = table.column("label").cast(pa.string()).to_numpy(zero_copy_only=False)
        if sel.any():
            if self.units == "samples":
                pos = first_index + np.arange(n, dtype=np.int64)
            else:
                pos = table.column("time").cast(pa.int64()).to_numpy()
            for s, e, lab in zip(self.start[sel], self.end[sel], self.labels[sel], strict=True):
                hit = (pos >= s) & (pos < e) if self.units == "samples" else (pos >= s) & (pos <= e)
                out[hit] = lab
        arr = pc.dictionary_encode(pa.array(out, pa.string())).cast(pa.dictionary(pa.int32(), pa.string()))
        if "label" in table.column_names:
            return table.set_column(table.column_names.index("label"), "label", arr)
        return table.append_column(pa.field("label", arr.type), arr)


def load_annotations(path: str | Path, units: str = "time") -> Annotations:
    """Read an annotation CSV with a header ``recording|subject, start, end, label``.

    Times may be ISO strings or Unix seconds (numbers); with ``units='samples'`` start/end are sample indices
    (0-based, end exclusive).

    Examples:
        >>> ann = load_annotations("labels.csv")  # doctest: +SKIP
    """
    path = Path(path)
    if units not in ("time", "samples"):
        raise ConfigError(f"annotation_units must be 'time' or 'samples', got {units!r}")
    if not path.exists():
        raise FileNotFoundError(f"{path}: annotation file not found")
    try:
        t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except pa.ArrowInvalid as e:
        raise DataError(f"{path}: cannot read the annotation file ({str(e).splitlines()[0]})") from None
    names = [c.lower() for c in t.column_names]
    t = t.rename_columns(names)
    key = next((k for k in _KEY_COLS if k in names), None)
    missing = [c for c in ("start", "end", "label") if c not in names]
    if key is None or missing:
        raise DataError(
            f"{path}: an annotation file needs columns recording (or subject), start, end, label; "
            f"it has {t.column_names}"
        )
    start, end = (_positions(t.column(c), units, path, c) for c in ("start", "end"))
    if (end < start).any():
        row = int(np.argmax(end < start)) + 2
        raise DataError(f"{path}: line {row}: end is before start")
    return Annotations(
        key=key,
        ids=np.array([str(v) for v in t.column(key).to_pylist()], dtype=object),
        start=start,
        end=end,
        labels=np.array(t.column("label").cast(pa.string()).to_pylist(), dtype=object),
        units=units,
        path=path,
    )


_MAX_SECONDS = 2**62 / 1e9  # about 146 years from 1970 (int64 nanoseconds end in 2262)


def _positions(col: pa.ChunkedArray, units: str, path: Path, name: str) -> np.ndarray:
    if col.null_count:  # an empty cell would become NaN, then an arbitrary int64
        row = int(np.argmax(np.asarray(col.is_null().to_numpy(zero_copy_only=False)))) + 2
        raise DataError(f"{path}: line {row}: {name} is empty; every annotation needs a start and an end")
    if units == "samples":
        try:
            return np.asarray(col.cast(pa.int64()).to_numpy(), dtype=np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise DataError(f"{path}: column {name!r} must hold sample indices (integers)") from None
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        secs = col.cast(pa.float64()).to_numpy()
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(secs) < _MAX_SECONDS)
        if bad.any():
            row = int(np.argmax(bad)) + 2
            raise DataError(
                f"{path}: line {row}: {name} = {float(secs[int(np.argmax(bad))])!r} is not a Unix time in seconds "
                "(missing, infinite or beyond year 2116); fix the line"
            )
        return np.asarray(np.round(secs * 1e9), dtype=np.int64)
    if pa.types.is_timestamp(col.type):
        return np.asarray(col.cast(pa.timestamp("ns")).cast(pa.int64()).to_numpy(), dtype=np.int64)
    for tp in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
        try:
            return np.asarray(col.cast(tp).cast(pa.int64()).to_numpy(), dtype=np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    raise DataError(
        f"{path}: column {name!r} holds neither ISO times nor Unix seconds; fix it or use --annotation-units samples"
    )
