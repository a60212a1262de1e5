"""What a dataset (or one recording file) holds: recordings, subjects, hours, rates, channels, labels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from wearfm.io.manifest import list_recordings

__all__ = ["describe_dataset"]


def describe_dataset(path: str | Path) -> dict[str, Any]:
    """Summarise a dataset folder or a single recording file as a JSON-friendly dict.

    Examples:
        >>> d = describe_dataset("data/wisdm")  # doctest: +SKIP
        >>> d["subjects"], round(d["hours"], 1)  # doctest: +SKIP
        (22, 19.6)
    """
    root, entries = list_recordings(path)
    rates = np.array([e.sample_rate_hz for e in entries], dtype=np.float64)
    labels: Counter[str] = Counter()
    for e in entries:
        labels.update(e.label_counts)
    channels = Counter(",".join(e.channels) for e in entries)
    return {
        "path": str(path),
        "root": str(root),
        "recordings": len(entries),
        "subjects": len({e.subject for e in entries}),
        "subject_ids": sorted({e.subject for e in entries}),
        # how subjects were assigned (see wearfm.io.schema.METADATA_KEYS) -> number of recordings
        "subject_source": dict(Counter(e.subject_source or "unknown" for e in entries)),
        "devices": dict(Counter(e.device for e in entries)),
        "placements": dict(Counter(e.placement for e in entries)),
        "hours": float(sum(e.duration_s for e in entries) / 3600),
        "samples": int(sum(e.samples for e in entries)),
        "rate_hz": {
            "min": float(rates.min()) if len(rates) else 0.0,
            "median": float(np.median(rates)) if len(rates) else 0.0,
            "max": float(rates.max()) if len(rates) else 0.0,
        },
        "channels": dict(channels),
        "labels": dict(labels.most_common()),
        "labelled_samples": int(sum(labels.values())),
        "recording_list": [
            {
                "path": e.path,
                "subject": e.subject,
                "subject_source": e.subject_source or "unknown",
                "device": e.device,
                "session": e.session,
                "duration_s": round(e.duration_s, 3),
                "samples": e.samples,
                "rate_hz": e.sample_rate_hz,
            }
            for e in entries
        ],
    }
