"""Reading options: readers get the reading part of ``IngestConfig``, built in one place."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pyarrow as pa

from tests._helpers.text import write_csv
from wearfm.config import IngestConfig
from wearfm.io import csv as csv_reader
from wearfm.io import readers
from wearfm.io.ingest import ingest
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader


def test_read_options_are_a_subset_of_the_ingest_config() -> None:
    ingest_fields = {f.name for f in fields(IngestConfig)}
    read_fields = {f.name for f in fields(ReadOptions)}
    assert read_fields < ingest_fields
    # run, segmenting and signal options stay with the pipeline
    assert not read_fields & {"jobs", "shard", "overwrite", "on_error", "max_gap_s", "resample_hz", "signal"}
    cfg = IngestConfig(acc_unit="g", device="watch", merge_tolerance_s=0.05, jobs=3)
    opts = ReadOptions.from_config(cfg)
    assert all(getattr(opts, name) == getattr(cfg, name) for name in read_fields)
    assert ReadOptions.from_config() == ReadOptions.from_config(IngestConfig())


def test_ingest_hands_readers_only_the_reading_options(tmp_path: Path) -> None:
    seen: list[object] = []

    def read(path: Path, cfg: ReadOptions) -> tuple[Iterator[pa.Table], dict[str, Any]]:
        seen.append(cfg)
        return csv_reader.read(path, cfg)

    register_reader(Reader("options-probe", read=read, sniff=lambda head, path: False))
    try:
        (tmp_path / "in").mkdir()
        write_csv(tmp_path / "in" / "a.csv")
        ingest([tmp_path / "in"], tmp_path / "out", IngestConfig(format="options-probe", acc_unit="g", jobs=1))
    finally:
        readers._REGISTRY.pop("options-probe")
    assert seen and all(type(o) is ReadOptions for o in seen)
    assert seen[0] == ReadOptions.from_config(IngestConfig(acc_unit="g"))
