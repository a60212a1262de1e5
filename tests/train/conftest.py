from __future__ import annotations

import pytest

from tests.train.synth import write_dataset
from tests.train.toy import register_toy, unregister_toy


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """2 subjects x 60 s at 30 Hz with labels: 24 windows of 5 s."""
    return write_dataset(tmp_path_factory.mktemp("tiny"), subjects=2, seconds=60)


@pytest.fixture
def toy_method():
    name = register_toy()
    yield name
    unregister_toy()


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads; on a shared 2-core runner they lose a lot."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
