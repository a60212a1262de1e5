from __future__ import annotations

import pytest

from tests._helpers.toy import register_toy, unregister_toy


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
