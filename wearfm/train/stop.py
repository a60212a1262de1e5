"""Stop requests: SIGINT/SIGTERM during pretraining ask the loop to checkpoint and return, not to die."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["StopRequest", "stop_signals"]

log = logging.getLogger(__name__)


@dataclass
class StopRequest:
    """What the stop handlers saw: ``requested`` once SIGINT/SIGTERM arrived; ``signal`` names the first one."""

    requested: bool = False
    signal: str | None = None  # "SIGINT" or "SIGTERM": the command exits 130 or 143


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM request a stop (the loop then checkpoints and returns).

    A second SIGINT aborts. Handlers can only be set from the main thread; elsewhere the block runs without them.
    """
    stop = StopRequest()

    def handle(signum: int, frame: object) -> None:
        if stop.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint and stopping", name)
        stop.signal = stop.signal or name
        stop.requested = True

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            previous[s] = signal.signal(s, handle)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
