"""Shared fixtures and hooks: markers, the real-data location, tiny datasets, one-thread runs.

Helper code that tests import lives in ``tests/_helpers/`` (one module per concept); conftest files hold only
fixtures and hooks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow to run")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


def real_data_dir() -> Path | None:
    """``$WEARFM_DATA`` or ``../shared/data`` beside the repository, if it exists."""
    env = os.environ.get("WEARFM_DATA")
    cand = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return cand if cand.is_dir() else None


@pytest.fixture(scope="session")
def real_data() -> Path:
    d = real_data_dir()
    if d is None:
        pytest.skip("real data not found: set WEARFM_DATA or place it at ../shared/data")
    return d


@pytest.fixture(autouse=True)
def _reset_wearfm_logging():
    """CLI tests install a Rich handler on the `wearfm` logger; undo it so caplog sees records again."""
    import logging

    yield
    lg = logging.getLogger("wearfm")
    lg.handlers[:] = []
    lg.propagate = True
    lg.setLevel(logging.NOTSET)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 subjects x 60 s at 30 Hz with labels: 24 windows of 5 s."""
    from tests._helpers.synth import write_dataset

    return write_dataset(tmp_path_factory.mktemp("tiny"), subjects=2, seconds=60)


@pytest.fixture
def noisy(tmp_path: Path) -> Path:
    """A labelled dataset noisy enough that a classifier's macro-F1 is below 1."""
    from tests._helpers.labelled import write_noisy_dataset

    return write_noisy_dataset(tmp_path / "data")


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread and one BLAS/OpenMP thread for the test (tiny models lose on oversubscribed cores)."""
    import torch
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(n)
