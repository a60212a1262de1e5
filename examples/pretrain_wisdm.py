"""Pretrain a SimCLR encoder on WISDM-style raw files with the Python API.

Usage: python examples/pretrain_wisdm.py RAW_WISDM_FOLDER OUT_FOLDER [STEPS]
(RAW_WISDM_FOLDER holds accel/ and gyro/ files like ../shared/data/wisdm-phone/raw/phone.)
"""

import sys
from pathlib import Path

from wearfm.config import IngestConfig, PretrainConfig
from wearfm.io.ingest import ingest
from wearfm.train.loop import pretrain


def main(raw: str, out: str, steps: int = 200, encoder: str = "resnet1d", batch: int = 64) -> Path:
    dataset = Path(out) / "data"
    summary = ingest([raw], dataset, IngestConfig(format="wisdm"))
    print(f"ingested {summary.recordings} recordings, {summary.hours:.2f} h")
    cfg = PretrainConfig(
        data=str(dataset),
        out=str(Path(out) / "run"),
        method="simclr",
        encoder=encoder,
        rate_hz=20.0,  # WISDM's own rate
        window_s=10.0,
        stride_s=5.0,
        channels="acc",  # one WISDM subject has no gyroscope
        max_steps=steps,
        batch_size=batch,
        warmup_steps=max(steps // 10, 1),
    )
    result = pretrain(cfg)
    print(f"trained {result.steps} steps, final loss {result.final_loss:.3f}: {result.artifacts['encoder']}")
    return result.artifacts["encoder"]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200)
