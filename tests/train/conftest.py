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
