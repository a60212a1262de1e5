"""Reading options: the part of :class:`~wearfm.config.IngestConfig` that a reader sees.

A reader's ``read(path, opts)`` gets a :class:`ReadOptions`, never the whole ingest configuration: how to find
the columns, units and times in a file, and what to report as device, placement, subject and session. Run
options (jobs, sharding, overwrite), segmenting (gaps, minimum duration, resampling) and the signal pass
(calibration, non-wear) stay with the ingest pipeline. :meth:`ReadOptions.from_config` is the one place a
``ReadOptions`` is built from an ``IngestConfig``; the defaults are those of ``IngestConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from wearfm.config import IngestConfig

__all__ = ["ReadOptions"]


@dataclass(frozen=True)
class ReadOptions:
    """The options readers use (each field means what the ``IngestConfig`` field of that name means).

    Examples:
        >>> opts = ReadOptions.from_config(IngestConfig(acc_unit="g", jobs=4))
        >>> opts.acc_unit, hasattr(opts, "jobs")
        ('g', False)
        >>> ReadOptions.from_config(opts) is opts
        True
    """

    acc_cols: tuple[str, ...]
    gyr_cols: tuple[str, ...]
    time_col: str | None
    time_unit: str
    rate_hz: float | None
    start_time: str | None
    time_reference: str
    acc_unit: str
    gyr_unit: str
    delimiter: str
    header: str
    skip_rows: int
    date_format: str
    label_col: str | None
    subject_from: str | None
    session_from: str | None
    device: str | None
    placement: str
    merge_tolerance_s: float
    nonfinite: str
    idle_sleep: str
    chunk_rows: int

    @classmethod
    def from_config(cls, cfg: IngestConfig | ReadOptions | None = None) -> ReadOptions:
        """The reading options of ``cfg`` (``None``: of ``IngestConfig()``; a ``ReadOptions`` is returned as is).

        Readers call this on the options they are given, so ``read(path, IngestConfig(...))`` also works.
        """
        if isinstance(cfg, ReadOptions):
            return cfg
        cfg = IngestConfig() if cfg is None else cfg
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})
